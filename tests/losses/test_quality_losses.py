# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""QAR, PL-QW, the per-sample weights of the consistency losses and WeightedSumLoss, on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from metassl_monai.losses import (
    HeterogeneousLoss,
    PseudoLabelCrossEntropyLoss,
    PseudoLabelDiceCELoss,
    QualityAwareRegularizationLoss,
    QualityWeightedLoss,
    SoftmaxMSELoss,
    WeightedSumLoss,
    quality_weights,
    weighted_sample_mean,
)

LN = math.log


class ImageMeanPredictor(nn.Module):
    """A stand-in predictor: quality of sample b = mean of its image (so tests choose q), times a parameter of 1."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.dropout = nn.Dropout(0.5)
        self.num_classes = num_classes
        self.seen_masks: list[torch.Tensor] = []

    def predict(self, image, mask):
        self.seen_masks.append(mask)
        q = image.flatten(1).mean(1, keepdim=True) * self.scale
        return q.expand(-1, self.num_classes - 1)


class ForegroundProbPredictor(ImageMeanPredictor):
    """Quality = mean probability of class 1 in the mask (differentiable in the mask)."""

    def predict(self, image, mask):
        probs = mask if mask.shape[1] == self.num_classes else torch.nn.functional.one_hot(mask[:, 0].long(), 2).movedim(-1, 1)
        return probs[:, 1:].flatten(2).mean(2) * self.scale


def row(*pixels):
    """Logits (1, C, 1, k) from k per-pixel logit vectors."""
    return torch.tensor(pixels, dtype=torch.float32).t().reshape(1, len(pixels[0]), 1, len(pixels))


@pytest.mark.parametrize(
    "q, threshold, power, expected",
    [([0.4, 0.5, 0.9], 0.5, 2.0, [0.0, 0.25, 0.81]), ([0.2, 0.6], 0.0, 1.0, [0.2, 0.6]), ([0.7], 0.8, 2.0, [0.0])],
)
def test_quality_weights(q, threshold, power, expected):
    assert quality_weights(torch.tensor(q), threshold, power).tolist() == pytest.approx(expected)


def test_weighted_sample_mean():
    losses = torch.tensor([1.0, 3.0])
    assert weighted_sample_mean(losses, None).item() == pytest.approx(2.0)
    assert weighted_sample_mean(losses, torch.tensor([1.0, 3.0])).item() == pytest.approx(2.5)
    assert weighted_sample_mean(losses, torch.zeros(2)).item() == 0.0
    with pytest.raises(ValueError, match="one per sample"):
        weighted_sample_mean(losses, torch.ones(3))


def _two_samples():
    """Sample 0: pred logits 0 (CE ln 2 to any class); sample 1: pred [ln3, 0] vs pseudo-label 0 (CE ln 4/3)."""
    pred = torch.cat([row([0.0, 0.0], [0.0, 0.0]), row([LN(3), 0.0], [LN(3), 0.0])]).requires_grad_(True)
    ref = torch.cat([row([2.0, 0.0], [2.0, 0.0]), row([2.0, 0.0], [2.0, 0.0])])
    return pred, ref


def test_plqw_with_pseudo_label_ce_is_the_weighted_mean():
    pred, ref = _two_samples()
    image = torch.stack([torch.full((1, 1, 2), 0.6), torch.full((1, 1, 2), 0.9)])
    predictor = ImageMeanPredictor()
    loss_fn = QualityWeightedLoss(predictor, PseudoLabelCrossEntropyLoss())
    loss = loss_fn(pred, ref, image=image)
    w0, w1 = 0.36, 0.81
    assert loss.item() == pytest.approx((w0 * LN(2) + w1 * LN(4 / 3)) / (w0 + w1), rel=1e-5)
    assert loss_fn.last_weights.tolist() == pytest.approx([w0, w1])
    assert loss_fn.last_quality.tolist() == pytest.approx([0.6, 0.9])
    # the predictor sees the reference's hard pseudo-label (class indices), and is frozen
    assert predictor.seen_masks[-1].shape == (2, 1, 1, 2) and predictor.seen_masks[-1].sum() == 0
    loss.backward()
    assert pred.grad is not None and predictor.scale.grad is None and not predictor.scale.requires_grad


def test_plqw_drops_low_quality_samples_and_all_dropped_gives_zero():
    pred, ref = _two_samples()
    image = torch.stack([torch.full((1, 1, 2), 0.3), torch.full((1, 1, 2), 0.9)])
    loss = QualityWeightedLoss(ImageMeanPredictor(), PseudoLabelCrossEntropyLoss())(pred, ref, image=image)
    assert loss.item() == pytest.approx(LN(4 / 3), rel=1e-5)  # only sample 1 counts
    low = torch.full((2, 1, 1, 2), 0.2)
    loss = QualityWeightedLoss(ImageMeanPredictor(), PseudoLabelCrossEntropyLoss())(pred, ref, image=low)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(pred.grad) == 0


def test_plqw_times_metassl_weights_the_region_means():
    """Quality weight × heterogeneous loss: eval mode (fixed thresholds) so the weighted loss is hand-checkable."""
    pred, ref = _two_samples()
    het = HeterogeneousLoss(2, weights=(1.0, 1.0, 1.0, 1.0), split_background=False).eval()
    image = torch.stack([torch.full((1, 1, 2), 0.3), torch.full((1, 1, 2), 1.0)])  # w = [0, 1]
    loss = QualityWeightedLoss(ImageMeanPredictor(), het)(pred, ref, image=image)
    # only sample 1 counts: its 2 pixels agree (class 0 both) with ref confidence sigmoid(2)=0.881 < 0.9 -> US;
    # term_US = 2 ln(4/3) / (2 + 1); all other regions empty
    assert loss.item() == pytest.approx(2 * LN(4 / 3) / 3, rel=1e-5)
    alone = het(pred[1:], ref[1:])
    assert loss.item() == pytest.approx(alone.item(), rel=1e-6)


@pytest.mark.parametrize("w", [1.0, 2.0])
def test_heterogeneous_uniform_sample_weights(w):
    pred, ref = _two_samples()
    het = HeterogeneousLoss(2, weights=(1.0, 1.0, 1.0, 1.0), split_background=False).eval()
    weighted = het(pred, ref, sample_weights=torch.full((2,), w)).item()
    # all 4 pixels in US: Σ CE = 2 ln2 + 2 ln(4/3); weighted term = w Σ / (4 w + 1)
    expected = w * (2 * LN(2) + 2 * LN(4 / 3)) / (4 * w + 1)
    assert weighted == pytest.approx(expected, rel=1e-5)
    if w == 1.0:
        assert weighted == pytest.approx(het(pred, ref).item(), rel=1e-6)
    with pytest.raises(ValueError, match="one per image"):
        het(pred, ref, sample_weights=torch.ones(3))


def test_sample_weights_do_not_change_thresholds_or_fractions():
    pred, ref = _two_samples()
    a, b = HeterogeneousLoss(2), HeterogeneousLoss(2)
    a(pred, ref)
    b(pred, ref, sample_weights=torch.tensor([0.0, 0.5]))
    assert torch.equal(a.thresholds, b.thresholds) and torch.equal(a.region_fractions, b.region_fractions)


@pytest.mark.parametrize("loss_cls", [PseudoLabelCrossEntropyLoss, SoftmaxMSELoss, PseudoLabelDiceCELoss])
def test_baselines_accept_sample_weights(loss_cls):
    pred, ref = _two_samples()
    loss_fn = loss_cls()
    per_sample = [loss_fn(pred[i : i + 1], ref[i : i + 1]).item() for i in range(2)]
    weighted = loss_fn(pred, ref, sample_weights=torch.tensor([1.0, 3.0])).item()
    assert weighted == pytest.approx((per_sample[0] + 3 * per_sample[1]) / 4, rel=1e-5)
    assert loss_fn(pred, ref).item() == pytest.approx(sum(per_sample) / 2, rel=1e-5)


def test_pseudo_label_dice_ce_hand_computed():
    # p = (0.5, 0.5) everywhere; pseudo-label: pixel 0 class 0, pixel 1 class 1
    pred = row([0.0, 0.0], [0.0, 0.0])
    ref = row([1.0, 0.0], [0.0, 1.0])
    # CE = ln 2; Dice per class = 2·0.5 / (1 + 1) = 0.5 -> 1 - Dice = 0.5 for both classes
    assert PseudoLabelDiceCELoss()(pred, ref).item() == pytest.approx(0.5 * LN(2) + 0.5 * 0.5, rel=1e-4)
    confident = row([20.0, 0.0], [0.0, 20.0])
    assert PseudoLabelDiceCELoss()(confident, ref).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("include_background", [False, True])
def test_pseudo_label_dice_ce_foreground_dice_by_default(include_background):
    # pixel 0: p = (0.5, 0.5), pseudo-label 0; pixel 1: p = (0.2, 0.8), pseudo-label 1
    pred = row([0.0, 0.0], [0.0, LN(4)])
    ref = row([1.0, 0.0], [0.0, 1.0])
    ce = (LN(2) + LN(1.25)) / 2
    dice_fg = 2 * 0.8 / (0.5 + 0.8 + 1)  # class 1: intersection 0.8, Σp 1.3, Σg 1
    dice_bg = 2 * 0.5 / (0.5 + 0.2 + 1)  # class 0: intersection 0.5, Σp 0.7, Σg 1
    dice = (dice_fg + dice_bg) / 2 if include_background else dice_fg  # QG-SSL's L_qw: foreground Dice
    loss = PseudoLabelDiceCELoss(include_background=include_background)
    assert loss(pred, ref).item() == pytest.approx(0.5 * ce + 0.5 * (1 - dice), rel=1e-4)
    if not include_background:
        assert PseudoLabelDiceCELoss()(pred, ref).item() == pytest.approx(0.5 * ce + 0.5 * (1 - dice), rel=1e-4)


def test_qar_value_gradient_and_frozen_predictor():
    predictor = ForegroundProbPredictor()
    qar = QualityAwareRegularizationLoss(predictor)
    pred = row([0.0, 0.0], [LN(3), 0.0]).requires_grad_(True)  # p1 = 0.5 and 0.25
    loss = qar(pred, None, image=torch.zeros(1, 1, 1, 2))
    assert loss.item() == pytest.approx(1 - (0.5 + 0.25) / 2, rel=1e-6)
    loss.backward()
    # d loss / d logit: -½ dp1/dz; for 2 classes dp1/dz1 = p1(1-p1) and dp1/dz0 = -p1(1-p1)
    g = pred.grad[0, :, 0]
    assert g[1].tolist() == pytest.approx([-0.5 * 0.25, -0.5 * 0.1875], rel=1e-5)
    assert g[0].tolist() == pytest.approx([0.5 * 0.25, 0.5 * 0.1875], rel=1e-5)
    assert predictor.scale.grad is None
    qar.train()
    assert not predictor.training and qar.training
    assert qar.last_quality.shape == (1, 1)


@pytest.mark.parametrize("loss_cls", [QualityAwareRegularizationLoss, QualityWeightedLoss])
def test_quality_losses_need_a_matching_image(loss_cls):
    args = (ImageMeanPredictor(),) if loss_cls is QualityAwareRegularizationLoss else (
        ImageMeanPredictor(), PseudoLabelCrossEntropyLoss())
    loss_fn = loss_cls(*args)
    assert loss_fn.requires_image
    pred, ref = _two_samples()
    with pytest.raises(ValueError, match="needs the image"):
        loss_fn(pred, ref)
    with pytest.raises(ValueError, match="same batch size and spatial shape"):
        loss_fn(pred, ref, image=torch.zeros(2, 1, 1, 3))


def test_quality_loss_rejects_a_plain_network():
    with pytest.raises(TypeError, match="QualityPredictor"):
        QualityAwareRegularizationLoss(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="threshold"):
        QualityWeightedLoss(ImageMeanPredictor(), PseudoLabelCrossEntropyLoss(), threshold=1.5)


def test_weighted_sum_passes_the_image_only_where_needed():
    pred, ref = _two_samples()
    image = torch.full((2, 1, 1, 2), 0.5)
    mse, qar = SoftmaxMSELoss(), QualityAwareRegularizationLoss(ImageMeanPredictor())
    total = WeightedSumLoss([mse, qar], [1.0, 0.1])
    assert total.requires_image and not WeightedSumLoss([mse]).requires_image
    value = total(pred, ref, image=image)
    expected = mse(pred, ref).item() + 0.1 * (1 - 0.5)
    assert value.item() == pytest.approx(expected, rel=1e-6)
    assert all(t.ndim == 0 and not t.requires_grad for t in total.last_terms)  # no host copy per call
    assert [float(t) for t in total.last_terms] == pytest.approx([mse(pred, ref).item(), 0.5])
    with pytest.raises(ValueError):
        WeightedSumLoss([mse], [1.0, 2.0])
