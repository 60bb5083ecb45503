# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
What the consistency losses computed reaches MONAI's loggers: :meth:`metassl_monai.losses.BranchLosses.stats`
(hand-computed values), ``engine.state.output["ssl_stats"]`` read by ``StatsHandler`` and ``TensorBoardStatsHandler``
(event files read back), ``loss_terms`` left as it was; and :class:`metassl_monai.handlers.RegionTensorBoardHandler`,
a ``monai.handlers.TensorBoardHandler`` that writes the images only.
"""

from __future__ import annotations

import io
import logging
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from monai.handlers import StatsHandler, TensorBoardHandler, TensorBoardStatsHandler
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from metassl_monai.engines import SemiSupervisedTrainer
from metassl_monai.frameworks import CrossPseudoSupervision, MeanTeacher
from metassl_monai.handlers.region_tensorboard import RegionTensorBoardHandler
from metassl_monai.losses import (
    REGION_NAMES,
    BranchLosses,
    HeterogeneousLoss,
    PseudoLabelCrossEntropyLoss,
    QualityWeightedLoss,
    SoftmaxMSELoss,
    WeightedSumLoss,
)

B, C, H, W = 2, 3, 8, 8
STEP = 7


def read_events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


# ----------------------------------------------------------------------------------------------------------------------
# BranchLosses.stats: the values, by hand
# ----------------------------------------------------------------------------------------------------------------------
def four_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    """pred/ref logits (1, 2, 1, 4) whose reference confidences are 0.75, 0.9, 0.8, 0.8 (classes 0, 0, 1, 1) and
    whose prediction agrees on pixels 0 and 2 only."""
    ref = torch.tensor([[math.log(3), 0.0], [math.log(9), 0.0], [0.0, math.log(4)], [0.0, math.log(4)]])
    pred = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    as_image = lambda t: t.T.reshape(1, 2, 1, 4)  # noqa: E731
    return as_image(pred), as_image(ref)


def test_stats_of_a_called_heterogeneous_loss_by_hand():
    losses = BranchLosses(1, unlabeled=HeterogeneousLoss(2), labeled=HeterogeneousLoss(2, threshold_init=0.7))
    pred, ref = four_pixels()
    losses.unlabeled[0](pred, ref)
    # tau_k <- 0.5 mean(conf | class k) + 0.5 * 0.9: class 0 (0.75 + 0.9) / 2, class 1 0.8
    tau = [0.5 * 0.825 + 0.45, 0.5 * 0.8 + 0.45]  # 0.8625, 0.85
    # regions: px0 agrees, 0.75 < tau0 -> US; px1 differs, 0.9 > tau0 -> DC; px2 agrees, 0.8 < tau1 -> US;
    # px3 differs, 0.8 < tau1 -> DS. CE against the reference's class: log(1 + e^-1) where the prediction agrees,
    # log(1 + e) where it does not; term_R = sum_R CE / (n_R + 1)
    ce_agree, ce_differ = math.log1p(math.exp(-1.0)), math.log1p(math.exp(1.0))
    expected = {
        "unlabeled_0/threshold_0": tau[0], "unlabeled_0/threshold_1": tau[1],
        "unlabeled_0/fraction_UC": 0.0, "unlabeled_0/fraction_US": 0.5,
        "unlabeled_0/fraction_DC": 0.25, "unlabeled_0/fraction_DS": 0.25,
        "unlabeled_0/term_UC": 0.0, "unlabeled_0/term_US": 2 * ce_agree / 3,
        "unlabeled_0/term_DC": ce_differ / 2, "unlabeled_0/term_DS": ce_differ / 2,
        # the labeled copy was not called: its thresholds only, still at their initial value
        "labeled_0/threshold_0": 0.7, "labeled_0/threshold_1": 0.7,
    }
    stats = losses.stats()
    assert list(stats) == list(expected)
    assert all(type(v) is float for v in stats.values())
    assert stats == pytest.approx(expected, rel=1e-6, abs=1e-7)
    assert losses.stats() == stats  # reading changes nothing


def test_stats_of_quality_guided_losses_by_hand():
    """PL-QW around MetaSSL and inside a sum: predicted quality q = 0.4, 0.8 -> weights 0, 0.64 (q^2, q >= 0.5)."""

    class MeanPredictor(nn.Module):
        def predict(self, image, mask):
            return image.flatten(1).mean(1, keepdim=True).expand(-1, C - 1)

    g = torch.Generator().manual_seed(0)
    pred, ref = torch.randn(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g)
    image = torch.stack([torch.full((1, H, W), 0.4), torch.full((1, H, W), 0.8)])
    losses = BranchLosses(
        1,
        unlabeled=QualityWeightedLoss(MeanPredictor(), HeterogeneousLoss(C)),
        labeled=WeightedSumLoss([QualityWeightedLoss(MeanPredictor(), PseudoLabelCrossEntropyLoss())]),
    )
    losses.unlabeled[0](pred, ref, image=image)
    losses.labeled[0](pred, ref, image=image)
    stats = losses.stats()
    for stream in ("unlabeled_0", "labeled_0"):
        assert stats[f"{stream}/QualityWeightedLoss_quality"] == pytest.approx(0.6)
        assert stats[f"{stream}/plqw_weight_mean"] == pytest.approx((0.0 + 0.64) / 2)
        assert stats[f"{stream}/plqw_kept_fraction"] == pytest.approx(0.5)
    het = losses.unlabeled[0].base_loss  # the wrapped MetaSSL loss is found and reported too
    assert [stats[f"unlabeled_0/threshold_{k}"] for k in range(C)] == pytest.approx(het.thresholds.tolist())
    assert [stats[f"unlabeled_0/fraction_{r}"] for r in REGION_NAMES] == pytest.approx(
        (torch.bincount(het.region_map.reshape(-1), minlength=4).float() / het.region_map.numel()).tolist()
    )
    assert not any(k.startswith("labeled_0/threshold") for k in stats)  # no MetaSSL loss in the labeled sum


def test_stats_stay_on_the_device_until_read_and_keep_the_values_of_their_call(monkeypatch):
    """stats() converts nothing (on a GPU: no host sync in the iteration that calls it); read later, after the next
    call updated the thresholds in place and replaced the statistics, it still gives the values of its own call."""
    from metassl_monai.engines import LazyFloats
    from metassl_monai.losses import ConfidenceMaskedCrossEntropyLoss

    class MeanPredictor(nn.Module):
        def predict(self, image, mask):
            return image.flatten(1).mean(1, keepdim=True).expand(-1, C - 1)

    losses = BranchLosses(2, unlabeled=QualityWeightedLoss(MeanPredictor(), HeterogeneousLoss(C)),
                          labeled=ConfidenceMaskedCrossEntropyLoss(threshold=0.5))
    g = torch.Generator().manual_seed(0)
    image = torch.stack([torch.full((1, H, W), 0.4), torch.full((1, H, W), 0.8)])

    def call_all():
        logits = lambda: torch.randn(B, C, H, W, generator=g)  # noqa: E731
        for loss in losses.unlabeled:
            loss(logits(), logits(), image=image)
        for loss in losses.labeled:
            loss(logits(), logits())

    def eager() -> dict:
        out = {}
        for name, module in losses.named_loss_modules():
            if getattr(module, "last_quality", None) is not None:
                out[f"{name}/QualityWeightedLoss_quality"] = module.last_quality.float().mean().item()
                out[f"{name}/plqw_weight_mean"] = module.last_weights.float().mean().item()
                out[f"{name}/plqw_kept_fraction"] = (module.last_weights > 0).float().mean().item()
            if getattr(module, "mask_fraction", None) is not None:
                out[f"{name}/confident_fraction"] = module.mask_fraction.item()
            if isinstance(module, HeterogeneousLoss):
                out.update({f"{name}/threshold_{k}": v for k, v in enumerate(module.thresholds.tolist())})
                out.update({f"{name}/fraction_{r}": v for r, v in zip(REGION_NAMES, module.region_fractions.tolist())})
                out.update({f"{name}/term_{r}": v for r, v in zip(REGION_NAMES, module.region_terms.tolist())})
        return out

    call_all()
    expected = eager()
    conversions = []
    for name in ("item", "tolist", "__float__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: conversions.append(_n)
                            or _o(self, *a, **k))
    stats = losses.stats()
    call_all()  # the next iteration: thresholds updated in place, new region statistics and qualities
    assert conversions == [] and isinstance(stats, LazyFloats) and not stats.converted
    assert list(stats) == list(expected) and len(expected) == 2 * (3 + C + 8) + 2
    assert dict(stats) == expected  # bit for bit the floats of .item() at the time of the call
    assert conversions == ["tolist"]  # one float32 group, one device-to-host copy
    assert dict(losses.stats()) == eager() != expected


@pytest.mark.parametrize("unlabeled, labeled", [(None, None), (SoftmaxMSELoss(), None), (nn.MSELoss(), nn.L1Loss())])
def test_losses_without_statistics_give_an_empty_dict(unlabeled, labeled):
    assert BranchLosses(2, unlabeled, labeled).stats() == {}


@pytest.mark.parametrize("num_branches", [1, 2])
def test_copies_are_per_branch_and_per_stream(num_branches):
    loss = HeterogeneousLoss(C)
    losses = BranchLosses(num_branches, unlabeled=loss, labeled=loss)
    copies = [*losses.unlabeled, *losses.labeled]
    assert len(copies) == 2 * num_branches and len({id(m) for m in copies}) == len(copies)
    assert all(m is not loss for m in copies)
    # the checkpoint keys of the per-stream lists are those of the former trainer's ModuleLists
    assert sorted(losses.unlabeled.state_dict()) == [f"{i}.thresholds" for i in range(num_branches)]
    assert sorted(losses.state_dict()) == sorted(
        f"{s}.{i}.thresholds" for s in ("unlabeled", "labeled") for i in range(num_branches)
    )


# ----------------------------------------------------------------------------------------------------------------------
# a trainer's ssl_stats reach StatsHandler and TensorBoardStatsHandler; loss_terms is unchanged
# ----------------------------------------------------------------------------------------------------------------------
def net(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, C, 1))


def stream(n: int, labeled: bool, seed: int) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    items = [{"image": torch.randn(1, H, W, generator=g)} for _ in range(n)]
    if labeled:
        for it in items:
            it["label"] = torch.randint(0, C, (1, H, W), generator=g).float()
    return DataLoader(items, batch_size=2, shuffle=False)


def merged(output: dict) -> dict:
    """The bundles' output_transform of StatsHandler and TensorBoardStatsHandler."""
    return {**output["loss_terms"], **output["ssl_stats"]}


