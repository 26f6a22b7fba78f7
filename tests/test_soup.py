"""edgeocr-train soup: uniform weight averaging of one architecture, clear refusals."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from click.testing import CliRunner  # noqa: E402
from edgeocr_convert.cli.train_cmd import cli  # noqa: E402
from edgeocr_convert.models.recognizer import build_recognizer  # noqa: E402
from edgeocr_convert.training import (  # noqa: E402
    read_model_metadata,
    save_h5,
    write_model_metadata,
)

META = {"role": "recognizer", "charset": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", "blank": 0,
        "head": "conv", "input": {"height": 32, "width": 128, "channels": 1, "colour": "grey",
                                  "range": [0.0, 1.0]}, "step": 10, "val_exact": 0.5}


def _model(path: Path, seed: int, width: int = 128) -> list[np.ndarray]:
    keras.utils.set_random_seed(seed)
    model = build_recognizer(32, width)
    # Make BatchNorm statistics differ too: they are averaged like every other variable.
    weights = [w + np.float32(seed) for w in model.get_weights()]
    model.set_weights(weights)
    save_h5(model, path)
    write_model_metadata(path, {**META, "input": {**META["input"], "width": width}})  # type: ignore[dict-item]
    return weights


def test_soup_is_the_mean_and_keeps_the_metadata(tmp_path: Path) -> None:
    a = _model(tmp_path / "a.h5", 1)
    b = _model(tmp_path / "b.h5", 2)
    c = _model(tmp_path / "c.h5", 3)
    out = tmp_path / "soup.h5"
    res = CliRunner().invoke(cli, ["soup", str(tmp_path / "a.h5"), str(tmp_path / "b.h5"),
                                   str(tmp_path / "c.h5"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = keras.models.load_model(out, compile=False).get_weights()
    assert len(got) == len(a)
    for w, x, y, z in zip(got, a, b, c, strict=True):
        np.testing.assert_allclose(w, (x + y + z) / 3, rtol=1e-5, atol=1e-5)
    meta = read_model_metadata(out)
    assert meta["role"] == "recognizer" and meta["soup_of"] == ["a.h5", "b.h5", "c.h5"]
    assert "step" not in meta and "val_exact" not in meta


def test_soup_refuses_what_cannot_be_averaged(tmp_path: Path) -> None:
    _model(tmp_path / "a.h5", 1)
    _model(tmp_path / "wide.h5", 2, width=160)
    runner = CliRunner()
    res = runner.invoke(cli, ["soup", str(tmp_path / "a.h5"), str(tmp_path / "wide.h5"),
                              "--out", str(tmp_path / "s.h5")])
    assert res.exit_code == 2
    assert "disagree on 'input'" in res.output or "same architecture" in res.output
    res = runner.invoke(cli, ["soup", str(tmp_path / "a.h5"), "--out", str(tmp_path / "s.h5")])
    assert res.exit_code == 2 and "at least two" in res.output
    res = runner.invoke(cli, ["soup", str(tmp_path / "a.h5"), str(tmp_path / "nope.h5"),
                              "--out", str(tmp_path / "s.h5")])
    assert res.exit_code == 2 and "file not found" in res.output
    assert "Traceback" not in res.output
