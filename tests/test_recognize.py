"""edgeocr.recognize: crop preparation and reading with a real tiny int8 recognizer."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

import edgeocr.recognize as recognize
from edgeocr.core.sidecar import SidecarError
from edgeocr.recognize import Recognizer, prepare_crop
from tests.tinymodels import (
    TinyModels,
    cached_build,
    draw_text_crop,
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


@pytest.fixture(scope="module")
def recognizer(tiny_models: TinyModels) -> Recognizer:
    return Recognizer(tiny_models.recognizer, threads=1)


def _variants(grey: np.ndarray) -> dict[str, np.ndarray]:
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    return {
        "grey": grey,
        "grey1": grey[:, :, None],
        "bgr": bgr,
        "bgra": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "grey16": grey.astype(np.uint16) * 257,
    }


def test_prepare_crop_accepts_all_layouts_alike() -> None:
    grey = np.random.default_rng(0).integers(0, 256, (40, 160), dtype=np.uint8)
    outs = {name: prepare_crop(img, 32, 128) for name, img in _variants(grey).items()}
    for name, out in outs.items():
        assert out.shape == (1, 32, 128, 1) and out.dtype == np.float32, name
        assert out.min() >= 0.0 and out.max() <= 1.0, name
        np.testing.assert_allclose(out, outs["grey"], atol=1 / 255, err_msg=name)


def test_prepare_crop_stretches_without_keeping_aspect() -> None:
    img = np.zeros((10, 400), np.uint8)
    img[:, 200:] = 255  # right half white
    out = prepare_crop(img, 32, 128)[0, :, :, 0]
    np.testing.assert_allclose(out[:, :63], 0.0)
    np.testing.assert_allclose(out[:, 65:], 1.0)
    assert prepare_crop(np.full((2000, 8), 255, np.uint8), 32, 128).min() == 1.0


@pytest.mark.parametrize(("image", "message"), [
    (np.zeros((0, 10), np.uint8), "empty"),
    (np.zeros((3, 100), np.uint8), "too small"),
    (np.zeros((32, 2, 3), np.uint8), "too small"),
    (np.zeros((32, 128), np.float32), "uint8 or uint16"),
    (np.zeros((32, 128, 2), np.uint8), "grey, BGR or BGRA"),
])
def test_prepare_crop_rejects_bad_images(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        prepare_crop(image, 32, 128)


@pytest.mark.parametrize("text", ["AB17", "8A", "7781B", "A1B7818", "BBBB", ""])
def test_reads_known_text(recognizer: Recognizer, text: str) -> None:
    read = recognizer.read(draw_text_crop(text), kind="house_number")
    assert read.text == text
    assert read.kind == "house_number"
    assert len(read.char_confidences) == len(text)
    assert all(0.3 < c <= 1.0 for c in read.char_confidences)


def test_reads_any_layout_and_size(recognizer: Recognizer) -> None:
    big = draw_text_crop("A1B78", 64, 256)  # stretched back to 32x128 by area averaging
    for name, img in _variants(big).items():
        assert recognizer.read(img).text == "A1B78", name


def test_pixel_path_gives_the_float_paths_input(recognizer: Recognizer) -> None:
    """8-bit crops reach the model through its lookup table; the int8 input must be what
    quantizing prepare_crop's floats gives, and a 16-bit crop must read the same."""
    model = recognizer.model
    width, height = recognizer.input_size
    rng = np.random.default_rng(5)
    grey = draw_text_crop("A1B78", height=height, width=width)
    noisy = np.clip(grey.astype(np.int16) + rng.integers(-40, 40, grey.shape), 0, 255)
    for crop in (grey, noisy.astype(np.uint8), rng.integers(0, 256, (57, 211), np.uint8)):
        model.set_input(prepare_crop(crop, height, width))
        want = model.interpreter.tensor(model._in_index)().copy()
        probs = recognizer.probabilities(crop)
        got = model.interpreter.tensor(model._in_index)().copy()
        np.testing.assert_array_equal(got, want)
        if crop.shape == (height, width):
            wide = recognizer.probabilities(crop.astype(np.uint16) * 257)
            np.testing.assert_array_equal(wide, probs)


def test_blue_band_share_sees_a_mercosul_band_in_colour_only() -> None:
    plate = np.full((40, 130, 3), 235, np.uint8)  # white plate face
    cv2.putText(plate, "ABC1D23", (4, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (20, 20, 20), 2)
    mercosul = plate.copy()
    mercosul[:9] = (150, 50, 0)  # a saturated blue band across the top (BGR)
    old = plate.copy()
    old[:] = (175, 180, 180)  # an old grey plate
    share = recognize.blue_band_share(mercosul)
    assert share is not None and share > 0.5
    assert recognize.blue_band_share(old) == 0.0
    # Blue elsewhere than across the top (a car body below the plate) is not a band.
    below = old.copy()
    below[30:] = (150, 50, 0)
    assert recognize.blue_band_share(below) == 0.0
    # Grey images carry no colour cue at all, whatever their layout.
    for name, img in _variants(cv2.cvtColor(mercosul, cv2.COLOR_BGR2GRAY)).items():
        assert recognize.blue_band_share(img) is None, name


def test_read_carries_the_band_cue(recognizer: Recognizer) -> None:
    grey = draw_text_crop("A1B78")
    bgr = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    assert recognizer.read(grey).blue_band is None
    bgr[: bgr.shape[0] // 3] = (150, 50, 0)
    share = recognizer.read(bgr).blue_band
    assert share is not None and share > 0.9


def test_input_size(recognizer: Recognizer) -> None:
    assert recognizer.input_size == (128, 32)
    assert recognizer.charset == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def test_tiny_crop_is_a_value_error(recognizer: Recognizer) -> None:
    with pytest.raises(ValueError, match="too small"):
        recognizer.read(np.zeros((3, 3), np.uint8))


def test_detector_model_is_refused(tiny_models: TinyModels) -> None:
    with pytest.raises(SidecarError, match="expected a recognizer"):
        Recognizer(tiny_models.detector)


def test_missing_shipped_model_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(recognize, "DEFAULT_MODEL", tmp_path / "recognizer.tflite")
    with pytest.raises(SidecarError, match="shipped recognizer model is missing"):
        Recognizer()