@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_ssl_stats_reach_stats_handler_and_tensorboard(tmp_path, kind):
    if kind == "mt":
        fw = MeanTeacher(net(0), noise_std=0.0, ema_warmup_iterations=0)
    else:
        fw = CrossPseudoSupervision(net(0), net(1))
    params = [p for n in fw.trainable_networks() for p in n.parameters()]
    writer = SummaryWriter(log_dir=str(tmp_path))
    stats_handler = StatsHandler(name="ssl_stats_test", output_transform=merged, key_var_format="{}={!r} ",
                                 epoch_log=False)
    tb_handler = TensorBoardStatsHandler(summary_writer=writer, output_transform=merged, epoch_log=False)
    trainer = SemiSupervisedTrainer(
        "cpu", 1, stream(4, True, 0), fw, torch.optim.SGD(params, lr=0.01),
        lambda p, y: nn.functional.cross_entropy(p, y[:, 0].long()),
        unlabeled_data_loader=stream(4, False, 1),
        branch_losses=BranchLosses(fw.num_branches, HeterogeneousLoss(C),
                                   HeterogeneousLoss(C, confidence_source="prediction")),
        consistency_weight=0.1, train_handlers=[stats_handler, tb_handler],
    )
    logger, log = logging.getLogger("ssl_stats_test"), io.StringIO()
    capture = logging.StreamHandler(log)
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        trainer.run()
    finally:
        logger.removeHandler(capture)
        writer.close()
    out = trainer.state.output
    assert trainer.state.iteration == 2
    # loss_terms (what LossTraceWriter records) has the loss terms only
    suffixes = [""] if kind == "mt" else ["", "_b"]
    assert set(out["loss_terms"]) == {"loss", "consistency_weight"} | {
        f"{t}{s}" for t in ("sup", "cons_u", "cons_l") for s in suffixes
    }
    # ssl_stats: the losses' state after the last iteration, thresholds and fractions checked against the losses
    stats = out["ssl_stats"]
    assert stats == trainer.branch_losses.stats()
    for name, loss in trainer.branch_losses.heterogeneous_losses():
        assert [stats[f"{name}/threshold_{k}"] for k in range(C)] == loss.thresholds.tolist()
        counts = torch.bincount(loss.region_map.reshape(-1), minlength=4).double() / loss.region_map.numel()
        assert [stats[f"{name}/fraction_{r}"] for r in REGION_NAMES] == pytest.approx(counts.tolist(), abs=1e-7)
    streams = {k.split("/")[0] for k in stats}
    assert streams == {f"{s}_{i}" for s in ("unlabeled", "labeled") for i in range(fw.num_branches)}
    # StatsHandler printed every value of the last iteration, exactly
    (last,) = [line for line in log.getvalue().splitlines() if "Iter: 2/2" in line]
    for key, value in {**out["loss_terms"], **stats}.items():
        assert f"{key}={value!r} " in last, key
    # TensorBoardStatsHandler wrote one scalar per key and iteration, the last ones equal to ssl_stats
    acc = read_events(tmp_path)
    assert set(acc.Tags()["scalars"]) == set(out["loss_terms"]) | set(stats)
    for key, value in stats.items():
        events = acc.Scalars(key)
        assert [e.step for e in events] == [1, 2]
        assert events[-1].value == pytest.approx(value, rel=1e-6, abs=1e-7)  # TensorBoard stores float32


