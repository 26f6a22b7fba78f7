"""``edgeocr bench``: per-stage latency, throughput and memory of the device pipeline.

See :mod:`edgeocr.benchmark` for what is timed and the JSON it writes.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from edgeocr.benchmark import (
    CAMERA_FPS,
    CROP_STAGES,
    CROP_TARGET_MS,
    MODEL_STAGES,
    PIPELINE_STAGES,
    BenchError,
    Inputs,
    Mode,
    Variant,
)
from edgeocr.core.types import Delegate

PLOT_HINT = "matplotlib is needed for --plot: pip install matplotlib (or edgeocr[dev])"


def parse_variant(text: str) -> Variant:
    """``NAME:DETECTOR:RECOGNIZER``; an empty path means the shipped model."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise BenchError(f"--variant {text!r}: expected NAME:DETECTOR:RECOGNIZER")
    name, det, rec = parts
    return Variant(name, Path(det) if det else None, Path(rec) if rec else None)


def pair_variants(detectors: Sequence[Path], recognizers: Sequence[Path]) -> list[Variant]:
    """Pair ``--detector``/``--recognizer`` by position; a single one goes with every other."""
    dets: list[Path | None] = list(detectors) or [None]
    recs: list[Path | None] = list(recognizers) or [None]
    if len(dets) != len(recs):
        if len(dets) == 1:
            dets = dets * len(recs)
        elif len(recs) == 1:
            recs = recs * len(dets)
        else:
            raise BenchError(f"--detector/--recognizer: {len(dets)} detectors and "
                             f"{len(recs)} recognizers cannot be paired (give as many of "
                             "each, or one of either, or use --variant)")
    out = []
    for det, rec in zip(dets, recs, strict=True):
        name = "+".join(p.stem for p in (det, rec) if p is not None) or "shipped"
        out.append(Variant(name, det, rec))
    return out


def unique_names(variants: Sequence[Variant]) -> list[Variant]:
    seen: dict[str, int] = {}
    out = []
    for v in variants:
        n = seen.get(v.name, 0)
        seen[v.name] = n + 1
        out.append(v if n == 0 else Variant(f"{v.name}#{n + 1}", v.detector, v.recognizer))
    return out


def parse_threads(text: str) -> tuple[int, ...]:
    """``"1,2"`` -> (1, 2); ``all`` or 0 means every core."""
    out: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part == "all":
            part = "0"
        if not part.isdigit():
            raise BenchError(f"--threads {text!r}: {part!r} is not a thread count")
        out.append(int(part) or (os.cpu_count() or 1))
    if not out:
        raise BenchError(f"--threads {text!r}: no thread count given")
    return tuple(dict.fromkeys(out))


def parse_delegates(text: str) -> tuple[Delegate, ...]:
    from edgeocr.runtime import BACKENDS

    out: list[Delegate] = []
    for part in (p.strip() for p in text.split(",")):
        if part == "cpu":
            out.append("cpu")
        elif part == "edgetpu":
            out.append("edgetpu")
        elif part:
            raise BenchError(f"--delegate {text!r}: unknown delegate {part!r} "
                             f"(known: {', '.join(sorted(BACKENDS))})")
    if not out:
        raise BenchError(f"--delegate {text!r}: no delegate given")
    return tuple(dict.fromkeys(out))


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> (640, 480)."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 16 or int(h) < 16:
        raise BenchError(f"--size {text!r}: expected WIDTHxHEIGHT, at least 16x16")
    return int(w), int(h)


def stages_of(mode: str) -> tuple[str, ...]:
    return {"pipeline": PIPELINE_STAGES, "crops": CROP_STAGES}.get(mode, MODEL_STAGES)


def _cell(stat: dict[str, Any] | None) -> str:
    if not stat or stat.get("median_ms") is None:
        return "-"
    return f"{stat['median_ms']:.2f}/{stat['p95_ms']:.2f}"


