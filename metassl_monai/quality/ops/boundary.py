# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Boundary perturbations: a jagged boundary (pixels of a band around the boundary flipped at random) and Gaussian
smoothing of one class.

Published entries: jagged boundary with kernel 3 and 5 (a band of width 1 and 2 on each side of the boundary, each
pixel flipped with probability 0.5), smoothing with a Gaussian kernel of 11 or 15 and a threshold of 0.5.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import _apply_binary, _choice, _on_crop

SMOOTH_KERNEL_SIZES = (11, 15)
JAGGED_WIDTHS = (1, 2, 3)


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
