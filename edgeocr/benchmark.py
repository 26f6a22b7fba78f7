"""Latency of the device pipeline, stage by stage, as ``edgeocr bench`` reports it.

Three modes, each timing real models on real images:

* ``pipeline``: camera-sized JPEG frames through decode -> detect -> rectify -> recognize ->
  format -> track -> publish. ``publish`` builds the read payload and stores it in a
  temporary SQLite read queue (no broker), once per read: the daemon publishes once per
  track, so this is the cost of the worst case where every read becomes a message.
* ``crops``: the recognizer alone on ready-made crops (``recognize`` = prepare + invoke +
  CTC decode, ``invoke`` = the quantized model call alone).
* ``model-only``: the bare ``interpreter.invoke()`` of the detector and the recognizer
  with a fixed input already set.

JSON document (:data:`SCHEMA`), the keys ``benchmarks/make_doc.py`` relies on::

    schema, mode, created (UTC ISO 8601), command,
    machine {cpu, cores, platform, machine, memory_mib},
    versions {python, numpy, opencv, ai-edge-litert, tflite-runtime, edgeocr},
    settings {frames, warmup, size [w, h] | null, source, distinct_inputs, threads,
              delegates, camera_fps},
    variants [{name, detector {path, bytes, dtype} | null, recognizer {...} | null}],
    runs [{variant, delegate, threads, available, reason,
           items, seconds, per_second, reads_per_frame (crops read per frame, kept or
           not: each costs its rectify / recognize / format time),
           stages {name: {unit, count, median_ms, p95_ms, mean_ms}},
           rss_mib {peak, current}}]

``unit`` is ``frame`` (one sample per frame), ``read`` (one per read) or ``item``. A run
with ``available`` false (an Edge TPU that is not there, a runtime that cannot load the
model) has ``reason`` and no numbers; it never stops the other runs.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from edgeocr.core.sidecar import SidecarError, load_sidecar
from edgeocr.core.types import Delegate, Image, Role
from edgeocr.runtime import RuntimeBackendError

SCHEMA = "edgeocr-bench/1"
Mode = Literal["pipeline", "crops", "model-only"]
MODES: tuple[Mode, ...] = ("pipeline", "crops", "model-only")
PIPELINE_STAGES = ("decode", "detect", "zoom", "rectify", "recognize", "format", "track",
                   "publish", "frame")
PER_READ = frozenset({"zoom", "rectify", "recognize", "format", "publish"})
CROP_STAGES = ("recognize", "invoke")
MODEL_STAGES = ("detector_invoke", "recognizer_invoke")
CROP_TARGET_MS = 1.0
"""The recognizer's latency budget per crop on one thread."""
CAMERA_FPS = 5.0
"""Frame spacing given to the tracker, the daemon's default camera rate."""
JPEG_QUALITY = 90
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
SCENE_GEOMETRIES = frozenset({"box", "quad"})


class BenchError(Exception):
    """Bad benchmark input; the message is ``path: reason`` or ``option: reason``."""


@dataclass(frozen=True)
class Variant:
    """A named detector + recognizer pair; None means the shipped model."""

    name: str
    detector: Path | None = None
    recognizer: Path | None = None


def model_path(path: Path | None, role: Role) -> Path:
    """The model file a stage will load; BenchError when it is not there."""
    if path is not None:
        if not Path(path).is_file():
            raise BenchError(f"{path}: {role} model not found")
        return Path(path)
    from edgeocr.detect import DEFAULT_MODEL as DET
    from edgeocr.recognize import DEFAULT_MODEL as REC

    shipped = DET if role == "detector" else REC
    if not shipped.is_file():
        raise BenchError(f"{shipped}: the shipped {role} model is missing; pass "
                         f"--{role} PATH or --variant NAME:DETECTOR:RECOGNIZER")
    return shipped


def model_info(path: Path, role: Role) -> dict[str, Any]:
    try:
        dtype: str = load_sidecar(path, role, check_hash=False).input.dtype
    except SidecarError as exc:
        raise BenchError(str(exc)) from None
    return {"path": str(path), "bytes": path.stat().st_size, "dtype": dtype}


# --- inputs -------------------------------------------------------------------------------

