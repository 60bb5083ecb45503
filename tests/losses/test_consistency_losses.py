# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the baseline consistency losses PseudoLabelCrossEntropyLoss and SoftmaxMSELoss."""

from __future__ import annotations

import math

import pytest
import torch

from metassl_monai.losses import PseudoLabelCrossEntropyLoss, SoftmaxMSELoss

LN = math.log


def row(*pixels):
    """Logits of shape (1, C, 1, k) from k per-pixel logit vectors of length C."""
    return torch.tensor(pixels, dtype=torch.float32).t().reshape(1, len(pixels[0]), 1, len(pixels))


def _softmax(v):
    e = [math.exp(x - max(v)) for x in v]
    return [x / sum(e) for x in e]


# ----------------------------------------------------------------------------------------------------------------------
# PseudoLabelCrossEntropyLoss
# ----------------------------------------------------------------------------------------------------------------------
def test_pseudo_label_ce_hand_computed():
    # p0: pred [ln3, 0] -> (3/4, 1/4), ref [0, 1] -> label 1 -> CE = ln 4
    # p1: pred [0, ln4] -> (1/5, 4/5), ref [5, 0] -> label 0 -> CE = ln 5
    # mean = (ln4 + ln5) / 2 = ln20 / 2 = 1.497866
    pred = row([LN(3), 0.0], [0.0, LN(4)])
    ref = row([0.0, 1.0], [5.0, 0.0])
    loss = PseudoLabelCrossEntropyLoss()(pred, ref)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(LN(20) / 2, rel=1e-6)
    assert loss.item() == pytest.approx(1.4978661, rel=1e-6)


def test_pseudo_label_ce_three_classes():
    # p0: pred [0,0,0] -> 1/3 each, ref argmax 2 -> ln 3
    # p1: pred [ln2, 0, 0] -> (1/2, 1/4, 1/4), ref argmax 0 -> ln 2
    # p2: same pred, ref argmax 1 -> ln 4
    pred = row([0.0, 0.0, 0.0], [LN(2), 0.0, 0.0], [LN(2), 0.0, 0.0])
    ref = row([0.0, 0.0, 1.0], [3.0, 1.0, 2.0], [-1.0, 0.5, 0.0])
    loss = PseudoLabelCrossEntropyLoss()(pred, ref)
    assert loss.item() == pytest.approx((LN(3) + LN(2) + LN(4)) / 3, rel=1e-6)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 2, 3, 3, 2)])
def test_pseudo_label_ce_against_loop(shape):
    g = torch.Generator().manual_seed(3)
    pred, ref = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    B, C = shape[:2]
    P, R = pred.reshape(B, C, -1).double().tolist(), ref.reshape(B, C, -1).double().tolist()
    total, n = 0.0, 0
    for b in range(B):
        for i in range(len(P[b][0])):
            pv, rv = [P[b][k][i] for k in range(C)], [R[b][k][i] for k in range(C)]
            label = max(range(C), key=lambda k: (rv[k], -k))
            total -= math.log(_softmax(pv)[label])
            n += 1
    assert PseudoLabelCrossEntropyLoss()(pred, ref).item() == pytest.approx(total / n, rel=1e-5)


def test_pseudo_label_ce_ignores_target_and_detaches_ref():
    pred = row([LN(3), 0.0], [0.0, LN(4)]).requires_grad_(True)
    ref = row([0.0, 1.0], [5.0, 0.0]).requires_grad_(True)
    target = torch.tensor([0, 1]).reshape(1, 1, 2)  # opposite of argmax(ref): must be ignored
    loss = PseudoLabelCrossEntropyLoss()(pred, ref, target)
    assert loss.item() == pytest.approx(LN(20) / 2, rel=1e-6)
    loss.backward()
    assert ref.grad is None
    # d/dz mean CE = (softmax - onehot) / N, N = 2:
    # p0 (3/4, 1/4 - 1) / 2 = (0.375, -0.375) ; p1 (1/5 - 1, 4/5) / 2 = (-0.4, 0.4)
    # layout (1, C, 1, k): channel 0 = [p0, p1], channel 1 = [p0, p1]
    assert pred.grad.reshape(-1).tolist() == pytest.approx([0.375, -0.4, -0.375, 0.4], abs=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# SoftmaxMSELoss
# ----------------------------------------------------------------------------------------------------------------------
def test_softmax_mse_hand_computed():
    # p0: softmax(pred [ln3, 0]) = (.75, .25), softmax(ref [0, 0]) = (.5, .5): squared diffs .0625, .0625
    # p1: softmax(pred [0, ln4]) = (.2, .8), softmax(ref [0, ln9]) = (.1, .9): squared diffs .01, .01
    # mean over 4 elements = (0.125 + 0.02) / 4 = 0.03625
    pred = row([LN(3), 0.0], [0.0, LN(4)])
    ref = row([0.0, 0.0], [0.0, LN(9)])
    loss = SoftmaxMSELoss()(pred, ref)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(0.03625, rel=1e-6)


def test_softmax_mse_three_classes():
    # pred [ln2, 0, 0] -> (.5, .25, .25) ; ref [0, 0, 0] -> (1/3, 1/3, 1/3)
    # diffs (1/6, -1/12, -1/12) -> squares (1/36, 1/144, 1/144) ; sum = 6/144 = 1/24 ; mean over 3 = 1/72
    pred = row([LN(2), 0.0, 0.0])
    ref = row([0.0, 0.0, 0.0])
    assert SoftmaxMSELoss()(pred, ref).item() == pytest.approx(1 / 72, rel=1e-6)


def test_softmax_mse_zero_when_equal_and_shift_invariant():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 2, 2, 2, generator=g)
    assert SoftmaxMSELoss()(x, x.clone()).item() == 0.0
    assert SoftmaxMSELoss()(x, x + 7.0).item() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 4, 2, 3, 2)])
