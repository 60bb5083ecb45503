# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The corruption registries (:mod:`metassl_monai.quality.ops.registry`): the published catalogue's entries, parameters
and weights (sfu-mial/QG-SSL ``data/corruption_ops.py``), how the sampler draws them, and the legacy catalogue.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from metassl_monai.quality import MaskCorruptor
from metassl_monai.quality import ops as O
from metassl_monai.quality.ops import LEGACY_REGISTRY, REGISTRY, RegistryEntry, get_registry, registry_entries

# name: (op, fixed parameters, weight); the published single entries, then heavy, then catastrophic
PUBLISHED_SINGLE = {
    "erosion_5": (O.erode, {"kernel_size": 5}, 1.0),
    "erosion_7": (O.erode, {"kernel_size": 7}, 1.0),
    "erosion_9": (O.erode, {"kernel_size": 9}, 0.8),
    "dilation_5": (O.dilate, {"kernel_size": 5}, 1.0),
    "dilation_7": (O.dilate, {"kernel_size": 7}, 1.0),
    "dilation_9": (O.dilate, {"kernel_size": 9}, 0.8),
    "opening_5": (O.opening, {"kernel_size": 5}, 0.5),
    "closing_5": (O.closing, {"kernel_size": 5}, 0.5),
    "ellipse": (O.ellipse_fit, {}, 1.0),
    "polygon_3": (O.polygon_approx, {"n_vertices": 3}, 0.5),
    "polygon_5": (O.polygon_approx, {"n_vertices": 5}, 0.8),
    "polygon_8": (O.polygon_approx, {"n_vertices": 8}, 0.8),
    "convex_hull": (O.convex_hull, {}, 1.0),
    "bounding_box": (O.bounding_box, {}, 0.5),
    "jagged_3": (O.jagged_boundary, {"width": 1}, 1.0),
    "jagged_5": (O.jagged_boundary, {"width": 2}, 1.0),
    "smooth_11": (O.smooth, {"kernel_size": 11}, 0.8),
    "smooth_15": (O.smooth, {"kernel_size": 15}, 0.8),
    "elastic_light": (O.elastic, {"alpha": 30.0, "sigma": 4.0}, 1.0),
    "elastic_heavy": (O.elastic, {"alpha": 60.0, "sigma": 5.0}, 0.8),
    "grid_light": (O.grid_distortion, {"num_cells": 5, "distort_limit": 0.2}, 1.0),
    "grid_heavy": (O.grid_distortion, {"num_cells": 8, "distort_limit": 0.4}, 0.7),
    "holes_small": (O.add_holes, {"n_holes": 2, "radius_range": (3.0, 8.0)}, 1.0),
    "holes_large": (O.add_holes, {"n_holes": 3, "radius_range": (8.0, 15.0)}, 0.8),
    "islands_small": (O.add_islands, {"n_islands": 2, "radius_range": (3.0, 8.0)}, 1.0),
    "holes_and_islands": (O.holes_and_islands, {"n_holes": 2, "n_islands": 2, "radius_range": (5.0, 15.0)}, 1.0),
    "largest_only": (O.keep_largest_component, {}, 0.8),
    "drop_component": (O.drop_component, {}, 0.5),
    "rect_dropout": (O.rectangle_dropout, {"n_rects": 1, "size_range": (0.1, 0.3)}, 0.8),
    "shift_small": (O.shift, {"max_fraction": 0.1}, 1.0),
    "shift_medium": (O.shift, {"max_fraction": 0.2}, 0.8),
    "shift_large": (O.shift, {"max_fraction": 0.3}, 0.5),
    "scale_down": (O.scale, {"ranges": ((0.75, 0.9),)}, 1.0),
    "scale_up": (O.scale, {"ranges": ((1.1, 1.25),)}, 1.0),
    "rotate_small": (O.rotate, {"max_angle": 15.0}, 1.0),
    "rotate_large": (O.rotate, {"max_angle": 30.0}, 0.7),
    "random_affine": (O.affine, {"max_rotation": 15.0, "scale_range": (0.9, 1.1), "max_shift_fraction": 0.1}, 0.8),
    "gaussian_blob": (O.gaussian_blob, {"size_factor": 1.0}, 1.0),
    "gaussian_blob_large": (O.gaussian_blob, {"size_factor": 1.2}, 0.7),
    "circular_blob": (O.circular_blob, {"size_factor": 1.0}, 0.8),
}
PUBLISHED_HEAVY = {
    "erosion_11": (O.erode, {"kernel_size": 11}, 1.0),
    "dilation_11": (O.dilate, {"kernel_size": 11}, 1.0),
    "shift_very_large": (O.shift, {"max_fraction": 0.4}, 1.0),
    "scale_very_small": (O.scale, {"ranges": ((0.5, 0.7),)}, 1.0),
    "scale_very_large": (O.scale, {"ranges": ((1.4, 1.6),)}, 1.0),
    "grid_very_heavy": (O.grid_distortion, {"num_cells": 12, "distort_limit": 0.6}, 1.0),
    "holes_many": (O.add_holes, {"n_holes": 5, "radius_range": (10.0, 20.0)}, 1.0),
}
PUBLISHED_CATASTROPHIC = {
    "invert": (O.invert, {}, 1.0),
    "empty": (O.empty, {}, 0.5),
    "full": (O.full, {}, 0.5),
    "random_50": (O.random_mask, {"density": 0.5}, 0.3),
}
BLOBS = {"gaussian_blob", "gaussian_blob_large", "circular_blob", "convex_hull", "bounding_box"}
N_DRAWS = 20_000


