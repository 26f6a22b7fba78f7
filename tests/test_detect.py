"""edgeocr.detect and edgeocr.pipeline with the real tiny int8 detector and recognizer.

The tiny detector fires a wide ``plate`` anchor on a 16x16 input cell whose red mean is
bright and a square ``house_number`` anchor on a bright blue cell (see tests/tinymodels.py).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeocr.core.anchors import encode
from edgeocr.core.sidecar import SidecarError
from edgeocr.core.types import Detection, Read
from edgeocr.detect import Detector
from edgeocr.pipeline import Pipeline, Verification
from edgeocr.recognize import Recognizer
from edgeocr.rectify import rectify
from tests.tinymodels import (
    CHAR_LEVELS,
    TinyModels,
    anchor_boxes_px,
    cached_build,
    draw_text_crop,
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)

RED, BLUE = 2, 0  # BGR channel indices
BLUE_LEVEL = 120  # bright enough for the detector (mean > 0.35), dark in grey


@pytest.fixture(scope="module")
def detector(tiny_models: TinyModels) -> Detector:
    return Detector(tiny_models.detector, threads=1, tiles=1)


@pytest.fixture(scope="module")
def recognizer(tiny_models: TinyModels) -> Recognizer:
    return Recognizer(tiny_models.recognizer, threads=1)


def _box(det_box: tuple[float, ...]) -> np.ndarray:
    return np.asarray(det_box, dtype=np.float64)


# ----------------------------------------------------------------- real invocation

def test_detects_cells_and_maps_back_through_letterbox(detector: Detector) -> None:
    # 512x256 -> 64x32 in the 64x64 input, 16 px bars top and bottom (scale 1/8)
    img = np.zeros((256, 512, 3), np.uint8)
    img[0:128, 256:384, RED] = 255      # input cell row 1, col 2
    img[128:256, 0:128, BLUE] = 255     # input cell row 2, col 0
    dets = detector.detect(img)
    assert sorted(d.kind for d in dets) == ["house_number", "plate"]
    plate = next(d for d in dets if d.kind == "plate")
    house = next(d for d in dets if d.kind == "house_number")
    # the wide anchor of cell (1, 2) is 32x16 input px around (40, 24): clipped to the image
    np.testing.assert_allclose(_box(plate.box), [192, 0, 448, 128], atol=1.0)
    np.testing.assert_allclose(_box(house.box), [0, 128, 128, 256], atol=1.0)
    np.testing.assert_allclose(np.asarray(plate.corners),
                               [[192, 0], [448, 0], [448, 128], [192, 128]], atol=1.0)
    assert plate.score > 0.9 and house.score > 0.9


def test_tiles_cover_the_frame_with_overlap() -> None:
    from edgeocr.detect import tile_boxes

    tiles = tile_boxes(1600, 1200, 2, 0.25)
    assert len(tiles) == 4
    assert tiles[0][:2] == (0, 0) and tiles[-1][2:] == (1600, 1200)
    covered = np.zeros((1200, 1600), bool)
    for x0, y0, x1, y1 in tiles:
        covered[y0:y1, x0:x1] = True
        assert abs((x1 - x0) - 1600 / 1.75) <= 1 and abs((y1 - y0) - 1200 / 1.75) <= 1
    assert covered.all()
    assert tiles[0][2] - tiles[1][0] == pytest.approx(0.25 * (tiles[0][2] - tiles[0][0]), abs=1)


def test_large_frames_are_tiled_to_find_small_objects(tiny_models: TinyModels) -> None:
    # 512 px frame, 64 px input: the full-frame letterbox shrinks 8x and the 73 px red
    # square fills too little of any cell; the top-left tile (292 px -> 64) puts it on
    # cell (1, 1) whole.
    img = np.zeros((512, 512, 3), np.uint8)
    img[73:146, 73:146, RED] = 255
    assert Detector(tiny_models.detector, threads=1, tiles=1).detect(img) == []
    auto = Detector(tiny_models.detector, threads=1)
    assert auto.grid_for(512, 512) == 2 and auto.grid_for(160, 120) == 1
    (plate,) = auto.detect(img)
    assert plate.kind == "plate"
    cx, cy = (plate.box[0] + plate.box[2]) / 2, (plate.box[1] + plate.box[3]) / 2
    assert 73 <= cx <= 146 and 73 <= cy <= 146
    assert all(73 - 80 <= x <= 146 + 80 for x, _ in plate.corners)
    with pytest.raises(ValueError, match="tiles"):
        Detector(tiny_models.detector, tiles=3)


def test_zoom_window_is_a_square_around_the_box_kept_inside_the_frame() -> None:
    from edgeocr.detect import ZOOM_MIN_SIDE, ZOOM_SIDE, zoom_window

    # A 2:1 box: the side is ZOOM_SIDE widths (= 2 * ZOOM_SIDE heights), centred.
    x0, y0, x1, y1 = zoom_window((400, 300, 480, 340), 1000, 800)
    assert x1 - x0 == y1 - y0 == round(ZOOM_SIDE * 80)
    assert (x0 + x1) / 2 == pytest.approx(440, abs=1) and (y0 + y1) / 2 == pytest.approx(320, abs=1)
    # A tall box sizes the window by its height; near the corner it is shifted, not shrunk.
    x0, y0, x1, y1 = zoom_window((5, 5, 25, 45), 1000, 800)
    assert (x0, y0) == (0, 0) and x1 == y1 == round(2 * ZOOM_SIDE * 40)
    # Tiny boxes get the minimum side; a frame smaller than the window is the window.
    assert zoom_window((50, 50, 52, 51), 1000, 800)[2:] == (50 + 1 - ZOOM_MIN_SIDE // 2
                                                            + ZOOM_MIN_SIDE, 62)
    assert zoom_window((10, 10, 90, 50), 100, 60) == (0, 0, 100, 60)


def test_zoom_redetects_in_a_window_and_maps_back(detector: Detector) -> None:
    # The box's window is x 13..526, y 0..512 (shifted to fit the 600x512 frame); the red
    # block fills the window's input cell (1, 1), whose wide anchor is 32x16 input px
    # (8..40, 16..32) -> x 77..334, y 128..256 in the frame: the 13 px shift shows.
    img = np.zeros((512, 600, 3), np.uint8)
    img[128:256, 141:269, RED] = 255
    loose = Detection("plate", 0.3, (64, 128, 474, 256),
                      ((64, 128), (474, 128), (474, 256), (64, 256)))
    zoomed = detector.zoom(img, loose)
    assert zoomed is not None and zoomed.kind == "plate" and zoomed.score > 0.9
    np.testing.assert_allclose(_box(zoomed.box), [77, 128, 334, 256], atol=1.5)
    np.testing.assert_allclose(np.asarray(zoomed.corners),
                               [[77, 128], [334, 128], [334, 256], [77, 256]], atol=1.5)
    # Nothing of the detection's kind there, or nothing at all: None.
    assert detector.zoom(img, Detection("house_number", 0.3, loose.box, loose.corners)) is None
    dark = Detection("plate", 0.3, (300, 400, 500, 450),
                     ((300, 400), (500, 400), (500, 450), (300, 450)))
    assert detector.zoom(img, dark) is None


def test_nothing_on_a_black_image(detector: Detector) -> None:
    assert detector.detect(np.zeros((100, 100, 3), np.uint8)) == []


@pytest.mark.parametrize("layout", ["bgra", "uint16"])
def test_accepts_bgra_and_16_bit(detector: Detector, layout: str) -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    img[16:32, 16:32, RED] = 255
    arr: np.ndarray = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA) if layout == "bgra" else (
        img.astype(np.uint16) * 257)
    dets = detector.detect(arr)
    assert [d.kind for d in dets] == ["plate"]


def test_grey_image_fires_both_kinds(detector: Detector) -> None:
    img = np.zeros((64, 64), np.uint8)
    img[16:32, 16:32] = 255  # grey -> RGB: red and blue bright
    assert sorted(d.kind for d in detector.detect(img)) == ["house_number", "plate"]


def test_bad_image_is_a_value_error(detector: Detector) -> None:
    with pytest.raises(ValueError, match="empty"):
        detector.detect(np.zeros((0, 0, 3), np.uint8))


def test_recognizer_model_is_refused(tiny_models: TinyModels) -> None:
    with pytest.raises(SidecarError, match="expected a detector"):
        Detector(tiny_models.recognizer)


# ----------------------------------------------------------------- decoding by hand

def _raw(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes = np.zeros((n, 3), np.float32)
    classes[:, 0] = 10.0  # confident background everywhere
    return classes, np.zeros((n, 4), np.float32), np.zeros((n, 8), np.float32)


def test_decode_threshold_classwise_nms_and_mapping(detector: Detector) -> None:
    anchors = detector.anchors
    classes, boxes, corners = _raw(len(anchors))
    # two overlapping plate anchors (cell row 1, cols 1 and 2: IoU 1/3 < 0.45 would keep
    # both, so push the second onto the first with its box offsets)
    a, b = 2 * (1 * 4 + 1) + 1, 2 * (1 * 4 + 2) + 1
    classes[a] = [0, 5, 0]
    classes[b] = [0, 4, 0]
    target = np.array([[16, 16, 48, 32]], np.float32) / 64  # anchor a's box, normalised
    quad = np.array([[18, 17, 47, 16, 46, 31, 17, 32]], np.float32) / 64
    boxes[[a, b]], corners[[a, b]] = encode(np.repeat(target, 2, 0), np.repeat(quad, 2, 0),
                                            anchors[[a, b]], detector.variances)
    # a house number on the same place survives: NMS is class-wise
    h = 2 * (1 * 4 + 1)
    classes[h] = [0, 0, 6]
    # objectness 1 - P(background) = 0.26: below the threshold
    classes[2 * (3 * 4 + 3)] = [2.0, 0, 0.5]
    dets = detector.decode(classes, boxes, corners, scale=0.5, pad=(0, 16),
                           image_size=(128, 96))
    # the second plate is suppressed; the rest come best first
    assert [d.kind for d in dets] == ["house_number", "plate"]
    assert dets[0].score > dets[1].score
    plate = next(d for d in dets if d.kind == "plate")
    # input px -> image px: (x - 0) / 0.5, (y - 16) / 0.5
    np.testing.assert_allclose(_box(plate.box), [32, 0, 96, 32], atol=0.05)
    np.testing.assert_allclose(np.asarray(plate.corners),
                               [[36, 2], [94, 0], [92, 30], [34, 32]], atol=0.05)
    assert plate.score == pytest.approx((np.exp(5) + 1) / (np.exp(5) + 2), rel=1e-4)


def test_decode_scores_objectness_and_names_the_likeliest_class(detector: Detector) -> None:
    """An object the model splits between plate and house number (each under the
    threshold, together over it) is found, as the likelier of the two."""
    classes, boxes, corners = _raw(len(detector.anchors))
    classes[2 * (1 * 4 + 1)] = [1.0, 1.0, 0.9]  # P: 0.35 background, 0.35 plate, 0.30 house
    assert detector.score_threshold > 0.35
    dets = detector.decode(classes, boxes, corners, scale=1.0, pad=(0, 0), image_size=(64, 64))
    assert [d.kind for d in dets] == ["plate"]
    p = np.exp([1.0, 1.0, 0.9]) / np.exp([1.0, 1.0, 0.9]).sum()
    assert dets[0].score == pytest.approx(1 - p[0], rel=1e-4)


def test_decode_one_kind_per_object(detector: Detector) -> None:
    """A plate and a house number on the same box are one object: the stronger stays;
    a house number beside the plate (IoU below CROSS_CLASS_IOU) is kept."""
    from edgeocr.detect import CROSS_CLASS_IOU

    anchors = detector.anchors
    classes, boxes, corners = _raw(len(anchors))
    a, b, c = 2 * (1 * 4 + 1) + 1, 2 * (1 * 4 + 1), 2 * (3 * 4 + 1) + 1
    classes[a] = [0, 5, 0]  # plate
    classes[b] = [0, 0, 6]  # house number, same box, more confident
    classes[c] = [0, 0, 4]  # house number elsewhere
    same = np.array([[16, 16, 48, 32], [16, 16, 48, 32], [16, 48, 48, 64]], np.float32) / 64
    quads = np.array([[x1, y1, x2, y1, x2, y2, x1, y2] for x1, y1, x2, y2 in same], np.float32)
    boxes[[a, b, c]], corners[[a, b, c]] = encode(same, quads, anchors[[a, b, c]],
                                                  detector.variances)
    dets = detector.decode(classes, boxes, corners, 1.0, (0, 0), (64, 64))
    assert [d.kind for d in dets] == ["house_number", "house_number"]
    assert dets[0].box[1] < 20 < dets[1].box[1]
    assert 0 < CROSS_CLASS_IOU < 1


def test_decode_corners_are_ordered_and_clipped(detector: Detector) -> None:
    classes, boxes, corners = _raw(len(detector.anchors))
    i = 0  # square anchor of cell (0, 0): input box 0..16
    classes[i] = [0, 8, 0]
    # corners given counter-clockwise and partly outside the input
    quad = np.array([[-4, -4, -4, 12, 12, 12, 12, -4]], np.float32) / 64
    box = np.array([[-4, -4, 12, 12]], np.float32) / 64
    boxes[[i]], corners[[i]] = encode(box, quad, detector.anchors[[i]], detector.variances)
    (det,) = detector.decode(classes, boxes, corners, 1.0, (0, 0), (64, 64))
    np.testing.assert_allclose(np.asarray(det.corners),
                               [[0, 0], [12, 0], [12, 12], [0, 12]], atol=1e-3)
    np.testing.assert_allclose(_box(det.box), [0, 0, 12, 12], atol=1e-3)


def test_decode_probabilities_when_model_has_softmax(detector: Detector,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detector, "output_is_logits", False)
    classes, boxes, corners = _raw(len(detector.anchors))
    classes[:] = [1.0, 0.0, 0.0]
    classes[5] = [0.3, 0.0, 0.7]  # a probability of 0.7 is used as is
    boxes[5], corners[5] = 0, [-5, -5, 5, -5, 5, 5, -5, 5]
    (det,) = detector.decode(classes, boxes, corners, 1.0, (0, 0), (64, 64))
    assert det.kind == "house_number" and det.score == pytest.approx(0.7)
    np.testing.assert_allclose(_box(det.box), np.clip(anchor_boxes_px()[5], 0, 64), atol=1e-3)


# ----------------------------------------------------------------- pipeline

def _house_scene(text: str, size: int = 512) -> np.ndarray:
    """A scene with one house-number plaque filling input cell (1, 2) of the detector.

    Blue is 120 over the plaque (the detector's house-number signal); red and green carry
    the text so that the plaque's grey value is the tiny recognizer's level for each
    character (blue adds 0.114 * 120 to grey, below the blank/"A" boundary).
    """
    img = np.zeros((size, size, 3), np.uint8)
    cell = size // 4
    x0, y0 = 2 * cell, 1 * cell
    grey = draw_text_crop(text, cell, cell).astype(np.float64)
    rg = np.clip((grey - 0.114 * BLUE_LEVEL) / 0.886, 0, 255)
    rg[grey == 0] = 0
    plaque = np.stack([np.full_like(rg, BLUE_LEVEL), rg, rg], axis=-1)
    img[y0 : y0 + cell, x0 : x0 + cell] = np.round(plaque).astype(np.uint8)
    return img


def test_pipeline_reads_a_house_number(detector: Detector, recognizer: Recognizer) -> None:
    assert set("11A") <= set(CHAR_LEVELS)
    pipe = Pipeline(detector, recognizer, margin=(0.0, 0.0))
    img = _house_scene("11A")
    (res,) = pipe.process(img)  # 512 px > 2x the 64 px input: detects on a small copy
    assert res.detection.kind == "house_number"
    np.testing.assert_allclose(_box(res.detection.box), [256, 128, 384, 256], atol=3.0)
    assert (res.read.text, res.format) == ("11A", "house_number")
    assert set(res.timings_ms) == {"detect", "zoom", "rectify", "recognize", "format"}
    assert all(v >= 0 for v in res.timings_ms.values())
    assert pipe.last_timings_ms["total"] >= pipe.last_timings_ms["detect"]


def test_pipeline_tiles_a_big_frame_from_its_full_size(tiny_models: TinyModels,
                                                       recognizer: Recognizer) -> None:
    # The pipeline shrinks a 512 px frame before detecting; with auto tiling it keeps 1.75x
    # the input (112 px) and tiles that, so the small red square is still found.
    img = np.zeros((512, 512, 3), np.uint8)
    img[73:146, 73:146, RED] = 255
    auto = Pipeline(Detector(tiny_models.detector, threads=1), recognizer)
    # The plain red square reads as too short a plate to keep: look at the candidate.
    assert auto.process(img) == []
    (res,) = auto.process(img, keep_rejected=True)
    assert res.detection.kind == "plate"
    cx = (res.detection.box[0] + res.detection.box[2]) / 2
    assert 73 - 8 <= cx <= 146 + 8
    single = Pipeline(Detector(tiny_models.detector, threads=1, tiles=1), recognizer)
    assert single.process(img, keep_rejected=True) == []


def test_pipeline_with_lores_frame(detector: Detector, recognizer: Recognizer) -> None:
    pipe = Pipeline(detector, recognizer, margin=(0.0, 0.0))
    img = _house_scene("11A")
    lores = cv2.resize(img, (128, 128), interpolation=cv2.INTER_AREA)
    (res,) = pipe.process(img, lores=lores)
    np.testing.assert_allclose(_box(res.detection.box), [256, 128, 384, 256], atol=3.0)
    assert res.read.text == "11A"


def test_pipeline_default_margin_matches_stages(detector: Detector,
                                                recognizer: Recognizer) -> None:
    # The warp alone (the second look's choice between two reads is tested on its own).
    pipe = Pipeline(detector, recognizer, formats=[], second_look=False)
    img = _house_scene("1B1", size=128)  # small image: detected without downscaling
    (res,) = pipe.process(img)
    crop = rectify(img, res.detection, *recognizer.input_size)
    assert res.read == recognizer.read(crop, kind="house_number")
    assert res.format is None
    assert pipe.process(np.zeros((128, 128, 3), np.uint8)) == []


def test_pipeline_verifies_unsure_detections_by_their_read(tiny_models: TinyModels,
                                                          recognizer: Recognizer) -> None:
    img = _house_scene("11A")
    # Operating threshold above any score: only read verification can keep the plaque.
    strict = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, margin=(0.0, 0.0),
                      accept_score=1.01, verify=None)
    assert strict.process(img) == []
    (cand,) = [r for r in strict.process(img, keep_rejected=True)
               if r.detection.kind == "house_number"]
    assert not cand.accepted and cand.read.text == "11A"
    det = Detector(tiny_models.detector, threads=1)
    low = min(0.05, cand.detection.score)
    pipe = Pipeline(det, recognizer, margin=(0.0, 0.0), accept_score=1.01,
                    verify=Verification(min_score=low, min_confidence=0.0))
    assert det.score_threshold == low  # the detector is lowered to the verification band
    kept = pipe.process(img)
    assert [(r.read.text, r.format, r.accepted) for r in kept
            if r.detection.kind == "house_number"] == [("11A", "house_number", True)]
    assert all(r.format is not None for r in kept)  # nothing kept without a fitting layout
    # An impossible confidence bar, a score band above the box, or no fitting pack: dropped.
    unsure = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, margin=(0.0, 0.0),
                      accept_score=1.01, verify=Verification(min_score=low, min_confidence=1.01))
    assert unsure.process(img) == []
    d, r = cand.detection, cand.read
    assert pipe.accepts(d, r, "house_number")
    assert not pipe.accepts(d, r, None)
    assert not pipe.accepts(Detection(d.kind, low / 2, d.box, d.corners), r, "house_number")
    plate = Detection("plate", d.score, d.box, d.corners)
    assert not pipe.accepts(plate, Read("AB1", (1.0, 1.0, 1.0), "plate"), "us")  # < 4 chars
    assert pipe.accepts(plate, Read("AB12", (1.0,) * 4, "plate"), "us")
    # No plate is that short: a short plate read is dropped even above the threshold, where
    # a house number of the same length is kept.
    sure = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, accept_score=0.0)
    assert not sure.accepts(plate, Read("AB1", (1.0,) * 3, "plate"), "us")
    assert not sure.accepts(plate, Read("", (), "plate"), None)
    assert sure.accepts(plate, Read("AB12", (0.1,) * 4, "plate"), None)
    assert sure.accepts(d, Read("1", (0.1,), "house_number"), None)


def test_a_sure_zoom_keeps_a_band_detection(tiny_models: TinyModels,
                                            recognizer: Recognizer) -> None:
    pipe = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, accept_score=0.8,
                    verify=Verification(min_score=0.3, zoom_keep_score=0.7))
    box = (10.0, 10.0, 90.0, 50.0)
    corners = ((10.0, 10.0), (90.0, 10.0), (90.0, 50.0), (10.0, 50.0))
    band = Detection("plate", 0.4, box, corners)
    unsure = Read("AB123", (0.5,) * 5, "plate")  # fails the band's 0.9 confidence check
    assert not pipe.accepts(band, unsure, "us")
    assert not pipe.accepts(band, unsure, "us", zoom_score=0.65)
    assert pipe.accepts(band, unsure, "us", zoom_score=0.7)
    assert pipe.accepts(band, unsure, None, zoom_score=0.9)  # as at the threshold
    # Not under the band, and never a plate read too short to be a plate.
    assert not pipe.accepts(Detection("plate", 0.2, box, corners), unsure, "us", 0.99)
    assert not pipe.accepts(band, Read("AB1", (1.0,) * 3, "plate"), "us", 0.99)
    # Without the rule the zoom score changes nothing.
    off = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, accept_score=0.8,
                   verify=Verification(min_score=0.3, zoom_keep_score=None))
    assert not off.accepts(band, unsure, "us", zoom_score=0.99)


def test_strict_band_below_the_verification_band(tiny_models: TinyModels,
                                                 recognizer: Recognizer) -> None:
    img = _house_scene("11A")
    probe = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, margin=(0.0, 0.0),
                     accept_score=1.01, verify=None)
    (cand,) = [r for r in probe.process(img, keep_rejected=True)
               if r.detection.kind == "house_number"]
    score, conf = cand.detection.score, cand.read.confidence
    assert 0.0 < conf < 1.0
    low = min(0.05, score)
    # The plaque scores under the ordinary band (min_score 1.0) but inside the strict one.
    det = Detector(tiny_models.detector, threads=1)
    lenient = Pipeline(det, recognizer, margin=(0.0, 0.0), accept_score=1.01,
                       verify=Verification(min_score=1.0, min_confidence=0.0,
                                           strict_score=low, strict_confidence=conf))
    assert det.score_threshold == low  # the detector is lowered to the strict band's floor
    assert [r.read.text for r in lenient.process(img)
            if r.detection.kind == "house_number"] == ["11A"]
    strict = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, margin=(0.0, 0.0),
                      accept_score=1.01,
                      verify=Verification(min_score=1.0, min_confidence=0.0, strict_score=low,
                                          strict_confidence=min(1.0, conf + 1e-3)))
    assert [r for r in strict.process(img) if r.detection.kind == "house_number"] == []
    # A frame's strict-band reads are capped: with none allowed, nothing is read there.
    capped = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, margin=(0.0, 0.0),
                      accept_score=1.01,
                      verify=Verification(min_score=1.0, min_confidence=0.0, strict_score=low,
                                          strict_confidence=conf, strict_max_reads=0))
    assert capped.process(img, keep_rejected=True) == []
    # Without a strict band nothing under min_score is kept.
    none = Pipeline(Detector(tiny_models.detector, threads=1), recognizer, margin=(0.0, 0.0),
                    accept_score=1.01, verify=Verification(min_score=1.0, strict_score=None))
    assert none.verify is not None and none.verify.floor == 1.0
    assert [r for r in none.process(img) if r.detection.kind == "house_number"] == []


def test_verification_bands() -> None:
    v = Verification(min_score=0.3, min_confidence=0.9, strict_score=0.15,
                     strict_confidence=0.99)
    assert v.floor == 0.15
    assert v.confidence_for(0.5) == 0.9 and v.confidence_for(0.3) == 0.9
    assert v.confidence_for(0.2) == 0.99 and v.confidence_for(0.15) == 0.99
    assert v.confidence_for(0.149) is None
    # A strict score at or above min_score adds no band.
    above = Verification(min_score=0.3, strict_score=0.4)
    assert above.floor == 0.3 and above.confidence_for(0.35) == above.min_confidence
    assert above.confidence_for(0.25) is None


def test_pipeline_rejects_unknown_format(detector: Detector, recognizer: Recognizer) -> None:
    with pytest.raises(ValueError, match="unknown format pack"):
        Pipeline(detector, recognizer, formats=["mars"])


def test_second_look_prefers_a_fitting_then_a_surer_read() -> None:
    from edgeocr.formats import FormattedRead
    from edgeocr.pipeline import _better

    sure = FormattedRead(Read("ABC123", (0.99,) * 6), None)
    fits = FormattedRead(Read("ABC1234", (0.6,) * 7), "br")
    surer_fit = FormattedRead(Read("ABC1234", (0.9,) * 7), "br")
    assert _better(fits, sure) and not _better(sure, fits)
    assert _better(surer_fit, fits) and not _better(fits, surer_fit)
    assert not _better(fits, fits)  # ties keep the warped read


def _look(frames: list[dict[str, float]]) -> Read:
    """A raw read whose probabilities put ``frames`` (char -> probability, the rest blank)
    between blank steps; text and confidences from greedy decoding."""
    from edgeocr.core.charset import DEFAULT_CHARSET
    from edgeocr.core.types import CTCOutput

    n = 1 + len(DEFAULT_CHARSET)
    rows = [np.eye(n, dtype=np.float32)[0]]
    for f in frames:
        row = np.zeros(n, np.float32)
        for c, p in f.items():
            row[DEFAULT_CHARSET.index(c) + 1] = p
        row[0] = 1.0 - row.sum()
        rows += [row, np.eye(n, dtype=np.float32)[0]]
    probs = np.stack(rows)
    text = "".join(max(f, key=f.__getitem__) for f in frames)
    confs = tuple(max(f.values()) for f in frames)
    return Read(text, confs, "plate", (), CTCOutput(probs, DEFAULT_CHARSET))


def test_two_looks_are_settled_by_what_explains_both() -> None:
    from edgeocr.formats import FormattedRead
    from edgeocr.pipeline import _better, choose_look, look_agreement

    # The warp is sure of the 8 but unsure of the A; the box is surer overall (weakest
    # character 0.6 vs 0.5) but reads the 8 as B with only 0.6 against 0.35.
    warp = _look([{"A": 0.5, "4": 0.4}, {"B": 0.9}, {"8": 0.9, "B": 0.05}])
    box = _look([{"A": 0.9}, {"B": 0.9}, {"B": 0.6, "8": 0.35}])
    fw, fb = FormattedRead(warp, None), FormattedRead(box, None)
    assert (warp.text, box.text) == ("AB8", "ABB")
    assert _better(fb, fw)  # the weakest character alone picks the box's ABB
    # AB8 costs the box log(0.35/0.6); ABB costs the warp log(0.05/0.9), far more.
    assert look_agreement("AB8", (warp, box)) == pytest.approx(np.log(0.35 / 0.6), abs=1e-4)
    assert look_agreement("ABB", (warp, box)) == pytest.approx(np.log(0.05 / 0.9), abs=1e-4)
    assert choose_look(fw, fb, (warp, box)).read.text == "AB8"
    assert choose_look(fb, fw, (warp, box)).read.text == "AB8"
    # A read that fits a format still beats one that does not, whatever the looks say.
    assert choose_look(fw, FormattedRead(box, "us"), (warp, box)).read.text == "ABB"
    # Equal texts: the more confident one; a look without probabilities: the old rule.
    same = FormattedRead(Read("AB8", (0.99,) * 3, "plate"), None)
    assert choose_look(fw, same, (warp, box)) is same
    bare = Read("ABB", (0.6,) * 3, "plate")
    assert look_agreement("AB8", (warp, bare)) is None
    assert choose_look(fw, FormattedRead(bare, None), (warp, bare)).read.text == "ABB"
    assert look_agreement("AB?", (warp, box)) is None


def test_pipeline_second_look_reads_the_box_too(detector: Detector,
                                                recognizer: Recognizer) -> None:
    img = _house_scene("11A")
    one = Pipeline(detector, recognizer, margin=(0.0, 0.0), second_look=False).process(img)
    two = Pipeline(detector, recognizer, margin=(0.0, 0.0)).process(img)
    assert [r.read.text for r in one] == [r.read.text for r in two] == ["11A"]


def test_pipeline_zoom_keeps_the_score_and_times_the_pass(
        tiny_models: TinyModels, detector: Detector, recognizer: Recognizer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    img = _house_scene("11A")
    plain = Pipeline(detector, recognizer, margin=(0.0, 0.0), zoom=False).process(img)
    zoomed = Pipeline(detector, recognizer, margin=(0.0, 0.0)).process(img)
    assert [r.read.text for r in plain] == [r.read.text for r in zoomed] == ["11A"]
    assert zoomed[0].detection.score == plain[0].detection.score
    assert "zoom" in zoomed[0].timings_ms and plain[0].timings_ms["zoom"] == 0.0

    # A red block (a plate to the tiny detector) whose first-pass box is loose: the
    # pipeline warps from, and returns, the zoomed geometry. The tiny model's boxes are
    # its fixed anchors, so the zoomed box overlaps the first by only 0.39: under
    # ZOOM_MATCH_IOU it is refused, and with the bar lowered the pipeline uses it.
    img = np.zeros((512, 640, 3), np.uint8)
    img[128:256, 128:384, RED] = 255
    detector = Detector(tiny_models.detector, threads=1, tiles=1)  # at its own threshold
    pipe = Pipeline(detector, recognizer, formats=(), verify=None, accept_score=0.0)
    (first,) = detector.detect(img)
    assert detector.zoom(img, first) is None
    assert pipe.process(img, keep_rejected=True)[0].detection.box == first.box
    monkeypatch.setattr("edgeocr.detect.ZOOM_MATCH_IOU", 0.3)
    expected = detector.zoom(img, first)
    assert expected is not None and expected.box != first.box
    (read,) = pipe.process(img, keep_rejected=True)
    assert read.detection.box == expected.box and read.detection.corners == expected.corners
    assert read.detection.score == first.score
    pipe.zoom = False
    assert pipe.process(img, keep_rejected=True)[0].detection.box == first.box


def _piece(box: tuple[float, float, float, float], score: float = 0.6,
           kind: str = "plate") -> Detection:
    x1, y1, x2, y2 = box
    return Detection(kind, score, box, ((x1, y1), (x2, y1), (x2, y2), (x1, y2)))


def test_pieces_of_an_object_cut_by_tile_edges_are_joined() -> None:
    from edgeocr.detect import _assemble

    # A plate wider than the tiles' overlap: the left tile sees its left part, the right
    # tile its right part, the frame pass nothing.
    left = _piece((100, 50, 230, 80), 0.7)
    right = _piece((180, 52, 300, 82), 0.9)
    (one,) = _assemble([(left, 0), (right, 1)], [])
    assert one.box == (100, 50, 300, 82) and one.score == 0.9
    assert one.corners == ((100, 50), (300, 52), (300, 82), (100, 80))
    # Stacked pieces (a top and a bottom tile) take their top and bottom corners.
    top, bottom = _piece((100, 50, 140, 90)), _piece((102, 70, 142, 130))
    (tall,) = _assemble([(top, 0), (bottom, 2)], [])
    assert tall.corners == ((100, 50), (140, 50), (142, 130), (102, 130))


def test_pieces_defer_to_a_whole_view_of_the_object() -> None:
    from edgeocr.detect import _assemble

    whole = _piece((95, 48, 305, 84), 0.3)
    other = _piece((400, 50, 450, 70), 0.2)
    left, right = _piece((100, 50, 230, 80), 0.7), _piece((180, 52, 300, 82), 0.9)
    out = _assemble([(left, 0), (right, 1)], [other, whole])
    # The whole box stays, with the pieces' better score; nothing else changes.
    assert out == [other, Detection("plate", 0.9, whole.box, whole.corners)]
    # A whole box that scores better keeps its own score.
    sure = _piece((95, 48, 305, 84), 0.95)
    assert _assemble([(left, 0), (right, 1)], [sure]) == [sure]


def test_lone_pieces_and_mismatched_pieces() -> None:
    from edgeocr.detect import _assemble

    left = _piece((100, 50, 230, 80), 0.7)
    # Seen by one tile only, and by neither the frame nor the other tile: dropped.
    assert _assemble([(left, 0)], []) == []
    # Pieces from the same tile, or of different kinds, are not one object.
    assert _assemble([(left, 0), (_piece((180, 52, 300, 82)), 0)], []) == []
    assert _assemble([(left, 0), (_piece((180, 52, 300, 82), kind="house_number"), 1)],
                     []) == []
    # Two tiles seeing the same thing cut inside their shared band found no bigger object.
    band = _piece((186, 57, 214, 86))
    assert _assemble([(band, 0), (band, 1)], []) == []
    # A piece lying inside a whole box is that object, even when their IoU is small.
    big = _piece((150, 40, 400, 120), 0.4)
    assert _assemble([(band, 0)], [big]) == [big]  # ... but lends it no score
