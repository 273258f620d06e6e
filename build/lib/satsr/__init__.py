"""satsr: georeferenced 4x super-resolution of satellite imagery."""

__version__ = "0.1.0"
SCALE = 4  # satsr maps 30 cm satellite pixels onto 7.5 cm aerial pixels
