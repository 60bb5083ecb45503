# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""The per-branch copies of the consistency losses, and the statistics they computed in an iteration."""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from metassl_monai.lazy_floats import LazyFloats

from .heterogeneous import REGION_NAMES, HeterogeneousLoss

__all__ = ["BranchLosses"]


def _mean(values: torch.Tensor) -> torch.Tensor:
    return values.float().mean()


def _positive_fraction(values: torch.Tensor) -> torch.Tensor:
    return (values > 0).float().mean()


class BranchLosses(nn.Module):
    """
    The consistency losses of a :class:`~metassl_monai.engines.SemiSupervisedTrainer`, one *deep copy* per branch of
    the framework (the objects passed in are left untouched), for the unlabeled term and for the labeled term: a
    stateful loss (the adaptive thresholds of :class:`~metassl_monai.losses.HeterogeneousLoss`) is kept per network
    and per stream, as the MetaSSL code does, even when the same object is passed for both streams.

    This module is the one owner of those copies: the bundles create it once (``train#branch_losses``), give it to
    the trainer and put :attr:`unlabeled` and :attr:`labeled` in the checkpoint (keys ``consistency_losses`` and
    ``labeled_consistency_losses``, state-dict keys ``<branch>.<buffer>`` as before).

    Args:
        num_branches: the framework's ``num_branches``.
        unlabeled: loss between ``pred_u`` and ``ref_u`` (None: no unlabeled term).
        labeled: loss between ``pred_l`` and ``ref_l`` with the label as target (None: no labeled term).

    Attributes:
        unlabeled, labeled: ``nn.ModuleList`` of ``num_branches`` copies, empty when the loss is None.
    """

    def __init__(self, num_branches: int, unlabeled: nn.Module | None = None, labeled: nn.Module | None = None) -> None:
        super().__init__()
        if int(num_branches) < 1:
            raise ValueError(f"num_branches must be >= 1, got {num_branches}.")
        self.num_branches = int(num_branches)
        self.unlabeled = self._copies(unlabeled)
        self.labeled = self._copies(labeled)

    def _copies(self, loss: nn.Module | None) -> nn.ModuleList:
        # always copies: the same object passed as both the labeled and the unlabeled loss must not share state
        if loss is None:
            return nn.ModuleList()
        return nn.ModuleList([copy.deepcopy(loss) for _ in range(self.num_branches)])

    @property
    def has_unlabeled(self) -> bool:
        return len(self.unlabeled) > 0

    @property
    def has_labeled(self) -> bool:
        return len(self.labeled) > 0

    def named_loss_modules(self) -> Iterator[tuple[str, nn.Module]]:
        """``("<stream>_<branch>", module)`` for every module of every copy (wrappers such as quality weighting or
        sums walked into), unlabeled stream first; e.g. ``("labeled_1", HeterogeneousLoss)``."""
        for stream, losses in (("unlabeled", self.unlabeled), ("labeled", self.labeled)):
            for i, loss in enumerate(losses):
                for module in loss.modules():
                    yield f"{stream}_{i}", module

    def stats(self) -> LazyFloats:
        """
        What the losses computed in their last call, as a flat mapping ``name -> float`` (the trainer puts it in
        ``engine.state.output["ssl_stats"]`` for ``StatsHandler``/``TensorBoardStatsHandler``). Keys, ``<name>`` from
        :meth:`named_loss_modules`:

        - every :class:`~metassl_monai.losses.HeterogeneousLoss`: ``<name>/threshold_<class>`` (the adaptive
          threshold of each class) and, once called, ``<name>/fraction_<R>`` (the fraction of voxels in region R)
          and ``<name>/term_<R>`` (the region's loss term) for R in UC, US, DC, DS;
        - every quality-guided loss: ``<name>/<LossClass>_quality`` (mean predicted quality of the last call), and
          for PL-QW ``<name>/plqw_weight_mean`` and ``<name>/plqw_kept_fraction`` (images with a weight > 0);
        - every :class:`~metassl_monai.losses.ConfidenceMaskedCrossEntropyLoss`: ``<name>/confident_fraction`` (the
          fraction of pixels above its fixed threshold).

        The mapping is a :class:`~metassl_monai.lazy_floats.LazyFloats`: it reads as a dict of Python floats, but
        nothing is copied to the host until a value is read, so calling this every iteration makes no device sync.
        The values are those of this call, whenever they are read: the thresholds (a buffer the next call updates in
        place) are copied on the device together with the region statistics (one small ``torch.cat`` per
        heterogeneous loss); the quality statistics are reduced from the tensors of the last call (new ones each call)
        when read.

        Reading them changes nothing: no extra pass, the losses' state is untouched.
        """
        out: dict[str, Any] = {}
        for name, module in self.named_loss_modules():
            quality = getattr(module, "last_quality", None)
            if isinstance(quality, torch.Tensor):
                out[f"{name}/{type(module).__name__}_quality"] = functools.partial(_mean, quality)
            weights = getattr(module, "last_weights", None)
            if isinstance(weights, torch.Tensor):
                out[f"{name}/plqw_weight_mean"] = functools.partial(_mean, weights)
                out[f"{name}/plqw_kept_fraction"] = functools.partial(_positive_fraction, weights)
            mask_fraction = getattr(module, "mask_fraction", None)  # FixMatch's confidence mask
            if isinstance(mask_fraction, torch.Tensor):
                out[f"{name}/confident_fraction"] = mask_fraction.detach()
            if isinstance(module, HeterogeneousLoss):
                keys = [f"{name}/threshold_{k}" for k in range(module.thresholds.numel())]
                parts = [module.thresholds.detach().reshape(-1)]
                if module.region_fractions is not None:
                    keys += [f"{name}/fraction_{r}" for r in REGION_NAMES]
                    keys += [f"{name}/term_{r}" for r in REGION_NAMES]
                    parts += [module.region_fractions.detach().reshape(-1), module.region_terms.detach().reshape(-1)]
                snapshot = torch.cat(parts)  # a copy: later in-place threshold updates do not reach it
                out.update(zip(keys, snapshot.unbind()))
        return LazyFloats(out)

    def heterogeneous_losses(self) -> Iterator[tuple[str, HeterogeneousLoss]]:
        """``(name, loss)`` for every :class:`~metassl_monai.losses.HeterogeneousLoss` in the copies."""
        for name, module in self.named_loss_modules():
            if isinstance(module, HeterogeneousLoss):
                yield name, module
