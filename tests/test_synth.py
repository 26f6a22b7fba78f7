"""Synthetic data engine: determinism, label rules, geometry, every style, the synth CLI."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from edgeocr_convert.cli.train_cmd import cli
from edgeocr_convert.synth import fonts, strokefont
from edgeocr_convert.synth.backgrounds import BackgroundPool, procedural
from edgeocr_convert.synth.crops import make_crop, make_crop_mixed
from edgeocr_convert.synth.draw import rescale
from edgeocr_convert.synth.house import render_house_number, render_wall_digits
from edgeocr_convert.synth.negatives import render_negative
from edgeocr_convert.synth.plates import STYLES, render_plate
from edgeocr_convert.synth.plates_cn import pseudo_hanzi
from edgeocr_convert.synth.scenes import harmonize, make_scene, place_object, resample

from edgeocr.core.geometry import warp_quad
from edgeocr.data.labels import read_labels

PLATE_RE = re.compile(r"^[A-Z0-9]{4,8}$")
HOUSE_RE = re.compile(r"^[1-9][0-9]{0,4}[A-Z]?$")


def _label_ok(kind: str, text: str) -> bool:
    if kind == "plate":
        return bool(PLATE_RE.match(text))
    return bool(HOUSE_RE.match(text)) and len(text) <= 5


@pytest.mark.parametrize("kind", ["plate", "house_number"])
def test_crop_is_deterministic_grey_and_sized(kind: str) -> None:
    a, ta = make_crop(np.random.default_rng(7), kind, 32, 128)  # type: ignore[arg-type]
    b, tb = make_crop(np.random.default_rng(7), kind, 32, 128)  # type: ignore[arg-type]
    assert a.shape == (32, 128) and a.dtype == np.uint8
    assert ta == tb and a.tobytes() == b.tobytes()
    c, _ = make_crop(np.random.default_rng(8), kind, 32, 128)  # type: ignore[arg-type]
    assert c.tobytes() != a.tobytes()


def test_crop_labels_follow_charset_and_length_rules() -> None:
    rng = np.random.default_rng(1)
    kinds = []
    for _ in range(60):
        crop, text, kind = make_crop_mixed(rng, 48, 96)
        assert crop.shape == (48, 96)
        assert _label_ok(kind, text), (kind, text)
        kinds.append(kind)
    assert 0.6 <= kinds.count("plate") / len(kinds) <= 0.95
    assert "house_number" in kinds


def test_crop_rejects_tiny_size() -> None:
    with pytest.raises(ValueError, match="too small"):
        make_crop(np.random.default_rng(0), "plate", 2, 2)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_plate_style_renders_with_its_pattern(style: str) -> None:
    rng = np.random.default_rng(3)
    for _ in range(5):
        r = render_plate(rng, style)
        assert r.image.ndim == 3 and r.image.dtype == np.uint8
        assert r.alpha.shape == r.image.shape[:2]
        assert PLATE_RE.match(r.text), r.text
        assert r.image.std() > 10  # something was drawn on it
        if style == "br_old":
            assert re.match(r"^[A-Z]{3}[0-9]{4}$", r.text)
        if style == "br_mercosul":
            assert re.match(r"^[A-Z]{3}[0-9][A-Z0-9][0-9]{2}$", r.text)
        if style == "cn":
            # The province character is drawn but not labelled; no I or O after it.
            assert re.match(r"^[A-HJ-NP-Z][A-HJ-NP-Z0-9]{5,6}$", r.text), r.text


def test_pseudo_hanzi_is_a_dense_glyph() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = pseudo_hanzi(rng, 48)
        assert m.shape == (48, 48) and m.dtype == np.uint8
        ink = (m > 128).mean()
        assert 0.08 < ink < 0.7, ink


def test_unknown_style_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown plate style"):
        render_plate(np.random.default_rng(0), "mars")


def test_house_numbers_and_negatives_render() -> None:
    rng = np.random.default_rng(4)
    styles = set()
    for _ in range(30):
        r = render_house_number(rng)
        assert HOUSE_RE.match(r.text) and len(r.text) <= 5
        assert r.image.std() > 5
        styles.add(r.style)
        n = render_negative(rng)
        assert n.text == "" and n.image.shape[:2] == n.alpha.shape
    assert styles == {"house", "house_wall"}
    wall = render_wall_digits(np.random.default_rng(1))
    assert wall.style == "house_wall" and HOUSE_RE.match(wall.text)
    # Wall digits carry their ink mask so a scene can paste just the characters; the mask
    # covers part of the face (not all of it, not nothing) and follows a rescale.
    assert wall.ink is not None and wall.ink.shape == wall.image.shape[:2]
    covered = float((wall.ink > 128).mean())
    assert 0.05 < covered < 0.9
    small = rescale(wall, wall.image.shape[1] / 2)
    assert small.ink is not None and small.ink.shape == small.image.shape[:2]
    assert abs(float((small.ink > 128).mean()) - covered) < 0.1


def test_relief_wall_digits_differ_from_their_wall_by_little(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Relief digits are the wall's own colour stepped 25-55 grey levels, with a shadow; an
    # ordinary contrasting ink is at least ~100 levels away from the wall.
    import edgeocr_convert.synth.house as house

    def ink_step(seed: int) -> float:
        w = render_wall_digits(np.random.default_rng(seed))
        assert w.ink is not None
        grey = cv2.cvtColor(w.image, cv2.COLOR_BGR2GRAY).astype(np.float64)
        glyph = cv2.erode((w.ink > 200).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        return abs(float(np.median(grey[glyph])) - float(np.median(grey[w.ink == 0])))

    monkeypatch.setattr(house, "RELIEF", 1.0)
    relief = [ink_step(s) for s in range(12)]
    monkeypatch.setattr(house, "RELIEF", 0.0)
    plain = [ink_step(s) for s in range(12)]
    assert float(np.median(relief)) < 60 < float(np.median(plain))


def test_fonts_cover_the_charset() -> None:
    fs = fonts.font_set()
    for role in ("plate", "sans", "serif", "script", "condensed", "mono"):
        assert fs.by_role[role], role
    for path in fs.by_role["plate"][:5]:
        m = fonts.text_mask(path, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        assert m.shape[1] > m.shape[0] * 10


def test_stroke_font_draws_every_character_and_keeps_lookalikes_apart() -> None:
    for width in range(len(strokefont.WIDTHS)):
        for stroke in range(len(strokefont.STROKES)):
            for variant in [*range(strokefont.VARIANTS), strokefont.BR_DIE]:
                masks = {
                    c: strokefont.glyph_mask(c, width, stroke, variant) for c in strokefont.CHARSET
                }
                for c, m in masks.items():
                    assert m.shape[0] == strokefont.CAP, c
                    assert (m > 128).mean() > 0.08, c  # real ink, not an empty cell
                for a, b in (
                    "0O",
                    "0D",
                    "OD",
                    "0Q",
                    "1I",
                    "1J",
                    "IJ",
                    "8B",
                    "89",
                    "4L",
                    "4A",
                    "2Z",
                    "5S",
                    "6G",
                    "65",
                    "MH",
                ):
                    ma, mb = masks[a], masks[b]
                    size = (32, strokefont.CAP)
                    fa = cv2.resize(ma, size).astype(np.float32) / 255
                    fb = cv2.resize(mb, size).astype(np.float32) / 255
                    # Even stretched to the same box (hiding that 0 is narrower than O), the
                    # shapes differ in a good share of pixels.
                    assert np.abs(fa - fb).mean() > 0.025, (a, b, width, stroke, variant)
                assert masks["0"].shape[1] < masks["O"].shape[1] * 0.9
    # The plate 1 is a bare bar: nothing at the bottom but the stem (no base serif).
    one = strokefont.glyph_mask("1", 1, 1, 0)
    eye = strokefont.glyph_mask("I", 1, 1, 0)
    assert (one[-2] > 128).sum() < (eye[-2] > 128).sum() * 0.6
    # The Brazilian die's O fills its corners (a rounded rectangle, not an ellipse) and its D
    # keeps square left corners.
    def inked(m: np.ndarray) -> np.ndarray:
        cols = np.flatnonzero(m.max(axis=0) > 128)
        return m[:, cols[0] : cols[-1] + 1]

    def corner_ink(m: np.ndarray) -> float:
        m = inked(m)
        h, w = m.shape
        ch, cw = h // 6, w // 5
        return float(np.mean([m[:ch, :cw].mean(), m[-ch:, :cw].mean(), m[:ch, -cw:].mean()]))

    br = strokefont.BR_DIE
    assert corner_ink(strokefont.glyph_mask("O", 1, 1, br)) > 1.5 * corner_ink(
        strokefont.glyph_mask("O", 1, 1, 0)
    )
    d = inked(strokefont.glyph_mask("D", 1, 1, br))
    assert d[:3, :3].mean() > 128 and d[:3, -3:].mean() < 64
    # Its cells are wider (the die's characters are about 0.8 of their height wide) and its 0
    # keeps the variant-1 stadium's round ends, only wider.
    zero, zero1 = inked(strokefont.glyph_mask("0", 1, 1, br)), inked(
        strokefont.glyph_mask("0", 1, 1, 1))
    assert zero.shape[1] >= 1.25 * zero1.shape[1]
    for c in "OHK4":
        assert (inked(strokefont.glyph_mask(c, 1, 1, br)).shape[1]
                >= 1.25 * inked(strokefont.glyph_mask(c, 1, 1, 1)).shape[1]), c
    assert corner_ink(strokefont.glyph_mask("0", 1, 1, br)) < 0.7 * corner_ink(
        strokefont.glyph_mask("O", 1, 1, br))
    # Its 6 has a flat top arm (ink across most of the top rows, where the round 6 curls over
    # less than half) and its digit bowls square lower corners.
    for c in "5689":
        die, round_ = inked(strokefont.glyph_mask(c, 1, 1, br)), inked(
            strokefont.glyph_mask(c, 1, 1, 1)
        )
        h, w = round_.shape
        die = cv2.resize(die, (w, h))  # the same box: the die's cells are wider
        assert die[-h // 6 :, -w // 5 :].mean() > 1.3 * round_[-h // 6 :, -w // 5 :].mean(), c
    six = inked(strokefont.glyph_mask("6", 1, 1, br))
    assert (six[:3] > 128).any(axis=0).mean() > 0.75
    assert (inked(strokefont.glyph_mask("6", 1, 1, 1))[:3] > 128).any(axis=0).mean() < 0.5
    with pytest.raises(ValueError, match="no glyph"):
        strokefont.glyph_mask("a", 0, 0, 0)
    line = strokefont.stroke_text_mask("602JPG", 0, 0, 0)
    assert line.shape[0] == strokefont.CAP and line.shape[1] > 4 * strokefont.CAP * 0.46


def _clockwise(q: np.ndarray) -> bool:
    # Shoelace area is positive for clockwise order with y pointing down.
    x, y = q[:, 0], q[:, 1]
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) > 0


def test_scene_corners_inside_clockwise_and_deterministic(tmp_path: Path) -> None:
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"bg{i}.jpg"), procedural(np.random.default_rng(i), 200, 300))
    pool = BackgroundPool(tmp_path)
    rng = np.random.default_rng(5)
    n_objects = 0
    for _ in range(12):
        s = make_scene(rng, 240, 320, pool)
        assert s.image.shape == (240, 320, 3) and s.image.dtype == np.uint8
        assert len(s.objects) <= 3
        for o in s.objects:
            q = np.asarray(o.quad)
            assert (q >= 0).all() and (q[:, 0] <= 319).all() and (q[:, 1] <= 239).all()
            assert _clockwise(q)
            assert _label_ok(o.kind, o.text)
            n_objects += 1
    assert n_objects > 5
    a = make_scene(np.random.default_rng(9), 160, 160, pool)
    b = make_scene(np.random.default_rng(9), 160, 160, pool)
    assert a.image.tobytes() == b.image.tobytes() and a.objects == b.objects


def test_scene_min_objects_of_one_kind() -> None:
    rng = np.random.default_rng(11)
    for _ in range(6):
        s = make_scene(rng, 200, 200, None, kinds=("house_number",), min_objects=1)
        assert s.objects and all(o.kind == "house_number" for o in s.objects)


def test_warping_the_labelled_quad_recovers_the_rendered_plate() -> None:
    rng = np.random.default_rng(2)
    face = render_plate(rng, "us")
    fh, fw = face.image.shape[:2]
    scene = np.full((320, 320, 3), 90, np.uint8)
    fq = np.array([[0, 0], [fw, 0], [fw, fh], [0, fh]], dtype=np.float64)
    alpha = np.full((fh, fw), 255, np.uint8)
    quad = place_object(rng, scene, face.image, alpha, fq, 220.0, [], must_fit=True,
                        harmonize_share=0.0)
    assert quad is not None
    back = warp_quad(scene, quad, fw, fh)
    a = cv2.cvtColor(cv2.resize(back, (100, 50), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
    b = cv2.cvtColor(
        cv2.resize(face.image, (100, 50), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY
    )
    corr = np.corrcoef(a.ravel().astype(float), b.ravel().astype(float))[0, 1]
    assert corr > 0.85
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 25


def test_background_pool_missing_path() -> None:
    with pytest.raises(FileNotFoundError, match="no such background"):
        BackgroundPool(Path("/nonexistent/backgrounds"))


def test_no_fonts_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "_system_font_files", lambda: [])
    fonts.font_set.cache_clear()
    try:
        with pytest.raises(fonts.FontsNotFoundError, match="apt-get install"):
            fonts.font_set()
    finally:
        monkeypatch.undo()
        fonts.font_set.cache_clear()


def test_synth_cli_writes_crops_and_scenes(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "crops"
    res = runner.invoke(
        cli,
        [
            "synth",
            "--kind",
            "plate",
            "--mode",
            "crop",
            "--n",
            "6",
            "--out",
            str(out),
            "--seed",
            "1",
            "--height",
            "32",
            "--width",
            "128",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = read_labels(out / "labels.csv")
    assert len(rows) == 6
    for r in rows:
        assert r.kind == "plate" and PLATE_RE.match(r.text) and r.corners is None
        img = cv2.imread(str(out / r.image), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.shape[:2] == (32, 128)
    assert (out / "contact_sheet.png").is_file()
    header = (out / "labels.csv").read_text().splitlines()[0]
    assert header == "image,kind,text,x1,y1,x2,y2,x3,y3,x4,y4"

    bgs = tmp_path / "bgs"
    bgs.mkdir()
    cv2.imwrite(str(bgs / "a.jpg"), procedural(np.random.default_rng(0), 300, 400))
    out2 = tmp_path / "scenes"
    res = runner.invoke(
        cli,
        [
            "synth",
            "--kind",
            "house_number",
            "--mode",
            "scene",
            "--n",
            "3",
            "--out",
            str(out2),
            "--seed",
            "2",
            "--height",
            "160",
            "--width",
            "224",
            "--backgrounds",
            str(bgs),
        ],
    )
    assert res.exit_code == 0, res.output
    rows = read_labels(out2 / "labels.csv")
    assert len({r.image for r in rows}) == 3
    for r in rows:
        assert r.kind == "house_number" and r.corners is not None
        q = np.asarray(r.corners)
        assert (q >= 0).all() and (q[:, 0] < 224).all() and (q[:, 1] < 160).all()


def test_synth_cli_bad_backgrounds_exit_2(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        cli,
        [
            "synth",
            "--mode",
            "scene",
            "--n",
            "1",
            "--out",
            str(tmp_path / "o"),
            "--backgrounds",
            str(tmp_path / "missing"),
        ],
    )
    assert res.exit_code == 2
    assert "missing: not a folder" in res.output


def test_harmonize_pulls_a_pasted_face_toward_its_surroundings() -> None:
    rng = np.random.default_rng(3)
    roi = np.full((40, 80, 3), 60, np.uint8)
    face = np.full((40, 80, 3), 250, np.uint8)
    face[15:25, 10:70] = 10  # "characters"
    alpha = np.zeros((40, 80), np.uint8)
    alpha[5:35, 5:75] = 255
    gaps = []
    for _ in range(20):
        out = harmonize(rng, face, roi, alpha)
        assert out.shape == face.shape and out.dtype == np.uint8
        inside = out[alpha > 127].astype(np.float32)
        # At most 1.5x its wall + 30 grey levels (plus a little grain), not the raw 181.
        assert inside.mean() <= 60 * 1.5 + 30 + 3
        gaps.append(float(inside.max() - inside.min()))
    assert min(gaps) > 50  # the characters stay visible


def test_resample_keeps_the_size_and_softens() -> None:
    rng = np.random.default_rng(0)
    img = np.zeros((64, 96, 3), np.uint8)
    img[:, ::2] = 255  # finest possible detail
    out = resample(rng, img)
    assert out.shape == img.shape
    assert float(np.abs(np.diff(out.astype(np.float32), axis=1)).mean()) < 100


def test_din_plate_faces_have_their_own_role() -> None:
    from edgeocr_convert.synth.fonts import _roles_for, font_set

    assert {"din", "plate", "condensed"} <= _roles_for("OSP-DIN.ttf")
    assert "din" not in _roles_for("DejaVuSans-Bold.ttf")
    # Without a DIN face installed the role falls back to the condensed faces.
    assert font_set().by_role["din"]


def test_capture_sizes_span_real_plates() -> None:
    """Plate faces on the sensor run from under 70 px (small US street plates, ~9 px per
    character) past 280 px (Brazilian traffic cameras), Brazilian plates included."""
    from edgeocr_convert.synth.crops import MAX_FACE_WIDTH, capture

    rng = np.random.default_rng(3)
    widths: dict[str, list[float]] = {"us": [], "br": []}
    for _ in range(60):
        for family, style in (("us", "us"), ("br", "br_old")):
            cap = capture(rng, "plate", style)
            q = cap.quad
            widths[family].append(float(np.linalg.norm(q[1] - q[0])))
    for family, ws in widths.items():
        assert min(ws) < 75.0, (family, min(ws))
        assert max(ws) > 280.0, (family, max(ws))
        assert max(ws) < MAX_FACE_WIDTH * 1.6, (family, max(ws))  # tilt may stretch a little
