# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :class:`metassl_monai.losses.HeterogeneousLoss` against hand-computed values and a loop oracle."""

from __future__ import annotations

import math

import pytest
import torch

from metassl_monai.losses import REGION_NAMES, HeterogeneousLoss

LN = math.log
F32_09 = torch.tensor(0.9).item()  # 0.9 as stored in a float32 buffer


# ----------------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------------
def row(*pixels):
    """Logits of shape (1, C, 1, k) from k per-pixel logit vectors of length C."""
    return torch.tensor(pixels, dtype=torch.float32).t().reshape(1, len(pixels[0]), 1, len(pixels))


def oracle(pred, ref, thresholds, *, target=None, weights=(50.0, 40.0, 0.2048, 6.4), source="reference",
           split=True, momentum=0.5, update=True):
    """
    Independent reference written with plain Python loops (float64). Returns a dict with the differentiable
    ``loss`` (a torch scalar built from ``pred`` so autograd works), the updated thresholds, the region ids
    (flat list over b, then spatial in C order), the region fractions and terms.
    """
    B, C = pred.shape[:2]
    P = pred.detach().double().reshape(B, C, -1).tolist()
    R = ref.detach().double().reshape(B, C, -1).tolist()
    pred_flat = pred.reshape(B, C, -1)
    N = len(P[0][0])
    if target is not None:
        t = target.reshape(B, -1).tolist()

    def argmax(v):
        best = 0
        for i in range(1, len(v)):
            if v[i] > v[best]:
                best = i
        return best

    def softmax(v):
        mx = max(v)
        e = [math.exp(x - mx) for x in v]
        s = sum(e)
        return [x / s for x in e]

    pix = []  # (b, i, yp, yr, c, ys, label)
    for b in range(B):
        for i in range(N):
            pv = [P[b][k][i] for k in range(C)]
            rv = [R[b][k][i] for k in range(C)]
            sv = rv if source == "reference" else pv
            yp, yr, ys = argmax(pv), argmax(rv), argmax(sv)
            c = max(softmax(sv))
            label = yr if target is None else int(t[b][i])
            pix.append((b, i, yp, yr, c, ys, label))

    tau = list(thresholds)
    if update:
        for k in range(C):
            cs = [p[4] for p in pix if p[5] == k]
            if cs:
                tau[k] = momentum * (sum(cs) / len(cs)) + (1 - momentum) * tau[k]

    regions, counts = [], [0] * 5
    ce_sums = [pred.new_zeros((), dtype=torch.float64) for _ in range(5)]
    for b, i, yp, yr, c, ys, label in pix:
        assert abs(c - tau[ys]) > 1e-6, "ambiguous pixel: pick another seed"
        agree = yp == yr
        confident = c > tau[ys]
        reg = (0 if confident else 1) if agree else (2 if confident else 3)
        regions.append(reg)
        bin_ = 4 if (split and reg == 0 and ys == 0) else reg
        logits = pred_flat[b, :, i].double()
        ce = torch.logsumexp(logits, 0) - logits[label]
        ce_sums[bin_] = ce_sums[bin_] + ce
        counts[bin_] += 1
    terms = [ce_sums[j] / (counts[j] + 1) for j in range(5)]
    w = list(weights) + [weights[0]]
    loss = sum(w[j] * terms[j] for j in range(5))
    region_counts = [counts[0] + counts[4], counts[1], counts[2], counts[3]]
    region_terms = [float((terms[0] + terms[4]).detach()), *(float(terms[j].detach()) for j in (1, 2, 3))]
    return {
        "loss": loss,
        "thresholds": tau,
        "regions": regions,
        "fractions": [n / len(pix) for n in region_counts],
        "terms": region_terms,
    }


