"""Procedural industrial parts sampled as point clouds, so tests and demos need no files.

Four kinds, each about 100 mm across the bounding-box diagonal (millimetres, like the
dev-bench objects), built from analytic surfaces and sampled uniformly by area:

- `bracket`: an L angle bracket with an inner fillet and two bolt holes in each leg;
- `flange`: a disc with a raised hub, a central bore and six bolt holes;
- `shaft`: a stepped shaft with shoulders and chamfered ends;
- `housing`: a box with filleted edges and corners and four bored bosses on top.

A *family* is several instances of one kind whose dimensions vary within a relative
`tolerance`, optionally with scanner-like noise along the normals and pose jitter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from trainer.data.geometry import random_rotation, tangent_frame, unit
from trainer.data.surfaces import Annulus, Frustum, Rect, SphereOctant, Surface, sample_surfaces

X, Y, Z = np.eye(3)

NOMINAL: dict[str, dict[str, float]] = {
    "bracket": {"width": 60.0, "depth": 50.0, "height": 50.0, "thickness": 6.0, "fillet": 5.0, "hole": 3.5},
    "flange": {"radius": 35.0, "thickness": 8.0, "hub_radius": 16.0, "hub_height": 12.0, "bore": 9.0,
               "bolt_circle": 26.0, "bolt": 3.5},
    "shaft": {"r1": 10.0, "l1": 20.0, "r2": 14.0, "l2": 30.0, "r3": 12.0, "l3": 25.0, "r4": 8.0, "l4": 15.0,
              "chamfer": 1.5},
    "housing": {"length": 70.0, "width": 50.0, "height": 30.0, "fillet": 4.0, "boss_radius": 5.0,
                "boss_height": 8.0, "boss_bore": 2.0, "boss_inset": 10.0},
}
"""Nominal dimensions in millimetres of every part kind."""

PART_KINDS = tuple(NOMINAL)


@dataclass
class Part:
    """A sampled part: points and outward unit normals, (N, 3) float32, and the dimensions used."""

    points: np.ndarray
    normals: np.ndarray
    kind: str
    dimensions: dict[str, float]


def _bracket(d: dict[str, float]) -> list[Surface]:
    w, dp, h, t, f, r = d["width"], d["depth"], d["height"], d["thickness"], d["fillet"], d["hole"]
    base_holes = [(w / 4, t + 0.6 * (dp - t)), (3 * w / 4, t + 0.6 * (dp - t))]
    leg_holes = [(w / 4, t + 0.6 * (h - t)), (3 * w / 4, t + 0.6 * (h - t))]
    o = np.zeros(3)
    surfaces: list[Surface] = [
        Rect(o, X, Y, w, dp, tuple((a, b, r) for a, b in base_holes), flip=True),
        Rect(t * Z + (t + f) * Y, X, Y, w, dp - t - f, tuple((a, b - t - f, r) for a, b in base_holes)),
        Rect(dp * Y, X, Z, w, t, flip=True),
        Rect(o, X, Z, w, h, tuple((a, b, r) for a, b in leg_holes)),
        Rect(t * Y + (t + f) * Z, X, Z, w, h - t - f, tuple((a, b - t - f, r) for a, b in leg_holes), flip=True),
        Rect(h * Z, X, Y, w, t),
        Frustum((t + f) * Y + (t + f) * Z, X, f, f, w, inward=True, sweep=np.pi / 2, frame=(-Y, -Z)),
    ]
    for x, flip in ((0.0, True), (w, False)):
        corner = x * X
        surfaces += [
            Rect(corner, Y, Z, dp, t, flip=flip),
            Rect(corner + t * Z, Y, Z, t, h - t, flip=flip),
            Rect(corner + t * Y + t * Z, Y, Z, f, f, ((f, f, f),), flip=flip),
        ]
    for a, b in base_holes:
        surfaces.append(Frustum(a * X + b * Y, Z, r, r, t, inward=True))
    for a, b in leg_holes:
        surfaces.append(Frustum(a * X + b * Z, Y, r, r, t, inward=True))
    return surfaces


def _flange(d: dict[str, float]) -> list[Surface]:
    big, t, hub, hh, bore = d["radius"], d["thickness"], d["hub_radius"], d["hub_height"], d["bore"]
    angles = np.arange(6) * np.pi / 3
    bolts = tuple((d["bolt_circle"] * np.cos(a), d["bolt_circle"] * np.sin(a), d["bolt"]) for a in angles)
    o = np.zeros(3)
    surfaces: list[Surface] = [
        Annulus(o, Z, bore, big, bolts, flip=True),
        Annulus(t * Z, Z, hub, big, bolts),
        Annulus((t + hh) * Z, Z, bore, hub),
        Frustum(o, Z, big, big, t),
        Frustum(t * Z, Z, hub, hub, hh),
        Frustum(o, Z, bore, bore, t + hh, inward=True),
    ]
    e1, e2 = tangent_frame(Z)  # the frame in which Annulus places its holes
    for x, y, r in bolts:
        surfaces.append(Frustum(x * e1 + y * e2, Z, r, r, t, inward=True))
    return surfaces


def _shaft(d: dict[str, float]) -> list[Surface]:
    radii = [d["r1"], d["r2"], d["r3"], d["r4"]]
    lengths = [d["l1"], d["l2"], d["l3"], d["l4"]]
    c = d["chamfer"]
    total = sum(lengths)
    surfaces: list[Surface] = [
        Annulus(np.zeros(3), Z, 0.0, radii[0] - c, flip=True),
        Frustum(np.zeros(3), Z, radii[0] - c, radii[0], c),
        Annulus(total * Z, Z, 0.0, radii[-1] - c),
        Frustum((total - c) * Z, Z, radii[-1], radii[-1] - c, c),
    ]
    z = 0.0
    for i, (r, length) in enumerate(zip(radii, lengths)):
        start = c if i == 0 else 0.0
        end = c if i == len(radii) - 1 else 0.0
        surfaces.append(Frustum((z + start) * Z, Z, r, r, length - start - end))
        z += length
        if i + 1 < len(radii):
            nxt = radii[i + 1]
            surfaces.append(Annulus(z * Z, Z, min(r, nxt), max(r, nxt), flip=nxt > r))
    return surfaces


def _housing(d: dict[str, float]) -> list[Surface]:
    half = np.array([d["length"], d["width"], d["height"]]) / 2
    f = d["fillet"]
    inner = half - f
    axes = np.eye(3)
    surfaces: list[Surface] = []
    bosses = [(sx * (half[0] - d["boss_inset"]), sy * (half[1] - d["boss_inset"])) for sx in (-1, 1) for sy in (-1, 1)]
    for k in range(3):
        i, j = [m for m in range(3) if m != k]
        for s in (-1.0, 1.0):
            holes: tuple[tuple[float, float, float], ...] = ()
            if k == 2 and s > 0:
                holes = tuple((x + inner[0], y + inner[1], d["boss_radius"]) for x, y in bosses)
            origin = s * half[k] * axes[k] - inner[i] * axes[i] - inner[j] * axes[j]
            flip = (np.cross(axes[i], axes[j]) @ axes[k]) * s < 0
            surfaces.append(Rect(origin, axes[i], axes[j], 2 * inner[i], 2 * inner[j], holes, flip=bool(flip)))
            for s2 in (-1.0, 1.0):
                base = s * inner[i] * axes[i] + s2 * inner[j] * axes[j] - inner[k] * axes[k]
                surfaces.append(Frustum(base, axes[k], f, f, 2 * inner[k], sweep=np.pi / 2,
                                        frame=(s * axes[i], s2 * axes[j])))
    for sx in (-1.0, 1.0):
        for sy in (-1.0, 1.0):
            for sz in (-1.0, 1.0):
                surfaces.append(SphereOctant(inner * (sx, sy, sz), f, (sx, sy, sz)))
    top = half[2]
    for x, y in bosses:
        foot = np.array([x, y, top])
        surfaces += [
            Frustum(foot, Z, d["boss_radius"], d["boss_radius"], d["boss_height"]),
            Annulus(foot + d["boss_height"] * Z, Z, d["boss_bore"], d["boss_radius"]),
            Frustum(foot, Z, d["boss_bore"], d["boss_bore"], d["boss_height"], inward=True),
            Annulus(foot, Z, 0.0, d["boss_bore"]),
        ]
    return surfaces


_BUILDERS: dict[str, Callable[[dict[str, float]], list[Surface]]] = {
    "bracket": _bracket,
    "flange": _flange,
    "shaft": _shaft,
    "housing": _housing,
}


def part_dimensions(kind: str, rng: np.random.Generator | None = None, tolerance: float = 0.0) -> dict[str, float]:
    """The nominal dimensions of `kind`, each scaled by an independent factor in [1 - tolerance, 1 + tolerance]."""
    if kind not in NOMINAL:
        raise ValueError(f"unknown part kind {kind!r}; expected one of {PART_KINDS}")
    if not 0.0 <= tolerance < 0.2:
        raise ValueError(f"tolerance must be in [0, 0.2), got {tolerance}")
    nominal = NOMINAL[kind]
    if rng is None or tolerance == 0.0:
        return dict(nominal)
    factors = rng.uniform(1.0 - tolerance, 1.0 + tolerance, len(nominal))
    return {name: value * float(k) for (name, value), k in zip(nominal.items(), factors)}


def make_part(kind: str, rng: np.random.Generator, n_points: int = 8192, *, tolerance: float = 0.005,
              noise: float = 0.0, pose_degrees: float = 0.0, pose_mm: float = 0.0,
              dimensions: dict[str, float] | None = None) -> Part:
    """One instance of the part `kind` (see `PART_KINDS`), centred on its bounding box.

    Dimensions are the nominal ones jittered by `tolerance` (relative), unless `dimensions`
    are given. `noise` is the standard deviation in mm of a Gaussian offset along each
    point's normal (range noise of a scanner); the pose is then rotated by up to
    `pose_degrees` about a random axis and shifted by up to `pose_mm`.
    """
    if n_points < 1:
        raise ValueError(f"n_points must be positive, got {n_points}")
    dims = dict(dimensions) if dimensions is not None else part_dimensions(kind, rng, tolerance)
    if kind not in _BUILDERS:
        raise ValueError(f"unknown part kind {kind!r}; expected one of {PART_KINDS}")
    points, normals = sample_surfaces(_BUILDERS[kind](dims), n_points, rng)
    points -= (points.max(axis=0) + points.min(axis=0)) / 2
    if noise > 0:
        points += rng.normal(0.0, noise, len(points))[:, None] * normals
    if pose_degrees > 0 or pose_mm > 0:
        rotation = random_rotation(rng, pose_degrees)
        shift = unit(rng.normal(size=3)) * rng.uniform(0.0, pose_mm)
        points = points @ rotation.T + shift
        normals = normals @ rotation.T
    return Part(points.astype(np.float32), normals.astype(np.float32), kind, dims)


def make_family(kind: str, rng: np.random.Generator, count: int, n_points: int = 8192, **options: float) -> list[Part]:
    """`count` instances of `kind` that differ within tolerance (options as for `make_part`)."""
    return [make_part(kind, rng, n_points, **options) for _ in range(count)]
