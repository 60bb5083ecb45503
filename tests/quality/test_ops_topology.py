# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Topological corruptions (:mod:`metassl_monai.quality.ops.topology`): holes, islands, both, components, rectangle
dropout.

As published, rectangle dropout removes one box with sides 10–30 % of the **image**, anywhere in the image: it may miss
the class (the catalogue before it, ``relative_to="foreground"``, put a box of 20–50 % of the class's extent inside
the class's bounding box).
"""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, FixedRng, area, disk, n_components, rng, two_class_2d

from metassl_monai.quality import ops as O
from metassl_monai.quality.ops import HEAVY_OPS, LEGACY_REGISTRY, REGISTRY


@pytest.mark.parametrize("ndim", [2, 3])
def test_add_holes(ndim):
    mask = MASKS[ndim]()
    out = O.add_holes(mask, rng(2), n_holes=2, radius_range=(1.0, 2.0), label=1)
    assert area(out) < area(mask) and not np.any((out == 1) & (mask != 1))
    np.testing.assert_array_equal(out == 2, mask == 2)


@pytest.mark.parametrize("ndim", [2, 3])
def test_add_islands(ndim):
    mask = np.zeros((32, 32) if ndim == 2 else (20, 20, 12), np.int64)
    mask[disk(mask.shape, (8,) * ndim, 3)] = 1
    out = O.add_islands(mask, rng(3), n_islands=1, radius_range=(2.0, 3.0), label=1)
    assert np.all(out[mask == 1] == 1) and area(out) > area(mask)
    assert n_components(out == 1) == 2
    two = O.add_islands(mask, rng(3), n_islands=2, radius_range=(2.0, 2.0), label=1)
    assert n_components(two == 1) == 3


def test_components():
    mask = np.zeros((24, 24), np.int64)
    mask[2:6, 2:6] = 1  # 16
    mask[10:13, 10:13] = 1  # 9
    mask[18:20, 2:4] = 1  # 4
    mask[18:22, 15:20] = 2
    kept = O.keep_largest_component(mask, rng(), label=1)
    expected = mask.copy()
    expected[10:13, 10:13] = 0
    expected[18:20, 2:4] = 0
    np.testing.assert_array_equal(kept, expected)
    for seed in range(5):
        dropped = O.drop_component(mask, rng(seed), label=1)
        assert n_components(dropped == 1) == 2 and area(dropped) in (16 + 9, 16 + 4, 9 + 4)
        assert not np.any((dropped == 1) & (mask != 1))
        np.testing.assert_array_equal(dropped == 2, mask == 2)
    # a single component is removed
    np.testing.assert_array_equal(O.drop_component(mask, rng(), label=2) == 2, False)


# ------------------------------------------------------------------------------------------------ holes and islands
def test_holes_and_islands():
    mask = np.zeros((64, 64), np.int64)
    mask[16:40, 16:40] = 1
    out = O.holes_and_islands(mask, rng(4), n_holes=2, n_islands=2, radius_range=(3.0, 4.0), label=1)
    inside, outside = mask == 1, mask == 0
    assert np.any(inside & (out == 0))  # holes
    assert np.any(outside & (out == 1))  # islands
    assert n_components(out == 1) == 3  # the square (with its holes) and two islands
    islands = O.holes_and_islands(np.zeros((32, 32), np.int64), rng(0), num_classes=3)
    assert islands.any()  # no foreground: islands of a new class only


@pytest.mark.parametrize(
    "name,params",
    [
        ("holes_small", {"n_holes": 2, "radius_range": (3.0, 8.0)}),
        ("holes_large", {"n_holes": 3, "radius_range": (8.0, 15.0)}),
        ("islands_small", {"n_islands": 2, "radius_range": (3.0, 8.0)}),
        ("holes_and_islands", {"n_holes": 2, "n_islands": 2, "radius_range": (5.0, 15.0)}),
        ("holes_many", {"n_holes": 5, "radius_range": (10.0, 20.0)}),
        ("rect_dropout", {"n_rects": 1, "size_range": (0.1, 0.3)}),
    ],
)
def test_registry_topology_entries(name, params):
    assert dict(REGISTRY[name].params) == params
    assert (name == "holes_many") == (name in HEAVY_OPS)


# ------------------------------------------------------------------------------------------------ rectangle dropout
@pytest.mark.parametrize("u,sides", [("low", (10, 8)), ("high", (30, 24)), (0.25, (25, 20))])
def test_rectangle_dropout_sides_are_fractions_of_the_image(u, sides):
    """On a 100 x 80 mask that is all class 1 the removed pixels are the box: sides int(u * 100) x int(u * 80),
    at the origin when the position draw gives its low end."""
    mask = np.ones((100, 80), np.int64)
    out = O.rectangle_dropout(mask, FixedRng(u), label=1)
    expected = mask.copy()
    expected[: sides[0], : sides[1]] = 0
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("ndim", [2, 3])
def test_rectangle_dropout_random_sides_within_10_to_30_percent(ndim):
    shape = (100, 80) if ndim == 2 else (50, 40, 30)
    mask = np.ones(shape, np.int64)
    for seed in range(40):
        removed = O.rectangle_dropout(mask, rng(seed)) == 0
        idx = np.nonzero(removed)
        sides = np.array([i.max() - i.min() + 1 for i in idx])
        assert removed.sum() == np.prod(sides)  # one box
        assert np.all(sides >= np.floor(0.1 * np.array(shape))) and np.all(sides <= 0.3 * np.array(shape))


def test_rectangle_dropout_can_land_outside_the_object():
    mask = np.zeros((100, 100), np.int64)
    mask[10:20, 70:80] = 1  # a 10 x 10 object in a 100 x 100 image
    mask[60:90, 10:40] = 2
    outs = [O.rectangle_dropout(mask, rng(seed), label=1) for seed in range(60)]
    missed = sum(np.array_equal(out, mask) for out in outs)
    assert 0 < missed < 60  # the box is anywhere in the image: it often misses the object, sometimes hits it
    for out in outs:
        assert not np.any((out == 1) & (mask != 1))
        np.testing.assert_array_equal(out == 2, mask == 2)  # one class only
    legacy = LEGACY_REGISTRY["rectangle_dropout"]
    assert dict(legacy.params) == {"size_range": (0.2, 0.5), "relative_to": "foreground"}
    assert all(not np.array_equal(legacy(mask, rng(seed), label=1), mask) for seed in range(20))


def test_legacy_rectangle_dropout_inside_the_bounding_box():
    mask = two_class_2d()
    for seed in range(5):
        out = O.rectangle_dropout(mask, rng(seed), label=2, size_range=(0.2, 0.5), relative_to="foreground")
        removed = (mask == 2) & (out != 2)
        assert removed.any() and not np.any((out == 2) & (mask != 2))
        np.testing.assert_array_equal(out[removed], 0)
        rows, cols = np.nonzero(removed)  # a box of 20-50 % of the 8x10 bounding box
        assert 1 <= rows.max() - rows.min() + 1 <= 4 and 2 <= cols.max() - cols.min() + 1 <= 5
        assert removed.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
