"""edgeocr-convert on bad input: one line on stderr, exit 2, no traceback, nothing written.

Also the Edge TPU compiler step with a stand-in ``edgetpu_compiler`` on PATH (the real one
cannot be installed here): the converter runs it and reads its operation counts.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner, Result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_cli(*args: Any) -> Result:
    from edgeocr_convert.cli.convert_cmd import main

    return CliRunner().invoke(main, [str(a) for a in args])


def tiny_recognizer(path: Path) -> Path:
    import keras

    inp = keras.Input((8, 16, 1), name="image")
    x = keras.layers.Conv2D(5, (8, 4), strides=(1, 4), name="classes")(inp)
    x = keras.layers.Reshape((4, 5))(x)
    keras.Model(inp, keras.layers.Softmax(name="probs")(x)).save(path)
    with h5py.File(path, "a") as f:
        f.attrs["edgeocr"] = json.dumps({"role": "recognizer", "charset": "0123"})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import keras

    d = tmp_path_factory.mktemp("models")
    rec = tiny_recognizer(d / "rec.h5")
    truncated = d / "truncated.h5"
    truncated.write_bytes(rec.read_bytes()[: rec.stat().st_size // 2])
    inp = keras.Input((16, 16, 1))
    out = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(inp))
    classifier = d / "classifier.h5"
    keras.Model(inp, out).save(classifier)
    text = d / "notes.h5"
    text.write_text("not a model\n")
    return {"rec": rec, "truncated": truncated, "classifier": classifier, "text": text}


def assert_clean_failure(result: Result, folder: Path, *needles: str) -> None:
    assert result.exit_code == 2, result.output + result.stderr
    err = result.stderr.strip()
    assert err.startswith("edgeocr-convert: ") and "\n" not in err, err
    assert "Traceback" not in result.output + result.stderr
    for needle in needles:
        assert needle in err, err
    assert not list(folder.glob("*")), list(folder.glob("*"))


@pytest.mark.parametrize(("name", "reason"), [
    ("text", "cannot load as a Keras model"),
    ("truncated", "cannot load as a Keras model"),
    ("classifier", "unsupported architecture"),
])
def test_bad_model_files(models: dict[str, Path], tmp_path: Path, name: str,
                         reason: str) -> None:
    result = run_cli(models[name], "--out", tmp_path / "out.tflite")
    assert_clean_failure(result, tmp_path, str(models[name]), reason)


def test_missing_model_and_wrong_suffix(tmp_path: Path, models: dict[str, Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    assert_clean_failure(run_cli(tmp_path / "nope.h5", "--out", out / "m.tflite"), out,
                         "file not found")
    assert_clean_failure(run_cli(models["rec"], "--out", out / "m.bin"), out, ".tflite")


def test_missing_calibration_folder(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    missing = tmp_path / "no-such-calib"
    result = run_cli(models["rec"], "--out", out / "m.tflite", "--calib", missing)
    assert_clean_failure(result, out, str(missing), "folder not found")


def test_calibration_folder_without_images(models: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_failure(run_cli(models["rec"], "--out", out / "m.tflite", "--calib", empty),
                         out, "no images")


def test_validation_needs_labels(models: dict[str, Path], tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "out"
    out.mkdir()
    plain = tmp_path / "plain"
    plain.mkdir()
    cv2.imwrite(str(plain / "a.png"), np.zeros((8, 16), np.uint8))
    result = run_cli(models["rec"], "--out", out / "m.tflite", "--calib", plain, "--val", plain)
    assert_clean_failure(result, out, "labels.csv")


def test_unwritable_output(models: dict[str, Path], tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli(models["rec"], "--out", blocker / "m.tflite")
    assert result.exit_code == 2 and "cannot write" in result.stderr
    assert blocker.read_text() == "x"


def test_no_partial_output_when_writing_fails(models: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure at the very end (disk full while writing) leaves no file behind."""
    import cv2
    from edgeocr_convert import convert

    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(3):
        cv2.imwrite(str(calib / f"{i}.png"), np.full((8, 16), 60 * i, np.uint8))
    out = tmp_path / "out"
    out.mkdir()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f: Any) -> None:
            self.f = f

        def __enter__(self) -> Any:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

        def write(self, data: bytes) -> int:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(convert.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    val = tmp_path / "val"
    val.mkdir()
    cv2.imwrite(str(val / "a.png"), np.zeros((8, 16), np.uint8))
    (val / "labels.csv").write_text("image,kind,text\na.png,plate,0\n")
    result = run_cli(models["rec"], "--out", out / "m.tflite", "--calib", calib, "--val", val,
                     "--latency-runs", 1)
    assert_clean_failure(result, out, "No space left on device")


def test_edgetpu_compiler_is_run_when_on_path(models: dict[str, Path], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "edgetpu_compiler"
    # Stand-in: copies the model to <stem>_edgetpu.tflite and prints the compiler's summary.
    fake.write_text(
        "#!/bin/sh\n"
        'out="$3"; model="$4"; base=$(basename "$model" .tflite)\n'
        'cp "$model" "$out/${base}_edgetpu.tflite"\n'
        "echo 'Edge TPU Compiler version 16.0.384591198'\n"
        "echo 'Total number of operations: 3'\n"
        "echo 'Number of operations that will run on Edge TPU: 2'\n"
        "echo 'Number of operations that will run on CPU: 1'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    calib = tmp_path / "calib"
    calib.mkdir()
    for i in range(3):
        cv2.imwrite(str(calib / f"{i}.png"), np.full((8, 16), 80 * i, np.uint8))
    (calib / "labels.csv").write_text(
        "image,kind,text\n" + "".join(f"{i}.png,plate,0\n" for i in range(3)))
    out = tmp_path / "out"
    out.mkdir()
    report = tmp_path / "report.json"
    result = run_cli(models["rec"], "--out", out / "m.tflite", "--calib", calib, "--val", calib,
                     "--target", "edgetpu", "--json", report, "--latency-runs", 1,
                     "--no-progress")
    assert result.exit_code == 0, result.output + result.stderr
    comp = json.loads(report.read_text())["edgetpu"]["compiler"]
    assert comp["ran"] and comp["ops_on_tpu"] == 2 and comp["ops_on_cpu"] == 1
    compiled = out / "m_edgetpu.tflite"
    assert comp["output_model"] == str(compiled)
    from edgeocr.core.sidecar import load_sidecar

    assert load_sidecar(compiled).edgetpu_compiled is True
    assert load_sidecar(out / "m.tflite").edgetpu_compiled is False
