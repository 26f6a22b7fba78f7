"""``edgeocr-convert MODEL``: Keras -> verified full-int8 TFLite + sidecar (``--float``: the
float32 twin, for measuring what int8 costs).

Exit codes: 0 converted and verified; 2 bad input (one line on stderr, nothing written);
3 converted but verification failed (metric drop above ``--max-drop``, or the Edge TPU gate
with ``--target edgetpu``); the files are still written so they can be inspected.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np

if TYPE_CHECKING:
    from edgeocr_convert.convert import Precision

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger("edgeocr_convert")

PROG = "edgeocr-convert"
CALIB_FOLDER_MAX = 500
# Validation samples are held in memory as float inputs (a 320x320 RGB frame is 1.2 MB).
VAL_FOLDER_MAX = {"recognizer": 2000, "detector": 500}
CALIB_SEED = 0
# A different seed from calibration, so verification runs on samples the scales never saw.
VAL_SEED = 1_000_003
DEFAULT_NEGATIVES = Path("../shared/backgrounds/real-negatives")


class UsageProblem(Exception):
    """Bad input found before or during conversion (exit 2)."""


@dataclass
class Options:
    model: Path
    out: Path
    calib: Path | None
    calib_synthetic: int
    target: str
    val: Path | None
    val_synthetic: int
    max_drop: float
    json_path: Path | None
    latency_runs: int
    progress: bool
    precision: Precision = "int8"
    negatives: Path | None = None
    """Plate-free photos for a detector's score threshold (None: DEFAULT_NEGATIVES if
    it exists, else no threshold is chosen)."""


def _check_writable_dir(path: Path, what: str) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise UsageProblem(f"{path}: cannot write {what} ({parent} is not a folder)")
    try:
        fd, probe = tempfile.mkstemp(prefix=".edgeocr-probe-", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageProblem(f"{path}: cannot write {what} ({exc.strerror or exc})") from None
    if path.is_dir():
        raise UsageProblem(f"{path}: is a folder, expected a file path")


def _check_inputs(opts: Options) -> None:
    from edgeocr_convert.calibration import check_folder

    if opts.out.suffix != ".tflite":
        raise UsageProblem(f"{opts.out}: output must end in .tflite (the sidecar goes next to it "
                           "as .json)")
    if opts.out.resolve() == opts.model.resolve():
        raise UsageProblem(f"{opts.out}: output would overwrite the input model")
    _check_writable_dir(opts.out, "the model")
    if opts.json_path is not None:
        _check_writable_dir(opts.json_path, "the report")
    for folder in (opts.calib, opts.val):
        if folder is not None:
            check_folder(folder)


def _fmt_size(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1 << 20 else f"{n / (1 << 20):.2f} MB"


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}


def _json_safe(value: Any) -> Any:
    """NaN/inf (e.g. a corner error with no matches) become null: strict JSON readers
    reject NaN."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def run(opts: Options) -> tuple[dict[str, Any], int]:
    """Convert, verify and gate; returns the report and the exit code (0 or 3).

    Raises UsageProblem (and the modules' own errors) for bad input before anything is
    written at ``opts.out``.
    """
    from tqdm import tqdm

    from edgeocr.core.sidecar import sha256_file, sidecar_path, write_sidecar
    from edgeocr_convert import convert, edgetpu, verify
    from edgeocr_convert.calibration import (
        Sample,
        check_folder,
        folder_samples,
        kinds_for,
        synthetic_samples,
    )

    _check_inputs(opts)
    model = convert.load_keras_model(opts.model)
    info = convert.describe_model(model, opts.model, convert.read_metadata(opts.model))
    log.info("model %s: %s", opts.model, info)
    for folder in (opts.calib, opts.val):
        if folder is not None:
            check_folder(folder, kinds_for(info))

    is_float = opts.precision == "float32"

    def calibration() -> Iterator[np.ndarray]:
        if opts.calib is not None:
            source: Iterator[Sample] = folder_samples(opts.calib, info, CALIB_FOLDER_MAX,
                                                      seed=CALIB_SEED)
            total: int | None = None
        else:
            source = synthetic_samples(info, opts.calib_synthetic, CALIB_SEED)
            total = opts.calib_synthetic
        for s in tqdm(source, total=total, desc="calibrate", unit="img",
                      disable=not opts.progress, leave=False):
            yield s.x

    # Validation samples first: a missing generator or bad labels fail before the slow part.
    if opts.val is not None:
        val = list(folder_samples(opts.val, info, VAL_FOLDER_MAX[info.role], need_labels=True))
    else:
        val = list(synthetic_samples(info, opts.val_synthetic, VAL_SEED))
    if not val:
        raise UsageProblem(f"{opts.val}: no validation samples")

    with tempfile.TemporaryDirectory(prefix="edgeocr-convert-") as work:
        data = convert.to_tflite(model, info, Path(work), opts.precision,
                                 None if is_float else calibration)
        tmp_model = Path(work) / opts.out.name
        tmp_model.write_bytes(data)
        # The plain sidecar goes beside the temp model first, so verification loads the model
        # through edgeocr.runtime exactly as the device will (quant params, output names).
        plain = convert.make_sidecar(info, tmp_model, opts.out.stem, sha256_file(tmp_model),
                                     sha256_file(opts.model), convert.tool_versions())
        write_sidecar(tmp_model, plain)
        cmp = verify.compare(model, tmp_model, info, val, progress=opts.progress,
                             label=opts.precision)
        latency = {f"{t}_threads" if t > 1 else "1_thread":
                   verify.median_latency_ms(tmp_model, t, opts.latency_runs) for t in (1, 2)}
        ops = verify.op_list(tmp_model)
        gate = edgetpu.check_model(tmp_model)
        if is_float:
            gate.problems.insert(0, "float32 model: the Edge TPU runs only full-int8 models")

        primary = cmp["primary"]
        metrics = {f"keras_{k}": v for k, v in cmp["keras"].items() if k != "objects"}
        metrics |= {f"{opts.precision}_{k}": v for k, v in cmp[opts.precision].items()
                    if k != "objects"}
        metrics |= {f"latency_ms_{k}": v for k, v in latency.items()}
        metrics |= {k: float(cmp[k]) for k in ("drop", "read_agreement", "detection_agreement")
                    if k in cmp}
        threshold = _choose_threshold(opts, tmp_model, info, val, plain)
        sidecar = plain.model_copy(update={"metrics": _finite(metrics)})
        if threshold is not None and sidecar.detector is not None:
            sidecar = sidecar.model_copy(update={"detector": sidecar.detector.model_copy(
                update={"score_threshold": threshold.threshold})})
        tmp_side = write_sidecar(tmp_model, sidecar)
        # Only now does anything appear at the output path: model first, then its sidecar.
        side_path = sidecar_path(opts.out)
        convert.atomic_write(opts.out, data)
        try:
            convert.atomic_write(side_path, tmp_side.read_bytes())
        except BaseException:
            opts.out.unlink(missing_ok=True)  # a model without its sidecar would not load
            raise

    if opts.target == "edgetpu" and is_float:
        gate.compiler = edgetpu.CompilerResult(
            ran=False, command=" ".join(edgetpu.compiler_command(opts.out)),
            message="not run (float32 model)")
    elif opts.target == "edgetpu":
        gate.compiler = edgetpu.run_compiler(opts.out)
        compiled = gate.compiler.output_model
        if compiled:
            cpath = Path(compiled)
            write_sidecar(cpath, sidecar.model_copy(update={
                "name": cpath.stem, "sha256": sha256_file(cpath), "edgetpu_compiled": True}))
    else:
        gate.compiler = edgetpu.CompilerResult(
            ran=False, command=" ".join(edgetpu.compiler_command(opts.out)),
            message="not run (--target cpu)")

    failures = []
    if cmp["drop"] > opts.max_drop:
        failures.append(f"{primary} dropped {cmp['drop']:.2f} points (max {opts.max_drop:g})")
    if opts.target == "edgetpu" and not gate.ok:
        failures.append("Edge TPU gate: " + "; ".join(gate.problems))
    warnings = []
    if info.role == "detector" and threshold is None:
        warnings.append("no plate-free photos (--negatives): no score threshold chosen; the "
                        "device will use 0.5")
    if info.role == "detector" and not cmp["keras"].get("objects"):
        warnings.append("no ground-truth objects of the model's classes in the validation set: "
                        "AP50 says nothing; pass --val with labelled images")
    elif cmp["keras"][primary] == 0:
        warnings.append(f"the Keras model scores 0 {primary} on the validation set (untrained, "
                        "or validation data unlike its training data): the drop says little; "
                        "check the output agreement")
    report: dict[str, Any] = {
        "model": str(opts.model), "output": str(opts.out), "sidecar": str(side_path),
        "role": info.role, "head": info.head if info.role == "recognizer" else None,
        "input": {"height": info.height, "width": info.width, "channels": info.channels,
                  "colour": info.colour, "range": list(info.value_range)},
        "metadata_found": info.metadata_found,
        "precision": opts.precision,
        "calibration": ("none (float32)" if is_float else str(opts.calib) if opts.calib
                        else f"synthetic:{opts.calib_synthetic}"),
        "validation": str(opts.val) if opts.val else f"synthetic:{opts.val_synthetic}",
        "sizes": {"keras_bytes": opts.model.stat().st_size, "tflite_bytes": len(data)},
        "verification": cmp, "max_drop": opts.max_drop, "latency_ms": latency,
        "latency_runs": opts.latency_runs, "ops": ops, "edgetpu": gate.as_dict(),
        "target": opts.target, "passed": not failures, "failures": failures,
        "score_threshold": None if threshold is None else {
            "threshold": threshold.threshold, "reason": threshold.reason,
            "negatives": threshold.negatives, "synthetic_images": threshold.synthetic_images,
            "rows": [r.__dict__ for r in threshold.rows]},
        "warnings": warnings,
    }
    return report, 3 if failures else 0


