"""Training utilities shared by the trainers: checkpoint/resume, CSV log, curves, progress,
SIGINT handling, the Keras model metadata attribute, and a replay pool of samples rendered
in background processes.

A checkpoint is ONE file, ``checkpoint.weights.h5``: Keras' own weights file (so
``model.load_weights`` reads it) plus an ``edgeocr_optimizer`` group holding the optimizer's
variables (Adam moments and the iteration count) so a resumed run continues the same loss
curve, and ``state.json`` beside it with the step and anything else the trainer wants back.
Both are written to temporary names and renamed, so a kill mid-save leaves the old pair.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import multiprocessing as mp
import os
import queue
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

if TYPE_CHECKING:
    # Only for annotations: worker processes import this module and must not load TensorFlow.
    import keras

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.weights.h5"
STATE_NAME = "state.json"
_OPT_GROUP = "edgeocr_optimizer"


class CheckpointError(Exception):
    """A checkpoint that cannot be read back into this model (path and reason in the message)."""


def save_checkpoint(
    out_dir: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer, state: dict[str, Any]
) -> Path:
    """Write model + optimizer variables to ``out_dir/checkpoint.weights.h5`` and ``state``
    to ``out_dir/state.json`` (each replaced atomically). Returns the checkpoint path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    final = out_dir / CHECKPOINT_NAME
    tmp = out_dir / "checkpoint.tmp.weights.h5"
    model.save_weights(tmp)
    with h5py.File(tmp, "a") as f:
        group = f.create_group(_OPT_GROUP)
        for i, var in enumerate(optimizer.variables):
            ds = group.create_dataset(f"{i:04d}", data=np.asarray(var.numpy()))
            ds.attrs["path"] = str(var.path)
        group.attrs["count"] = len(optimizer.variables)
    os.replace(tmp, final)
    state_tmp = out_dir / "state.tmp.json"
    state_tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(state_tmp, out_dir / STATE_NAME)
    return final


def load_checkpoint(
    out_dir: Path, model: keras.Model, optimizer: keras.optimizers.Optimizer
) -> dict[str, Any]:
    """Restore model and optimizer from ``out_dir`` and return the saved state.

    The optimizer is built on ``model.trainable_variables`` first so its variables exist.
    Raises CheckpointError when the files are missing or do not fit this model.
    """
    path = out_dir / CHECKPOINT_NAME
    state_path = out_dir / STATE_NAME
    if not path.is_file() or not state_path.is_file():
        raise CheckpointError(f"{out_dir}: no {CHECKPOINT_NAME} + {STATE_NAME} to resume from")
    try:
        state: dict[str, Any] = json.loads(state_path.read_text())
        model.load_weights(path)
    except (OSError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: cannot load into this model: {exc}") from exc
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    with h5py.File(path, "r") as f:
        if _OPT_GROUP not in f:
            log.warning("%s has no optimizer state; the optimizer starts fresh", path)
            return state
        group = f[_OPT_GROUP]
        saved = [group[k] for k in sorted(group.keys())]
        if len(saved) != len(optimizer.variables):
            raise CheckpointError(
                f"{path}: optimizer has {len(optimizer.variables)} variables, "
                f"checkpoint {len(saved)}"
            )
        for var, ds in zip(optimizer.variables, saved, strict=True):
            value = np.asarray(ds[()])
            if tuple(value.shape) != tuple(var.shape):
                raise CheckpointError(
                    f"{path}: optimizer variable {var.path} has shape {tuple(var.shape)}, "
                    f"checkpoint {value.shape}"
                )
            var.assign(value)
    return state


def save_h5(model: keras.Model, path: Path) -> None:
    """``model.save`` to .h5 (what the converter reads) without Keras' "legacy format" nag
    on every save."""
    absl_log = logging.getLogger("absl")
    level = absl_log.level
    absl_log.setLevel(logging.ERROR)
    try:
        model.save(path)
    finally:
        absl_log.setLevel(level)


def write_model_metadata(h5_path: Path, meta: dict[str, Any]) -> None:
    """Store ``meta`` as the JSON string attribute ``edgeocr`` on the h5 root (see CONTRACTS)."""
    with h5py.File(h5_path, "a") as f:
        f.attrs["edgeocr"] = json.dumps(meta, sort_keys=True)


def read_model_metadata(h5_path: Path) -> dict[str, Any]:
    with h5py.File(h5_path, "r") as f:
        raw = f.attrs.get("edgeocr")
    if raw is None:
        raise CheckpointError(f"{h5_path}: no 'edgeocr' metadata attribute")
    meta: dict[str, Any] = json.loads(raw)
    return meta


class CsvLog:
    """Append-only CSV of per-step metrics; blank cells where a metric was not measured.

    Opening with ``resume_step`` drops rows after that step (written after the last
    checkpoint, about to be redone) so the log has no duplicates.
    """

    def __init__(self, path: Path, fields: Sequence[str], resume_step: int | None = None) -> None:
        self.path = path
        self.fields = ["step", *[f for f in fields if f != "step"]]
        rows: list[dict[str, str]] = []
        if resume_step is not None and path.is_file():
            with path.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r.get("step") or 0) <= resume_step]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.fields, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, step: int, **values: float | int | str | None) -> None:
        row: dict[str, Any] = {"step": step}
        for key, value in values.items():
            if isinstance(value, float):
                row[key] = f"{value:.6g}"
            else:
                row[key] = "" if value is None else value
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(row)

    def read(self) -> list[dict[str, str]]:
        with self.path.open(newline="") as f:
            return list(csv.DictReader(f))


