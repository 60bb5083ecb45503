# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Geometric corruptions (:mod:`metassl_monai.quality.ops.geometric`): shift, scale, rotation, affine.

As published, a shift by ``f`` moves the map by ``int(U(-f, f) * n)`` voxels along an axis of ``n`` voxels: a
fraction of the **image**, not of the object (the catalogue before it, ``relative_to="foreground"``, used the object's
bounding box); the affine is about the image centre with its translation a fraction of the image.
"""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, FixedRng, area, centroid, disk, rng, two_class_2d

from metassl_monai.quality import ops as O
from metassl_monai.quality.ops import HEAVY_OPS, LEGACY_REGISTRY, REGISTRY


def small_object(n: int = 100) -> np.ndarray:
    """An n x n image with a 6 x 6 object of class 1 in the middle (rows and columns 47..52)."""
    mask = np.zeros((n, n), np.int64)
    mask[47:53, 47:53] = 1
    return mask


# ------------------------------------------------------------------------------------------------ shift
@pytest.mark.parametrize("ndim,offset", [(2, (3, -5)), (3, (2, 1, -1))])
def test_shift_moves_the_centroid(ndim, offset):
    mask = MASKS[ndim]()
    out = O.shift(mask, rng(), offset=offset)
    for c in (1, 2):
        np.testing.assert_allclose(centroid(out == c) - centroid(mask == c), offset)
        assert area(out, c) == area(mask, c)


@pytest.mark.parametrize("u,expected", [("high", (10, 10)), ("low", (-10, -10)), (0.05, (5, 5)), (0.099, (9, 9))])
def test_a_10_percent_shift_of_a_small_object_in_a_100_pixel_image(u, expected):
    """U(-0.1, 0.1) at its ends moves the 6-pixel object by 10 pixels (10 % of the image, not 0.6 = 10 % of the
    object); inside, the offset is truncated towards zero (int(0.099 * 100) = 9)."""
    mask = small_object()
    out = O.shift(mask, FixedRng(u), max_fraction=0.1)
    np.testing.assert_allclose(centroid(out == 1) - centroid(mask == 1), expected)
    assert area(out) == 36


def test_shift_offsets_are_uniform_fractions_of_the_image():
    """int(U(-10, 10)) takes |offset| = 0, 1, ..., 9 with probability 0.1 each: mean 4.5, maximum 9."""
    mask = small_object()
    moved = np.array([centroid(O.shift(mask, rng(seed), max_fraction=0.1) == 1) - centroid(mask == 1)
                      for seed in range(400)])
    assert np.all(moved == np.round(moved)) and np.abs(moved).max() == 9
    assert np.abs(moved).mean() == pytest.approx(4.5, abs=0.35)
    counts = np.bincount(np.abs(moved).astype(int).ravel(), minlength=10)
    assert np.all(np.abs(counts / 800 - 0.1) < 0.04)


def test_shift_relative_to_the_image_size_per_axis():
    mask = np.zeros((40, 200), np.int64)
    mask[18:22, 98:102] = 1
    out = O.shift(mask, FixedRng("high"), max_fraction=0.2)
    np.testing.assert_allclose(centroid(out == 1) - centroid(mask == 1), (8, 40))  # 20 % of 40 and of 200


def test_legacy_shift_is_relative_to_the_object():
    """The catalogue before the published one: round(U(-f, f) * extent) of the foreground's bounding box."""
    mask = small_object()
    out = O.shift(mask, FixedRng("high"), max_fraction=0.1, relative_to="foreground")
    np.testing.assert_allclose(centroid(out == 1) - centroid(mask == 1), (1, 1))  # round(0.6)
    assert dict(LEGACY_REGISTRY["shift"].params) == {"relative_to": "foreground"}
    for seed in range(20):
        moved = centroid(LEGACY_REGISTRY["shift"](mask, rng(seed)) == 1) - centroid(mask == 1)
        assert np.all(np.abs(moved) <= 0.3 * 6 + 0.5)


@pytest.mark.parametrize("name,fraction", [("shift_small", 0.1), ("shift_medium", 0.2), ("shift_large", 0.3),
                                           ("shift_very_large", 0.4)])
def test_registry_shifts(name, fraction):
    assert dict(REGISTRY[name].params) == {"max_fraction": fraction}
    mask = small_object(200)
    mask[47:53, 47:53] = 0
    mask[97:103, 97:103] = 1
    moved = np.array([centroid(REGISTRY[name](mask, rng(seed)) == 1) - centroid(mask == 1) for seed in range(60)])
    assert np.abs(moved).max() <= fraction * 200 and np.abs(moved).max() > 0.8 * fraction * 200
    assert name != "shift_very_large" or name in HEAVY_OPS


