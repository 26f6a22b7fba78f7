"""Static Edge TPU gate, and ``edgetpu_compiler`` when it is installed.

No Edge TPU compiler exists for this platform's package managers, so CI checks what the
compiler would check first: integer-only tensors, static shapes, batch 1 and every op on the
Coral list. A model that passes still needs ``edgetpu_compiler`` (on an x86-64 Debian host)
before a Coral runs it; when the compiler is on PATH this module runs it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# TFLite builtin ops the Edge TPU compiler maps, from Coral's "supported operations" table
# (TensorFlow models on the Edge TPU). Each has extra constraints (e.g. tensors of at most 3
# non-unit dimensions, LSTM unidirectional only) that only the compiler checks.
CORAL_OPS: frozenset[str] = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS",
    "FULLY_CONNECTED", "L2_NORMALIZATION", "LOGISTIC", "LSTM", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE",
    "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT",
    "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV",
})
_INTEGER_TYPES = frozenset({"int8", "uint8", "int16", "int32", "int64"})
COMPILER = "edgetpu_compiler"


@dataclass
class CompilerResult:
    ran: bool
    command: str
    output_model: str | None = None
    ops_on_tpu: int | None = None
    ops_on_cpu: int | None = None
    returncode: int | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class EdgeTpuReport:
    """Outcome of the static gate. ``ok`` means the compiler should map every op."""

    ops: dict[str, int]
    problems: list[str] = field(default_factory=list)
    cpu_ops: list[str] = field(default_factory=list)
    """Ops the Edge TPU cannot run, by name (they fall back to the CPU)."""
    first_cpu_op: int | None = None
    """Execution index of the first unsupported op: the compiler maps only the graph up to
    it, so it and everything after it run on the CPU."""
    compiler: CompilerResult | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": self.problems, "cpu_ops": self.cpu_ops,
                "first_cpu_op": self.first_cpu_op, "ops": self.ops,
                "compiler": self.compiler.as_dict() if self.compiler else None}


def _short(name: str, keep: int = 48) -> str:
    # Fused tensor names join many layer paths with ';': the tail names the layer.
    return name if len(name) <= keep else "…" + name[-keep:]


def check_model(path: Path) -> EdgeTpuReport:
    """Check a ``.tflite`` file against what the Edge TPU compiler needs."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Default delegates would replace the graph by XNNPACK DELEGATE nodes and hide the ops.
    interp = Interpreter(model_path=str(path), experimental_op_resolver_type=(
        OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    op_names = [str(op["op_name"]) for op in interp._get_ops_details()]
    report = EdgeTpuReport(ops=dict(Counter(op_names)))
    unsupported = [i for i, name in enumerate(op_names) if name not in CORAL_OPS]
    if unsupported:
        report.cpu_ops = sorted({op_names[i] for i in unsupported})
        report.first_cpu_op = unsupported[0]
        report.problems.append(
            f"ops not on the Edge TPU list (run on the CPU): {', '.join(report.cpu_ops)}; "
            f"from op {unsupported[0]} of {len(op_names)} on, the rest of the graph runs on the "
            "CPU")
    floats = sorted({str(t["name"]) for t in interp.get_tensor_details()
                     if np.dtype(t["dtype"]).name not in _INTEGER_TYPES})
    if floats:
        shown = ", ".join(_short(n) for n in floats[:2]) + (" ..." if len(floats) > 2 else "")
        report.problems.append(f"{len(floats)} non-integer tensors ({shown})")
    for kind, details in (("input", interp.get_input_details()),
                          ("output", interp.get_output_details())):
        for d in details:
            sig = [int(v) for v in d.get("shape_signature", d["shape"])]
            if any(v < 0 for v in sig):
                report.problems.append(f"{kind} {d['name']} has a dynamic shape {sig}")
            if kind == "input" and (not sig or sig[0] != 1):
                report.problems.append(f"input {d['name']} batch is {sig[:1]}, not 1")
            if np.dtype(d["dtype"]).name not in ("int8", "uint8"):
                report.problems.append(f"{kind} {d['name']} is {np.dtype(d['dtype']).name}")
    return report


def compiler_command(path: Path, out_dir: Path | None = None) -> list[str]:
    return [COMPILER, "-s", "-o", str(out_dir or path.parent), str(path)]


def _count(pattern: str, text: str) -> int | None:
    m = re.search(pattern, text)
    return int(m.group(1)) if m else None


def run_compiler(path: Path, out_dir: Path | None = None, timeout: float = 600) -> CompilerResult:
    """Run ``edgetpu_compiler`` when it is on PATH; otherwise say how to run it elsewhere.

    The compiler writes ``<stem>_edgetpu.tflite`` (and a ``.log``) into ``out_dir``.
    """
    cmd = compiler_command(path, out_dir)
    shown = " ".join(cmd)
    if shutil.which(COMPILER) is None:
        return CompilerResult(ran=False, command=shown, message=(
            f"{COMPILER} is not on PATH; on an x86-64 Debian/Ubuntu host with Coral's apt "
            f"repository (apt install edgetpu-compiler) run: {shown}"))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CompilerResult(ran=False, command=shown, message=f"{COMPILER} failed: {exc}")
    text = proc.stdout + proc.stderr
    out_model = (out_dir or path.parent) / f"{path.stem}_edgetpu.tflite"
    total = _count(r"Total number of operations:\s*(\d+)", text)
    on_tpu = _count(r"will run on Edge TPU:\s*(\d+)", text)
    on_cpu = _count(r"will run on CPU:\s*(\d+)", text)
    if on_tpu is None and total is not None and proc.returncode == 0:
        # The compiler prints the per-device counts only when some ops fall back.
        on_tpu, on_cpu = total, 0
    last = next((ln for ln in reversed(text.strip().splitlines()) if ln.strip()), "")
    return CompilerResult(
        ran=True, command=shown, returncode=proc.returncode,
        output_model=str(out_model) if proc.returncode == 0 and out_model.is_file() else None,
        ops_on_tpu=on_tpu, ops_on_cpu=on_cpu, message=last.strip())
