# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Non-rigid warps: elastic deformation and grid distortion of the map (or of one class), nearest-neighbour resampling.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import _choice, _geometric, _resample

ELASTIC_SETTINGS = ((30.0, 4.0), (60.0, 5.0))
GRID_DISTORT_LIMITS = (0.2, 0.4)


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
