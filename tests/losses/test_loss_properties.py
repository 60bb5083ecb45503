# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Property tests (hypothesis) of every loss in :mod:`metassl_monai.losses` over random shapes (2D/3D, batch 1–3, small
spatial sizes), class counts (2–5) and logits: Gaussian, small integers (argmax ties), all pixels one class, one class
absent, saturated (±1e4), and — where the loss is bounded, so the claim is meaningful — values near the float32
limits (±3e38). Cross-entropy of logits that far apart is itself beyond float32 (≈ 6e38), so the CE-based losses get
float32-limit values only in the reference (used through argmax and softmax).

Properties: the loss is finite (and ≥ 0); gradients reach only the prediction (``ref.grad`` stays ``None``) and are
finite, and not all zero when the loss is non-zero (for a non-saturated prediction where saturation zeroes the
softmax Jacobian); MetaSSL thresholds stay finite in (0, 1] (the ones used ≤ ``threshold_max``) after any number of training
updates and do not move in eval mode; the region bookkeeping is consistent.

Reproducible: ``derandomize=True`` and no example database. ``METASSL_PROPERTY_SCALE=10`` multiplies the example counts
(a longer search, e.g. after changing a loss).
"""

from __future__ import annotations

import functools
import math
import os

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metassl_monai.losses import (
    HeterogeneousLoss,
    PseudoLabelCrossEntropyLoss,
    PseudoLabelDiceCELoss,
    QualityAwareRegularizationLoss,
    QualityWeightedLoss,
    SoftmaxMSELoss,
    WeightedSumLoss,
)
from metassl_monai.quality import QualityPredictor

F32_MAX = torch.finfo(torch.float32).max
HUGE = 0.9 * F32_MAX


SCALE = float(os.environ.get("METASSL_PROPERTY_SCALE", "1"))


def props(n: int):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ----------------------------------------------------------------------------------------------------------------------
# strategies
# ----------------------------------------------------------------------------------------------------------------------
PRED_KINDS = ("gauss", "int", "saturated", "one_class", "absent")
REF_KINDS = PRED_KINDS + ("huge",)


def make_logits(kind: str, shape: tuple[int, ...], gen: torch.Generator, k: int) -> torch.Tensor:
    """Logits (B, C, *spatial) of one kind; ``k`` is the class made everywhere-argmax / never-argmax."""
    C = shape[1]
    if kind == "gauss":
        return torch.randn(shape, generator=gen) * 3.0
    if kind == "int":  # few values: many exact ties between classes
        return torch.randint(-1, 2, shape, generator=gen).float()
    signs = torch.randint(0, 2, shape, generator=gen).float() * 2 - 1
    if kind == "saturated":
        return signs * 1e4
    if kind == "huge":  # near the float32 limits, some equal
        return signs * HUGE
    base = torch.randn(shape, generator=gen)
    onehot = torch.zeros(C).index_fill_(0, torch.tensor([k]), 1.0).view(1, C, *([1] * (len(shape) - 2)))
    if kind == "one_class":
        return base + 20.0 * onehot
    if kind == "absent":
        return base - 20.0 * onehot
    raise AssertionError(kind)


@st.composite
def cases(draw, pred_kinds=PRED_KINDS, ref_kinds=REF_KINDS, dims=(2, 3), num_classes=None):
    """A (pred, ref) pair of leaf tensors requiring grad (``num_classes`` channels, else 2–5), plus the generator."""
    nd = draw(st.sampled_from(dims))
    C = num_classes if num_classes is not None else draw(st.integers(2, 5))
    shape = (draw(st.integers(1, 3)), C, *draw(st.lists(st.integers(1, 4), min_size=nd, max_size=nd)))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    k = draw(st.integers(0, shape[1] - 1))  # shared: "one_class" in both = all pixels one class in pred and ref
    pred = make_logits(draw(st.sampled_from(pred_kinds)), shape, gen, k).requires_grad_(True)
    ref = make_logits(draw(st.sampled_from(ref_kinds)), shape, gen, k).requires_grad_(True)
    return pred, ref, gen


def draw_target(draw, pred: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    B, C, *spatial = pred.shape
    kind = draw(st.sampled_from(["random", "one_class"]))
    if kind == "random":
        target = torch.randint(0, C, (B, *spatial), generator=gen)
    else:
        target = torch.full((B, *spatial), draw(st.integers(0, C - 1)), dtype=torch.long)
    return target.unsqueeze(1) if draw(st.booleans()) else target


def sample_weights(draw, batch: int):
    kind = draw(st.sampled_from(["none", "random", "zeros", "ones"]))
    if kind == "none":
        return None
    if kind == "zeros":
        return torch.zeros(batch)
    if kind == "ones":
        return torch.ones(batch)
    return torch.tensor(draw(st.lists(st.floats(0.0, 1.0), min_size=batch, max_size=batch)))


unit = st.floats(2.0**-149, 1.0)  # (0, 1] as a float32 (smaller values are rejected: they would be stored as 0)
heterogeneous_kwargs = st.fixed_dictionaries({
    "weights": st.one_of(st.just((50.0, 40.0, 0.2048, 6.4)), st.tuples(*[st.floats(0.0, 100.0)] * 4)),
    "confidence_source": st.sampled_from(["reference", "prediction"]),
    "split_background": st.booleans(),
    "threshold_init": unit,
    "threshold_momentum": unit,
    "threshold_max": st.one_of(st.none(), unit),
})


def check_grads(loss: torch.Tensor, pred: torch.Tensor, ref: torch.Tensor, expect_nonzero: bool) -> None:
    """backward(): ``ref`` gets no gradient, ``pred``'s is finite, and not all zero when ``expect_nonzero``."""
    assert torch.isfinite(loss), loss
    pred.grad = ref.grad = None
    loss.backward()
    assert ref.grad is None or not ref.grad.any(), "gradient leaked into the reference"
    grad = torch.zeros_like(pred) if pred.grad is None else pred.grad
    assert torch.isfinite(grad).all()
    if expect_nonzero:
        assert grad.any(), f"loss {loss.item()} > 0 but no gradient reaches the prediction"


