# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Plain consistency losses between a prediction and a reference: the baselines MetaSSL is compared with."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from metassl_monai.losses.class_indices import class_indices

__all__ = ["ConfidenceMaskedCrossEntropyLoss", "PseudoLabelCrossEntropyLoss", "PseudoLabelDiceCELoss", "SoftmaxMSELoss", "weighted_sample_mean"]


def _check_pair(pred_logits: torch.Tensor, ref_logits: torch.Tensor) -> None:
    if pred_logits.ndim < 3 or pred_logits.shape != ref_logits.shape:
        raise ValueError(
            "pred_logits and ref_logits must both be (B, C, *spatial) with the same shape, got "
            f"{tuple(pred_logits.shape)} and {tuple(ref_logits.shape)}."
        )


def weighted_sample_mean(per_sample: torch.Tensor, sample_weights: torch.Tensor | None) -> torch.Tensor:
    """
    ``mean(per_sample)`` without weights, else ``Σ w_i ℓ_i / Σ w_i`` (0 when every weight is 0: no sample is trusted,
    no gradient). ``sample_weights`` (B,) non-negative, detached here.

    Raises:
        ValueError: ``sample_weights`` is not a (B,) tensor for the B samples.
    """
    if sample_weights is None:
        return per_sample.mean()
    if sample_weights.shape != per_sample.shape:
        raise ValueError(f"sample_weights must have shape {tuple(per_sample.shape)} (one per sample), got "
                         f"{tuple(sample_weights.shape)}.")
    w = sample_weights.detach().to(per_sample.dtype)
    return (w * per_sample).sum() / w.sum().clamp_min(torch.finfo(per_sample.dtype).tiny)


class PseudoLabelCrossEntropyLoss(_Loss):
    """
    Cross-entropy of ``pred_logits`` (B, C, *spatial) against the detached hard pseudo-label
    ``argmax(ref_logits)``, averaged over all pixels: the Cross Pseudo Supervision baseline.
    ``target`` is accepted for interface compatibility with :class:`HeterogeneousLoss` and ignored.
    With ``sample_weights`` (B,), the per-image means are combined as ``Σ w_i ℓ_i / Σ w_i``.
    """

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor,
        target: torch.Tensor | None = None,
        sample_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_pair(pred_logits, ref_logits)
        ce = F.cross_entropy(pred_logits.float(), class_indices(ref_logits.detach()), reduction="none")
        if sample_weights is None:
            return ce.mean()
        return weighted_sample_mean(ce.flatten(1).mean(1), sample_weights)


class ConfidenceMaskedCrossEntropyLoss(_Loss):
    """
    FixMatch's unlabeled loss: cross-entropy of ``pred_logits`` (B, C, *spatial) against the detached hard
    pseudo-label ``argmax(ref_logits)``, kept only where the reference's confidence ``max softmax(ref_logits)`` is
    at least ``threshold``, averaged over *all* pixels (masked pixels count as 0, as FixMatch/UniMatch normalise):
    ``Σ 1[c ≥ τ]·CE / N``. MetaSSL's :class:`~metassl_monai.losses.HeterogeneousLoss` replaces this fixed mask by its
    four regions and adaptive thresholds. ``target`` is ignored. With ``sample_weights`` (B,), the per-image means
    are combined as ``Σ w_i ℓ_i / Σ w_i``. After each call :attr:`mask_fraction` holds the kept fraction of pixels.

    Args:
        threshold: confidence threshold τ in [0, 1] (FixMatch: 0.95).

    Raises:
        ValueError: ``threshold`` outside [0, 1], or the logits' shapes differ.
    """

    def __init__(self, threshold: float = 0.95) -> None:
        super().__init__()
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}.")
        self.threshold = float(threshold)
        self.mask_fraction: torch.Tensor | None = None

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor,
        target: torch.Tensor | None = None,
        sample_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_pair(pred_logits, ref_logits)
        probs = torch.softmax(ref_logits.detach().float(), dim=1)
        confidence, pseudo = probs.amax(dim=1), class_indices(probs)  # = probs.max(dim=1), faster on CPU
        keep = (confidence >= self.threshold).to(torch.float32)
        self.mask_fraction = keep.mean().detach()
        ce = F.cross_entropy(pred_logits.float(), pseudo, reduction="none") * keep
        if sample_weights is None:
            return ce.mean()
        return weighted_sample_mean(ce.flatten(1).mean(1), sample_weights)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold:.4g}"


class PseudoLabelDiceCELoss(_Loss):
    """
    ``½ CE + ½ (1 − soft Dice)`` of ``pred_logits`` (B, C, *spatial) against the detached hard pseudo-label
    ``argmax(ref_logits)``, per image, then averaged (or ``Σ w_i ℓ_i / Σ w_i`` with ``sample_weights`` (B,)): the
    per-sample loss of Quality-Guided SSL's pseudo-label reweighting, multi-class. The soft Dice is MONAI's
    ``DiceLoss(softmax=True, to_onehot_y=True)`` per image and class, averaged over the foreground classes (the
    published binary loss is the foreground Dice; ``include_background=True`` adds the background class).
    ``target`` is ignored.

    Args:
        lambda_ce: weight of the CE term.
        lambda_dice: weight of the Dice term.
        include_background: whether the Dice averages the background class too.
    """

    def __init__(self, lambda_ce: float = 0.5, lambda_dice: float = 0.5, include_background: bool = False) -> None:
        super().__init__()
        from monai.losses import DiceLoss

        self.lambda_ce, self.lambda_dice = float(lambda_ce), float(lambda_dice)
        self.dice = DiceLoss(
            softmax=True, to_onehot_y=True, include_background=bool(include_background), reduction="none"
        )

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor,
        target: torch.Tensor | None = None,
        sample_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_pair(pred_logits, ref_logits)
        pseudo = class_indices(ref_logits.detach(), keepdim=True)
        ce = F.cross_entropy(pred_logits.float(), pseudo[:, 0], reduction="none").flatten(1).mean(1)
        dice = self.dice(pred_logits.float(), pseudo).flatten(1).mean(1)
        return weighted_sample_mean(self.lambda_ce * ce + self.lambda_dice * dice, sample_weights)


class SoftmaxMSELoss(_Loss):
    """
    Mean squared error between ``softmax(pred_logits)`` and the detached ``softmax(ref_logits)``, averaged over
    classes and pixels: the Mean Teacher baseline of SSL4MIS. ``target`` is ignored. With ``sample_weights`` (B,),
    the per-image means are combined as ``Σ w_i ℓ_i / Σ w_i``.
    """

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor,
        target: torch.Tensor | None = None,
        sample_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        _check_pair(pred_logits, ref_logits)
        se = (torch.softmax(pred_logits.float(), 1) - torch.softmax(ref_logits.detach().float(), 1)) ** 2
        if sample_weights is None:
            return se.mean()
        return weighted_sample_mean(se.flatten(1).mean(1), sample_weights)
