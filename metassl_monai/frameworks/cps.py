# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Cross Pseudo Supervision (Chen et al. 2021): two networks, each the other's reference."""

from __future__ import annotations

import torch
from monai.inferers import Inferer
from torch import nn

from .base import Branch, Framework, split_batch

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
        n_l = labeled.shape[0]
        x = torch.cat([labeled, unlabeled])
        a_l, a_u = split_batch(self.run(self.network, x), n_l)
        b_l, b_u = split_batch(self.run(self.network_b, x), n_l)
        ref_a_l = a_l.detach() if with_labeled_reference else None
        ref_b_l = b_l.detach() if with_labeled_reference else None
        return [
            Branch(pred_l=a_l, pred_u=a_u, ref_u=b_u.detach(), ref_l=ref_b_l),
            Branch(pred_l=b_l, pred_u=b_u, ref_u=a_u.detach(), ref_l=ref_a_l),
        ]
