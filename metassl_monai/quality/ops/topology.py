# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Topological corruptions: holes, islands, both, keeping the largest / dropping a connected component, rectangle
dropout.

Published entries: 2 holes of radius 3–8, 3 of radius 8–15 (heavy: 5 of radius 10–20), 2 islands of radius 3–8, 2
holes and 2 islands of radius 5–15, largest component only, drop a component, and one rectangle with sides 10–30 % of
the **image**, anywhere in the image (``relative_to="foreground"``: the earlier box inside the class's bounding box).
Two deliberate differences: islands are placed away from the class, each a new component (published: anywhere in the
background), and dropping the component of a class with a single one removes the class (published: unchanged, which
on masks of one component per class would be a second identity).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ._common import (
    _apply_binary,
    _bbox,
    _check_mask,
    _check_relative_to,
    _choice,
    _full_connectivity,
    _pick_label,
    _pick_or_new_label,
    _squared_distance,
    _write_back,
)

HOLE_RADIUS_RANGES = ((3.0, 8.0), (8.0, 15.0))


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


def holes_and_islands(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    n_holes: int = 2,
    n_islands: int = 2,
    radius_range: Sequence[float] = (5.0, 15.0),
    label: int | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """
    :func:`add_holes` then :func:`add_islands` on the same class (the published ``holes_and_islands``: 2 holes and 2
    islands of radius 5–15). With no foreground only the islands are added, of a random class in
    ``1..num_classes-1``.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        n_holes: number of holes.
        n_islands: number of islands.
        radius_range: (low, high) radius in voxels of the holes and islands, drawn uniformly for each.
        label: the class; ``None`` draws a present foreground class.
        num_classes: number of classes including background, used when the mask has no foreground; ``None`` infers
            ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map.

    Raises:
        ValueError: as :func:`add_holes` and :func:`add_islands`.
    """
    _check_mask(mask)
    label = _pick_label(mask, rng, label)
    out = mask if label is None else add_holes(mask, rng, n_holes=n_holes, radius_range=radius_range, label=label)
    return add_islands(out, rng, n_islands=n_islands, radius_range=radius_range, label=label, num_classes=num_classes)


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
    size_range: Sequence[float] = (0.1, 0.3),
    n_rects: int = 1,
    relative_to: str = "image",
    label: int | None = None,
) -> np.ndarray:
    """
    Set the pixels of one class inside random boxes to background.

    As published, each box has sides ``max(1, int(U(lo, hi) * n_i))`` voxels, ``n_i`` the image size along axis ``i``
    (10–30 % of the image by default), and lies anywhere in the image, uniformly: it may miss the class, which then is
    unchanged. With ``relative_to="foreground"`` the sides are ``round(U(lo, hi) * extent_i)`` of the class's
    bounding-box extent and the box lies within that bounding box (the behaviour before the published catalogue, with
    ``size_range=(0.2, 0.5)`` in the ``legacy`` registry).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        size_range: (low, high) box side as a fraction of the image size (or of the class's extent), drawn uniformly
            per axis and box (at least one voxel).
        n_rects: number of boxes.
        relative_to: ``"image"`` or ``"foreground"``, what ``size_range`` is a fraction of and where the box lies.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, an invalid ``size_range``, ``n_rects < 1``
            or an unknown ``relative_to``.
    """
    lo, hi = float(size_range[0]), float(size_range[1])
    if not 0.0 < lo <= hi <= 1.0:
        raise ValueError(f"size_range must be (low, high) with 0 < low <= high <= 1, got {size_range}.")
    if int(n_rects) < 1:
        raise ValueError(f"n_rects must be >= 1, got {n_rects}.")
    _check_relative_to(relative_to)

    def fn(x: np.ndarray) -> np.ndarray:
        out = x.copy()
        for _ in range(int(n_rects)):
            if relative_to == "image":
                lower, extent = np.zeros(x.ndim, dtype=int), np.array(x.shape)
                sides = np.maximum(np.trunc(rng.uniform(lo, hi, size=x.ndim) * extent).astype(int), 1)
            else:
                lower, upper = _bbox(x)
                extent = upper - lower + 1
                sides = np.clip(np.round(rng.uniform(lo, hi, size=x.ndim) * extent).astype(int), 1, extent)
            starts = lower + rng.integers(0, extent - sides + 1)
            out[tuple(slice(s, s + n) for s, n in zip(starts, sides))] = False
        return out

    return _apply_binary(mask, rng, label, fn)