def _as_table(entries) -> dict:
    return {e.name: (e.op, dict(e.params), e.weight) for e in entries}


def stub(registry) -> dict[str, RegistryEntry]:
    """The registry with every op replaced by a copy: the sampler's draws without the cost of the ops."""

    def copy(mask, rng):
        return mask.copy()

    return {n: RegistryEntry(n, copy, {}, e.weight, e.category, e.blob) for n, e in registry.items()}


def test_published_registry_is_the_published_table():
    assert len(REGISTRY) == 51
    assert _as_table(registry_entries("published", "single")) == PUBLISHED_SINGLE
    assert _as_table(registry_entries("published", "heavy")) == PUBLISHED_HEAVY
    assert _as_table(registry_entries("published", "catastrophic")) == PUBLISHED_CATASTROPHIC
    assert {e.name for e in registry_entries("published", "blob")} == BLOBS
    assert {e.name for e in registry_entries("published", "chain")} == set(PUBLISHED_SINGLE) - BLOBS
    assert all(0.3 <= e.weight <= 1.0 for e in REGISTRY.values())


def test_registry_entry_applies_its_parameters():
    mask = np.zeros((16, 16), np.int64)
    mask[4:12, 4:12] = 1
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(REGISTRY["erosion_5"](mask, rng), O.erode(mask, rng, kernel_size=5))
    with pytest.raises(TypeError):
        REGISTRY["erosion_5"](mask, rng, kernel_size=3)  # fixed parameters are not overridden
    with pytest.raises(TypeError):
        REGISTRY["erosion_5"].params["kernel_size"] = 3  # read-only
    assert REGISTRY["islands_small"].accepts_num_classes and not REGISTRY["erosion_5"].accepts_num_classes


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"weight": 0.0}, "weight"),
        ({"weight": float("inf")}, "weight"),
        ({"category": "medium"}, "category"),
        ({"name": ""}, "name"),
    ],
)
def test_invalid_entries_raise(kwargs, match):
    args = {"name": "x", "op": O.erode, "params": {}, "weight": 1.0, "category": "single"} | kwargs
    with pytest.raises(ValueError, match=match):
        RegistryEntry(**args)


def test_get_registry():
    assert get_registry("published") is REGISTRY and get_registry("legacy") is LEGACY_REGISTRY
    with pytest.raises(ValueError, match="unknown corruption registry"):
        get_registry("paper")
    with pytest.raises(ValueError, match="RegistryEntry"):
        get_registry({"erode": O.erode})
    with pytest.raises(ValueError, match="differs"):
        get_registry({"a": REGISTRY["erosion_5"]})


