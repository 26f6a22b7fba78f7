"""Pure code shared by the device and desktop sides (numpy + OpenCV only)."""
