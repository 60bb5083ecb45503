# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Cross Pseudo Supervision (Chen et al. 2021): two networks, each the other's reference."""

from __future__ import annotations

import torch
from monai.inferers import Inferer
from torch import nn

from .base import Branch, Framework, cross_branches

__all__ = ["CrossPseudoSupervision"]


class CrossPseudoSupervision(Framework):
    """
    Two differently initialised networks see ``cat([labeled, unlabeled])``; branch 0 trains ``network`` with
    ``network_b``'s detached logits as reference, branch 1 the other way round. One optimizer over both parameter
    sets is equivalent to the reference code's two SGD optimizers (same hyper-parameters, disjoint parameters).
    ``network`` is the one validated and exported; ``inferer`` as in :class:`~metassl_monai.frameworks.Framework`.
    """

    num_branches = 2

    def __init__(self, network: nn.Module, network_b: nn.Module, inferer: Inferer | None = None) -> None:
        super().__init__(network, inferer=inferer)
        if network_b is network:
            raise ValueError("CPS needs two distinct networks.")
        self.network_b = network_b

    def trainable_networks(self) -> list[nn.Module]:
        return [self.network, self.network_b]

    def forward(
        self, labeled: torch.Tensor, unlabeled: torch.Tensor | None, with_labeled_reference: bool = False
    ) -> list[Branch]:
        if unlabeled is None:
            raise ValueError("CrossPseudoSupervision needs an unlabeled batch.")
        x = torch.cat([labeled, unlabeled])
        out_a, out_b = self.run(self.network, x), self.run(self.network_b, x)
        return cross_branches(out_a, out_b, labeled.shape[0], with_labeled_reference)