def _series(rows: list[dict[str, str]], key: str) -> tuple[list[int], list[float]]:
    xs: list[int] = []
    ys: list[float] = []
    for r in rows:
        if r.get(key):
            xs.append(int(r["step"]))
            ys.append(float(r[key]))
    return xs, ys


def plot_curves(
    csv_path: Path,
    png_path: Path,
    loss_keys: Sequence[str] = ("loss",),
    metric_keys: Sequence[str] = (),
    title: str = "",
) -> None:
    """Plot loss columns (left, log scale) and metric columns (right) of a CsvLog to PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    fig, axes = plt.subplots(1, 2 if metric_keys else 1, figsize=(11 if metric_keys else 6, 4))
    ax_list = list(np.atleast_1d(axes))
    for key in loss_keys:
        xs, ys = _series(rows, key)
        if xs:
            ax_list[0].plot(xs, ys, label=key, linewidth=0.8)
    ax_list[0].set_xlabel("step")
    ax_list[0].set_ylabel("loss")
    if any(_series(rows, k)[1] and min(_series(rows, k)[1]) > 0 for k in loss_keys):
        ax_list[0].set_yscale("log")
    if ax_list[0].get_legend_handles_labels()[0]:
        ax_list[0].legend(loc="upper right")
    ax_list[0].grid(alpha=0.3)
    if metric_keys:
        for key in metric_keys:
            xs, ys = _series(rows, key)
            if xs:
                ax_list[1].plot(xs, ys, marker=".", label=key)
        ax_list[1].set_xlabel("step")
        ax_list[1].set_ylim(0, 1)
        if ax_list[1].get_legend_handles_labels()[0]:
            ax_list[1].legend(loc="lower right")
        ax_list[1].grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, png_path)


class StopFlag:
    """Set by SIGINT/SIGTERM inside :func:`stop_on_signal`; the loop checks it each step,
    saves a checkpoint and returns, instead of dying mid-write."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None