# ----------------------------------------------------------------------------------------------------------------------
# hand-built example (C = 2, 1x2x1x6), reference is the confidence source
# ----------------------------------------------------------------------------------------------------------------------
# reference logits: softmax([ln a, 0]) = (a/(a+1), 1/(a+1)), so
#   [ln19, 0] -> class 0, c = 0.95      [ln3, 0] -> class 0, c = 0.75
#   [0, ln19] -> class 1, c = 0.95      [0, ln3] -> class 1, c = 0.75
HAND_REF = row([LN(19), 0.0], [LN(3), 0.0], [0.0, LN(19)], [0.0, LN(19)], [0.0, LN(3)], [0.0, LN(3)])
# prediction logits and their class:        CE vs the pseudo-label argmax(ref) = [0, 0, 1, 1, 1, 1]
#   p0 [ln3, 0]  class 0  p(0)=3/4  -> CE = ln(4/3)
#   p1 [0, ln3]  class 1  p(0)=1/4  -> CE = ln 4
#   p2 [0, ln3]  class 1  p(1)=3/4  -> CE = ln(4/3)
#   p3 [ln3, 0]  class 0  p(1)=1/4  -> CE = ln 4
#   p4 [0, ln4]  class 1  p(1)=4/5  -> CE = ln(5/4)
#   p5 [ln4, 0]  class 0  p(1)=1/5  -> CE = ln 5
HAND_PRED = row([LN(3), 0.0], [0.0, LN(3)], [0.0, LN(3)], [LN(3), 0.0], [0.0, LN(4)], [LN(4), 0.0])
# threshold update (m = 0.5, τ = 0.9):
#   class 0: c = {0.95, 0.75}, mean 0.85 -> τ0 = 0.5*0.85 + 0.5*0.9 = 0.875
#   class 1: c = {0.95, 0.95, 0.75, 0.75}, mean 0.85 -> τ1 = 0.875
HAND_TAU = [0.875, 0.875]
# regions: p0 agree, 0.95 > τ -> UC (background, ŷ = 0)
#          p1 disagree, 0.75 <= τ -> DS
#          p2 agree, 0.95 > τ -> UC (foreground)
#          p3 disagree, 0.95 > τ -> DC
#          p4 agree, 0.75 <= τ -> US
#          p5 disagree, 0.75 <= τ -> DS
HAND_REGIONS = [0, 3, 0, 2, 1, 3]
HAND_FRACTIONS = [2 / 6, 1 / 6, 1 / 6, 2 / 6]
# terms, Σ CE / (n + 1):
#   split:  UC_bg = ln(4/3)/2, UC_fg = ln(4/3)/2  -> reported UC term = ln(4/3)
#   no split: UC = 2 ln(4/3) / 3
#   US = ln(5/4)/2 ;  DC = ln4/2 ;  DS = (ln4 + ln5)/3 = ln20/3
HAND_TERMS_SPLIT = [LN(4 / 3), LN(5 / 4) / 2, LN(4) / 2, LN(20) / 3]
HAND_TERMS_NOSPLIT = [2 * LN(4 / 3) / 3, LN(5 / 4) / 2, LN(4) / 2, LN(20) / 3]


def _hand_loss(weights, split):
    terms = HAND_TERMS_SPLIT if split else HAND_TERMS_NOSPLIT
    return sum(w * t for w, t in zip(weights, terms))


@pytest.mark.parametrize("weights", [(50.0, 40.0, 0.2048, 6.4), (1.0, 10.0, 100.0, 1000.0), (0.0, 0.0, 0.0, 1.0)])
@pytest.mark.parametrize("split", [True, False])
def test_hand_built_all_regions(weights, split):
    loss_fn = HeterogeneousLoss(2, weights=weights, split_background=split)
    loss = loss_fn(HAND_PRED, HAND_REF)
    assert loss_fn.thresholds.tolist() == pytest.approx(HAND_TAU, abs=1e-6)
    assert loss_fn.region_map.dtype == torch.uint8
    assert loss_fn.region_map.shape == (1, 1, 6)
    assert loss_fn.region_map.reshape(-1).tolist() == HAND_REGIONS
    assert loss_fn.region_fractions.tolist() == pytest.approx(HAND_FRACTIONS, abs=1e-6)
    terms = HAND_TERMS_SPLIT if split else HAND_TERMS_NOSPLIT
    assert loss_fn.region_terms.tolist() == pytest.approx(terms, abs=1e-6)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(_hand_loss(weights, split), rel=1e-6, abs=1e-6)


def test_hand_built_default_weights_explicit_numbers():
    # split (default): 50*(ln(4/3)/2 + ln(4/3)/2) + 40*ln(5/4)/2 + 0.2048*ln4/2 + 6.4*ln20/3
    #   = 14.38410362 + 4.46287103 + 0.14195654 + 6.39089552 = 25.37982671
    expected_split = 50 * LN(4 / 3) + 20 * LN(5 / 4) + 0.1024 * LN(4) + 6.4 * LN(20) / 3
    assert expected_split == pytest.approx(25.37982671, abs=1e-7)
    # no split: UC term is 2 ln(4/3)/3 instead of ln(4/3): 50 * 2 ln(4/3)/3 = 9.58940242 -> 20.58512550
    expected_nosplit = 50 * 2 * LN(4 / 3) / 3 + 20 * LN(5 / 4) + 0.1024 * LN(4) + 6.4 * LN(20) / 3
    assert expected_nosplit == pytest.approx(20.58512550, abs=1e-7)

    on = HeterogeneousLoss(2)(HAND_PRED, HAND_REF)
    off = HeterogeneousLoss(2, split_background=False)(HAND_PRED, HAND_REF)
    assert on.item() == pytest.approx(expected_split, rel=1e-6)
    assert off.item() == pytest.approx(expected_nosplit, rel=1e-6)
    assert on.item() - off.item() == pytest.approx(50 * LN(4 / 3) / 3, rel=1e-5)


def test_hand_built_matches_oracle():
    res = oracle(HAND_PRED, HAND_REF, [0.9, 0.9])
    assert res["regions"] == HAND_REGIONS
    assert res["thresholds"] == pytest.approx(HAND_TAU)
    assert res["terms"] == pytest.approx(HAND_TERMS_SPLIT, abs=1e-6)


