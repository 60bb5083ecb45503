# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the corruption sampler :class:`MaskCorruptor`, :class:`RandMaskCorruptiond`, :func:`dice_per_class` and
:class:`MaskQualityd`."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from monai.data import MetaTensor, list_data_collate

from metassl_monai.quality import (
    CATASTROPHIC_OPS,
    CATEGORIES,
    DEFAULT_CATEGORY_PROBS,
    DEFAULT_SAMPLER_OPS,
    HEAVY_OPS,
    LEGACY_REGISTRY,
    REGISTRY,
    MaskCorruptor,
    MaskQualityd,
    RandMaskCorruptiond,
    RegistryEntry,
    dice_per_class,
)

C = 3
FAST_OPS = ["erode", "dilate", "shift"]


def square_mask(shape=(16, 16), lo=4, hi=10, label=1, dtype=np.int64) -> np.ndarray:
    mask = np.zeros(shape, dtype=dtype)
    mask[tuple(slice(lo, hi) for _ in shape)] = label
    return mask


def two_class(shape=(16, 16)) -> np.ndarray:
    mask = square_mask(shape, 2, 8)
    mask[tuple(slice(9, 14) for _ in shape)] = 2
    return mask


def category_of(names: list[str]) -> str:
    if names[0].startswith("heavy:"):
        return "heavy"
    if names[0].startswith("catastrophic:"):
        return "catastrophic"
    if names[0].startswith("blob:"):
        return "blob"
    if names[0] in ("identity", "swap"):
        return names[0]
    return "single" if len(names) == 1 else "chain"


# ------------------------------------------------------------------------------------------------ configuration
def stub(registry) -> dict[str, RegistryEntry]:
    """The registry with every op replaced by a copy: the sampler's draws without the cost of the ops."""

    def copy(mask, rng):
        return mask.copy()

    return {n: RegistryEntry(n, copy, {}, e.weight, e.category, e.blob) for n, e in registry.items()}


def test_default_probabilities():
    assert set(DEFAULT_CATEGORY_PROBS) == set(CATEGORIES)
    assert math.isclose(sum(DEFAULT_CATEGORY_PROBS.values()), 1.0)
    assert DEFAULT_CATEGORY_PROBS == {"identity": 0.20, "single": 0.28, "chain": 0.18, "swap": 0.10, "heavy": 0.12,
                                      "catastrophic": 0.05, "blob": 0.07}  # fmt: skip
    assert DEFAULT_SAMPLER_OPS == tuple(n for n, e in REGISTRY.items() if e.category == "single")
    corruptor = MaskCorruptor(C)
    assert corruptor.category_probs == pytest.approx(DEFAULT_CATEGORY_PROBS)
    assert list(corruptor.ops) == list(DEFAULT_SAMPLER_OPS) and len(corruptor.ops) == 40
    assert list(corruptor.heavy_ops) == list(HEAVY_OPS) and list(corruptor.catastrophic_ops) == list(CATASTROPHIC_OPS)
    assert set(corruptor.blob_ops) == {"gaussian_blob", "gaussian_blob_large", "circular_blob", "convex_hull",
                                       "bounding_box"}  # fmt: skip
    assert set(corruptor.chain_ops) == set(corruptor.ops) - set(corruptor.blob_ops)


def test_probabilities_are_completed_and_renormalised():
    corruptor = MaskCorruptor(C, category_probs={"identity": 2.0, "blob": 6.0})
    expected = dict.fromkeys(CATEGORIES, 0.0) | {"identity": 0.25, "blob": 0.75}
    assert corruptor.category_probs == pytest.approx(expected)


@pytest.mark.parametrize(
    "probs,match",
    [
        ({"identity": -0.1, "single": 1.1}, "non-negative"),
        ({"identity": float("nan")}, "non-negative"),
        ({"identity": 0.0, "single": 0.0}, "sum to 0"),
        ({"identiy": 1.0}, "unknown corruption categories"),
    ],
)
def test_invalid_probabilities_raise(probs, match):
    with pytest.raises(ValueError, match=match):
        MaskCorruptor(C, category_probs=probs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"ops": ["erode", "shrink"]}, "unknown op"),
        ({"ops": []}, "no ops"),
        ({"heavy_ops": ["rotate"]}, "unknown heavy op"),
        ({"chain_length": (3, 2)}, "chain_length"),
        ({"chain_length": (0, 2)}, "chain_length"),
        ({"swap_pool_size": -1}, "swap_pool_size"),
        ({"swap_area_quantile": 0.0}, "swap_area_quantile"),
        ({"swap_pool": [np.full((4, 4), 5)]}, "num_classes"),
    ],
)
def test_invalid_arguments_raise(kwargs, match):
    kwargs = {"num_classes": C} | kwargs
    with pytest.raises(ValueError, match=match):
        MaskCorruptor(**kwargs)


