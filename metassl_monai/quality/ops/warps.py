# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Non-rigid warps: elastic deformation and grid distortion of the map (or of one class), nearest-neighbour resampling.

Published entries: elastic with alpha 30 / sigma 4 and alpha 60 / sigma 5, the displacement being Gaussian noise
smoothed by sigma and multiplied by alpha (see :func:`elastic_displacement` for its magnitude); grid distortion with
5 cells / limit 0.2, 8 cells / 0.4 and, heavy, 12 cells / 0.6.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from ._common import _choice, _geometric, _resample

ELASTIC_SETTINGS = ((30.0, 4.0), (60.0, 5.0))
GRID_DISTORT_LIMITS = (0.2, 0.4)


ELASTIC_NOISE = ("normal", "uniform")


def elastic_displacement(
    shape: Sequence[int], rng: np.random.Generator, *, alpha: float, sigma: float, noise: str = "normal"
) -> np.ndarray:
    """
    The displacement field of :func:`elastic`: per axis, white noise smoothed by a Gaussian of ``sigma`` voxels and
    multiplied by ``alpha`` (edges reflected), as the published code (``GaussianBlur(randn * alpha, sigma)``).

    In 2D each component is Gaussian with standard deviation ``alpha * s(sigma)``, ``s(sigma) = sum_k g_k^2`` for the
    normalised 1D kernel ``g`` (``~ 1 / (2 sqrt(pi) sigma)``); the displacement length has the Rayleigh mean
    ``sqrt(pi / 2) * alpha * s(sigma) ~ alpha / (2 sqrt(2) sigma)`` (2.65 voxels for alpha 30 / sigma 4, 4.24 for
    60 / 5). A 3D Gaussian averages more noise (one more factor ``sqrt(s(sigma))``), so a 3D field is multiplied by
    ``(2 sqrt(pi) sigma) ** 0.5`` to displace 2D and 3D masks by about as much. ``noise="uniform"`` draws the noise in
    [-1, 1] instead of N(0, 1): its standard deviation is ``1 / sqrt(3) = 0.577``, which is why the catalogue before
    the published one (``legacy`` registry) displaced by 0.58 times the published amount.

    Args:
        shape: spatial shape (2D or 3D).
        rng: random generator.
        alpha: displacement scale in voxels.
        sigma: smoothing of the displacement field in voxels (> 0).
        noise: ``"normal"`` (published) or ``"uniform"`` (legacy).

    Returns:
        float64 array ``(ndim, *shape)``, the displacement of every voxel along every axis.

    Raises:
        ValueError: ``sigma <= 0`` or an unknown ``noise``.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    if noise not in ELASTIC_NOISE:
        raise ValueError(f"noise must be one of {ELASTIC_NOISE}, got {noise!r}.")
    shape = tuple(int(n) for n in shape)
    # smoothing white noise divides its standard deviation by (2 sqrt(pi) sigma)^(ndim / 2): rescale 3D fields to
    # the 2D level so that (alpha, sigma) give the same displacement magnitude in 2D and 3D
    gain = alpha * (2.0 * np.sqrt(np.pi) * sigma) ** ((len(shape) - 2) / 2.0)
    field = np.empty((len(shape),) + shape)
    for axis in range(len(shape)):
        white = rng.standard_normal(shape) if noise == "normal" else rng.uniform(-1.0, 1.0, size=shape)
        field[axis] = gain * ndimage.gaussian_filter(white, sigma, mode="reflect")
    return field


def elastic(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    alpha: float | None = None,
    sigma: float | None = None,
    noise: str = "normal",
    per_class: bool = False,
    label: int | None = None,
) -> np.ndarray:
    """
    Elastic deformation by the field of :func:`elastic_displacement` (Gaussian noise smoothed by ``sigma`` and scaled
    by ``alpha``, all axes, also in 3D), applied with nearest-neighbour interpolation (edges extended).

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        alpha: displacement scale in voxels; ``None`` draws the paper setting (30, 4) or (60, 5) together with
            ``sigma``.
        sigma: smoothing of the displacement field in voxels; ``None`` as ``alpha``.
        noise: ``"normal"`` (published) or ``"uniform"`` (the ``legacy`` registry; 0.58 times the displacement).
        per_class: deform one class only (written back as a binary op) instead of the whole map.
        label: the class when ``per_class``; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``sigma <= 0`` or an unknown ``noise``.
    """
    default_alpha, default_sigma = _choice(rng, ELASTIC_SETTINGS)
    alpha = default_alpha if alpha is None else float(alpha)
    sigma = default_sigma if sigma is None else float(sigma)
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    if noise not in ELASTIC_NOISE:
        raise ValueError(f"noise must be one of {ELASTIC_NOISE}, got {noise!r}.")

    def warp(arr: np.ndarray, region: np.ndarray) -> np.ndarray:
        coords = np.indices(arr.shape, dtype=float)
        coords += elastic_displacement(arr.shape, rng, alpha=alpha, sigma=sigma, noise=noise)
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
