# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Every bundle trains from your own NIfTI data with one override, ``--datalist``: a MONAI datalist JSON (training /
unlabeled / validation) or a Medical Segmentation Decathlon folder; the 2D bundles' NIfTI slice stream gives the same
batches as the h5 stream of the same data; labels out of range stop training with an error naming the file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import monai
import nibabel as nib
import numpy as np
import pytest
import torch
from bundle_runner import ACDC_TINY, LA_PATCH, LA_SHAPE, LA_TINY, config_parser, configs, config_list, run_bundle, training_args

from metassl_monai.data import write_acdc_datalist, write_msd_heart_dataset


@pytest.fixture(scope="module")
def acdc_nifti(acdc_dataset, tmp_path_factory) -> Path:
    """The synthetic ACDC dataset as NIfTI volumes and dl.json: patient001 labeled, the other patients unlabeled,
    val.list validating (``write_acdc_datalist``: the split of ``--labeled_patients 1``)."""
    root = tmp_path_factory.mktemp("acdc_nifti")
    write_acdc_datalist(acdc_dataset, root, labeled_patients=1).rename(root / "dl.json")
    return root


def batches(n=3, **overrides) -> list[list[dict]]:
    monai.utils.set_determinism(0)
    parser = config_parser("metassl_acdc", patch_size=[32, 32], batch_size=2, unlabeled_batch_size=2,
                           labeled_patients=1, **overrides)
    out = []
    for key in ("train#dataloader", "train#unlabeled_dataloader"):
        loader = parser.get_parsed_content(key)
        torch.manual_seed(0)
        out.append([batch for _, batch in zip(range(n), loader)])
    return out


def test_nifti_slice_stream_gives_the_h5_batches(acdc_dataset, acdc_nifti):
    h5 = batches(dataset_dir=str(acdc_dataset))
    nifti = batches(datalist=str(acdc_nifti / "dl.json"))
    for h5_batches, nifti_batches in zip(h5, nifti):
        assert len(h5_batches) == len(nifti_batches) == 3
        for a, b in zip(h5_batches, nifti_batches):
            for key in ("image", "label"):
                if key in a:
                    torch.testing.assert_close(torch.as_tensor(b[key]), torch.as_tensor(a[key]), atol=1e-5, rtol=0)
    # the comparison can fail: another labeled patient gives other batches
    other = json.loads((acdc_nifti / "dl.json").read_text())
    other["training"], other["unlabeled"][:2] = ([{**u, "label": u["image"].replace(".nii.gz", "_gt.nii.gz")}
                                                  for u in other["unlabeled"][:2]], [
        {"image": t["image"]} for t in other["training"]])
    (acdc_nifti / "other.json").write_text(json.dumps(other))
    moved = batches(n=1, datalist=str(acdc_nifti / "other.json"))
    assert not torch.allclose(torch.as_tensor(moved[0][0]["image"]), torch.as_tensor(h5[0][0]["image"]))


@pytest.mark.slow
@pytest.mark.parametrize("bundle", ["metassl_acdc"])
def test_2d_bundles_train_and_evaluate_from_a_datalist(bundle, acdc_nifti, tmp_path):
    datalist = str(acdc_nifti / "dl.json")
    run = tmp_path / "run"
    run_bundle(*training_args(bundle, "/nonexistent", run, *ACDC_TINY, "--datalist", datalist, "--num_iterations",
                              "4", "--val_interval", "2"))
    assert (run / "checkpoint_final.pt").is_file() and (run / "model.pt").is_file()
    run_bundle("run", "evaluating", "--config_file", config_list(configs(bundle, "train.json", "train_cpu.json",
                                                                         "evaluate.json")),
               "--bundle_root", str(Path(configs(bundle)[0]).parents[1]), "--datalist", datalist,
               "--output_dir", str(tmp_path / "eval"), "--ckpt_path", str(run / "model.pt"),
               "--patch_size", "[32,32]")
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_cases"] == len(json.loads(Path(datalist).read_text())["validation"])
    assert sorted(p.name for p in (tmp_path / "eval" / "overlays").glob("*.png"))


