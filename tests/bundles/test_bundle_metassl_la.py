# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The 3D metassl_la bundle through the `python -m monai.bundle` command line on synthetic LA volumes: train,
evaluate, infer. The runs are in-process (tests/bundle_runner.py) on conftest.py's session ``la_dataset``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from bundle_runner import LA_PATCH, LA_SHAPE, LA_TINY, bundle_root, config_list, configs, run_bundle, training_args

from metassl_monai.data import (
    la_uamt_split,
    write_msd_heart_dataset,
    write_uamt_as_nifti,
    write_uamt_la_dataset,
)
from metassl_monai.data.la import uamt_case_path

NAME = "metassl_la"
BUNDLE = bundle_root(NAME)
CONFIGS = BUNDLE / "configs"
EVALUATE = configs(NAME, "train.json", "train_cpu.json", "evaluate.json")
SHAPE = LA_SHAPE  # la_dataset's volumes
PATCH = LA_PATCH


@pytest.fixture
def dataset(la_dataset) -> Path:
    """UA-MT layout: train.list of 8 cases (2 labeled, 4 unlabeled, 2 validation), test.list of 2 (read-only)."""
    return la_dataset


@pytest.fixture(scope="module")
def trained(la_dataset, tmp_path_factory) -> dict[str, Path]:
    """Short MT, CPS and R-Drop runs with MetaSSL (the same runs serve evaluation and inference)."""
    runs = {}
    for framework, iterations in (("mean_teacher", 4), ("cps", 2), ("rdrop", 2)):
        out = tmp_path_factory.mktemp(framework)
        run_bundle(*training_args(NAME, la_dataset, out, "--num_iterations", str(iterations), "--val_interval", "2",
                                  "--framework", f"@frameworks#{framework}", *LA_TINY))
        runs[framework] = out
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("framework, iterations", [("mean_teacher", 4), ("cps", 2), ("rdrop", 2)])
def test_training_writes_best_model_and_full_checkpoint(trained, framework, iterations):
    out = trained[framework]
    state = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert any(k.endswith("weight") for k in state), "model.pt is the network's plain state_dict"
    ckpt = torch.load(out / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert ckpt["trainer"]["iteration"] == iterations
    # the 3D MetaSSL thresholds: one (binary) pair per branch and term (the cap at 0.9 applies to the value used)
    for key in ("consistency_losses", "labeled_consistency_losses"):
        taus = [v for k, v in ckpt[key].items() if k.endswith("thresholds")]
        assert len(taus) == (1 if framework == "mean_teacher" else 2)  # CPS, R-Drop: two branches
        for tau in taus:
            assert tau.shape == (2,) and bool((tau > 0).all()) and bool((tau <= 1).all())
        assert any(not torch.allclose(t, torch.full((2,), 0.9)) for t in taus), "thresholds were updated"
    if framework == "rdrop":  # two passes of the one network
        assert all(k.startswith("network.") for k in ckpt["framework"])
    else:
        assert any(k.startswith("teacher." if framework == "mean_teacher" else "network_b.") for k in ckpt["framework"])
    assert list(out.glob("events.out.tfevents.*")), "TensorBoard events are written"


@pytest.mark.slow
def test_training_validates_on_held_out_training_cases_not_on_test_list(trained, dataset):
    """Model selection uses the last val_cases of train.list; test.list is never read by training."""
    split = la_uamt_split(dataset, labeled_cases=2, val_cases=2)
    test_cases = set((dataset / "test.list").read_text().split())
    assert not test_cases & {d["name"] for d in split["validation"]}
    assert not test_cases & {Path(d["image"]).parent.name for d in split["labeled"] + split["unlabeled"]}


@pytest.mark.slow
def test_evaluating_contract(trained, dataset, fresh_copy, tmp_path):
    """`run evaluating --dataset_dir DIR --eval_list NAME.list --output_dir OUT` → OUT/metrics.json with mean_dice."""
    dataset = fresh_copy(dataset)  # some.list is written into it
    (dataset / "some.list").write_text((dataset / "test.list").read_text())
    out = tmp_path / "eval"
    run_bundle("run", "evaluating", "--config_file", config_list(EVALUATE),
               "--bundle_root", str(BUNDLE), "--dataset_dir", str(dataset), "--eval_list", "some.list",
               "--output_dir", str(out), "--ckpt_path", str(trained["mean_teacher"] / "model.pt"),
               "--patch_size", PATCH)
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["mean_dice"] <= 1.0 and metrics["num_cases"] == 2
    assert set(metrics["mean_dice_per_class"]) == {"left_atrium"}
    for name in ("mean_dice", "mean_jaccard", "hd95", "asd"):
        assert (out / f"{name}_raw.csv").is_file()
    with open(out / "mean_dice_raw.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["filename"] for r in rows] == (dataset / "test.list").read_text().split()
    assert len(list((out / "overlays").glob("*_overlay.png"))) == 2


@pytest.mark.slow
def test_distances_are_in_mm_when_the_h5_has_a_spacing(trained, dataset, tmp_path):
    """The same cases with a `spacing` attribute (as convert_la writes) give HD95/ASD scaled by the voxel size."""
    scaled = tmp_path / "LA_mm"
    cases = (dataset / "test.list").read_text().split()
    for case in cases:
        target = uamt_case_path(scaled, case)
        target.parent.mkdir(parents=True)
        with h5py.File(uamt_case_path(dataset, case), "r") as src, h5py.File(target, "w") as dst:
            for key in ("image", "label"):
                dst.create_dataset(key, data=src[key][()])
            dst.attrs["spacing"] = np.array([2.0, 2.0, 2.0])  # isotropic: every distance exactly doubles
    (scaled / "test.list").write_text("\n".join(cases) + "\n")
    results = {}
    for name, root in (("voxels", dataset), ("mm", scaled)):
        run_bundle("run", "evaluating", "--config_file", config_list(EVALUATE),
                   "--bundle_root", str(BUNDLE), "--dataset_dir", str(root), "--output_dir", str(tmp_path / name),
                   "--ckpt_path", str(trained["mean_teacher"] / "model.pt"), "--patch_size", PATCH)
        results[name] = json.loads((tmp_path / name / "metrics.json").read_text())
    assert results["mm"]["mean_dice"] == pytest.approx(results["voxels"]["mean_dice"], abs=1e-6)
    for metric in ("hd95", "asd"):
        if results["voxels"][metric] is not None and np.isfinite(results["voxels"][metric]):
            assert results["mm"][metric] == pytest.approx(2.0 * results["voxels"][metric], rel=1e-4)


@pytest.mark.slow
def test_inference_on_nifti_matches_h5_evaluation(trained, dataset, tmp_path):
    """`la_to_nifti` volumes through inference.json give the per-case Dice of the h5 evaluation, with the input's
    shape and affine."""
    nii_dir, out, eval_dir = tmp_path / "nii", tmp_path / "seg", tmp_path / "eval"
    write_uamt_as_nifti(dataset, nii_dir, "test.list")
    ckpt = str(trained["mean_teacher"] / "model.pt")
    run_bundle("run", "--config_file", str(CONFIGS / "inference.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(nii_dir), "--output_dir", str(out), "--ckpt_path", ckpt, "--patch_size", PATCH,
               "--sw_overlap", "0.25")
    run_bundle("run", "evaluating", "--config_file", config_list(EVALUATE),
               "--bundle_root", str(BUNDLE), "--dataset_dir", str(dataset), "--output_dir", str(eval_dir),
               "--ckpt_path", ckpt, "--patch_size", PATCH)
    with open(eval_dir / "mean_dice_raw.csv") as f:
        h5_dice = {r["filename"]: float(r["left_atrium"]) for r in csv.DictReader(f)}
    for name in (dataset / "test.list").read_text().split():
        image = nib.load(nii_dir / f"{name}.nii.gz")
        seg_path = out / f"{name}_seg.nii.gz"
        assert seg_path.is_file()
        seg = nib.load(seg_path)
        assert seg.shape == image.shape == SHAPE
        np.testing.assert_allclose(seg.affine, image.affine, atol=1e-5)
        s = np.asarray(seg.dataobj)
        assert set(np.unique(s).tolist()) <= {0, 1}
        gt = np.asarray(nib.load(nii_dir / f"{name}_gt.nii.gz").dataobj)
        dice = 2.0 * ((s == 1) & (gt == 1)).sum() / max((s == 1).sum() + (gt == 1).sum(), 1)
        assert dice == pytest.approx(h5_dice[name], abs=0.02), name


@pytest.mark.slow
def test_msd_task02_training_and_inference(tmp_path):
    """The Decathlon layout trains through train_msd.json (test images as unlabeled) and its NIfTI outputs keep
    the 1.25 x 1.25 x 1.37 mm geometry."""
    root = write_msd_heart_dataset(tmp_path / "Task02_Heart", n_cases=6, n_test=1, shape=SHAPE, seed=2)
    out = tmp_path / "train"
    run_bundle(*training_args(NAME, root, out, "--num_iterations", "2", "--val_interval", "2", *LA_TINY,
                              config_files=["train_msd.json"]))
    assert (out / "model.pt").is_file()
    eval_dir = tmp_path / "eval"  # the documented MSD evaluation: its validation split, NIfTI loaders
    run_bundle("run", "evaluating", "--config_file",
               config_list(configs(NAME, "train.json", "train_cpu.json", "train_msd.json", "evaluate.json")),
               "--bundle_root", str(BUNDLE), "--dataset_dir", str(root), "--output_dir", str(eval_dir),
               "--validate#datalist", "$@train#split()['validation']", "--ckpt_path", str(out / "model.pt"), *LA_TINY)
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["num_cases"] == 2 and 0.0 <= metrics["mean_dice"] <= 1.0
    with open(eval_dir / "mean_dice_raw.csv") as f:
        assert [r["filename"] for r in csv.DictReader(f)] == ["la_007", "la_008"]
    seg_dir = tmp_path / "seg"
    run_bundle("run", "--config_file", str(CONFIGS / "inference.json"), "--bundle_root", str(BUNDLE),
               "--dataset_dir", str(root / "imagesTs"), "--output_dir", str(seg_dir),
               "--ckpt_path", str(out / "model.pt"), "--patch_size", PATCH)
    seg = nib.load(seg_dir / "la_009_seg.nii.gz")
    assert seg.shape == SHAPE and seg.header.get_zooms() == pytest.approx((1.25, 1.25, 1.37))


@pytest.mark.slow
def test_missing_listed_case_is_named(dataset, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "2018LA_Seg_Training Set").symlink_to(dataset / "2018LA_Seg_Training Set")
    (broken / "train.list").write_text((dataset / "train.list").read_text() + "NOSUCHCASE0000000000\n")
    proc = run_bundle(*training_args(NAME, broken, tmp_path / "o", "--num_iterations", "1", "--val_interval", "1",
                                     *LA_TINY), check=False)
    assert proc.returncode != 0
    assert "NOSUCHCASE0000000000/mri_norm2.h5" in proc.stdout + proc.stderr
    assert not (tmp_path / "o" / "model.pt").exists()


def test_configs_define_the_workflow_ids_and_paper_defaults():
    """`training` is `%run`; evaluate.json adds `evaluating`; the GPU defaults are the paper's; zoo JSON format."""
    from monai.bundle import ConfigParser

    train = ConfigParser.load_config_file(CONFIGS / "train.json")
    assert train["training"] == "%run" and train["run"][-1] == "$@train#trainer.run()"  # one list, reused by macro
    assert {"initialize", "finalize", "network_def", "network", "optimizer", "train", "validate"} <= set(train)
    assert train["network_def"]["_target_"] == "VNet"
    parsed = ConfigParser(train)  # patch and batch sizes are read through MONAI Label's displayable_configs
    assert parsed.get_parsed_content("patch_size") == [112, 112, 80]
    assert tuple(parsed.get_parsed_content(k) for k in ("batch_size", "unlabeled_batch_size", "learning_rate")) == (
        2, 2, 0.01)
    assert train["labeled_cases"] in (8, 16)
    evaluate = ConfigParser.load_config_file(CONFIGS / "evaluate.json")
    assert evaluate["run"] == evaluate["evaluating"] and evaluate["eval_list"] == "test.list"
    inference = ConfigParser.load_config_file(CONFIGS / "inference.json")
    assert "run" in inference and inference["network_def"] == train["network_def"]
    assert inference["patch_size"] == parsed.get_parsed_content("patch_size")
    for path in sorted(CONFIGS.glob("*.json")):
        text = path.read_text()
        assert text == json.dumps(json.loads(text), indent=4) + "\n", f"{path.name}: 4-space indent, final newline"


def test_parsed_training_config_builds_3d_objects(tmp_path):
    """The config resolves to a 3D VNet, the MetaSSL losses with the 3D settings, and the UA-MT split."""
    from monai.bundle import ConfigParser

    # its own 5-case train.list: the asserted split (2 labeled, 2 unlabeled, 1 validation) needs exactly 5 cases
    root = write_uamt_la_dataset(tmp_path / "LA", n_cases=6, n_test=1, shape=(32, 32, 16), seed=1)
    parser = ConfigParser()
    parser.read_config([CONFIGS / "train.json", CONFIGS / "train_cpu.json"])
    parser.update({"dataset_dir": str(root), "bundle_root": str(BUNDLE), "labeled_cases": 2, "val_cases": 1,
                   "device": "$torch.device('cpu')"})
    parser.parse()
    split = parser.get_parsed_content("train#split")()
    assert [len(split[k]) for k in ("labeled", "unlabeled", "validation")] == [2, 2, 1]
    loss = parser.get_parsed_content("ssl_losses#metassl#unlabeled")
    assert loss.threshold_max == 0.9 and loss.split_background
    lab = parser.get_parsed_content("ssl_losses#metassl#labeled")
    # labeled ratio form with r_L = 1.5 (3D): UC W, US W/r, DC W/r^3, DS W/r^2
    assert lab.weights[:4].tolist() == pytest.approx([50.0, 50 / 1.5, 50 / 1.5**3, 50 / 1.5**2])
    net = parser.get_parsed_content("network_def")
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 32, 32, 16)).shape == (1, 2, 32, 32, 16)
