"""Weight averaging ("model soup") of models fine-tuned from one parent.

Fine-tuning the same parent twice on the same generator gives models whose accuracy on real
crops differs by a couple of points from run to run (docs/MODELS.md, session 8): which run
scores best on a small real set is partly luck. Averaging the weights of several such runs,
every variable including BatchNorm's moving statistics, keeps them in the parent's basin and
averages that luck away: the uniform average is fixed a priori, no run is weighed or picked
on real data. Only models of one architecture (same variable names and shapes, same input
and charset) can be averaged; anything else is refused with a one-line reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgeocr_convert.convert import ConvertError, load_keras_model, read_metadata
from edgeocr_convert.training import save_h5, write_model_metadata

# Metadata that describes one training run, not the average.
_RUN_FIELDS = ("step", "val_exact", "val_cer", "val_map50")


class SoupError(ValueError):
    """Models that cannot be averaged (with the reason)."""


def _signature(model: Any) -> list[tuple[str, tuple[int, ...]]]:
    return [(v.path, tuple(int(d) for d in v.shape)) for v in model.weights]


def average_weights(weights: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Element-wise mean of several models' weight lists (same order and shapes)."""
    if not weights:
        raise SoupError("no models to average")
    n = len(weights[0])
    if any(len(w) != n for w in weights):
        raise SoupError("the models have different numbers of variables")
    out: list[np.ndarray] = []
    for i in range(n):
        stack = [np.asarray(w[i]) for w in weights]
        if any(s.shape != stack[0].shape for s in stack):
            raise SoupError(f"variable {i} has different shapes: {[s.shape for s in stack]}")
        out.append(np.mean(np.stack(stack).astype(np.float64), axis=0).astype(stack[0].dtype))
    return out


def make_soup(paths: Sequence[Path], out: Path) -> dict[str, Any]:
    """Average the Keras models at ``paths`` into ``out`` (.h5); returns the metadata written.

    The first model gives the architecture and the metadata (less its run-specific fields);
    the metadata gains ``soup_of``, the ingredients' file names.
    """
    if len(paths) < 2:
        raise SoupError("give at least two models to average")
    if out.suffix != ".h5":
        raise SoupError(f"{out}: the soup is written as .h5 (what edgeocr-convert reads)")
    try:
        models = [load_keras_model(p) for p in paths]
        metas = [read_metadata(p) or {} for p in paths]
    except ConvertError as exc:
        raise SoupError(str(exc)) from None
    first = _signature(models[0])
    for path, model in zip(paths[1:], models[1:], strict=True):
        if _signature(model) != first:
            raise SoupError(f"{path}: not the same architecture as {paths[0]} "
                            "(variable names or shapes differ)")
    for key in ("role", "charset", "input", "head"):
        values = {repr(m.get(key)) for m in metas}
        if len(values) > 1:
            raise SoupError(f"the models disagree on {key!r}: {sorted(values)}")
    models[0].set_weights(average_weights([m.get_weights() for m in models]))
    out.parent.mkdir(parents=True, exist_ok=True)
    save_h5(models[0], out)
    meta = {k: v for k, v in metas[0].items() if k not in _RUN_FIELDS}
    meta["soup_of"] = [p.name if p.parent == out.parent else str(p) for p in paths]
    write_model_metadata(out, meta)
    return meta