@pytest.mark.slow
@pytest.mark.parametrize("bundle", ["metassl_la"])
def test_3d_bundles_train_and_evaluate_from_an_msd_folder(bundle, tmp_path):
    msd = msd_with_unlabeled(tmp_path / "Task02_Heart")  # unlabeled scans in imagesTs, as the Decathlon ships
    run = tmp_path / "run"
    proc = run_bundle(*training_args(bundle, "/nonexistent", run, *LA_TINY, "--datalist", str(msd),
                                     "--num_iterations", "2", "--val_interval", "2"))
    # labeled 4, validation 1 (ceil(5 x 0.2)), unlabeled: imagesTs (no fallback needed)
    assert "the last 1 labeled case(s) validate" in proc.stdout and "has no unlabeled image" not in proc.stdout
    assert (run / "model.pt").is_file()
    run_bundle("run", "evaluating", "--config_file", config_list(configs(bundle, "train.json", "train_cpu.json",
                                                                         "evaluate.json")),
               "--bundle_root", str(Path(configs(bundle)[0]).parents[1]), "--datalist", str(msd),
               "--output_dir", str(tmp_path / "eval"), "--ckpt_path", str(run / "model.pt"),
               "--patch_size", LA_PATCH)
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["num_cases"] == 1  # ceil(5 x 0.2)


@pytest.mark.slow
def test_labels_out_of_range_name_the_file(acdc_nifti, tmp_path):
    content = json.loads((acdc_nifti / "dl.json").read_text())
    label = acdc_nifti / content["training"][0]["label"]
    bad = tmp_path / "bad_gt.nii.gz"
    img = nib.load(str(label))
    data = np.asarray(img.dataobj).copy()
    data[0, 0, 0] = 7
    nib.save(nib.Nifti1Image(data, img.affine), str(bad))
    content["training"][0]["label"] = str(bad)
    for key in ("unlabeled", "validation"):
        content[key] = [{k: str(acdc_nifti / v) for k, v in it.items()} for it in content[key]]
    content["training"] = [{k: str(acdc_nifti / v) if not Path(v).is_absolute() else v for k, v in it.items()}
                           for it in content["training"]]
    (tmp_path / "dl.json").write_text(json.dumps(content))
    proc = run_bundle(*training_args("metassl_acdc", "/nonexistent", tmp_path / "run", *ACDC_TINY, "--datalist",
                                     str(tmp_path / "dl.json"), "--num_iterations", "2"), check=False)
    assert proc.returncode != 0
    assert "bad_gt.nii.gz" in proc.stderr
    assert "has values in [0, 7], expected class indices 0..3 (num_classes=4)" in proc.stderr


def test_intensity_option_reaches_the_slice_stream(acdc_nifti):
    """``--intensity window --intensity_window [0,0.5]``: the same slices, clipped at 0.5 and scaled to [0, 1]."""
    datalist = str(acdc_nifti / "dl.json")
    minmax = batches(n=1, datalist=datalist)[0][0]["image"]
    window = batches(n=1, datalist=datalist, intensity="window", intensity_window=[0.0, 0.5])[0][0]["image"]
    # the synthetic volumes span [0, 1]: min-max leaves them, the window doubles them and clips at 1 (before the
    # same random augmentation, so the comparison holds where that augmentation is an identity on values)
    assert float(window.max()) == pytest.approx(1.0) and float(window.min()) >= 0.0
    assert not torch.allclose(torch.as_tensor(minmax), torch.as_tensor(window))


