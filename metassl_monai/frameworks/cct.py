# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""CCT as the MetaSSL code builds it: one encoder, two decoders, each decoder the other's reference."""

from __future__ import annotations

import torch
from monai.inferers import Inferer
from torch import nn

from .base import Branch, Framework, cross_branches

__all__ = ["CrossConsistencyTraining"]


class CrossConsistencyTraining(Framework):
    """
    MetaSSL's CCT (``code/train_MetaSSL_CCT_2D.py``), not SSL4MIS's: no feature perturbations, no auxiliary
    decoders. One pass of ``network`` (a :class:`~metassl_monai.networks.TwoDecoderUNet`, called with
    ``all_heads=True``) over ``cat([labeled, unlabeled])`` gives both decoders' logits, and both decoders receive
    gradient. Symmetric like CPS: branch 0 trains decoder 1 with decoder 2's detached logits as reference, branch 1
    decoder 2 with decoder 1's; each branch has its own supervised loss and its own labeled and unlabeled threshold
    sets (the trainer's per-branch loss copies: four threshold sets in all). ``network(x)`` (decoder 1) is what is
    validated and exported, as in the MetaSSL code.

    Args:
        network: a network whose ``forward(x, all_heads=True)`` returns the two decoders' logits.
        inferer: as in :class:`~metassl_monai.frameworks.Framework`.

    Raises:
        TypeError: when ``network.forward`` takes no ``all_heads`` argument.
    """

    num_branches = 2

    def __init__(self, network: nn.Module, inferer: Inferer | None = None) -> None:
        import inspect

        if "all_heads" not in inspect.signature(network.forward).parameters:
            raise TypeError(f"CrossConsistencyTraining needs a two-decoder network whose forward takes all_heads= "
                            f"(metassl_monai.networks.TwoDecoderUNet), got {type(network).__name__}.")
        super().__init__(network, inferer=inferer)

    def forward(
        self, labeled: torch.Tensor, unlabeled: torch.Tensor | None, with_labeled_reference: bool = False
    ) -> list[Branch]:
        if unlabeled is None:
            raise ValueError("CrossConsistencyTraining needs an unlabeled batch.")
        out_1, out_2 = self.run(self.network, torch.cat([labeled, unlabeled]), all_heads=True)
        return cross_branches(out_1, out_2, labeled.shape[0], with_labeled_reference)
