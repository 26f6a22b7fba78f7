"""Model sidecar: everything the runtime needs to pre- and post-process a model.

Every ``model.tflite`` ships with ``model.json`` next to it (same stem). Runtime code
configures itself from the sidecar, never from constants, so a user-trained model with
another input size, charset, class list or anchor layout runs unchanged.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeocr.core.anchors import AnchorSpec
from edgeocr.core.charset import DEFAULT_CHARSET
from edgeocr.core.types import ColourMode, Role

SCHEMA_VERSION = 1


class SidecarError(Exception):
    """A model file or its sidecar is missing, malformed or does not match."""


class QuantParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: float
    zero_point: int


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    height: int = Field(gt=0)
    width: int = Field(gt=0)
    channels: Literal[1, 3]
    colour: ColourMode
    dtype: Literal["int8", "uint8", "float32"]
    range: tuple[float, float] = (0.0, 1.0)
    """Float value range the model was trained on: pixel 0 maps to range[0], 255 to range[1]."""
    quant: QuantParams | None = None
    """Input quantization (int8 models): q = round(x / scale) + zero_point."""


class OutputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    shape: tuple[int, ...]
    dtype: Literal["int8", "uint8", "float32"]
    quant: QuantParams | None = None


class RecognizerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    charset: str = DEFAULT_CHARSET
    blank_index: Literal[0] = 0
    head: Literal["conv", "bilstm"] = "conv"
    output_is_logits: bool = False
    """True when the model ends before the softmax (the runtime applies it)."""


class DetectorSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    class_names: tuple[str, ...] = Field(min_length=1)
    """Foreground classes; class index 0 of the model output is background."""
    anchors: AnchorSpec
    output_is_logits: bool = True
    outputs: dict[str, str] = Field(default_factory=dict)
    """Role of each output tensor by name: 'classes', 'boxes', 'corners'."""
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    """Operating score threshold chosen when the model was converted (edgeocr-convert
    measures it on real plate-free photos and synthetic scenes); None: 0.5."""


class Sidecar(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int = SCHEMA_VERSION
    role: Role
    name: str
    input: InputSpec
    outputs: tuple[OutputSpec, ...] = ()
    recognizer: RecognizerSpec | None = None
    detector: DetectorSpec | None = None
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of the model file this sidecar describes."""
    source_sha256: str | None = None
    """sha256 of the Keras file it was converted from."""
    versions: dict[str, str] = Field(default_factory=dict)
    edgetpu_compiled: bool = False
    metrics: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _role_section(self) -> Sidecar:
        if self.role == "recognizer" and self.recognizer is None:
            raise ValueError("a recognizer sidecar needs a 'recognizer' section")
        if self.role == "detector" and self.detector is None:
            raise ValueError("a detector sidecar needs a 'detector' section")
        return self


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def load_sidecar(model_path: Path, expected_role: Role | None = None,
                 check_hash: bool = True) -> Sidecar:
    """Load and check the sidecar of ``model_path``.

    Raises SidecarError with the path and the fix when the model or sidecar is missing,
    the sidecar is malformed, the role is not the expected one, or the hash differs.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise SidecarError(f"{model_path}: model file not found")
    side = sidecar_path(model_path)
    if not side.is_file():
        raise SidecarError(
            f"{side}: sidecar not found (every model needs one; edgeocr-convert writes it)"
        )
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
        sc = Sidecar.model_validate(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SidecarError(f"{side}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise SidecarError(f"{side}: {loc}: {first['msg']}") from None
    if expected_role is not None and sc.role != expected_role:
        raise SidecarError(f"{model_path}: is a {sc.role} model, expected a {expected_role}")
    if check_hash:
        actual = sha256_file(model_path)
        if actual != sc.sha256:
            raise SidecarError(
                f"{model_path}: sha256 {actual[:12]}… does not match its sidecar "
                f"({sc.sha256[:12]}…); the model or the sidecar was replaced"
            )
    return sc


def write_sidecar(model_path: Path, sidecar: Sidecar) -> Path:
    path = sidecar_path(Path(model_path))
    path.write_text(json.dumps(sidecar.model_dump(mode="json"), indent=2) + "\n",
                    encoding="utf-8")
    return path
