# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""TensorBoard view of what the heterogeneous losses did: thresholds, region fractions and terms, region maps."""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events
from monai.visualize import plot_2d_or_3d_image
from torch.utils.tensorboard import SummaryWriter

from metassl_monai.losses.heterogeneous import REGION_NAMES, HeterogeneousLoss

__all__ = ["RegionTensorBoardHandler"]


class RegionTensorBoardHandler:
    """
    For a :class:`~metassl_monai.engines.SemiSupervisedTrainer`, write to TensorBoard every ``interval`` iterations
    the adaptive threshold per class, the region fractions and per-region terms of every
    :class:`~metassl_monai.losses.HeterogeneousLoss` it holds (tags ``metassl/<stream>_<branch>/...``), and every
    ``image_interval`` iterations the first labeled image, its label and prediction, the first unlabeled image and
    its region map (0 UC, 1 US, 2 DC, 3 DS; shown scaled to [0, 1]). Only what the losses already computed is read.

    Args:
        summary_writer: an existing writer, or None to create one in ``log_dir``.
        log_dir: folder of the created writer.
        interval: scalar logging period in iterations.
        image_interval: image logging period in iterations (0 disables images).
        class_names: optional names for the threshold tags (default: class indices).
        tag_prefix: first part of every tag.
    """

    def __init__(
        self,
        summary_writer: SummaryWriter | None = None,
        log_dir: str = "./runs",
        interval: int = 10,
        image_interval: int = 200,
        class_names: list[str] | None = None,
        tag_prefix: str = "metassl",
    ) -> None:
        self._writer = summary_writer
        self._log_dir = log_dir
        self.interval = max(1, int(interval))
        self.image_interval = int(image_interval)
        self.class_names = class_names
        self.tag_prefix = tag_prefix

    @property
    def writer(self) -> SummaryWriter:
        if self._writer is None:
            self._writer = SummaryWriter(log_dir=self._log_dir)
        return self._writer

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self.write_scalars)
        if self.image_interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.image_interval), self.write_images)
        engine.add_event_handler(Events.COMPLETED, lambda _: self.writer.flush())

    @staticmethod
    def _modules(engine: Engine):
        """(name, module) of every loss module of the trainer, wrappers (quality weighting, sums) walked into."""
        for stream, losses in (("unlabeled", getattr(engine, "consistency_losses", None)),
                               ("labeled", getattr(engine, "labeled_consistency_losses", None))):
            for i, loss in enumerate(losses or []):
                for module in loss.modules():
                    yield f"{stream}_{i}", module

    def _losses(self, engine: Engine):
        for name, module in self._modules(engine):
            if isinstance(module, HeterogeneousLoss):
                yield name, module

    def write_scalars(self, engine: Engine) -> None:
        step = engine.state.iteration
        for name, module in self._modules(engine):  # quality-guided losses: predicted quality and PL-QW weights
            quality = getattr(module, "last_quality", None)
            if isinstance(quality, torch.Tensor):
                self.writer.add_scalar(f"{self.tag_prefix}/{name}/{type(module).__name__}_quality", quality.mean(), step)
            weights = getattr(module, "last_weights", None)
            if isinstance(weights, torch.Tensor):
                self.writer.add_scalar(f"{self.tag_prefix}/{name}/plqw_weight_mean", weights.mean(), step)
                self.writer.add_scalar(f"{self.tag_prefix}/{name}/plqw_kept_fraction", (weights > 0).float().mean(), step)
        for name, loss in self._losses(engine):
            prefix = f"{self.tag_prefix}/{name}"
            for k, tau in enumerate(loss.thresholds.tolist()):
                cls = self.class_names[k] if self.class_names and k < len(self.class_names) else str(k)
                self.writer.add_scalar(f"{prefix}/threshold_{cls}", tau, step)
            if loss.region_fractions is not None:
                for r, frac in zip(REGION_NAMES, loss.region_fractions.tolist()):
                    self.writer.add_scalar(f"{prefix}/fraction_{r}", frac, step)
                for r, term in zip(REGION_NAMES, loss.region_terms.tolist()):
                    self.writer.add_scalar(f"{prefix}/term_{r}", term, step)

    def write_images(self, engine: Engine) -> None:
        step = engine.state.iteration
        out = engine.state.output
        if not isinstance(out, dict):
            return
        tag = f"{self.tag_prefix}/images"
        with torch.no_grad():
            if "image" in out:
                plot_2d_or_3d_image(out["image"].detach().float().cpu(), step, self.writer, tag=f"{tag}/image")
            if "label" in out:
                label = out["label"].detach().float().cpu()
                n = float(max(label.max().item(), 1.0))
                plot_2d_or_3d_image(label / n, step, self.writer, tag=f"{tag}/label")
            if "pred" in out:
                pred = out["pred"].detach().argmax(1, keepdim=True).float().cpu()
                n = float(out["pred"].shape[1] - 1)
                plot_2d_or_3d_image(pred / n, step, self.writer, tag=f"{tag}/prediction")
            if "unlabeled_image" in out:
                x_u = out["unlabeled_image"].detach().float().cpu()
                plot_2d_or_3d_image(x_u, step, self.writer, tag=f"{tag}/unlabeled_image")
            for name, loss in self._losses(engine):
                if loss.region_map is not None:
                    region = loss.region_map[:1].unsqueeze(1).float().cpu() / 3.0
                    plot_2d_or_3d_image(region, step, self.writer, tag=f"{tag}/regions_{name}")