def test_split_background_only_background_part_is_separated():
    # All UC pixels foreground -> split and no split give the same value (the bg bin is empty and 0/(0+1) = 0).
    ref = row([0.0, LN(19)], [0.0, LN(19)])  # class 1, c = 0.95, τ1 -> 0.925 ; both UC
    pred = row([0.0, LN(3)], [0.0, LN(4)])  # CE ln(4/3), ln(5/4)
    on = HeterogeneousLoss(2, weights=(1, 1, 1, 1))
    off = HeterogeneousLoss(2, weights=(1, 1, 1, 1), split_background=False)
    expected = (LN(4 / 3) + LN(5 / 4)) / 3
    assert on(pred, ref).item() == pytest.approx(expected, rel=1e-6)
    assert off(pred, ref).item() == pytest.approx(expected, rel=1e-6)
    assert on.region_map.reshape(-1).tolist() == [0, 0]


# the paper's 2D code: foreground UC weight 0, background UC 2 W
# ref p0 [ln19, 0] -> class 0, c 0.95; p1 [0, ln19] -> class 1, c 0.95; τ0 = τ1 = 0.5*0.95 + 0.5*0.9 = 0.925 < 0.95
# pred p0 [ln3, 0] agrees, CE ln(4/3) -> UC background; p1 [0, ln4] agrees, CE ln(5/4) -> UC foreground
# terms: UC_bg = ln(4/3)/2, UC_fg = ln(5/4)/2; every other region empty (term 0)
UC_REF, UC_PRED = row([LN(19), 0.0], [0.0, LN(19)]), row([LN(3), 0.0], [0.0, LN(4)])


@pytest.mark.parametrize("w_uc", [1.0, 50.0])
@pytest.mark.parametrize("background_uc_only, expected", [
    (False, lambda w: w * (LN(4 / 3) + LN(5 / 4)) / 2),  # the split (3D code): each part weighted W
    (True, lambda w: 2 * w * LN(4 / 3) / 2),  # the 2D code: the foreground part 0, the background part 2 W
])
def test_background_uc_only_is_the_2d_codes_uc_weighting(background_uc_only, expected, w_uc):
    loss_fn = HeterogeneousLoss(2, weights=(w_uc, 7.0, 3.0, 5.0), background_uc_only=background_uc_only)
    loss = loss_fn(UC_PRED, UC_REF)
    assert loss_fn.region_map.reshape(-1).tolist() == [0, 0]
    assert loss.item() == pytest.approx(expected(w_uc), rel=1e-6)
    # the reported UC term is still the sum of both parts (what the region means, not how it is weighted)
    assert loss_fn.region_terms[0].item() == pytest.approx((LN(4 / 3) + LN(5 / 4)) / 2, rel=1e-6)
    assert ("background_uc_only=True" in repr(loss_fn)) is background_uc_only
    assert f"UC={w_uc:.4g}" in repr(loss_fn)


def test_background_uc_only_on_the_hand_built_example():
    # HAND: UC_bg = UC_fg = ln(4/3)/2, so 2W * UC_bg equals W * (UC_bg + UC_fg): the other regions as usual
    weights = (50.0, 40.0, 0.2048, 6.4)
    loss = HeterogeneousLoss(2, weights=weights, background_uc_only=True)(HAND_PRED, HAND_REF)
    assert loss.item() == pytest.approx(_hand_loss(weights, True), rel=1e-6)


def test_background_uc_only_needs_the_split():
    with pytest.raises(ValueError, match="needs split_background=True"):
        HeterogeneousLoss(2, split_background=False, background_uc_only=True)


# ----------------------------------------------------------------------------------------------------------------------
# thresholds
# ----------------------------------------------------------------------------------------------------------------------
def test_threshold_absent_class_keeps_init_exactly():
    # C = 3, reference predicts classes 0 and 1 only: τ2 must stay exactly at the float32 value of 0.9.
    ref = row([LN(8), 0.0, 0.0], [0.0, LN(8), 0.0], [0.0, LN(18), 0.0])
    # softmax([ln8, 0, 0]) = 8/10 = 0.8 ; softmax([0, ln18, 0]) = 18/20 = 0.9
    # τ0 = 0.5*0.8 + 0.45 = 0.85 ; τ1 = 0.5*(0.8+0.9)/2 + 0.45 = 0.875 ; τ2 = 0.9
    loss_fn = HeterogeneousLoss(3)
    loss_fn(torch.zeros_like(ref), ref)
    tau = loss_fn.thresholds
    assert tau[0].item() == pytest.approx(0.85, abs=1e-6)
    assert tau[1].item() == pytest.approx(0.875, abs=1e-6)
    assert tau[2].item() == F32_09
    # once more: τ2 still untouched, τ0 and τ1 compound
    loss_fn(torch.zeros_like(ref), ref)
    assert tau[2].item() == F32_09
    assert tau[0].item() == pytest.approx(0.5 * 0.8 + 0.5 * 0.85, abs=1e-6)
    assert tau[1].item() == pytest.approx(0.5 * 0.85 + 0.5 * 0.875, abs=1e-6)


def test_no_threshold_update_in_eval_mode():
    loss_fn = HeterogeneousLoss(2).eval()
    loss = loss_fn(HAND_PRED, HAND_REF)
    assert loss_fn.thresholds.tolist() == [F32_09, F32_09]
    # with τ = 0.9: the c = 0.95 pixels are still confident, the c = 0.75 ones still suspicious -> same regions
    assert loss_fn.region_map.reshape(-1).tolist() == HAND_REGIONS
    assert loss.item() == pytest.approx(_hand_loss((50.0, 40.0, 0.2048, 6.4), True), rel=1e-6)
    # repeated eval calls: still no update
    loss_fn(HAND_PRED, HAND_REF)
    assert loss_fn.thresholds.tolist() == [F32_09, F32_09]
    # back to training mode: updates resume
    loss_fn.train()
    loss_fn(HAND_PRED, HAND_REF)
    assert loss_fn.thresholds.tolist() == pytest.approx(HAND_TAU, abs=1e-6)


