# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Your own NIfTI data: MONAI datalist JSON, Medical Segmentation Decathlon / nnU-Net folders, the split the bundles
train on, and ``write_datalist`` (``python -m metassl_monai datalist``); each bad input names its file."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from metassl_monai.data import datalist_split, dataset_folder_datalist, read_datalist, volume_name, write_datalist


def nifti(path: Path, shape=(8, 8, 3), value=0) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full(shape, value, np.float32), np.eye(4)), str(path))
    return str(path)


@pytest.fixture
def folder(tmp_path) -> Path:
    """img/a..e.nii.gz with labels lab/a..d.nii.gz (e has none), depth 3 (d: 2)."""
    for case in "abcde":
        nifti(tmp_path / "img" / f"{case}.nii.gz", (8, 8, 2 if case == "d" else 3))
    for case in "abcd":
        nifti(tmp_path / "lab" / f"{case}.nii.gz", (8, 8, 2 if case == "d" else 3))
    return tmp_path


def write(path: Path, content) -> Path:
    path.write_text(json.dumps(content))
    return path


def test_read_datalist_sections_with_relative_paths(folder):
    path = write(folder / "dl.json", {"training": [{"image": "img/a.nii.gz", "label": "lab/a.nii.gz"}],
                                      "unlabeled": ["img/e.nii.gz"],
                                      "validation": [{"image": str(folder / "img/b.nii.gz"), "label": "lab/b.nii.gz"}]})
    parts = read_datalist(path)
    assert parts["training"] == [{"image": str(folder / "img/a.nii.gz"), "label": str(folder / "lab/a.nii.gz")}]
    assert parts["unlabeled"] == [{"image": str(folder / "img/e.nii.gz")}]
    assert parts["validation"][0]["image"] == str(folder / "img/b.nii.gz")


def test_split_per_volume_and_per_slice(folder):
    path = write(folder / "dl.json", {"training": [{"image": "img/a.nii.gz", "label": "lab/a.nii.gz"},
                                                   {"image": "img/d.nii.gz", "label": "lab/d.nii.gz"}],
                                      "unlabeled": [{"image": "img/e.nii.gz"}],
                                      "validation": [{"image": "img/b.nii.gz", "label": "lab/b.nii.gz"}]})
    split = datalist_split(path)
    assert [volume_name(it["image"]) for it in split["labeled"]] == ["a", "d"]
    assert split["validation"] == [{"image": str(folder / "img/b.nii.gz"), "label": str(folder / "lab/b.nii.gz"),
                                    "name": "b"}]
    sliced = datalist_split(path, slices=True)
    assert [(volume_name(it["image"]), it["slice"]) for it in sliced["labeled"]] == [
        ("a", 0), ("a", 1), ("a", 2), ("d", 0), ("d", 1)]  # d has 2 slices
    assert [it["slice"] for it in sliced["unlabeled"]] == [0, 1, 2]
    assert "slice" not in sliced["validation"][0]  # validation stays per volume


def test_split_holds_out_validation_without_a_section(folder, caplog):
    path = write(folder / "dl.json", {"training": [{"image": f"img/{c}.nii.gz", "label": f"lab/{c}.nii.gz"}
                                                   for c in "abcd"], "unlabeled": ["img/e.nii.gz"]})
    split = datalist_split(path, val_fraction=0.25)
    assert [it["name"] for it in split["validation"]] == ["d"]
    assert [volume_name(it["image"]) for it in split["labeled"]] == ["a", "b", "c"]
    assert "the last 1 labeled case(s) validate (d)" in caplog.text


def test_empty_unlabeled_part_warns_and_uses_the_labeled_images(folder, caplog):
    path = write(folder / "dl.json", {"training": [{"image": "img/a.nii.gz", "label": "lab/a.nii.gz"}],
                                      "validation": [{"image": "img/b.nii.gz", "label": "lab/b.nii.gz"}]})
    split = datalist_split(path)
    assert "has no unlabeled image: the labeled images are used as unlabeled too" in caplog.text
    assert split["unlabeled"] == [{"image": str(folder / "img/a.nii.gz")}]


def test_unlabeled_dir_is_added(folder, tmp_path):
    nifti(tmp_path / "more" / "u1.nii.gz")
    path = write(folder / "dl.json", {"training": [{"image": "img/a.nii.gz", "label": "lab/a.nii.gz"}],
                                      "validation": [{"image": "img/b.nii.gz", "label": "lab/b.nii.gz"}]})
    split = datalist_split(path, unlabeled_dir=tmp_path / "more")
    assert split["unlabeled"] == [{"image": str(tmp_path / "more" / "u1.nii.gz")}]


