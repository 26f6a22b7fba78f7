"""Keras model -> full-int8 (or, for comparison, float32) TFLite with its sidecar.

The model's role, input, charset, class names and anchors come from the model file itself
(the ``edgeocr`` JSON attribute trainers write, or ``<model>.edgeocr.json`` beside a
``.keras`` file), falling back to the output structure, so a user-trained model of the same
family with another input size, charset, class list or anchor layout converts unchanged.

Route (see docs/convert.md): rebuild RNNs unrolled with a batch-1 input, export a SavedModel
with a named batch-1 signature whose outputs are named for the runtime, then
``TFLiteConverter.from_saved_model`` with ``TFLITE_BUILTINS_INT8`` and int8 in/out (or no
optimizations at all for the float32 twin).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeocr.core.anchors import AnchorSpec, default_anchor_spec
from edgeocr.core.charset import DEFAULT_CHARSET
from edgeocr.core.sidecar import (
    DetectorSpec,
    InputSpec,
    OutputSpec,
    QuantParams,
    RecognizerSpec,
    Sidecar,
)
from edgeocr.core.types import ColourMode, Role

log = logging.getLogger(__name__)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODEL_SUFFIXES = (".h5", ".keras")
DETECTOR_OUTPUTS = ("classes", "boxes", "corners")
RECOGNIZER_OUTPUT = "probs"
_RNN_CLASSES = frozenset({"LSTM", "GRU", "SimpleRNN", "RNN"})
Precision = Literal["int8", "float32"]


class ConvertError(Exception):
    """Bad input to the converter; the message names the path and the reason."""


@dataclass(frozen=True)
class ModelInfo:
    """What the converter and the sidecar need to know about a Keras model."""

    role: Role
    height: int
    width: int
    channels: int
    colour: ColourMode
    value_range: tuple[float, float]
    output_names: tuple[str, ...]
    """Keras output order, renamed to the runtime names (probs | classes, boxes, corners)."""
    output_is_logits: bool
    head: Literal["conv", "bilstm"] = "conv"
    charset: str | None = None
    class_names: tuple[str, ...] | None = None
    anchors: AnchorSpec | None = None
    metadata_found: bool = False


# ---------------------------------------------------------------- reading the model

def read_metadata(path: Path) -> dict[str, Any] | None:
    """The ``edgeocr`` metadata of a Keras file, or None when it has none."""
    raw: object = None
    if path.suffix == ".h5":
        import h5py

        try:
            with h5py.File(path, "r") as f:
                raw = f.attrs.get("edgeocr")
        except OSError:
            return None
    else:
        for side in (path.with_suffix(".edgeocr.json"),
                     path.with_name(path.name + ".edgeocr.json")):
            if side.is_file():
                raw = side.read_text(encoding="utf-8")
                break
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8")
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise ConvertError(f"{path}: edgeocr metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ConvertError(f"{path}: edgeocr metadata is not a JSON object")
    return meta


def load_keras_model(path: Path) -> Any:
    """Load a Keras 3 ``.h5`` or ``.keras`` file (not compiled). Raises ConvertError."""
    if not path.exists():
        raise ConvertError(f"{path}: file not found")
    if not path.is_file():
        raise ConvertError(f"{path}: not a file")
    if path.suffix not in MODEL_SUFFIXES:
        raise ConvertError(
            f"{path}: not a Keras model file (expected {' or '.join(MODEL_SUFFIXES)})")
    import keras

    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConvertError(f"{path}: cannot load as a Keras model ({reason[:200]})") from None


def _has_rnn(model: Any) -> bool:
    import keras

    def walk(layer: Any) -> bool:
        if isinstance(layer, keras.layers.RNN | keras.layers.Bidirectional):
            return True
        return any(walk(sub) for sub in getattr(layer, "layers", []))

    return walk(model)


def _input_spec(model: Any, meta: dict[str, Any], path: Path) -> tuple[int, int, int]:
    if len(model.inputs) != 1:
        raise ConvertError(f"{path}: expected one image input, the model has {len(model.inputs)}")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        raise ConvertError(f"{path}: input shape {shape} is not a static (batch, H, W, C) image")
    h, w, c = int(shape[1]), int(shape[2]), int(shape[3])
    declared = meta.get("input", {})
    for key, actual in (("height", h), ("width", w), ("channels", c)):
        if key in declared and int(declared[key]) != actual:
            raise ConvertError(
                f"{path}: metadata says {key} {declared[key]}, the model has {actual}")
    if c not in (1, 3):
        raise ConvertError(f"{path}: input has {c} channels; only 1 (grey) or 3 (colour) work")
    return h, w, c


def describe_model(model: Any, path: Path, meta: dict[str, Any] | None = None) -> ModelInfo:
    """Find the role and I/O of ``model`` from its metadata, else from its outputs.

    Raises ConvertError for architectures that are neither family (e.g. a classifier).
    """
    meta = meta or {}
    h, w, c = _input_spec(model, meta, path)
    shapes = [tuple(o.shape) for o in model.outputs]
    names = list(model.output_names)
    role = meta.get("role")
    if role is None:
        if len(shapes) == 1 and len(shapes[0]) == 3:
            role = "recognizer"
        elif len(shapes) == 3 and all(len(s) == 3 for s in shapes):
            role = "detector"
        else:
            raise ConvertError(
                f"{path}: unsupported architecture (outputs {shapes}); expected an edgeocr "
                "recognizer (B, T, classes) or detector (classes, boxes, corners)")
    inp = meta.get("input", {})
    colour: ColourMode = inp.get("colour", "grey" if c == 1 else "rgb")
    if colour not in ("grey", "rgb") or (colour == "grey") != (c == 1):
        raise ConvertError(f"{path}: metadata colour {colour!r} does not fit {c} input channels")
    value_range = tuple(float(v) for v in inp.get("range", (0.0, 1.0)))
    if len(value_range) != 2:
        raise ConvertError(f"{path}: metadata input.range must be two numbers")
    common: dict[str, Any] = {
        "height": h, "width": w, "channels": c, "colour": colour,
        "value_range": (value_range[0], value_range[1]), "metadata_found": bool(meta),
    }
    if role == "recognizer":
        return _describe_recognizer(model, path, meta, shapes, common)
    if role == "detector":
        return _describe_detector(path, meta, shapes, names, common)
    raise ConvertError(f"{path}: unknown role {role!r} in the edgeocr metadata")


def _describe_recognizer(model: Any, path: Path, meta: dict[str, Any],
                         shapes: list[tuple[Any, ...]], common: dict[str, Any]) -> ModelInfo:
    if len(shapes) != 1 or len(shapes[0]) != 3 or shapes[0][2] is None:
        raise ConvertError(f"{path}: a recognizer needs one (B, T, classes) output, got {shapes}")
    n_classes = int(shapes[0][2])
    charset = str(meta.get("charset", DEFAULT_CHARSET))
    if n_classes != len(charset) + 1:
        hint = "its metadata charset" if "charset" in meta else "no charset metadata, default"
        raise ConvertError(f"{path}: output has {n_classes} classes but {hint} has "
                           f"{len(charset)} characters (+1 blank)")
    declared = meta.get("head")
    if declared not in (None, "conv", "bilstm"):
        raise ConvertError(f"{path}: unknown recognizer head {declared!r}")
    # The layers decide the conversion route, whatever the metadata says.
    head: Literal["conv", "bilstm"] = "bilstm" if _has_rnn(model) else "conv"
    if declared is not None and declared != head:
        log.warning("%s: metadata says head %s but the model has a %s head", path, declared, head)
    return ModelInfo(role="recognizer", output_names=(RECOGNIZER_OUTPUT,),
                     output_is_logits=bool(meta.get("output_is_logits", False)), head=head,
                     charset=charset, **common)


def _detector_roles(names: list[str], shapes: list[tuple[Any, ...]], path: Path) -> tuple[str, ...]:
    if sorted(names) == sorted(DETECTOR_OUTPUTS):
        return tuple(names)
    # Not named by the contract: tell boxes and corners from their last dimension.
    by_dim = {4: "boxes", 8: "corners"}
    roles = [by_dim.get(int(s[2] or 0), "classes") for s in shapes]
    if sorted(roles) != sorted(DETECTOR_OUTPUTS):
        raise ConvertError(f"{path}: cannot tell classes/boxes/corners apart in outputs {shapes}; "
                           "name them 'classes', 'boxes', 'corners'")
    return tuple(roles)


def _describe_detector(path: Path, meta: dict[str, Any], shapes: list[tuple[Any, ...]],
                       names: list[str], common: dict[str, Any]) -> ModelInfo:
    if len(shapes) != 3:
        raise ConvertError(f"{path}: a detector needs classes, boxes and corners outputs")
    roles = _detector_roles(names, shapes, path)
    dims = {r: s for r, s in zip(roles, shapes, strict=True)}
    n_anchors = dims["classes"][1]
    if dims["boxes"][2] != 4 or dims["corners"][2] != 8 or any(
            s[1] != n_anchors for s in shapes):
        raise ConvertError(f"{path}: detector outputs {shapes} do not share one anchor count "
                           "with 4 box and 8 corner values")
    n_fg = int(dims["classes"][2]) - 1
    class_names = tuple(meta.get("class_names", ("plate", "house_number")[:n_fg]))
    if len(class_names) != n_fg:
        raise ConvertError(f"{path}: classes output has {n_fg} foreground classes but "
                           f"{len(class_names)} class names are known; add class_names metadata")
    try:
        anchors = (AnchorSpec.model_validate(meta["anchors"]) if "anchors" in meta
                   else default_anchor_spec(common["height"], common["width"]))
    except ValueError as exc:
        raise ConvertError(f"{path}: bad anchors metadata ({exc})") from None
    if anchors.num_anchors != n_anchors:
        raise ConvertError(f"{path}: outputs have {n_anchors} anchors but the anchor layout "
                           f"gives {anchors.num_anchors}")
    return ModelInfo(role="detector", output_names=roles,
                     output_is_logits=bool(meta.get("output_is_logits", True)),
                     class_names=class_names, anchors=anchors, **common)


# ---------------------------------------------------------------- TFLite conversion

def _batch1_unrolled_config(config: Any) -> Any:
    """Copy of a functional model config with a batch-1 input and every RNN unrolled."""
    if isinstance(config, list):
        return [_batch1_unrolled_config(v) for v in config]
    if not isinstance(config, dict):
        return config
    out = {k: _batch1_unrolled_config(v) for k, v in config.items()}
    inner = out.get("config")
    if isinstance(inner, dict):
        if out.get("class_name") in _RNN_CLASSES:
            inner["unroll"] = True
        if out.get("class_name") == "InputLayer" and inner.get("batch_shape"):
            inner["batch_shape"] = [1, *list(inner["batch_shape"])[1:]]
    return out


def unrolled_copy(model: Any) -> Any:
    """The same network with unrolled RNNs and batch 1, weights copied.

    Keras 3 LSTMs convert to a WHILE loop whose int8 calibration crashes TF 2.21; unrolled
    they become plain FULLY_CONNECTED/LOGISTIC/TANH ops that quantize.
    """
    import keras

    try:
        clone = keras.Model.from_config(_batch1_unrolled_config(model.get_config()))
        clone.set_weights(model.get_weights())
    except Exception as exc:
        raise ConvertError(f"cannot rebuild the BiLSTM model unrolled ({exc})") from None
    return clone


def _named_outputs(model: Any, info: ModelInfo, x: Any) -> dict[str, Any]:
    y = model(x, training=False)
    if isinstance(y, dict):
        ordered = [y[n] for n in model.output_names]
    elif isinstance(y, list | tuple):
        ordered = list(y)
    else:
        ordered = [y]
    return dict(zip(info.output_names, ordered, strict=True))


def keras_outputs(model: Any, info: ModelInfo, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run the Keras model on a batch; outputs by runtime name, as numpy."""
    return {k: v.numpy() if hasattr(v, "numpy") else np.asarray(v)
            for k, v in _named_outputs(model, info, x).items()}


