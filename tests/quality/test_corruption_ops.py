# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the mask-corruption ops :mod:`metassl_monai.quality.ops` on small hand-made 2D / 3D label maps."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from metassl_monai.quality import ops as O
from metassl_monai.quality.ops import CATASTROPHIC_OPS, HEAVY_OPS, OPS

C = 3  # background + 2 classes


def disk(shape, centre, radius) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum((g - c) ** 2 for g, c in zip(grids, centre)) <= radius**2


def two_class_2d() -> np.ndarray:
    """32x32: a disk of class 1 (radius 6 at (12, 12)) and a 8x10 rectangle of class 2."""
    mask = np.zeros((32, 32), dtype=np.int64)
    mask[disk(mask.shape, (12, 12), 6)] = 1
    mask[20:28, 18:28] = 2
    return mask


def two_class_3d() -> np.ndarray:
    """16x16x8 (uint8): a ball of class 1 (radius 3 at (6, 6, 4)) and a 4x5x4 box of class 2."""
    mask = np.zeros((16, 16, 8), dtype=np.uint8)
    mask[disk(mask.shape, (6, 6, 4), 3)] = 1
    mask[10:14, 9:14, 2:6] = 2
    return mask


MASKS = {2: two_class_2d, 3: two_class_3d}
ALL_OPS = (
    [("single", name) for name in OPS] + [("heavy", name) for name in HEAVY_OPS]
    + [("catastrophic", name) for name in CATASTROPHIC_OPS]
)
REGISTRIES = {"single": OPS, "heavy": HEAVY_OPS, "catastrophic": CATASTROPHIC_OPS}
BINARY_OPS = [
    "erode", "dilate", "opening", "closing", "ellipse_fit", "polygon_approx", "convex_hull", "bounding_box",
    "jagged_boundary", "smooth", "add_holes", "add_islands", "keep_largest_component", "drop_component",
    "rectangle_dropout", "blob",
]
GEOMETRIC_OPS = ["shift", "scale", "rotate", "affine", "elastic", "grid_distortion"]
CREATES_FOREGROUND = {"add_islands", "blob", "full", "invert", "random_noise"}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def area(mask: np.ndarray, label: int = 1) -> int:
    return int(np.count_nonzero(mask == label))


def centroid(x: np.ndarray) -> np.ndarray:
    return np.argwhere(x).mean(axis=0)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def n_components(x: np.ndarray) -> int:
    return ndimage.label(x, structure=ndimage.generate_binary_structure(x.ndim, x.ndim))[1]


# ------------------------------------------------------------------------------------------------ generic contract
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("group,name", ALL_OPS, ids=[f"{g}:{n}" for g, n in ALL_OPS])
def test_op_contract(group, name, ndim):
    fn = REGISTRIES[group][name]
    mask = MASKS[ndim]()
    before = mask.copy()
    kwargs = {"num_classes": C} if name in CREATES_FOREGROUND else {}
    out = fn(mask, rng(3), **kwargs)
    assert isinstance(out, np.ndarray) and out is not mask
    assert out.shape == mask.shape and out.dtype == mask.dtype
    assert set(np.unique(out).tolist()) <= set(range(C))
    np.testing.assert_array_equal(mask, before)  # input not modified
    np.testing.assert_array_equal(out, fn(mask, rng(3), **kwargs))  # deterministic for a fixed seed
    if group == "catastrophic" or name in ("erode", "dilate", "smooth"):
        assert not np.array_equal(out, mask)  # these always change the hand-made masks


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("group,name", ALL_OPS, ids=[f"{g}:{n}" for g, n in ALL_OPS])
def test_op_on_empty_mask(group, name, ndim):
    fn = REGISTRIES[group][name]
    mask = np.zeros_like(MASKS[ndim]())
    if name in CREATES_FOREGROUND:
        out = fn(mask, rng(1), num_classes=C)
        assert out.any() and set(np.unique(out).tolist()) <= set(range(C))
    else:
        np.testing.assert_array_equal(fn(mask, rng(1)), mask)