def test_eval_mode_uses_stored_thresholds_for_regions():
    # τ set by hand to 0.96: every pixel (c <= 0.95) becomes suspicious; eval must not modify it.
    loss_fn = HeterogeneousLoss(2, weights=(1.0, 2.0, 3.0, 4.0))
    loss_fn.thresholds.fill_(0.96)
    loss_fn.eval()
    loss = loss_fn(HAND_PRED, HAND_REF)
    assert loss_fn.thresholds.tolist() == pytest.approx([0.96, 0.96])
    # agree pixels p0, p2, p4 -> US ; disagree p1, p3, p5 -> DS
    assert loss_fn.region_map.reshape(-1).tolist() == [1, 3, 1, 3, 1, 3]
    us = (LN(4 / 3) + LN(4 / 3) + LN(5 / 4)) / 4
    ds = (LN(4) + LN(4) + LN(5)) / 4
    assert loss.item() == pytest.approx(2 * us + 4 * ds, rel=1e-6)


def test_two_consecutive_calls_compound():
    loss_fn = HeterogeneousLoss(2, weights=(1.0, 2.0, 3.0, 4.0))
    loss_fn(HAND_PRED, HAND_REF)
    assert loss_fn.thresholds.tolist() == pytest.approx([0.875, 0.875], abs=1e-6)
    # second batch, 1x2x1x2: ref p0 [ln9, 0] -> class 0, c = 0.9 ; p1 [0, ln4] -> class 1, c = 0.8
    ref = row([LN(9), 0.0], [0.0, LN(4)])
    pred = row([LN(3), 0.0], [0.0, LN(3)])  # agrees with ref on both pixels
    # CE: p0 target 0, p(0) = 3/4 -> ln(4/3) ; p1 target 1, p(1) = 3/4 -> ln(4/3)
    loss = loss_fn(pred, ref)
    # compounded: τ0 = 0.5*0.9 + 0.5*0.875 = 0.8875 ; τ1 = 0.5*0.8 + 0.5*0.875 = 0.8375
    # (from the initial 0.9 one would get τ0 = 0.9 and p0 would NOT be confident)
    assert loss_fn.thresholds.tolist() == pytest.approx([0.8875, 0.8375], abs=1e-6)
    # p0: 0.9 > 0.8875 -> UC (background) ; p1: 0.8 <= 0.8375 -> US
    assert loss_fn.region_map.reshape(-1).tolist() == [0, 1]
    assert loss.item() == pytest.approx(1.0 * LN(4 / 3) / 2 + 2.0 * LN(4 / 3) / 2, rel=1e-6)
    # a fresh module sees p0 as suspicious (c = 0.9 is not > τ0 = 0.9)
    fresh = HeterogeneousLoss(2, weights=(1.0, 2.0, 3.0, 4.0))
    fresh(pred, ref)
    assert fresh.region_map.reshape(-1).tolist() == [1, 1]
    # third call with the same batch: τ0 = 0.5*0.9 + 0.5*0.8875 = 0.89375 ; τ1 = 0.5*0.8 + 0.5*0.8375 = 0.81875
    loss_fn(pred, ref)
    assert loss_fn.thresholds.tolist() == pytest.approx([0.89375, 0.81875], abs=1e-6)


@pytest.mark.parametrize("momentum", [0.25, 0.5, 1.0])
def test_threshold_momentum(momentum):
    loss_fn = HeterogeneousLoss(2, threshold_momentum=momentum)
    loss_fn(HAND_PRED, HAND_REF)
    expected = momentum * 0.85 + (1 - momentum) * 0.9
    assert loss_fn.thresholds.tolist() == pytest.approx([expected, expected], abs=1e-6)


@pytest.mark.parametrize("init", [0.5, 1.0])
def test_threshold_init(init):
    loss_fn = HeterogeneousLoss(3, threshold_init=init).eval()
    assert loss_fn.thresholds.tolist() == pytest.approx([init] * 3)
    loss_fn.train()
    ref = row([LN(19), 0.0, 0.0])  # c = 19/21
    loss_fn(torch.zeros_like(ref), ref)
    assert loss_fn.thresholds.tolist() == pytest.approx([0.5 * 19 / 21 + 0.5 * init, init, init], abs=1e-6)


