# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Catastrophic corruptions (:mod:`metassl_monai.quality.ops.catastrophic`): empty, full, invert and the random mask.

As published, the random mask replaces the **whole** mask: every pixel is foreground with probability 0.5,
independently of the truth, so a class's Dice with the truth is that of chance. For a binary truth covering a fraction
``t`` of the image, the expected Dice is ``2 * 0.5 t / (t + 0.5)``; with ``C`` classes, a class covering ``t_c`` gets
``2 q t_c / (t_c + q)``, ``q = 0.5 / (C - 1)``.
"""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import MASKS, rng

from metassl_monai.quality import ops as O
from metassl_monai.quality import dice_per_class
from metassl_monai.quality.ops import CATASTROPHIC_OPS, LEGACY_REGISTRY, REGISTRY


@pytest.mark.parametrize("ndim", [2, 3])
def test_catastrophic(ndim):
    mask = MASKS[ndim]()
    np.testing.assert_array_equal(O.empty(mask, rng()), 0)
    full = O.full(mask, rng(), label=2)
    np.testing.assert_array_equal(full, 2)
    assert np.unique(O.full(mask, rng(4))).tolist() in ([1], [2])
    inverted = O.invert(mask, rng(), label=1)
    np.testing.assert_array_equal(inverted, np.where(mask == 1, 0, 1))


def test_random_mask_binary_replaces_everything():
    truth = np.zeros((200, 200), np.int64)
    truth[60:140, 60:140] = 1  # t = 0.16
    out = O.random_mask(truth, rng(0), num_classes=2)
    assert np.mean(out == 1) == pytest.approx(0.5, abs=0.01)  # Bernoulli(0.5) everywhere
    assert np.mean(out[truth == 1] == 1) == pytest.approx(0.5, abs=0.02)  # inside the truth: nothing kept
    assert np.mean(out[truth == 0] == 1) == pytest.approx(0.5, abs=0.01)
    assert dice_per_class(out, truth, 2)[0] == pytest.approx(2 * 0.5 * 0.16 / (0.16 + 0.5), abs=0.01)  # 0.2424
    assert np.mean(out == truth) == pytest.approx(0.5, abs=0.01)  # chance agreement


def test_random_mask_multi_class():
    truth = np.zeros((240, 240), np.int64)
    truth[:80] = 1  # t = 1/3
    truth[80:120] = 2  # t = 1/6
    truth[120:140] = 3  # t = 1/12
    out = O.random_mask(truth, rng(1), num_classes=4)
    fractions = np.bincount(out.ravel(), minlength=4) / out.size
    np.testing.assert_allclose(fractions, [0.5, 1 / 6, 1 / 6, 1 / 6], atol=0.01)
    q = 0.5 / 3
    expected = [2 * q * t / (t + q) for t in (1 / 3, 1 / 6, 1 / 12)]  # 0.222, 0.167, 0.111
    np.testing.assert_allclose(dice_per_class(out, truth, 4), expected, atol=0.01)


def test_random_mask_differs_from_the_legacy_random_noise():
    """The legacy op redraws each pixel with probability 0.5 among the C labels and keeps the rest: for a binary map
    it agrees with the truth on 1 - 0.5 * 0.5 = 75 % of the pixels, the published one on 50 % (chance)."""
    truth = np.zeros((200, 200), np.int64)
    truth[60:140, 60:140] = 1
    legacy = O.random_noise(truth, rng(0), num_classes=2)
    assert np.mean(legacy == truth) == pytest.approx(0.75, abs=0.01)
    assert np.mean(O.random_mask(truth, rng(0), num_classes=2) == truth) == pytest.approx(0.5, abs=0.01)
    assert LEGACY_REGISTRY["random_noise"].op is O.random_noise


def test_random_noise_changes_about_half_the_pixels():
    mask = np.zeros((64, 64), np.int64)
    mask[10:40, 10:40] = 1
    mask[45:60, 5:60] = 2
    out = O.random_noise(mask, rng(), num_classes=3)
    # half the pixels are redrawn, 2/3 of those to another label
    assert np.mean(out != mask) == pytest.approx(0.5 * (1 - 1 / 3), abs=0.03)
    assert set(np.unique(out).tolist()) == {0, 1, 2}


def test_catastrophic_entries_are_the_published_ones():
    assert {name: (e.op, e.weight) for name, e in CATASTROPHIC_OPS.items()} == {
        "invert": (O.invert, 1.0), "empty": (O.empty, 0.5), "full": (O.full, 0.5), "random_50": (O.random_mask, 0.3),
    }
    assert dict(REGISTRY["random_50"].params) == {"density": 0.5}