def test_empty_ops_allowed_when_unused():
    corruptor = MaskCorruptor(C, category_probs={"catastrophic": 1.0}, ops=[])
    out, names = corruptor(two_class(), np.random.default_rng(0))
    assert names[0].startswith("catastrophic:")


def test_invalid_masks_raise():
    corruptor = MaskCorruptor(C)
    with pytest.raises(ValueError, match="integer"):
        corruptor(two_class().astype(np.float32))
    with pytest.raises(ValueError, match="2D"):
        corruptor(np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="num_classes"):
        corruptor(np.full((4, 4), 3))


# ------------------------------------------------------------------------------------------------ sampling
@pytest.mark.parametrize("registry", ["published", "legacy"])
def test_category_frequencies(registry):
    """20 000 draws: every category within 5 binomial standard deviations of its probability."""
    masks = [square_mask(lo=lo, hi=lo + 6) for lo in range(4)]  # four different masks: swap always has candidates
    table = stub(REGISTRY if registry == "published" else LEGACY_REGISTRY)
    corruptor = MaskCorruptor(C, swap_pool=masks, registry=table, seed=0)
    n = 20_000
    counts = Counter(category_of(corruptor(masks[i % 4])[1]) for i in range(n))
    for category, p in DEFAULT_CATEGORY_PROBS.items():
        assert counts[category] / n == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / n)), category


def test_category_frequencies_with_the_real_ops():
    masks = [square_mask(lo=lo, hi=lo + 6) for lo in range(4)]
    corruptor = MaskCorruptor(C, swap_pool=masks, seed=0)
    n = 1500
    counts = Counter(category_of(corruptor(masks[i % 4])[1]) for i in range(n))
    for category, p in DEFAULT_CATEGORY_PROBS.items():
        assert counts[category] / n == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / n)), category


@pytest.mark.parametrize("only", ["catastrophic", "heavy", "identity", "blob"])
def test_single_category(only):
    corruptor = MaskCorruptor(C, category_probs={only: 1.0}, seed=1)
    mask = two_class()
    seen = set()
    for _ in range(100):
        out, names = corruptor(mask)
        assert category_of(names) == only and len(names) == 1
        seen.add(names[0])
        assert out.shape == mask.shape and out.dtype == mask.dtype
    if only == "catastrophic":
        assert seen == {"catastrophic:empty", "catastrophic:full", "catastrophic:invert", "catastrophic:random_50"}
    if only == "heavy":
        assert seen == {f"heavy:{name}" for name in HEAVY_OPS}
    if only == "blob":
        assert seen == {"blob:gaussian_blob", "blob:gaussian_blob_large", "blob:circular_blob", "blob:convex_hull",
                        "blob:bounding_box"}  # fmt: skip
    if only == "identity":
        np.testing.assert_array_equal(corruptor(mask)[0], mask)


def test_ops_by_registry_name_or_function_name():
    corruptor = MaskCorruptor(C, category_probs={"single": 1.0}, ops=["erosion_5", "shift"], seed=0)
    assert corruptor.probabilities("single") == {"erosion_5": pytest.approx(0.5), "shift": pytest.approx(0.5)}
    weighted = MaskCorruptor(C, ops={"a": REGISTRY["opening_5"], "b": REGISTRY["erosion_5"]})
    assert weighted.probabilities("single") == pytest.approx({"a": 0.5 / 1.5, "b": 1.0 / 1.5})
    with pytest.raises(ValueError, match="unknown corruption registry"):
        MaskCorruptor(C, registry="paper")


