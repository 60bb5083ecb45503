# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The metassl_acdc bundle through the `python -m monai.bundle` command line, as a user runs it: train, evaluate,
infer. The runs go in-process through tests/bundle_runner.py (the same arguments, the same ``fire`` command line) on
the session's synthetic ACDC-like data (tests/conftest.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from bundle_runner import ACDC_TINY, REAL_ACDC, bundle_root, config_list, configs, run_bundle, training_args

from metassl_monai.data import write_nifti_volumes

BUNDLE = bundle_root("metassl_acdc")
CONFIGS = BUNDLE / "configs"
EVALUATE = config_list(configs("metassl_acdc", "train.json", "evaluate.json"))


@pytest.fixture(scope="module")
def trained(acdc_dataset, tmp_path_factory) -> dict[str, Path]:
    """One short training per framework (the same runs serve the evaluation and inference tests)."""
    runs = {}
    for framework, ssl_loss in (("supervised", "none"), ("mean_teacher", "metassl"), ("cps", "metassl"),
                                ("rdrop", "metassl")):
        out = tmp_path_factory.mktemp(framework)
        run_bundle(*training_args("metassl_acdc", acdc_dataset, out, "--num_iterations", "6", "--val_interval", "3",
                                  "--framework", f"@frameworks#{framework}", "--ssl_loss", f"@ssl_losses#{ssl_loss}",
                                  *ACDC_TINY))
        runs[framework] = out
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["supervised", "mean_teacher", "cps", "rdrop"])
def test_training_writes_best_model_and_full_checkpoint(trained, framework):
    out = trained[framework]
    state = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert any(k.endswith("weight") for k in state), "model.pt is the network's plain state_dict"
    ckpt = torch.load(out / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert {"framework", "optimizer", "lr_scheduler", "trainer"} <= set(ckpt)
    assert ckpt["trainer"]["iteration"] == 6
    if framework == "supervised":
        assert ckpt["consistency_losses"] == {}
        return
    # MetaSSL thresholds are checkpointed per branch (and moved away from their initial 0.9)
    taus = [v for k, v in ckpt["consistency_losses"].items() if k.endswith("thresholds")]
    assert len(taus) == (1 if framework == "mean_teacher" else 2)  # CPS, R-Drop: two branches
    assert all(t.shape == (4,) and not torch.allclose(t, torch.full((4,), 0.9)) for t in taus)
    assert len([k for k in ckpt["labeled_consistency_losses"] if k.endswith("thresholds")]) == len(taus)
    if framework == "mean_teacher":
        assert any(k.startswith("teacher.") for k in ckpt["framework"])
    elif framework == "cps":
        assert any(k.startswith("network_b.") for k in ckpt["framework"])
    else:  # R-Drop: two passes of the one network
        assert all(k.startswith("network.") for k in ckpt["framework"])
    assert list(out.glob("events.out.tfevents.*")), "TensorBoard events are written"


@pytest.mark.slow
def test_evaluating_contract(trained, acdc_dataset, fresh_copy, tmp_path):
    """The reviewers' contract: `run evaluating --dataset_dir DIR --eval_list NAME.list --output_dir OUT`."""
    dataset = fresh_copy(acdc_dataset)  # the list is written into the dataset folder
    (dataset / "some.list").write_text((dataset / "val.list").read_text())
    out = tmp_path / "eval"
    run_bundle("run", "evaluating", "--config_file", EVALUATE, "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(dataset), "--eval_list", "some.list", "--output_dir", str(out),
               "--ckpt_path", str(trained["mean_teacher"] / "model.pt"), "--patch_size", "[32,32]")
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["mean_dice"] <= 1.0
    assert set(metrics["mean_dice_per_class"]) == {"RV", "MYO", "LV"}
    assert metrics["num_cases"] == 2
    per_class = [v for v in metrics["mean_dice_per_class"].values() if v is not None]
    assert metrics["mean_dice"] == pytest.approx(float(np.mean(per_class)))
    for name in ("mean_dice", "mean_jaccard", "hd95", "asd"):
        assert (out / f"{name}_raw.csv").is_file()
    with open(out / "mean_dice_raw.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["filename"] for r in rows] == (dataset / "val.list").read_text().split()
    assert len(list((out / "overlays").glob("*_overlay.png"))) == 2


@pytest.mark.slow
def test_inference_on_nifti_matches_h5_evaluation(trained, acdc_dataset, tmp_path):
    """NIfTI volumes in ACDC orientation give the same segmentation as the h5 evaluation path."""
    nii_dir, out = tmp_path / "nii", tmp_path / "seg"
    write_nifti_volumes(acdc_dataset / "data", nii_dir, spacing=(1.4, 1.4, 9.0))
    ckpt = str(trained["mean_teacher"] / "model.pt")
    run_bundle("run", "--config_file", str(CONFIGS / "inference.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(nii_dir), "--output_dir", str(out), "--ckpt_path", ckpt, "--patch_size", "[32,32]")
    eval_dir = tmp_path / "eval"
    run_bundle("run", "evaluating", "--config_file", EVALUATE, "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(acdc_dataset), "--output_dir", str(eval_dir), "--ckpt_path", ckpt,
               "--patch_size", "[32,32]")
    with open(eval_dir / "mean_dice_raw.csv") as f:
        h5_dice = {r["filename"]: [float(r[c]) for c in ("RV", "MYO", "LV")] for r in csv.DictReader(f)}  # named
    for name in (acdc_dataset / "val.list").read_text().split():
        image = nib.load(nii_dir / f"{name}.nii.gz")
        outputs = list(out.glob(f"{name}*.nii.gz"))
        assert len(outputs) == 1 and outputs[0].name.startswith(name)
        seg = nib.load(outputs[0])
        assert seg.shape == image.shape
        np.testing.assert_allclose(seg.affine, image.affine, atol=1e-5)
        s = np.asarray(seg.dataobj)
        assert set(np.unique(s).tolist()) <= {0, 1, 2, 3}
        gt = np.asarray(nib.load(nii_dir / f"{name}_gt.nii.gz").dataobj)
        for c in (1, 2, 3):
            denom = (s == c).sum() + (gt == c).sum()
            if denom == 0 or np.isnan(h5_dice[name][c - 1]):
                continue
            dice = 2.0 * ((s == c) & (gt == c)).sum() / denom
            assert dice == pytest.approx(h5_dice[name][c - 1], abs=0.02), (name, c)


@pytest.mark.slow
def test_missing_listed_slice_is_named(acdc_dataset, tmp_path):
    broken = tmp_path / "broken"  # the shared dataset's slices, with a list naming one more
    broken.mkdir()
    (broken / "data").symlink_to(acdc_dataset / "data")
    (broken / "val.list").write_text((acdc_dataset / "val.list").read_text())
    slices = (acdc_dataset / "train_slices.list").read_text()
    (broken / "train_slices.list").write_text(slices + "patient999_frame01_slice_0\n")
    proc = run_bundle(*training_args("metassl_acdc", broken, tmp_path / "o", "--num_iterations", "2",
                                     "--val_interval", "1", *ACDC_TINY), check=False)
    assert proc.returncode != 0
    assert "patient999_frame01_slice_0.h5" in proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not REAL_ACDC.is_dir(), reason=f"real ACDC data not found at {REAL_ACDC}")
def test_real_acdc_smoke_training(tmp_path):
    """A few MT + MetaSSL iterations on the real data (7 labeled patients) run and validate on val.list."""
    run_bundle(*training_args("metassl_acdc", REAL_ACDC, tmp_path, "--num_iterations", "4", "--val_interval", "4",
                              "--patch_size", "[64,64]", "--batch_size", "2", "--unlabeled_batch_size", "2",
                              "--cache_rate", "0.0"))
    ckpt = torch.load(tmp_path / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert ckpt["trainer"]["iteration"] == 4
    assert (tmp_path / "model.pt").is_file()


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.skipif(not REAL_ACDC.is_dir(), reason=f"real ACDC data not found at {REAL_ACDC}")
def test_shipped_model_on_real_validation(tmp_path):
    """The shipped models/model.pt reproduces the validation Dice stated in the bundle docs."""
    model = BUNDLE / "models" / "model.pt"
    if not model.is_file():
        pytest.skip("no shipped model in bundles/metassl_acdc/models")
    docs = json.loads((BUNDLE / "docs" / "validation_metrics.json").read_text())
    run_bundle("run", "evaluating", "--config_file",
               config_list(configs("metassl_acdc", "train.json", "train_cpu.json", "evaluate.json")),
               "--bundle_root", str(BUNDLE), "--dataset_dir", str(REAL_ACDC), "--output_dir", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["num_cases"] == 20
    assert metrics["mean_dice"] == pytest.approx(docs["mean_dice"], abs=1e-3)


def test_configs_define_the_workflow_ids():
    """`training` is `%run` (the same workflow); evaluate.json adds `evaluating`; JSON is zoo-formatted."""
    from monai.bundle import ConfigParser

    train = ConfigParser.load_config_file(CONFIGS / "train.json")
    assert train["training"] == "%run" and train["run"][-1] == "$@train#trainer.run()"  # one list, reused by macro
    assert {"initialize", "finalize", "network_def", "network", "optimizer", "train", "validate"} <= set(train)
    evaluate = ConfigParser.load_config_file(CONFIGS / "evaluate.json")
    assert evaluate["run"] == evaluate["evaluating"]
    inference = ConfigParser.load_config_file(CONFIGS / "inference.json")
    assert "run" in inference and inference["network_def"] == train["network_def"]
    for path in sorted(CONFIGS.glob("*.json")):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=4) + "\n", f"{path.name}: 4-space indent, final newline"
