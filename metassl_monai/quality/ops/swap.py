# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The cross-image swap: the mask of another image, resized to the current one (the sampler draws it among the masks
closest in foreground area; see :class:`~metassl_monai.quality.corruptions.MaskCorruptor`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._common import _check_mask


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
