"""Compiled CPU kernels (numba) behind the geometry ops whose torch form is a long chain of small element-wise ops.

On the CPU such a chain pays a dispatch and a pass over memory per op; one compiled loop per point does the same
arithmetic in registers. Each module here is the CPU kernel of one op whose public function (and CUDA kernel) lives
in its own geometry module; when numba is not installed the op's torch code runs instead, with one log line. Every
kernel works in float64, which is also open3d's precision. ``_numba`` holds what they share: numba's import, a
threading layer that concurrent service workers may call, the thread count and the caching ``jit``.
"""

from edge.geometry.compiled._numba import AVAILABLE, _jit, set_threads
from edge.geometry.compiled.distances import gathered_squared_distances
from edge.geometry.compiled.fpfh import BINS, FEATURES, fpfh_histograms
from edge.geometry.compiled.fps import farthest_points
from edge.geometry.compiled.orientation import propagate_signs
from edge.geometry.compiled.pca import neighbourhood_pca
from edge.geometry.compiled.variation import feature_variation

__all__ = ["AVAILABLE", "BINS", "FEATURES", "_jit", "farthest_points", "feature_variation", "fpfh_histograms",
           "gathered_squared_distances", "neighbourhood_pca", "propagate_signs", "set_threads"]
