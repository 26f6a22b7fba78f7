"""Real photo patches in recognizer crops (``synth.photos``): off unless a folder is given,
pasted only where asked, deterministic, and kept out of the validation set."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from edgeocr_convert.synth import photos
from edgeocr_convert.synth.crops import make_crop
from edgeocr_convert.synth.plates_us import render_us
from edgeocr_convert.train_recognizer import BatchSource, BatchSpec

from edgeocr.core.charset import DEFAULT_CHARSET


@pytest.fixture()
def photo_dir(tmp_path: Path) -> Iterator[Path]:
    """Three small structured "photos" (gradients, discs, bars), and photos off afterwards."""
    rng = np.random.default_rng(0)
    for i in range(3):
        img = np.tile(np.linspace(30, 220, 160, dtype=np.float32), (120, 1))
        for _ in range(6):
            c = (int(rng.integers(0, 160)), int(rng.integers(0, 120)))
            cv2.circle(img, c, int(rng.integers(5, 30)), float(rng.uniform(0, 255)), -1)
        cv2.imwrite(str(tmp_path / f"p{i}.jpg"), img.astype(np.uint8))
    yield tmp_path
    photos.use(None)


def test_no_patches_without_a_folder() -> None:
    photos.use(None)
    rng = np.random.default_rng(1)
    assert not photos.active()
    assert photos.patch(rng, 20, 30) is None
    img = np.full((40, 80, 3), 128, np.uint8)
    assert not photos.paste_picture(rng, img, (10, 5, 40, 35))
    assert (img == 128).all()


def test_a_picture_is_pasted_inside_its_box_only(photo_dir: Path) -> None:
    photos.use(photo_dir)
    assert photos.active()
    p = photos.patch(np.random.default_rng(2), 20, 30)
    assert p is not None and p.shape == (20, 30, 3) and p.dtype == np.uint8
    changed = False
    for seed in range(5):
        img = np.full((40, 80, 3), 128, np.uint8)
        assert photos.paste_picture(np.random.default_rng(seed), img, (10, 5, 40, 35))
        outside = img.copy()
        outside[5:35, 10:40] = 128
        assert (outside == 128).all()
        changed |= bool((img[5:35, 10:40] != 128).any())
    assert changed


def test_us_plates_and_crops_with_photos_stay_deterministic_and_labelled(
    photo_dir: Path,
) -> None:
    photos.use(photo_dir)
    plate_re = re.compile(r"^[A-Z0-9]{2,8}$")
    for seed in range(12):
        a = render_us(np.random.default_rng(seed))
        b = render_us(np.random.default_rng(seed))
        assert a.text == b.text and a.image.tobytes() == b.image.tobytes()
        assert plate_re.match(a.text)
        crop, text = make_crop(np.random.default_rng(seed), "plate", 32, 128)
        again, _ = make_crop(np.random.default_rng(seed), "plate", 32, 128)
        assert crop.shape == (32, 128) and crop.tobytes() == again.tobytes()
        assert plate_re.match(text)
    # The photos change what is drawn: some faces differ from the photo-free ones.
    with_photos = [render_us(np.random.default_rng(s)).image for s in range(12)]
    photos.use(None)
    without = [render_us(np.random.default_rng(s)).image for s in range(12)]
    assert any(a.shape != b.shape or (a != b).any()
               for a, b in zip(with_photos, without, strict=True))


def test_inline_training_batches_use_photos_and_leave_them_off(photo_dir: Path) -> None:
    spec = BatchSpec(batch=4, height=32, width=128, charset=DEFAULT_CHARSET, max_label=16,
                     plate_fraction=1.0, augment=False, photos=str(photo_dir))
    with BatchSource(spec, seed=3, workers=0) as source:
        x, labels, lengths = source.next()
    assert x.shape == (4, 32, 128, 1) and labels.shape == (4, 16) and (lengths > 0).all()
    # The validation set is rendered in the same process afterwards: it must see no photos.
    assert not photos.active()