def quantize_int8(model: Any, info: ModelInfo, representative: Callable[[], Iterable[np.ndarray]],
                  workdir: Path) -> bytes:
    """Full-integer TFLite bytes: int8 input, int8 outputs, int8 builtin ops only.

    ``representative`` yields float32 (1, H, W, C) inputs.
    """
    return to_tflite(model, info, workdir, "int8", representative)


def to_tflite(model: Any, info: ModelInfo, workdir: Path, precision: Precision = "int8",
              representative: Callable[[], Iterable[np.ndarray]] | None = None) -> bytes:
    """TFLite bytes of ``model``: full int8 (needs ``representative``) or plain float32.

    Both share one export: a batch-1 input named ``image`` (a dynamic batch adds SHAPE ops
    the Edge TPU lacks) and outputs named ``info.output_names``; ``from_concrete_functions``
    is avoided (it drops Keras 3 weights). float32 turns the default optimizations off so the
    weights stay float too: it is the reference the int8 twin is measured against.
    """
    if precision == "int8" and representative is None:
        raise ValueError("int8 conversion needs a representative dataset")
    import keras
    import tensorflow as tf

    if info.role == "recognizer" and info.head == "bilstm":
        model = unrolled_copy(model)
    spec = tf.TensorSpec((1, info.height, info.width, info.channels), tf.float32, name="image")
    archive = keras.export.ExportArchive()
    archive.track(model)

    def serve(x: Any) -> dict[str, Any]:
        return _named_outputs(model, info, x)

    archive.add_endpoint("serve", serve, input_signature=[spec])
    saved = workdir / "saved_model"
    archive.write_out(str(saved), verbose=False)

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
    if representative is not None and precision == "int8":
        source = representative

        def dataset() -> Iterator[list[np.ndarray]]:
            for x in source():
                yield [np.asarray(x, dtype=np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    else:
        converter.optimizations = []
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        data: bytes = converter.convert()
    except Exception as exc:
        first = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConvertError(f"TFLite {precision} conversion failed ({first[:300]})") from None
    return data


# ---------------------------------------------------------------- sidecar

def _quant(detail: dict[str, Any]) -> QuantParams | None:
    scale, zero = detail["quantization"]
    return QuantParams(scale=float(scale), zero_point=int(zero)) if scale else None


def _dtype(detail: dict[str, Any]) -> Literal["int8", "uint8", "float32"]:
    name = np.dtype(detail["dtype"]).name
    if name not in ("int8", "uint8", "float32"):
        raise ConvertError(f"unexpected tensor type {name} in the converted model")
    return "int8" if name == "int8" else "uint8" if name == "uint8" else "float32"


def make_sidecar(info: ModelInfo, tflite_path: Path, name: str, sha256: str,
                 source_sha256: str | None, versions: dict[str, str],
                 metrics: dict[str, float] | None = None,
                 edgetpu_compiled: bool = False) -> Sidecar:
    """The sidecar of a converted model, with quant params read back from the file."""
    from ai_edge_litert.interpreter import Interpreter

    runner = Interpreter(model_path=str(tflite_path)).get_signature_runner()
    in_detail = next(iter(runner.get_input_details().values()))
    outputs = tuple(
        OutputSpec(name=n, shape=tuple(int(d) for d in det["shape"]), dtype=_dtype(det),
                   quant=_quant(det))
        for n, det in sorted(runner.get_output_details().items(),
                             key=lambda kv: info.output_names.index(kv[0])))
    input_spec = InputSpec(height=info.height, width=info.width, channels=info.channels,  # type: ignore[arg-type]
                           colour=info.colour, dtype=_dtype(in_detail), range=info.value_range,
                           quant=_quant(in_detail))
    rec = det = None
    if info.role == "recognizer":
        rec = RecognizerSpec(charset=info.charset or DEFAULT_CHARSET, head=info.head,
                             output_is_logits=info.output_is_logits)
    else:
        if info.anchors is None or info.class_names is None:
            raise ConvertError("detector description lacks anchors or class names")
        det = DetectorSpec(class_names=info.class_names, anchors=info.anchors,
                           output_is_logits=info.output_is_logits,
                           outputs={n: n for n in info.output_names})
    return Sidecar(role=info.role, name=name, input=input_spec, outputs=outputs,
                   recognizer=rec, detector=det, sha256=sha256, source_sha256=source_sha256,
                   versions=versions, edgetpu_compiled=edgetpu_compiled, metrics=metrics or {})


def tool_versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    import edgeocr_convert

    versions = {"edgeocr_convert": edgeocr_convert.__version__, "tensorflow": tf.__version__,
                "keras": keras.__version__,
                "converter": f"tf.lite.TFLiteConverter {tf.__version__}"}
    try:
        from importlib.metadata import version

        versions["ai_edge_litert"] = version("ai-edge-litert")
    except Exception:
        pass
    return versions


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file in the same folder and a rename, so a
    failure never leaves a half-written model behind."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