BAD = {
    # name: (datalist content, error, message)
    "labeled_without_label": ({"training": [{"image": "img/e.nii.gz"}], "validation": []}, ValueError,
                              r"training\[0\] \(img/e.nii.gz\) has no \['label'\] \(an image without a label belongs "
                              "in 'unlabeled'\\)"),
    "missing_file": ({"training": [{"image": "img/a.nii.gz", "label": "lab/zz.nii.gz"}],
                      "validation": [{"image": "img/b.nii.gz", "label": "lab/b.nii.gz"}]}, FileNotFoundError,
                     "1 file\\(s\\) listed in .*dl.json are missing: .*lab/zz.nii.gz"),
    "shape_mismatch": ({"training": [{"image": "img/a.nii.gz", "label": "lab/d.nii.gz"}],
                        "validation": [{"image": "img/b.nii.gz", "label": "lab/b.nii.gz"}]}, ValueError,
                       r"image and label shapes differ .*img/a.nii.gz is \(8, 8, 3\), .*lab/d.nii.gz is \(8, 8, 2\)"),
    "one_case_no_validation": ({"training": [{"image": "img/a.nii.gz", "label": "lab/a.nii.gz"}]}, ValueError,
                               "1 labeled case\\(s\\) and no 'validation' section"),
    "section_not_a_list": ({"training": {"image": "img/a.nii.gz"}}, ValueError, "'training' must be a list"),
    "not_an_object": ([1, 2], ValueError, "must hold a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_datalist_names_the_file(folder, case):
    content, error, message = BAD[case]
    path = write(folder / "dl.json", content)
    with pytest.raises(error, match=message):
        datalist_split(path)


def test_missing_datalist_and_unlabeled_dir(folder):
    with pytest.raises(FileNotFoundError, match="datalist not found: .*nope.json"):
        datalist_split(folder / "nope.json")
    path = write(folder / "dl.json", {"training": [{"image": "img/a.nii.gz", "label": "lab/a.nii.gz"}],
                                      "validation": [{"image": "img/b.nii.gz", "label": "lab/b.nii.gz"}]})
    with pytest.raises(FileNotFoundError, match="unlabeled_dir does not exist .*absent"):
        datalist_split(path, unlabeled_dir=folder / "absent")
    (folder / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        datalist_split(folder / "bad.json")


def test_msd_folder(tmp_path):
    root = tmp_path / "Task09"
    for c in "abc":
        nifti(root / "imagesTr" / f"{c}.nii.gz"), nifti(root / "labelsTr" / f"{c}.nii.gz")
    nifti(root / "imagesTs" / "t1.nii.gz"), nifti(root / "imagesTs" / "t2.nii.gz")
    write(root / "dataset.json", {"training": [{"image": f"./imagesTr/{c}.nii.gz", "label": f"./labelsTr/{c}.nii.gz"}
                                               for c in "abc"], "test": ["./imagesTs/t1.nii.gz"]})
    parts = dataset_folder_datalist(root)
    assert [volume_name(it["image"]) for it in parts["training"]] == ["a", "b", "c"]
    assert [volume_name(it["image"]) for it in parts["unlabeled"]] == ["t1", "t2"]  # listed + the rest of imagesTs
    split = datalist_split(root)
    assert [it["name"] for it in split["validation"]] == ["c"] and len(split["labeled"]) == 2


def test_nnunet_folder(tmp_path):
    root = tmp_path / "Dataset001"
    for c in ("x1", "x2", "x3"):
        nifti(root / "imagesTr" / f"{c}_0000.nii.gz"), nifti(root / "labelsTr" / f"{c}.nii.gz")
    nifti(root / "imagesTs" / "y_0000.nii.gz")
    write(root / "dataset.json", {"channel_names": {"0": "MRI"}, "labels": {"background": 0, "a": 1},
                                  "numTraining": 3, "file_ending": ".nii.gz"})
    parts = dataset_folder_datalist(root)
    assert [(volume_name(it["image"]), volume_name(it["label"])) for it in parts["training"]] == [
        ("x1_0000", "x1"), ("x2_0000", "x2"), ("x3_0000", "x3")]
    assert [volume_name(it["image"]) for it in parts["unlabeled"]] == ["y_0000"]
    (root / "labelsTr" / "x2.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="x2_0000.nii.gz has no label .*labelsTr/x2.nii.gz"):
        dataset_folder_datalist(root)
    write(root / "dataset.json", {"channel_names": {"0": "T1", "1": "T2"}, "file_ending": ".nii.gz"})
    with pytest.raises(ValueError, match="2 input channels; the bundles take one"):
        dataset_folder_datalist(root)
    with pytest.raises(FileNotFoundError, match="has no dataset.json"):
        dataset_folder_datalist(tmp_path)


def test_write_datalist_pairs_fraction_and_names(folder):
    out = folder / "lists" / "dl.json"
    content = write_datalist(folder / "img", out, labels_dir=folder / "lab", labeled=0.34, val_fraction=0.25)
    # pairs a b c d (e has no label): d validates; of a b c, 0.34 -> the first 1 keeps its label
    assert content == {"training": [{"image": "../img/a.nii.gz", "label": "../lab/a.nii.gz"}],
                       "unlabeled": [{"image": "../img/b.nii.gz"}, {"image": "../img/c.nii.gz"},
                                     {"image": "../img/e.nii.gz"}],
                       "validation": [{"image": "../img/d.nii.gz", "label": "../lab/d.nii.gz"}]}
    assert json.loads(out.read_text()) == content
    assert read_datalist(out)["training"][0]["image"] == str(folder / "img" / "a.nii.gz")  # relative to the JSON
    with pytest.raises(FileExistsError, match="dl.json exists"):
        write_datalist(folder / "img", out, labels_dir=folder / "lab")
    named = write_datalist(folder / "img", out, labels_dir=folder / "lab", labeled=["c", "b"], overwrite=True)
    assert [it["image"] for it in named["training"]] == ["../img/c.nii.gz", "../img/b.nii.gz"]
    with pytest.raises(ValueError, match=r"labeled cases \['zz'\] are not image/label pairs"):
        write_datalist(folder / "img", out, labels_dir=folder / "lab", labeled=["zz"], overwrite=True)


def test_write_datalist_gt_suffix_and_nnunet_names(tmp_path):
    for c in ("p1", "p2", "p3"):
        nifti(tmp_path / "acdc" / f"{c}.nii.gz"), nifti(tmp_path / "acdc" / f"{c}_gt.nii.gz")
    content = write_datalist(tmp_path / "acdc", tmp_path / "a.json")  # labels beside the images, *_gt
    assert [it["label"] for it in content["training"] + content["validation"]] == [
        "acdc/p1_gt.nii.gz", "acdc/p2_gt.nii.gz", "acdc/p3_gt.nii.gz"]
    for c in ("q1", "q2"):
        nifti(tmp_path / "nn" / "imagesTr" / f"{c}_0000.nii.gz"), nifti(tmp_path / "nn" / "labelsTr" / f"{c}.nii.gz")
    content = write_datalist(tmp_path / "nn" / "imagesTr", tmp_path / "n.json", labels_dir=tmp_path / "nn" / "labelsTr")
    assert content["training"] == [{"image": "nn/imagesTr/q1_0000.nii.gz", "label": "nn/labelsTr/q1.nii.gz"}]
    with pytest.raises(ValueError, match="1 image\\(s\\) of .* have a label"):
        nifti(tmp_path / "one" / "z.nii.gz"), nifti(tmp_path / "one" / "z_gt.nii.gz")
        write_datalist(tmp_path / "one", tmp_path / "o.json")


def test_write_acdc_datalist_is_the_h5_split(acdc_dataset, tmp_path):
    import h5py

    from metassl_monai.data import acdc_split, read_list, write_acdc_datalist

    path = write_acdc_datalist(acdc_dataset, tmp_path / "out", labeled_patients=1)
    split = datalist_split(path)
    h5 = acdc_split(acdc_dataset, labeled_patients=1)
    # the labeled volumes are those of the h5 split's labeled slices, the validation ones are val.list
    assert [volume_name(it["image"]) for it in split["labeled"]] == list(dict.fromkeys(
        Path(it["image"]).stem.rsplit("_slice_", 1)[0] for it in h5["labeled"]))
    assert [it["name"] for it in split["validation"]] == read_list(acdc_dataset, "val.list")
    assert not {volume_name(it["image"]) for it in split["unlabeled"]} & {it["name"] for it in split["validation"]}
    # a training volume is its h5 slices stacked, in the NIfTI (X, Y, Z) orientation
    first = split["labeled"][0]
    name = volume_name(first["image"])
    slices = sorted((s for s in read_list(acdc_dataset, "train_slices.list") if s.startswith(name + "_slice_")),
                    key=lambda s: int(s.rsplit("_", 1)[1]))
    stacked = np.stack([h5py.File(acdc_dataset / "data" / "slices" / f"{s}.h5")["label"][()] for s in slices])
    np.testing.assert_array_equal(np.asarray(nib.load(first["label"]).dataobj), stacked.transpose(2, 1, 0))
    with pytest.raises(FileExistsError, match="datalist.json exists"):
        write_acdc_datalist(acdc_dataset, tmp_path / "out")
    with pytest.raises(ValueError, match="fewer than labeled_patients=9"):
        write_acdc_datalist(acdc_dataset, tmp_path / "other", labeled_patients=9)
