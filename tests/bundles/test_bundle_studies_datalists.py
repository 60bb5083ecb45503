# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The train configs of every bundle with MONAI Label's datalist (NIfTI studies, labels in labels/final) and with the
bundles' own HDF5 data: which pipelines, which unlabeled stream, where the model goes — parsed, not trained
(tests/bundles/test_monailabel.py trains through a real MONAI Label server).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
from bundle_runner import configs
from monai.bundle import ConfigParser

from metassl_monai.data import acdc_slice_datalists, make_acdc_like_dataset, write_nifti_volumes

BUNDLE_NAMES = ["metassl_acdc", "qgssl_acdc", "metassl_la", "qgssl_la"]


def parse(bundle: str, tmp_path: Path, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(configs(bundle, "train.json")[0])
    parser.update({"bundle_root": str(tmp_path / "bundle"), "device": "cpu", **overrides})
    return parser


@pytest.fixture(scope="module")
def acdc(tmp_path_factory):
    """Synthetic SSL4MIS layout + its validation volumes as NIfTI studies: 2 with labels/final labels, 2 without."""
    # not conftest's acdc_dataset: 4 validation volumes (2 patients) are needed, and the studies are written into it
    root = make_acdc_like_dataset(tmp_path_factory.mktemp("acdc") / "ACDC", n_train_patients=2, n_val_patients=2,
                                  size=(32, 32), depth_range=(4, 5), size_jitter=0, seed=3)
    studies = root / "studies"
    names = (root / "val.list").read_text().split()
    write_nifti_volumes(root / "data", studies, names=names, with_labels=True)
    (studies / "labels" / "final").mkdir(parents=True)
    for name in names[:2]:  # MONAI Label's layout: labels of submitted studies under labels/final/<id>
        (studies / f"{name}_gt.nii.gz").rename(studies / "labels" / "final" / f"{name}.nii.gz")
    for name in names[2:]:
        (studies / f"{name}_gt.nii.gz").unlink()
    return root, studies, names


def _ml_datalist(studies: Path, names: list[str]) -> list[dict]:
    return [{"image": str(studies / f"{n}.nii.gz"), "label": str(studies / "labels" / "final" / f"{n}.nii.gz")}
            for n in names]


@pytest.mark.parametrize("bundle", BUNDLE_NAMES)
def test_monailabel_datalist_switches_to_volumes_and_studies_without_labels(bundle, acdc, tmp_path):
    _, studies, names = acdc
    parser = parse(bundle, tmp_path, **{
        "train#dataset#data": _ml_datalist(studies, names[:1]),
        "validate#dataset#data": _ml_datalist(studies, names[1:2]),
        "train#trainer#max_epochs": 3,
        "displayable_configs": {"patch_size": "16,16" if "acdc" in bundle else "16,16,8", "epoch_length": 5,
                                "batch_size": 1, "unlabeled_batch_size": 1, "num_workers": 0},
        # the synthetic studies are ACDC-like (labels 0..3): the LA bundles' input check would rightly reject them
        "num_classes": 4,
    })
    # the unlabeled stream: the two studies without a label (names[1] is labeled, held out for validation)
    assert parser.get_parsed_content("train#unlabeled_dataset#data") == [
        {"image": str(studies / f"{n}.nii.gz")} for n in names[2:]
    ]
    for stage in ("train", "validate"):  # the studies' loaders, then the pipeline both formats share
        loading = parser.get_parsed_content(f"{stage}#volume_loading")
        assert parser.get_parsed_content(f"{stage}#preprocessing").transforms[:len(loading)] == tuple(loading)
    assert parser.get_parsed_content("best_model_dir") == str(tmp_path / "bundle" / "models")
    # MONAI Label's request values reach the config; schedules span the iterations that really run
    assert parser.get_parsed_content("patch_size") == ([16, 16] if "acdc" in bundle else [16, 16, 8])
    assert parser.get_parsed_content("total_iterations") == 15
    assert parser.get_parsed_content("rampup_iterations") == 9
    assert parser.get_parsed_content("lr_scheduler").total_iters == 15
    # the train items really load: one item of each stream
    item = parser.get_parsed_content("train#dataset")[0]
    unlabeled = parser.get_parsed_content("train#unlabeled_dataset")[0]
    expected = (1, 16, 16) if "acdc" in bundle else (1, 16, 16, 8)
    assert tuple(item["image"].shape) == expected and tuple(item["label"].shape) == expected
    assert tuple(unlabeled["image"].shape) == expected and "label" not in unlabeled


@pytest.mark.parametrize("bundle", ["metassl_acdc", "qgssl_acdc"])
def test_h5_layout_is_unchanged(bundle, acdc, tmp_path):
    root, _, _ = acdc
    parser = parse(bundle, tmp_path, dataset_dir=str(root), labeled_patients=1)
    labeled, unlabeled = acdc_slice_datalists(root, 1)
    assert parser.get_parsed_content("train#dataset#data") == labeled
    assert parser.get_parsed_content("train#unlabeled_dataset#data") == unlabeled
    for stage in ("train", "validate"):
        loading = parser.get_parsed_content(f"{stage}#h5_loading")
        assert parser.get_parsed_content(f"{stage}#preprocessing").transforms[:len(loading)] == tuple(loading)
    assert parser.get_parsed_content("best_model_dir") == str(tmp_path / "bundle" / "runs" / "train")
    assert parser.get_parsed_content("patch_size") == [256, 256]
    assert parser.get_parsed_content("total_iterations") == 50000  # 250 epochs x 200: as num_iterations


@pytest.mark.parametrize("bundle", ["metassl_acdc", "qgssl_acdc"])
def test_acdc_volume_slices_are_the_h5_slices(bundle, acdc, tmp_path):
    """A NIfTI study (X, Y, Z) goes through the volume pipeline to the (1, D, H, W) array of the h5 volume, and
    the random crop + squeeze yields one of its (1, H, W) slices: the 2D network sees what it sees in h5 training."""
    root, studies, names = acdc
    parser = parse(bundle, tmp_path, **{"train#dataset#data": _ml_datalist(studies, names[:1])})
    steps = parser.get_parsed_content("train#volume_loading")
    data = {"image": str(studies / f"{names[0]}.nii.gz"), "label": str(studies / "labels" / "final" /
                                                                       f"{names[0]}.nii.gz")}
    for t in steps[:4]:  # load, channel, scale to [0, 1], transpose
        data = t(data)
    with h5py.File(root / "data" / f"{names[0]}.h5") as f:
        image, label = f["image"][()], f["label"][()]
    np.testing.assert_allclose(np.asarray(data["image"][0]), image, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(data["label"][0]), label)
    for t in steps[4:]:  # random slice
        data = t(data)
    assert tuple(data["image"].shape) == (1,) + image.shape[1:]
    k = [i for i in range(image.shape[0]) if np.array_equal(np.asarray(data["label"][0]), label[i])]
    assert k and np.allclose(np.asarray(data["image"][0]), image[k[0]], atol=1e-5)
    assert nib.load(data["image"].meta["filename_or_obj"]).shape == image.shape[::-1]
