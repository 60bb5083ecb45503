# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Individual mask-corruption operations of Quality-Guided SSL.

Every op has the signature ``op(mask, rng, *, <params>) -> np.ndarray``: ``mask`` is a spatial integer label map
(2D ``(H, W)`` or 3D ``(H, W, D)``, no channel dimension, values ``0..C-1`` with 0 the background) and ``rng`` a
:class:`numpy.random.Generator`, the only source of randomness (a fixed seed gives a fixed result). The result is a new
array of the same shape and dtype whose values are a subset of the input values plus, for the ops that create
foreground (``add_islands``, ``blob``, ``full``, ``invert``, ``random_noise``), classes in ``1..num_classes-1``; the
input is never modified.

Multi-class convention:

* *binary* ops (morphology, shape approximations, boundary perturbations, holes / islands, components, blob) act on
  one foreground class (``label``; ``None`` draws one of the foreground classes present): its binary mask is corrupted
  and written back — pixels removed from the class become background (0), pixels added to the class take the class
  value, overwriting whatever was there. With no foreground they return an unchanged copy (except ``add_islands`` and
  ``blob``, which then create foreground of a random class in ``1..num_classes-1``).
* *geometric* ops (``shift``, ``scale``, ``rotate``, ``affine``, ``elastic``, ``grid_distortion``) move the whole map
  with nearest-neighbour interpolation, or, with ``per_class=True``, only one class as above.

Structuring elements are discrete disks (2D) / balls (3D) ``{b : |b|^2 <= r^2}`` with ``r = kernel_size // 2``
voxels; erosion and dilation are computed exactly through Euclidean distance transforms of the region's bounding box
grown by the radius (equal to binary morphology with that element, at a cost independent of the radius). The image
border is not treated as background by erosion (a region touching the border is not eroded from it).

:data:`OPS` maps the names of the single ops to their functions, :data:`HEAVY_OPS` to callables with the heavy settings
and :data:`CATASTROPHIC_OPS` to the catastrophic ones; :func:`swap` (the mask of another image) is separate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

__all__ = [
    "erode",
    "dilate",
    "opening",
    "closing",
    "ellipse_fit",
    "polygon_approx",
    "convex_hull",
    "bounding_box",
    "jagged_boundary",
    "smooth",
    "elastic",
    "grid_distortion",
    "add_holes",
    "add_islands",
    "keep_largest_component",
    "drop_component",
    "rectangle_dropout",
    "shift",
    "scale",
    "rotate",
    "affine",
    "blob",
    "empty",
    "full",
    "invert",
    "random_noise",
    "swap",
    "OPS",
    "HEAVY_OPS",
    "CATASTROPHIC_OPS",
]

MORPH_KERNEL_SIZES = (5, 7, 9)
SMOOTH_KERNEL_SIZES = (11, 15)
ELASTIC_SETTINGS = ((30.0, 4.0), (60.0, 5.0))
GRID_DISTORT_LIMITS = (0.2, 0.4)
SHIFT_FRACTIONS = (0.1, 0.2, 0.3)
SCALE_RANGES = ((0.75, 0.9), (1.1, 1.25))
HEAVY_SCALE_RANGES = ((0.5, 0.7), (1.4, 1.6))
ROTATION_LIMITS = (15.0, 30.0)
HOLE_RADIUS_RANGES = ((3.0, 8.0), (8.0, 15.0))
POLYGON_VERTICES = (3, 5, 8)
JAGGED_WIDTHS = (1, 2, 3)


# ----------------------------------------------------------------------------------------------------------- helpers
def _check_mask(mask: np.ndarray) -> None:
    """Raise unless ``mask`` is a 2D or 3D integer numpy array."""
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array, got {type(mask).__name__}.")
    if mask.ndim not in (2, 3):
        raise ValueError(f"mask must be a spatial 2D (H, W) or 3D (H, W, D) label map, got shape {mask.shape}.")
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"mask must have an integer dtype, got {mask.dtype}.")


def _num_classes(mask: np.ndarray, num_classes: int | None) -> int:
    """``num_classes`` validated, or inferred as ``max(mask) + 1`` (at least 2) when ``None``."""
    if num_classes is None:
        return max(int(mask.max()) + 1 if mask.size else 0, 2)
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2 (background + at least one class), got {num_classes}.")
    return int(num_classes)


def _pick_label(mask: np.ndarray, rng: np.random.Generator, label: int | None) -> int | None:
    """``label`` validated, or a random foreground class present in ``mask`` (``None`` if there is none)."""
    if label is not None:
        if int(label) < 1:
            raise ValueError(f"label must be a foreground class (>= 1), got {label}.")
        return int(label)
    present = np.unique(mask)
    present = present[present > 0]
    if present.size == 0:
        return None
    return int(present[rng.integers(present.size)])


