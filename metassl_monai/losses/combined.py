# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""A weighted sum of consistency losses, e.g. Mean Teacher's consistency + quality-aware regularisation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from torch.nn.modules.loss import _Loss

__all__ = ["WeightedSumLoss"]


class WeightedSumLoss(_Loss):
    """
    ``Σ_k weights[k] · losses[k](pred_logits, ref_logits, target[, image=image])`` — combine consistency terms in
    one slot of :class:`metassl_monai.engines.SemiSupervisedTrainer` (which multiplies the sum by λ(t)). A term whose
    loss has ``requires_image = True`` gets the image; the sum then requires it too.

    Args:
        losses: the terms (``nn.Module`` losses with the trainer's interface).
        weights: one non-negative factor per term (default all 1).

    After each call :attr:`last_terms` holds the detached value of every term (0-dim tensors on the loss's device:
    nothing is copied to the host during training; ``float()`` them to read).

    Raises:
        ValueError: no loss, or ``weights`` of another length / negative.
    """

    def __init__(self, losses: Sequence[nn.Module], weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not losses:
            raise ValueError("WeightedSumLoss needs at least one loss.")
        weights = [1.0] * len(losses) if weights is None else [float(w) for w in weights]
        if len(weights) != len(losses) or any(w < 0 for w in weights):
            raise ValueError(f"weights must be {len(losses)} non-negative numbers, got {weights}.")
        self.losses = nn.ModuleList(losses)
        self.weights = weights
        self.requires_image = any(getattr(loss, "requires_image", False) for loss in losses)
        self.last_terms: list[torch.Tensor] | None = None

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor,
        target: torch.Tensor | None = None,
        image: torch.Tensor | None = None,
    ) -> torch.Tensor:
        total, terms = None, []
        for loss, w in zip(self.losses, self.weights):
            if getattr(loss, "requires_image", False):
                value = loss(pred_logits, ref_logits, target, image=image)
            else:
                value = loss(pred_logits, ref_logits, target)
            terms.append(value.detach())
            total = w * value if total is None else total + w * value
        self.last_terms = terms
        return total
