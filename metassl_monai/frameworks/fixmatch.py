# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""FixMatch (Sohn et al. 2020) for segmentation: the weak view's prediction supervises the strong view's."""

from __future__ import annotations

import torch
from monai.inferers import Inferer
from torch import nn

from .base import Branch, Framework

__all__ = ["FixMatch"]


class FixMatch(Framework):
    """
    One network, one branch, two pixel-aligned views of every image: the *weak* view (the batch's ``image``: the
    usual flips/rotations) and the *strong* view (``views[strong_key]``: the weak view plus photometric perturbation,
    same geometry — the bundles build it with ``CopyItemsd`` after the random geometric transforms, then MONAI
    intensity transforms on the copy only, ``train#strong_view_transforms``).

    - ``pred_u = f(strong_u)``, ``ref_u = f(weak_u)`` detached: the weak view is the confidence source and its
      argmax the pseudo-label (FixMatch's plain loss masks it at a fixed confidence,
      :class:`~metassl_monai.losses.ConfidenceMaskedCrossEntropyLoss`; MetaSSL's regions replace that mask);
    - ``pred_l = f(weak_l)`` for the supervised loss;
    - with a labeled consistency term: ``pred_l_consistency = f(strong_l)`` against ``ref_l = f(weak_l)`` detached.

    All views go through the network in one forward call (``cat([weak_l, weak_u, strong_u(, strong_l)])``, train
    mode, as FixMatch implementations do), so BatchNorm sees one batch and DDP one forward per backward. The MetaSSL
    code has no FixMatch script: this follows the paper's figure and the repository's ``WeakStrongAugment``.

    Args:
        network: the network (validated and exported).
        strong_key: batch key of the strong view, in both the labeled and the unlabeled batches.
        inferer: as in :class:`~metassl_monai.frameworks.Framework`.
    """

    def __init__(self, network: nn.Module, strong_key: str = "image_strong", inferer: Inferer | None = None) -> None:
        super().__init__(network, inferer=inferer)
        self.strong_key = str(strong_key)
        self.view_keys = (self.strong_key,)

    def forward(
        self,
        labeled: torch.Tensor,
        unlabeled: torch.Tensor | None,
        with_labeled_reference: bool = False,
        views: dict[str, tuple[torch.Tensor, torch.Tensor | None]] | None = None,
    ) -> list[Branch]:
        if unlabeled is None:
            raise ValueError("FixMatch needs an unlabeled batch.")
        if not views or self.strong_key not in views or views[self.strong_key][1] is None:
            raise ValueError(
                f"FixMatch needs the strong view '{self.strong_key}' of both batches (views={{'{self.strong_key}': "
                "(labeled, unlabeled)}); the bundles add it with train#strong_view_transforms."
            )
        strong_l, strong_u = views[self.strong_key]
        n_l, n_u = labeled.shape[0], unlabeled.shape[0]
        parts = [labeled, unlabeled, strong_u] + ([strong_l] if with_labeled_reference else [])
        out = self.run(self.network, torch.cat(parts))
        weak_l, weak_u, pred_u = out[:n_l], out[n_l : n_l + n_u], out[n_l + n_u : n_l + 2 * n_u]
        branch = Branch(pred_l=weak_l, pred_u=pred_u, ref_u=weak_u.detach())
        if with_labeled_reference:
            branch.ref_l = weak_l.detach()
            branch.pred_l_consistency = out[n_l + 2 * n_u :]
        return [branch]
