# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Morphological corruptions (:mod:`metassl_monai.quality.ops.morphology`): erosion, dilation, opening, closing."""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, area, disk, n_components, rng
from scipy import ndimage

from metassl_monai.quality import ops as O



@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("kernel_size", [3, 5, None])
def test_erode_dilate(ndim, kernel_size):
    mask = MASKS[ndim]()
    eroded = O.erode(mask, rng(), kernel_size=kernel_size, label=1)
    dilated = O.dilate(mask, rng(), kernel_size=kernel_size, label=1)
    assert area(eroded) < area(mask) and not np.any((eroded == 1) & (mask != 1))
    assert area(dilated) > area(mask) and np.all(dilated[mask == 1] == 1)
    np.testing.assert_array_equal(eroded == 2, mask == 2)


def test_erode_dilate_exact_2d():
    mask = np.zeros((16, 16), np.int64)
    mask[4:12, 4:12] = 1
    expected_eroded = np.zeros_like(mask)
    expected_eroded[5:11, 5:11] = 1
    np.testing.assert_array_equal(O.erode(mask, rng(), kernel_size=3), expected_eroded)
    # kernel 3 -> the 3x3 cross (disk of radius 1): a plus-shaped dilation of the square
    dilated = O.dilate(mask, rng(), kernel_size=3)
    assert area(dilated) == 64 + 4 * 8
    assert dilated[3, 3] == 0 and dilated[3, 4] == 1


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("kernel_size", [3, 5, 7, 11])
def test_erode_dilate_equal_binary_morphology_with_a_disk(ndim, kernel_size):
    """The distance-transform implementation equals scipy's binary morphology with the disk / ball element."""
    mask = MASKS[ndim]().astype(np.int64)
    r = kernel_size // 2
    element = disk((2 * r + 1,) * ndim, (r,) * ndim, r)
    for label in (1, 2):
        x = mask == label
        np.testing.assert_array_equal(
            O.dilate(mask, rng(), kernel_size=kernel_size, label=label) == label, ndimage.binary_dilation(x, element)
        )
        np.testing.assert_array_equal(
            O.erode(mask, rng(), kernel_size=kernel_size, label=label) == label,
            ndimage.binary_erosion(x, element, border_value=1),
        )


def test_erode_does_not_erode_from_the_image_border():
    mask = np.zeros((16, 16), np.int64)
    mask[:, :8] = 1  # touches three image borders
    eroded = O.erode(mask, rng(), kernel_size=5)
    np.testing.assert_array_equal(eroded[:, :6], 1)
    np.testing.assert_array_equal(eroded[:, 6:], 0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_opening_subset_closing_superset(ndim):
    mask = MASKS[ndim]().astype(np.int64)
    # a one-voxel-thin spur on class 1 and a one-voxel notch in class 2
    if ndim == 2:
        mask[12, 18:24] = 1
        mask[24, 18:23] = 0
    else:
        mask[6, 9:13, 4] = 1
        mask[12, 9:12, 3] = 0
    opened = O.opening(mask, rng(), label=1)
    closed = O.closing(mask, rng(), label=2)
    assert not np.any((opened == 1) & (mask != 1)) and area(opened) < area(mask)
    assert np.all(closed[mask == 2] == 2) and area(closed, 2) > area(mask, 2)
    spur = (12, slice(20, 24)) if ndim == 2 else (6, slice(11, 13), 4)
    assert not np.any(opened[spur] == 1)  # the spur is gone


def test_closing_fills_a_gap():
    mask = np.zeros((16, 16), np.int64)
    mask[4:12, 3:7] = 1
    mask[4:12, 8:12] = 1  # one-pixel gap at column 7
    closed = O.closing(mask, rng(), kernel_size=5)
    np.testing.assert_array_equal(closed[5:11, 7], 1)
    assert n_components(closed == 1) == 1
