# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The two guidance losses of Quality-Guided SSL, driven by a frozen quality predictor ``g(image, mask) → Dice``:
quality-aware regularisation (QAR) and quality-based pseudo-label reweighting (PL-QW).

Both take the image as a keyword (``requires_image = True`` tells :class:`metassl_monai.engines.SemiSupervisedTrainer`
to pass it) and keep the predictor frozen and in eval mode whatever mode the loss is put in.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torch.nn.modules.loss import _Loss

from metassl_monai.losses.class_indices import class_indices

__all__ = ["QualityAwareRegularizationLoss", "QualityWeightedLoss", "quality_weights"]


def _freeze(predictor: nn.Module) -> nn.Module:
    predictor.eval()
    for p in predictor.parameters():
        p.requires_grad_(False)
    return predictor


def _check(pred_logits: torch.Tensor, image: torch.Tensor | None, name: str) -> torch.Tensor:
    if image is None:
        raise ValueError(f"{name} needs the image: call it as loss(pred, ref, image=x).")
    if pred_logits.ndim < 3 or image.ndim != pred_logits.ndim or image.shape[0] != pred_logits.shape[0] or (
        image.shape[2:] != pred_logits.shape[2:]
    ):
        raise ValueError(
            f"{name}: image {tuple(image.shape)} and pred_logits {tuple(pred_logits.shape)} must be (B, *, *spatial) "
            "with the same batch size and spatial shape."
        )
    return image


def quality_weights(quality: torch.Tensor, threshold: float = 0.5, power: float = 2.0) -> torch.Tensor:
    """PL-QW's per-sample weight ``w = q^power · 1[q ≥ threshold]`` (paper: ``q²·1[q ≥ 0.5]``), detached."""
    q = quality.detach()
    return torch.where(q >= threshold, q.pow(power), torch.zeros_like(q))


class _QualityGuided(_Loss):
    requires_image = True

    def __init__(self, predictor: nn.Module) -> None:
        super().__init__()
        if not hasattr(predictor, "predict"):
            raise TypeError(f"predictor must be a QualityPredictor (with .predict(image, mask)), got {type(predictor)}")
        self.predictor = _freeze(predictor)
        self.last_quality: torch.Tensor | None = None

    def train(self, mode: bool = True):  # the predictor stays frozen in eval mode (dropout off, fixed batch norm)
        super().train(mode)
        self.predictor.eval()
        return self


class QualityAwareRegularizationLoss(_QualityGuided):
    """
    QAR: ``1 − mean_b mean_c g(x_b, softmax(pred_b))_c`` — push the segmenter's *soft* prediction towards masks the
    frozen quality predictor rates highly. The gradient flows through ``g`` (whose weights do not change) into the
    prediction. ``ref_logits`` and ``target`` are accepted for the trainer's interface and ignored.

    Note (as in the paper): ``g`` is trained on hard masks and here sees soft ones.

    Args:
        predictor: a trained :class:`metassl_monai.quality.QualityPredictor` (frozen here).

    After each call :attr:`last_quality` holds the detached predicted quality (B, C − 1).
    """

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
    ) -> torch.Tensor:
        image = _check(pred_logits, image, "QualityAwareRegularizationLoss")
        quality = self.predictor.predict(image, torch.softmax(pred_logits.float(), dim=1))
        self.last_quality = quality.detach()
        return 1.0 - quality.mean()


class QualityWeightedLoss(_QualityGuided):
    """
    PL-QW: weight each unlabeled image's loss by the predicted quality of its pseudo-label,
    ``q_b = mean_c g(x_b, onehot(argmax ref_b))_c``, ``w_b = q_b^power · 1[q_b ≥ threshold]``, and pass ``w`` to
    ``base_loss(pred, ref, target, sample_weights=w)``.

    With :class:`~metassl_monai.losses.PseudoLabelDiceCELoss` as the base this is the paper's
    ``Σ w_b ℓ_b / Σ w_b``; with :class:`~metassl_monai.losses.HeterogeneousLoss` it is "quality weight × MetaSSL":
    each voxel's cross-entropy and its count in the region means are weighted by its image's ``w``.

    Args:
        predictor: a trained :class:`metassl_monai.quality.QualityPredictor` (frozen here).
        base_loss: a loss taking ``(pred_logits, ref_logits, target, sample_weights=...)``.
        threshold: images whose predicted quality is below it get weight 0.
        power: exponent of the quality.

    After each call :attr:`last_quality` (B,) and :attr:`last_weights` (B,) hold what was used (for logging).
    """

    def __init__(self, predictor: nn.Module, base_loss: nn.Module, threshold: float = 0.5, power: float = 2.0) -> None:
        super().__init__(predictor)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {threshold}.")
        if power <= 0:
            raise ValueError(f"power must be > 0, got {power}.")
        self.base_loss = base_loss
        self.threshold, self.power = float(threshold), float(power)
        self.last_weights: torch.Tensor | None = None

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor,
        target: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
    ) -> torch.Tensor:
        image = _check(pred_logits, image, "QualityWeightedLoss")
        with torch.no_grad():
            pseudo = class_indices(ref_logits.detach(), keepdim=True)
            quality = self.predictor.predict(image, pseudo).mean(dim=1)
        weights = quality_weights(quality, self.threshold, self.power)
        self.last_quality, self.last_weights = quality, weights
        return self.base_loss(pred_logits, ref_logits, target, sample_weights=weights)