def default_frames_dir() -> Path:
    """``<repo>/../shared/realdata/dev/images`` (the development checkout's dev scenes)."""
    repo = Path(__file__).resolve().parents[1]
    return repo.parent / "shared" / "realdata" / "dev" / "images"


def _image_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise BenchError(f"{directory}: not a folder")
    files = sorted(p for p in directory.rglob("*")
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BenchError(f"{directory}: no images found ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def scene_files(directory: Path) -> list[Path]:
    """Images under ``directory``; with a meta.csv there or one level up, only the images it
    gives box or quad geometry (scenes, not crops) plus those it does not list."""
    from edgeocr.data.labels import DatasetError, read_meta

    files = _image_files(directory)
    for meta_path in (directory / "meta.csv", directory.parent / "meta.csv"):
        if not meta_path.is_file():
            continue
        try:
            meta = read_meta(meta_path)
        except DatasetError as exc:
            raise BenchError(str(exc)) from None
        base = meta_path.parent.resolve()
        geometry = {(base / name).resolve(): m.geometry for name, m in meta.items()}
        files = [f for f in files if geometry.get(f.resolve(), "box") in SCENE_GEOMETRIES]
        if not files:
            raise BenchError(f"{directory}: {meta_path} lists no box or quad scene images")
        break
    return files


def spread(items: Sequence[Path], limit: int) -> list[Path]:
    """At most ``limit`` items picked evenly (every source folder gets its share)."""
    if len(items) <= limit:
        return list(items)
    idx = np.linspace(0, len(items) - 1, limit).round().astype(int)
    return [items[i] for i in dict.fromkeys(idx.tolist())]


def decode_file(path: Path, flags: int = cv2.IMREAD_COLOR) -> npt.NDArray[Any]:
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise BenchError(f"{path}: not a readable image")
    out: npt.NDArray[Any] = image
    return out


def camera_frames(files: Sequence[Path], size: tuple[int, int]) -> list[bytes]:
    """Each image fitted into a ``size`` frame (aspect kept, black bars), JPEG-encoded as a
    camera's MJPEG stream would deliver it."""
    from edgeocr.core.letterbox import letterbox

    out = []
    for path in files:
        frame, _, _ = letterbox(decode_file(path), size[1], size[0])
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise BenchError(f"{path}: cannot encode as JPEG")
        out.append(buf.tobytes())
    return out


def load_crops(files: Sequence[Path]) -> list[npt.NDArray[Any]]:
    return [decode_file(p, cv2.IMREAD_UNCHANGED) for p in files]


# --- measurements -------------------------------------------------------------------------

def stage_stats(samples: Sequence[float], unit: str) -> dict[str, Any]:
    if not samples:
        return {"unit": unit, "count": 0, "median_ms": None, "p95_ms": None, "mean_ms": None}
    arr = np.asarray(samples, dtype=np.float64)
    return {"unit": unit, "count": int(arr.size), "median_ms": round(float(np.median(arr)), 4),
            "p95_ms": round(float(np.percentile(arr, 95)), 4),
            "mean_ms": round(float(arr.mean()), 4)}


def rss_mib() -> dict[str, float | None]:
    """Peak RSS of the process so far (getrusage) and current RSS (/proc/self/status)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux, bytes on macOS.
    peak_mib = peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    current: float | None = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                current = round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"peak": round(peak_mib, 1), "current": current}


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000.0


Samples = dict[str, list[float]]


def _decode_jpeg(data: bytes) -> Image:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise BenchError("a benchmark frame could not be decoded")
    out: Image = np.asarray(image, dtype=np.uint8)
    return out


def _run_pipeline(v: Variant, delegate: Delegate, threads: int, frames: Sequence[bytes],
                  n: int, warmup: int, workdir: Path) -> tuple[Samples, int, float]:
    from edgeocr.core.types import Read
    from edgeocr.detect import Detector
    from edgeocr.pipeline import Pipeline
    from edgeocr.publish.payload import ModelNames, make_read_payload
    from edgeocr.publish.queue import ReadQueue
    from edgeocr.recognize import Recognizer
    from edgeocr.track import Observation, Tracker

    det = Detector(v.detector, delegate, threads)
    rec = Recognizer(v.recognizer, delegate, threads)
    pipe = Pipeline(det, rec)
    models = ModelNames(detector=det.path.name, recognizer=rec.path.name)
    tracker = Tracker()
    samples: Samples = {s: [] for s in PIPELINE_STAGES}
    reads = 0
    queue = ReadQueue(workdir / f"queue-{time.monotonic_ns()}.db", max_items=100_000)
    try:
        start = 0.0
        for i in range(warmup + n):
            if i == warmup:
                samples = {s: [] for s in PIPELINE_STAGES}
                reads = 0
                start = time.perf_counter()
            t_frame = time.perf_counter()
            t0 = t_frame
            image = _decode_jpeg(frames[i % len(frames)])
            samples["decode"].append(_ms(t0))
            # Every candidate the pipeline reads costs its rectify / recognize / format time,
            # whether or not the read is kept; only kept reads are tracked and published.
            candidates = pipe.process(image, keep_rejected=True)
            samples["detect"].append(pipe.last_timings_ms["detect"])
            for r in candidates:
                for stage in ("zoom", "rectify", "recognize", "format"):
                    samples[stage].append(r.timings_ms[stage])
            results = [r for r in candidates if r.accepted]
            stamp = i / CAMERA_FPS
            t0 = time.perf_counter()
            tracker.update("bench", stamp, [Observation(r.detection, r.read, r.format)
                                            for r in results])
            samples["track"].append(_ms(t0))
            size = (int(image.shape[1]), int(image.shape[0]))
            for r in results:
                t0 = time.perf_counter()
                payload = make_read_payload(
                    device="bench", camera="bench",
                    read=Read(r.read.text, r.read.char_confidences, r.detection.kind),
                    detection=r.detection, first_seen=stamp, last_seen=stamp, frames=1,
                    frame_size=size, format=r.format, models=models)
                queue.put(payload.id, payload.camera, payload.model_dump_json().encode())
                samples["publish"].append(_ms(t0))
            reads += len(candidates)
            samples["frame"].append(_ms(t_frame))
        seconds = time.perf_counter() - start
    finally:
        queue.close()
    return samples, reads, seconds


def _run_crops(v: Variant, delegate: Delegate, threads: int, crops: Sequence[Image],
               n: int, warmup: int) -> tuple[Samples, int, float]:
    from edgeocr.recognize import Recognizer, prepare_crop

    rec = Recognizer(v.recognizer, delegate, threads)
    width, height = rec.input_size
    spec = rec.model.sidecar.input
    lo, hi = (float(x) for x in spec.range)
    samples: Samples = {s: [] for s in CROP_STAGES}
    start = 0.0
    for i in range(warmup + n):
        if i == warmup:
            samples = {s: [] for s in CROP_STAGES}
            start = time.perf_counter()
        crop = crops[i % len(crops)]
        t0 = time.perf_counter()
        rec.read(crop)
        samples["recognize"].append(_ms(t0))
        x = prepare_crop(crop, height, width) * (hi - lo) + lo
        if spec.channels == 3:
            x = np.repeat(x, 3, axis=3)
        t0 = time.perf_counter()
        rec.model.invoke(x)
        samples["invoke"].append(_ms(t0))
    return samples, n, time.perf_counter() - start


def _run_model_only(v: Variant, delegate: Delegate, threads: int, n: int,
                    warmup: int) -> tuple[Samples, int, float]:
    from edgeocr.runtime import load_model

    rng = np.random.default_rng(0)
    models = []
    roles: tuple[tuple[Role, Path | None], ...] = (("detector", v.detector),
                                                   ("recognizer", v.recognizer))
    for role, path in roles:
        model = load_model(model_path(path, role), role, delegate, threads)
        lo, hi = (float(x) for x in model.sidecar.input.range)
        model.set_input(rng.uniform(lo, hi, model.input_shape).astype(np.float32))
        models.append((f"{role}_invoke", model.interpreter))
    samples: Samples = {s: [] for s in MODEL_STAGES}
    start = 0.0
    for i in range(warmup + n):
        if i == warmup:
            samples = {s: [] for s in MODEL_STAGES}
            start = time.perf_counter()
        for stage, interpreter in models:
            t0 = time.perf_counter()
            interpreter.invoke()
            samples[stage].append(_ms(t0))
    return samples, n, time.perf_counter() - start


def probe_delegate(delegate: Delegate) -> str | None:
    """Why ``delegate`` cannot run anything here, or None when it may."""
    if delegate != "edgetpu":
        return None
    from edgeocr.runtime.edgetpu import load_edgetpu_delegate

    try:
        handle = load_edgetpu_delegate()
    except RuntimeBackendError as exc:
        return str(exc)
    # Let the probe's handle go before the models open the device again.
    del handle
    return None


@dataclass(frozen=True)
class Inputs:
    """What the runs of one mode iterate over."""

    frames: Sequence[bytes] = ()
    crops: Sequence[Image] = ()


def run_one(mode: Mode, v: Variant, delegate: Delegate, threads: int, inputs: Inputs,
            n: int, warmup: int, workdir: Path) -> dict[str, Any]:
    """One (variant, delegate, threads) run as a ``runs[]`` entry."""
    row: dict[str, Any] = {"variant": v.name, "delegate": delegate, "threads": threads,
                           "available": True, "reason": None}
    try:
        if mode == "pipeline":
            samples, items, seconds = _run_pipeline(v, delegate, threads, inputs.frames, n,
                                                    warmup, workdir)
        elif mode == "crops":
            samples, items, seconds = _run_crops(v, delegate, threads, inputs.crops, n, warmup)
        else:
            samples, items, seconds = _run_model_only(v, delegate, threads, n, warmup)
    except RuntimeBackendError as exc:
        return {**row, "available": False, "reason": str(exc)}
    except SidecarError as exc:
        raise BenchError(str(exc)) from None
    unit = {"pipeline": "frame", "crops": "item", "model-only": "item"}[mode]
    row["stages"] = {s: stage_stats(vals, "read" if mode == "pipeline" and s in PER_READ
                                    else unit) for s, vals in samples.items()}
    row["items"] = n
    row["seconds"] = round(seconds, 4)
    if mode != "pipeline":
        # The loop also times pieces of the same work twice (read, then invoke alone):
        # the rate is that of the measured calls, not of the loop.
        seconds = sum(sum(samples[s]) for s in
                      (("recognize",) if mode == "crops" else MODEL_STAGES)) / 1000.0
    row["per_second"] = round(n / seconds, 2) if seconds > 0 else None
    row["reads_per_frame"] = round(items / n, 3) if mode == "pipeline" and n else None
    row["rss_mib"] = rss_mib()
    return row


def run_matrix(mode: Mode, variants: Sequence[Variant], delegates: Sequence[Delegate],
               threads: Sequence[int], inputs: Inputs, n: int, warmup: int,
               progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every variant x delegate x thread count; an unavailable delegate is one row per
    variant with ``threads`` null."""
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="edgeocr-bench-") as td:
        for delegate in delegates:
            reason = probe_delegate(delegate)
            for v in variants:
                if reason is not None:
                    runs.append({"variant": v.name, "delegate": delegate, "threads": None,
                                 "available": False, "reason": reason})
                    continue
                for t in threads:
                    if progress is not None:
                        progress(f"{v.name} {delegate} {t} thread(s)")
                    row = run_one(mode, v, delegate, t, inputs, n, warmup, Path(td))
                    runs.append(row)
                    if not row["available"]:
                        break  # the same reason for every thread count
    return runs


# --- context ------------------------------------------------------------------------------

def cpu_model() -> str:
    """The CPU as /proc/cpuinfo names it (x86 ``model name``, Raspberry Pi ``Model``)."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    for key in ("model name", "Model", "Hardware", "cpu model", "Processor"):
        if fields.get(key):
            return fields[key]
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    memory: float | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 1024, 0)
    except (OSError, ValueError, IndexError):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {"cpu": cpu_model(), "cores": usable, "platform": platform.platform(),
            "machine": platform.machine(), "memory_mib": memory}


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    return {"python": platform.python_version(), "numpy": np.__version__,
            "opencv": cv2.__version__, "ai-edge-litert": _version("ai-edge-litert"),
            "tflite-runtime": _version("tflite-runtime"), "edgeocr": _version("edgeocr")}


def document(mode: Mode, command: str, settings: dict[str, Any],
             variants: Sequence[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"schema": SCHEMA, "mode": mode,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": command, "machine": machine_info(), "versions": versions(),
            "settings": settings, "variants": list(variants), "runs": runs}
