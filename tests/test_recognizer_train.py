"""Recognizer model and trainer: shapes, a real smoke train on make_crop, resume, CTC learning."""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path

import cv2
import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from click.testing import CliRunner  # noqa: E402
from edgeocr_convert.cli.train_cmd import cli  # noqa: E402
from edgeocr_convert.data.crops import load_labelled_crops  # noqa: E402
from edgeocr_convert.models.recognizer import build_recognizer  # noqa: E402
from edgeocr_convert.synth.crops import make_crop  # noqa: E402
from edgeocr_convert.train_recognizer import (  # noqa: E402
    BatchSpec,
    RecognizerTrainConfig,
    encode_batch,
    synth_sample,
    train_recognizer,
)
from edgeocr_convert.training import CheckpointError, read_model_metadata  # noqa: E402

from edgeocr.core.charset import DEFAULT_CHARSET  # noqa: E402


@pytest.mark.parametrize("head", ["conv", "bilstm"])
def test_build_shapes(head: str) -> None:
    model = build_recognizer(32, 128, head=head)  # type: ignore[arg-type]
    assert model.name == "edgeocr_recognizer"
    assert model.inputs[0].name == "image"
    assert model.input_shape == (None, 32, 128, 1)
    x = np.random.default_rng(0).random((2, 32, 128, 1), dtype=np.float32)
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (2, 32, 1 + len(DEFAULT_CHARSET))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-4)
    assert 300_000 < model.count_params() < 1_200_000


def test_conv_head_uses_edgetpu_friendly_layers_only() -> None:
    model = build_recognizer(head="conv")
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds <= {"InputLayer", "Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D",
                     "Reshape", "Softmax"}


def test_bilstm_unroll_and_bad_sizes() -> None:
    model = build_recognizer(head="bilstm", unroll=True, batch_size=1)
    assert model.get_layer("bilstm").forward_layer.unroll
    assert model.input_shape == (1, 40, 160, 1)
    with pytest.raises(ValueError, match="multiple of 8"):
        build_recognizer(height=30)
    with pytest.raises(ValueError, match="unknown head"):
        build_recognizer(head="gru")  # type: ignore[arg-type]


def _cfg(out: Path, steps: int, **kw: object) -> RecognizerTrainConfig:
    base: dict[str, object] = dict(out=out, steps=steps, batch=8, val_size=8, eval_every=2,
                                   checkpoint_every=2, workers=0, progress=False, warmup=1)
    base.update(kw)
    return RecognizerTrainConfig(**base)  # type: ignore[arg-type]


def test_smoke_train_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = train_recognizer(_cfg(out, 3))
    assert summary["step"] == 3
    for name in ("model.h5", "log.csv", "curves.png", "checkpoint.weights.h5", "state.json",
                 "train_config.json"):
        assert (out / name).is_file(), name
    meta = read_model_metadata(out / "model.h5")
    assert meta["role"] == "recognizer"
    assert meta["input"] == {"height": 40, "width": 160, "channels": 1, "colour": "grey",
                             "range": [0.0, 1.0]}
    assert meta["charset"] == DEFAULT_CHARSET and meta["head"] == "conv"
    reloaded = keras.models.load_model(out / "model.h5", compile=False)
    assert reloaded.output_shape == (None, 40, 37)
    assert json.loads((out / "state.json").read_text())["step"] == 3
    iterations = _optimizer_iterations(out)
    assert iterations == 3

    summary = train_recognizer(_cfg(out, 5), resume=True)
    assert summary["step"] == 5
    assert _optimizer_iterations(out) == 5  # the optimizer state came back, not a fresh one
    with (out / "log.csv").open() as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    assert steps == sorted(set(steps)) and steps[-1] == 5

    with pytest.raises(CheckpointError, match="head 'conv' \\(now 'bilstm'\\)"):
        train_recognizer(_cfg(out, 6, head="bilstm"), resume=True)
    with pytest.raises(CheckpointError, match="already holds a training run"):
        train_recognizer(_cfg(out, 6))


def test_resume_on_a_fresh_folder_starts_the_run(tmp_path: Path) -> None:
    """One command line (with --resume) serves the first start and every restart, as
    scripts/reproduce_models.sh uses it."""
    out = tmp_path / "fresh"
    summary = train_recognizer(_cfg(out, 2), resume=True)
    assert summary["step"] == 2 and (out / "checkpoint.weights.h5").is_file()
    assert train_recognizer(_cfg(out, 3), resume=True)["step"] == 3
    assert _optimizer_iterations(out) == 3

    # Fine-tuning starts from the trained weights (a tiny lr keeps them where they were).
    tuned = tmp_path / "tuned"
    train_recognizer(_cfg(tuned, 1, init=out / "model.h5", lr=1e-12))
    before = keras.models.load_model(out / "model.h5", compile=False).get_layer("classes")
    after = keras.models.load_model(tuned / "model.h5", compile=False).get_layer("classes")
    np.testing.assert_allclose(after.get_weights()[0], before.get_weights()[0], atol=1e-6)

    # A BiLSTM head fine-tuned from a conv-head model keeps the shared backbone.
    lstm = tmp_path / "lstm"
    train_recognizer(_cfg(lstm, 1, init=out / "model.h5", lr=1e-12, head="bilstm"))
    src = keras.models.load_model(out / "model.h5", compile=False)
    got = keras.models.load_model(lstm / "model.h5", compile=False)
    np.testing.assert_allclose(got.get_layer("fold_conv").get_weights()[0],
                               src.get_layer("fold_conv").get_weights()[0], atol=1e-6)
    assert read_model_metadata(lstm / "model.h5")["head"] == "bilstm"
    # An --init file that is no model at all is a clear error.
    wrong = tmp_path / "wrong.h5"
    wrong.write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match=r"wrong\.h5"):
        train_recognizer(_cfg(tmp_path / "bad", 1, init=wrong))


