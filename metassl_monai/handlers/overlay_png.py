# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Write one PNG overlay per evaluated case (the slice with the most ground-truth foreground)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
from ignite.engine import Engine, Events

from metassl_monai.visualize import most_foreground_slice, save_overlay_png

__all__ = ["OverlayPNGSaver"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


class OverlayPNGSaver:
    """
    After each evaluator iteration, for each decollated item of ``engine.state.output`` (or, for keys the output
    lacks, of ``engine.state.batch``) holding ``image_key``, ``pred_key`` and ``label_key`` (channel-first, same
    spatial size; one-hot or class maps), save
    ``output_dir/<name>_overlay.png`` showing the slice along ``slice_axis`` (spatial axis) with most foreground.

    Args:
        output_dir: where the PNGs go.
        slice_axis: spatial axis of the slices (0 for SSL4MIS (D, H, W) volumes, 2 for NIfTI (X, Y, Z)).
        image_key, pred_key, label_key: keys of the output items; ``pred`` may be one-hot, it is argmax-ed.
        name_key: key of the case name (falls back to the image file name in the meta data).
        max_cases: stop after this many PNGs (None: all).
        class_names: the legend's name of each foreground class (class 1 first; default "class 1", ...).
    """

    def __init__(
        self,
        output_dir: str,
        slice_axis: int = 0,
        image_key: str = "image",
        pred_key: str = "pred",
        label_key: str = "label",
        name_key: str = "name",
        max_cases: int | None = None,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.output_dir = output_dir
        self.slice_axis = int(slice_axis)
        self.image_key, self.pred_key, self.label_key, self.name_key = image_key, pred_key, label_key, name_key
        self.max_cases = max_cases
        self.class_names = list(class_names) if class_names else None
        self.saved: list[str] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        items = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        batch = engine.state.batch if isinstance(engine.state.batch, list) else [engine.state.batch] * len(items)
        for item, data in zip(items, batch):
            if self.max_cases is not None and len(self.saved) >= self.max_cases:
                return
            get = lambda k: item[k] if k in item else data[k]  # noqa: E731  (outputs first, then the batch)
            image = _np(get(self.image_key))[0]
            pred = _np(get(self.pred_key))
            pred = pred.argmax(0) if pred.shape[0] > 1 else pred[0]
            label = _np(get(self.label_key))
            label = label.argmax(0) if label.shape[0] > 1 else label[0]
            name = data.get(self.name_key) if isinstance(data, dict) else None
            if name is None:
                meta = getattr(get(self.image_key), "meta", {}) or {}
                name = os.path.basename(str(meta.get("filename_or_obj", f"case{len(self.saved)}"))).split(".")[0]
            k = most_foreground_slice(label, self.slice_axis)
            take = lambda a: np.take(a, k, axis=self.slice_axis)  # noqa: E731
            path = os.path.join(self.output_dir, f"{name}_overlay.png")
            self.saved.append(save_overlay_png(path, take(image), take(pred), take(label), title=f"{name} slice {k}",
                                              class_names=self.class_names))
