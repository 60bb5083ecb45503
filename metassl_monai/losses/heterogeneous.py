# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""The MetaSSL heterogeneous loss (Huang et al., IEEE TMI 2025, arXiv 2509.01144)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.modules.loss import _Loss

from metassl_monai.losses.class_indices import class_indices

__all__ = ["HeterogeneousLoss", "REGION_NAMES"]

#: Region indices used in :attr:`HeterogeneousLoss.region_map` and in ``weights``.
REGION_NAMES = ("UC", "US", "DC", "DS")


def _as_float32(value: float) -> float:
    """``value`` rounded to float32, the type of the threshold buffer."""
    return float(torch.tensor(float(value), dtype=torch.float32))


class HeterogeneousLoss(_Loss):
    """
    MetaSSL heterogeneous loss. Every pixel of a batch falls into one of four regions, decided by the
    agreement between the supervised prediction and the reference prediction and by the confidence of
    the *confidence source* compared with an adaptive per-class threshold:

    ====  =========================================  ============================
    id    region                                     rule (ŷ: class of the confidence source)
    ====  =========================================  ============================
    0     UC  unanimous & confident                  ŷ_pred == ŷ_ref and c > τ[ŷ]
    1     US  unanimous & suspicious                 ŷ_pred == ŷ_ref and c ≤ τ[ŷ]
    2     DC  discrepant & confident                 ŷ_pred != ŷ_ref and c > τ[ŷ]
    3     DS  discrepant & suspicious                ŷ_pred != ŷ_ref and c ≤ τ[ŷ]
    ====  =========================================  ============================

    The per-pixel cross-entropy of ``pred_logits`` against ``target`` (labeled images) or against the
    reference's hard pseudo-label ``argmax(ref_logits)`` (unlabeled images) is averaged within each region,
    ``term_R = Σ_R CE / (|R| + 1)``, so a small region weighs as much as a large one, and the loss is
    ``Σ_R weights[R] · term_R``. With ``split_background`` the UC region is split into its background
    (ŷ = 0) and foreground parts, each averaged on its own and each weighted by ``weights[UC]`` (the paper's 3D code).
    With ``background_uc_only`` (the paper's 2D code, which produced its ACDC results: both UC masks there are gated
    on ŷ = 0) the foreground part gets weight 0 and the background part ``2 · weights[UC]``.

    The threshold ``τ`` is a registered buffer (saved in checkpoints), initialised to ``threshold_init``; the regions
    compare with :attr:`effective_thresholds` (``τ`` capped at ``threshold_max`` when given).
    In training mode it is updated from the current batch *before* the regions are computed::

        τ[k] ← m · mean(c | ŷ = k) + (1 − m) · τ[k]      for every class k predicted somewhere in the batch

    Classes absent from the batch keep their threshold (the reference code lets them decay towards 0).
    Under ``torch.distributed`` the per-class sums and counts are all-reduced, so every rank keeps the same τ.
    No update happens in eval mode.

    Gradients flow only into ``pred_logits``: the reference, the confidences and the pseudo-labels are detached.
    After each call, :attr:`region_map` (``(B, *spatial)`` uint8 in 0..3), :attr:`region_fractions` (4,) and
    :attr:`region_terms` (4,) hold what the call computed, for logging (no extra pass).

    Args:
        num_classes: number of classes C (≥ 2), background is class 0.
        weights: region weights ``(UC, US, DC, DS)``; see :func:`metassl_monai.losses.ratio_weights` and
            :func:`metassl_monai.losses.exp_weights` for the two forms of the paper's code.
            The default is the ratio form of the paper's Mean-Teacher code (W=50, r=1.25, γ=5).
        confidence_source: ``"reference"`` (default; regions and thresholds from the reference's confidence, the
            paper's unlabeled term) or ``"prediction"`` (from the supervised prediction's own confidence, the
            paper's labeled term).
        split_background: split UC into background and foreground parts (the paper's 3D code).
        background_uc_only: weigh the foreground UC part 0 and the background UC part ``2 · weights[UC]``, exactly
            as every 2D script of the paper's code does (``code/utils/utils.py``); needs ``split_background``.
            Default False: both parts weighted ``weights[UC]``.
        threshold_init: initial value of every τ[k], in (0, 1] (and not rounding to 0 in float32, the buffer's type).
        threshold_momentum: ``m`` of the EMA update, in (0, 1].
        threshold_max: optional cap on the threshold *used* for the regions, ``min(τ[k], threshold_max)``, in (0, 1]
            (not rounding to 0 in float32), as the paper's 3D code does (cap 0.9); the stored τ (the buffer, the EMA)
            is not clamped, so it goes on averaging from its own value. ``None`` (default, the 2D code): no cap.

    Raises:
        ValueError: on invalid arguments, or when the inputs' shapes do not match.

    Example::

        >>> loss = HeterogeneousLoss(num_classes=4)
        >>> pred, ref = torch.randn(2, 4, 32, 32, requires_grad=True), torch.randn(2, 4, 32, 32)
        >>> loss(pred, ref).backward()
        >>> loss.region_map.shape
        torch.Size([2, 32, 32])
    """

    region_names = REGION_NAMES

    def __init__(
        self,
        num_classes: int,
        weights: Sequence[float] = (50.0, 40.0, 0.2048, 6.4),
        confidence_source: str = "reference",
        split_background: bool = True,
        threshold_init: float = 0.9,
        threshold_momentum: float = 0.5,
        threshold_max: float | None = None,
        background_uc_only: bool = False,
    ) -> None:
        super().__init__()
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        weights = [float(w) for w in weights]
        if len(weights) != 4 or any(w < 0 for w in weights):
            raise ValueError(f"weights must be 4 non-negative numbers (UC, US, DC, DS), got {weights}.")
        if confidence_source not in ("reference", "prediction"):
            raise ValueError(f"confidence_source must be 'reference' or 'prediction', got {confidence_source!r}.")
        # τ is a float32 buffer: a positive value below float32's smallest subnormal (~1.4e-45) would be stored as 0
        if not (0.0 < threshold_init <= 1.0 and _as_float32(threshold_init) > 0.0):
            raise ValueError(f"threshold_init must be in (0, 1] and non-zero as a float32, got {threshold_init}.")
        if not 0.0 < threshold_momentum <= 1.0:
            raise ValueError(f"threshold_momentum must be in (0, 1], got {threshold_momentum}.")
        if threshold_max is not None and not (0.0 < threshold_max <= 1.0 and _as_float32(threshold_max) > 0.0):
            raise ValueError(
                f"threshold_max must be None or in (0, 1] and non-zero as a float32, got {threshold_max}."
            )
        if background_uc_only and not split_background:
            raise ValueError("background_uc_only weighs the background part of UC: it needs split_background=True.")
        self.num_classes = int(num_classes)
        self.threshold_max = None if threshold_max is None else float(threshold_max)
        self.confidence_source = confidence_source
        self.split_background = bool(split_background)
        self.threshold_momentum = float(threshold_momentum)
        self.register_buffer("thresholds", torch.full((self.num_classes,), float(threshold_init)))
        # UC (its foreground part with split_background), US, DC, DS and the background part of UC, weighted like UC;
        # the 2D code: foreground UC 0, background UC 2 W
        self.background_uc_only = bool(background_uc_only)
        bins = [0.0] + weights[1:] + [2.0 * weights[0]] if self.background_uc_only else weights + [weights[0]]
        self.register_buffer("weights", torch.tensor(bins), persistent=False)
        self.region_map: torch.Tensor | None = None
        self.region_fractions: torch.Tensor | None = None
        self.region_terms: torch.Tensor | None = None

    def forward(
        self,
        pred_logits: torch.Tensor,
        ref_logits: torch.Tensor,
        target: torch.Tensor | None = None,
        sample_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """
        Args:
            pred_logits: logits of the network being trained, shape (B, C, *spatial), 2D or 3D.
            ref_logits: logits of the reference (teacher / other network), same shape; detached here.
            target: optional class indices (B, 1, *spatial) or (B, *spatial) for labeled images; when omitted
                the hard pseudo-label ``argmax(ref_logits)`` is the target.
            sample_weights: optional non-negative (B,) weight per image (detached), e.g. the quality weights of
                :class:`metassl_monai.losses.QualityWeightedLoss`: each voxel's CE and its count in the region
                means are multiplied by its image's weight, ``term_R = Σ_R w·CE / (Σ_R w + 1)``. The thresholds
                and the region fractions are not weighted. ``None`` = all ones (the paper's loss).

        Returns:
            the scalar loss.
        """
        if pred_logits.ndim < 3 or pred_logits.shape != ref_logits.shape:
            raise ValueError(
                "pred_logits and ref_logits must both be (B, C, *spatial) with the same shape, got "
                f"{tuple(pred_logits.shape)} and {tuple(ref_logits.shape)}."
            )
        if pred_logits.shape[1] != self.num_classes:
            raise ValueError(f"expected {self.num_classes} channels (num_classes), got {pred_logits.shape[1]}.")
        # plain tensors (a MetaTensor's metadata handling on each of the ~20 ops below costs more than the op and
        # cannot follow the uint8/int32 views); as_subclass keeps the autograd graph of pred_logits
        pred_logits = pred_logits.as_subclass(torch.Tensor)
        ref_logits = ref_logits.detach().as_subclass(torch.Tensor)
        if target is not None:
            target = target.as_subclass(torch.Tensor)
        if sample_weights is not None:
            sample_weights = sample_weights.as_subclass(torch.Tensor)
        # classes as uint8 for masks and counts (several times cheaper than int64 on CPU); int64 only for the CE labels
        pred_class = class_indices(pred_logits.detach(), dtype=torch.uint8)
        ref_class = class_indices(ref_logits, dtype=torch.uint8)
        if self.confidence_source == "reference":
            source, source_class = ref_logits, ref_class
        else:
            source, source_class = pred_logits.detach(), pred_class
        # confidence = the highest softmax probability, that of the argmax class (softmax keeps the logits' order)
        confidence = torch.softmax(source.float(), dim=1).amax(dim=1)

        if target is None:
            labels = ref_class.long()
        else:
            labels = self._as_indices(target, pred_logits)

        if self.training:
            self._update_thresholds(confidence, source_class)

        # int32 indices: converting a large uint8 tensor to int64 costs more than the lookups themselves on CPU
        threshold = self.effective_thresholds.index_select(0, source_class.reshape(-1).int()).view_as(confidence)
        suspicious = (confidence <= threshold).view(torch.uint8)  # bool → uint8 without a copy
        region = (pred_class != ref_class).view(torch.uint8) * 2 + suspicious  # UC 0, US 1, DC 2, DS 3
        self.region_map = region
        n_bins = 5 if self.split_background else 4
        # bin 4: the background part of UC (region 0 where the confidence source says class 0)
        bins = region + ((region == 0) & (source_class == 0)).view(torch.uint8) * 4 if self.split_background else region
        bins = bins.reshape(-1)
        counts = torch.bincount(bins, minlength=n_bins)
        bins = bins.int()

        ce = F.cross_entropy(pred_logits.float(), labels, reduction="none").reshape(-1)
        counts = counts.to(ce.dtype)
        if sample_weights is None:
            sums = torch.zeros(n_bins, device=ce.device, dtype=ce.dtype).index_add_(0, bins, ce)
            terms = sums / (counts + 1.0)
        else:
            if sample_weights.shape != (pred_logits.shape[0],):
                raise ValueError(
                    f"sample_weights must have shape ({pred_logits.shape[0]},) (one per image), got "
                    f"{tuple(sample_weights.shape)}."
                )
            w = sample_weights.detach().to(ce.dtype).repeat_interleave(ce.numel() // pred_logits.shape[0])
            sums = torch.zeros(n_bins, device=ce.device, dtype=ce.dtype).index_add_(0, bins, ce * w)
            weighted_counts = torch.zeros(n_bins, device=ce.device, dtype=ce.dtype).index_add_(0, bins, w)
            terms = sums / (weighted_counts + 1.0)
        loss = (self.weights[:n_bins].to(ce.dtype) * terms).sum()

        with torch.no_grad():
            region_counts = counts[:4].clone()
            region_terms = terms[:4].detach().clone()
            if self.split_background:
                region_counts[0] += counts[4]
                region_terms[0] += terms[4].detach()
            self.region_fractions = region_counts / bins.numel()
            self.region_terms = region_terms
        return loss

    def _as_indices(self, target: torch.Tensor, pred_logits: torch.Tensor) -> torch.Tensor:
        if target.ndim == pred_logits.ndim:
            if target.shape[1] != 1:
                raise ValueError(
                    f"target must hold class indices (B, 1, *spatial) or (B, *spatial), got {tuple(target.shape)}."
                )
            target = target[:, 0]
        if target.shape != pred_logits.shape[:1] + pred_logits.shape[2:]:
            raise ValueError(
                f"target shape {tuple(target.shape)} does not match pred_logits {tuple(pred_logits.shape)}."
            )
        return target.long()

    @torch.no_grad()
    def _update_thresholds(self, confidence: torch.Tensor, source_class: torch.Tensor) -> None:
        flat_class = source_class.reshape(-1)
        sums = torch.bincount(flat_class, weights=confidence.reshape(-1).float(), minlength=self.num_classes).float()
        counts = torch.bincount(flat_class, minlength=self.num_classes).float()
        if dist.is_available() and dist.is_initialized():
            stacked = torch.stack([sums, counts])
            dist.all_reduce(stacked)
            sums, counts = stacked[0], stacked[1]
        present = counts > 0
        mean_conf = sums / counts.clamp_min(1.0)
        m = self.threshold_momentum
        updated = m * mean_conf + (1.0 - m) * self.thresholds
        self.thresholds.copy_(torch.where(present, updated, self.thresholds))

    @property
    def effective_thresholds(self) -> torch.Tensor:
        """The thresholds the regions use: :attr:`thresholds` capped at ``threshold_max`` (the stored EMA is not)."""
        return self.thresholds if self.threshold_max is None else self.thresholds.clamp_max(self.threshold_max)

    def extra_repr(self) -> str:
        weights = [self.weights[4].item() / 2 if self.background_uc_only else self.weights[0].item()]
        w = ", ".join(f"{n}={v:.4g}" for n, v in zip(REGION_NAMES, weights + self.weights[1:4].tolist()))
        return (
            f"num_classes={self.num_classes}, weights=({w}), confidence_source={self.confidence_source!r}, "
            f"split_background={self.split_background}"
            + (", background_uc_only=True" if self.background_uc_only else "")
            + ("" if self.threshold_max is None else f", threshold_max={self.threshold_max:.4g}")
        )
