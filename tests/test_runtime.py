"""edgeocr.runtime: backends, quantization and output matching on real tiny int8 models."""

from __future__ import annotations

import ctypes
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from edgeocr.core.sidecar import SidecarError
from edgeocr.runtime import BACKENDS, RuntimeBackendError, load_model, resolve_threads
from edgeocr.runtime import cpu as cpu_backend
from tests.tinymodels import (
    REC_H,
    REC_W,
    TinyModels,
    cached_build,
    copy_model,
    draw_text_crop,
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


def _edgetpu_library_present() -> bool:
    try:
        ctypes.CDLL("libedgetpu.so.1")
    except OSError:
        return False
    return True


def test_recognizer_outputs_dequantized_probabilities(tiny_models: TinyModels) -> None:
    model = load_model(tiny_models.recognizer, "recognizer", threads=1)
    x = draw_text_crop("AB17")[None, :, :, None].astype(np.float32) / 255
    out = model.invoke(x)
    assert list(out) == [o.name for o in model.sidecar.outputs]
    probs = out[model.output_names[0]]
    assert probs.dtype == np.float32 and probs.shape == (1, REC_W // 4, 37)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=0.03)


def test_input_quantized_with_interpreter_params(tiny_models: TinyModels) -> None:
    model = load_model(tiny_models.recognizer, "recognizer", threads=1)
    x = np.linspace(-0.5, 1.5, REC_H * REC_W, dtype=np.float32).reshape(1, REC_H, REC_W, 1)
    model.set_input(x)
    detail = model.interpreter.get_input_details()[0]
    scale, zp = detail["quantization"]
    want = np.clip(np.rint(x / scale) + zp, -128, 127).astype(np.int8)
    np.testing.assert_array_equal(model.interpreter.get_tensor(detail["index"]), want)


def test_detector_outputs_by_name_not_by_order(tiny_models: TinyModels) -> None:
    model = load_model(tiny_models.detector, "detector", threads=1)
    out = model.invoke(np.zeros((1, 64, 64, 3), np.float32))
    assert {k: v.shape for k, v in out.items()} == {
        "classes": (1, 32, 3), "boxes": (1, 32, 4), "corners": (1, 32, 8)}
    # the interpreter's own order differs from the Keras order: names must come from the
    # signature, not from get_output_details() positions
    raw_order = [tuple(d["shape"][-1:]) for d in model.interpreter.get_output_details()]
    assert raw_order != [(3,), (4,), (8,)]
    # a black image is background everywhere; corners of the anchor box are +-5 offsets
    assert (out["classes"][0, :, 0] > out["classes"][0, :, 1:].max(axis=1)).all()
    np.testing.assert_allclose(out["corners"][0, 0], [-5, -5, 5, -5, 5, 5, -5, 5], atol=0.1)


def test_outputs_matched_by_shape_when_names_differ(tiny_models: TinyModels,
                                                    tmp_path: Path) -> None:
    side = json.loads(tiny_models.detector.with_suffix(".json").read_text())
    outputs = [{**o, "name": f"head_{o['name']}"} for o in side["outputs"]]
    path = copy_model(tiny_models.detector, tmp_path, outputs=outputs)
    model = load_model(path, "detector", threads=1)
    out = model.invoke(np.zeros((1, 64, 64, 3), np.float32))
    assert out["head_corners"].shape == (1, 32, 8)
    assert out["head_boxes"].shape == (1, 32, 4)


def test_sidecar_quantization_mismatch_is_reported(tiny_models: TinyModels,
                                                   tmp_path: Path) -> None:
    side = json.loads(tiny_models.recognizer.with_suffix(".json").read_text())
    side["input"]["quant"]["scale"] *= 2
    path = copy_model(tiny_models.recognizer, tmp_path, input=side["input"])
    with pytest.raises(SidecarError, match=r"input quantization .* differs from its sidecar"):
        load_model(path, "recognizer")


def test_wrong_role_is_reported(tiny_models: TinyModels) -> None:
    with pytest.raises(SidecarError, match="is a detector model, expected a recognizer"):
        load_model(tiny_models.detector, "recognizer")


def test_unknown_delegate_lists_known(tiny_models: TinyModels) -> None:
    with pytest.raises(RuntimeBackendError, match=r"unknown delegate 'gpu' .*cpu, edgetpu"):
        load_model(tiny_models.recognizer, "recognizer", delegate="gpu")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_backend_runs_or_says_what_is_missing(backend: str, tiny_models: TinyModels,
                                                    tmp_path: Path) -> None:
    path = tiny_models.recognizer
    if backend == "edgetpu":
        path = copy_model(path, tmp_path, edgetpu_compiled=True)
    try:
        model = load_model(path, "recognizer", delegate=backend, threads=1)
    except RuntimeBackendError as exc:
        assert backend == "edgetpu"
        assert "libedgetpu" in str(exc) or "Edge TPU" in str(exc)
        return
    out = model.invoke(np.zeros((1, REC_H, REC_W, 1), np.float32))
    assert len(out) == 1


def test_edgetpu_rejects_uncompiled_model(tiny_models: TinyModels) -> None:
    with pytest.raises(RuntimeBackendError, match="not compiled for the Edge TPU"):
        load_model(tiny_models.recognizer, "recognizer", delegate="edgetpu")


@pytest.mark.skipif(_edgetpu_library_present(), reason="libedgetpu is installed here")
def test_edgetpu_missing_library_has_install_hint(tiny_models: TinyModels,
                                                  tmp_path: Path) -> None:
    path = copy_model(tiny_models.recognizer, tmp_path, edgetpu_compiled=True)
    with pytest.raises(RuntimeBackendError, match=r"libedgetpu\.so\.1 not found: .*apt-get"):
        load_model(path, "recognizer", delegate="edgetpu")


def test_cpu_refuses_edgetpu_compiled_model(tiny_models: TinyModels, tmp_path: Path) -> None:
    path = copy_model(tiny_models.recognizer, tmp_path, edgetpu_compiled=True)
    with pytest.raises(RuntimeBackendError, match="compiled for the Edge TPU"):
        load_model(path, "recognizer", delegate="cpu")


def test_missing_runtime_has_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the package were not installed
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    with pytest.raises(RuntimeBackendError, match="pip install ai-edge-litert"):
        cpu_backend.interpreter_class()


def test_threads() -> None:
    assert resolve_threads(0) == (os.cpu_count() or 1)
    assert resolve_threads(3) == 3
    with pytest.raises(ValueError, match="threads"):
        resolve_threads(-1)


def test_missing_sidecar_is_reported(tiny_models: TinyModels, tmp_path: Path) -> None:
    lone = tmp_path / "lone.tflite"
    lone.write_bytes(tiny_models.recognizer.read_bytes())
    with pytest.raises(SidecarError, match="sidecar not found"):
        load_model(lone, "recognizer")


def test_pixel_lookup_matches_float_quantization(tiny_models: TinyModels) -> None:
    model = load_model(tiny_models.detector, "detector", threads=1)
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    index = model.interpreter.get_input_details()[0]["index"]
    model.set_input(pixels[None].astype(np.float32) / 255)
    via_float = model.interpreter.get_tensor(index)
    model.set_input_pixels(pixels)
    np.testing.assert_array_equal(model.interpreter.get_tensor(index), via_float)
    a = model.invoke()
    b = model.invoke(pixels[None].astype(np.float32) / 255)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    with pytest.raises(ValueError, match="uint8 pixels"):
        model.set_input_pixels(pixels[:32])