def _pick_or_new_label(mask: np.ndarray, rng: np.random.Generator, label: int | None, num_classes: int | None) -> int:
    """Like :func:`_pick_label`, but a random class in ``1..num_classes-1`` when the mask has no foreground."""
    picked = _pick_label(mask, rng, label)
    if picked is None:
        picked = int(rng.integers(1, _num_classes(mask, num_classes)))
    return picked


def _write_back(mask: np.ndarray, label: int, new: np.ndarray) -> np.ndarray:
    """Replace the region of class ``label`` by the binary mask ``new`` (removed -> 0, added -> ``label``)."""
    out = mask.copy()
    out[(mask == label) & ~new] = 0
    out[new] = label
    return out


def _apply_binary(
    mask: np.ndarray, rng: np.random.Generator, label: int | None, fn: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Apply the binary corruption ``fn`` to one class of ``mask`` (a copy if the class is absent)."""
    _check_mask(mask)
    label = _pick_label(mask, rng, label)
    if label is None:
        return mask.copy()
    region = mask == label
    if not region.any():
        return mask.copy()
    return _write_back(mask, label, fn(region).astype(bool, copy=False))


def _on_crop(x: np.ndarray, margin: int, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """
    ``fn(x)`` computed on the bounding box of ``x`` grown by ``margin`` (clipped to the image), zero elsewhere.

    Exact for ops whose result lies within ``margin - 1`` of the region and only looks ``margin - 1`` far.
    """
    lower, upper = _bbox(x)
    box = tuple(slice(max(lo - margin, 0), min(hi + margin + 1, n)) for lo, hi, n in zip(lower, upper, x.shape))
    out = np.zeros_like(x)
    out[box] = fn(x[box])
    return out


def _erode_bin(x: np.ndarray, radius: int) -> np.ndarray:
    """Binary erosion by the disk / ball of ``radius``; the image border is not background."""
    if radius <= 0 or x.all() or not x.any():
        return x.copy()
    return _on_crop(x, radius + 1, lambda c: ndimage.distance_transform_edt(c) > radius)


def _dilate_bin(x: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation by the disk / ball of ``radius``."""
    if radius <= 0 or x.all() or not x.any():
        return x.copy()
    return _on_crop(x, radius + 1, lambda c: ndimage.distance_transform_edt(~c) <= radius)


def _kernel_radius(kernel_size: int | None, rng: np.random.Generator, choices: Sequence[int]) -> int:
    if kernel_size is None:
        kernel_size = int(choices[rng.integers(len(choices))])
    if int(kernel_size) < 1:
        raise ValueError(f"kernel_size must be >= 1, got {kernel_size}.")
    return int(kernel_size) // 2


def _choice(rng: np.random.Generator, choices: Sequence):
    """One element of ``choices``, drawn uniformly."""
    return choices[int(rng.integers(len(choices)))]


def _bbox(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive lower and upper corner of the non-zero region of ``x`` (which must not be empty)."""
    idx = np.nonzero(x)
    return np.array([i.min() for i in idx]), np.array([i.max() for i in idx])


def _centroid(x: np.ndarray) -> np.ndarray:
    return np.array([i.mean() for i in np.nonzero(x)], dtype=float)


def _squared_distance(shape: Sequence[int], centre: Sequence[float]) -> np.ndarray:
    """Squared Euclidean distance of every pixel of an array of ``shape`` to ``centre`` (broadcast, no loops)."""
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum((g - c) ** 2 for g, c in zip(grids, centre))


def _full_connectivity(ndim: int) -> np.ndarray:
    return ndimage.generate_binary_structure(ndim, ndim)


def _resample(arr: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Nearest-neighbour sampling of ``arr`` at ``coords`` (shape ``(ndim, *arr.shape)``), edges extended."""
    return ndimage.map_coordinates(arr, coords, order=0, mode="nearest")


def _geometric(
    mask: np.ndarray,
    rng: np.random.Generator,
    per_class: bool,
    label: int | None,
    warp: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> np.ndarray:
    """
    Run ``warp(array, region)`` on the whole map, or on the binary mask of one class when ``per_class``.

    ``region`` is the foreground (or the class) the parameters may depend on (centroid, extent); a map without it is
    returned as a copy.
    """
    _check_mask(mask)
    if per_class:
        label = _pick_label(mask, rng, label)
        if label is None:
            return mask.copy()
        region = mask == label
        if not region.any():
            return mask.copy()
        moved = warp(region.astype(np.uint8), region)
        return _write_back(mask, label, moved.astype(bool))
    region = mask > 0
    if not region.any():
        return mask.copy()
    return warp(mask, region).astype(mask.dtype, copy=False)


def _affine_about(arr: np.ndarray, matrix: np.ndarray, centre: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """
    Nearest-neighbour warp ``y = matrix @ (x - centre) + centre + translation``; outside the image is background.
    """
    inverse = np.linalg.inv(matrix)
    offset = centre - inverse @ (centre + translation)
    return ndimage.affine_transform(arr, inverse, offset=offset, order=0, mode="constant", cval=0)


def _rotation_matrix(ndim: int, degrees: float) -> np.ndarray:
    """Rotation by ``degrees`` in the plane of the first two axes (the identity on the third axis in 3D)."""
    theta = np.deg2rad(degrees)
    matrix = np.eye(ndim)
    matrix[:2, :2] = [[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]
    return matrix


# -------------------------------------------------------------------------------------------------------- morphology
def erode(
    mask: np.ndarray, rng: np.random.Generator, *, kernel_size: int | None = None, label: int | None = None
) -> np.ndarray:
    """
    Erode one class with a disk (2D) / ball (3D) structuring element.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        kernel_size: diameter of the structuring element (radius ``kernel_size // 2`` voxels); ``None`` draws one of
            5, 7, 9 (the heavy setting is 11).
        label: the class to erode; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map (eroded pixels become background).

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``kernel_size < 1``.
    """
    radius = _kernel_radius(kernel_size, rng, MORPH_KERNEL_SIZES)
    return _apply_binary(mask, rng, label, lambda x: _erode_bin(x, radius))


def dilate(
    mask: np.ndarray, rng: np.random.Generator, *, kernel_size: int | None = None, label: int | None = None
) -> np.ndarray:
    """
    Dilate one class with a disk (2D) / ball (3D) structuring element (added pixels overwrite other classes).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        kernel_size: diameter of the structuring element (radius ``kernel_size // 2`` voxels); ``None`` draws one of
            5, 7, 9 (the heavy setting is 11).
        label: the class to dilate; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``kernel_size < 1``.
    """
    radius = _kernel_radius(kernel_size, rng, MORPH_KERNEL_SIZES)
    return _apply_binary(mask, rng, label, lambda x: _dilate_bin(x, radius))


def opening(
    mask: np.ndarray, rng: np.random.Generator, *, kernel_size: int = 5, label: int | None = None
) -> np.ndarray:
    """
    Morphological opening (erosion then dilation) of one class; the result is a subset of the class.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        kernel_size: diameter of the disk / ball structuring element.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``kernel_size < 1``.
    """
    radius = _kernel_radius(kernel_size, rng, MORPH_KERNEL_SIZES)
    return _apply_binary(mask, rng, label, lambda x: _dilate_bin(_erode_bin(x, radius), radius) & x)


def closing(
    mask: np.ndarray, rng: np.random.Generator, *, kernel_size: int = 5, label: int | None = None
) -> np.ndarray:
    """
    Morphological closing (dilation then erosion) of one class; the result is a superset of the class.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        kernel_size: diameter of the disk / ball structuring element.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``kernel_size < 1``.
    """
    radius = _kernel_radius(kernel_size, rng, MORPH_KERNEL_SIZES)
    return _apply_binary(mask, rng, label, lambda x: _erode_bin(_dilate_bin(x, radius), radius) | x)


# ------------------------------------------------------------------------------------------- shape approximations
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


# ---------------------------------------------------------------------------------------- boundary perturbations
def jagged_boundary(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    width: int | None = None,
    flip_prob: float = 0.5,
    label: int | None = None,
) -> np.ndarray:
    """
    Flip pixels in a band around the boundary of one class, each with probability ``flip_prob``.

    The band is the class pixels within distance ``width`` of the background and the background pixels within
    distance ``width`` of the class (Euclidean, in voxels).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        width: band half-width in voxels; ``None`` draws one of 1, 2, 3.
        flip_prob: probability of flipping a band pixel.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``width < 1`` or ``flip_prob`` not in
            [0, 1].
    """
    if width is None:
        width = int(_choice(rng, JAGGED_WIDTHS))
    if int(width) < 1:
        raise ValueError(f"width must be >= 1, got {width}.")
    if not 0.0 <= flip_prob <= 1.0:
        raise ValueError(f"flip_prob must be in [0, 1], got {flip_prob}.")

    def band(x: np.ndarray) -> np.ndarray:
        inner = x & (ndimage.distance_transform_edt(x) <= width) if not x.all() else np.zeros_like(x)
        return inner | (~x & (ndimage.distance_transform_edt(~x) <= width))

    def fn(x: np.ndarray) -> np.ndarray:
        return x ^ (_on_crop(x, int(width) + 1, band) & (rng.random(x.shape) < flip_prob))

    return _apply_binary(mask, rng, label, fn)


def smooth(
    mask: np.ndarray, rng: np.random.Generator, *, kernel_size: int | None = None, label: int | None = None
) -> np.ndarray:
    """
    Gaussian-smooth the binary mask of one class and threshold it at 0.5 (rounds corners, removes thin parts).

    The Gaussian has OpenCV's default ``sigma = 0.3 * ((kernel_size - 1) / 2 - 1) + 0.8`` for the kernel size and is
    truncated at radius ``kernel_size // 2``; the image border is extended (``mode="nearest"``).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        kernel_size: Gaussian kernel size; ``None`` draws 11 or 15.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``kernel_size < 3``.
    """
    if kernel_size is None:
        kernel_size = int(_choice(rng, SMOOTH_KERNEL_SIZES))
    if int(kernel_size) < 3:
        raise ValueError(f"kernel_size must be >= 3, got {kernel_size}.")
    sigma = 0.3 * ((int(kernel_size) - 1) * 0.5 - 1.0) + 0.8
    truncate = (int(kernel_size) // 2) / sigma

    def fn(x: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(x.astype(np.float32), sigma, truncate=truncate, mode="nearest") > 0.5

    return _apply_binary(mask, rng, label, fn)


# ---------------------------------------------------------------------------------------------------- deformations
def elastic(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float | None = None,
    sigma: float | None = None,
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    Elastic deformation: a uniform random displacement field in [-1, 1] per axis, Gaussian-smoothed with ``sigma`` and
    scaled by ``alpha`` (all axes, also in 3D), applied with nearest-neighbour interpolation (edges extended). In 3D
    the smoothed field is rescaled to the per-voxel standard deviation it has in 2D (a 3D Gaussian averages more
    noise), so that a setting displaces 2D and 3D masks by about as much (about ``0.16 * alpha / sigma`` voxels rms).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        alpha: displacement scale in voxels; ``None`` draws the paper setting (30, 4) or (60, 5) together with
            ``sigma``.
        sigma: smoothing of the displacement field in voxels; ``None`` as ``alpha``.
        per_class: deform one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``sigma <= 0``.
    """
    default_alpha, default_sigma = _choice(rng, ELASTIC_SETTINGS)
    alpha = default_alpha if alpha is None else float(alpha)
    sigma = default_sigma if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        # smoothing white noise divides its standard deviation by (2 sqrt(pi) sigma)^(ndim / 2): rescale 3D fields
        # to the 2D level so that (alpha, sigma) give the same displacement magnitude in 2D and 3D
        gain = alpha * (2.0 * np.sqrt(np.pi) * sigma) ** ((arr.ndim - 2) / 2.0)
        coords = np.indices(arr.shape, dtype=float)
        for axis in range(arr.ndim):
            field = rng.uniform(-1.0, 1.0, size=arr.shape)
            coords[axis] += gain * ndimage.gaussian_filter(field, sigma, mode="reflect")
        return _resample(arr, coords)

    return _geometric(mask, rng, per_class, label, warp)


def _grid_axis(n: int, num_cells: int, limit: float, rng: np.random.Generator) -> np.ndarray:
    """Source coordinate of every output coordinate along one axis of a piecewise-linear grid distortion."""
    steps = 1.0 + rng.uniform(-limit, limit, size=num_cells)
    knots = np.concatenate([[0.0], np.cumsum(steps)])
    knots *= (n - 1) / knots[-1]
    return np.interp(np.arange(n, dtype=float), np.linspace(0.0, n - 1.0, num_cells + 1), knots)


def grid_distortion(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    distort_limit: float | None = None,
    num_cells: int = 5,
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    Grid distortion: along every axis the image is cut into ``num_cells`` cells whose sizes are multiplied by
    ``1 + U(-distort_limit, distort_limit)`` (renormalised to the axis length), a separable piecewise-linear warp
    applied with nearest-neighbour interpolation (implemented here; MONAI's ``GridDistortion`` goes through torch).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        distort_limit: maximum relative change of a cell size, in [0, 1); ``None`` draws 0.2 or 0.4 (heavy: 0.6).
        num_cells: number of grid cells per axis.
        per_class: distort one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``num_cells < 1`` or ``distort_limit`` not
            in [0, 1).
    """
    if distort_limit is None:
        distort_limit = float(_choice(rng, GRID_DISTORT_LIMITS))
    if not 0.0 <= distort_limit < 1.0:
        raise ValueError(f"distort_limit must be in [0, 1), got {distort_limit}.")
    if int(num_cells) < 1:
        raise ValueError(f"num_cells must be >= 1, got {num_cells}.")

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        axes = [_grid_axis(n, int(num_cells), distort_limit, rng) for n in arr.shape]
        return _resample(arr, np.stack(np.meshgrid(*axes, indexing="ij")))

    return _geometric(mask, rng, per_class, label, warp)


# ---------------------------------------------------------------------------------------- holes, islands, components
def _radius_range(radius_range: Sequence[float] | None, rng: np.random.Generator) -> tuple[float, float]:
    if radius_range is None:
        radius_range = _choice(rng, HOLE_RADIUS_RANGES)
    lo, hi = float(radius_range[0]), float(radius_range[1])
    if not 0 < lo <= hi:
        raise ValueError(f"radius_range must be (low, high) with 0 < low <= high, got {radius_range}.")
    return lo, hi


def add_holes(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    n_holes: int | None = None,
    radius_range: Sequence[float] | None = None,
    label: int | None = None,
) -> np.ndarray:
    """
    Punch ``n_holes`` disk (2D) / ball (3D) holes centred on random pixels of one class (holes become background).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        n_holes: number of holes; ``None`` draws 1 to 3 (heavy: 5).
        radius_range: (low, high) hole radius in voxels, drawn uniformly per hole; ``None`` draws (3, 8) or (8, 15)
            (heavy: (10, 20)).
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map (a strict subset of the class: every hole removes at least its centre).

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``n_holes < 1`` or an invalid
            ``radius_range``.
    """
    n_holes = int(rng.integers(1, 4)) if n_holes is None else int(n_holes)
    if n_holes < 1:
        raise ValueError(f"n_holes must be >= 1, got {n_holes}.")
    lo, hi = _radius_range(radius_range, rng)

    def fn(x: np.ndarray) -> np.ndarray:
        points = np.argwhere(x)
        out = x.copy()
        for _ in range(n_holes):
            centre = points[rng.integers(len(points))]
            radius = rng.uniform(lo, hi)
            out &= _squared_distance(x.shape, centre) > radius * radius
        return out

    return _apply_binary(mask, rng, label, fn)


def add_islands(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    n_islands: int | None = None,
    radius_range: Sequence[float] | None = None,
    label: int | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """
    Add ``n_islands`` disk (2D) / ball (3D) islands of one class away from it (false-positive components).

    Island centres are drawn among the pixels farther than ``radius + 2`` from the class (so that, where the image
    allows it, every island is a new connected component, also with full connectivity); when there is no such pixel
    the farthest ones are used. Islands overwrite other classes. With no foreground a random class in
    ``1..num_classes-1`` is created.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        n_islands: number of islands; ``None`` draws 1 to 3.
        radius_range: (low, high) island radius in voxels, drawn uniformly per island; ``None`` draws (3, 8) or
            (8, 15).
        label: the class; ``None`` draws a present foreground class.
        num_classes: number of classes including background, used when the mask has no foreground; ``None`` infers
            ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``n_islands < 1``, ``num_classes < 2`` or
            an invalid ``radius_range``.
    """
    _check_mask(mask)
    n_islands = int(rng.integers(1, 4)) if n_islands is None else int(n_islands)
    if n_islands < 1:
        raise ValueError(f"n_islands must be >= 1, got {n_islands}.")
    lo, hi = _radius_range(radius_range, rng)
    label = _pick_or_new_label(mask, rng, label, num_classes)
    region = mask == label
    for _ in range(n_islands):
        radius = rng.uniform(lo, hi)
        if region.any():
            distance = ndimage.distance_transform_edt(~region) if not region.all() else np.zeros(region.shape)
            far = distance > radius + 2.0
            candidates = np.flatnonzero(far) if far.any() else np.flatnonzero(distance == distance.max())
        else:
            candidates = np.arange(region.size)
        centre = np.unravel_index(candidates[rng.integers(len(candidates))], region.shape)
        region = region | (_squared_distance(region.shape, centre) <= radius * radius)
    return _write_back(mask, label, region)


def _components(x: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(x, structure=_full_connectivity(x.ndim))


def keep_largest_component(mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None) -> np.ndarray:
    """
    Keep only the largest connected component (full connectivity: 8 in 2D, 26 in 3D) of one class.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map (the other components of the class become background).

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``.
    """

    def fn(x: np.ndarray) -> np.ndarray:
        labels, n = _components(x)
        if n <= 1:
            return x
        return labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))

    return _apply_binary(mask, rng, label, fn)


def drop_component(mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None) -> np.ndarray:
    """
    Remove one random connected component (full connectivity) of one class; a class with a single component is
    removed entirely.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``.
    """

    def fn(x: np.ndarray) -> np.ndarray:
        labels, n = _components(x)
        return x & (labels != 1 + int(rng.integers(n)))

    return _apply_binary(mask, rng, label, fn)


def rectangle_dropout(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    size_range: Sequence[float] = (0.2, 0.5),
    label: int | None = None,
) -> np.ndarray:
    """
    Set the pixels of one class inside a random box within the class's bounding box to background.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        size_range: (low, high) box side as a fraction of the bounding-box extent, drawn uniformly per axis (at least
            one voxel).
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or an invalid ``size_range``.
    """
    lo, hi = float(size_range[0]), float(size_range[1])
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"size_range must be (low, high) with 0 < low <= high <= 1, got {size_range}.")

    def fn(x: np.ndarray) -> np.ndarray:
        lower, upper = _bbox(x)
        extent = upper - lower + 1
        sides = np.clip(np.round(rng.uniform(lo, hi, size=x.ndim) * extent).astype(int), 1, extent)
        starts = lower + rng.integers(0, extent - sides + 1)
        out = x.copy()
        out[tuple(slice(s, s + n) for s, n in zip(starts, sides))] = False
        return out

    return _apply_binary(mask, rng, label, fn)


# ------------------------------------------------------------------------------------------------- rigid / affine
def _shift_int(arr: np.ndarray, offset: Sequence[int]) -> np.ndarray:
    """``arr`` translated by the integer ``offset`` (voxels), zero-filled."""
    out = np.zeros_like(arr)
    src, dst = [], []
    for o, n in zip(offset, arr.shape):
        if abs(o) >= n:
            return out
        src.append(slice(max(0, -o), n - max(0, o)))
        dst.append(slice(max(0, o), n - max(0, -o)))
    out[tuple(dst)] = arr[tuple(src)]
    return out


def shift(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    max_fraction: float | None = None,
    offset: Sequence[int] | None = None,
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    Translate the map (or one class) by up to ``max_fraction`` of the foreground's extent along every axis.

    The offset along axis ``i`` is ``round(U(-f, f) * extent_i)`` with ``extent_i`` the bounding-box extent of the
    foreground (of the class when ``per_class``); the uncovered part is background.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        max_fraction: maximum shift as a fraction of the extent; ``None`` draws 0.1, 0.2 or 0.3 (heavy: 0.4).
        offset: explicit integer offset per axis (overrides ``max_fraction``).
        per_class: move one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``max_fraction < 0`` or ``offset`` has the
            wrong length.
    """
    if offset is None:
        if max_fraction is None:
            max_fraction = float(_choice(rng, SHIFT_FRACTIONS))
        if max_fraction < 0:
            raise ValueError(f"max_fraction must be >= 0, got {max_fraction}.")
    elif len(offset) != np.ndim(mask):
        raise ValueError(f"offset must have one entry per spatial axis ({np.ndim(mask)}), got {offset}.")

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        if offset is not None:
            off = [int(o) for o in offset]
        else:
            lower, upper = _bbox(region)
            fractions = rng.uniform(-max_fraction, max_fraction, size=arr.ndim)
            off = [int(v) for v in np.round(fractions * (upper - lower + 1))]
        return _shift_int(arr, off)

    return _geometric(mask, rng, per_class, label, warp)


def scale(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    factor: float | None = None,
    ranges: Sequence[Sequence[float]] = SCALE_RANGES,
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    Isotropically scale the map (or one class) about the foreground centroid (nearest neighbour, outside is
    background); areas change by about ``factor**2`` (2D) / volumes by ``factor**3`` (3D).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        factor: the scale factor; ``None`` draws one of ``ranges`` then a factor uniformly in it.
        ranges: (low, high) ranges of the factor, default (0.75, 0.9) or (1.1, 1.25) (heavy: (0.5, 0.7) or
            (1.4, 1.6)).
        per_class: scale one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or a factor ``<= 0``.
    """
    if factor is None:
        lo, hi = _choice(rng, ranges)
        factor = float(rng.uniform(lo, hi))
    if factor <= 0:
        raise ValueError(f"factor must be > 0, got {factor}.")

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        return _affine_about(arr, factor * np.eye(arr.ndim), _centroid(region), np.zeros(arr.ndim))

    return _geometric(mask, rng, per_class, label, warp)


def rotate(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    angle: float | None = None,
    max_angle: float | None = None,
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    Rotate the map (or one class) about the foreground centroid in the plane of the first two axes (also in 3D),
    nearest neighbour, outside is background.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        angle: rotation angle in degrees; ``None`` draws it uniformly in ``[-max_angle, max_angle]``.
        max_angle: maximum angle in degrees; ``None`` draws 15 or 30.
        per_class: rotate one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``.
    """
    if angle is None:
        if max_angle is None:
            max_angle = float(_choice(rng, ROTATION_LIMITS))
        angle = float(rng.uniform(-max_angle, max_angle))

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        return _affine_about(arr, _rotation_matrix(arr.ndim, angle), _centroid(region), np.zeros(arr.ndim))

    return _geometric(mask, rng, per_class, label, warp)


def affine(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    max_rotation: float = 10.0,
    scale_range: Sequence[float] = (0.9, 1.1),
    max_shear: float = 0.1,
    max_shift_fraction: float = 0.05,
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    A random small affine transform about the foreground centroid: rotation (plane of the first two axes) times
    per-axis scaling times shear (all off-diagonal terms), plus a translation; nearest neighbour, outside is
    background.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        max_rotation: maximum rotation angle in degrees.
        scale_range: (low, high) range of the per-axis scale factors.
        max_shear: maximum absolute shear coefficient.
        max_shift_fraction: maximum translation as a fraction of the foreground's bounding-box extent per axis.
        per_class: transform one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or a scale factor ``<= 0``.
    """
    if min(scale_range) <= 0:
        raise ValueError(f"scale_range must be positive, got {scale_range}.")

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        ndim = arr.ndim
        rotation = _rotation_matrix(ndim, rng.uniform(-max_rotation, max_rotation))
        scaling = np.diag(rng.uniform(scale_range[0], scale_range[1], size=ndim))
        shear = np.eye(ndim) + (1.0 - np.eye(ndim)) * rng.uniform(-max_shear, max_shear, size=(ndim, ndim))
        lower, upper = _bbox(region)
        translation = rng.uniform(-max_shift_fraction, max_shift_fraction, size=ndim) * (upper - lower + 1)
        return _affine_about(arr, rotation @ scaling @ shear, _centroid(region), translation)

    return _geometric(mask, rng, per_class, label, warp)


# ------------------------------------------------------------------------------------------------------------ blob
def blob(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    mode: str | None = None,
    label: int | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """
    Replace one class by an area-matched blob at its centroid: the ``area`` pixels with the highest score, the score
    being minus the distance to the centroid (``"sphere"``: a disk / ball) or that plus smoothed Gaussian noise
    (``"gaussian"``: a random blob). The area (voxel count) is preserved exactly. With no foreground a random class in
    ``1..num_classes-1`` gets a blob of 5–20 % of the image at a random position.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        mode: ``"gaussian"`` or ``"sphere"``; ``None`` draws one.
        label: the class; ``None`` draws a present foreground class.
        num_classes: number of classes including background, used when the mask has no foreground; ``None`` infers
            ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``num_classes < 2`` or an unknown
            ``mode``.
    """
    _check_mask(mask)
    if mode is None:
        mode = str(_choice(rng, ("gaussian", "sphere")))
    if mode not in ("gaussian", "sphere"):
        raise ValueError(f"mode must be 'gaussian' or 'sphere', got {mode!r}.")
    label = _pick_or_new_label(mask, rng, label, num_classes)
    region = mask == label
    area = int(region.sum())
    if area == 0:
        area = max(1, int(round(rng.uniform(0.05, 0.2) * mask.size)))
        centre = np.array(np.unravel_index(rng.integers(mask.size), mask.shape), dtype=float)
    else:
        centre = _centroid(region)
    score = -np.sqrt(np.broadcast_to(_squared_distance(mask.shape, centre), mask.shape))
    if mode == "gaussian":
        radius = (area / np.pi) ** 0.5 if mask.ndim == 2 else (3.0 * area / (4.0 * np.pi)) ** (1.0 / 3.0)
        noise = ndimage.gaussian_filter(rng.standard_normal(mask.shape), sigma=max(1.0, radius / 2.0), mode="wrap")
        noise /= max(float(noise.std()), 1e-12)
        score = score / max(radius, 1.0) + 0.5 * noise
    new = np.zeros(mask.shape, dtype=bool)
    if area >= mask.size:
        new[...] = True
    else:
        new.flat[np.argpartition(-score.ravel(), area - 1)[:area]] = True
    return _write_back(mask, label, new)


# ---------------------------------------------------------------------------------------------------- catastrophic
def empty(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """
    All background.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (unused).

    Returns:
        an all-zero label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array.
    """
    _check_mask(mask)
    return np.zeros_like(mask)


def full(
    mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None, num_classes: int | None = None
) -> np.ndarray:
    """
    Everything one class: a present foreground class, or a random class in ``1..num_classes-1`` if there is none.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        label: the class; ``None`` draws one as above.
        num_classes: number of classes including background; ``None`` infers ``max(mask) + 1`` (at least 2).

    Returns:
        a constant label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``num_classes < 2``.
    """
    _check_mask(mask)
    return np.full_like(mask, _pick_or_new_label(mask, rng, label, num_classes))


def invert(
    mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None, num_classes: int | None = None
) -> np.ndarray:
    """
    Binary inversion of one class's mask: its pixels become background and all the others (background and, following
    the write-back convention, the other classes too) become the class. With no foreground a random class in
    ``1..num_classes-1`` fills the whole map.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        label: the class; ``None`` draws a present foreground class.
        num_classes: number of classes including background; ``None`` infers ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map (values 0 and the class only).

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``num_classes < 2``.
    """
    _check_mask(mask)
    label = _pick_or_new_label(mask, rng, label, num_classes)
    return np.where(mask == label, 0, label).astype(mask.dtype)


def random_noise(
    mask: np.ndarray, rng: np.random.Generator, *, prob: float = 0.5, num_classes: int | None = None
) -> np.ndarray:
    """
    Replace every pixel, with probability ``prob``, by a uniformly random label in ``0..num_classes-1`` (so about
    ``prob * (1 - 1/num_classes)`` of the pixels change).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        prob: replacement probability per pixel.
        num_classes: number of classes including background; ``None`` infers ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``num_classes < 2`` or ``prob`` not in [0, 1].
    """
    _check_mask(mask)
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}.")
    num_classes = _num_classes(mask, num_classes)
    replace = rng.random(mask.shape) < prob
    values = rng.integers(0, num_classes, size=mask.shape)
    return np.where(replace, values, mask).astype(mask.dtype)


# ------------------------------------------------------------------------------------------------------------ swap
def _resize_nearest(arr: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Nearest-neighbour resize of ``arr`` to ``shape`` (pixel-centre aligned)."""
    index = [
        np.minimum(((np.arange(m) + 0.5) * n / m).astype(int), n - 1) for n, m in zip(arr.shape, shape)
    ]
    return arr[np.ix_(*index)]


def swap(mask: np.ndarray, rng: np.random.Generator, *, other: np.ndarray) -> np.ndarray:
    """
    The mask of another image: ``other``, resized with nearest-neighbour interpolation if its shape differs.

    Args:
        mask: spatial integer label map (2D or 3D), giving the output shape and dtype.
        rng: random generator (unused).
        other: a label map with the same number of spatial dimensions.

    Returns:
        a copy of ``other`` with the shape and dtype of ``mask``.

    Raises:
        ValueError: ``mask`` or ``other`` is not a 2D/3D integer array, or their dimensions differ.
    """
    _check_mask(mask)
    other = np.asarray(other)
    _check_mask(other)
    if other.ndim != mask.ndim:
        raise ValueError(f"other has {other.ndim} spatial dimensions, the mask {mask.ndim}.")
    if other.shape != mask.shape:
        other = _resize_nearest(other, mask.shape)
    return other.astype(mask.dtype, copy=True)


OPS: dict[str, Callable[..., np.ndarray]] = {
    "erode": erode,
    "dilate": dilate,
    "opening": opening,
    "closing": closing,
    "ellipse_fit": ellipse_fit,
    "polygon_approx": polygon_approx,
    "convex_hull": convex_hull,
    "bounding_box": bounding_box,
    "jagged_boundary": jagged_boundary,
    "smooth": smooth,
    "elastic": elastic,
    "grid_distortion": grid_distortion,
    "add_holes": add_holes,
    "add_islands": add_islands,
    "keep_largest_component": keep_largest_component,
    "drop_component": drop_component,
    "rectangle_dropout": rectangle_dropout,
    "shift": shift,
    "scale": scale,
    "rotate": rotate,
    "affine": affine,
    "blob": blob,
}
"""The single ops (everything except :func:`swap` and the catastrophic ones), name -> function."""

HEAVY_OPS: dict[str, Callable[..., np.ndarray]] = {
    "erode": partial(erode, kernel_size=11),
    "dilate": partial(dilate, kernel_size=11),
    "grid_distortion": partial(grid_distortion, distort_limit=0.6),
    "shift": partial(shift, max_fraction=0.4),
    "scale": partial(scale, ranges=HEAVY_SCALE_RANGES),
    "add_holes": partial(add_holes, n_holes=5, radius_range=(10.0, 20.0)),
}
"""Heavy settings of some single ops, name -> callable with the same signature."""

CATASTROPHIC_OPS: dict[str, Callable[..., np.ndarray]] = {
    "empty": empty,
    "full": full,
    "invert": invert,
    "random_noise": random_noise,
}
"""Catastrophic failures, name -> function."""
