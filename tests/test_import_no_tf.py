"""The device package never imports TensorFlow, Keras or the desktop package.

Every module under ``edgeocr/`` is imported in a fresh interpreter in which those imports
raise ImportError, as on a Raspberry Pi without them installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib, importlib.abc, json, pkgutil, sys, traceback

BLOCKED = ("tensorflow", "keras", "tf_keras", "edgeocr_convert")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked by test: {name}")
        return None

sys.meta_path.insert(0, Block())

import edgeocr

failures = {}
modules = ["edgeocr"]
def onerror(name):
    failures[name] = traceback.format_exc(limit=3)
for info in pkgutil.walk_packages(edgeocr.__path__, "edgeocr.", onerror=onerror):
    if not info.name.endswith(".__main__"):  # importing it would run the CLI
        modules.append(info.name)
for name in modules:
    try:
        importlib.import_module(name)
    except Exception:
        failures[name] = traceback.format_exc(limit=3)
leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
print(json.dumps({"modules": modules, "failures": failures, "leaked": leaked}))
"""


def test_every_edgeocr_module_imports_without_tensorflow() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failures"] == {}, "\n".join(
        f"{name}:\n{tb}" for name, tb in result["failures"].items()
    )
    assert result["leaked"] == []
    modules = set(result["modules"])
    # The walk really covered the package (guards against an empty walk passing trivially).
    assert {"edgeocr.config", "edgeocr.core.types", "edgeocr.data.labels",
            "edgeocr.cli.check_config"} <= modules
