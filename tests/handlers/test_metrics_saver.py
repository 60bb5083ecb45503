# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""ClassNamedMetricsSaver: MONAI's per-case and summary CSVs with the classes named."""

from __future__ import annotations

import csv

import torch
from ignite.engine import Engine
from monai.handlers import MeanDice
from monai.handlers.utils import from_engine

import monai.handlers.metrics_saver as monai_metrics_saver
from metassl_monai.handlers import ClassNamedMetricsSaver

# two cases, one-hot (B, C=3, 2, 2): class 1 perfect in both, class 2 wrong in the second
PRED = [torch.tensor([[[[1, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 0], [1, 1]]]]),
        torch.tensor([[[[1, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 0], [1, 0]]]])]
LABEL = [PRED[0], torch.tensor([[[[1, 0], [0, 0]], [[0, 1], [0, 0]], [[0, 0], [0, 1]]]])]


def run(tmp_path, **kwargs):
    def step(engine, i):
        return {"pred": PRED[i].float(), "label": LABEL[i].float()}

    engine = Engine(step)
    MeanDice(include_background=False, output_transform=from_engine(["pred", "label"])).attach(engine, "mean_dice")
    ClassNamedMetricsSaver(str(tmp_path), metrics="*", metric_details="*", summary_ops=["mean"],
                           batch_transform=lambda b: [{"filename_or_obj": f"case{b}"}], **kwargs).attach(engine)
    engine.run([0, 1], max_epochs=1)
    return list(csv.reader(open(tmp_path / "mean_dice_raw.csv"))), list(csv.reader(open(tmp_path / "mean_dice_summary.csv")))


def test_class_names_in_the_csvs(tmp_path):
    raw, summary = run(tmp_path, class_names=["MYO", "LV"])
    assert raw[0] == ["filename", "MYO", "LV", "mean"]
    assert [row[0] for row in raw[1:]] == ["case0", "case1"]
    assert [float(v) for v in raw[2][1:3]] == [1.0, 0.0]  # case1: MYO right, LV wrong
    assert [row[0] for row in summary] == ["class", "MYO", "LV", "mean"]
    assert monai_metrics_saver.write_metrics_reports.__name__ == "write_metrics_reports"  # MONAI's restored


def test_without_names_as_monai(tmp_path):
    raw, _ = run(tmp_path)
    assert raw[0] == ["filename", "class0", "class1", "mean"]