@contextmanager
def stop_on_signal() -> Iterator[StopFlag]:
    flag = StopFlag()

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag.signum is not None:
            # A second Ctrl-C means "now": restore default behaviour and re-raise.
            raise KeyboardInterrupt
        flag.signum = signum
        log.warning("signal %d: saving a checkpoint and stopping after this step", signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for s in previous:
            signal.signal(s, handler)
    except ValueError:
        # Not the main thread (e.g. some test runners): run without signal handling.
        previous = {}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def progress(total: int, initial: int, desc: str, enabled: bool = True) -> Any:
    """A tqdm bar (to stderr) starting at ``initial``; disabled bars cost nothing."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, disable=not enabled,
                smoothing=0.05)


class StepTimer:
    """Mean wall time per step over a window, excluding the first steps (tracing)."""

    def __init__(self, skip: int = 3) -> None:
        self.skip = skip
        self.count = 0
        self.total = 0.0
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.perf_counter()

    def stop(self) -> None:
        self.count += 1
        if self.count > self.skip:
            self.total += time.perf_counter() - self._t0

    @property
    def ms_per_step(self) -> float | None:
        n = self.count - self.skip
        return 1000.0 * self.total / n if n > 0 else None


def _pool_worker(make: Callable[[np.random.Generator], Any], out_q: Any, seed: int, stop: Any,
                 chunk: int) -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    rng = np.random.default_rng(seed)
    while not stop.is_set():
        samples = [make(rng) for _ in range(chunk)]
        while not stop.is_set():
            try:
                out_q.put(samples, timeout=0.5)
                break
            except queue.Full:
                continue


class SamplePool:
    """A replay pool of training samples rendered by ``workers`` background processes.

    ``make(rng) -> sample`` must be picklable (a top-level function or a functools.partial of
    one): workers are *spawned*, so they never inherit TensorFlow's threads or locks. New
    samples replace the oldest once ``pool_size`` is reached; :meth:`sample` draws uniformly
    from what is there, blocking only until ``min_fill`` samples exist. When rendering is
    slower than training, samples are reused more often instead of training waiting; apply
    random augmentation after drawing so reuses differ.
    """

    def __init__(self, make: Callable[[np.random.Generator], Any], seed: int, workers: int = 1,
                 pool_size: int = 20000, min_fill: int = 512, chunk: int = 16) -> None:
        if workers < 1:
            raise ValueError("SamplePool needs at least one worker")
        self._items: list[Any] = []
        self._size = pool_size
        self._min_fill = max(1, min(min_fill, pool_size))
        self.rendered = 0
        ctx = mp.get_context("spawn")
        self._q = ctx.Queue(maxsize=64)
        self._stop = ctx.Event()
        self._procs: list[Any] = []
        for s in np.random.SeedSequence(seed).spawn(workers):
            p = ctx.Process(target=_pool_worker,
                            args=(make, self._q, int(s.generate_state(1)[0]), self._stop, chunk),
                            daemon=True)
            p.start()
            self._procs.append(p)

    def _add(self, samples: list[Any]) -> None:
        for sample in samples:
            if len(self._items) < self._size:
                self._items.append(sample)
            else:
                self._items[self.rendered % self._size] = sample
            self.rendered += 1

    def _drain(self, block: bool) -> None:
        while True:
            try:
                self._add(self._q.get(timeout=5.0) if block else self._q.get_nowait())
                block = False
            except queue.Empty:
                if not block:
                    return
                if not any(p.is_alive() for p in self._procs):
                    codes = [p.exitcode for p in self._procs]
                    raise RuntimeError(f"sample workers died (exit codes {codes})") from None

    def sample(self, rng: np.random.Generator, n: int) -> list[Any]:
        self._drain(block=False)
        while len(self._items) < self._min_fill:
            self._drain(block=True)
        return [self._items[int(j)] for j in rng.integers(len(self._items), size=n)]

    def close(self) -> None:
        if not self._procs:
            return
        self._stop.set()
        # Drain so workers blocked on a full queue see the stop flag and exit.
        deadline = time.monotonic() + 5
        while any(p.is_alive() for p in self._procs) and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._q.get(timeout=0.1)
        for p in self._procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=2)
        self._procs: list[Any] = []

    def __enter__(self) -> SamplePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
