# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Supervised-only training on the labeled images: the lower bound every SSL table starts with."""

from __future__ import annotations

import torch

from .base import Branch, Framework

__all__ = ["Supervised"]


class Supervised(Framework):
    """One network trained on the labeled stream only; the unlabeled stream is not read."""

    uses_unlabeled = False

    def forward(
        self, labeled: torch.Tensor, unlabeled: torch.Tensor | None = None, with_labeled_reference: bool = False
    ) -> list[Branch]:
        return [Branch(pred_l=self.run(self.network, labeled))]
