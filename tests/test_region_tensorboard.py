# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :class:`metassl_monai.handlers.RegionTensorBoardHandler`, reading the event files back."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.tensorboard import SummaryWriter

from metassl_monai.handlers.region_tensorboard import RegionTensorBoardHandler
from metassl_monai.losses.heterogeneous import REGION_NAMES, HeterogeneousLoss

B, C, H, W = 2, 3, 8, 8
STEP = 7


def called_loss(seed: int = 0) -> HeterogeneousLoss:
    g = torch.Generator().manual_seed(seed)
    loss = HeterogeneousLoss(C)
    loss(torch.randn(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g))
    return loss


def fake_engine(consistency, labeled=None, output=None):
    g = torch.Generator().manual_seed(1)
    if output is None:
        output = {
            "image": torch.rand(B, 1, H, W, generator=g),
            "label": torch.randint(0, C, (B, 1, H, W), generator=g),
            "pred": torch.randn(B, C, H, W, generator=g),
            "unlabeled_image": torch.rand(B, 1, H, W, generator=g),
        }
    return SimpleNamespace(
        consistency_losses=consistency,
        labeled_consistency_losses=labeled,
        state=SimpleNamespace(iteration=STEP, output=output),
    )


def read_events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def write_all(tmp_path, engine, **kwargs):
    writer = SummaryWriter(log_dir=str(tmp_path))
    handler = RegionTensorBoardHandler(summary_writer=writer, **kwargs)
    handler.write_scalars(engine)
    handler.write_images(engine)
    writer.close()
    return read_events(tmp_path)


def scalar(acc, tag):
    events = acc.Scalars(tag)
    assert len(events) == 1 and events[0].step == STEP
    return events[0].value


@pytest.mark.parametrize("class_names", [None, ["BG", "RV", "MYO"]])
def test_scalars_and_images_of_the_unlabeled_loss(tmp_path, class_names):
    loss = called_loss()
    engine = fake_engine(nn.ModuleList([loss]))
    acc = write_all(tmp_path, engine, class_names=class_names)

    names = class_names or ["0", "1", "2"]
    prefix = "metassl/unlabeled_0"
    expected_scalars = (
        {f"{prefix}/threshold_{n}" for n in names}
        | {f"{prefix}/fraction_{r}" for r in REGION_NAMES}
        | {f"{prefix}/term_{r}" for r in REGION_NAMES}
    )
    assert set(acc.Tags()["scalars"]) == expected_scalars

    thresholds = [scalar(acc, f"{prefix}/threshold_{n}") for n in names]
    assert thresholds == pytest.approx(loss.thresholds.tolist(), abs=1e-6)
    assert loss.thresholds.tolist() != pytest.approx([0.9] * C)  # the call in training mode moved them
    fractions = [scalar(acc, f"{prefix}/fraction_{r}") for r in REGION_NAMES]
    assert sum(fractions) == pytest.approx(1.0, abs=1e-6)
    assert fractions == pytest.approx(loss.region_fractions.tolist(), abs=1e-6)
    counts = torch.bincount(loss.region_map.reshape(-1), minlength=4).float() / loss.region_map.numel()
    assert fractions == pytest.approx(counts.tolist(), abs=1e-6)
    terms = [scalar(acc, f"{prefix}/term_{r}") for r in REGION_NAMES]
    assert terms == pytest.approx(loss.region_terms.tolist(), rel=1e-5)

    images = set(acc.Tags()["images"])
    for name in ("image", "label", "prediction", "regions_unlabeled_0", "unlabeled_image"):
        assert any(t.startswith(f"metassl/images/{name}_") for t in images), (name, images)
    assert {t.split("/")[-1].rsplit("_", 2)[0] for t in images} == {
        "image", "label", "prediction", "regions_unlabeled_0", "unlabeled_image"
    }


