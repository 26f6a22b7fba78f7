"""Inference backends and the model wrapper every device stage uses.

Backends are registered by name in :data:`BACKENDS`; each is one module exposing
``create_interpreter(path, sidecar, threads)``, imported only when asked for, so a device
without libedgetpu (or without any TFLite runtime) can still import ``edgeocr``.

:class:`TFLiteModel` hides quantization: callers pass float inputs in the model's float
range and get float32 outputs keyed by the sidecar's output names.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edgeocr.core.sidecar import Sidecar, SidecarError, load_sidecar
from edgeocr.core.types import Role

FloatArray = npt.NDArray[np.float32]

BACKENDS: dict[str, str] = {
    "cpu": "edgeocr.runtime.cpu",
    "edgetpu": "edgeocr.runtime.edgetpu",
}
"""Backend name -> module with ``create_interpreter(path, sidecar, threads)``."""

_INT_RANGES = {np.dtype(np.int8): (-128, 127), np.dtype(np.uint8): (0, 255)}
# Interpreter and sidecar quantization may differ by float round-off (the sidecar stores a
# JSON float); anything beyond that means the sidecar describes another model.
_QUANT_RTOL = 1e-4


class RuntimeBackendError(Exception):
    """A runtime, delegate or accelerator is missing, or a model cannot run on it."""


class _BackendModule(Protocol):
    def create_interpreter(self, path: Path, sidecar: Sidecar, threads: int) -> Any: ...


def resolve_threads(threads: int) -> int:
    """Interpreter threads: 0 means every core."""
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    return threads if threads > 0 else (os.cpu_count() or 1)


def get_backend(name: str) -> _BackendModule:
    """The backend module registered as ``name``."""
    target = BACKENDS.get(name)
    if target is None:
        known = ", ".join(sorted(BACKENDS))
        raise RuntimeBackendError(f"unknown delegate {name!r} (known: {known})")
    module: _BackendModule = importlib.import_module(target)  # type: ignore[assignment]
    return module


class TFLiteModel:
    """One allocated interpreter with float-in, float-out calls.

    The input is quantized with the scale and zero point the interpreter reports (checked
    against the sidecar). Outputs are found by signature name when the model has a
    signature, else by shape: ``get_output_details()`` order is not the Keras order.
    """

    def __init__(self, interpreter: Any, sidecar: Sidecar, path: Path) -> None:
        self.interpreter = interpreter
        self.sidecar = sidecar
        self.path = path
        interpreter.allocate_tensors()
        in_details, out_details = _io_details(interpreter)
        if len(in_details) != 1:
            raise SidecarError(f"{path}: expected one input tensor, found {len(in_details)}")
        inp = in_details[0]
        spec = sidecar.input
        want = (1, spec.height, spec.width, spec.channels)
        self.input_shape: tuple[int, ...] = tuple(int(v) for v in inp["shape"])
        if self.input_shape != want:
            raise SidecarError(
                f"{path}: input shape {self.input_shape} does not match its sidecar {want}"
            )
        self._in_index = int(inp["index"])
        self.input_dtype = np.dtype(inp["dtype"])
        self._in_scale, self._in_zp = _quant(inp)
        if self.input_dtype in _INT_RANGES:
            _check_quant(path, "input", (self._in_scale, self._in_zp), spec.quant)
        self._in_float = np.empty(self.input_shape, np.float32)
        self._luts: dict[tuple[float, float], npt.NDArray[Any]] = {}
        self._outputs = _match_outputs(path, sidecar, out_details)

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _, _ in self._outputs)

    def output_shape(self, name: str) -> tuple[int, ...]:
        for n, _, shape, _ in self._outputs:
            if n == name:
                return shape
        raise KeyError(name)

    def set_input(self, x: npt.NDArray[np.floating]) -> None:
        """Quantize ``x`` (float, the model's input shape) into the input tensor."""
        if x.shape != self.input_shape:
            raise ValueError(f"input shape {x.shape} != model input {self.input_shape}")
        # A fresh view of the interpreter's own input buffer: writing into it saves the
        # copy set_tensor() makes. Views must not outlive an invoke, hence no caching.
        target = self.interpreter.tensor(self._in_index)()
        if self.input_dtype in _INT_RANGES:
            lo, hi = _INT_RANGES[self.input_dtype]
            buf = self._in_float
            np.divide(x, self._in_scale, out=buf)
            np.rint(buf, out=buf)
            buf += self._in_zp
            np.clip(buf, lo, hi, out=buf)
            np.copyto(target, buf, casting="unsafe")
        else:
            np.copyto(target, x, casting="same_kind")

    def pixel_lut(self, value_range: tuple[float, float]) -> npt.NDArray[Any]:
        """The input value of each 8-bit pixel 0..255 mapped linearly onto ``value_range``
        and quantized like :meth:`set_input` (cached per range)."""
        lut = self._luts.get(value_range)
        if lut is None:
            lo, hi = value_range
            x = lo + np.arange(256, dtype=np.float64) * ((hi - lo) / 255.0)
            if self.input_dtype in _INT_RANGES:
                qlo, qhi = _INT_RANGES[self.input_dtype]
                x = np.clip(np.rint(x / self._in_scale) + self._in_zp, qlo, qhi)
            lut = x.astype(self.input_dtype)
            self._luts[value_range] = lut
        return lut

    def set_input_pixels(self, pixels: npt.NDArray[np.uint8],
                         value_range: tuple[float, float] = (0.0, 1.0)) -> None:
        """Fill the input from 8-bit pixels (the input's shape, batch axis optional).

        One table lookup per pixel replaces the float conversion and quantization: a
        320x320x3 frame costs a fraction of a millisecond instead of several.
        """
        if pixels.dtype != np.uint8 or pixels.size != self._in_float.size:
            raise ValueError(
                f"expected uint8 pixels of shape {self.input_shape}, got {pixels.dtype} "
                f"{pixels.shape}"
            )
        target = self.interpreter.tensor(self._in_index)()
        np.take(self.pixel_lut(value_range), pixels.reshape(self.input_shape), out=target)

    def warm_up(self) -> None:
        """One invoke on zeros: XNNPACK packs weights on the first call, which should not
        land on the first real frame's timing."""
        self.set_input(np.zeros(self.input_shape, np.float32))
        self.interpreter.invoke()

    def invoke(self, x: npt.NDArray[np.floating] | None = None) -> dict[str, FloatArray]:
        """Run once on float input ``x`` (None: on what set_input / set_input_pixels put
        there); float32 outputs keyed by sidecar output name."""
        if x is not None:
            self.set_input(x)
        self.interpreter.invoke()
        out: dict[str, FloatArray] = {}
        for name, index, _, (scale, zp) in self._outputs:
            raw = self.interpreter.tensor(index)()  # a view; the result below is a copy
            if raw.dtype.kind in "iu":
                res = raw.astype(np.float32)
                res -= zp
                res *= scale
                out[name] = res
            else:
                out[name] = raw.astype(np.float32, copy=True)
        return out


def _io_details(interpreter: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Input and output details, outputs carrying a ``signature_name`` when known."""
    try:
        sigs = interpreter.get_signature_list()
    except (AttributeError, ValueError):
        sigs = {}
    if len(sigs) == 1:
        runner = interpreter.get_signature_runner()
        ins = list(runner.get_input_details().values())
        outs = []
        for name, d in runner.get_output_details().items():
            outs.append({**d, "signature_name": name})
        return ins, outs
    return list(interpreter.get_input_details()), list(interpreter.get_output_details())


def _quant(details: dict[str, Any]) -> tuple[float, int]:
    scale, zp = details.get("quantization", (0.0, 0))
    return float(scale), int(zp)


def _check_quant(path: Path, what: str, actual: tuple[float, int], side: Any) -> None:
    if side is None:
        return
    scale, zp = actual
    if zp != side.zero_point or abs(scale - side.scale) > _QUANT_RTOL * max(abs(scale), 1e-12):
        raise SidecarError(
            f"{path}: {what} quantization (scale {scale:.6g}, zero point {zp}) differs from "
            f"its sidecar (scale {side.scale:.6g}, zero point {side.zero_point}); "
            "the sidecar describes another model"
        )


def _match_outputs(
    path: Path, sidecar: Sidecar, details: list[dict[str, Any]]
) -> list[tuple[str, int, tuple[int, ...], tuple[float, int]]]:
    """(name, tensor index, shape, (scale, zero point)) for each output, in sidecar order."""
    found = [
        (d.get("signature_name") or str(d["name"]), int(d["index"]),
         tuple(int(v) for v in d["shape"]), d)
        for d in details
    ]
    wanted = sidecar.outputs
    if not wanted:
        return [(name, idx, shape, _quant(d)) for name, idx, shape, d in found]
    by_name = {name: (idx, shape, d) for name, idx, shape, d in found}
    taken: set[int] = set()
    result = []
    for spec in wanted:
        hit = by_name.get(spec.name)
        if hit is None or hit[0] in taken:
            same = [(i, s, d) for _, i, s, d in found if s == spec.shape and i not in taken]
            if len(same) != 1:
                raise SidecarError(
                    f"{path}: cannot find output {spec.name!r} {spec.shape} in the model "
                    f"(outputs: {', '.join(f'{n} {s}' for n, _, s, _ in found)})"
                )
            hit = same[0]
        idx, shape, d = hit
        if shape != spec.shape:
            raise SidecarError(
                f"{path}: output {spec.name!r} has shape {shape}, its sidecar says {spec.shape}"
            )
        taken.add(idx)
        q = _quant(d)
        if np.dtype(d["dtype"]) in _INT_RANGES:
            _check_quant(path, f"output {spec.name!r}", q, spec.quant)
        result.append((spec.name, idx, shape, q))
    return result


def load_model(path: Path, role: Role, delegate: str = "cpu", threads: int = 0,
               warm_up: bool = True) -> TFLiteModel:
    """Load ``path`` with its sidecar on the ``delegate`` backend (and run it once).

    Raises SidecarError (missing/mismatched model or sidecar, wrong role) or
    RuntimeBackendError (runtime, delegate or accelerator missing).
    """
    path = Path(path)
    sidecar = load_sidecar(path, expected_role=role)
    backend = get_backend(delegate)
    interpreter = backend.create_interpreter(path, sidecar, resolve_threads(threads))
    model = TFLiteModel(interpreter, sidecar, path)
    if warm_up:
        model.warm_up()
    return model


def load_role_model(model: Path | None, role: Role, shipped: Path, delegate: str = "cpu",
                    threads: int = 0) -> TFLiteModel:
    """Load ``model``, or the ``shipped`` default when it is None, with a clear error when
    the shipped one is missing."""
    path = Path(model) if model is not None else shipped
    if model is None and not path.is_file():
        raise SidecarError(
            f"{path}: the shipped {role} model is missing; reinstall edgeocr or pass "
            f"a model path (--{role} / models.{role})"
        )
    return load_model(path, role, delegate, threads)
