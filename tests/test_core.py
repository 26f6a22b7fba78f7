"""edgeocr.core: geometry, charset + CTC decoding, anchors, sidecar checks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeocr.core.anchors import decode, default_anchor_spec, encode, generate_anchors, nms
from edgeocr.core.charset import (
    DEFAULT_CHARSET,
    cer,
    ctc_greedy_decode,
    ctc_greedy_decode_alternatives,
    edit_distance,
    normalize_text,
)
from edgeocr.core.charset import (
    encode as encode_text,
)
from edgeocr.core.geometry import (
    box_to_quad,
    iou,
    iou_matrix,
    order_corners,
    quad_corner_error,
    quad_to_box,
    warp_quad,
)
from edgeocr.core.sidecar import (
    InputSpec,
    RecognizerSpec,
    Sidecar,
    SidecarError,
    load_sidecar,
    sha256_file,
    write_sidecar,
)
from edgeocr.core.types import Read


@pytest.mark.parametrize("perm", [(0, 1, 2, 3), (2, 0, 3, 1), (3, 2, 1, 0), (1, 3, 0, 2)])
def test_order_corners_any_input_order(perm: tuple[int, ...]) -> None:
    quad = [(12.0, 10.0), (90.0, 18.0), (88.0, 50.0), (10.0, 40.0)]  # rotated a little
    assert order_corners([quad[i] for i in perm]) == tuple(quad)


def test_order_corners_rejects_wrong_count() -> None:
    with pytest.raises(ValueError, match="4 points"):
        order_corners([(0, 0), (1, 0), (1, 1)])


def test_box_quad_iou() -> None:
    q = ((1.0, 2.0), (11.0, 3.0), (10.0, 8.0), (0.0, 7.0))
    assert quad_to_box(q) == (0.0, 2.0, 11.0, 8.0)
    assert box_to_quad((0, 0, 4, 2)) == ((0, 0), (4, 0), (4, 2), (0, 2))
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    m = iou_matrix(np.array([[0, 0, 10, 10], [0, 0, 5, 5]]), np.array([[0, 0, 10, 10]]))
    np.testing.assert_allclose(m[:, 0], [1.0, 0.25])
    assert quad_corner_error(q, q) == 0.0


def test_warp_round_trip() -> None:
    """Draw a flat pattern, project it with a known homography, warp it back flat."""
    flat = np.zeros((40, 160), np.uint8)
    cv2.putText(flat, "AB12", (10, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 255, 3)
    src = np.float32([[0, 0], [159, 0], [159, 39], [0, 39]])
    dst = np.float32([[50, 60], [230, 40], [240, 110], [45, 120]])
    scene = cv2.warpPerspective(flat, cv2.getPerspectiveTransform(src, dst), (320, 200))
    back = warp_quad(scene, order_corners(dst), 160, 40)
    assert back.shape == (40, 160)
    corr = np.corrcoef(back.astype(float).ravel(), flat.astype(float).ravel())[0, 1]
    assert corr > 0.9


def test_warp_antialias_averages_what_a_direct_warp_aliases() -> None:
    """One-pixel stripes shrunk 4x: a direct bilinear warp samples stripes (aliasing, a
    strong pattern that is not in the scene); the area-averaged warp gives their mean."""
    stripes = np.zeros((160, 640), np.uint8)
    stripes[:, ::2] = 255
    quad = order_corners(np.float32([[0, 0], [639, 0], [639, 159], [0, 159]]))
    direct = warp_quad(stripes, quad, 160, 40)
    smooth = warp_quad(stripes, quad, 160, 40, antialias=True)
    assert direct.shape == smooth.shape == (40, 160)
    assert float(direct.std()) > 40.0
    assert float(smooth.std()) < 5.0
    assert abs(float(smooth.mean()) - 127.5) < 5.0
    # A quad smaller than the crop is warped the same way with or without it.
    small = order_corners(np.float32([[10, 10], [90, 10], [90, 30], [10, 30]]))
    np.testing.assert_array_equal(warp_quad(stripes, small, 160, 40),
                                  warp_quad(stripes, small, 160, 40, antialias=True))


def _probs(path: list[int], n_cls: int = 37, p: float = 0.9) -> np.ndarray:
    out = np.full((len(path), n_cls), (1 - p) / (n_cls - 1), np.float32)
    out[np.arange(len(path)), path] = p
    return out


def test_ctc_greedy_decode_collapses_and_confidences() -> None:
    a, b, one = 1 + DEFAULT_CHARSET.index("A"), 1 + DEFAULT_CHARSET.index("B"), 2
    probs = _probs([0, a, a, 0, a, b, b, 0, one])
    probs[2, a] = 0.95  # the run's best step gives its confidence
    text, confs = ctc_greedy_decode(probs)
    assert text == "AAB1"
    assert confs == pytest.approx((0.95, 0.9, 0.9, 0.9))
    assert ctc_greedy_decode(_probs([0, 0, 0])) == ("", ())
    with pytest.raises(ValueError, match="probabilities"):
        ctc_greedy_decode(np.zeros((5, 10), np.float32))


def test_ctc_alternatives_rank_candidates_at_the_peak() -> None:
    q, zero = 1 + DEFAULT_CHARSET.index("Q"), 1
    probs = _probs([0, q, 0], p=0.6)
    probs[1, zero] = 0.3
    text, confs, alts = ctc_greedy_decode_alternatives(probs, k=2)
    assert text == "Q" and confs == pytest.approx((0.6,))
    assert [c for c, _ in alts[0]] == ["Q", "0"]


def test_charset_helpers() -> None:
    assert normalize_text("皖a-b 12") == "AB12"
    assert encode_text("A0") == [11, 1]
    with pytest.raises(ValueError, match="not in the charset"):
        encode_text("a")
    assert edit_distance("kitten", "sitting") == 3
    assert cer("ABC", "ABD") == pytest.approx(1 / 3)
    assert cer("", "") == 0.0 and cer("X", "") == 1.0
    assert Read("AB", (0.9, 0.4)).confidence == 0.4
    assert Read("", ()).confidence == 0.0


def test_anchor_encode_decode_round_trip() -> None:
    spec = default_anchor_spec(320, 448)
    anchors = generate_anchors(spec)
    assert anchors.shape == (spec.num_anchors, 4)
    assert anchors[:, :2].min() > 0 and anchors[:, :2].max() < 1
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(anchors), 50)
    a = anchors[idx]
    boxes = np.stack([a[:, 0] - a[:, 2] * 0.6, a[:, 1] - a[:, 3] * 0.4,
                      a[:, 0] + a[:, 2] * 0.5, a[:, 1] + a[:, 3] * 0.55], axis=1)
    corners = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 1] + 0.01,
                        boxes[:, 2], boxes[:, 3], boxes[:, 0], boxes[:, 3]], axis=1)
    bo, co = encode(boxes, corners, a, spec.variances)
    b2, c2 = decode(bo, co, a, spec.variances)
    np.testing.assert_allclose(b2, boxes, atol=1e-5)
    np.testing.assert_allclose(c2, corners, atol=1e-5)


def test_nms_keeps_best_of_overlaps() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], np.float32)
    assert nms(boxes, np.array([0.5, 0.9, 0.8]), 0.5) == [1, 2]


def _sidecar_for(model: Path) -> Sidecar:
    return Sidecar(role="recognizer", name="t",
                   input=InputSpec(height=32, width=128, channels=1, colour="grey",
                                   dtype="int8"),
                   recognizer=RecognizerSpec(), sha256=sha256_file(model))


def test_sidecar_round_trip_and_checks(tmp_path: Path) -> None:
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model bytes")
    write_sidecar(model, _sidecar_for(model))
    assert load_sidecar(model, "recognizer").recognizer == RecognizerSpec()
    with pytest.raises(SidecarError, match="expected a detector"):
        load_sidecar(model, "detector")
    model.write_bytes(b"other bytes")
    with pytest.raises(SidecarError, match="does not match"):
        load_sidecar(model)
    data = json.loads(model.with_suffix(".json").read_text())
    del data["recognizer"]
    model.with_suffix(".json").write_text(json.dumps(data))
    with pytest.raises(SidecarError, match="recognizer"):
        load_sidecar(model, check_hash=False)
    model.with_suffix(".json").write_text("{not json")
    with pytest.raises(SidecarError, match="not valid JSON"):
        load_sidecar(model)
    with pytest.raises(SidecarError, match="not found"):
        load_sidecar(tmp_path / "missing.tflite")
