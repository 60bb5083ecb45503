# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Quality control at inference: the predicted Dice of every output mask, written next to it as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.data import MetaTensor

__all__ = ["QualityQCSaver", "aggregate_slice_quality", "qc_ranking"]


def aggregate_slice_quality(quality: torch.Tensor, areas: torch.Tensor) -> list[float | None]:
    """
    Volume-level predicted Dice per class from per-slice predictions of a 2D predictor: the mean of the slices'
    predicted Dice weighted by the slice's predicted area of that class (a volume's Dice is close to the
    area-weighted mean of its slices' Dice). Slices where the class is not predicted do not count; a class predicted
    nowhere gives ``None``.

    Args:
        quality: ``(S, C − 1)`` predicted Dice per slice and foreground class.
        areas: ``(S, C − 1)`` predicted pixels of each class per slice.
    """
    areas = areas.double()
    total = areas.sum(0)
    weighted = (quality.double() * areas).sum(0)
    return [float(w / t) if t > 0 else None for w, t in zip(weighted, total)]


class QualityQCSaver:
    """
    After each inference iteration, predict the quality of each output mask with a frozen quality predictor and write
    ``output_dir/<input name>_<postfix>.json`` = ``{"predicted_mean_dice": mean over foreground classes (classes
    predicted nowhere are left out; 0.0 when no class is predicted), "predicted_dice_per_class": {name: value or
    null}, "source": input file, "aggregation": ...}``, so a user can flag cases for review.

    The predictor sees the image and the prediction in *model space* (after the preprocessing, before any inversion):
    keep them in the output with ``CopyItemsd`` before ``Invertd`` (``pred_key``, class probabilities or one-hot
    ``(C, *spatial)``; it is argmax-ed) — the space the predictor was trained in. A 3D predictor (``slice_axis=None``)
    scores the whole volume. A 2D predictor on a 3D volume scores every slice along ``slice_axis`` (a spatial axis)
    and the slices are aggregated with :func:`aggregate_slice_quality` (area-weighted mean).

    Args:
        predictor: a frozen :class:`metassl_monai.quality.QualityPredictor`.
        output_dir: where the JSON files go (the folder of the output masks).
        image_key, pred_key: keys of the decollated output items.
        slice_axis: spatial axis of the slices for a 2D predictor on 3D data, or ``None``.
        class_names: foreground class names, in channel order.
        postfix: file name ends with ``_<postfix>.json``.
        batch_size: slices per predictor call.
    """

    def __init__(self, predictor: torch.nn.Module, output_dir: str, image_key: str = "image",
                 pred_key: str = "pred_model_space", slice_axis: int | None = None,
                 class_names: Sequence[str] | None = None, postfix: str = "quality", batch_size: int = 32) -> None:
        self.predictor = predictor.eval()
        self.output_dir, self.image_key, self.pred_key = output_dir, image_key, pred_key
        self.slice_axis, self.postfix, self.batch_size = slice_axis, postfix, int(batch_size)
        self.class_names = list(class_names) if class_names else None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        items = engine.state.output if isinstance(engine.state.output, list) else [engine.state.output]
        for item in items:
            self.save(item)

    @torch.no_grad()
    def score(self, image: torch.Tensor, pred: torch.Tensor) -> tuple[list[float | None], str]:
        """Per-class predicted Dice of the label map ``argmax(pred)`` (``(C, *spatial)``) on ``image`` (``(1, *)``)."""
        device = next(self.predictor.parameters()).device
        num_classes = pred.shape[0]
        labels = pred.argmax(0, keepdim=True)
        if self.slice_axis is None:
            q = self.predictor.predict(image[None].float().to(device), labels[None].to(device))[0].cpu()
            return [float(v) for v in q], "whole volume"
        axis = self.slice_axis + 1  # channel first
        img_slices = image.movedim(axis, 0)  # (S, 1, ...)
        lab_slices = labels.movedim(axis, 0)
        qs = []
        for start in range(0, img_slices.shape[0], self.batch_size):
            qs.append(self.predictor.predict(img_slices[start:start + self.batch_size].float().to(device),
                                             lab_slices[start:start + self.batch_size].to(device)).cpu())
        quality = torch.cat(qs)
        areas = torch.stack([(lab_slices == c).flatten(1).sum(1) for c in range(1, num_classes)], dim=1)
        return aggregate_slice_quality(quality, areas), (
            f"2D predictor on every slice along spatial axis {self.slice_axis}; per class, mean of the slices' "
            "predicted Dice weighted by the slice's predicted area of the class"
        )

    def save(self, item: dict) -> str:
        image, pred = item[self.image_key], item[self.pred_key]
        meta = image.meta if isinstance(image, MetaTensor) else {}
        source = str(meta.get("filename_or_obj", "case"))
        per_class, aggregation = self.score(torch.as_tensor(image), torch.as_tensor(pred))
        names = self.class_names or [f"class{c + 1}" for c in range(len(per_class))]
        present = [v for v in per_class if v is not None]
        result = {
            "predicted_mean_dice": float(np.mean(present)) if present else 0.0,
            "predicted_dice_per_class": dict(zip(names, per_class)),
            "source": source,
            "aggregation": aggregation,
        }
        base = os.path.basename(source)
        for ext in (".nii.gz", ".nii", ".h5", ".nrrd", ".mha"):
            if base.endswith(ext):
                base = base[: -len(ext)]
                break
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, f"{base}_{self.postfix}.json")
        with open(path, "w") as f:
            json.dump(result, f, indent=4)
            f.write("\n")
        return path