def test_heavy_settings():
    assert HEAVY_OPS["erode"].keywords == {"kernel_size": 11}
    assert HEAVY_OPS["dilate"].keywords == {"kernel_size": 11}
    assert HEAVY_OPS["grid_distortion"].keywords == {"distort_limit": 0.6}
    assert HEAVY_OPS["shift"].keywords == {"max_fraction": 0.4}
    assert HEAVY_OPS["scale"].keywords == {"ranges": ((0.5, 0.7), (1.4, 1.6))}
    assert HEAVY_OPS["add_holes"].keywords == {"n_holes": 5, "radius_range": (10.0, 20.0)}
    assert set(CATASTROPHIC_OPS) == {"empty", "full", "invert", "random_noise"}
    assert "swap" not in OPS and not set(CATASTROPHIC_OPS) & set(OPS)


@pytest.mark.parametrize("bad", [np.zeros(8, np.int64), np.zeros((2, 2, 2, 2), np.int64), np.zeros((4, 4))])
def test_invalid_mask_raises(bad):
    with pytest.raises(ValueError, match="mask"):
        O.erode(bad, rng())


def test_background_label_raises():
    with pytest.raises(ValueError, match="label"):
        O.dilate(two_class_2d(), rng(), label=0)


# ------------------------------------------------------------------------------------------------ multi-class
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", BINARY_OPS)
def test_binary_op_on_one_class_keeps_the_other(name, ndim):
    mask = MASKS[ndim]()
    out = OPS[name](mask, rng(5), label=2)
    class1 = mask == 1
    # class 1 pixels are either untouched or overwritten by class 2
    assert np.all(np.isin(out[class1], (1, 2)))
    # no new class-1 pixels, and background / class-2 pixels change only to 0 or 2
    assert not np.any((out == 1) & ~class1)
    assert set(np.unique(out[~class1]).tolist()) <= {0, 2}


@pytest.mark.parametrize("name", GEOMETRIC_OPS)
def test_geometric_per_class_moves_one_class(name):
    mask = two_class_2d()
    kwargs = {"offset": (2, -3)} if name == "shift" else {}
    out = OPS[name](mask, rng(2), per_class=True, label=2, **kwargs)
    class1 = mask == 1
    assert np.all(np.isin(out[class1], (1, 2)))
    assert not np.any((out == 1) & ~class1)


def test_default_label_is_a_present_class():
    mask = np.zeros((16, 16), np.int64)
    mask[4:8, 4:8] = 2  # class 1 absent
    for seed in range(10):
        out = O.dilate(mask, rng(seed), kernel_size=3)
        assert area(out, 2) > 16 and area(out, 1) == 0


# ------------------------------------------------------------------------------------------------ morphology
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


# ------------------------------------------------------------------------------------------------ shape approximations
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


# ------------------------------------------------------------------------------------------------ boundary
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


