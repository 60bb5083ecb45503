# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""What every semi-supervised framework returns: one :class:`Branch` per trainable network."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Branch", "Framework"]


@dataclass
class Branch:
    """
    The predictions one trainable network is supervised with in one iteration (all logits, (B, C, *spatial)).

    Attributes:
        pred_l: the trainable network's logits on the labeled images (gradient flows).
        pred_u: its logits on the unlabeled images (gradient flows), or None for supervised-only training.
        ref_u: the reference logits on the unlabeled images (no gradient), or None.
        ref_l: the reference logits on the labeled images (no gradient), only when asked for, else None.
    """

    pred_l: torch.Tensor
    pred_u: torch.Tensor | None = None
    ref_u: torch.Tensor | None = None
    ref_l: torch.Tensor | None = None


class Framework(nn.Module):
    """
    A semi-supervised framework: given a labeled and an unlabeled batch, produce (prediction, reference) pairs.
    It knows nothing about losses. Subclasses set :attr:`num_branches` and :attr:`uses_unlabeled` and implement
    :meth:`forward`. :attr:`network` is the network used for validation, inference and the exported model.
    """

    num_branches: int = 1
    uses_unlabeled: bool = True

    def __init__(self, network: nn.Module) -> None:
        super().__init__()
        self.network = network

    def trainable_networks(self) -> list[nn.Module]:
        """The networks the optimizer updates (put in train mode each iteration)."""
        return [self.network]

    def attach(self, engine) -> None:
        """Register what the framework needs on the trainer's events (e.g. the EMA update); called by the trainer."""

    def forward(
        self, labeled: torch.Tensor, unlabeled: torch.Tensor | None, with_labeled_reference: bool = False
    ) -> list[Branch]:
        raise NotImplementedError


def split_batch(logits: torch.Tensor, n_labeled: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a forward pass over ``cat([labeled, unlabeled])`` back into its two halves."""
    return logits[:n_labeled], logits[n_labeled:]
