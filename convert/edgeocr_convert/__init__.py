"""edgeocr-convert: synthetic data, training, int8 conversion and verification (desktop)."""

__version__ = "0.1.0"
