"""The content of every view of an inspection: scored scan points, missing template material and regions.

Missing material has no scan points to colour, so it is drawn from the template: the template points with no
scan point nearby that lie in a ``missing`` region, mapped back into the scan's frame (the rigid transform of
the alignment is recovered from the processed points and their aligned copies by a least-squares fit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from edge.geometry.knn import knn
from edge.verdict import Region, RegionKind, Verdict

MISSING_COLOUR = (255, 0, 255)
"""Magenta: template material absent from the scan."""
UNSCORED_COLOUR = (128, 128, 128)


@dataclass
class Scene:
    """Points (N, 3) of the scan in its own frame (mm) with calibrated scores (N,; NaN where unscored), template
    points (M, 3) of missing material in the same frame, the regions and a title."""

    points: np.ndarray
    scores: np.ndarray
    missing: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))
    regions: list[Region] = field(default_factory=list)
    title: str = ""
    threshold: float = 0.5


def score_colours(scores: np.ndarray) -> np.ndarray:
    """(N, 3) uint8 turbo colours of calibrated scores in [0, 1] (blue low, red high); grey for NaN."""
    from matplotlib import colormaps

    finite = np.isfinite(scores)
    rgba = colormaps["turbo"](np.clip(np.where(finite, scores, 0.0), 0.0, 1.0))
    colours = (rgba[:, :3] * 255).round().astype(np.uint8)
    colours[~finite] = UNSCORED_COLOUR
    return colours


def rigid_fit(source: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Rotation R and translation t with ``R @ source + t ~= target`` (Kabsch, least squares)."""
    s, t = source.double().cpu().numpy(), target.double().cpu().numpy()
    cs, ct = s.mean(axis=0), t.mean(axis=0)
    u, _, vt = np.linalg.svd((s - cs).T @ (t - ct))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return rotation, ct - rotation @ cs


def missing_material(inspector, analysis, regions: list[Region], gap: float) -> np.ndarray:
    """Template points farther than ``gap`` from the aligned scan that lie in a ``missing`` region's box (grown by
    ``gap``), in the scan's frame; empty without missing regions."""
    boxes = [r for r in regions if r.kind is RegionKind.MISSING]
    template = inspector.model.template
    if not boxes or template.shape[0] == 0:
        return np.zeros((0, 3), np.float32)
    distance, _ = knn(template, analysis.aligned, 1)
    absent = template[distance[:, 0].sqrt() > gap] if distance.shape[0] else template
    rotation, shift = rigid_fit(analysis.pre.points, analysis.aligned)
    in_scan = (absent.double().cpu().numpy() - shift) @ rotation
    keep = np.zeros(len(in_scan), dtype=bool)
    for r in boxes:
        half = np.asarray(r.extent) / 2 + gap
        keep |= (np.abs(in_scan - np.asarray(r.centroid)) <= half).all(axis=1)
    return in_scan[keep].astype(np.float32)


def build_scene(points: np.ndarray, verdict: Verdict, *, title: str = "", missing: np.ndarray | None = None) -> Scene:
    """The scene of ``verdict`` (inspected with point scores) on the scan ``points``; non-finite rows dropped."""
    scores = verdict.point_scores if verdict.point_scores is not None else np.full(len(points), np.nan)
    finite = np.isfinite(points).all(axis=1)
    return Scene(points[finite].astype(np.float32), np.asarray(scores, np.float32)[finite],
                 missing if missing is not None else np.zeros((0, 3), np.float32), list(verdict.regions), title)