def _choose_threshold(opts: Options, tmp_model: Path, info: Any, val: list[Any],
                      plain: Any) -> Any:
    """A detector's operating threshold (edgeocr_convert.threshold), or None."""
    if info.role != "detector" or plain.detector is None:
        return None
    folder = opts.negatives or (DEFAULT_NEGATIVES if DEFAULT_NEGATIVES.is_dir() else None)
    if folder is None:
        return None
    from tqdm import tqdm

    from edgeocr_convert.threshold import choose_threshold, list_negatives

    negatives = list_negatives(folder)
    with tqdm(total=len(negatives) + len(val), desc="threshold", unit="img",
              disable=not opts.progress, leave=False) as bar:
        return choose_threshold(tmp_model, val, negatives, info.value_range,
                                info.colour == "rgb", plain.detector.class_names, bar.update)


def _summary(report: dict[str, Any]) -> str:
    v = report["verification"]
    primary = v["primary"]
    prec = report["precision"]
    lines = [f"{report['role']}{' (' + report['head'] + ' head)' if report['head'] else ''}: "
             f"{report['model']} -> {report['output']} + {report['sidecar']}",
             f"  size      keras {_fmt_size(report['sizes']['keras_bytes'])}, {prec} "
             f"{_fmt_size(report['sizes']['tflite_bytes'])}",
             f"  data      calibration {report['calibration']}, validation "
             f"{report['validation']} ({v['samples']} samples)"]
    for side in ("keras", prec):
        vals = ", ".join(f"{k} {x:.2f}" for k, x in v[side].items() if k != "objects")
        lines.append(f"  {side:<9} {vals}")
    agree = (f"{v['read_agreement']:.1f}% identical reads" if "read_agreement" in v
             else f"{v['detection_agreement']:.1f}% of Keras detections found by {prec}")
    diffs = ", ".join(f"{k} {x:.4f}" for k, x in v["mean_abs_diff"].items())
    lines += [f"  drop      {v['drop']:.2f} points of {primary} (max {report['max_drop']:g})",
              f"  agree     {agree}; mean |keras - {prec}|: {diffs}",
              "  latency   " + ", ".join(f"{x:.2f} ms ({k.replace('_', ' ')})"
                                         for k, x in report["latency_ms"].items())
              + f", median of {report['latency_runs']}"]
    counts: dict[str, int] = report["edgetpu"]["ops"]
    lines.append("  ops       " + ", ".join(f"{k} x{n}" for k, n in sorted(counts.items())))
    tpu = report["edgetpu"]
    lines.append("  edgetpu   " + ("static gate passed" if tpu["ok"]
                                   else "; ".join(tpu["problems"])))
    comp = tpu["compiler"]
    if comp and comp["ran"]:
        lines.append(f"  compiler  {comp['ops_on_tpu']} ops on the Edge TPU, {comp['ops_on_cpu']}"
                     f" on the CPU -> {comp['output_model']} ({comp['message']})")
    elif comp:
        lines.append(f"  compiler  {comp['message']}")
    thr = report.get("score_threshold")
    if thr:
        row = next(r for r in thr["rows"] if r["threshold"] == thr["threshold"])
        lines.append(f"  threshold {thr['threshold']:.2f} ({thr['reason']}): "
                     f"{row['negative_fp_per_image']:.3f} false positives per plate-free photo "
                     f"({thr['negatives']}), synthetic precision "
                     f"{row['synthetic_precision']:.1%} recall {row['synthetic_recall']:.1%}")
    lines += [f"  warning   {w}" for w in report["warnings"]]
    lines.append("  result    " + ("PASS" if report["passed"]
                                   else "FAIL: " + "; ".join(report["failures"])))
    if report["passed"] and report["role"] in ("detector", "recognizer"):
        # The pipeline's read-verification bands were chosen for the shipped pair.
        lines.append(f"  next      edgeocr bands NEGATIVES --{report['role']} "
                     f"{report['output']}  (verification bands for this model; "
                     "docs/training.md)")
    return "\n".join(lines)