@pytest.mark.parametrize(
    "cap, stored, used, region",
    [
        # one class-0 pixel, c = 0.999, threshold_init 1.0: τ0 = 0.5*0.999 + 0.5*1.0 = 0.9995 (τ1 untouched, 1.0)
        # uncapped: c = 0.999 <= 0.9995 -> US (pred zeros -> class 0 agrees with the reference)
        (None, [0.9995, 1.0], [0.9995, 1.0], 1),
        # the 3D code's cap: the stored τ keeps its EMA, the regions use min(τ, 0.9): c > 0.9 -> UC
        (0.9, [0.9995, 1.0], [F32_09, F32_09], 0),
        (0.95, [0.9995, 1.0], [0.95, 0.95], 0),
    ],
)
def test_threshold_max_caps_the_threshold_used_not_the_stored_one(cap, stored, used, region):
    loss_fn = HeterogeneousLoss(2, threshold_init=1.0, threshold_max=cap)
    ref = row([LN(999), 0.0])  # c = 999/1000
    loss_fn(torch.zeros_like(ref), ref)
    assert loss_fn.thresholds.tolist() == pytest.approx(stored, abs=1e-6)
    assert loss_fn.effective_thresholds.tolist() == pytest.approx(used, abs=1e-6)
    assert loss_fn.region_map.reshape(-1).tolist() == [region]
    assert ("threshold_max" in repr(loss_fn)) == (cap is not None)


def test_threshold_max_the_ema_goes_on_from_the_uncapped_value():
    # after the call above τ0 = 0.9995; a second batch with c = 0.8 gives 0.5*0.8 + 0.5*0.9995 = 0.89975 (clamping
    # the stored value, as before, would have given 0.5*0.8 + 0.5*0.9 = 0.85): used min(0.89975, 0.9) = 0.89975
    loss_fn = HeterogeneousLoss(2, threshold_init=1.0, threshold_max=0.9)
    ref = row([LN(999), 0.0])
    loss_fn(torch.zeros_like(ref), ref)
    ref = row([LN(4), 0.0])  # c = 0.8
    loss_fn(torch.zeros_like(ref), ref)
    assert loss_fn.thresholds[0].item() == pytest.approx(0.89975, abs=1e-6)
    assert loss_fn.effective_thresholds[0].item() == pytest.approx(0.89975, abs=1e-6)


def test_threshold_max_does_not_touch_thresholds_below_it():
    loss_fn = HeterogeneousLoss(2, threshold_max=0.9)
    loss_fn(HAND_PRED, HAND_REF)
    assert loss_fn.thresholds.tolist() == pytest.approx([0.875, 0.875], abs=1e-6)
    assert loss_fn.effective_thresholds.tolist() == pytest.approx([0.875, 0.875], abs=1e-6)


def test_threshold_mean_over_whole_batch():
    # batch of 2, class 0 appears once in each sample: τ0 uses the mean over both (not a per-sample mean).
    ref = torch.cat([row([LN(19), 0.0], [0.0, LN(3)]), row([LN(3), 0.0], [0.0, LN(3)])], dim=0)
    loss_fn = HeterogeneousLoss(2)
    loss_fn(torch.zeros_like(ref), ref)
    # class 0: c = {0.95, 0.75} -> τ0 = 0.875 ; class 1: c = {0.75, 0.75} -> τ1 = 0.825
    assert loss_fn.thresholds.tolist() == pytest.approx([0.875, 0.825], abs=1e-6)
    assert loss_fn.region_map.shape == (2, 1, 2)


# ----------------------------------------------------------------------------------------------------------------------
# labeled mode: confidence from the prediction, CE against the target
# ----------------------------------------------------------------------------------------------------------------------
# prediction logits: p0 [ln19,0] cls 0 c .95 ; p1 [ln3,0] cls 0 c .75 ; p2 [0,ln19] cls 1 c .95 ; p3 [0,ln3] cls 1 c .75
LAB_PRED = row([LN(19), 0.0], [LN(3), 0.0], [0.0, LN(19)], [0.0, LN(3)])
# reference classes [0, 1, 0, 1] -> agree, disagree, disagree, agree ; its confidences (sigmoid(1), sigmoid(2)) are
# deliberately different so that using the wrong source would change τ (τ0 would be 0.5*(0.731+0.881)/2+0.45)
LAB_REF = row([1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 2.0])
# target [1, 0, 1, 0] differs from argmax(ref) everywhere
LAB_TARGET = [1, 0, 1, 0]
# τ0 = τ1 = 0.5*0.85 + 0.45 = 0.875
# regions: p0 agree & .95 -> UC (bg, ŷ_pred = 0) ; p1 disagree & .75 -> DS ; p2 disagree & .95 -> DC ;
#          p3 agree & .75 -> US
# CE vs target: p0 -ln .05 = ln20 ; p1 -ln .75 = ln(4/3) ; p2 -ln .95 = ln(20/19) ; p3 -ln .25 = ln4
# terms: UC_bg = ln20/2, UC_fg = 0 ; US = ln4/2 ; DC = ln(20/19)/2 ; DS = ln(4/3)/2
LAB_TERMS = [LN(20) / 2, LN(4) / 2, LN(20 / 19) / 2, LN(4 / 3) / 2]