# ------------------------------------------------------------------------------------------------ affine
def test_affine_translation_is_a_fraction_of_the_image():
    identity = dict(max_rotation=0.0, scale_range=(1.0, 1.0))
    mask = small_object()
    out = O.affine(mask, FixedRng("high"), **identity)  # shift 10 % of 100 along both axes
    np.testing.assert_allclose(centroid(out == 1) - centroid(mask == 1), (10, 10))
    out = O.affine(mask, FixedRng("high"), relative_to="foreground", **identity)  # 10 % of the 6-pixel extent
    np.testing.assert_allclose(centroid(out == 1) - centroid(mask == 1), (1, 1))


def test_affine_is_about_the_image_centre():
    """A 1.5x scaling about the image centre (49.5, 49.5) moves the centroid (49.5, 24.5) to
    (49.5, 49.5 + 1.5 * (24.5 - 49.5)) = (49.5, 12); about the object's centroid it stays where it is."""
    mask = np.zeros((100, 100), np.int64)
    mask[40:60, 20:30] = 1  # centroid (49.5, 24.5)
    fixed = dict(max_rotation=0.0, scale_range=(1.5, 1.5), max_shift_fraction=0.0)
    out = O.affine(mask, rng(), **fixed)
    np.testing.assert_allclose(centroid(out == 1), (49.5, 49.5 - 1.5 * 25.0), atol=0.5)
    out = O.affine(mask, rng(), relative_to="foreground", **fixed)
    np.testing.assert_allclose(centroid(out == 1), (49.5, 24.5), atol=0.5)


def test_random_affine_is_the_published_one():
    assert dict(REGISTRY["random_affine"].params) == {
        "max_rotation": 15.0, "scale_range": (0.9, 1.1), "max_shift_fraction": 0.1,
    }
    # defaults: isotropic scale, no shear, about the image centre
    mask = np.zeros((64, 64), np.int64)
    mask[20:44, 28:36] = 1
    for seed in range(5):
        out = O.affine(mask, rng(seed), max_rotation=0.0, max_shift_fraction=0.0)
        rows, cols = np.nonzero(out == 1)
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert h / w == pytest.approx(24 / 8, rel=0.15)  # one scale factor for both axes keeps the aspect ratio
        assert 0.9**2 - 0.1 < area(out) / area(mask) < 1.1**2 + 0.1


# ------------------------------------------------------------------------------------------------ scale, rotation
@pytest.mark.parametrize("factor", [0.8, 1.2, 1.5])
def test_scale_2d_area(factor):
    mask = disk((48, 48), (24, 24), 8).astype(np.int64)
    out = O.scale(mask, rng(), factor=factor)
    assert area(out) / area(mask) == pytest.approx(factor**2, rel=0.1)
    np.testing.assert_allclose(centroid(out == 1), (24, 24), atol=0.6)


@pytest.mark.parametrize("factor", [0.75, 1.25, 1.5])
def test_scale_3d_volume(factor):
    mask = np.zeros((24, 24, 20), np.int64)
    mask[8:16, 8:16, 6:14] = 1
    out = O.scale(mask, rng(), factor=factor)
    assert area(out) / area(mask) == pytest.approx(factor**3, rel=0.15)


@pytest.mark.parametrize("heavy", [False, True])
def test_random_scale_factor_ranges(heavy):
    mask = disk((48, 48), (24, 24), 8).astype(np.int64)
    fn = (lambda m, r: O.scale(m, r, ranges=O.HEAVY_SCALE_RANGES)) if heavy else O.scale
    low, high = ((0.5, 0.7), (1.4, 1.6)) if heavy else ((0.75, 0.9), (1.1, 1.25))
    for seed in range(6):
        ratio = area(fn(mask, rng(seed))) / area(mask)
        assert low[0] ** 2 - 0.1 < ratio < low[1] ** 2 + 0.1 or high[0] ** 2 - 0.1 < ratio < high[1] ** 2 + 0.1


def test_rotate_90_swaps_the_extents_2d():
    mask = np.zeros((32, 32), np.int64)
    mask[10:16, 6:20] = 1  # 6 x 14, centroid (12.5, 12.5)
    out = O.rotate(mask, rng(), angle=90.0)
    rows, cols = np.nonzero(out == 1)
    assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (14, 6)
    assert area(out) == area(mask)
    np.testing.assert_allclose(centroid(out == 1), (12.5, 12.5))


def test_rotate_90_swaps_the_in_plane_extents_3d():
    mask = np.zeros((24, 24, 8), np.int64)
    mask[8:12, 4:18, 2:5] = 1
    out = O.rotate(mask, rng(), angle=90.0)
    idx = np.nonzero(out == 1)
    assert tuple(int(i.max() - i.min() + 1) for i in idx) == (14, 4, 3)
    assert area(out) == area(mask)


def test_random_rotation_keeps_the_area_roughly():
    mask = two_class_2d()
    for seed in range(4):
        out = O.rotate(mask, rng(seed), max_angle=30.0)
        assert area(out, 2) == pytest.approx(area(mask, 2), rel=0.2)