def _fail(message: str) -> None:
    click.echo(f"{PROG}: {message}", err=True)
    sys.exit(2)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output .tflite (default: MODEL with .tflite); the sidecar is written "
                   "beside it as .json.")
@click.option("--calib", type=click.Path(path_type=Path), default=None,
              help=f"Calibration images: a labels.csv set or a plain image folder (up to "
                   f"{CALIB_FOLDER_MAX} images).")
@click.option("--calib-synthetic", type=click.IntRange(min=1), default=300, show_default=True,
              help="Synthetic calibration samples when --calib is not given.")
@click.option("--target", type=click.Choice(["cpu", "edgetpu"]), default="cpu",
              show_default=True, help="edgetpu: the Edge TPU gate must pass; runs "
                                      "edgetpu_compiler when it is on PATH.")
@click.option("--val", type=click.Path(path_type=Path), default=None,
              help="Validation labels.csv set (default: synthetic samples).")
@click.option("--val-synthetic", type=click.IntRange(min=1), default=200, show_default=True,
              help="Synthetic validation samples when --val is not given.")
@click.option("--max-drop", type=float, default=1.0, show_default=True,
              help="Largest allowed drop of the task metric (points) from Keras to int8.")
@click.option("--json", "json_path", type=click.Path(path_type=Path), default=None,
              help="Write the whole report as JSON here.")
