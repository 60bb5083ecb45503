# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The trainer benchmark: the hand-written loop does the trainer's work (same loss on the same first batch), and the
quick comparison, the quality share and the memory figures come out with their names and finite values."""

import math

import pytest
import torch

from metassl_monai.bench import memory, quality, trainer
from metassl_monai.bench.trainer import QUICK_OVERRIDES, bundle_parser, first_batch_losses


@pytest.mark.parametrize("framework", ["mean_teacher", "cps", "fixmatch"])
def test_hand_loop_computes_the_trainers_loss_on_the_first_batch(acdc_dataset, tmp_path, framework):
    parser = bundle_parser("metassl_acdc", acdc_dataset, tmp_path / "run", torch.device("cpu"), cpu_setting=True,
                           framework=f"@frameworks#{framework}", **QUICK_OVERRIDES)
    trainer_loss, hand_loss = first_batch_losses(parser)
    assert math.isfinite(trainer_loss) and trainer_loss > 0
    assert hand_loss == pytest.approx(trainer_loss, rel=1e-6)


def test_quick_trainer_comparison(acdc_dataset):
    out = trainer.run("cpu", quick=True, dataset_dir=acdc_dataset, block=2, rounds=2)
    by_name = {m.name: m for m in out}
    assert set(by_name) == {"trainer/mean_teacher/median_vs_hand_loop", "trainer/mean_teacher/mean_vs_hand_loop"}
    median = by_name["trainer/mean_teacher/median_vs_hand_loop"]
    assert median.goal == 1.05 and by_name["trainer/mean_teacher/mean_vs_hand_loop"].goal == 1.10
    assert len(median.detail["trainer_s"]) == len(median.detail["hand_s"]) == 4  # 2 rounds of 2 iterations each
    assert all(t > 0 for t in median.detail["trainer_s"] + median.detail["hand_s"])
    assert math.isfinite(median.value) and median.value > 0


@pytest.mark.parametrize("recipe, needs_grad", [("qar", True), ("plqw", False)])
def test_quality_share(acdc_dataset, recipe, needs_grad):
    (m,) = quality.run("cpu", quick=True, dataset_dir=acdc_dataset, recipes=(recipe,), iterations=2)
    assert m.name == f"quality/{recipe}/predictor_share_of_step"
    assert 0 < m.value < 10 and m.goal is None
    assert m.detail["predictor_calls_per_iteration"] == 1.0  # one predictor pass per batch (one branch)
    assert m.detail["gradient_through_predictor"] is needs_grad  # QAR trains through it, PL-QW only reads it
    assert m.detail["predictor_input_shape"][0] == QUICK_OVERRIDES["unlabeled_batch_size"]


def test_memory_figures(acdc_dataset):
    out = memory.run("cpu", quick=True, dataset_dir=acdc_dataset)
    names = [f"memory/metassl_acdc/{loss}/{what}" for loss in ("softmax_mse", "metassl")
             for what in ("peak_mib", "step_increment_mib")]
    assert [m.name for m in out] == names
    peaks, increments = out[0::2], out[1::2]
    assert all(50 < m.value < 20000 for m in peaks)
    assert all(0 <= i.value <= p.value for p, i in zip(peaks, increments))
    assert peaks[0].detail["difference_to_baseline_mib"] == 0
