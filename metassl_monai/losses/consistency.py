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

__all__ = ["PseudoLabelCrossEntropyLoss", "SoftmaxMSELoss"]


def _check_pair(pred_logits: torch.Tensor, ref_logits: torch.Tensor) -> None:
    if pred_logits.ndim < 3 or pred_logits.shape != ref_logits.shape:
        raise ValueError(
            "pred_logits and ref_logits must both be (B, C, *spatial) with the same shape, got "
            f"{tuple(pred_logits.shape)} and {tuple(ref_logits.shape)}."
        )


class PseudoLabelCrossEntropyLoss(_Loss):
    """
    Cross-entropy of ``pred_logits`` (B, C, *spatial) against the detached hard pseudo-label
    ``argmax(ref_logits)``, averaged over all pixels: the Cross Pseudo Supervision baseline.
    ``target`` is accepted for interface compatibility with :class:`HeterogeneousLoss` and ignored.
    """

    def forward(
        self, pred_logits: torch.Tensor, ref_logits: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        _check_pair(pred_logits, ref_logits)
        return F.cross_entropy(pred_logits.float(), ref_logits.detach().argmax(dim=1))


class SoftmaxMSELoss(_Loss):
    """
    Mean squared error between ``softmax(pred_logits)`` and the detached ``softmax(ref_logits)``, averaged over
    classes and pixels: the Mean Teacher baseline of SSL4MIS. ``target`` is ignored.
    """

    def forward(
        self, pred_logits: torch.Tensor, ref_logits: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        _check_pair(pred_logits, ref_logits)
        return F.mse_loss(torch.softmax(pred_logits.float(), 1), torch.softmax(ref_logits.detach().float(), 1))