@pytest.mark.parametrize("target_shape", [(1, 1, 1, 4), (1, 1, 4)])
@pytest.mark.parametrize("dtype", [torch.int64, torch.float32])
def test_labeled_mode_prediction_confidence_with_target(target_shape, dtype):
    loss_fn = HeterogeneousLoss(2, weights=(1.0, 2.0, 3.0, 4.0), confidence_source="prediction")
    target = torch.tensor(LAB_TARGET, dtype=dtype).reshape(target_shape)
    loss = loss_fn(LAB_PRED, LAB_REF, target)
    assert loss_fn.thresholds.tolist() == pytest.approx([0.875, 0.875], abs=1e-6)
    assert loss_fn.region_map.reshape(-1).tolist() == [0, 3, 2, 1]
    assert loss_fn.region_terms.tolist() == pytest.approx(LAB_TERMS, abs=1e-6)
    assert loss_fn.region_fractions.tolist() == pytest.approx([0.25] * 4)
    expected = 1 * LN(20) / 2 + 2 * LN(4) / 2 + 3 * LN(20 / 19) / 2 + 4 * LN(4 / 3) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    res = oracle(LAB_PRED, LAB_REF, [0.9, 0.9], target=target, weights=(1.0, 2.0, 3.0, 4.0), source="prediction")
    assert res["loss"].item() == pytest.approx(expected, rel=1e-6)


def test_reference_source_with_target_uses_target_for_ce():
    # same inputs, but confidence from the reference: ref classes [0,1,0,1], c = [s1, s1, s2, s2]
    s1, s2 = 1 / (1 + math.exp(-1)), 1 / (1 + math.exp(-2))  # 0.7311, 0.8808
    tau0 = 0.5 * (s1 + s2) / 2 + 0.45  # class 0 pixels p0 (s1), p2 (s2) -> 0.8530
    tau1 = 0.5 * (s1 + s2) / 2 + 0.45  # class 1 pixels p1 (s1), p3 (s2)
    loss_fn = HeterogeneousLoss(2, weights=(1.0, 2.0, 3.0, 4.0))
    target = torch.tensor(LAB_TARGET).reshape(1, 1, 4)
    loss = loss_fn(LAB_PRED, LAB_REF, target)
    assert loss_fn.thresholds.tolist() == pytest.approx([tau0, tau1], abs=1e-6)
    # p0 agree s1 <= τ -> US ; p1 disagree s1 -> DS ; p2 disagree s2 > τ -> DC ; p3 agree s2 > τ -> UC (fg, ŷ_ref = 1)
    assert loss_fn.region_map.reshape(-1).tolist() == [1, 3, 2, 0]
    expected = 1 * LN(4) / 2 + 2 * LN(20) / 2 + 3 * LN(20 / 19) / 2 + 4 * LN(4 / 3) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# random inputs vs the loop oracle
# ----------------------------------------------------------------------------------------------------------------------
SPATIAL = {"2d": (4, 5), "3d": (3, 3, 4)}


@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("num_classes", [2, 4])
@pytest.mark.parametrize("batch", [1, 3])
def test_random_against_oracle(dims, num_classes, batch):
    g = torch.Generator().manual_seed(1234 + 10 * num_classes + batch)
    shape = (batch, num_classes, *SPATIAL[dims])
    pred = torch.randn(shape, generator=g) * 2
    ref = torch.randn(shape, generator=g) * 2
    loss_fn = HeterogeneousLoss(num_classes)
    tau = [0.9] * num_classes
    for _ in range(2):  # two calls: τ compounds in both
        loss = loss_fn(pred, ref)
        res = oracle(pred, ref, tau)
        tau = res["thresholds"]
        assert loss.item() == pytest.approx(res["loss"].item(), rel=1e-5, abs=1e-5)
        assert loss_fn.thresholds.tolist() == pytest.approx(tau, abs=1e-5)
        assert loss_fn.region_map.shape == (batch, *SPATIAL[dims])
        assert loss_fn.region_map.reshape(-1).tolist() == res["regions"]
        assert loss_fn.region_fractions.tolist() == pytest.approx(res["fractions"], abs=1e-6)
        assert loss_fn.region_terms.tolist() == pytest.approx(res["terms"], rel=1e-5, abs=1e-5)
        assert sum(loss_fn.region_fractions.tolist()) == pytest.approx(1.0)
        pred, ref = ref, pred  # different second batch


@pytest.mark.parametrize("source", ["reference", "prediction"])
@pytest.mark.parametrize("split", [True, False])
@pytest.mark.parametrize("with_target", [False, True])
@pytest.mark.parametrize("train", [True, False])
def test_random_options_against_oracle(source, split, with_target, train):
    g = torch.Generator().manual_seed(7)
    shape = (2, 3, 3, 4, 2)
    pred = torch.randn(shape, generator=g) * 3
    ref = torch.randn(shape, generator=g) * 3
    target = torch.randint(0, 3, (2, 1, 3, 4, 2), generator=g) if with_target else None
    weights = (3.0, 1.5, 0.7, 2.5)
    loss_fn = HeterogeneousLoss(3, weights=weights, confidence_source=source, split_background=split,
                                threshold_init=0.8, threshold_momentum=0.3)
    loss_fn.train(train)
    loss = loss_fn(pred, ref, target)
    res = oracle(pred, ref, [0.8] * 3, target=target, weights=weights, source=source, split=split,
                 momentum=0.3, update=train)
    assert loss.item() == pytest.approx(res["loss"].item(), rel=1e-5, abs=1e-5)
    assert loss_fn.thresholds.tolist() == pytest.approx(res["thresholds"], abs=1e-6)
    assert loss_fn.region_map.reshape(-1).tolist() == res["regions"]
    assert loss_fn.region_terms.tolist() == pytest.approx(res["terms"], rel=1e-5, abs=1e-5)