@pytest.mark.parametrize("registry", ["legacy", LEGACY_REGISTRY])
def test_legacy_registry(registry):
    """The catalogue before the published one: every op uniformly, chains from all of them (convex hull and bounding
    box included), the random blob, the old heavy and catastrophic ops."""
    corruptor = MaskCorruptor(C, registry=registry, seed=0)
    assert len(corruptor.ops) == 21 and len(set(corruptor.probabilities("single").values())) == 1
    assert set(corruptor.chain_ops) == set(corruptor.ops)
    assert list(corruptor.blob_ops) == ["blob"]
    assert list(corruptor.catastrophic_ops) == ["empty", "full", "invert", "random_noise"]
    blob = MaskCorruptor(C, category_probs={"blob": 1.0}, registry=registry, seed=0)
    assert blob(two_class())[1] == ["blob:blob"]
    t = RandMaskCorruptiond(num_classes=C, category_probs={"single": 1.0}, registry=registry).set_random_state(0)
    assert t({"label": two_class()[None]})["corruption"] in corruptor.ops


def test_custom_probabilities_respected():
    corruptor = MaskCorruptor(C, category_probs={"identity": 0.5, "catastrophic": 0.5}, seed=2)
    counts = Counter(category_of(corruptor(two_class())[1]) for _ in range(400))
    assert set(counts) == {"identity", "catastrophic"}
    assert 0.4 < counts["identity"] / 400 < 0.6


def test_chains_are_two_or_three_distinct_ops():
    corruptor = MaskCorruptor(C, category_probs={"chain": 1.0}, ops=FAST_OPS + ["rotate"], seed=3)
    lengths = Counter()
    for _ in range(200):
        _, names = corruptor(two_class())
        assert len(names) in (2, 3) and len(set(names)) == len(names)
        assert set(names) <= set(FAST_OPS + ["rotate"])
        lengths[len(names)] += 1
    assert lengths[2] > 50 and lengths[3] > 50


def test_chain_length_capped_by_the_number_of_ops():
    corruptor = MaskCorruptor(C, category_probs={"chain": 1.0}, ops=["erode", "dilate"], chain_length=(2, 5), seed=0)
    for _ in range(20):
        assert sorted(corruptor(two_class())[1]) == ["dilate", "erode"]


