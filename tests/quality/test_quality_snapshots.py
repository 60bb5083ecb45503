# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Snapshot masks (imperfect real segmentations) for the quality predictor's training data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
from monai.data import MetaTensor

from metassl_monai.quality.snapshots import RandSnapshotMaskd, find_snapshots, load_snapshot_networks


class Threshold(nn.Module):
    """A 'segmenter' whose output class is 1 where image > t (two logits)."""

    def __init__(self, t: float = 0.5) -> None:
        super().__init__()
        self.t = nn.Parameter(torch.tensor(t))

    def forward(self, x):
        return torch.cat([torch.zeros_like(x), x - self.t], dim=1)


def _save(path, t):
    torch.save(Threshold(t).state_dict(), path)
    return path


def test_find_snapshots_sorts_by_epoch(tmp_path):
    for e in (10, 2, 1):
        _save(tmp_path / f"snapshot_model_epoch={e}.pt", 0.1 * e)
    found = find_snapshots(tmp_path / "snapshot_*.pt")
    assert [p.split("=")[-1] for p in found] == ["1.pt", "2.pt", "10.pt"]
    with pytest.raises(FileNotFoundError, match="training_snapshots"):
        find_snapshots(tmp_path / "nothing_*.pt")


def test_load_snapshot_networks_frozen_and_errors(tmp_path):
    paths = [_save(tmp_path / "a.pt", 0.2), _save(tmp_path / "b.pt", 0.7)]
    nets = load_snapshot_networks(Threshold(), paths)
    assert [float(n.t) for n in nets] == pytest.approx([0.2, 0.7])
    assert all(not n.training and not n.t.requires_grad for n in nets)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_snapshot_networks(Threshold(), [tmp_path / "missing.pt"])
    torch.save({"other": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(RuntimeError, match="bad.pt"):
        load_snapshot_networks(Threshold(), [tmp_path / "bad.pt"])


def _item(kind="tensor", source=None):
    image = torch.linspace(0, 1, 16).reshape(1, 4, 4)
    mask = torch.zeros(1, 4, 4, dtype=torch.uint8)
    if kind == "meta":
        image, mask = MetaTensor(image), MetaTensor(mask, meta={"x": 1})
    if kind == "numpy":
        image, mask = image.numpy(), mask.numpy()
    d = {"image": image, "mask": mask, "corruption": "identity"}
    if source:
        d["source"] = source
    return d


@pytest.mark.parametrize("kind", ["tensor", "meta", "numpy"])
def test_prob_one_always_uses_a_snapshot(kind):
    t = RandSnapshotMaskd("image", [Threshold(0.5)], prob=1.0)
    out = t(_item(kind))
    expected = (torch.linspace(0, 1, 16).reshape(1, 4, 4) > 0.5).to(torch.uint8)
    mask = out["mask"]
    assert type(mask) is type(_item(kind)["mask"]) and mask.dtype == _item(kind)["mask"].dtype
    np.testing.assert_array_equal(np.asarray(mask), expected.numpy())
    assert out["corruption"] == "snapshot:0"
    if kind == "meta":
        assert mask.meta["x"] == 1


def test_prob_zero_and_source_switch():
    t = RandSnapshotMaskd("image", [Threshold(0.5)], prob=0.0)
    assert t(_item())["corruption"] == "identity"
    assert t(_item(source="snapshot"))["corruption"] == "snapshot:0"
    t1 = RandSnapshotMaskd("image", [Threshold(0.5)], prob=1.0)
    assert t1(_item(source="synthetic"))["corruption"] == "identity"


def test_frequency_and_choice_follow_the_random_state():
    nets = [Threshold(0.2), Threshold(0.8)]
    t = RandSnapshotMaskd("image", nets, prob=0.3)
    t.set_random_state(seed=0)
    ops = [t(_item())["corruption"] for _ in range(2000)]
    used = [o for o in ops if o.startswith("snapshot")]
    assert abs(len(used) / 2000 - 0.3) < 0.04
    assert abs(used.count("snapshot:0") / len(used) - 0.5) < 0.08
    t.set_random_state(seed=0)
    assert [t(_item())["corruption"] for _ in range(50)] == ops[:50]


def test_argument_errors():
    with pytest.raises(ValueError, match="one image key"):
        RandSnapshotMaskd(["image", "label"], [Threshold()])
    with pytest.raises(ValueError, match="at least one"):
        RandSnapshotMaskd("image", [], prob=0.1)
    with pytest.raises(ValueError, match="no snapshot"):
        RandSnapshotMaskd("image", [], prob=0.0)(_item(source="snapshot"))