def test_too_few_unlabeled_images_name_the_datalist(acdc_nifti, tmp_path):
    content = json.loads((acdc_nifti / "dl.json").read_text())
    content = {key: [{k: str(acdc_nifti / v) for k, v in it.items()} for it in items] for key, items in content.items()}
    content["unlabeled"] = content["unlabeled"][:1]  # one volume: fewer slices than a batch of 16
    (tmp_path / "dl.json").write_text(json.dumps(content))
    proc = run_bundle(*training_args("metassl_acdc", "/nonexistent", tmp_path / "run", *ACDC_TINY, "--datalist",
                                     str(tmp_path / "dl.json"), "--unlabeled_batch_size", "16"), check=False)
    assert proc.returncode != 0
    assert "set unlabeled_batch_size <= " in proc.stderr
    assert f"or add unlabeled images to {tmp_path / 'dl.json'} (or --unlabeled_dir)" in proc.stderr


def msd_with_unlabeled(root: Path) -> Path:
    """A synthetic Task02_Heart folder (5 labeled volumes) with 2 unlabeled scans in imagesTs."""
    msd = write_msd_heart_dataset(root, n_cases=5, shape=LA_SHAPE, seed=2)
    (msd / "imagesTs").mkdir()
    for i, image in enumerate(sorted((msd / "imagesTr").iterdir())[:2]):
        shutil.copy(image, msd / "imagesTs" / f"unlabeled_{i}.nii.gz")
    return msd


@pytest.mark.slow
@pytest.mark.parametrize("bundle", ["qgssl_acdc", "qgssl_la"])
def test_quality_guided_pipeline_from_your_data(bundle, acdc_nifti, tmp_path):
    """The whole QG-SSL pipeline on NIfTI data: segmenter snapshots, the quality predictor, PL-QW x MetaSSL."""
    two_d = bundle.endswith("acdc")
    source = str(acdc_nifti / "dl.json") if two_d else str(msd_with_unlabeled(tmp_path / "Task02_Heart"))
    size = ["--patch_size", "[32,32]"] if two_d else ["--patch_size", LA_PATCH, "--quality_patch_size",
                                                      "[32,32,16]"]
    common = ["--bundle_root", str(Path(configs(bundle)[0]).parents[1]), "--datalist", source, *size,
              "--batch_size", "2", "--unlabeled_batch_size", "2", "--quality_backbone", "resnet10",
              "--quality_widen_factor", "0.5"]

    def files(*extra):
        return config_list(configs(bundle, "train.json", "train_cpu.json", *extra))

    run_bundle("run", "training_snapshots", "--config_file", files("train_snapshots.json"), *common,
               "--output_dir", str(tmp_path / "snapshots"), "--num_iterations", "4", "--val_interval", "2")
    proc = run_bundle("run", "training_quality", "--config_file", files("train_quality.json"), *common,
                      "--quality_output_dir", str(tmp_path / "quality"), "--quality_snapshot_glob",
                      str(tmp_path / "snapshots" / "snapshot_*.pt"), "--quality_iterations", "4",
                      "--quality_epoch_length", "2", "--quality_batch_size", "2", "--quality_snapshot_prob", "0.5",
                      subprocess=True)  # a real process: its whole log is in stdout
    report = json.loads((tmp_path / "quality" / "quality_metrics.json").read_text())
    assert report and (tmp_path / "quality" / "quality_predictor.pt").is_file()
    # the logged best is the lowest validation MAE (lower is better for the predictor)
    maes = [float(line.rsplit(":", 1)[1]) for line in proc.stdout.splitlines()
            if "Metrics -- val_quality_mae:" in line]
    bests = [float(line.split("best value:")[1].split(" at epoch")[0]) for line in proc.stdout.splitlines()
             if "Key metric: val_quality_mae best value:" in line]
    assert len(maes) == 2 and round(bests[-1], 4) == min(maes)
    run_bundle("run", "training", "--config_file", files(), *common, "--output_dir", str(tmp_path / "plqw"),
               "--num_iterations", "2", "--val_interval", "2", "--ssl_loss", "@ssl_losses#plqw_metassl",
               "--quality_ckpt", str(tmp_path / "quality" / "quality_predictor.pt"))
    assert (tmp_path / "plqw" / "model.pt").is_file()
