# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The qgssl_acdc bundle through the `python -m monai.bundle` command line on synthetic data: snapshots → quality
predictor → quality-guided SSL training → evaluation → inference with per-case quality JSON. The runs go in-process
through tests/bundle_runner.py (the same arguments, the same ``fire`` command line)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import pytest
import torch
from bundle_runner import (
    ACDC_TINY,
    REAL_ACDC,
    bundle_root,
    config_list,
    config_parser,
    configs,
    item_with_target,
    run_bundle,
    training_args,
)

from metassl_monai.data import make_acdc_like_dataset, write_nifti_volumes

BUNDLE = bundle_root("qgssl_acdc")
CONFIGS = BUNDLE / "configs"
TINY = list(ACDC_TINY)
TINY[TINY.index("--labeled_patients") + 1] = "2"  # 2 of the pipeline's 4 training patients are labeled


def train_configs(*extra: str) -> str:
    """``--config_file`` of train.json + train_cpu.json + ``extra`` (file names in the bundle's configs/)."""
    return config_list(configs("qgssl_acdc", "train.json", "train_cpu.json", *extra))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("qg")
    # not conftest's acdc_dataset: the tests count 2 validation patients, and 2 of 4 training patients are unlabeled
    data = make_acdc_like_dataset(root / "data", n_train_patients=4, n_val_patients=2, size=(32, 32),
                                  size_jitter=4, depth_range=(4, 5), seed=4)
    common = ["--bundle_root", str(BUNDLE), "--dataset_dir", str(data), *TINY]
    snapshots = root / "snapshots"
    run_bundle("run", "training_snapshots", "--config_file", train_configs("train_snapshots.json"), *common,
               "--output_dir", str(snapshots), "--num_iterations", "6", "--val_interval", "2")
    quality = root / "quality"
    run_bundle("run", "training_quality", "--config_file", train_configs("train_quality.json"), *common,
               "--quality_output_dir", str(quality), "--quality_snapshot_glob", str(snapshots / "snapshot_*.pt"),
               "--quality_iterations", "6", "--quality_epoch_length", "3", "--quality_batch_size", "4",
               "--quality_snapshot_prob", "0.5")
    runs = {}
    for loss in ("plqw_metassl", "qar", "plqw"):
        out = root / loss
        run_bundle(*training_args("qgssl_acdc", data, out, *TINY, "--num_iterations", "4", "--val_interval", "2",
                                  "--ssl_loss", f"@ssl_losses#{loss}",
                                  "--quality_ckpt", str(quality / "quality_predictor.pt")))
        runs[loss] = out
    return {"data": data, "snapshots": snapshots, "quality": quality, **runs}


@pytest.mark.slow
def test_snapshots_are_model_only_checkpoints_of_a_supervised_run(pipeline):
    files = sorted(p.name for p in pipeline["snapshots"].glob("snapshot_*.pt"))
    assert files == [f"snapshot_model_epoch={e}.pt" for e in (1, 2, 3)]
    state = torch.load(pipeline["snapshots"] / files[0], map_location="cpu", weights_only=True)
    assert all(not k.startswith(("teacher.", "network_b.")) for k in state)


@pytest.mark.slow
def test_quality_training_writes_predictor_and_report(pipeline):
    q = pipeline["quality"]
    assert (q / "quality_predictor.pt").is_file() and (q / "quality_scatter.png").is_file()
    report = json.loads((q / "quality_metrics.json").read_text())
    # 2 val patients x 2 frames x 4-5 slices, each once with a synthetic corruption and once with a snapshot mask
    assert report["synthetic"]["n"] == report["real"]["n"] >= 16
    assert report["all"]["n"] == report["synthetic"]["n"] + report["real"]["n"]
    assert 0.0 <= report["all"]["mae"] <= 1.0