# ----------------------------------------------------------------------------------------------------------------------
# gradients
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dims", ["2d", "3d"])
@pytest.mark.parametrize("source", ["reference", "prediction"])
def test_gradient_matches_oracle_and_ref_is_detached(dims, source):
    g = torch.Generator().manual_seed(99)
    shape = (2, 3, *SPATIAL[dims])
    pred = (torch.randn(shape, generator=g) * 2).requires_grad_(True)
    ref = (torch.randn(shape, generator=g) * 2).requires_grad_(True)
    loss_fn = HeterogeneousLoss(3, confidence_source=source)
    loss = loss_fn(pred, ref)
    loss.backward()
    assert ref.grad is None
    assert pred.grad is not None
    assert pred.grad.abs().sum() > 0
    res = oracle(pred, ref, [0.9] * 3, source=source)
    (expected_grad,) = torch.autograd.grad(res["loss"], pred)
    torch.testing.assert_close(pred.grad, expected_grad, rtol=1e-5, atol=1e-6)


def test_gradient_hand_built_single_region():
    # one pixel: pred class 0 vs ref class 1 -> disagree ; dCE/dz = softmax(z) - onehot(target)
    ref = row([0.0, LN(19)])
    pred = row([LN(3), 0.0]).requires_grad_(True)
    loss_fn = HeterogeneousLoss(2, weights=(1.0, 1.0, 10.0, 1.0))
    loss = loss_fn(pred, ref)
    # τ1 = 0.5*0.95 + 0.45 = 0.925 < 0.95 -> DC ; CE = ln 4 ; term = ln4/2 ; loss = 10 * ln4 / 2
    assert loss_fn.region_map.reshape(-1).tolist() == [2]
    assert loss.item() == pytest.approx(5 * LN(4), rel=1e-6)
    loss.backward()
    # grad = 10/2 * (softmax - onehot(1)) = 5 * (0.75, 0.25 - 1) = (3.75, -3.75)
    assert pred.grad.reshape(-1).tolist() == pytest.approx([3.75, -3.75], abs=1e-5)


def test_ref_only_requires_grad_gives_no_graph():
    ref = HAND_REF.clone().requires_grad_(True)
    loss = HeterogeneousLoss(2)(HAND_PRED, ref)
    assert not loss.requires_grad
    assert ref.grad is None


# ----------------------------------------------------------------------------------------------------------------------
# state dict
# ----------------------------------------------------------------------------------------------------------------------
def test_state_dict_roundtrip_restores_thresholds():
    loss_fn = HeterogeneousLoss(2)
    loss_fn(HAND_PRED, HAND_REF)
    loss_fn(HAND_PRED, HAND_REF)  # τ = 0.5*0.85 + 0.5*0.875 = 0.8625
    sd = loss_fn.state_dict()
    assert "thresholds" in sd
    assert sd["thresholds"].tolist() == pytest.approx([0.8625, 0.8625], abs=1e-6)
    new = HeterogeneousLoss(2)
    assert new.thresholds.tolist() == [F32_09, F32_09]
    new.load_state_dict(sd)
    assert torch.equal(new.thresholds, loss_fn.thresholds)
    # both continue identically
    a, b = loss_fn(HAND_PRED, HAND_REF), new(HAND_PRED, HAND_REF)
    assert a.item() == b.item()
    assert torch.equal(new.thresholds, loss_fn.thresholds)
    assert torch.equal(new.region_map, loss_fn.region_map)
    # the state dict holds a copy, not a live view that changes the loaded instance
    assert new.thresholds.tolist() == pytest.approx([0.85625, 0.85625], abs=1e-6)


def test_thresholds_is_a_buffer():
    loss_fn = HeterogeneousLoss(4)
    assert "thresholds" in dict(loss_fn.named_buffers())
    assert list(loss_fn.parameters()) == []
    assert loss_fn.thresholds.shape == (4,)


# ----------------------------------------------------------------------------------------------------------------------
# misc
# ----------------------------------------------------------------------------------------------------------------------
def test_region_names_and_repr():
    assert REGION_NAMES == ("UC", "US", "DC", "DS")
    assert HeterogeneousLoss.region_names == REGION_NAMES
    text = repr(HeterogeneousLoss(3, weights=(1, 2, 3, 4)))
    assert "num_classes=3" in text and "UC=1" in text and "DS=4" in text


def test_attributes_none_before_forward():
    loss_fn = HeterogeneousLoss(2)
    assert loss_fn.region_map is None and loss_fn.region_fractions is None and loss_fn.region_terms is None


def test_perfect_agreement_with_large_margin_gives_near_zero_loss():
    ref = torch.zeros(1, 3, 2, 2)
    ref[:, 1] = 30.0
    loss_fn = HeterogeneousLoss(3)
    loss = loss_fn(ref.clone(), ref)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    # all UC foreground: c ≈ 1 > τ1 = 0.5*1 + 0.45 = 0.95
    assert loss_fn.region_map.unique().tolist() == [0]
    assert loss_fn.region_fractions.tolist() == pytest.approx([1.0, 0.0, 0.0, 0.0])


