# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""MONAI's MetricsSaver with the classes named in its CSV reports."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import monai.handlers.metrics_saver as _monai_metrics_saver
from monai.handlers import MetricsSaver

__all__ = ["ClassNamedMetricsSaver"]


class ClassNamedMetricsSaver(MetricsSaver):
    """
    :class:`monai.handlers.MetricsSaver` (same arguments) whose per-case ``<metric>_raw.csv`` columns and
    ``<metric>_summary.csv`` rows are named by ``class_names`` (``RV, MYO, LV``) instead of ``class0, class1, ...``
    (``monai.handlers.utils.write_metrics_reports`` takes ``class_labels``; ``MetricsSaver`` does not pass them).

    Args:
        class_names: one name per metric channel (the foreground classes when the metrics exclude the background).
        args, kwargs: as :class:`monai.handlers.MetricsSaver`.
    """

    def __init__(self, *args, class_names: Sequence[str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.class_names = list(class_names) if class_names else None

    def __call__(self, engine) -> None:
        original = _monai_metrics_saver.write_metrics_reports
        _monai_metrics_saver.write_metrics_reports = functools.partial(original, class_labels=self.class_names)
        try:
            super().__call__(engine)
        finally:
            _monai_metrics_saver.write_metrics_reports = original