def test_supervised_training_has_empty_ssl_stats():
    from metassl_monai.frameworks import Supervised

    fw = Supervised(net(0))
    opt = torch.optim.SGD(fw.network.parameters(), lr=0.01)
    trainer = SemiSupervisedTrainer("cpu", 1, stream(2, True, 0), fw, opt,
                                    lambda p, y: nn.functional.cross_entropy(p, y[:, 0].long()))
    trainer.run()
    assert trainer.state.output["ssl_stats"] == {}


# ----------------------------------------------------------------------------------------------------------------------
# RegionTensorBoardHandler: images only
# ----------------------------------------------------------------------------------------------------------------------
def called_losses(seed: int = 0, labeled: bool = False) -> BranchLosses:
    losses = BranchLosses(2, unlabeled=HeterogeneousLoss(C), labeled=HeterogeneousLoss(C) if labeled else None)
    g = torch.Generator().manual_seed(seed)
    for copies in (losses.unlabeled, losses.labeled):
        for loss in copies:
            loss(torch.randn(B, C, H, W, generator=g), torch.randn(B, C, H, W, generator=g))
    return losses


def fake_engine(branch_losses, output=None):
    g = torch.Generator().manual_seed(1)
    if output is None:
        output = {
            "image": torch.rand(B, 1, H, W, generator=g),
            "label": torch.randint(0, C, (B, 1, H, W), generator=g),
            "pred": torch.randn(B, C, H, W, generator=g),
            "unlabeled_image": torch.rand(B, 1, H, W, generator=g),
        }
    return SimpleNamespace(branch_losses=branch_losses, state=SimpleNamespace(iteration=STEP, output=output))


