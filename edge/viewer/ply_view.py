"""`inspect --ply`: the scored scan as a PLY that CloudCompare, MeshLab and Open3D open with its colours.

Vertex properties: ``x y z`` (the scan's frame), ``score`` (calibrated, 0.5 = threshold; NaN where unscored),
``red green blue`` (turbo colours of the score) and ``missing`` (1 for template points of missing material,
appended after the scan points and coloured magenta).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.io import PointCloud, write_cloud
from edge.viewer.scene import MISSING_COLOUR, Scene, score_colours


def write_scene_ply(scene: Scene, out: str | Path) -> Path:
    """Write ``scene`` to ``out`` (binary little-endian PLY); the path written."""
    points = np.concatenate([scene.points, scene.missing]).astype(np.float32)
    scores = np.concatenate([scene.scores, np.full(len(scene.missing), np.nan, np.float32)]).astype(np.float32)
    colours = np.concatenate([score_colours(scene.scores), np.tile(np.uint8(MISSING_COLOUR), (len(scene.missing), 1))])
    flag = np.concatenate([np.zeros(len(scene.points), np.uint8), np.ones(len(scene.missing), np.uint8)])
    extra = {"score": scores, "red": colours[:, 0], "green": colours[:, 1], "blue": colours[:, 2], "missing": flag}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_cloud(out, PointCloud(points, extra=extra))
    return out
