"""Reject crops for the recognizer: which photos they come from, what is mined, how batches
and training use them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("tensorflow")

from click.testing import CliRunner
from edgeocr_convert.cli.train_cmd import cli
from edgeocr_convert.data import rejects
from edgeocr_convert.data.crops import TrainDataError
from edgeocr_convert.synth.crops import make_crop
from edgeocr_convert.train_recognizer import (
    BatchSource,
    BatchSpec,
    RecognizerTrainConfig,
    train_recognizer,
)

from edgeocr.core.charset import DEFAULT_CHARSET
from edgeocr.detect import Detector
from edgeocr.evaluation.bands import even_spread
from tests.tinymodels import TinyModels, cached_build


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return cached_build(tmp_path_factory)


def _photos(folder: Path, n: int, red: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        img = rng.integers(0, 60, (240, 320, 3)).astype(np.uint8)
        if red:
            img[96:128, 96:192] = (0, 0, 255)  # the tiny detector fires a plate on red cells
        cv2.imwrite(str(folder / f"p{i:02d}.png"), img)
    return folder


def test_training_photos_leave_out_what_bands_chooses_on(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "negs", 10)
    (folder / "notes.txt").write_text("not a photo")
    kept = rejects.training_photos(folder, bands_photos=4)
    assert len(kept) == 6
    assert not set(kept) & set(even_spread(folder, 4))
    with pytest.raises(TrainDataError, match="no photos left"):
        rejects.training_photos(folder, bands_photos=10)
    with pytest.raises(TrainDataError, match="not a folder"):
        rejects.training_photos(tmp_path / "missing")


def test_mine_reads_both_looks_of_every_detection(tiny_models: TinyModels,
                                                  tmp_path: Path) -> None:
    red = sorted(_photos(tmp_path / "red", 1, red=True).iterdir())
    dark = sorted(_photos(tmp_path / "dark", 1).iterdir())
    det = Detector(tiny_models.detector, threads=1, score_threshold=rejects.MIN_SCORE)
    found = det.detect(cv2.imread(str(red[0])))
    assert found  # the red cell
    crops = rejects.mine(red, det, 40, 160, random_per_photo=0, progress=False)
    assert crops.shape == (2 * min(len(found), rejects.PER_PHOTO), 40, 160)
    assert crops.dtype == np.uint8
    # No detection on the dark photo: only the random windows.
    crops = rejects.mine(dark, det, 40, 160, random_per_photo=3, progress=False)
    assert 1 <= len(crops) <= 3
    with pytest.raises(TrainDataError, match="no reject crops"):
        rejects.mine(dark, det, 40, 160, random_per_photo=0, progress=False)


def test_split_holds_out_every_tenth() -> None:
    crops = np.arange(25, dtype=np.uint8).reshape(25, 1, 1)
    train, held = rejects.split(crops)
    assert held[:, 0, 0].tolist() == [0, 10, 20]
    assert len(train) == 22 and 10 not in train[:, 0, 0]


def test_batches_carry_the_reject_share_with_empty_labels() -> None:
    spec = BatchSpec(8, 40, 160, DEFAULT_CHARSET, 16, 0.8, True, reject_fraction=0.25)
    crops = np.zeros((5, 40, 160), np.uint8)
    source = BatchSource(spec, 0, workers=0, crop_fn=make_crop, rejects=crops)  # type: ignore[arg-type]
    x, labels, lengths = source.next()
    assert x.shape == (8, 40, 160, 1)
    assert int((lengths == 0).sum()) == 2
    assert (labels[lengths == 0] == 0).all()
    assert (lengths[lengths > 0] > 0).all() and int((lengths > 0).sum()) == 6
    # Without rejects the share is ignored.
    x, labels, lengths = BatchSource(spec, 0, workers=0, crop_fn=make_crop).next()  # type: ignore[arg-type]
    assert (lengths > 0).all()


def test_training_with_negatives_logs_the_reject_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rejects, "BANDS_PHOTOS", 2)
    negs = _photos(tmp_path / "negs", 6)
    out = tmp_path / "run"
    cfg = RecognizerTrainConfig(out=out, steps=2, batch=8, val_size=8, eval_every=2,
                                checkpoint_every=2, workers=0, progress=False, warmup=1,
                                negatives=negs, reject_fraction=0.25)
    summary = train_recognizer(cfg)
    assert summary["step"] == 2
    assert 0.0 <= summary["val_reject"] <= 1.0
    assert (out / "rejects.npz").is_file()
    with (out / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows[-1]["val_reject"] != ""
    assert json.loads((out / "train_config.json").read_text())["negatives"] == str(negs)
    # A resume reuses the mined crops rather than mining again.
    stamp = (out / "rejects.npz").stat().st_mtime_ns
    cfg.steps = 3
    train_recognizer(cfg, resume=True)
    assert (out / "rejects.npz").stat().st_mtime_ns == stamp


def test_cli_negatives_without_photos_left_is_a_clear_error(tmp_path: Path) -> None:
    negs = _photos(tmp_path / "negs", 3)
    result = CliRunner().invoke(cli, [
        "recognizer", "--out", str(tmp_path / "run"), "--steps", "1", "--batch", "4",
        "--val-size", "4", "--workers", "0", "--no-progress", "--negatives", str(negs)])
    assert result.exit_code == 2
    assert "no photos left for reject crops" in result.output
    assert "Traceback" not in result.output