def format_table(doc: dict[str, Any]) -> str:
    """Plain-text table of a bench document: one line per run, median/p95 ms per stage."""
    stages = stages_of(str(doc["mode"]))
    rate = "fps" if doc["mode"] == "pipeline" else "per s"
    head = ["variant", "delegate", "thr", rate, *stages, "peak MiB"]
    if doc["mode"] == "pipeline":
        head.insert(4, "reads/f")
    lines: list[list[str]] = [head]
    notes: list[str] = []
    for run in doc["runs"]:
        thr = "-" if run.get("threads") is None else str(run["threads"])
        if not run.get("available"):
            lines.append([run["variant"], run["delegate"], thr, "unavailable"]
                         + [""] * (len(head) - 4))
            notes.append(f"{run['variant']} on {run['delegate']}: {run['reason']}")
            continue
        row = [run["variant"], run["delegate"], thr, f"{run['per_second']:.1f}"]
        if doc["mode"] == "pipeline":
            row.append(f"{run['reads_per_frame']:.2f}")
        row += [_cell(run["stages"].get(s)) for s in stages]
        row.append(f"{run['rss_mib']['peak']:.0f}")
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
           for r in lines]
    unit = "per read for zoom/rectify/recognize/format/publish, per frame otherwise" \
        if doc["mode"] == "pipeline" else "per item"
    out.append(f"(ms median/p95, {unit})")
    if doc["mode"] == "crops":
        out.append(f"(recognizer target: <= {CROP_TARGET_MS:g} ms per crop on one thread)")
    out += [f"unavailable: {n}" for n in notes]
    return "\n".join(out)


def plot_medians(doc: dict[str, Any], path: Path, title: str | None = None) -> None:
    """Bar chart of per-stage medians, one bar per available run (variant x threads)."""
    try:
        import matplotlib
    except ImportError:
        raise BenchError(f"{path}: {PLOT_HINT}") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [s for s in stages_of(str(doc["mode"])) if s != "frame"]
    runs = [r for r in doc["runs"] if r.get("available")]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(stages) + 0.4 * len(runs)), 4))
    width = 0.8 / max(1, len(runs))
    for k, run in enumerate(runs):
        values = [run["stages"].get(s, {}).get("median_ms") or 0.0 for s in stages]
        xs = [i + (k - (len(runs) - 1) / 2) * width for i in range(len(stages))]
        rate = "fps" if doc["mode"] == "pipeline" else "/s"
        label = (f"{run['variant']}, {run['delegate']}, {run['threads']} thr "
                 f"({run['per_second']:.0f} {rate})")
        bars = ax.bar(xs, values, width, label=label)
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=6, rotation=90,
                     padding=2)
    ax.set_xticks(range(len(stages)), stages)
    ax.set_ylabel("median ms")
    ax.set_title(title or f"edgeocr bench ({doc['mode']}): {doc['machine']['cpu']}",
                 fontsize=9)
    ax.margins(y=0.2)
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _variants(variant: Sequence[str], detector: Sequence[Path],
              recognizer: Sequence[Path]) -> list[Variant]:
    out = [parse_variant(v) for v in variant]
    if detector or recognizer or not out:
        out += pair_variants(detector, recognizer)
    return unique_names(out)


def _prepare(mode: Mode, variants: list[Variant], images: Path | None, crops: Path | None,
             size: tuple[int, int], frames: int) -> tuple[list[dict[str, Any]], Inputs, str,
                                                          int]:
    """Check the models, load the inputs: (variant infos, inputs, source, distinct)."""
    from edgeocr import benchmark as b

    infos: list[dict[str, Any]] = []
    for i, v in enumerate(variants):
        det = None if mode == "crops" else b.model_path(v.detector, "detector")
        rec = b.model_path(v.recognizer, "recognizer")
        variants[i] = Variant(v.name, det, rec)
        infos.append({"name": v.name,
                      "detector": b.model_info(det, "detector") if det else None,
                      "recognizer": b.model_info(rec, "recognizer")})
    if mode == "model-only":
        return infos, Inputs(), "random input", 1
    if mode == "crops":
        if crops is None:
            raise BenchError("--crops: a folder of crop images is needed")
        files = b.spread(b._image_files(crops), frames)
        return infos, Inputs(crops=b.load_crops(files)), str(crops), len(files)
    source = images if images is not None else b.default_frames_dir()
    if images is None and not source.is_dir():
        raise BenchError(f"{source}: default dev scenes not found; pass --images DIR")
    files = b.spread(b.scene_files(source), frames)
    return infos, Inputs(frames=b.camera_frames(files, size)), str(source), len(files)


@click.command("bench")
@click.option("--frames", "n", type=click.IntRange(min=1), default=100, show_default=True,
              help="Timed frames (crops, invokes); the inputs are looped to reach it.")