@pytest.mark.parametrize(
    "category,table",
    [("single", PUBLISHED_SINGLE), ("heavy", PUBLISHED_HEAVY), ("catastrophic", PUBLISHED_CATASTROPHIC)],
)
def test_weighted_draw_frequencies(category, table):
    """Drawn 20 000 times, each entry comes up with frequency weight / sum of weights (within 5 binomial sd)."""
    corruptor = MaskCorruptor(3, category_probs={category: 1.0}, registry=stub(REGISTRY), seed=0)
    mask = np.zeros((4, 4), np.int64)
    prefix = "" if category == "single" else f"{category}:"
    counts = Counter(corruptor(mask)[1][0][len(prefix):] for _ in range(N_DRAWS))
    total = sum(w for _, _, w in table.values())
    assert set(counts) == set(table)
    for name, (_, _, weight) in table.items():
        p = weight / total
        assert counts[name] / N_DRAWS == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / N_DRAWS)), name
    expected = {name: w / total for name, (_, _, w) in table.items()}
    assert corruptor.probabilities(category) == pytest.approx(expected)


def test_catastrophic_probabilities_hand_computed():
    """invert 1, empty 0.5, full 0.5, random 0.3: probabilities 1 / 2.3, 0.5 / 2.3, 0.5 / 2.3, 0.3 / 2.3."""
    probs = MaskCorruptor(3).probabilities("catastrophic")
    assert probs == pytest.approx({"invert": 0.43478, "empty": 0.21739, "full": 0.21739, "random_50": 0.13043},
                                  abs=1e-5)


def test_blob_category_is_uniform_over_the_five_blob_entries():
    corruptor = MaskCorruptor(3, category_probs={"blob": 1.0}, registry=stub(REGISTRY), seed=1)
    mask = np.zeros((4, 4), np.int64)
    counts = Counter(corruptor(mask)[1][0] for _ in range(N_DRAWS))
    assert set(counts) == {f"blob:{name}" for name in BLOBS}
    for count in counts.values():
        assert count / N_DRAWS == pytest.approx(0.2, abs=5 * np.sqrt(0.2 * 0.8 / N_DRAWS))


def test_chains_never_contain_blob_entries_and_are_uniform():
    corruptor = MaskCorruptor(3, category_probs={"chain": 1.0}, registry=stub(REGISTRY), seed=2)
    mask = np.zeros((4, 4), np.int64)
    first, lengths = Counter(), Counter()
    for _ in range(N_DRAWS):
        names = corruptor(mask)[1]
        assert not set(names) & BLOBS
        assert len(set(names)) == len(names) and set(names) <= set(PUBLISHED_SINGLE)
        first[names[0]] += 1
        lengths[len(names)] += 1
    assert set(lengths) == {2, 3} and lengths[2] / N_DRAWS == pytest.approx(0.5, abs=0.02)
    p = 1 / 35  # uniform among the 35 chainable entries, whatever their weights
    assert len(first) == 35
    for count in first.values():
        assert count / N_DRAWS == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / N_DRAWS))


def test_legacy_registry_is_the_catalogue_before():
    single = registry_entries("legacy", "single")
    assert [e.name for e in single] == [
        "erode", "dilate", "opening", "closing", "ellipse_fit", "polygon_approx", "convex_hull", "bounding_box",
        "jagged_boundary", "smooth", "elastic", "grid_distortion", "add_holes", "add_islands",
        "keep_largest_component", "drop_component", "rectangle_dropout", "shift", "scale", "rotate", "affine",
    ]  # fmt: skip
    assert all(e.weight == 1.0 and not e.blob for e in single)  # uniform, all chainable
    assert [e.name for e in registry_entries("legacy", "blob")] == ["blob"]
    assert [e.name for e in registry_entries("legacy", "catastrophic")] == ["empty", "full", "invert", "random_noise"]
    heavy = {e.name: dict(e.params) for e in registry_entries("legacy", "heavy")}
    assert heavy == {
        "erode_heavy": {"kernel_size": 11},
        "dilate_heavy": {"kernel_size": 11},
        "grid_distortion_heavy": {"distort_limit": 0.6},
        "shift_heavy": {"max_fraction": 0.4, "relative_to": "foreground"},
        "scale_heavy": {"ranges": ((0.5, 0.7), (1.4, 1.6))},
        "add_holes_heavy": {"n_holes": 5, "radius_range": (10.0, 20.0)},
    }
    assert dict(LEGACY_REGISTRY["elastic"].params) == {"noise": "uniform"}
    assert dict(LEGACY_REGISTRY["affine"].params)["relative_to"] == "foreground"
