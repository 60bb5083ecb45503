# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Shape approximations: one class replaced by its moment-matched ellipse (ellipsoid), a polygon with 3, 5 or 8
vertices, its convex hull or its bounding box.

The convex hull and the bounding box are also in the published blob category (drawn by it, never chained). The ellipse
matches the class's second moments (published: OpenCV's fit to the contour of the largest component) and the polygon
takes boundary pixels at evenly spaced angles (published: Douglas–Peucker), so that both work in 3D without OpenCV.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from ._common import _apply_binary, _bbox, _choice

POLYGON_VERTICES = (3, 5, 8)


def _ellipse_region(x: np.ndarray) -> np.ndarray:
    """The ellipse / ellipsoid with the centroid and second moments of the binary region ``x``."""
    coords = np.argwhere(x).astype(float)
    centre = coords.mean(axis=0)
    diff = coords - centre
    # + 1/12 per axis: the variance of a unit pixel, so that the moments are those of the continuous region
    cov = diff.T @ diff / len(coords) + np.eye(x.ndim) / 12.0
    precision = np.linalg.inv(cov)
    grids = np.ogrid[tuple(slice(0, n) for n in x.shape)]
    centred = [g - c for g, c in zip(grids, centre)]
    quad = sum(precision[i, j] * centred[i] * centred[j] for i in range(x.ndim) for j in range(x.ndim))
    # a uniform ellipse has covariance a^2/4 along its semi-axis a (2D), a uniform ellipsoid a^2/5 (3D)
    return np.broadcast_to(quad <= x.ndim + 2.0, x.shape)


def ellipse_fit(mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None) -> np.ndarray:
    """
    Replace one class by the ellipse (2D) / ellipsoid (3D) with the same centroid and second moments.

    A uniform ellipse with semi-axes ``a_i`` has covariance ``a_i^2 / 4`` along them (``a_i^2 / 5`` for an
    ellipsoid), so the fitted region is ``{x : (x - mu)^T S^-1 (x - mu) <= ndim + 2}`` with ``mu``, ``S`` the moments of
    the class (``S`` includes the 1/12 variance of a unit pixel, which also keeps it invertible for thin regions).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``.
    """
    return _apply_binary(mask, rng, label, _ellipse_region)


