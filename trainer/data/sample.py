"""`Sample`: one labelled point cloud as every loader and the synthetic generator return it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GOOD = "good"
"""The defect kind of a normal (defect-free) cloud."""

NORMAL_WORDS = frozenset({"good", "positive", "template", "normal", "ok"})
"""File-name words that mean a normal cloud (Real3D-AD `good`/`template`, Anomaly-ShapeNet `positive`)."""

_WORD = re.compile(r"([A-Za-z]+)\d*$")


def parse_kind(stem: str) -> str:
    """The defect word of a cloud's file stem: `12_hole` -> `hole`, `casting_broken0` -> `broken`.

    The word is the last `_`-separated token without its trailing digits; normal words
    (`good`, `positive`, `template`, ...) map to `GOOD`. Raises ValueError when the stem
    has no such word, since a mislabelled sample would silently corrupt an evaluation.
    """
    token = Path(stem).stem.rsplit("_", 1)[-1]
    match = _WORD.fullmatch(token)
    if match is None:
        raise ValueError(f"cannot parse a defect kind from file name {stem!r}")
    word = match.group(1).lower()
    return GOOD if word in NORMAL_WORDS else word


@dataclass
class Sample:
    """A point cloud with its ground truth.

    ``points`` (N, 3) float32; ``labels`` (N,) uint8, 1 on anomalous points, or None where
    unknown (training clouds); ``label`` 1 for an anomalous object; ``kind`` `GOOD` or the
    defect word; ``normals`` (N, 3) float32 when known.
    """

    points: np.ndarray
    labels: np.ndarray | None
    label: int
    kind: str
    path: Path | None
    class_name: str
    normals: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.points = np.ascontiguousarray(self.points, dtype=np.float32)
        if self.points.ndim != 2 or self.points.shape[1] != 3:
            raise ValueError(f"points must be (N, 3), got {self.points.shape}")
        n = len(self.points)
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (n,):
                raise ValueError(f"labels must be ({n},), got {labels.shape}")
            if labels.size and not np.isin(labels, (0, 1)).all():
                raise ValueError("labels must be 0 (normal) or 1 (anomalous)")
            self.labels = np.ascontiguousarray(labels, dtype=np.uint8)
        if self.normals is not None:
            self.normals = np.ascontiguousarray(self.normals, dtype=np.float32).reshape(n, 3)
        if self.label not in (0, 1):
            raise ValueError(f"object label must be 0 or 1, got {self.label!r}")
        if (self.kind == GOOD) != (self.label == 0):
            raise ValueError(f"kind {self.kind!r} contradicts object label {self.label}")
        self.label = int(self.label)

    def __len__(self) -> int:
        return len(self.points)

    @property
    def is_anomalous(self) -> bool:
        """True for a defective object."""
        return self.label == 1
