"""Heatmap pictures of a scored part: three orthographic views coloured by point score.

matplotlib is imported when a picture is drawn, so the inspection runtime does not load it otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge.verdict import Region, RegionKind

VIEWS = (("top (x-y)", 0, 1, 2), ("front (x-z)", 0, 2, 1), ("side (y-z)", 1, 2, 0))


def render_heatmap(
    points: np.ndarray,
    scores: np.ndarray,
    out: str | Path,
    *,
    title: str = "",
    labels: np.ndarray | None = None,
    threshold: float = 0.5,
    regions: Sequence[Region] = (),
    missing: np.ndarray | None = None,
) -> Path:
    """PNG with three views of ``points`` coloured by calibrated ``scores`` (0.5 = threshold).

    Points are drawn far-to-near so that the surface facing the viewer is on top; ground-truth anomalous
    points (``labels``) are outlined in black when given. ``regions`` are drawn as labelled boxes (red for
    surface, magenta for missing), ``missing`` template points (absent material) as magenta dots, and each
    view has a scale bar in millimetres.
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
        if missing is not None and len(missing):
            ax.scatter(missing[:, a], missing[:, b], s=3, c="magenta", linewidths=0, label="missing material")
        for j, region in enumerate(regions):
            _box(ax, region, a, b, f"R{j + 1}")
        ax.set_title(name)
        ax.set_aspect("equal")
        _scale_bar(ax, pts[:, a], pts[:, b])
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


def _box(ax, region: Region, a: int, b: int, name: str) -> None:
    """The region's box projected on axes ``a``, ``b``, with its name and kind."""
    from matplotlib.patches import Rectangle

    colour = "magenta" if region.kind is RegionKind.MISSING else "red"
    x0 = region.centroid[a] - region.extent[a] / 2
    y0 = region.centroid[b] - region.extent[b] / 2
    ax.add_patch(Rectangle((x0, y0), region.extent[a], region.extent[b], fill=False, edgecolor=colour, linewidth=1.2))
    ax.annotate(f"{name} {region.kind.value}", (x0, y0 + region.extent[b]), fontsize=7, color=colour,
                xytext=(0, 2), textcoords="offset points")


def _scale_bar(ax, xs: np.ndarray, ys: np.ndarray) -> None:
    """A round length in mm (1, 2 or 5 times a power of ten, about a quarter of the view) below the part."""
    if len(xs) == 0:
        return
    span = float(xs.max() - xs.min()) or 1.0
    power = 10 ** math.floor(math.log10(span / 4))
    length = max(m * power for m in (1, 2, 5) if m * power <= span / 4) if span / 4 >= power else power
    x0, y0 = float(xs.min()), float(ys.min()) - 0.06 * (float(ys.max() - ys.min()) or 1.0)
    ax.plot([x0, x0 + length], [y0, y0], color="black", linewidth=2)
    ax.annotate(f"{length:g} mm", (x0 + length / 2, y0), ha="center", fontsize=8, xytext=(0, -10),
                textcoords="offset points")

