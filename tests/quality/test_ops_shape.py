# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Shape approximations (:mod:`metassl_monai.quality.ops.shape`): convex hull, bounding box, ellipse, polygon."""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, area, centroid, dice, disk, rng

from metassl_monai.quality import ops as O



def l_shape(shape=(16, 16)) -> np.ndarray:
    mask = np.zeros(shape, np.int64)
    mask[2:12, 2:5] = 1
    mask[9:12, 2:12] = 1
    return mask


def test_convex_hull_fills_the_notch_2d():
    mask = l_shape()
    hull = O.convex_hull(mask, rng())
    assert np.all(hull[mask == 1] == 1)
    assert hull[6, 6] == 1 and hull[8, 9] == 1  # inside the notch, below the diagonal (2, 4)-(9, 11)
    assert hull[3, 8] == 0 and hull[5, 10] == 0  # above the diagonal
    rows, cols = np.nonzero(hull)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 11, 2, 11)
    # the hull's pixel count: L (30 + 21) + the triangle of the notch on or below the diagonal r = c - 2
    notch = sum(1 for r in range(2, 9) for c in range(5, 12) if r >= c - 2)
    assert area(hull) == 51 + notch


def test_convex_hull_3d_of_a_prism_is_the_2d_hull_per_slice():
    prism = np.repeat(l_shape()[..., None], 6, axis=2)
    prism[..., :1] = 0
    hull3 = O.convex_hull(prism, rng())
    hull2 = O.convex_hull(l_shape(), rng())
    for z in range(1, 6):
        np.testing.assert_array_equal(hull3[..., z], hull2)
    np.testing.assert_array_equal(hull3[..., 0], 0)


def test_convex_hull_of_a_degenerate_region():
    mask = np.zeros((8, 8), np.int64)
    mask[3, 1:6] = 1  # collinear pixels
    np.testing.assert_array_equal(O.convex_hull(mask, rng()), mask)


@pytest.mark.parametrize("ndim", [2, 3])
def test_bounding_box(ndim):
    mask = MASKS[ndim]()
    out = O.bounding_box(mask, rng(), label=1)
    expected = mask.copy()
    box = (slice(6, 19), slice(6, 19)) if ndim == 2 else (slice(3, 10), slice(3, 10), slice(1, 8))
    expected[box] = 1
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("ndim", [2, 3])
def test_ellipse_fit_of_an_ellipse(ndim):
    if ndim == 2:
        shape, grids = (48, 48), np.ogrid[:48, :48]
        ellipse = ((grids[0] - 23.5) / 12) ** 2 + ((grids[1] - 20) / 7) ** 2 <= 1
    else:
        shape, grids = (32, 32, 24), np.ogrid[:32, :32, :24]
        ellipse = ((grids[0] - 15.5) / 10) ** 2 + ((grids[1] - 14) / 6) ** 2 + ((grids[2] - 11.5) / 8) ** 2 <= 1
    mask = ellipse.astype(np.int64)
    assert mask.shape == shape
    fitted = O.ellipse_fit(mask, rng()) == 1
    assert dice(fitted, ellipse) > 0.95


def test_ellipse_fit_of_a_square_is_a_disk_like_region():
    mask = np.zeros((32, 32), np.int64)
    mask[8:24, 8:24] = 1
    fitted = O.ellipse_fit(mask, rng()) == 1
    assert abs(area(fitted) - 256) / 256 < 0.15  # same second moments: an ellipse of about the same area
    assert fitted[16, 16] and not fitted[8, 8]  # corners cut off
    np.testing.assert_allclose(centroid(fitted), (15.5, 15.5), atol=0.5)


@pytest.mark.parametrize("n_vertices", [3, 5, 8])
def test_polygon_approx_of_a_disk(n_vertices):
    mask = disk((32, 32), (15, 15), 10).astype(np.int64)
    out = O.polygon_approx(mask, rng(4), n_vertices=n_vertices) == 1
    assert not np.array_equal(out, mask == 1)
    # an inscribed n-gon: area n/(2 pi) sin(2 pi / n) r^2 of the disk's (plus the half-pixel edge band)
    ratio = n_vertices / (2 * np.pi) * np.sin(2 * np.pi / n_vertices)
    assert ratio - 0.05 < area(out) / area(mask) < ratio + 0.2
    assert out[15, 15]


def test_polygon_approx_3d_is_slice_wise():
    mask = np.zeros((24, 24, 4), np.int64)
    mask[..., 1:3] = disk((24, 24), (11, 11), 8)[..., None]
    out = O.polygon_approx(mask, rng(0), n_vertices=5)
    np.testing.assert_array_equal(out[..., 1], out[..., 2])  # same vertices and phase in equal slices
    np.testing.assert_array_equal(out[..., 0], 0)
    assert 0 < area(out[..., 1]) < area(mask[..., 1])