@pytest.mark.slow
def test_evaluating_quality_reproduces_the_fixed_validation_set(pipeline, tmp_path):
    common = ["--bundle_root", str(BUNDLE), "--dataset_dir", str(pipeline["data"]), *TINY]
    out = tmp_path / "report"
    run_bundle("run", "evaluating_quality", "--config_file", train_configs("train_quality.json"), *common,
               "--quality_output_dir", str(out),
               "--quality_snapshot_glob", str(pipeline["snapshots"] / "snapshot_*.pt"),
               "--quality_ckpt", str(pipeline["quality"] / "quality_predictor.pt"))
    a = (out / "quality_cases.csv").read_text().splitlines()
    assert len(a) - 1 == json.loads((out / "quality_metrics.json").read_text())["all"]["n"]
    # the validation masks are materialised with a fixed seed: the true Dice column is identical across runs
    b = (pipeline["quality"] / "quality_cases.csv").read_text().splitlines()
    assert [r.split(",")[:6] for r in a] == [r.split(",")[:6] for r in b]


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["plqw_metassl", "qar", "plqw"])
def test_quality_guided_training_checkpoints(pipeline, loss):
    ckpt = torch.load(pipeline[loss] / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert ckpt["trainer"]["iteration"] == 4
    # λ at the last iteration: published QAR / PL-QW are at their maximum (QAR warm-up int(0.15·4) = 0, ramp
    # int(0.2·4) = 0; PL-QW 0 and 0); PL-QW × MetaSSL's sigmoid ramp over int(0.6·4) = 2 iterations is at 0.1
    assert ckpt["trainer"]["consistency_weight"] == pytest.approx({"qar": 0.01, "plqw": 0.25, "plqw_metassl": 0.1}[loss])
    keys = list(ckpt["consistency_losses"])
    assert any("predictor." in k for k in keys), "the frozen predictor travels with the loss"
    if loss == "plqw_metassl":
        taus = [v for k, v in ckpt["consistency_losses"].items() if k.endswith("thresholds")]
        assert len(taus) == 1 and taus[0].shape == (4,)


@pytest.mark.slow
def test_missing_quality_predictor_is_a_clear_error(pipeline, tmp_path):
    proc = run_bundle(*training_args("qgssl_acdc", pipeline["data"], tmp_path / "o", *TINY, "--num_iterations", "2",
                                     "--val_interval", "1", "--quality_ckpt", str(tmp_path / "nope.pt")), check=False)
    assert proc.returncode != 0
    assert "nope.pt" in proc.stdout + proc.stderr and "training_quality" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_evaluating_contract_and_inference_quality_json(pipeline, tmp_path):
    data = pipeline["data"]
    model = str(pipeline["plqw_metassl"] / "model.pt")
    run_bundle("run", "evaluating", "--config_file", train_configs("evaluate.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(data), "--eval_list", "val.list", "--output_dir", str(tmp_path / "eval"),
               "--ckpt_path", model, "--patch_size", "[32,32]")
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert 0.0 <= metrics["mean_dice"] <= 1.0 and metrics["num_cases"] == 4
    nii = tmp_path / "nii"
    write_nifti_volumes(data / "data", nii)
    out = tmp_path / "seg"
    run_bundle("run", "--config_file", str(CONFIGS / "inference.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(nii), "--output_dir", str(out), "--ckpt_path", model,
               "--quality_ckpt", str(pipeline["quality"] / "quality_predictor.pt"), "--patch_size", "[32,32]")
    names = (data / "val.list").read_text().split()
    for name in names:
        assert nib.load(out / f"{name}_seg.nii.gz").shape == nib.load(nii / f"{name}.nii.gz").shape
        qc = json.loads((out / f"{name}_quality.json").read_text())
        assert 0.0 <= qc["predicted_mean_dice"] <= 1.0
        assert set(qc["predicted_dice_per_class"]) == {"RV", "MYO", "LV"}
    from metassl_monai.quality import qc_ranking

    ranking = qc_ranking(str(out), str(tmp_path / "eval" / "mean_dice_raw.csv"))
    assert ranking["n"] == len(names)
    assert ranking["spearman"] is None or -1.0 <= ranking["spearman"] <= 1.0  # None: a 4-iteration model is constant


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not REAL_ACDC.is_dir(), reason=f"real ACDC data not found at {REAL_ACDC}")
def test_shipped_models_on_real_validation(tmp_path):
    """The shipped segmenter reproduces the validation Dice of the docs, and the shipped predictor writes a quality
    JSON for a real volume (the QC path of inference.json with the shipped CPU settings)."""
    model, predictor = BUNDLE / "models" / "model.pt", BUNDLE / "models" / "quality_predictor.pt"
    if not (model.is_file() and predictor.is_file()):
        pytest.skip("no shipped weights in bundles/qgssl_acdc/models")
    docs = json.loads((BUNDLE / "docs" / "validation_metrics.json").read_text())
    run_bundle("run", "evaluating", "--config_file", train_configs("evaluate.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(REAL_ACDC), "--output_dir", str(tmp_path / "eval"))
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_cases"] == 20
    assert metrics["mean_dice"] == pytest.approx(docs["mean_dice"], abs=1e-3)
    nii = tmp_path / "nii"
    write_nifti_volumes(REAL_ACDC / "data", nii, names=["patient028_frame01"])
    run_bundle("run", "--config_file", str(CONFIGS / "inference.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(nii), "--output_dir", str(tmp_path / "seg"))
    qc = json.loads((tmp_path / "seg" / "patient028_frame01_quality.json").read_text())
    assert 0.0 < qc["predicted_mean_dice"] < 1.0


def test_configs_define_the_workflow_ids():
    from monai.bundle import ConfigParser

    train = ConfigParser.load_config_file(CONFIGS / "train.json")
    assert train["training"] == "%run" and train["run"][-1] == "$@train#trainer.run()"  # one list, reused by macro
    assert {"qar", "plqw", "mt_qar", "mt_plqw", "plqw_metassl", "softmax_mse", "metassl"} <= set(train["ssl_losses"])
    quality = ConfigParser.load_config_file(CONFIGS / "train_quality.json")
    assert {"training_quality", "evaluating_quality"} <= set(quality)
    assert "training_snapshots" in ConfigParser.load_config_file(CONFIGS / "train_snapshots.json")
    for path in sorted(CONFIGS.glob("*.json")):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=4) + "\n", f"{path.name}: 4-space indent, final newline"


def test_train_json_alone_loads_the_shipped_cpu_predictor():
    """train.json defines the GPU-size predictor; the shipped CPU-size checkpoint describes itself and is built as
    it was trained (what MONAI Label's /train and the README's GPU command run)."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(configs("qgssl_acdc", "train.json"))
    parser["bundle_root"] = str(BUNDLE)
    assert parser.get_parsed_content("quality_predictor_def").architecture["backbone"] == "resnet18"
    predictor = parser.get_parsed_content("quality_predictor")
    assert predictor.architecture == {"spatial_dims": 2, "num_classes": 4, "in_channels": 1, "spatial_size": [64, 64],
                                      "backbone": "resnet10", "widen_factor": 0.5, "hidden": 256,
                                      "dropout": [0.15, 0.075]}
    assert not predictor.training and not any(p.requires_grad for p in predictor.parameters())


QGSSL_TEACHER = {"ema_decay": 0.999, "ema_warmup_iterations": 1000, "ema_warmup_momentum": 0.5, "noise_std": 0.0,
                 "noise_clip": 0.2, "teacher_train_mode": False}
SSL4MIS_TEACHER = {"ema_decay": 0.99, "ema_warmup_iterations": 100, "ema_warmup_momentum": 1.0, "noise_std": 0.1,
                   "noise_clip": 0.2, "teacher_train_mode": True}
METASSL_TEACHER = {**SSL4MIS_TEACHER, "noise_std": 0.0}


@pytest.mark.parametrize(
    "loss, teacher, lam",
    [
        # as published: λ 0 for 30 of 200 epochs, linear over 40 to 0.01 (QAR); warm-up 15, linear over 30 to 0.25
        # (PL-QW); 2000 iterations = 200 epochs of 10 -> QAR 0 until 300, 0.01 at 700; PL-QW 0 until 150, 0.25 at 450
        ("qar", QGSSL_TEACHER, {0: 0.0, 300: 0.0, 500: 0.005, 700: 0.01, 2000: 0.01}),
        ("plqw", QGSSL_TEACHER, {0: 0.0, 150: 0.0, 300: 0.125, 450: 0.25, 2000: 0.25}),
        # Mean Teacher + X: SSL4MIS's noisy teacher and the sigmoid ramp of 0.1 over 60 % of the run (1200 iterations)
        ("mt_qar", SSL4MIS_TEACHER, {0: 0.1 * 0.006737947, 600: 0.1 * 0.28650480, 1200: 0.1}),
        ("mt_plqw", SSL4MIS_TEACHER, {1200: 0.1}),
        ("plqw_metassl", METASSL_TEACHER, {1200: 0.1}),
    ],
)
def test_recipes_bring_their_teacher_loss_and_lambda_schedule(loss, teacher, lam):
    from metassl_monai.losses import (
        PseudoLabelDiceCELoss,
        QualityAwareRegularizationLoss,
        QualityWeightedLoss,
        SoftmaxMSELoss,
        WeightedSumLoss,
    )

    parser = config_parser("qgssl_acdc", "train.json", ssl_loss=f"@ssl_losses#{loss}", num_iterations=2000,
                           val_interval=10)
    assert parser.get_parsed_content("total_iterations") == 2000
    framework = parser.get_parsed_content("train#trainer#framework")  # the recipe's teacher applied
    assert type(framework).__name__ == "MeanTeacher" and framework.teacher_settings == teacher
    schedule = parser.get_parsed_content(item_with_target(parser, "train#handlers", "ConsistencyRampUp")).schedule
    assert {t: schedule(t) for t in lam} == pytest.approx(lam, rel=1e-6)
    unlabeled = parser.get_parsed_content("ssl_loss")["unlabeled"]
    if loss == "qar":
        assert isinstance(unlabeled, QualityAwareRegularizationLoss)  # L_sup + λ QAR, nothing else
    elif loss == "plqw":
        assert isinstance(unlabeled, QualityWeightedLoss) and isinstance(unlabeled.base_loss, PseudoLabelDiceCELoss)
        assert unlabeled.base_loss.dice.include_background is False  # L_qw's Dice on the foreground classes
    elif loss.startswith("mt_"):
        assert isinstance(unlabeled, WeightedSumLoss) and isinstance(unlabeled.losses[0], SoftmaxMSELoss)
        guided = QualityAwareRegularizationLoss if loss == "mt_qar" else QualityWeightedLoss
        assert isinstance(unlabeled.losses[1], guided)
        assert list(unlabeled.weights) == [1.0, 0.1 if loss == "mt_qar" else 2.5]
