# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :class:`metassl_monai.handlers.MetricsJSONSaver` against hand-computed summaries."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from ignite.engine import Engine

from metassl_monai.handlers.metrics_json import MetricsJSONSaver

NAN, INF = float("nan"), float("inf")
CLASSES = ["RV", "MYO", "LV"]

# 3 cases x 3 foreground classes
DICE = torch.tensor([[0.9, 0.5, NAN], [0.7, 0.6, NAN], [0.8, NAN, NAN]])
HD95 = torch.tensor([[1.0, INF, 3.0], [2.0, 4.0, NAN], [6.0, 5.0, 2.0]])
# hand-computed: per-class mean over the finite values, then the mean of the (non-null) per-class means
DICE_PER_CLASS = {"RV": (0.9 + 0.7 + 0.8) / 3, "MYO": (0.5 + 0.6) / 2, "LV": None}
DICE_MEAN = ((0.9 + 0.7 + 0.8) / 3 + 0.55) / 2
HD95_PER_CLASS = {"RV": 3.0, "MYO": 4.5, "LV": 2.5}
HD95_MEAN = (3.0 + 4.5 + 2.5) / 3


def run_engine(handler, metrics: dict, details: dict) -> Engine:
    def step(engine, batch):
        engine.state.metrics = dict(metrics)
        engine.state.metric_details = dict(details)

    engine = Engine(step)
    handler.attach(engine)
    engine.run([0], max_epochs=1)
    return engine


def check_close(actual: dict, expected: dict):
    assert actual.keys() == expected.keys()
    for k, v in expected.items():
        if v is None:
            assert actual[k] is None, k
        else:
            assert actual[k] == pytest.approx(v, rel=1e-6), k


@pytest.mark.parametrize("subdir", ["out", "nested/deeper/out"])
def test_metrics_json_written_at_completion(tmp_path, subdir):
    out_dir = tmp_path / subdir
    saver = MetricsJSONSaver(str(out_dir), class_names=CLASSES)
    run_engine(saver, {"mean_dice": 0.123, "hd95": 99.0}, {"mean_dice": DICE, "hd95": HD95})

    path = out_dir / "metrics.json"
    text = path.read_text()
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert sorted(p.name for p in out_dir.iterdir()) == ["metrics.json"]  # no .tmp left
    data = json.loads(text)
    assert set(data) == {
        "mean_dice", "mean_dice_per_class", "mean_dice_nonfinite_values",
        "hd95", "hd95_per_class", "hd95_nonfinite_values", "num_cases",
    }
    # the summaries come from the details, not from the engine's metric values
    assert data["mean_dice"] == pytest.approx(DICE_MEAN, rel=1e-6)
    assert data["hd95"] == pytest.approx(HD95_MEAN, rel=1e-6)
    assert list(data["mean_dice_per_class"]) == CLASSES  # channel order
    check_close(data["mean_dice_per_class"], DICE_PER_CLASS)
    check_close(data["hd95_per_class"], HD95_PER_CLASS)
    assert data["mean_dice_per_class"]["LV"] is None and "null" in text
    assert data["num_cases"] == 3
    # case x class values left out: dice 4 NaN, hd95 one inf and one NaN
    assert data["mean_dice_nonfinite_values"] == 4
    assert data["hd95_nonfinite_values"] == 2


def test_summary_matches_numpy_reference():
    rng = np.random.default_rng(0)
    details = rng.uniform(0, 1, size=(5, 3))
    details[1, 2] = np.inf
    details[3, 0] = np.nan
    engine = Engine(lambda e, b: None)
    engine.state.metrics = {"mean_dice": 0.0}
    engine.state.metric_details = {"mean_dice": torch.from_numpy(details)}
    summary = MetricsJSONSaver("unused", class_names=CLASSES).summary(engine)
    finite = np.where(np.isfinite(details), details, np.nan)
    per_class = [float(np.nanmean(finite[:, c])) for c in range(3)]
    assert [summary["mean_dice_per_class"][c] for c in CLASSES] == pytest.approx(per_class, rel=1e-12)
    assert summary["mean_dice"] == pytest.approx(float(np.mean(per_class)), rel=1e-12)
    assert summary["num_cases"] == 5
    assert summary["mean_dice_nonfinite_values"] == 2


def test_metric_without_details_is_written_as_given(tmp_path):
    saver = MetricsJSONSaver(str(tmp_path), class_names=CLASSES, filename="summary.json")
    run_engine(saver, {"accuracy": np.float32(0.25), "count": 4}, {})
    data = json.loads((tmp_path / "summary.json").read_text())
    assert data == {"accuracy": 0.25, "count": 4.0}
    assert not (tmp_path / "summary.json.tmp").exists()


def test_all_nan_metric_and_wrong_number_of_class_names(tmp_path):
    saver = MetricsJSONSaver(str(tmp_path), class_names=["only_one"])
    details = torch.full((2, 2), NAN)
    details[0, 0] = INF
    run_engine(saver, {"hd95": 0.0}, {"hd95": details})
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data == {
        "hd95": None, "hd95_per_class": {"0": None, "1": None}, "hd95_nonfinite_values": 4, "num_cases": 2
    }


def test_details_with_extra_dimensions_are_flattened_per_case(tmp_path):
    # (N, C, 1), as some MONAI metrics return
    saver = MetricsJSONSaver(str(tmp_path), class_names=CLASSES)
    run_engine(saver, {"hd95": 1.0}, {"hd95": HD95[..., None]})
    data = json.loads((tmp_path / "metrics.json").read_text())
    check_close(data["hd95_per_class"], HD95_PER_CLASS)
    assert data["hd95"] == pytest.approx(HD95_MEAN, rel=1e-6)
    assert data["hd95_nonfinite_values"] == 2


def test_existing_file_is_replaced(tmp_path):
    (tmp_path / "metrics.json").write_text('{"old": true, "padding": "' + "x" * 1000 + '"}\n')
    saver = MetricsJSONSaver(str(tmp_path), class_names=CLASSES)
    run_engine(saver, {"mean_dice": 0.5}, {"mean_dice": DICE})
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert "old" not in data and math.isclose(data["mean_dice"], DICE_MEAN, rel_tol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
