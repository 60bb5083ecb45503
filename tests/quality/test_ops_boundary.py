# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Boundary perturbations (:mod:`metassl_monai.quality.ops.boundary`): jagged boundary, smoothing."""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, rng
from scipy import ndimage

from metassl_monai.quality import ops as O



@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("width", [1, 2])
def test_jagged_boundary_changes_only_the_band(ndim, width):
    mask = MASKS[ndim]()
    out = O.jagged_boundary(mask, rng(6), width=width, label=1)
    region = mask == 1
    changed = out != mask
    assert changed.any()
    band = (ndimage.distance_transform_edt(region) <= width) & region
    band |= (ndimage.distance_transform_edt(~region) <= width) & ~region
    assert not np.any(changed & ~band)
    assert 0.3 < changed.sum() / band.sum() < 0.7  # flip probability 0.5


def test_smooth_removes_a_thin_spur():
    mask = np.zeros((32, 32), np.int64)
    mask[8:24, 8:24] = 1
    mask[15, 24:30] = 1
    out = O.smooth(mask, rng(), kernel_size=11)
    assert not np.any(out[15, 25:30])
    np.testing.assert_array_equal(out[11:21, 11:21], 1)
    assert out[8, 8] == 0  # rounded corner