def _fill_polygon(vertices: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre is inside the closed polygon ``vertices`` ``(n, 2)`` or within 0.5 of an edge."""
    rows, cols = np.ogrid[0 : shape[0], 0 : shape[1]]
    rows = rows.astype(float)
    cols = cols.astype(float)
    inside = np.zeros(shape, dtype=bool)
    near = np.zeros(shape, dtype=bool)
    for k in range(len(vertices)):
        (r0, c0), (r1, c1) = vertices[k], vertices[(k + 1) % len(vertices)]
        # even-odd rule with a ray towards +cols
        if r0 != r1:
            crosses = (r0 > rows) != (r1 > rows)
            c_at_row = c0 + (rows - r0) * (c1 - c0) / (r1 - r0)
            inside ^= crosses & (cols < c_at_row)
        # distance of the pixel centres to the edge
        dr, dc = r1 - r0, c1 - c0
        length2 = dr * dr + dc * dc
        t = np.clip(((rows - r0) * dr + (cols - c0) * dc) / length2, 0.0, 1.0) if length2 > 0 else 0.0
        near |= (rows - r0 - t * dr) ** 2 + (cols - c0 - t * dc) ** 2 <= 0.25
    return inside | near


def _polygon_2d(x: np.ndarray, n_vertices: int, phase: float) -> np.ndarray:
    """Polygon through ``n_vertices`` boundary pixels of ``x`` at evenly spaced angles around its centroid."""
    if not x.any():
        return x.copy()
    boundary = x & ~ndimage.binary_erosion(x, border_value=0)
    points = np.argwhere(boundary).astype(float)
    if len(points) < 3:
        return x.copy()
    centre = np.argwhere(x).mean(axis=0)
    rel = points - centre
    angles = np.arctan2(rel[:, 1], rel[:, 0])
    radii = np.hypot(rel[:, 0], rel[:, 1])
    targets = phase + 2.0 * np.pi * np.arange(n_vertices) / n_vertices
    diff = np.abs(np.angle(np.exp(1j * (angles[None, :] - targets[:, None]))))  # wrapped to [0, pi]
    # the outermost boundary pixel among those (nearly) closest in angle to each target direction
    candidates = diff <= diff.min(axis=1, keepdims=True) + 0.05
    chosen = np.argmax(np.where(candidates, radii[None, :], -1.0), axis=1)
    _, first = np.unique(chosen, return_index=True)
    chosen = chosen[np.sort(first)]
    if len(chosen) < 3:
        return x.copy()
    return _fill_polygon(points[chosen], x.shape)


def polygon_approx(
    mask: np.ndarray, rng: np.random.Generator, *, n_vertices: int | None = None, label: int | None = None
) -> np.ndarray:
    """
    Replace one class by a polygon with ``n_vertices`` vertices approximating its boundary.

    The vertices are boundary pixels of the class at ``n_vertices`` evenly spaced directions (random phase) around
    its centroid — the outermost one among those closest in angle — and the polygon is filled (pixel centres inside
    or within half a pixel of an edge). In 3D the op is applied slice-wise along the last axis with the same number
    of vertices and phase in every slice. Regions with fewer than 3 distinct vertices are left unchanged.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        n_vertices: number of vertices (>= 3); ``None`` draws one of 3, 5, 8.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``n_vertices < 3``.
    """
    if n_vertices is None:
        n_vertices = int(_choice(rng, POLYGON_VERTICES))
    if int(n_vertices) < 3:
        raise ValueError(f"n_vertices must be >= 3, got {n_vertices}.")
    phase = float(rng.uniform(0.0, 2.0 * np.pi))

    def fn(x: np.ndarray) -> np.ndarray:
        if x.ndim == 2:
            return _polygon_2d(x, int(n_vertices), phase)
        out = np.zeros_like(x)
        for z in np.flatnonzero(x.any(axis=(0, 1))):
            out[..., z] = _polygon_2d(x[..., z], int(n_vertices), phase)
        return out

    return _apply_binary(mask, rng, label, fn)


def _hull_region(x: np.ndarray) -> np.ndarray:
    """The pixels whose centre lies in the convex hull of the pixel centres of ``x`` (2D or 3D)."""
    points = np.argwhere(x)
    if len(points) <= x.ndim:
        return x.copy()
    try:
        hull = ConvexHull(points)
    except QhullError:  # degenerate (collinear / coplanar) region: joggle the input
        try:
            hull = ConvexHull(points, qhull_options="QJ")
        except QhullError:
            return x.copy()
    lower, upper = points.min(axis=0), points.max(axis=0)
    box = tuple(slice(lo, hi + 1) for lo, hi in zip(lower, upper))
    grid = np.indices(tuple(upper - lower + 1)).reshape(x.ndim, -1).T + lower
    normals, offsets = hull.equations[:, :-1], hull.equations[:, -1]
    inside = np.empty(len(grid), dtype=bool)
    step = max(1, 4_000_000 // max(len(offsets), 1))
    for start in range(0, len(grid), step):  # chunks bound the (points x facets) memory
        chunk = grid[start : start + step]
        inside[start : start + step] = np.all(chunk @ normals.T + offsets <= 1e-6, axis=1)
    out = x.copy()
    out[box] |= inside.reshape(tuple(upper - lower + 1))
    return out


def convex_hull(mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None) -> np.ndarray:
    """
    Replace one class by its convex hull (pixel centres inside the hull of the class's pixel centres).

    Uses :class:`scipy.spatial.ConvexHull` (scikit-image is not a dependency) in 2D and directly in 3D (a true 3D hull,
    not slice-wise); degenerate (collinear / coplanar) regions are handled with joggled input.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map (a superset of the class).

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``.
    """
    return _apply_binary(mask, rng, label, _hull_region)


def _box_region(x: np.ndarray) -> np.ndarray:
    lower, upper = _bbox(x)
    out = np.zeros_like(x)
    out[tuple(slice(lo, hi + 1) for lo, hi in zip(lower, upper))] = True
    return out


def bounding_box(mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None) -> np.ndarray:
    """
    Replace one class by its (axis-aligned) bounding box.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``.
    """
    return _apply_binary(mask, rng, label, _box_region)
