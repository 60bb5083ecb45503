# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The 3D qgssl_la bundle on synthetic LA volumes (conftest.py's session ``la_dataset``): snapshots → 3D quality
predictor → PL-QW × MetaSSL training → evaluation contract → NIfTI inference with a quality JSON per case. The bundle
runs through the `python -m monai.bundle` command line, in-process (tests/bundle_runner.py)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pytest
import torch
from bundle_runner import LA_PATCH, LA_SHAPE, bundle_root, config_list, configs, run_bundle

from metassl_monai.data import write_uamt_as_nifti

NAME = "qgssl_la"
BUNDLE = bundle_root(NAME)
CONFIGS = BUNDLE / "configs"
# batch size 2 as bundle_runner.LA_TINY: VNet's 1 x 1 x 1 bottleneck of a 16-voxel patch needs 2 values per channel
# for its batch norm (the supervised snapshot training has no unlabeled half to add to the batch)
TINY = ["--patch_size", LA_PATCH, "--batch_size", "2", "--unlabeled_batch_size", "2", "--labeled_cases", "2",
        "--val_cases", "2"]
QUALITY_CPU = ["--quality_patch_size", "[32,32,16]", "--quality_backbone", "resnet10", "--quality_widen_factor", "0.5"]


def train_configs(*extra: str) -> str:
    """``--config_file`` value: train.json + train_cpu.json + ``extra`` (file names in the bundle's configs/)."""
    return config_list(configs(NAME, "train.json", "train_cpu.json", *extra))


@pytest.fixture(scope="module")
def pipeline(la_dataset, tmp_path_factory) -> dict[str, Path]:
    """Snapshots, quality predictor and PL-QW × MetaSSL training on ``la_dataset`` (train.list 8: 2 labeled,
    4 unlabeled, 2 validation; test.list 2); the outputs under ``root``."""
    root = tmp_path_factory.mktemp("qgla")
    data = la_dataset
    common = ["--bundle_root", str(BUNDLE), "--dataset_dir", str(data), *TINY]
    run_bundle("run", "training_snapshots", "--config_file", train_configs("train_snapshots.json"), *common,
               "--output_dir", str(root / "snapshots"), "--num_iterations", "2", "--val_interval", "1")
    run_bundle("run", "training_quality", "--config_file", train_configs("train_quality.json"), *common,
               "--quality_output_dir", str(root / "quality"), "--quality_snapshot_glob",
               str(root / "snapshots" / "snapshot_*.pt"), "--quality_iterations", "4", "--quality_epoch_length", "2",
               "--quality_batch_size", "2", "--quality_snapshot_prob", "0.5")
    run_bundle("run", "training", "--config_file", train_configs(), *common, "--output_dir", str(root / "train"),
               "--num_iterations", "2", "--val_interval", "2", "--ssl_loss", "@ssl_losses#plqw_metassl",
               "--quality_ckpt", str(root / "quality" / "quality_predictor.pt"))
    return {"root": root, "data": data}


@pytest.mark.slow
def test_3d_quality_predictor_report(pipeline):
    report = json.loads((pipeline["root"] / "quality" / "quality_metrics.json").read_text())
    assert report["synthetic"]["n"] == report["real"]["n"] == 2  # the 2 validation cases, once each way
    state = torch.load(pipeline["root"] / "quality" / "quality_predictor.pt", map_location="cpu", weights_only=True)
    conv1 = [v for k, v in state.items() if k.endswith("conv1.weight")][0]
    assert conv1.ndim == 5 and conv1.shape[1] == 3  # 3D, image + 2 mask channels


@pytest.mark.slow
def test_plqw_metassl_3d_training_checkpoint(pipeline):
    ckpt = torch.load(pipeline["root"] / "train" / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert ckpt["trainer"]["iteration"] == 2
    taus = [v for k, v in ckpt["consistency_losses"].items() if k.endswith("thresholds")]
    assert len(taus) == 1 and taus[0].shape == (2,) and bool((taus[0] <= 1).all())


@pytest.mark.slow
def test_evaluating_contract_and_inference_quality_json(pipeline, tmp_path):
    data, model = pipeline["data"], str(pipeline["root"] / "train" / "model.pt")
    run_bundle("run", "evaluating", "--config_file", train_configs("evaluate.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(data), "--eval_list", "test.list", "--output_dir", str(tmp_path / "eval"),
               "--ckpt_path", model, "--patch_size", LA_PATCH)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["num_cases"] == 2
    write_uamt_as_nifti(data, tmp_path / "nii", "test.list", with_labels=False)
    out = tmp_path / "seg"
    run_bundle("run", "--config_file", str(CONFIGS / "inference.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(tmp_path / "nii"), "--output_dir", str(out), "--ckpt_path", model,
               "--quality_ckpt", str(pipeline["root"] / "quality" / "quality_predictor.pt"),
               "--patch_size", LA_PATCH, *QUALITY_CPU)
    for case in (data / "test.list").read_text().split():
        assert nib.load(out / f"{case}_seg.nii.gz").shape == LA_SHAPE
        qc = json.loads((out / f"{case}_quality.json").read_text())
        assert 0.0 <= qc["predicted_mean_dice"] <= 1.0 and qc["aggregation"] == "whole volume"
        assert set(qc["predicted_dice_per_class"]) == {"left_atrium"}


def test_configs_are_zoo_formatted_and_3d():
    from monai.bundle import ConfigParser

    train = ConfigParser.load_config_file(CONFIGS / "train.json")
    assert ConfigParser(train).get_parsed_content("quality_predictor_def#spatial_dims") == 3  # len(quality_patch_size)
    assert train["network_def"]["_target_"] == "VNet"
    assert train["ssl_losses"]["plqw_metassl"]["unlabeled"]["base_loss"]["threshold_max"] == 0.9
    for path in sorted(CONFIGS.glob("*.json")):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=4) + "\n", f"{path.name}: 4-space indent, final newline"