def test_source_class_is_argmax_of_logits_when_softmax_ties():
    # ref logits [0, 1e-8]: argmax = class 1 (spec: ŷ = argmax of the confidence source); in float32 the
    # softmax is (0.5, 0.5), so taking the class from softmax(...).max() would wrongly pick class 0.
    ref = torch.tensor([0.0, 1e-8]).reshape(1, 2, 1, 1)
    loss_fn = HeterogeneousLoss(2)
    loss_fn(ref.clone(), ref)
    # expected: τ1 = 0.5*0.5 + 0.45 = 0.7, τ0 unchanged at 0.9
    assert loss_fn.thresholds.tolist() == pytest.approx([0.9, 0.7], abs=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# invalid arguments
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_classes": 1},
        {"num_classes": 0},
        {"num_classes": -3},
        {"num_classes": 2, "weights": (1.0, 2.0, 3.0)},
        {"num_classes": 2, "weights": (1.0, 2.0, 3.0, 4.0, 5.0)},
        {"num_classes": 2, "weights": ()},
        {"num_classes": 2, "weights": (1.0, -0.1, 3.0, 4.0)},
        {"num_classes": 2, "weights": (-1.0, 2.0, 3.0, 4.0)},
        {"num_classes": 2, "confidence_source": "teacher"},
        {"num_classes": 2, "confidence_source": "Reference"},
        {"num_classes": 2, "threshold_init": 0.0},
        {"num_classes": 2, "threshold_init": 1.5},
        {"num_classes": 2, "threshold_momentum": 0.0},
        {"num_classes": 2, "threshold_momentum": 1.2},
        {"num_classes": 2, "threshold_max": 0.0},
        {"num_classes": 2, "threshold_max": 1.01},
        # positive, but 0 once stored in the float32 buffer (found by tests/test_loss_properties.py)
        {"num_classes": 2, "threshold_init": 5e-324},
        {"num_classes": 2, "threshold_init": 1e-46},
        {"num_classes": 2, "threshold_max": 1e-46},
    ],
)
def test_invalid_constructor_arguments(kwargs):
    with pytest.raises(ValueError):
        HeterogeneousLoss(**kwargs)


def test_valid_edge_constructor_arguments():
    HeterogeneousLoss(2, weights=(0, 0, 0, 0), threshold_init=1.0, threshold_momentum=1.0)
    HeterogeneousLoss(2, weights=[1, 2, 3, 4], confidence_source="prediction")


def test_smallest_float32_threshold_stays_positive():
    """Regression: a threshold_init that float32 rounds to 0 used to be accepted and stored as τ = 0 (every pixel
    "confident"); the smallest float32 subnormal 2^-149 is the smallest accepted value and is stored exactly."""
    tiny = 2.0**-149
    loss = HeterogeneousLoss(2, threshold_init=tiny)
    assert loss.thresholds.tolist() == [tiny, tiny]
    loss(row([0.0, 0.0]), row([0.0, 0.0]))  # one pixel of class 0 (argmax of a tie), confidence 0.5
    # τ0 = 0.5 · 0.5 + 0.5 · 2^-149 = 0.25 in float32; class 1 is absent and keeps 2^-149
    assert loss.thresholds.tolist() == [0.25, tiny]
    assert HeterogeneousLoss(2, threshold_max=tiny).effective_thresholds.tolist() == [tiny, tiny]


@pytest.mark.parametrize(
    "pred_shape, ref_shape, target_shape",
    [
        ((1, 2, 4, 4), (1, 2, 4, 5), None),  # mismatched spatial
        ((1, 2, 4, 4), (2, 2, 4, 4), None),  # mismatched batch
        ((1, 2, 4, 4), (1, 2, 4, 4, 1), None),  # mismatched ndim
        ((1, 2), (1, 2), None),  # no spatial dims
        ((1, 3, 4, 4), (1, 3, 4, 4), None),  # wrong channel count (num_classes = 2)
        ((1, 2, 4, 4), (1, 2, 4, 4), (1, 2, 4, 4)),  # target with C channels
        ((2, 2, 3, 3, 3), (2, 2, 3, 3, 3), (2, 2, 3, 3, 3)),  # 3D target with C channels
        ((1, 2, 4, 4), (1, 2, 4, 4), (1, 1, 4, 5)),  # target wrong spatial
        ((1, 2, 4, 4), (1, 2, 4, 4), (1, 4, 5)),  # target wrong spatial, no channel dim
        ((2, 2, 4, 4), (2, 2, 4, 4), (1, 4, 4)),  # target wrong batch
    ],
)
def test_invalid_forward_shapes(pred_shape, ref_shape, target_shape):
    loss_fn = HeterogeneousLoss(2)
    pred, ref = torch.zeros(pred_shape), torch.zeros(ref_shape)
    target = None if target_shape is None else torch.zeros(target_shape, dtype=torch.long)
    with pytest.raises(ValueError):
        loss_fn(pred, ref, target)
    # a rejected call must not touch the thresholds
    assert loss_fn.thresholds.tolist() == [F32_09, F32_09]