def test_region_image_shows_the_region_map_of_the_first_item(tmp_path):
    from PIL import Image

    loss = called_loss(3)
    acc = write_all(tmp_path, fake_engine(nn.ModuleList([loss])))
    (tag,) = [t for t in acc.Tags()["images"] if "regions_unlabeled_0" in t]
    (event,) = acc.Images(tag)
    assert event.step == STEP and (event.height, event.width) == (H, W)
    png = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
    png = png if png.ndim == 2 else png[..., 0]
    region = loss.region_map[0].numpy().astype(np.float64)
    lo, hi = region.min(), region.max()
    expected = (region - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(region)
    np.testing.assert_allclose(png.astype(np.float64), expected, atol=1.0)


def test_non_heterogeneous_losses_are_skipped(tmp_path):
    het = called_loss(1)
    lab = called_loss(2)
    engine = fake_engine(nn.ModuleList([nn.MSELoss(), het]), labeled=[nn.L1Loss(), lab])
    acc = write_all(tmp_path, engine)
    scalars = set(acc.Tags()["scalars"])
    streams = {t.split("/")[1] for t in scalars}
    assert streams == {"unlabeled_1", "labeled_1"}  # indices of the losses in their lists
    assert [scalar(acc, f"metassl/labeled_1/threshold_{k}") for k in range(C)] == pytest.approx(
        lab.thresholds.tolist(), abs=1e-6
    )
    assert [scalar(acc, f"metassl/unlabeled_1/threshold_{k}") for k in range(C)] == pytest.approx(
        het.thresholds.tolist(), abs=1e-6
    )
    images = set(acc.Tags()["images"])
    assert any("regions_unlabeled_1" in t for t in images) and any("regions_labeled_1" in t for t in images)
    assert not any("regions_unlabeled_0" in t for t in images)


def test_only_non_heterogeneous_losses_write_no_scalars(tmp_path):
    engine = fake_engine(nn.ModuleList([nn.MSELoss()]), labeled=None)
    acc = write_all(tmp_path, engine)
    assert acc.Tags()["scalars"] == []
    assert not any("regions" in t for t in acc.Tags()["images"])


def test_uncalled_loss_writes_only_thresholds(tmp_path):
    loss = HeterogeneousLoss(C, threshold_init=0.8)
    acc = write_all(tmp_path, fake_engine(nn.ModuleList([loss])))
    assert set(acc.Tags()["scalars"]) == {f"metassl/unlabeled_0/threshold_{k}" for k in range(C)}
    assert [scalar(acc, f"metassl/unlabeled_0/threshold_{k}") for k in range(C)] == pytest.approx([0.8] * C)
    assert not any("regions" in t for t in acc.Tags()["images"])


def test_non_dict_output_writes_no_images(tmp_path):
    engine = fake_engine(nn.ModuleList([called_loss()]), output=[1.0])
    acc = write_all(tmp_path, engine, tag_prefix="custom")
    assert acc.Tags()["images"] == []
    assert all(t.startswith("custom/unlabeled_0/") for t in acc.Tags()["scalars"])


def test_quality_weighted_metassl_is_found_and_quality_is_logged(tmp_path):
    """A HeterogeneousLoss wrapped by PL-QW is still logged, plus the predicted quality and the PL-QW weights."""
    from metassl_monai.losses import PseudoLabelCrossEntropyLoss, QualityWeightedLoss, WeightedSumLoss

    class HalfPredictor(nn.Module):
        def predict(self, image, mask):
            return image.flatten(1).mean(1, keepdim=True).expand(-1, C - 1)

    g = torch.Generator().manual_seed(0)
    pred, ref = torch.randn(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g)
    image = torch.stack([torch.full((1, H, W), 0.4), torch.full((1, H, W), 0.8)])
    plqw_het = QualityWeightedLoss(HalfPredictor(), HeterogeneousLoss(C))
    plqw_het(pred, ref, image=image)
    summed = WeightedSumLoss([QualityWeightedLoss(HalfPredictor(), PseudoLabelCrossEntropyLoss())])
    summed(pred, ref, image=image)
    acc = write_all(tmp_path, fake_engine(nn.ModuleList([plqw_het]), nn.ModuleList([summed])))
    tags = acc.Tags()["scalars"]
    assert any(t.endswith("unlabeled_0/threshold_0") for t in tags)
    weight = [t for t in tags if t.endswith("unlabeled_0/plqw_weight_mean")]
    kept = [t for t in tags if t.endswith("labeled_0/plqw_kept_fraction")]
    assert weight and kept
    assert acc.Scalars(weight[0])[0].value == pytest.approx((0.0 + 0.64) / 2)  # q = 0.4 -> 0, q = 0.8 -> 0.64
    assert acc.Scalars(kept[0])[0].value == pytest.approx(0.5)