def write_images(tmp_path, engine, **kwargs):
    writer = SummaryWriter(log_dir=str(tmp_path))
    handler = RegionTensorBoardHandler(summary_writer=writer, **kwargs)
    handler.write_images(engine)
    writer.close()
    return read_events(tmp_path)


def image_names(acc, prefix="metassl"):
    tags = acc.Tags()["images"]
    assert all(t.startswith(f"{prefix}/images/") for t in tags), tags
    return {t.split("/")[-1].rsplit("_", 2)[0] for t in tags}


def test_is_a_monai_tensorboard_handler_and_writes_no_scalars(tmp_path):
    handler = RegionTensorBoardHandler(log_dir=str(tmp_path))
    assert isinstance(handler, TensorBoardHandler) and handler.internal_writer
    handler.close()
    acc = write_images(tmp_path / "w", fake_engine(called_losses(labeled=True)))
    assert acc.Tags()["scalars"] == []
    assert image_names(acc) == {"image", "label", "prediction", "unlabeled_image", "regions_unlabeled_0",
                                "regions_unlabeled_1", "regions_labeled_0", "regions_labeled_1"}


@pytest.mark.parametrize("branch_losses, regions", [
    (BranchLosses(1, SoftmaxMSELoss()), set()),  # no MetaSSL loss: no region map
    (BranchLosses(1, HeterogeneousLoss(C)), set()),  # not called yet: no region map
    (None, set()),  # an engine without branch_losses: the inputs only
])
def test_region_maps_only_where_a_heterogeneous_loss_computed_one(tmp_path, branch_losses, regions):
    acc = write_images(tmp_path, fake_engine(branch_losses))
    assert image_names(acc) == {"image", "label", "prediction", "unlabeled_image"} | regions


