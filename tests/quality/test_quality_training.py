# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The quality predictor's training utilities: batch preparation, fixed validation sets, the report."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events
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


@pytest.mark.parametrize("best_only, best_epochs, reported_epoch", [
    (True, {1: 1, 2: 2, 3: 2}, 2),  # epoch 3 is worse than 2: the report stays epoch 2's, the saved predictor's
    (False, {1: 1, 2: 2, 3: 2}, 3),  # every evaluation rewrites it
    (True, {1: -1, 2: -1, 3: -1}, 3),  # an evaluator without a key metric: every evaluation
])
def test_report_saver_describes_the_best_evaluation(tmp_path, best_only, best_epochs, reported_epoch):
    """Epoch e predicts 0.5 + 0.1 e for a true Dice of 0.5: MAE 0.1 e, so the report names its epoch."""
    saver = QualityReportSaver(str(tmp_path), best_only=best_only)
    batch = [{"corruption": "erode", "name": "a"}, {"corruption": "dilate", "name": "b"},
             {"corruption": "identity", "name": "c"}]

    def step(engine, b):
        engine.state.batch = b
        return [{"pred": torch.tensor([0.5 + 0.1 * engine.state.epoch]), "label": torch.tensor([0.5])}] * 3

    engine = Engine(step)

    @engine.on(Events.EPOCH_COMPLETED)  # before the saver's handler, as the workflow's key-metric comparison is
    def compare(e):
        e.state.best_metric_epoch = best_epochs[e.state.epoch]

    saver.attach(engine)
    engine.run([batch], max_epochs=3)
    report = json.loads((tmp_path / "quality_metrics.json").read_text())
    assert report["all"]["mae"] == pytest.approx(0.1 * reported_epoch)


# ------------------------------------------------------------------------------------------------ gradient clipping
class _Huge(torch.nn.Module):
    """y = 1e6 * (w . x): a gradient of norm 1e6 * |x| on w."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(4))

    def forward(self, x):
        return 1e6 * (x * self.w).sum(dim=1, keepdim=True)


def _train_one_step(handlers, lr=0.1):
    from monai.engines import SupervisedTrainer

    torch.manual_seed(0)
    net = _Huge()
    data = [{"input": torch.tensor([[3.0, 4.0, 0.0, 0.0]]), "quality": torch.tensor([[0.0]])}]
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=1, train_data_loader=data, network=net,
        optimizer=torch.optim.SGD(net.parameters(), lr=lr), loss_function=lambda y, t: (y - t).sum(),
        prepare_batch=QualityBatch(), train_handlers=handlers,
    )
    trainer.run()
    return net.w.detach().clone(), trainer


@pytest.mark.parametrize("max_norm", [1.0, 0.25])
def test_gradient_clipping_bounds_the_step(max_norm):
    """The gradient is 1e6 * (3, 4, 0, 0) (norm 5e6); clipped to max_norm, one SGD step of lr 0.1 moves w by
    0.1 * max_norm * (0.6, 0.8, 0, 0)."""
    from metassl_monai.quality.training import GradientClipping

    w, trainer = _train_one_step([GradientClipping(max_norm)])
    torch.testing.assert_close(w, -0.1 * max_norm * torch.tensor([0.6, 0.8, 0.0, 0.0]))
    assert trainer.state.grad_norm == pytest.approx(5e6)  # the norm before clipping
    unclipped, _ = _train_one_step([])
    torch.testing.assert_close(unclipped, -0.1 * 1e6 * torch.tensor([3.0, 4.0, 0.0, 0.0]))


@pytest.mark.parametrize("max_norm", [None, 0.0])
def test_gradient_clipping_disabled(max_norm):
    from metassl_monai.quality.training import GradientClipping

    w, _ = _train_one_step([GradientClipping(max_norm)])
    torch.testing.assert_close(w, -0.1 * 1e6 * torch.tensor([3.0, 4.0, 0.0, 0.0]))


def test_gradient_clipping_default_is_the_published_one():
    from metassl_monai.quality import GradientClipping

    assert GradientClipping().max_norm == 1.0
    with pytest.raises(ValueError, match="NaN"):
        GradientClipping(float("nan"))


def test_quality_training_config_clips_at_1():
    """The quality predictor's trainer in the bundles clips at ``quality_grad_clip`` (1.0)."""
    from pathlib import Path

    from monai.bundle import ConfigParser

    repo = Path(__file__).resolve().parents[2]
    for bundle in ("qgssl_acdc", "qgssl_la"):
        parser = ConfigParser()
        parser.read_config(str(repo / "bundles" / bundle / "configs" / "train_quality.json"))
        assert parser["quality_grad_clip"] == 1.0
        handlers = parser["quality"]["trainer"]["train_handlers"]
        clip = [h for h in handlers  # "@quality#resume_state" and other references are strings
                if isinstance(h, dict) and h.get("_target_") == "metassl_monai.quality.GradientClipping"]
        assert clip == [{"_target_": "metassl_monai.quality.GradientClipping", "max_norm": "@quality_grad_clip"}]
        assert parser["quality_corruption_registry"] == "published"
