# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Geometric corruptions: shift, scale, rotation and a random affine transform of the map (or of one class).

Shift and affine are relative to the **image** (published: the offset is a fraction of the image size, the affine is
about the image centre); scale and rotation are about the foreground centroid, as published. ``relative_to=
"foreground"`` gives the earlier behaviour (offsets relative to the foreground's bounding box), used by the
``legacy`` registry.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._common import _affine_about, _bbox, _centroid, _check_relative_to, _choice, _geometric, _rotation_matrix

SHIFT_FRACTIONS = (0.1, 0.2, 0.3)
SCALE_RANGES = ((0.75, 0.9), (1.1, 1.25))
HEAVY_SCALE_RANGES = ((0.5, 0.7), (1.4, 1.6))
ROTATION_LIMITS = (15.0, 30.0)


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
    relative_to: str = "image",
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    Translate the map (or one class) by up to ``max_fraction`` of the image size along every axis.

    The offset along axis ``i`` is ``int(U(-f, f) * n_i)`` voxels (truncated towards zero), ``n_i`` the image size
    along the axis, as in the published catalogue: a 10 % shift moves an object by up to a tenth of the image, whatever
    the object's size. With ``relative_to="foreground"`` it is ``round(U(-f, f) * extent_i)``, ``extent_i`` the
    bounding-box extent of the foreground (of the class when ``per_class``): the behaviour before the published
    catalogue, kept for the ``legacy`` registry. The uncovered part is background.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        max_fraction: maximum shift as a fraction of the image size (or extent); ``None`` draws 0.1, 0.2 or 0.3
            (heavy: 0.4).
        offset: explicit integer offset per axis (overrides ``max_fraction``).
        relative_to: ``"image"`` or ``"foreground"``, what ``max_fraction`` is a fraction of.
        per_class: move one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``max_fraction < 0``, ``offset`` has the
            wrong length or ``relative_to`` is unknown.
    """
    _check_relative_to(relative_to)
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
        elif relative_to == "image":
            fractions = rng.uniform(-max_fraction, max_fraction, size=arr.ndim)
            off = [int(v) for v in np.trunc(fractions * np.array(arr.shape))]
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
    max_rotation: float = 15.0,
    scale_range: Sequence[float] = (0.9, 1.1),
    max_shear: float = 0.0,
    max_shift_fraction: float = 0.1,
    isotropic: bool = True,
    relative_to: str = "image",
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    A random small affine transform: rotation (plane of the first two axes) times scaling times shear (all
    off-diagonal terms), plus a translation; nearest neighbour, outside is background.

    The defaults are the published ``random_affine``: one scale factor in 0.9–1.1, rotation within ±15°, no shear,
    about the image centre, shifted by ``int(U(-0.1, 0.1) * n_i)`` voxels along axis ``i`` (a tenth of the image
    at most). With ``relative_to="foreground"`` the transform is about the foreground's centroid and the shift a
    fraction of its bounding-box extent; the ``legacy`` registry uses that with rotation ±10°, per-axis scaling
    (``isotropic=False``), shear 0.1 and shift 0.05 (the catalogue before the published one).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        max_rotation: maximum rotation angle in degrees.
        scale_range: (low, high) range of the scale factor(s).
        max_shear: maximum absolute shear coefficient.
        max_shift_fraction: maximum translation as a fraction of the image size (or of the foreground's extent) per
            axis.
        isotropic: one scale factor for all axes (else one per axis).
        relative_to: ``"image"`` (about the image centre, shift relative to the image size) or ``"foreground"``
            (about the foreground centroid, shift relative to its bounding-box extent).
        per_class: transform one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, a scale factor ``<= 0`` or an unknown
            ``relative_to``.
    """
    if min(scale_range) <= 0:
        raise ValueError(f"scale_range must be positive, got {scale_range}.")
    _check_relative_to(relative_to)

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        ndim = arr.ndim
        rotation = _rotation_matrix(ndim, rng.uniform(-max_rotation, max_rotation))
        factors = rng.uniform(scale_range[0], scale_range[1], size=1 if isotropic else ndim)
        scaling = np.diag(np.broadcast_to(factors, (ndim,)))
        shear = np.eye(ndim) + (1.0 - np.eye(ndim)) * rng.uniform(-max_shear, max_shear, size=(ndim, ndim))
        fractions = rng.uniform(-max_shift_fraction, max_shift_fraction, size=ndim)
        if relative_to == "image":
            size = np.array(arr.shape, dtype=float)
            centre, translation = (size - 1.0) / 2.0, np.trunc(fractions * size)
        else:
            lower, upper = _bbox(region)
            centre, translation = _centroid(region), fractions * (upper - lower + 1)
        return _affine_about(arr, rotation @ scaling @ shear, centre, translation)

    return _geometric(mask, rng, per_class, label, warp)
