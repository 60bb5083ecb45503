# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Morphological corruptions: erosion, dilation, opening and closing of one class with a disk (2D) / ball (3D).

Published entries: erosion and dilation with kernel 5, 7, 9 (11 heavy), opening and closing with kernel 5. The
structuring elements are discrete disks (2D) / balls (3D) ``{b : |b|^2 <= r^2}`` with ``r = kernel_size // 2`` voxels
(the published code uses a ``kernel_size`` square: a disk is isotropic and generalises to 3D); erosion and dilation are
computed exactly through Euclidean distance transforms of the region's bounding box grown by the radius (equal to
binary morphology with that element, at a cost independent of the radius). The image border is not treated as
background by erosion (a region touching the border is not eroded from it).
"""

from __future__ import annotations

import numpy as np

from ._common import _apply_binary, _dilate_bin, _erode_bin, _kernel_radius

MORPH_KERNEL_SIZES = (5, 7, 9)


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