@click.option("--latency-runs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--float", "as_float", is_flag=True,
              help="Write the float32 twin instead (default name MODEL_float.tflite): no "
                   "quantization, verified the same way; it cannot run on the Edge TPU.")
@click.option("--negatives", type=click.Path(path_type=Path, file_okay=False, exists=True),
              default=None,
              help="Detector: real photos with no plates or house numbers, to choose its "
                   f"score threshold [default: {DEFAULT_NEGATIVES} when it exists].")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(model: Path, out: Path | None, calib: Path | None, calib_synthetic: int, target: str,
         val: Path | None, val_synthetic: int, max_drop: float, json_path: Path | None,
         latency_runs: int, as_float: bool, negatives: Path | None, no_progress: bool,
         verbose: int) -> None:
    """Convert a Keras detector or recognizer (.h5/.keras) to a verified full-int8 .tflite
    (--float: its float32 twin)."""
    logging.basicConfig(level=max(logging.WARNING - 10 * verbose, logging.DEBUG),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from edgeocr.core.sidecar import SidecarError
    from edgeocr_convert.calibration import CalibrationError
    from edgeocr_convert.convert import ConvertError

    default_out = (model.with_name(model.stem + "_float.tflite") if as_float
                   else model.with_suffix(".tflite"))
    opts = Options(model=model, out=out or default_out, calib=calib,
                   calib_synthetic=calib_synthetic, target=target, val=val,
                   val_synthetic=val_synthetic, max_drop=max_drop, json_path=json_path,
                   latency_runs=latency_runs,
                   progress=not no_progress and sys.stderr.isatty(),
                   precision="float32" if as_float else "int8", negatives=negatives)
    try:
        report, code = run(opts)
        if json_path is not None:
            from edgeocr_convert.convert import atomic_write

            atomic_write(json_path, (json.dumps(_json_safe(report), indent=2, allow_nan=False,
                                                default=str) + "\n").encode())
    except (UsageProblem, ConvertError, CalibrationError, SidecarError) as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"{exc.filename or opts.out}: {exc.strerror or exc}")
    click.echo(_summary(report))
    sys.exit(code)
