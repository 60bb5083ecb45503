# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The quality predictor's training utilities: batch preparation, fixed validation sets, the report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.transforms import Compose, RandGaussianNoised

from metassl_monai.quality.training import QualityBatch, QualityReportSaver, materialize, quality_report


def test_quality_batch():
    batch = {"input": torch.zeros(2, 5, 4, 4), "quality": torch.ones(2, 3, dtype=torch.float64)}
    x, y = QualityBatch()(batch, torch.device("cpu"))
    assert x.shape == (2, 5, 4, 4) and y.dtype == torch.float32
    with pytest.raises(KeyError, match="'quality'"):
        QualityBatch()({"input": torch.zeros(1)}, None)


def test_materialize_is_fixed_by_the_seed():
    items = [{"image": np.zeros((1, 4, 4), np.float32)} for _ in range(3)]
    t = Compose([RandGaussianNoised("image", prob=1.0, std=1.0)])
    a = materialize(items, t, seed=5)
    b = materialize(items, t, seed=5)
    c = materialize(items, t, seed=6)
    assert all(np.array_equal(np.asarray(x["image"]), np.asarray(y["image"])) for x, y in zip(a, b))
    assert not np.array_equal(np.asarray(a[0]["image"]), np.asarray(c[0]["image"]))
    assert not np.array_equal(np.asarray(a[0]["image"]), np.asarray(a[1]["image"]))
    assert np.all(items[0]["image"] == 0)  # inputs untouched


def test_quality_report_hand_computed():
    true = np.array([[0.2], [0.4], [0.6], [0.8], [0.5]])
    pred = np.array([[0.3], [0.5], [0.5], [0.9], [0.1]])
    groups = ["synthetic", "synthetic", "synthetic", "synthetic", "real"]
    r = quality_report(pred, true, groups)
    assert r["all"]["n"] == 5 and r["synthetic"]["n"] == 4 and r["real"]["n"] == 1
    assert r["synthetic"]["mae"] == pytest.approx(0.1)
    assert r["real"]["mae"] == pytest.approx(0.4)
    assert r["all"]["mae"] == pytest.approx(0.8 / 5)
    # ranks: true 1,2,3,4 ; pred 1,2.5,2.5,4 -> Pearson of ranks = 4.5 / sqrt(5 * 4.5)
    assert r["synthetic"]["spearman"] == pytest.approx(4.5 / np.sqrt(5 * 4.5))
    assert r["real"]["spearman"] is None and r["real"]["pearson"] is None  # < 3 samples
    assert r["synthetic"]["pearson"] == pytest.approx(np.corrcoef(pred[:4, 0], true[:4, 0])[0, 1])


def test_report_saver_writes_json_csv_png(tmp_path):
    saver = QualityReportSaver(str(tmp_path), class_names=["RV", "LV"])
    batches = [
        {"corruption": ["erode", "snapshot:1"], "name": ["a", "b"]},
        {"corruption": ["identity", "dilate+rotate"], "name": ["c", "d"]},
    ]
    outputs = [
        [{"pred": torch.tensor([0.5, 0.6]), "label": torch.tensor([0.4, 0.6])},
         {"pred": torch.tensor([0.2, 0.2]), "label": torch.tensor([0.5, 0.3])}],
        [{"pred": torch.tensor([0.9, 1.0]), "label": torch.tensor([1.0, 1.0])},
         {"pred": torch.tensor([0.7, 0.7]), "label": torch.tensor([0.6, 0.7])}],
    ]

    def step(engine, batch):
        engine.state.batch = batch
        return outputs[engine.state.iteration - 1]

    engine = Engine(step)
    saver.attach(engine)
    engine.run(batches, max_epochs=1)
    report = json.loads((tmp_path / "quality_metrics.json").read_text())
    assert report["real"]["n"] == 1 and report["synthetic"]["n"] == 3
    assert report["real"]["mae"] == pytest.approx((0.3 + 0.1) / 2)
    assert report["synthetic"]["mae"] == pytest.approx((0.1 + 0.0 + 0.1 + 0.0 + 0.1 + 0.0) / 6)
    with open(tmp_path / "quality_cases.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["kind"] for r in rows] == ["synthetic", "real", "synthetic", "synthetic"]
    assert rows[1]["op"] == "snapshot:1" and float(rows[1]["pred_LV"]) == pytest.approx(0.2)
    assert (tmp_path / "quality_scatter.png").stat().st_size > 1000


def test_report_saver_reads_a_decollated_batch(tmp_path):
    saver = QualityReportSaver(str(tmp_path))
    batch = [{"corruption": "snapshot:0", "name": "a"}, {"corruption": "erode", "name": "b"},
             {"corruption": "identity", "name": "c"}]
    out = [{"pred": torch.tensor([0.5]), "label": torch.tensor([0.5])}] * 3

    def step(engine, b):
        engine.state.batch = b
        return out

    engine = Engine(step)
    saver.attach(engine)
    engine.run([batch], max_epochs=1)
    report = json.loads((tmp_path / "quality_metrics.json").read_text())
    assert report["real"]["n"] == 1 and report["synthetic"]["n"] == 2 and report["all"]["mae"] == 0.0
