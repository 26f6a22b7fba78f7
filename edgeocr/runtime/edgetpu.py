"""Edge TPU backend: LiteRT with ``libedgetpu`` loaded as an external delegate.

Three different failures get three different messages: the model was not compiled with
``edgetpu_compiler``, the Edge TPU runtime library is not installed, or the library is
there but no Edge TPU answers.
"""

from __future__ import annotations

import ctypes
import platform
from pathlib import Path
from typing import Any

from edgeocr.core.sidecar import Sidecar

LIBRARIES = {"Linux": "libedgetpu.so.1", "Darwin": "libedgetpu.1.dylib", "Windows": "edgetpu.dll"}
CUSTOM_OP = b"edgetpu-custom-op"
"""Name of the op edgetpu_compiler puts in a compiled model's op codes."""

LIBRARY_HINT = (
    "install the Edge TPU runtime: add the Coral apt repository "
    "(https://coral.ai/software/#debian-packages) and run "
    "'sudo apt-get install libedgetpu1-std'"
)
DEVICE_HINT = (
    "plug in the USB Accelerator (use a USB 3 port) or, for M.2/PCIe, install "
    "gasket-dkms and check /dev/apex_0; the user needs to be in the plugdev/apex group"
)


def library_name() -> str:
    return LIBRARIES.get(platform.system(), LIBRARIES["Linux"])


def _check_compiled(path: Path, sidecar: Sidecar) -> None:
    from edgeocr.runtime import RuntimeBackendError

    if not sidecar.edgetpu_compiled:
        raise RuntimeBackendError(
            f"{path}: model is not compiled for the Edge TPU (its sidecar says "
            "edgetpu_compiled=false); compile it with edgetpu_compiler or use delegate 'cpu'"
        )


def load_edgetpu_delegate(device: str | None = None) -> Any:
    """The libedgetpu delegate; RuntimeBackendError when the library or device is missing."""
    from edgeocr.runtime import RuntimeBackendError
    from edgeocr.runtime.cpu import INSTALL_HINT

    lib = library_name()
    try:
        ctypes.CDLL(lib)
    except OSError:
        raise RuntimeBackendError(f"{lib} not found: {LIBRARY_HINT}") from None
    try:
        from ai_edge_litert.interpreter import load_delegate
    except ImportError:
        try:
            from tflite_runtime.interpreter import load_delegate
        except ImportError:
            raise RuntimeBackendError(f"no TFLite runtime installed: {INSTALL_HINT}") from None
    options = {"device": device} if device else {}
    try:
        return load_delegate(lib, options)
    except (ValueError, OSError, RuntimeError) as exc:
        raise RuntimeBackendError(
            f"no Edge TPU found ({lib} loaded: {exc}); {DEVICE_HINT}"
        ) from None


def create_interpreter(path: Path, sidecar: Sidecar, threads: int) -> Any:
    from edgeocr.runtime import RuntimeBackendError
    from edgeocr.runtime.cpu import interpreter_class

    _check_compiled(path, sidecar)
    delegate = load_edgetpu_delegate()
    if CUSTOM_OP not in path.read_bytes():
        raise RuntimeBackendError(
            f"{path}: model is not compiled for the Edge TPU (no {CUSTOM_OP.decode()} in it, "
            "although its sidecar says edgetpu_compiled=true); recompile with edgetpu_compiler"
        )
    cls = interpreter_class()
    try:
        return cls(model_path=str(path), experimental_delegates=[delegate], num_threads=threads)
    except (ValueError, RuntimeError) as exc:
        raise RuntimeBackendError(f"{path}: the Edge TPU delegate cannot run it ({exc})") from None
