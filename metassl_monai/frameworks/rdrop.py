# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""R-Drop: two stochastic (dropout) passes of one network, each the other's reference."""

from __future__ import annotations

import torch
from monai.inferers import Inferer
from torch import nn

from .base import Branch, Framework, cross_branches

__all__ = ["RDrop"]


class RDrop(Framework):
    """
    R-Drop as MetaSSL's figure draws it (the paper's code has no R-Drop): the same ``network``, in train mode, gives
    two predictions p1, p2 of every image that differ only by their dropout masks; branch 0 trains p1 with p2
    (detached) as reference, branch 1 p2 with p1. Both passes carry gradient into the one set of weights, and each
    branch has its own supervised loss and threshold sets.

    The two passes are one forward call over ``cat([x, x])`` (x = ``cat([labeled, unlabeled])``): dropout draws an
    independent mask per sample, so the two copies are two stochastic passes, and BatchNorm sees the same batch
    statistics as a single pass (the mean and variance of a repeated batch are the batch's own). One call keeps
    DistributedDataParallel to one forward per backward. (SSL4MIS's "regularized dropout" template trains two
    separately initialised networks with a KL loss whose softmax runs over the image width; this is not that.)

    Args:
        network: a network with dropout (its passes must differ).
        inferer: as in :class:`~metassl_monai.frameworks.Framework`.

    Raises:
        ValueError: when ``network`` has no dropout layer with a probability above 0.
    """

    num_branches = 2

    def __init__(self, network: nn.Module, inferer: Inferer | None = None) -> None:
        dropout = [m.p for m in network.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]
        if not any(p > 0 for p in dropout):
            raise ValueError(f"RDrop needs a network with dropout (its two passes must differ); "
                             f"{type(network).__name__} has no dropout layer with p > 0.")
        super().__init__(network, inferer=inferer)

    def forward(
        self, labeled: torch.Tensor, unlabeled: torch.Tensor | None, with_labeled_reference: bool = False
    ) -> list[Branch]:
        if unlabeled is None:
            raise ValueError("RDrop needs an unlabeled batch.")
        x = torch.cat([labeled, unlabeled])
        p1, p2 = torch.chunk(self.run(self.network, torch.cat([x, x])), 2)
        return cross_branches(p1, p2, labeled.shape[0], with_labeled_reference)
