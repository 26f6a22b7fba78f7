"""edgeocr.rectify: warp round trip on a drawn perspective quad, scaling, quad refinement."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeocr.core.geometry import box_to_quad, expand_quad, quad_corner_error, quad_to_box
from edgeocr.core.types import Detection, Quad
from edgeocr.recognize import Recognizer
from edgeocr.rectify import MARGIN, pad_to_margin, rectify, refine_quad
from tests.tinymodels import (
    TinyModels,
    cached_build,
    draw_text_crop,
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)

TRUTH: Quad = ((100.0, 80.0), (330.0, 104.0), (322.0, 172.0), (94.0, 150.0))
JITTER = np.array([[-5, 4], [6, -3], [4, 5], [-4, -6]], dtype=np.float64)
TEXT = "AB1BA1"  # levels <= 0.6: robust to the one-pixel blur of two resamplings
SUPER = 4


def _scene(text: str = TEXT, background: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 300x400 BGR scene with ``text``'s crop drawn into TRUTH in perspective; also the
    4x supersampled crop it was drawn from."""
    big = draw_text_crop(text, 32 * SUPER, 128 * SUPER)
    h, w = big.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    m = cv2.getPerspectiveTransform(src, np.array(TRUTH, np.float32))
    plate = cv2.warpPerspective(big, m, (400, 300), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full_like(big, 255), m, (400, 300))
    scene = np.full((300, 400), background, np.uint8)
    scene[mask > 127] = plate[mask > 127]
    return cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR), big


def _det(quad: Quad | np.ndarray, scale: float = 1.0) -> Detection:
    q = np.asarray(quad, dtype=np.float64).reshape(4, 2) / scale
    corners: Quad = tuple((float(x), float(y)) for x, y in q)  # type: ignore[assignment]
    return Detection("plate", 0.9, quad_to_box(q), corners)


@pytest.fixture(scope="module")
def recognizer(tiny_models: TinyModels) -> Recognizer:
    return Recognizer(tiny_models.recognizer, threads=1)


def test_round_trip_without_margin(recognizer: Recognizer) -> None:
    scene, big = _scene()
    crop = rectify(scene, _det(TRUTH), 128, 32, margin=(0.0, 0.0))
    assert crop.shape == (32, 128, 3)
    want = cv2.resize(big, (128, 32), interpolation=cv2.INTER_AREA)
    diff = np.abs(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY).astype(int) - want)
    assert diff.mean() < 8
    assert recognizer.read(crop).text == TEXT


def test_default_margin_adds_context_around_the_plate() -> None:
    scene, big = _scene()
    crop = cv2.cvtColor(rectify(scene, _det(TRUTH), 128, 32), cv2.COLOR_BGR2GRAY)
    # what the crop should show: the plate drawn in crop space, grown by the margin
    h, w = big.shape
    grown = expand_quad(box_to_quad((0.0, 0.0, float(w), float(h))), *MARGIN)
    dst = np.array([[0, 0], [127, 0], [127, 31], [0, 31]], np.float32)
    m = cv2.getPerspectiveTransform(grown.astype(np.float32), dst)
    want = cv2.warpPerspective(big, m, (128, 32), flags=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - want).mean() < 8
    assert crop[0].max() == 0 and crop[:, 0].max() == 0  # the margin is outside the plate


def test_a_crop_file_is_framed_like_a_warped_detection() -> None:
    crop = np.zeros((50, 200, 3), np.uint8)
    crop[:, :10] = 255  # a bright left edge, repeated outward
    out = pad_to_margin(crop)
    px, py = round(MARGIN[0] * 200), round(MARGIN[1] * 50)
    assert out.shape == (50 + 2 * py, 200 + 2 * px, 3)
    assert (out[:, :px] == 255).all() and (out[py:-py, px:-px] == crop).all()
    grey = pad_to_margin(crop[:, :, 0])
    assert grey.shape == (50 + 2 * py, 200 + 2 * px)
    tiny = np.zeros((1, 5), np.uint8)
    assert pad_to_margin(tiny) is tiny


def test_scale_maps_low_res_detections() -> None:
    scene, _ = _scene()
    full = rectify(scene, _det(TRUTH), 128, 32)
    from_lores = rectify(scene, _det(TRUTH, scale=2.5), 128, 32, scale=2.5)
    np.testing.assert_allclose(from_lores.astype(int), full.astype(int), atol=1)


# ----------------------------------------------------------------- refinement

def _plate_scene() -> np.ndarray:
    """A bright plate with dark characters on a mid-grey, textured background."""
    rng = np.random.default_rng(3)
    scene = rng.integers(60, 100, (300, 400), dtype=np.uint8)
    cv2.fillConvexPoly(scene, np.round(np.array(TRUTH)).astype(np.int32), 230)
    for i in range(5):
        cv2.rectangle(scene, (130 + 36 * i, 110 + 2 * i), (150 + 36 * i, 140 + 2 * i), 20, -1)
    return cv2.cvtColor(scene, cv2.COLOR_GRAY2BGR)


def test_refine_snaps_to_the_plate_outline() -> None:
    scene = _plate_scene()
    pred = np.array(TRUTH) + JITTER
    before = quad_corner_error(pred, TRUTH)
    refined = refine_quad(scene, _det(pred).corners)
    after = quad_corner_error(refined, TRUTH)
    assert after < 2.5 < before
    # clockwise from top-left
    assert refined[0][0] < refined[1][0] and refined[0][1] < refined[3][1]


def test_refine_keeps_prediction_without_a_close_outline() -> None:
    scene = _plate_scene()
    far = np.array(TRUTH) + np.array([0.0, 60.0])  # a quad well below the plate
    kept = refine_quad(scene, _det(far).corners)
    np.testing.assert_allclose(np.asarray(kept), far, atol=1e-9)
    blank = np.zeros_like(scene)
    np.testing.assert_allclose(np.asarray(refine_quad(blank, TRUTH)), TRUTH, atol=1e-9)


def test_rectify_with_refinement() -> None:
    scene = _plate_scene()
    pred = np.array(TRUTH) + JITTER
    refined = rectify(scene, _det(pred), 128, 32, refine=True).astype(int)
    truth = rectify(scene, _det(TRUTH), 128, 32).astype(int)
    plain = rectify(scene, _det(pred), 128, 32).astype(int)
    assert np.abs(refined - truth).mean() < np.abs(plain - truth).mean()
