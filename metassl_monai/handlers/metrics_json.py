# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Summarise an evaluation as ``metrics.json`` (mean and per-class values) next to MONAI's per-case CSVs."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from ignite.engine import Engine, Events

__all__ = ["MetricsJSONSaver"]


def _nanmean(values: np.ndarray, axis=None):
    finite = np.where(np.isfinite(values), values, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN, reported as null
        return np.nanmean(finite, axis=axis)


class MetricsJSONSaver:
    """
    At the end of an evaluation, write ``output_dir/filename`` with, for every metric of the evaluator (which must
    be created with ``save_details=True``, MONAI's default): ``<metric>`` (mean over cases and foreground classes,
    ignoring non-finite values such as the distance of an empty prediction), ``<metric>_per_class`` (dict class name
    → mean over cases), ``<metric>_nonfinite_values`` (how many case × class values were left out) and the number
    of cases. Metric names are written as given (e.g. ``mean_dice``).

    Args:
        output_dir: folder to write to (created if needed).
        class_names: names of the classes the metric details hold, in channel order (foreground only when the
            metrics exclude the background).
        filename: name of the JSON file.
    """

    def __init__(self, output_dir: str, class_names: Sequence[str], filename: str = "metrics.json") -> None:
        self.output_dir = output_dir
        self.class_names = list(class_names)
        self.filename = filename

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def summary(self, engine: Engine) -> dict:
        details = getattr(engine.state, "metric_details", {}) or {}
        result: dict = {}
        for name in engine.state.metrics:
            if name not in details:
                value = engine.state.metrics[name]
                result[name] = float(value) if np.isscalar(value) else value
                continue
            per_case = details[name]
            per_case = per_case.detach().cpu().numpy() if isinstance(per_case, torch.Tensor) else np.asarray(per_case)
            per_case = per_case.reshape(per_case.shape[0], -1).astype(np.float64)
            per_class = _nanmean(per_case, axis=0)
            names = self.class_names if len(self.class_names) == per_class.shape[0] else [
                str(i) for i in range(per_class.shape[0])
            ]
            mean = float(_nanmean(per_class))
            result[name] = None if math.isnan(mean) else mean
            result[f"{name}_per_class"] = {
                n: (None if math.isnan(float(v)) else float(v)) for n, v in zip(names, per_class)
            }
            result[f"{name}_nonfinite_values"] = int((~np.isfinite(per_case)).sum())
            result["num_cases"] = int(per_case.shape[0])
        return result

    def __call__(self, engine: Engine) -> None:
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, self.filename)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.summary(engine), f, indent=4)
            f.write("\n")
        os.replace(tmp, path)
