"""Analytic surface patches that sample points uniformly by area, with outward normals.

Parts are unions of these patches; sampling a part draws each patch's share of points in
proportion to its area, so the cloud is uniform over the whole surface like a scan resampled
on a grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trainer.data.geometry import tangent_frame, unit

Samples = tuple[np.ndarray, np.ndarray]
"""Points (n, 3) and unit outward normals (n, 3), float64."""

_AREA_GRID = 256


def _vector(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(3)


def _outside_holes(a: np.ndarray, b: np.ndarray, holes: Sequence[tuple[float, float, float]]) -> np.ndarray:
    keep = np.ones(a.shape, bool)
    for ha, hb, hr in holes:
        keep &= (a - ha) ** 2 + (b - hb) ** 2 >= hr * hr
    return keep


def _rejection(draw, accept, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` local coordinates (a, b) drawn by `draw(rng, m)` that pass `accept(a, b)`."""
    got_a, got_b, have = [], [], 0
    while have < n:
        a, b = draw(rng, 2 * (n - have) + 16)
        ok = accept(a, b)
        got_a.append(a[ok])
        got_b.append(b[ok])
        have += int(ok.sum())
    return np.concatenate(got_a)[:n], np.concatenate(got_b)[:n]


@dataclass(frozen=True)
class Rect:
    """The planar rectangle `origin + a*u + b*v`, a in [0, width], b in [0, height], minus circular holes.

    Holes are (a, b, radius) in the rectangle's own coordinates and may reach past its
    border. The normal is `u x v`, negated with `flip`.
    """

    origin: np.ndarray
    u: np.ndarray
    v: np.ndarray
    width: float
    height: float
    holes: tuple[tuple[float, float, float], ...] = ()
    flip: bool = False

    def _accept(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _outside_holes(a, b, self.holes)

    def area(self) -> float:
        """Area without the holes (holes measured on a fine grid, so partial overlaps count right)."""
        full = self.width * self.height
        if not self.holes:
            return full
        centers = (np.arange(_AREA_GRID) + 0.5) / _AREA_GRID
        a, b = np.meshgrid(centers * self.width, centers * self.height)
        return full * float(self._accept(a, b).mean())

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        a, b = _rejection(
            lambda r, m: (r.uniform(0, self.width, m), r.uniform(0, self.height, m)), self._accept, n, rng
        )
        u, v = _vector(self.u), _vector(self.v)
        points = _vector(self.origin) + a[:, None] * u + b[:, None] * v
        normal = unit(np.cross(u, v)) * (-1.0 if self.flip else 1.0)
        return points, np.broadcast_to(normal, points.shape).copy()


@dataclass(frozen=True)
class Annulus:
    """A flat ring around `center` in the plane normal to `axis`, radii [inner, outer], minus holes.

    Holes are (x, y, radius) in the frame `tangent_frame(axis)`; the normal is `axis`, or
    `-axis` with `flip`.
    """

    center: np.ndarray
    axis: np.ndarray
    inner: float
    outer: float
    holes: tuple[tuple[float, float, float], ...] = ()
    flip: bool = False

    def _frame(self) -> tuple[np.ndarray, np.ndarray]:
        return tangent_frame(unit(_vector(self.axis)))

    def _draw(self, rng: np.random.Generator, m: int) -> tuple[np.ndarray, np.ndarray]:
        radius = np.sqrt(rng.uniform(self.inner**2, self.outer**2, m))
        angle = rng.uniform(0, 2 * np.pi, m)
        return radius * np.cos(angle), radius * np.sin(angle)

    def area(self) -> float:
        """Ring area without the holes (holes measured on a fine polar grid)."""
        full = np.pi * (self.outer**2 - self.inner**2)
        if not self.holes:
            return full
        steps = (np.arange(_AREA_GRID) + 0.5) / _AREA_GRID
        radius = np.sqrt(self.inner**2 + steps * (self.outer**2 - self.inner**2))
        r, angle = np.meshgrid(radius, steps * 2 * np.pi)
        return full * float(_outside_holes(r * np.cos(angle), r * np.sin(angle), self.holes).mean())

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        x, y = _rejection(self._draw, lambda a, b: _outside_holes(a, b, self.holes), n, rng)
        e1, e2 = self._frame()
        points = _vector(self.center) + x[:, None] * e1 + y[:, None] * e2
        normal = unit(_vector(self.axis)) * (-1.0 if self.flip else 1.0)
        return points, np.broadcast_to(normal, points.shape).copy()


@dataclass(frozen=True)
class Frustum:
    """The side of a cone frustum (a cylinder when the radii match) from `base` along `axis`.

    Radius goes linearly from `r0` at the base to `r1` at `length`; the angular span is
    [0, `sweep`] measured from `e1` towards `e2` (default `tangent_frame(axis)`). Normals point
    away from the axis, or towards it with `inward` (a bore or a concave fillet).
    """

    base: np.ndarray
    axis: np.ndarray
    r0: float
    r1: float
    length: float
    inward: bool = False
    sweep: float = 2 * np.pi
    frame: tuple[np.ndarray, np.ndarray] | None = field(default=None)

    def area(self) -> float:
        slant = np.hypot(self.length, self.r1 - self.r0)
        return 0.5 * self.sweep * (self.r0 + self.r1) * slant

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        axis = unit(_vector(self.axis))
        e1, e2 = self.frame if self.frame is not None else tangent_frame(axis)
        e1, e2 = _vector(e1), _vector(e2)
        u = rng.uniform(0, 1, n)
        if abs(self.r1 - self.r0) < 1e-12:
            t = u
        else:
            # inverse CDF of a density proportional to the radius r0 + t (r1 - r0)
            t = (np.sqrt(self.r0**2 + u * (self.r1**2 - self.r0**2)) - self.r0) / (self.r1 - self.r0)
        angle = rng.uniform(0, self.sweep, n)
        radial = np.cos(angle)[:, None] * e1 + np.sin(angle)[:, None] * e2
        radius = self.r0 + t * (self.r1 - self.r0)
        points = _vector(self.base) + (t * self.length)[:, None] * axis + radius[:, None] * radial
        normals = unit(self.length * radial - (self.r1 - self.r0) * axis)
        return points, -normals if self.inward else normals


@dataclass(frozen=True)
class SphereOctant:
    """One eighth of a sphere: the part whose outward normal has the signs of `octant` (each +-1)."""

    center: np.ndarray
    radius: float
    octant: tuple[float, float, float]

    def area(self) -> float:
        return 0.5 * np.pi * self.radius**2

    def sample(self, rng: np.random.Generator, n: int) -> Samples:
        normals = unit(np.abs(rng.normal(size=(n, 3)))) * np.asarray(self.octant, dtype=np.float64)
        return _vector(self.center) + self.radius * normals, normals


Surface = Rect | Annulus | Frustum | SphereOctant


def sample_surfaces(surfaces: Sequence[Surface], n: int, rng: np.random.Generator) -> Samples:
    """`n` points spread over `surfaces` in proportion to their areas (multinomial counts)."""
    areas = np.array([s.area() for s in surfaces])
    counts = rng.multinomial(n, areas / areas.sum())
    parts = [s.sample(rng, int(c)) for s, c in zip(surfaces, counts) if c > 0]
    return np.concatenate([p for p, _ in parts]), np.concatenate([q for _, q in parts])
