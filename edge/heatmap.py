"""Heatmap pictures of a scored part: three orthographic views coloured by point score.

matplotlib is imported when a picture is drawn, so the inspection runtime does not load it otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

VIEWS = (("top (x-y)", 0, 1, 2), ("front (x-z)", 0, 2, 1), ("side (y-z)", 1, 2, 0))


def render_heatmap(
    points: np.ndarray,
    scores: np.ndarray,
    out: str | Path,
    *,
    title: str = "",
    labels: np.ndarray | None = None,
    threshold: float = 0.5,
) -> Path:
    """PNG with three views of ``points`` coloured by calibrated ``scores`` (0.5 = threshold).

    Points are drawn far-to-near so that the surface facing the viewer is on top; ground-truth anomalous
    points (``labels``) are outlined in black when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finite = np.isfinite(points).all(axis=1) & np.isfinite(scores)
    pts, sc = points[finite], scores[finite]
    lab = labels[finite] > 0 if labels is not None else None
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2), constrained_layout=True)
    image = None
    for ax, (name, a, b, depth) in zip(axes, VIEWS):
        order = np.argsort(pts[:, depth])
        image = ax.scatter(pts[order, a], pts[order, b], c=sc[order], s=2, cmap="turbo", vmin=0.0, vmax=1.0, linewidths=0)
        if lab is not None and lab.any():
            ax.scatter(pts[lab, a], pts[lab, b], s=6, facecolors="none", edgecolors="black", linewidths=0.3)
        ax.set_title(name)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    if image is not None:
        bar = fig.colorbar(image, ax=list(axes), shrink=0.8, label="calibrated score")
        bar.ax.axhline(threshold, color="white", linewidth=1.5)
    fig.suptitle(title)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out
