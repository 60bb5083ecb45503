# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Blob corruptions: one class replaced by a blob at its centroid (they imitate the coarse outputs of an early
segmenter).

:func:`gaussian_blob` and :func:`circular_blob` are the published ones (the area-matched level set of a Gaussian
with the class's per-axis spread, and a disk / ball); :func:`blob` is the random blob of the catalogue before the
published one, kept for the ``legacy`` registry.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import (
    _apply_binary,
    _centroid,
    _check_mask,
    _choice,
    _pick_or_new_label,
    _squared_distance,
    _write_back,
)


def _top(score: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` pixels of highest ``score`` (all of them when ``count`` is at least the size)."""
    new = np.zeros(score.shape, dtype=bool)
    if count >= score.size:
        new[...] = True
    elif count > 0:
        new.flat[np.argpartition(-score.ravel(), count - 1)[:count]] = True
    return new


def _check_size_factor(size_factor: float) -> float:
    if not float(size_factor) > 0:
        raise ValueError(f"size_factor must be > 0, got {size_factor}.")
    return float(size_factor)


def gaussian_blob(
    mask: np.ndarray, rng: np.random.Generator, *, size_factor: float = 1.0, label: int | None = None
) -> np.ndarray:
    """
    Replace one class by the level set of an axis-aligned Gaussian at its centroid, with standard deviations
    ``size_factor`` times the class's per-axis spread, that has the class's area (voxel count) exactly.

    The region is the ``area`` pixels of largest ``-sum_i (x_i - mu_i)^2 / v_i`` (``mu`` the centroid, ``v_i`` the
    variance of the class's coordinates along axis ``i`` plus 1/12, the variance of a unit pixel, which keeps thin
    regions well defined): an axis-aligned ellipse (ellipsoid) with the class's aspect ratio. As in the published code,
    which thresholds the Gaussian at the area's percentile, ``size_factor`` rescales the Gaussian but not the region
    (the published ``gaussian_blob_large``, factor 1.2, is the same blob as ``gaussian_blob``, factor 1.0). A mask
    without the class is returned unchanged.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        size_factor: scale of the Gaussian's standard deviations (> 0).
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``size_factor <= 0``.
    """
    size_factor = _check_size_factor(size_factor)

    def fn(x: np.ndarray) -> np.ndarray:
        coords = np.nonzero(x)
        centre = [float(c.mean()) for c in coords]
        variance = [(float(c.var()) + 1.0 / 12.0) * size_factor**2 for c in coords]
        grids = np.ogrid[tuple(slice(0, n) for n in x.shape)]
        score = -sum((g - c) ** 2 / v for g, c, v in zip(grids, centre, variance))
        return _top(np.broadcast_to(score, x.shape), int(np.count_nonzero(x)))

    return _apply_binary(mask, rng, label, fn)


def circular_blob(
    mask: np.ndarray, rng: np.random.Generator, *, size_factor: float = 1.0, label: int | None = None
) -> np.ndarray:
    """
    Replace one class by a disk (2D) / ball (3D) at its centroid with ``size_factor ** ndim`` times its area (voxel
    count): the pixels closest to the centroid. With the published factor 1.0 the disk has the class's area (the
    published code draws the disk of radius ``int(sqrt(area / pi))``, slightly smaller). A mask without the class is
    returned unchanged.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (used to draw the class).
        size_factor: radius scale (> 0); the area scales by its ``ndim``-th power.
        label: the class; ``None`` draws a present foreground class.

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``size_factor <= 0``.
    """
    size_factor = _check_size_factor(size_factor)

    def fn(x: np.ndarray) -> np.ndarray:
        count = int(round(np.count_nonzero(x) * size_factor**x.ndim))
        score = -np.broadcast_to(_squared_distance(x.shape, _centroid(x)), x.shape)
        return _top(score, max(count, 1))

    return _apply_binary(mask, rng, label, fn)


def blob(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    mode: str | None = None,
    label: int | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """
    The random blob of the catalogue before the published one (``legacy`` registry): one class replaced by an
    area-matched blob at its centroid, the ``area`` pixels with the highest score, the score being minus the distance
    to the centroid (``"sphere"``: a disk / ball) or that plus smoothed Gaussian noise (``"gaussian"``: a random
    blob). The area (voxel count) is preserved exactly. With no foreground a random class in ``1..num_classes-1`` gets
    a blob of 5–20 % of the image at a random position.

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
    return _write_back(mask, label, _top(score, area))
