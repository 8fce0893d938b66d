"""Point-cloud files and the frame wire codec."""

from edge.io.cloud import PointCloud
from edge.io.errors import CloudFormatError

__all__ = ["PointCloud", "CloudFormatError"]
