# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The data benchmark (quick, on the session's synthetic datasets): every setting's figures come out with their names,
units and goals and finite positive values; the loaders it times are the bundle's own, and the step it times consumes
replayed batches. The figures themselves are not asserted (the machines are noisy)."""

import math

import pytest
import torch

from metassl_monai.bench import data

SETTINGS = ("acdc_cpu", "acdc_gpu", "la_cpu")
SPLITS = {"acdc": {"labeled_patients": 1}, "la": {"labeled_cases": 2, "val_cases": 2}}


@pytest.fixture(scope="module")
def figures(acdc_dataset, la_dataset):
    return data.run("cpu", quick=True, dataset_dir=str(acdc_dataset), la_dataset_dir=str(la_dataset),
                    settings=SETTINGS, overrides=SPLITS)


def test_every_setting_has_its_figures(figures):
    by_name = {m.name: m for m in figures}
    for setting in SETTINGS:
        workers = 4 if setting.endswith("gpu") else 0  # train.json's GPU default, train_cpu.json's setting
        prefix = f"data/{setting}"
        expected = {f"{prefix}/loader_images_per_s", f"{prefix}/step_images_per_s", f"{prefix}/loader_to_step_ratio",
                    *(f"{prefix}/loader_images_per_s_workers{n}" for n in sorted({0, 2, workers}))}
        assert expected == {n for n in by_name if n.startswith(prefix + "/")}
        loader = by_name[f"{prefix}/loader_images_per_s"]
        assert loader.unit == "images/s" and loader.goal is None
        assert loader.detail["num_workers"] == workers
        assert loader.value == by_name[f"{prefix}/loader_images_per_s_workers{workers}"].value
        ratio = by_name[f"{prefix}/loader_to_step_ratio"]
        assert ratio.unit == "x" and ratio.goal == 1.0 and ratio.higher_is_better
        assert ratio.value == pytest.approx(loader.value / by_name[f"{prefix}/step_images_per_s"].value)
        step = by_name[f"{prefix}/step_images_per_s"]
        assert step.detail["framework"] == "MeanTeacher" and step.detail["amp"] is False
        assert step.detail["images_per_step"] == step.detail["batch_size"] + step.detail["unlabeled_batch_size"]
    for m in figures:
        assert math.isfinite(m.value) and m.value > 0, m


def test_quick_settings_are_the_bundles_configs_with_tiny_patches(figures):
    by_name = {m.name: m.detail for m in figures}
    assert by_name["data/acdc_cpu/loader_images_per_s"]["configs"] == ["train.json", "train_cpu.json"]
    assert by_name["data/acdc_gpu/loader_images_per_s"]["configs"] == ["train.json"]
    assert by_name["data/acdc_cpu/loader_images_per_s"]["patch_size"] == [32, 32]
    assert by_name["data/la_cpu/loader_images_per_s"]["patch_size"] == [32, 32, 16]
    assert by_name["data/la_cpu/loader_images_per_s"]["bundle"] == "metassl_la"


def test_step_is_timed_on_replayed_batches(acdc_dataset, tmp_path):
    """The trainer of the config gets ReplayBatches of the config's own loaders, and runs warm-up + timed steps."""
    setting = data.SETTINGS["acdc_cpu"]
    parser = data.bundle_parser(setting.bundle, setting.config_files, dataset_dir=str(acdc_dataset),
                                output_dir=str(tmp_path / "run"), **SPLITS["acdc"], **setting.quick)
    seconds, detail = data.step_rate(parser, "cpu", warmup=1, iterations=2)
    trainer = parser.get_parsed_content("train#trainer")
    assert isinstance(trainer.data_loader, data.ReplayBatches)
    assert isinstance(trainer.unlabeled_data_loader, data.ReplayBatches)
    assert trainer.state.iteration == 3 and len(detail["step_seconds"]) == 2
    assert seconds > 0 and detail["images_per_step"] == 4
    assert not any(type(h).__name__ == "ValidationHandler" for h in parser.get_parsed_content("train#handlers"))
    batch = trainer.data_loader.batches[0]
    assert batch["image"].shape == (2, 1, 32, 32) and batch["label"].shape == (2, 1, 32, 32)


def test_loader_rate_counts_both_streams(acdc_dataset, tmp_path):
    setting = data.SETTINGS["acdc_cpu"]
    parser = data.bundle_parser(setting.bundle, setting.config_files, dataset_dir=str(acdc_dataset),
                                output_dir=str(tmp_path / "run"), **SPLITS["acdc"], **setting.quick)
    labeled = parser.get_parsed_content("train#dataloader")
    unlabeled = parser.get_parsed_content("train#unlabeled_dataloader")
    batches = 2 * len(labeled) + 1  # more than two passes: they restart as the trainer's do
    rate, detail = data.loader_rate(labeled, unlabeled, batches=batches, repeats=1, warmup=0)
    assert detail["images_per_call"] == batches * (2 + 2)
    assert rate > 0


def test_bad_setting_is_named():
    with pytest.raises(ValueError, match="nope"):
        data.run("cpu", quick=True, settings=["nope"])


def test_replay_needs_a_batch():
    with pytest.raises(ValueError, match="yielded 0 batch"):
        data.ReplayBatches(torch.utils.data.DataLoader([]), batches=1)
