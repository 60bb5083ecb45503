# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :class:`metassl_monai.handlers.SpacingAwareMetric`: distances in mm from each case's voxel size."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.data import MetaTensor
from monai.metrics import HausdorffDistanceMetric, SurfaceDistanceMetric

from metassl_monai.handlers import SpacingAwareMetric, voxel_spacing


def _cube_pair(spacing=None):
    """A 3x3x3 predicted cube and a 3x3x5 true box (2 more voxels along z): HD = 2 voxels along z."""
    pred = torch.zeros(2, 10, 10, 10)
    pred[1, 2:5, 2:5, 2:5] = 1
    label = torch.zeros(2, 10, 10, 10)
    label[1, 2:5, 2:5, 2:7] = 1
    pred[0], label[0] = 1 - pred[1], 1 - label[1]
    affine = np.eye(4)
    if spacing is not None:
        affine[:3, :3] = np.diag(spacing)
    return MetaTensor(pred, affine=affine), MetaTensor(label, affine=affine)


def _run(handler, batches):
    engine = Engine(lambda e, b: b)
    handler.attach(engine, "metric")
    engine.run(batches, max_epochs=1)
    return engine


@pytest.mark.parametrize(
    "spacing, expected",
    [((1.0, 1.0, 2.5), 5.0), ((0.625, 0.625, 0.625), 1.25), (None, 2.0)],
)
def test_hausdorff_in_physical_units(spacing, expected):
    pred, label = _cube_pair(spacing)
    handler = SpacingAwareMetric(HausdorffDistanceMetric(include_background=False, percentile=95))
    engine = _run(handler, [([pred], [label])])
    assert engine.state.metrics["metric"] == pytest.approx(expected)


def test_each_case_uses_its_own_spacing_and_details_are_kept():
    a = _cube_pair((1.0, 1.0, 2.5))
    b = _cube_pair((2.0, 2.0, 3.0))
    handler = SpacingAwareMetric(HausdorffDistanceMetric(include_background=False, percentile=95))
    engine = _run(handler, [([a[0], b[0]], [a[1], b[1]])])
    assert engine.state.metric_details["metric"].flatten().tolist() == pytest.approx([5.0, 6.0])
    assert engine.state.metrics["metric"] == pytest.approx(5.5)


def test_batched_tensors_are_accepted():
    pred, label = _cube_pair((1.0, 1.0, 2.5))
    e_batched = _run(  # a batched MetaTensor iterates into per-case MetaTensors that keep the affine
        SpacingAwareMetric(SurfaceDistanceMetric(include_background=False, symmetric=True)),
        [(pred.unsqueeze(0), label.unsqueeze(0))],
    )
    handler_vox = SpacingAwareMetric(SurfaceDistanceMetric(include_background=False, symmetric=True))
    e_vox = _run(handler_vox, [([pred.as_tensor()], [label.as_tensor()])])
    e_mm = _run(SpacingAwareMetric(SurfaceDistanceMetric(include_background=False, symmetric=True)), [([pred], [label])])
    # only the z distances change (x2.5); the mm value is strictly larger and at most 2.5x the voxel value
    assert e_batched.state.metrics["metric"] == pytest.approx(e_mm.state.metrics["metric"])
    assert e_vox.state.metrics["metric"] < e_mm.state.metrics["metric"] <= 2.5 * e_vox.state.metrics["metric"] + 1e-6


def test_warns_once_when_a_case_has_no_geometry(caplog):
    pred, label = _cube_pair(None)
    handler = SpacingAwareMetric(HausdorffDistanceMetric(include_background=False))
    with caplog.at_level(logging.WARNING):
        _run(handler, [([pred], [label]), ([pred], [label])])
    assert sum("in voxels" in r.getMessage() for r in caplog.records) == 1


def test_label_geometry_wins_over_prediction_geometry():
    pred, _ = _cube_pair((3.0, 3.0, 3.0))
    _, label = _cube_pair((1.0, 1.0, 2.5))
    assert voxel_spacing(label, pred) == [1.0, 1.0, 2.5]
    assert voxel_spacing(torch.zeros(2, 4, 4), pred) == [3.0, 3.0, 3.0]
    assert voxel_spacing(torch.zeros(2, 4, 4)) is None


@pytest.mark.parametrize("output", [([torch.zeros(2, 4, 4)],), ([torch.zeros(2, 4, 4)], [])])
def test_malformed_output_raises_a_clear_error(output):
    handler = SpacingAwareMetric(HausdorffDistanceMetric())
    with pytest.raises(ValueError, match="y_pred|predictions"):
        handler.update(output)