def qc_ranking(quality_dir: str, dice_csv: str, postfix: str = "quality", output: str | None = None) -> dict:
    """
    How well the predicted quality ranks cases: Spearman and Pearson correlation and mean absolute error between the
    ``predicted_mean_dice`` of ``quality_dir/<case>_<postfix>.json`` (written by :class:`QualityQCSaver` at
    inference) and the true per-case mean Dice of ``dice_csv`` (the evaluation's ``mean_dice_raw.csv``: columns
    ``filename``, ``mean``). Cases are matched by name: the json file name starts with the case name.

    Returns (and writes to ``output`` as JSON when given): ``{"n", "spearman", "pearson", "mae", "cases": [...]}``;
    the correlations are ``None`` when either side is constant.

    Raises:
        FileNotFoundError: no json in ``quality_dir`` or a missing ``dice_csv``.
        ValueError: fewer than 3 matched cases.
    """
    import csv
    import glob

    from scipy.stats import pearsonr, spearmanr

    files = sorted(glob.glob(os.path.join(quality_dir, f"*_{postfix}.json")))
    if not files:
        raise FileNotFoundError(f"no *_{postfix}.json file in {quality_dir}; run the inference config first")
    if not os.path.isfile(dice_csv):
        raise FileNotFoundError(f"per-case Dice file not found: {dice_csv}")
    with open(dice_csv) as f:
        true = {r["filename"]: float(r["mean"]) for r in csv.DictReader(f)}
    cases = []
    for path in files:
        name = os.path.basename(path)[: -len(f"_{postfix}.json")]
        match = [k for k in true if name == k or name.startswith(k + "_") or name.startswith(k)]
        if not match:
            continue
        key = max(match, key=len)
        with open(path) as f:
            predicted = float(json.load(f)["predicted_mean_dice"])
        cases.append({"case": key, "predicted_mean_dice": predicted, "true_mean_dice": true[key]})
    if len(cases) < 3:
        raise ValueError(f"only {len(cases)} case(s) of {quality_dir} match {dice_csv}: need at least 3")
    p = np.array([c["predicted_mean_dice"] for c in cases])
    t = np.array([c["true_mean_dice"] for c in cases])
    varies = np.ptp(p) > 0 and np.ptp(t) > 0  # a correlation with a constant is undefined: reported as null
    result = {
        "n": len(cases),
        "spearman": float(spearmanr(p, t)[0]) if varies else None,
        "pearson": float(pearsonr(p, t)[0]) if varies else None,
        "mae": float(np.abs(p - t).mean()),
        "cases": cases,
    }
    if output:
        with open(output, "w") as f:
            json.dump(result, f, indent=4)
            f.write("\n")
    return result