# ------------------------------------------------------------------------------------------------ deformations
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", ["elastic", "grid_distortion"])
def test_deformations_are_moderate(name, ndim):
    shape = (48, 48) if ndim == 2 else (32, 32, 24)
    mask = disk(shape, [n // 2 for n in shape], 8).astype(np.int64)
    for seed in range(3):
        out = OPS[name](mask, rng(seed))
        assert not np.array_equal(out, mask)
        assert 0.5 < dice(out == 1, mask == 1) < 1.0


def test_zero_deformations_are_the_identity():
    mask = two_class_2d()
    np.testing.assert_array_equal(O.grid_distortion(mask, rng(), distort_limit=0.0), mask)
    np.testing.assert_array_equal(O.elastic(mask, rng(), alpha=0.0, sigma=4.0), mask)
    identity = dict(max_rotation=0.0, scale_range=(1.0, 1.0), max_shear=0.0, max_shift_fraction=0.0)
    np.testing.assert_array_equal(O.affine(mask, rng(), **identity), mask)


# ------------------------------------------------------------------------------------- holes, islands, components
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


def test_rectangle_dropout():
    mask = two_class_2d()
    for seed in range(5):
        out = O.rectangle_dropout(mask, rng(seed), label=2)
        removed = (mask == 2) & (out != 2)
        assert removed.any() and not np.any((out == 2) & (mask != 2))
        np.testing.assert_array_equal(out[removed], 0)
        rows, cols = np.nonzero(removed)  # a box of 20-50 % of the 8x10 bounding box
        assert 1 <= rows.max() - rows.min() + 1 <= 4 and 2 <= cols.max() - cols.min() + 1 <= 5
        assert removed.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)


# ------------------------------------------------------------------------------------------------ rigid / affine
@pytest.mark.parametrize("ndim,offset", [(2, (3, -5)), (3, (2, 1, -1))])
def test_shift_moves_the_centroid(ndim, offset):
    mask = MASKS[ndim]()
    out = O.shift(mask, rng(), offset=offset)
    for c in (1, 2):
        np.testing.assert_allclose(centroid(out == c) - centroid(mask == c), offset)
        assert area(out, c) == area(mask, c)


@pytest.mark.parametrize("max_fraction", [0.1, 0.4])
def test_random_shift_is_bounded_by_the_extent(max_fraction):
    mask = np.zeros((48, 48), np.int64)
    mask[16:26, 20:30] = 1  # extent 10 x 10
    for seed in range(10):
        out = O.shift(mask, rng(seed), max_fraction=max_fraction)
        moved = centroid(out == 1) - centroid(mask == 1)
        assert np.all(np.abs(moved) <= max_fraction * 10 + 0.5)


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
    fn = HEAVY_OPS["scale"] if heavy else O.scale
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


# ------------------------------------------------------------------------------------------------ blob
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("mode", ["gaussian", "sphere", None])
def test_blob_area_matched(ndim, mode):
    mask = MASKS[ndim]()
    out = O.blob(mask, rng(9), mode=mode, label=2)
    assert abs(area(out, 2) - area(mask, 2)) <= 0.15 * area(mask, 2)
    assert not np.array_equal(out == 2, mask == 2)
    assert np.linalg.norm(centroid(out == 2) - centroid(mask == 2)) < 3.0


def test_blob_sphere_is_a_disk():
    mask = np.zeros((32, 32), np.int64)
    mask[10:20, 10:20] = 1
    out = O.blob(mask, rng(), mode="sphere") == 1
    grids = np.ogrid[:32, :32]
    d2 = (grids[0] - 14.5) ** 2 + (grids[1] - 14.5) ** 2
    assert d2[out].max() <= d2[~out].min()  # the 100 pixels closest to the centroid


# ------------------------------------------------------------------------------------------------ catastrophic
@pytest.mark.parametrize("ndim", [2, 3])
def test_catastrophic(ndim):
    mask = MASKS[ndim]()
    np.testing.assert_array_equal(O.empty(mask, rng()), 0)
    full = O.full(mask, rng(), label=2)
    np.testing.assert_array_equal(full, 2)
    assert np.unique(O.full(mask, rng(4))).tolist() in ([1], [2])
    inverted = O.invert(mask, rng(), label=1)
    np.testing.assert_array_equal(inverted, np.where(mask == 1, 0, 1))


def test_random_noise_changes_about_half_the_pixels():
    mask = np.zeros((64, 64), np.int64)
    mask[10:40, 10:40] = 1
    mask[45:60, 5:60] = 2
    out = O.random_noise(mask, rng(), num_classes=3)
    # half the pixels are redrawn, 2/3 of those to another label
    assert np.mean(out != mask) == pytest.approx(0.5 * (1 - 1 / 3), abs=0.03)
    assert np.mean(O.random_noise(mask, rng(), prob=1.0, num_classes=2) != (mask > 0)) > 0.3
    assert set(np.unique(out).tolist()) == {0, 1, 2}


# ------------------------------------------------------------------------------------------------ swap
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