def test_region_image_shows_the_region_map_of_the_first_item(tmp_path):
    from PIL import Image

    losses = called_losses(3)
    acc = write_images(tmp_path, fake_engine(losses))
    (tag,) = [t for t in acc.Tags()["images"] if "regions_unlabeled_0" in t]
    (event,) = acc.Images(tag)
    assert event.step == STEP and (event.height, event.width) == (H, W)
    png = np.asarray(Image.open(io.BytesIO(event.encoded_image_string)))
    png = png if png.ndim == 2 else png[..., 0]
    region = losses.unlabeled[0].region_map[0].numpy().astype(np.float64)
    lo, hi = region.min(), region.max()
    expected = (region - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(region)
    np.testing.assert_allclose(png.astype(np.float64), expected, atol=1.0)


def test_non_dict_output_writes_no_images_and_the_prefix_is_used(tmp_path):
    assert write_images(tmp_path / "a", fake_engine(called_losses(), output=[1.0])).Tags()["images"] == []
    acc = write_images(tmp_path / "b", fake_engine(called_losses()), tag_prefix="custom")
    assert "regions_unlabeled_0" in image_names(acc, prefix="custom")


@pytest.mark.parametrize("image_interval, written_at", [(2, [2, 4]), (0, [])])
def test_attach_writes_every_image_interval_iterations(tmp_path, image_interval, written_at):
    from ignite.engine import Engine

    losses = called_losses()
    out = fake_engine(losses).state.output
    engine = Engine(lambda e, b: out)
    engine.branch_losses = losses
    handler = RegionTensorBoardHandler(log_dir=str(tmp_path), image_interval=image_interval)
    handler.attach(engine)
    engine.run(range(5), max_epochs=1)
    handler.close()
    acc = read_events(tmp_path)
    tags = [t for t in acc.Tags()["images"] if "regions_unlabeled_0" in t]
    assert sorted({e.step for t in tags for e in acc.Images(t)}) == written_at