def test_chain_applies_the_ops_in_sequence():
    calls = []

    def add_one(mask, rng):
        calls.append("add_one")
        return np.minimum(mask + 1, C - 1).astype(mask.dtype)

    def halve(mask, rng):
        calls.append("halve")
        return (mask // 2).astype(mask.dtype)

    corruptor = MaskCorruptor(C, category_probs={"chain": 1.0}, ops={"add_one": add_one, "halve": halve}, seed=0)
    mask = np.array([[0, 1], [2, 2]], np.int64)
    out, names = corruptor(mask)
    assert names == calls
    expected = mask
    for name in names:
        expected = add_one(expected, None) if name == "add_one" else halve(expected, None)
    np.testing.assert_array_equal(out, expected)


def test_ops_get_num_classes_when_they_accept_it():
    corruptor = MaskCorruptor(5, category_probs={"catastrophic": 1.0}, catastrophic_ops=["random_noise"], seed=0)
    out, names = corruptor(np.zeros((64, 64), np.int64))
    assert names == ["catastrophic:random_noise"]
    assert set(np.unique(out).tolist()) == {0, 1, 2, 3, 4}  # labels up to num_classes - 1, not inferred from the mask


def test_swap_picks_from_the_area_closest_fraction():
    pool = [square_mask((32, 32), 0, side) for side in range(3, 13)]  # areas 9, 16, ..., 144
    corruptor = MaskCorruptor(
        C, category_probs={"swap": 1.0}, swap_pool=pool, swap_area_quantile=0.2, update_pool=False, seed=4
    )
    current = square_mask((32, 32), 10, 17)  # area 49: the closest are 49 (side 7) and 36 (side 6) / 64 (side 8)
    areas = Counter()
    for _ in range(200):
        out, names = corruptor(current)
        assert names == ["swap"]
        areas[int(np.count_nonzero(out))] += 1
    assert set(areas) == {49, 36}  # the 2 (= 20 % of 10) closest: 49 (a different mask) then 36 (|36-49| < |64-49|)
    assert min(areas.values()) > 60


def test_swap_excludes_the_current_mask_and_falls_back():
    mask = square_mask()
    corruptor = MaskCorruptor(C, category_probs={"swap": 1.0}, ops=FAST_OPS, seed=5)
    out, names = corruptor(mask)  # empty pool: fallback to a single op, recorded as that op
    assert len(names) == 1 and names[0] in FAST_OPS
    assert len(corruptor.pool) == 1
    _, names = corruptor(mask)  # the pool only holds an equal mask
    assert names[0] in FAST_OPS
    other = square_mask(lo=1, hi=5)
    out, names = corruptor(other)  # now the first mask is a candidate
    assert names == ["swap"]
    np.testing.assert_array_equal(out, mask)


def test_swap_disabled_with_a_zero_pool():
    corruptor = MaskCorruptor(C, category_probs={"swap": 1.0}, ops=FAST_OPS, swap_pool_size=0, seed=0)
    for lo in range(5):
        assert corruptor(square_mask(lo=lo, hi=lo + 5))[1][0] in FAST_OPS
    assert corruptor.pool == []


def test_swap_resizes_pool_masks():
    pool = [square_mask((8, 8), 0, 4)]
    corruptor = MaskCorruptor(C, category_probs={"swap": 1.0}, swap_pool=pool, seed=0)
    out, names = corruptor(square_mask((16, 16), 2, 4, dtype=np.uint8))
    assert names == ["swap"] and out.dtype == np.uint8
    np.testing.assert_array_equal(out, square_mask((16, 16), 0, 8, dtype=np.uint8))


def test_pool_is_a_fifo():
    corruptor = MaskCorruptor(C, swap_pool_size=3)
    masks = [square_mask(lo=i, hi=i + 3) for i in range(5)]
    for mask in masks:
        corruptor.add_to_pool(mask)
    assert len(corruptor.pool) == 3
    for kept, expected in zip(corruptor.pool, masks[2:]):
        np.testing.assert_array_equal(kept, expected)
    masks[4][0, 0] = 2  # the pool holds copies
    assert corruptor.pool[-1][0, 0] == 0


def test_pool_fed_by_calls():
    corruptor = MaskCorruptor(C, category_probs={"identity": 1.0}, swap_pool_size=2)
    for i in range(3):
        corruptor(square_mask(lo=i, hi=i + 4))
    assert [int(m[1, 1]) for m in corruptor.pool] == [1, 0]  # masks 1 and 2 (mask 2 starts at 2)
    frozen = MaskCorruptor(C, category_probs={"identity": 1.0}, update_pool=False)
    frozen(square_mask())
    assert frozen.pool == []


def test_state_dict_restores_the_pool_and_generator_exactly(tmp_path):
    """A corruptor restored from a (weights_only-saved) state goes on exactly as the original (issue 16 part 3)."""
    original = MaskCorruptor(C, category_probs={"swap": 0.5, "single": 0.5}, ops=FAST_OPS, swap_pool_size=4, seed=3)
    for i in range(6):  # the FIFO keeps masks 2..5
        original(square_mask(lo=i, hi=i + 5))
    torch.save(original.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert [tuple(m.shape) for m in state["pool"]] == [(16, 16)] * 4 and state["pool"][0].dtype == torch.uint8
    restored = MaskCorruptor(C, category_probs={"swap": 0.5, "single": 0.5}, ops=FAST_OPS, swap_pool_size=4, seed=99)
    restored.load_state_dict(state)
    for a, b in zip(restored.pool, original.pool):
        np.testing.assert_array_equal(a, b)
    names_seen = set()
    for i in range(8):  # no rng given: both draw from their own generator, restored too
        (out_a, names_a), (out_b, names_b) = original(square_mask(lo=i, hi=i + 7)), restored(square_mask(lo=i, hi=i + 7))
        assert names_a == names_b
        np.testing.assert_array_equal(out_a, out_b)
        names_seen.update(names_a)
    assert "swap" in names_seen  # the pool was used


def test_load_state_dict_errors():
    corruptor = MaskCorruptor(C, swap_pool_size=1)
    with pytest.raises(KeyError, match="the mask corruptor state has no 'rng'"):
        corruptor.load_state_dict({"pool": []})
    state = MaskCorruptor(C, swap_pool_size=2, swap_pool=[square_mask(), square_mask(lo=1)]).state_dict()
    with pytest.raises(ValueError, match="holds 2 masks, more than swap_pool_size=1"):
        corruptor.load_state_dict(state)


@pytest.mark.parametrize("shape", [(16, 16), (12, 12, 6)])
def test_default_sampler_outputs_are_valid_and_deterministic(shape):
    mask = two_class(shape)
    before = mask.copy()
    results = []
    for _ in range(2):
        corruptor = MaskCorruptor(C, seed=11)
        results.append([corruptor(mask) for _ in range(60)])
    np.testing.assert_array_equal(mask, before)
    for (out_a, names_a), (out_b, names_b) in zip(*results):
        assert names_a == names_b
        np.testing.assert_array_equal(out_a, out_b)
        assert out_a.shape == mask.shape and out_a.dtype == mask.dtype
        assert set(np.unique(out_a).tolist()) <= set(range(C))
    assert len({category_of(names) for _, names in results[0]}) >= 5


# ------------------------------------------------------------------------------------------------ RandMaskCorruptiond
def test_transform_numpy():
    label = two_class()[None].astype(np.int32)
    before = label.copy()
    t = RandMaskCorruptiond(keys="label", num_classes=C)
    t.set_random_state(0)
    for _ in range(20):
        out = t({"label": label, "image": "x"})
        assert isinstance(out["mask"], np.ndarray) and out["mask"].dtype == np.int32
        assert out["mask"].shape == (1, 16, 16)
        assert isinstance(out["corruption"], str) and out["corruption"]
        assert out["label"] is label and out["image"] == "x"
        assert set(np.unique(out["mask"]).tolist()) <= set(range(C))
    np.testing.assert_array_equal(label, before)


def test_transform_metatensor_keeps_meta():
    affine = torch.diag(torch.tensor([1.5, 1.5, 1.0, 1.0], dtype=torch.float64))
    label = MetaTensor(
        torch.as_tensor(two_class((12, 12, 6))[None], dtype=torch.float32),
        affine=affine,
        meta={"filename_or_obj": "case_01.nii.gz"},
    )
    before = label.clone()
    t = RandMaskCorruptiond("label", num_classes=C, output_key="corrupted", ops_key="ops",
                            category_probs={"single": 1.0})
    t.set_random_state(1)
    out = t({"label": label})
    mask = out["corrupted"]
    assert isinstance(mask, MetaTensor) and mask.dtype == torch.float32 and mask.shape == (1, 12, 12, 6)
    assert mask.meta["filename_or_obj"] == "case_01.nii.gz"
    torch.testing.assert_close(mask.affine, affine)
    assert out["ops"] in DEFAULT_SAMPLER_OPS
    assert torch.equal(mask, mask.round())
    assert torch.equal(out["label"].as_tensor(), before.as_tensor())


def test_transform_torch_tensor():
    label = torch.as_tensor(two_class()[None])
    out = RandMaskCorruptiond(num_classes=C, category_probs={"catastrophic": 1.0})({"label": label})
    assert type(out["mask"]) is torch.Tensor and out["mask"].dtype == torch.int64
    assert out["corruption"].startswith("catastrophic:")


def test_transform_reproducible():
    label = two_class()[None]
    runs = []
    for seed in (7, 7, 8):
        t = RandMaskCorruptiond(num_classes=C).set_random_state(seed)
        runs.append([t({"label": label}) for _ in range(15)])
    for a, b in zip(runs[0], runs[1]):
        assert a["corruption"] == b["corruption"]
        np.testing.assert_array_equal(a["mask"], b["mask"])
    assert [d["corruption"] for d in runs[0]] != [d["corruption"] for d in runs[2]]


def test_transform_collates():
    t = RandMaskCorruptiond(num_classes=C).set_random_state(0)
    batch = list_data_collate([t({"label": two_class()[None]}) for _ in range(3)])
    assert batch["mask"].shape == (3, 1, 16, 16)
    assert isinstance(batch["corruption"], list) and len(batch["corruption"]) == 3


@pytest.mark.parametrize(
    "label,match",
    [
        (np.zeros((2, 8, 8), np.int64), r"data\['seg'\].*1 channel"),
        (np.zeros((1, 8), np.int64), r"data\['seg'\].*2 or 3 spatial"),
        (np.zeros((1, 4, 4, 4, 4), np.int64), r"data\['seg'\].*2 or 3 spatial"),
        (np.full((1, 8, 8), 0.5, np.float32), r"data\['seg'\].*integer"),
        (np.full((1, 8, 8), 3, np.int64), r"data\['seg'\].*num_classes=3"),
        (np.full((1, 8, 8), -1, np.int64), r"data\['seg'\].*negative"),
    ],
)
def test_transform_errors_name_the_key(label, match):
    t = RandMaskCorruptiond("seg", num_classes=C)
    with pytest.raises(ValueError, match=match):
        t({"seg": label})


def test_transform_keys():
    t = RandMaskCorruptiond(["a", "b"], num_classes=C, output_key=["ma", "mb"], ops_key=["oa", "ob"],
                            allow_missing_keys=True)
    out = t({"a": two_class()[None]})
    assert "ma" in out and "oa" in out and "mb" not in out
    with pytest.raises(ValueError, match="output_key"):
        RandMaskCorruptiond(["a", "b"], num_classes=C)
    with pytest.raises(KeyError):
        RandMaskCorruptiond(num_classes=C)({"image": np.zeros((1, 4, 4))})


# ------------------------------------------------------------------------------------------------ quality target
def test_dice_per_class_hand_computed():
    mask = np.zeros((4, 4), np.int64)
    label = np.zeros((4, 4), np.int64)
    mask[0, :4] = 1  # 4 pixels of class 1
    label[0, :2] = 1  # 2 of them in the label
    mask[3, 3] = 3  # class 3 only in the mask; class 2 in neither
    np.testing.assert_allclose(dice_per_class(mask, label, 4), [2 * 2 / (4 + 2), 1.0, 0.0])
    np.testing.assert_allclose(dice_per_class(label, mask, 4), [2 / 3, 1.0, 0.0])  # symmetric
    np.testing.assert_allclose(dice_per_class(mask, mask, 4), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(dice_per_class(np.zeros((3, 3), np.int64), np.ones((3, 3), np.int64), 2), [0.0])


def test_dice_per_class_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 4, size=(1, 10, 12, 5))
    label = torch.as_tensor(rng.integers(0, 4, size=(1, 10, 12, 5)), dtype=torch.float32)
    expected = [
        2 * np.sum((mask == c) & (label.numpy() == c)) / (np.sum(mask == c) + np.sum(label.numpy() == c))
        for c in range(1, 4)
    ]
    np.testing.assert_allclose(dice_per_class(mask, label, 4), expected)


def test_dice_per_class_errors():
    with pytest.raises(ValueError, match="shapes differ"):
        dice_per_class(np.zeros((2, 2), np.int64), np.zeros((2, 3), np.int64), 2)
    with pytest.raises(ValueError, match="num_classes"):
        dice_per_class(np.full((2, 2), 2), np.zeros((2, 2), np.int64), 2)


def test_mask_quality_transform():
    mask = np.zeros((1, 4, 4), np.int64)
    label = np.zeros((1, 4, 4), np.int64)
    mask[0, 0, :4] = 1
    label[0, 0, :2] = 1
    label[0, 2, 2] = 2
    out = MaskQualityd(num_classes=3)({"mask": MetaTensor(torch.as_tensor(mask)), "label": label})
    quality = out["quality"]
    assert isinstance(quality, torch.Tensor) and quality.dtype == torch.float32 and quality.shape == (2,)
    torch.testing.assert_close(quality, torch.tensor([2 / 3, 0.0]))
    with pytest.raises(ValueError, match="keys"):
        MaskQualityd(keys="mask", num_classes=3)
    with pytest.raises(ValueError, match="'mask', 'label'"):
        MaskQualityd(num_classes=2)({"mask": mask, "label": label})


def test_corrupt_then_quality_pipeline():
    from monai.transforms import Compose

    pipeline = Compose([RandMaskCorruptiond(num_classes=C), MaskQualityd(num_classes=C)])
    pipeline.set_random_state(3)
    label = two_class()[None]
    for _ in range(20):
        out = pipeline({"label": label})
        assert out["quality"].shape == (2,)
        assert torch.all((out["quality"] >= 0) & (out["quality"] <= 1))
        if out["corruption"] == "identity":
            torch.testing.assert_close(out["quality"], torch.ones(2))
