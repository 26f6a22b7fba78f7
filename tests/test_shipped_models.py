"""Every model shipped in edgeocr/models loads through its sidecar and does its job.

The recognizer is checked on seeded synthetic crops (the real dev set is never read by
tests): it must read most of them exactly, so a broken or swapped model fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeocr.core.sidecar import load_sidecar
from edgeocr.recognize import Recognizer

MODELS = sorted((Path(__file__).resolve().parents[1] / "edgeocr" / "models").glob("*.tflite"))


def test_models_are_shipped() -> None:
    assert any(p.stem == "recognizer" for p in MODELS), "the recognizer must be shipped"


@pytest.mark.parametrize("model", MODELS, ids=[p.name for p in MODELS])
def test_sidecar_matches_model(model: Path) -> None:
    sc = load_sidecar(model)  # checks the sha256 too
    assert sc.input.dtype == "int8", "shipped models are full-int8"
    assert sc.role in ("detector", "recognizer")


def test_shipped_recognizer_reads_synthetic_crops() -> None:
    from edgeocr_convert.synth.crops import make_crop

    rec = Recognizer(threads=1)  # the shipped default
    width, height = rec.input_size
    rng = np.random.default_rng(2024)
    crops = [make_crop(rng, "plate", height, width) for _ in range(100)]
    exact = sum(rec.read(crop).text == text for crop, text in crops)
    # Synthetic validation accuracy of the shipped model is ~83%; far below means broken.
    assert exact >= 60, f"only {exact}/100 synthetic crops read exactly"
