"""Point-cloud files and the frame wire codec."""

from edge.io.cloud import PointCloud
from edge.io.errors import CloudFormatError
from edge.io.files import read_cloud, write_cloud

__all__ = ["PointCloud", "CloudFormatError", "read_cloud", "write_cloud"]
