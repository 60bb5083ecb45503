# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Blob corruptions (:mod:`metassl_monai.quality.ops.blobs`): the published Gaussian and circular blobs (area-matched, at
the class's centroid) and the random blob of the catalogue before it.
"""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, area, centroid, rng

from metassl_monai.quality import ops as O
from metassl_monai.quality.ops import BLOB_ENTRIES, REGISTRY


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("fn", [O.gaussian_blob, O.circular_blob])
def test_published_blobs_are_area_matched_at_the_centroid(fn, ndim):
    mask = MASKS[ndim]()
    out = fn(mask, rng(9), label=2)
    assert area(out, 2) == area(mask, 2)
    assert not np.array_equal(out == 2, mask == 2)
    assert np.linalg.norm(centroid(out == 2) - centroid(mask == 2)) < 1.0
    np.testing.assert_array_equal(out == 1, (mask == 1) & (out != 2))


def test_gaussian_blob_of_a_rectangle_is_an_ellipse_with_its_aspect_ratio():
    mask = np.zeros((64, 64), np.int64)
    mask[22:42, 12:52] = 1  # 20 x 40, centroid (31.5, 31.5)
    out = O.gaussian_blob(mask, rng()) == 1
    assert out.sum() == 800
    rows, cols = np.nonzero(out)
    height, width = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
    assert width / height == pytest.approx(2.0, rel=0.1)  # the per-axis spreads' ratio
    # an ellipse of area 800 and axis ratio 2: semi-axes sqrt(800 / (2 pi)) = 11.3 and 22.6
    assert height == pytest.approx(2 * 11.3, abs=2) and width == pytest.approx(2 * 22.6, abs=2)
    np.testing.assert_allclose(centroid(out), (31.5, 31.5), atol=0.5)
    assert out[31, 31] and not out[22, 12]  # corners cut off


def test_gaussian_blob_size_factor_does_not_change_the_area_matched_blob():
    """As published: the Gaussian is thresholded at the class's area, so its scale does not matter."""
    mask = MASKS[2]()
    np.testing.assert_array_equal(O.gaussian_blob(mask, rng(), size_factor=1.2, label=1),
                                  O.gaussian_blob(mask, rng(), size_factor=1.0, label=1))


def test_circular_blob_is_the_disk_of_the_area():
    mask = np.zeros((32, 32), np.int64)
    mask[10:20, 10:20] = 1
    out = O.circular_blob(mask, rng()) == 1
    grids = np.ogrid[:32, :32]
    d2 = (grids[0] - 14.5) ** 2 + (grids[1] - 14.5) ** 2
    assert out.sum() == 100 and d2[out].max() <= d2[~out].min()  # the 100 pixels closest to the centroid
    bigger = O.circular_blob(mask, rng(), size_factor=1.2) == 1
    assert bigger.sum() == 144  # 1.2^2 times the area


def test_blob_entries():
    assert BLOB_ENTRIES == ("gaussian_blob", "gaussian_blob_large", "circular_blob", "convex_hull", "bounding_box")
    assert {n for n, e in REGISTRY.items() if e.blob} == set(BLOB_ENTRIES)
    assert dict(REGISTRY["gaussian_blob"].params) == {"size_factor": 1.0}
    assert dict(REGISTRY["gaussian_blob_large"].params) == {"size_factor": 1.2}
    assert dict(REGISTRY["circular_blob"].params) == {"size_factor": 1.0}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("mode", ["gaussian", "sphere", None])
def test_legacy_blob_area_matched(ndim, mode):
    mask = MASKS[ndim]()
    out = O.blob(mask, rng(9), mode=mode, label=2)
    assert abs(area(out, 2) - area(mask, 2)) <= 0.15 * area(mask, 2)
    assert not np.array_equal(out == 2, mask == 2)
    assert np.linalg.norm(centroid(out == 2) - centroid(mask == 2)) < 3.0


def test_legacy_blob_sphere_is_a_disk():
    mask = np.zeros((32, 32), np.int64)
    mask[10:20, 10:20] = 1
    out = O.blob(mask, rng(), mode="sphere") == 1
    grids = np.ogrid[:32, :32]
    d2 = (grids[0] - 14.5) ** 2 + (grids[1] - 14.5) ** 2
    assert d2[out].max() <= d2[~out].min()  # the 100 pixels closest to the centroid
