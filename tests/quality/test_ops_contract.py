# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The contract every corruption op of :mod:`metassl_monai.quality.ops` keeps (shape, dtype, labels, determinism, input
untouched, empty masks, the multi-class convention), for every op function and every registry entry, on small
hand-made 2D / 3D label maps.
"""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, C, area, rng, two_class_2d

import metassl_monai.quality.ops as O
from metassl_monai.quality.ops import CATASTROPHIC_FUNCTIONS, LEGACY_REGISTRY, OPS, REGISTRY

CALLABLES = (
    [(f"op:{name}", fn) for name, fn in OPS.items()]
    + [(f"catastrophic:{name}", fn) for name, fn in CATASTROPHIC_FUNCTIONS.items()]
    + [(f"published:{name}", e) for name, e in REGISTRY.items()]
    + [(f"legacy:{name}", e) for name, e in LEGACY_REGISTRY.items()]
)
IDS = [name for name, _ in CALLABLES]
BINARY_OPS = [
    "erode", "dilate", "opening", "closing", "ellipse_fit", "polygon_approx", "convex_hull", "bounding_box",
    "jagged_boundary", "smooth", "add_holes", "add_islands", "holes_and_islands", "keep_largest_component",
    "drop_component", "rectangle_dropout", "blob", "gaussian_blob", "circular_blob",
]  # fmt: skip
GEOMETRIC_OPS = ["shift", "scale", "rotate", "affine", "elastic", "grid_distortion"]
CREATES_FOREGROUND = {
    "add_islands", "holes_and_islands", "blob", "full", "invert", "random_noise", "random_mask", "islands_small",
    "random_50",
}  # fmt: skip
ALWAYS_CHANGES = {
    "erode", "dilate", "smooth", "erosion_5", "erosion_7", "erosion_9", "dilation_5", "dilation_7", "dilation_9",
    "smooth_11", "smooth_15", "erosion_11", "dilation_11", "erode_heavy", "dilate_heavy",
}  # fmt: skip


def _name(full: str) -> str:
    return full.split(":", 1)[1]


def _kwargs(fn, name: str) -> dict:
    takes = fn.accepts_num_classes if isinstance(fn, O.RegistryEntry) else name in CREATES_FOREGROUND
    return {"num_classes": C} if takes else {}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("full_name,fn", CALLABLES, ids=IDS)
def test_op_contract(full_name, fn, ndim):
    name = _name(full_name)
    mask = MASKS[ndim]()
    before = mask.copy()
    kwargs = _kwargs(fn, name)
    out = fn(mask, rng(3), **kwargs)
    assert isinstance(out, np.ndarray) and out is not mask
    assert out.shape == mask.shape and out.dtype == mask.dtype
    assert set(np.unique(out).tolist()) <= set(range(C))
    np.testing.assert_array_equal(mask, before)  # input not modified
    np.testing.assert_array_equal(out, fn(mask, rng(3), **kwargs))  # deterministic for a fixed seed
    if full_name.startswith("catastrophic") or name in ALWAYS_CHANGES:
        assert not np.array_equal(out, mask)  # these always change the hand-made masks


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("full_name,fn", CALLABLES, ids=IDS)
def test_op_on_empty_mask(full_name, fn, ndim):
    name = _name(full_name)
    mask = np.zeros_like(MASKS[ndim]())
    if name in CREATES_FOREGROUND or (isinstance(fn, O.RegistryEntry) and fn.op.__name__ in CREATES_FOREGROUND):
        out = fn(mask, rng(1), num_classes=C)
        assert out.any() and set(np.unique(out).tolist()) <= set(range(C))
    else:
        np.testing.assert_array_equal(fn(mask, rng(1), **_kwargs(fn, name)), mask)


@pytest.mark.parametrize("bad", [np.zeros(8, np.int64), np.zeros((2, 2, 2, 2), np.int64), np.zeros((4, 4))])
def test_invalid_mask_raises(bad):
    with pytest.raises(ValueError, match="mask"):
        O.erode(bad, rng())


def test_background_label_raises():
    with pytest.raises(ValueError, match="label"):
        O.dilate(two_class_2d(), rng(), label=0)


@pytest.mark.parametrize(
    "fn,kwargs,match",
    [
        (O.shift, {"relative_to": "object"}, "relative_to"),
        (O.affine, {"relative_to": "object"}, "relative_to"),
        (O.rectangle_dropout, {"relative_to": "object"}, "relative_to"),
        (O.rectangle_dropout, {"size_range": (0.0, 0.3)}, "size_range"),
        (O.rectangle_dropout, {"n_rects": 0}, "n_rects"),
        (O.elastic, {"noise": "poisson"}, "noise"),
        (O.elastic, {"sigma": 0.0}, "sigma"),
        (O.gaussian_blob, {"size_factor": 0.0}, "size_factor"),
        (O.circular_blob, {"size_factor": -1.0}, "size_factor"),
        (O.random_mask, {"density": 1.5}, "density"),
    ],
)
def test_invalid_parameters_raise(fn, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fn(two_class_2d(), rng(), **kwargs)


def test_public_names_are_exported():
    for name in O.__all__:
        assert getattr(O, name) is not None, name
    for name in ("erode", "shift", "random_mask", "REGISTRY", "RegistryEntry", "OPS", "HEAVY_OPS", "CATASTROPHIC_OPS"):
        assert name in O.__all__


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