@click.option("--warmup", type=click.IntRange(min=0), default=10, show_default=True,
              help="Untimed iterations first.")
@click.option("--threads", "threads_text", default="1,all", show_default=True,
              help="Comma-separated interpreter thread counts (all = every core).")
@click.option("--size", "size_text", default="640x480", show_default=True,
              help="Camera frame size the images are fitted into.")
@click.option("--images", type=click.Path(path_type=Path, file_okay=False),
              help="Scene images (default: ../shared/realdata/dev/images, box/quad scenes).")
@click.option("--crops", type=click.Path(path_type=Path, file_okay=False),
              help="Time the recognizer alone on the crop images in this folder.")
@click.option("--model-only", is_flag=True, help="Time the bare interpreter invoke only.")
@click.option("--detector", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Detector .tflite (repeatable; default: the shipped one).")
@click.option("--recognizer", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Recognizer .tflite (repeatable; paired with --detector by position).")
@click.option("--variant", multiple=True, metavar="NAME:DET:REC",
              help="A named detector+recognizer pair (repeatable; empty path = shipped).")
@click.option("--delegate", "delegate_text", default="cpu,edgetpu", show_default=True,
              help="Comma-separated delegates; an unavailable one is reported, not fatal.")
@click.option("--json", "json_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write every number, the machine and versions to this JSON file.")
@click.option("--plot", "plot_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Bar chart PNG of per-stage medians (needs matplotlib).")
def bench(n: int, warmup: int, threads_text: str, size_text: str, images: Path | None,
          crops: Path | None, model_only: bool, detector: tuple[Path, ...],
          recognizer: tuple[Path, ...], variant: tuple[str, ...], delegate_text: str,
          json_out: Path | None, plot_out: Path | None) -> None:
    """Time each pipeline stage (median, p95), frames/s and memory, for every model
    variant, thread count and delegate.

    \b
    Stages: decode (JPEG frame), detect, zoom (second detector run around a detection; 0
    for the ones it skips), rectify, recognize, format, track, publish (read payload +
    SQLite queue insert, no broker), frame (all of it).
    --crops DIR times the recognizer alone (target: <= 1 ms per crop, one thread);
    --model-only times the bare interpreter invoke of both models.
    """
    from edgeocr import benchmark as b

    try:
        if crops is not None and (model_only or images is not None):
            raise BenchError("--crops: cannot be combined with --model-only or --images")
        if model_only and images is not None:
            raise BenchError("--model-only: cannot be combined with --images")
        mode: Mode = "crops" if crops is not None else "model-only" if model_only \
            else "pipeline"
        threads = parse_threads(threads_text)
        delegates: tuple[Delegate, ...] = parse_delegates(delegate_text)
        size = parse_size(size_text)
        variants = _variants(variant, detector, recognizer)
        infos, inputs, source, distinct = _prepare(mode, variants, images, crops, size, n)
        click.echo(f"edgeocr bench: {mode}, {n} timed + {warmup} warm-up over {distinct} "
                   f"distinct input(s) from {source}", err=True)
        runs = b.run_matrix(mode, variants, delegates, threads, inputs, n, warmup,
                            lambda what: click.echo(f"  {what}", err=True))
        settings = {"frames": n, "warmup": warmup,
                    "size": list(size) if mode == "pipeline" else None, "source": source,
                    "distinct_inputs": distinct, "threads": list(threads),
                    "delegates": list(delegates), "camera_fps": CAMERA_FPS}
        command = shlex.join(["edgeocr", *sys.argv[1:]]) if "bench" in sys.argv[1:] \
            else "edgeocr bench"
        doc = b.document(mode, command, settings, infos, runs)
        click.echo(format_table(doc))
        if json_out is not None:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        if plot_out is not None and any(r["available"] for r in runs):
            plot_medians(doc, plot_out)
    except BenchError as exc:
        click.echo(f"edgeocr: {exc}", err=True)
        raise SystemExit(2) from None
    except OSError as exc:
        click.echo(f"edgeocr: {exc.filename or 'bench'}: {exc.strerror or exc}", err=True)
        raise SystemExit(2) from None
    if not any(r["available"] for r in runs):
        click.echo("edgeocr: bench: no run was possible (reasons above)", err=True)
        raise SystemExit(1)
