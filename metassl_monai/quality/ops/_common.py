# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Helpers shared by the corruption ops: argument checks, the class pick and write-back of the multi-class convention,
exact disk / ball morphology, bounding boxes, centroids and the nearest-neighbour warps of the geometric ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage


RELATIVE_TO = ("image", "foreground")
"""What the size parameters of ``shift``, ``affine`` and ``rectangle_dropout`` are fractions of: the image (the
published catalogue) or the bounding box of the foreground (the catalogue before it, kept for the ``legacy``
registry)."""


def _check_relative_to(relative_to: str) -> str:
    """``relative_to`` validated (one of :data:`RELATIVE_TO`)."""
    if relative_to not in RELATIVE_TO:
        raise ValueError(f"relative_to must be one of {RELATIVE_TO}, got {relative_to!r}.")
    return relative_to


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
