# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The cross-image swap (:mod:`metassl_monai.quality.ops.swap`): the mask of another image, resized."""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import rng, two_class_2d

from metassl_monai.quality import ops as O


def test_swap_returns_the_other_mask():
    mask = two_class_2d()
    other = np.zeros((32, 32), np.int32)
    other[3:9, 20:30] = 2
    out = O.swap(mask, rng(), other=other)
    np.testing.assert_array_equal(out, other)
    assert out.dtype == mask.dtype and out is not other


def test_swap_resizes_with_nearest_neighbour():
    other = np.zeros((8, 8), np.int64)
    other[2:4, 4:8] = 1
    out = O.swap(np.zeros((16, 16), np.uint8), rng(), other=other)
    expected = np.zeros((16, 16), np.uint8)
    expected[4:8, 8:16] = 1
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match="dimensions"):
        O.swap(np.zeros((16, 16), np.uint8), rng(), other=np.zeros((4, 4, 4), np.int64))