def _optimizer_iterations(out: Path) -> int:
    import h5py

    with h5py.File(out / "checkpoint.weights.h5", "r") as f:
        group = f["edgeocr_optimizer"]
        for key in group:
            if group[key].attrs["path"].endswith("iteration"):
                return int(group[key][()])
    raise AssertionError("no iteration variable in the checkpoint")


def _write_labels(folder: Path) -> Path:
    img = np.full((60, 200, 3), 200, np.uint8)
    cv2.putText(img, "AB12", (20, 45), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (0, 0, 0), 3)
    cv2.imwrite(str(folder / "a.png"), img)
    (folder / "labels.csv").write_text(
        "image,kind,text,x1,y1,x2,y2,x3,y3,x4,y4\n"
        "a.png,plate,ab-12,10,5,190,5,190,55,10,55\n"
        "a.png,house_number,AB12,,,,,,,,\n"
        "a.png,plate,\u7696,,,,,,,,\n"
    )
    return folder / "labels.csv"


def test_cli_fine_tune_smoke_and_bad_data(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "cli"
    args = ["recognizer", "--out", str(out), "--steps", "2", "--batch", "4", "--val-size", "4",
            "--eval-every", "2", "--workers", "0", "--no-progress"]
    result = runner.invoke(cli, [*args, "--data", str(_write_labels(tmp_path))])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["step"] == 2
    assert json.loads((out / "train_config.json").read_text())["data"].endswith("labels.csv")
    result = runner.invoke(cli, [*args, "--data", str(tmp_path / "missing.csv")])
    assert result.exit_code == 2
    assert "missing.csv: no such file" in result.output
    assert "Traceback" not in result.output


def test_labelled_crops_with_and_without_corners(tmp_path: Path) -> None:
    crops = load_labelled_crops(_write_labels(tmp_path), 32, 128, DEFAULT_CHARSET)
    assert crops.images.shape == (2, 32, 128)
    assert crops.texts == ["AB12", "AB12"]


def test_ctc_loss_falls_on_a_fixed_batch() -> None:
    """30 Adam steps on one small batch of real synthetic crops must cut the CTC loss."""
    keras.utils.set_random_seed(1)
    spec = BatchSpec(batch=8, height=32, width=128, charset=DEFAULT_CHARSET, max_label=16,
                     plate_fraction=0.8, augment=False)
    rng = np.random.default_rng(3)
    samples = [synth_sample(rng, make_crop, spec) for _ in range(spec.batch)]  # type: ignore[arg-type]
    x, y, y_len = encode_batch(rng, [s[0] for s in samples], [s[1] for s in samples], spec)
    model = build_recognizer(32, 128)
    logits_model = keras.Model(model.input, model.get_layer("logits").output)
    opt = keras.optimizers.Adam(3e-3)
    variables = model.trainable_variables

    @tf.function
    def step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            logits = logits_model(x, training=True)
            out_len = tf.fill([spec.batch], tf.shape(logits)[1])
            loss = tf.reduce_mean(keras.ops.ctc_loss(y, logits, y_len, out_len, mask_index=0))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
        return loss

    losses = [float(step()) for _ in range(30)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < 0.5 * np.mean(losses[:3]), losses


def test_sigint_saves_a_checkpoint_and_stops(tmp_path: Path) -> None:
    calls = 0

    def crop_then_interrupt(rng: np.random.Generator, kind: str, h: int, w: int) -> object:
        nonlocal calls
        calls += 1
        if calls == 4 + 4 * 2 + 1:  # val set (4), two batches of 4, then Ctrl-C mid third batch
            os.kill(os.getpid(), signal.SIGINT)
        return make_crop(rng, kind, h, w)  # type: ignore[arg-type]

    out = tmp_path / "run"
    before = signal.getsignal(signal.SIGINT)
    summary = train_recognizer(_cfg(out, 50, batch=4, val_size=4, eval_every=100,
                                    checkpoint_every=100),
                               crop_fn=crop_then_interrupt)  # type: ignore[arg-type]
    assert summary["interrupted"] is True
    assert summary["step"] == 3  # the step whose batch was being made still ran
    assert json.loads((out / "state.json").read_text())["step"] == 3
    assert (out / "checkpoint.weights.h5").is_file()
    assert signal.getsignal(signal.SIGINT) is before