def test_softmax_mse_against_loop(shape):
    g = torch.Generator().manual_seed(5)
    pred, ref = torch.randn(shape, generator=g), torch.randn(shape, generator=g)
    B, C = shape[:2]
    P, R = pred.reshape(B, C, -1).double().tolist(), ref.reshape(B, C, -1).double().tolist()
    total, n = 0.0, 0
    for b in range(B):
        for i in range(len(P[b][0])):
            sp = _softmax([P[b][k][i] for k in range(C)])
            sr = _softmax([R[b][k][i] for k in range(C)])
            for k in range(C):
                total += (sp[k] - sr[k]) ** 2
                n += 1
    assert SoftmaxMSELoss()(pred, ref).item() == pytest.approx(total / n, rel=1e-5)


def test_softmax_mse_ignores_target_and_detaches_ref():
    pred = row([LN(3), 0.0], [0.0, LN(4)]).requires_grad_(True)
    ref = row([0.0, 0.0], [0.0, LN(9)]).requires_grad_(True)
    loss = SoftmaxMSELoss()(pred, ref, torch.zeros(1, 1, 2, dtype=torch.long))
    assert loss.item() == pytest.approx(0.03625, rel=1e-6)
    loss.backward()
    assert ref.grad is None
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    # p0: d = s - r = (.25, -.25), dL/ds = 2d/4 = (.125, -.125); Jacobian s_i(δij - s_j):
    #   dL/dz0 = .75*(.125 - (.75*.125 + .25*-.125)) = .75*(.125 - .0625) = 0.046875 ; dL/dz1 = -0.046875
    # p1: d = (.1, -.1), dL/ds = (.05, -.05); Σ s·g = .2*.05 + .8*-.05 = -.03
    #   dL/dz0 = .2*(.05 + .03) = 0.016 ; dL/dz1 = .8*(-.05 + .03) = -0.016
    assert pred.grad.reshape(-1).tolist() == pytest.approx([0.046875, 0.016, -0.046875, -0.016], abs=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# shape checks
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss_cls", [PseudoLabelCrossEntropyLoss, SoftmaxMSELoss])
@pytest.mark.parametrize("pred_shape, ref_shape", [((1, 2, 4, 4), (1, 2, 4, 5)), ((1, 2, 4), (1, 3, 4)), ((2, 2), (2, 2))])
def test_consistency_invalid_shapes(loss_cls, pred_shape, ref_shape):
    with pytest.raises(ValueError):
        loss_cls()(torch.zeros(pred_shape), torch.zeros(ref_shape))


# ----------------------------------------------------------------------------------------------------------------------
# ConfidenceMaskedCrossEntropyLoss (FixMatch)
# ----------------------------------------------------------------------------------------------------------------------
def test_confidence_masked_ce_hand_computed():
    # p0: ref [ln19, 0] -> confidence 19/20 = 0.95 >= 0.95, label 0; pred [0, 0] -> CE = ln 2 (kept)
    # p1: ref [0, ln9] -> confidence 0.9 < 0.95 -> masked out (counts as 0)
    # p2: ref [0, 10] -> confidence > 0.95, label 1; pred [ln3, 0] -> (3/4, 1/4) -> CE = ln 4 (kept)
    # mean over all 3 pixels = (ln2 + ln4) / 3 = ln 8 / 3
    from metassl_monai.losses import ConfidenceMaskedCrossEntropyLoss

    pred = row([0.0, 0.0], [0.0, 0.0], [LN(3), 0.0])
    ref = row([LN(19), 0.0], [0.0, LN(9)], [0.0, 10.0])
    loss = ConfidenceMaskedCrossEntropyLoss(0.95)
    value = loss(pred, ref)
    assert value.item() == pytest.approx(LN(8) / 3, rel=1e-5)
    assert loss.mask_fraction.item() == pytest.approx(2 / 3)
    assert ConfidenceMaskedCrossEntropyLoss(0.0)(pred, ref).item() == pytest.approx((LN(2) * 2 + LN(4)) / 3, rel=1e-5)
    assert ConfidenceMaskedCrossEntropyLoss(1.0)(pred, ref).item() == 0.0  # nothing is that confident


def test_confidence_masked_ce_gradient_only_into_pred_and_weights():
    from metassl_monai.losses import ConfidenceMaskedCrossEntropyLoss

    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 3, 4, 4, generator=g, requires_grad=True)
    ref = (torch.randn(2, 3, 4, 4, generator=g) * 5).requires_grad_()
    loss = ConfidenceMaskedCrossEntropyLoss(0.5)
    loss(pred, ref).backward()
    assert pred.grad is not None and ref.grad is None
    per_image = [ConfidenceMaskedCrossEntropyLoss(0.5)(pred[i : i + 1], ref[i : i + 1]).item() for i in range(2)]
    weighted = loss(pred, ref, sample_weights=torch.tensor([3.0, 1.0])).item()
    assert weighted == pytest.approx((3 * per_image[0] + per_image[1]) / 4, rel=1e-5)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_confidence_masked_ce_rejects_bad_threshold(threshold):
    from metassl_monai.losses import ConfidenceMaskedCrossEntropyLoss

    with pytest.raises(ValueError, match="threshold must be in"):
        ConfidenceMaskedCrossEntropyLoss(threshold)
