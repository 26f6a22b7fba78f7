"""edgeocr: licence-plate and house-number reader for the edge.

Importing the package is cheap: nothing heavy (OpenCV, LiteRT, paho) is imported here.
"""

__version__ = "0.1.0"
