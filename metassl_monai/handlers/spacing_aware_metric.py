# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Distance metrics (HD95, average surface distance) in physical units, from the voxel size of each case."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch
from monai.data import MetaTensor
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric

__all__ = ["SpacingAwareMetric", "voxel_spacing"]

logger = logging.getLogger(__name__)


def voxel_spacing(*tensors: torch.Tensor) -> list[float] | None:
    """
    The voxel size of the first :class:`~monai.data.MetaTensor` among ``tensors`` (channel-first, without a batch
    dimension) whose affine is not the identity, from its ``pixdim``; ``None`` when none has one (distances are
    then in voxels). An identity affine is what a loader writes when the file has no geometry (the original UA-MT
    and SSL4MIS h5 files), so it is not taken as a 1 mm spacing.
    """
    for t in tensors:
        if isinstance(t, MetaTensor):
            affine = t.affine
            identity = torch.eye(affine.shape[-1], dtype=torch.float64) if affine is not None else None
            if affine is not None and not torch.equal(affine.to(torch.float64).cpu(), identity):
                return [float(v) for v in t.pixdim[: t.ndim - 1]]
    return None


class SpacingAwareMetric(IgniteMetricHandler):
    """
    Ignite handler for a MONAI distance metric (``HausdorffDistanceMetric``, ``SurfaceDistanceMetric``,
    ``SurfaceDiceMetric``) that passes each case's voxel size to the metric, so distances are in millimetres when
    the data carries its geometry (NIfTI files, h5 files converted with a ``spacing`` attribute).

    MONAI's ``HausdorffDistance`` / ``SurfaceDistance`` handlers call the metric without a spacing, so their
    distances are always in voxels; this handler calls it case by case with ``spacing=`` the label's ``pixdim``
    (or the prediction's, when the label has no geometry). A case without geometry is measured in voxels, and a
    warning says so once per run.

    Args:
        metric_fn: the MONAI cumulative metric, e.g. ``HausdorffDistanceMetric(include_background=False,
            percentile=95)``.
        output_transform: maps ``engine.state.output`` to ``(y_pred, y)``: two lists of channel-first one-hot tensors
            (``monai.handlers.from_engine(["pred", "label"])``), or two batched ``(B, C, *spatial)`` tensors.
        save_details: keep the per-case values in ``engine.state.metric_details`` (for ``MetricsSaver``).

    Example::

        {"_target_": "metassl_monai.handlers.SpacingAwareMetric",
         "metric_fn": {"_target_": "HausdorffDistanceMetric", "include_background": false, "percentile": 95},
         "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}
    """

    def __init__(
        self,
        metric_fn: CumulativeIterationMetric,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)
        self._warned = False

    def reset(self) -> None:
        super().reset()
        self._warned = False

    def update(self, output: Sequence[torch.Tensor]) -> None:
        if len(output) != 2:
            raise ValueError(f"output must be (y_pred, y), got {len(output)} items.")
        y_pred, y = output
        if len(y_pred) != len(y):
            raise ValueError(f"got {len(y_pred)} predictions for {len(y)} labels.")
        for pred, label in zip(y_pred, y):
            spacing = voxel_spacing(label, pred)
            if spacing is None and not self._warned:
                logger.warning("a case has no voxel geometry (identity affine): its distances are in voxels.")
                self._warned = True
            self.metric_fn(pred.unsqueeze(0), label.unsqueeze(0), spacing=spacing)
