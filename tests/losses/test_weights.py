# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the region-weight helpers :func:`ratio_weights` and :func:`exp_weights`."""

from __future__ import annotations

import math

import pytest

from metassl_monai.losses import HeterogeneousLoss, exp_weights, ratio_weights


def test_ratio_weights_defaults_exact():
    # UC = 50 ; US = 50/1.25 = 40 ; DC = 50/(1.25^3 * 5^3) = 50/244.140625 = 0.2048 ; DS = 50/(1.25^2 * 5) = 6.4
    w = ratio_weights()
    assert isinstance(w, tuple) and len(w) == 4
    assert w == pytest.approx((50.0, 40.0, 0.2048, 6.4), rel=1e-12)
    assert all(isinstance(v, float) for v in w)


def test_ratio_weights_default_matches_loss_default():
    loss_fn = HeterogeneousLoss(2)
    assert loss_fn.weights[:4].tolist() == pytest.approx(ratio_weights(), rel=1e-6)


@pytest.mark.parametrize(
    "args, expected",
    [
        # labeled weights of the 2D code: r = 1.4, γ = 1 -> (50, 50/1.4, 50/1.4^3, 50/1.4^2)
        ((50.0, 1.4, 1.0), (50.0, 35.714285714, 18.221574344, 25.510204082)),
        # labeled weights of the 3D code: r = 1.5, γ = 1 -> (50, 33.333, 50/3.375, 50/2.25)
        ((50.0, 1.5, 1.0), (50.0, 33.333333333, 14.814814815, 22.222222222)),
        # W = 8, r = 2, γ = 2: (8, 4, 8/(8*8) = 0.125, 8/(4*2) = 1)
        ((8.0, 2.0, 2.0), (8.0, 4.0, 0.125, 1.0)),
        # r = 1, γ = 1: all equal
        ((3.0, 1.0, 1.0), (3.0, 3.0, 3.0, 3.0)),
        # W = 0 is allowed
        ((0.0, 1.25, 5.0), (0.0, 0.0, 0.0, 0.0)),
    ],
)
def test_ratio_weights_values(args, expected):
    assert ratio_weights(*args) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_ratio_weights_keywords_and_ranking():
    assert ratio_weights(w=100.0, r=1.25, gamma=5.0) == pytest.approx((100.0, 80.0, 0.4096, 12.8))
    uc, us, dc, ds = ratio_weights()
    # the ratio form ranks DS above DC (documented)
    assert uc > us > ds > dc


def test_exp_weights_defaults():
    # 50 * exp(-(k*0.6)^3): k=0 -> 50 ; k=1 -> 50 e^-0.216 = 40.28677 ; k=2 -> 50 e^-1.728 = 8.88197 ;
    # k=3 -> 50 e^-5.832 = 0.146610  (the documented 40.3, 8.88, 0.147 are these rounded)
    w = exp_weights()
    assert isinstance(w, tuple) and len(w) == 4
    assert w == pytest.approx((50.0, 40.3, 8.88, 0.147), rel=5e-3)  # 3 significant digits
    assert w[0] == 50.0
    assert w[1] == pytest.approx(50 * math.exp(-0.216), rel=1e-12)
    assert w[2] == pytest.approx(50 * math.exp(-1.728), rel=1e-12)
    assert w[3] == pytest.approx(50 * math.exp(-5.832), rel=1e-12)
    assert w == pytest.approx((50.0, 40.28677, 8.88197, 0.146610), rel=1e-5)
    assert w[0] > w[1] > w[2] > w[3]


@pytest.mark.parametrize(
    "args",
    [(85.0, 0.3, 3.0), (1.0, 1.0, 1.0), (10.0, 0.5, 2.0), (50.0, 0.6, 3.0)],
)
def test_exp_weights_formula(args):
    w_, r, g = args
    expected = tuple(w_ * math.exp(-((k * r) ** g)) for k in range(4))
    assert exp_weights(*args) == pytest.approx(expected, rel=1e-12)


def test_exp_weights_labeled_values():
    # 85 * exp(-(0.3k)^3): 85, 85 e^-0.027 = 82.73571, 85 e^-0.216 = 68.48750, 85 e^-0.729 = 41.00325
    assert exp_weights(85.0, 0.3, 3.0) == pytest.approx((85.0, 82.73571, 68.48750, 41.00325), rel=1e-6)


def test_exp_weights_edge_values():
    assert exp_weights(7.0, 0.0, 3.0) == pytest.approx((7.0, 7.0, 7.0, 7.0))
    # r = 1, γ = 1: W e^-k
    assert exp_weights(1.0, 1.0, 1.0) == pytest.approx((1.0, math.exp(-1), math.exp(-2), math.exp(-3)))
    assert exp_weights(0.0) == (0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    "args",
    [(-1.0, 1.25, 5.0), (50.0, 0.0, 5.0), (50.0, -1.0, 5.0), (50.0, 1.25, 0.0), (50.0, 1.25, -2.0)],
)
def test_ratio_weights_invalid(args):
    with pytest.raises(ValueError):
        ratio_weights(*args)


@pytest.mark.parametrize("args", [(-1.0, 0.6, 3.0), (50.0, -0.1, 3.0), (50.0, 0.6, 0.0), (50.0, 0.6, -1.0)])
def test_exp_weights_invalid(args):
    with pytest.raises(ValueError):
        exp_weights(*args)


@pytest.mark.parametrize("fn", [ratio_weights, exp_weights])
def test_weights_accepted_by_loss(fn):
    loss_fn = HeterogeneousLoss(3, weights=fn())
    assert loss_fn.weights[:4].tolist() == pytest.approx(fn(), rel=1e-6)
