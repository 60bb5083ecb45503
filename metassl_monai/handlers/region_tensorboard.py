# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""TensorBoard images of a semi-supervised iteration: the inputs, label, prediction and the region maps."""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events
from monai.handlers import TensorBoardHandler
from monai.visualize import plot_2d_or_3d_image

__all__ = ["RegionTensorBoardHandler"]


class RegionTensorBoardHandler(TensorBoardHandler):
    """
    For a :class:`~metassl_monai.engines.SemiSupervisedTrainer`, write to TensorBoard every ``image_interval``
    iterations the first labeled image, its label and prediction, the first unlabeled image and the region map of
    every :class:`~metassl_monai.losses.HeterogeneousLoss` in the trainer's ``branch_losses`` (0 UC, 1 US, 2 DC,
    3 DS; shown scaled to [0, 1]; tags ``<tag_prefix>/images/regions_<stream>_<branch>``). Only what the iteration
    already computed is read.

    Scalars (thresholds, region fractions and terms, predicted quality) are not written here: they travel in
    ``engine.state.output["ssl_stats"]`` and are logged by MONAI's ``StatsHandler``/``TensorBoardStatsHandler``
    (``output_transform=lambda x: {**x["loss_terms"], **x["ssl_stats"]}``). Being a
    :class:`monai.handlers.TensorBoardHandler`, it runs on rank 0 only in multi-GPU runs
    (:func:`metassl_monai.distributed.rank_zero_only`).

    Args:
        summary_writer: an existing writer, or None to create one in ``log_dir``.
        log_dir: folder of the created writer.
        image_interval: logging period in iterations (0 disables the handler).
        tag_prefix: first part of every tag.
    """

    def __init__(
        self,
        summary_writer=None,
        log_dir: str = "./runs",
        image_interval: int = 200,
        tag_prefix: str = "metassl",
    ) -> None:
        super().__init__(summary_writer=summary_writer, log_dir=log_dir)
        self.image_interval = int(image_interval)
        self.tag_prefix = tag_prefix

    def attach(self, engine: Engine) -> None:
        if self.image_interval > 0:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.image_interval), self.write_images)
        engine.add_event_handler(Events.COMPLETED, lambda _: self._writer.flush())

    def write_images(self, engine: Engine) -> None:
        step = engine.state.iteration
        out = engine.state.output
        if not isinstance(out, dict):
            return
        writer = self._writer
        tag = f"{self.tag_prefix}/images"
        with torch.no_grad():
            if "image" in out:
                plot_2d_or_3d_image(out["image"].detach().float().cpu(), step, writer, tag=f"{tag}/image")
            if "label" in out:
                label = out["label"].detach().float().cpu()
                n = float(max(label.max().item(), 1.0))
                plot_2d_or_3d_image(label / n, step, writer, tag=f"{tag}/label")
            if "pred" in out:
                pred = out["pred"].detach().argmax(1, keepdim=True).float().cpu()
                n = float(out["pred"].shape[1] - 1)
                plot_2d_or_3d_image(pred / n, step, writer, tag=f"{tag}/prediction")
            if "unlabeled_image" in out:
                x_u = out["unlabeled_image"].detach().float().cpu()
                plot_2d_or_3d_image(x_u, step, writer, tag=f"{tag}/unlabeled_image")
            branch_losses = getattr(engine, "branch_losses", None)
            for name, loss in branch_losses.heterogeneous_losses() if branch_losses is not None else ():
                if loss.region_map is not None:
                    region = loss.region_map[:1].unsqueeze(1).float().cpu() / 3.0
                    plot_2d_or_3d_image(region, step, writer, tag=f"{tag}/regions_{name}")
