"""CPU backend: LiteRT (``ai-edge-litert``) with XNNPACK, or ``tflite_runtime`` as a fallback.

ai-edge-litert runs int8 models through XNNPACK (0.35 ms for the conv CRNN where
tflite-runtime 2.14 takes 2.3 ms, see docs), so it is preferred; tflite-runtime is kept
for devices whose Python or numpy only has that wheel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeocr.core.sidecar import Sidecar

INSTALL_HINT = "pip install ai-edge-litert (or tflite-runtime on devices without its wheels)"


def interpreter_class() -> Any:
    """The Interpreter class of the first TFLite runtime that imports."""
    from edgeocr.runtime import RuntimeBackendError

    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter as LegacyInterpreter

        return LegacyInterpreter
    except ImportError:
        raise RuntimeBackendError(f"no TFLite runtime installed: {INSTALL_HINT}") from None


def create_interpreter(path: Path, sidecar: Sidecar, threads: int) -> Any:
    from edgeocr.runtime import RuntimeBackendError

    if sidecar.edgetpu_compiled:
        raise RuntimeBackendError(
            f"{path}: model is compiled for the Edge TPU and cannot run on the CPU; "
            "use delegate 'edgetpu' or the uncompiled model"
        )
    cls = interpreter_class()
    try:
        return cls(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise RuntimeBackendError(f"{path}: the TFLite runtime cannot load it ({exc})") from None