# ----------------------------------------------------------------------------------------------------------------------
# HeterogeneousLoss
# ----------------------------------------------------------------------------------------------------------------------
@props(80)
@given(data=st.data(), case=cases(), kwargs=heterogeneous_kwargs, train=st.booleans())
def test_heterogeneous_finite_gradients_and_regions(data, case, kwargs, train):
    pred, ref, gen = case
    B, C, *spatial = pred.shape
    loss_fn = HeterogeneousLoss(C, **kwargs).train(train)
    target = draw_target(data.draw, pred, gen) if data.draw(st.booleans()) else None
    w = sample_weights(data.draw, B)
    loss = loss_fn(pred, ref, target, sample_weights=w)
    assert loss >= 0

    # region bookkeeping: map in 0..3, discrepancy bit = argmax disagreement, confidence bit = c > τ[ŷ]
    region = loss_fn.region_map
    assert region.shape == (B, *spatial) and region.dtype == torch.uint8
    assert ((region >= 0) & (region <= 3)).all()
    assert torch.equal(region // 2 == 1, pred.detach().argmax(1) != ref.detach().argmax(1))
    source = ref if kwargs["confidence_source"] == "reference" else pred
    source_class = source.detach().argmax(1)
    conf = torch.softmax(source.detach(), 1).gather(1, source_class.unsqueeze(1)).squeeze(1)
    assert torch.equal(region % 2 == 0, conf > loss_fn.effective_thresholds[source_class])
    fractions = loss_fn.region_fractions
    assert ((fractions >= 0) & (fractions <= 1)).all()
    assert fractions.sum().item() == pytest.approx(1.0, abs=1e-6)
    counts = torch.bincount(region.reshape(-1), minlength=4).float()
    assert torch.allclose(fractions * region.numel(), counts, rtol=0, atol=1e-4)
    # the loss is the weighted sum of the logged region terms (UC holds both halves with split_background)
    weights = torch.tensor(kwargs["weights"], dtype=torch.float32)
    assert loss.item() == pytest.approx((weights * loss_fn.region_terms).sum().item(), rel=1e-5, abs=1e-6)

    check_grads(loss, pred, ref, expect_nonzero=loss.item() > 1e-6)


@props(50)
@given(data=st.data(), kwargs=heterogeneous_kwargs, n_updates=st.integers(1, 4))
def test_heterogeneous_thresholds_stay_in_unit_interval(data, kwargs, n_updates):
    """Any number of training updates on any logits (near float32 limits too) keeps τ finite in (0, min(1, max)]."""
    C = data.draw(st.integers(2, 5))
    loss_fn = HeterogeneousLoss(C, **kwargs)
    cap = 1.0 if kwargs["threshold_max"] is None else kwargs["threshold_max"]

    def check():
        tau, used = loss_fn.thresholds, loss_fn.effective_thresholds
        assert torch.isfinite(tau).all() and (tau > 0).all() and (tau <= 1).all(), tau
        assert (used > 0).all() and (used <= tau).all(), (used, tau)
        assert (used.double() <= torch.tensor(cap, dtype=torch.float32).double()).all(), (used, cap)

    check()
    for _ in range(n_updates):
        pred, ref, _ = data.draw(cases(pred_kinds=REF_KINDS, num_classes=C))
        loss_fn(pred.detach(), ref.detach())
        check()
    before = loss_fn.thresholds.clone()
    loss_fn.eval()
    pred, ref, _ = data.draw(cases(pred_kinds=REF_KINDS, num_classes=C))
    loss_fn(pred.detach(), ref.detach())
    assert torch.equal(loss_fn.thresholds, before), "eval mode must not update the thresholds"


@props(30)
@given(case=cases(pred_kinds=("int",), ref_kinds=("int",)), shift=st.integers(-8, 8), train=st.booleans())
def test_heterogeneous_invariant_to_a_per_pixel_logit_shift(case, shift, train):
    """Adding the same constant to every class logit of a pixel (exact for small integers) changes nothing."""
    pred, ref, gen = case
    shifts = torch.randint(-abs(shift) - 1, abs(shift) + 1, (pred.shape[0], 1, *pred.shape[2:]), generator=gen).float()
    a, b = HeterogeneousLoss(pred.shape[1]).train(train), HeterogeneousLoss(pred.shape[1]).train(train)
    loss_a = a(pred.detach(), ref.detach())
    loss_b = b(pred.detach() + shifts, ref.detach() + shifts)
    assert torch.equal(a.region_map, b.region_map) and torch.equal(a.thresholds, b.thresholds)
    assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-5, abs=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# consistency baselines
# ----------------------------------------------------------------------------------------------------------------------
@props(60)
@given(data=st.data(), case=cases(), loss_cls=st.sampled_from([PseudoLabelCrossEntropyLoss, PseudoLabelDiceCELoss]))
def test_pseudo_label_losses(data, case, loss_cls):
    pred, ref, _ = case
    w = sample_weights(data.draw, pred.shape[0])
    loss = loss_cls()(pred, ref, sample_weights=w)
    assert loss >= 0
    if loss_cls is PseudoLabelDiceCELoss:
        assert loss <= 0.5 * (2e4 + math.log(5)) + 0.5 + 1e-3  # CE ≤ largest logit gap drawn + log C, Dice ≤ 1
    check_grads(loss, pred, ref, expect_nonzero=loss.item() > 1e-6)


@props(60)
@given(data=st.data(), case=cases(pred_kinds=REF_KINDS))
def test_softmax_mse(data, case):
    """Bounded in [0, 1] for any finite logits (float32 limits included); a gradient whenever the softmax of the
    prediction is not saturated and the loss is non-zero."""
    pred, ref, _ = case
    w = sample_weights(data.draw, pred.shape[0])
    loss = SoftmaxMSELoss()(pred, ref, sample_weights=w)
    assert 0 <= loss <= 1
    check_grads(loss, pred, ref, expect_nonzero=loss.item() > 1e-6 and pred.detach().abs().max() <= 30)


@props(40)
@given(case=cases(), scale=st.integers(1, 40), c=st.floats(0.01, 10.0),
       loss_cls=st.sampled_from([PseudoLabelCrossEntropyLoss, PseudoLabelDiceCELoss, SoftmaxMSELoss]))
def test_consistency_invariances(case, scale, c, loss_cls):
    """Equal sample weights are no weights; pseudo-label losses only see argmax(ref) (scaling by 2^-k keeps it)."""
    pred, ref, _ = case
    pred, ref = pred.detach(), ref.detach()
    loss_fn = loss_cls()
    plain = loss_fn(pred, ref)
    assert loss_fn(pred, ref, sample_weights=torch.full((pred.shape[0],), c)).item() == pytest.approx(
        plain.item(), rel=1e-5, abs=1e-7)
    if loss_cls is not SoftmaxMSELoss:
        assert torch.equal(loss_fn(pred, ref * 2.0**-scale), plain)


# ----------------------------------------------------------------------------------------------------------------------
# quality-guided losses and the weighted sum
# ----------------------------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def tiny_predictor(spatial_dims: int, num_classes: int) -> QualityPredictor:
    torch.manual_seed(0)
    return QualityPredictor(spatial_dims, num_classes, backbone="resnet10", widen_factor=0.25, hidden=8,
                            spatial_size=8)


class MeanForegroundPredictor(nn.Module):
    """Stand-in: quality of class c = mean probability of class c (differentiable, non-zero gradient in the mask)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def predict(self, image, mask):
        if mask.shape[1] != self.num_classes:
            mask = nn.functional.one_hot(mask[:, 0].long(), self.num_classes).movedim(-1, 1).float()
        return mask[:, 1:].flatten(2).mean(2)


def image_for(pred: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand((pred.shape[0], 1, *pred.shape[2:]), generator=gen)


@props(25)
@given(case=cases(pred_kinds=REF_KINDS), stand_in=st.booleans())
def test_quality_aware_regularization(case, stand_in):
    """QAR is 1 − mean quality: in [0, 1] for any finite logits; only the prediction gets a gradient (none reaches the
    frozen predictor's weights); with the differentiable stand-in and a non-saturated softmax it is not zero."""
    pred, ref, gen = case
    C = pred.shape[1]
    predictor = MeanForegroundPredictor(C) if stand_in else tiny_predictor(pred.ndim - 2, C)
    loss = QualityAwareRegularizationLoss(predictor)(pred, ref, image=image_for(pred, gen))
    assert 0 <= loss <= 1
    check_grads(loss, pred, ref, expect_nonzero=stand_in and pred.detach().abs().max() <= 30)
    assert all(p.grad is None for p in predictor.parameters())


@props(30)
@given(data=st.data(), case=cases(), threshold=st.floats(0.0, 1.0), power=st.floats(0.5, 3.0),
       base=st.sampled_from(["heterogeneous", "dice_ce", "ce", "mse"]))
def test_quality_weighted_loss(data, case, threshold, power, base):
    pred, ref, gen = case
    C = pred.shape[1]
    base_loss = {"heterogeneous": lambda: HeterogeneousLoss(C, threshold_max=0.9), "dice_ce": PseudoLabelDiceCELoss,
                 "ce": PseudoLabelCrossEntropyLoss, "mse": SoftmaxMSELoss}[base]()
    predictor = tiny_predictor(pred.ndim - 2, C) if data.draw(st.booleans()) else MeanForegroundPredictor(C)
    loss_fn = QualityWeightedLoss(predictor, base_loss, threshold=threshold, power=power)
    loss = loss_fn(pred, ref, image=image_for(pred, gen))
    assert loss >= 0
    q, w = loss_fn.last_quality, loss_fn.last_weights
    assert ((w >= 0) & (w <= 1)).all() and not w[q < threshold].any()
    if base == "heterogeneous":
        used = base_loss.effective_thresholds  # the stored EMA is not capped, the value used is
        assert ((used > 0) & (used <= 0.9)).all() and (base_loss.thresholds <= 1).all()
    check_grads(loss, pred, ref, expect_nonzero=loss.item() > 1e-6 and (base != "mse" or pred.abs().max() <= 30))


@props(30)
@given(case=cases(), weights=st.lists(st.floats(0.0, 10.0), min_size=3, max_size=3))
def test_weighted_sum(case, weights):
    pred, ref, gen = case
    C = pred.shape[1]
    loss_fn = WeightedSumLoss([SoftmaxMSELoss(), HeterogeneousLoss(C), QualityAwareRegularizationLoss(
        MeanForegroundPredictor(C))], weights)
    loss = loss_fn(pred, ref, image=image_for(pred, gen))
    assert loss >= 0
    assert loss.item() == pytest.approx(sum(w * float(t) for w, t in zip(weights, loss_fn.last_terms)), rel=1e-5, abs=1e-6)
    check_grads(loss, pred, ref, expect_nonzero=float(loss_fn.last_terms[1]) * weights[1] > 1e-6)
