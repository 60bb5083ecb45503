# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the studies-folder datalists (:mod:`metassl_monai.data.studies`) on hand-made folders."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from metassl_monai.data import is_monailabel_datalist, is_volume_datalist, study_id, unlabeled_studies


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


@pytest.fixture
def studies(tmp_path):
    """MONAI Label's local datastore: 5 studies, a, b, c labeled (labels/final), d, e not; plus noise files."""
    root = tmp_path / "studies"
    for name in "abcde":
        _touch(root / f"{name}.nii.gz")
    for name in "abc":
        _touch(root / "labels" / "final" / f"{name}.nii.gz")
    _touch(root / "labels" / "original" / "d.nii.gz")  # a model's prediction is not a final label
    _touch(root / "notes.txt")
    _touch(root / "f_gt.nii.gz")
    (root / "sub").mkdir()
    _touch(root / "sub" / "g.nii.gz")  # not recursive
    return root


def _ml_item(root: Path, name: str) -> dict:
    return {"image": str(root / f"{name}.nii.gz"), "label": str(root / "labels" / "final" / f"{name}.nii.gz")}


@pytest.mark.parametrize(
    "path, expected",
    [("/s/case01.nii.gz", "case01"), ("case.v2.nii", "case.v2"), ("/x/p.nrrd", "p"), ("a.tar.gz", "a"), ("noext", "noext")],
)
def test_study_id(path, expected):
    assert study_id(path) == expected


@pytest.mark.parametrize(
    "data, expected",
    [
        ([{"image": "/d/a.nii.gz", "label": "/d/l/a.nii.gz"}], True),
        ([{"image": "/d/a.nii"}, {"image": "/d/b.nrrd"}], True),
        ([{"image": "/d/slices/s_0.h5", "label": "/d/slices/s_0.h5"}], False),
        ([{"image": "/d/v.HDF5"}], False),
        ([], False),
        ([{"image": [[0.0]]}], False),  # in-memory arrays
    ],
)
def test_is_volume_datalist(data, expected):
    assert is_volume_datalist(data) is expected


def test_is_volume_datalist_errors():
    with pytest.raises(ValueError, match=r"datalist\[1\] must be a dict with an 'image' key"):
        is_volume_datalist([{"image": "a.nii"}, {"label": "b.nii"}])
    with pytest.raises(ValueError, match=r"mixes HDF5 and other image files \(x.h5 and y.nii.gz\)"):
        is_volume_datalist([{"image": "x.h5"}, {"image": "y.nii.gz"}])
    with pytest.raises(TypeError, match="must be a list of dicts"):
        is_volume_datalist("a.nii.gz")


def test_is_monailabel_datalist(studies):
    assert is_monailabel_datalist([_ml_item(studies, "a"), _ml_item(studies, "b")])
    # labels next to the images (e.g. ACDC's *_gt files) or in another folder (MSD labelsTr) are not the layout
    assert not is_monailabel_datalist([{"image": str(studies / "a.nii.gz"), "label": str(studies / "f_gt.nii.gz")}])
    assert not is_monailabel_datalist([{"image": "/t/imagesTr/la_003.nii.gz", "label": "/t/labelsTr/la_003.nii.gz"}])
    assert not is_monailabel_datalist([{"image": str(studies / "a.nii.gz")}])  # no label
    assert not is_monailabel_datalist([{"image": str(studies / "a.h5"), "label": str(studies / "a.h5")}])


def test_unlabeled_studies_are_the_studies_without_label(studies, caplog):
    # MONAI Label's training split: a, b (c is labeled too, held out for validation)
    with caplog.at_level(logging.INFO, logger="metassl_monai.data.studies"):
        unlabeled = unlabeled_studies([_ml_item(studies, "a"), _ml_item(studies, "b")])
    assert unlabeled == [{"image": str(studies / "d.nii.gz")}, {"image": str(studies / "e.nii.gz")}]
    assert f"unlabeled stream: 2 studies without labels in {studies}" in caplog.text


def test_unlabeled_studies_keeps_gt_suffix_when_asked(studies):
    names = [Path(d["image"]).name for d in unlabeled_studies([_ml_item(studies, "a")], exclude_suffix="")]
    assert names == ["d.nii.gz", "e.nii.gz", "f_gt.nii.gz"]


def test_unlabeled_studies_several_folders_and_labels_beside_images(tmp_path):
    """A user's list of two folders with *_gt labels beside the images (the ACDC NIfTI layout)."""
    one, two = tmp_path / "one", tmp_path / "two"
    for p in ("p1.nii.gz", "p1_gt.nii.gz", "p2.nii.gz", "p3.nii"):  # p3.nii: suffix of no labeled image
        _touch(one / p)
    for p in ("q1.nii.gz", "q1_gt.nii.gz", "q2.nii.gz"):
        _touch(two / p)
    labeled = [
        {"image": str(two / "q1.nii.gz"), "label": str(two / "q1_gt.nii.gz")},
        {"image": str(one / "p1.nii.gz"), "label": str(one / "p1_gt.nii.gz")},
    ]
    assert unlabeled_studies(labeled) == [{"image": str(two / "q2.nii.gz")}, {"image": str(one / "p2.nii.gz")}]


def test_unlabeled_studies_fallback_when_everything_is_labeled(tmp_path, caplog):
    root = tmp_path / "s"
    for name in "ab":
        _touch(root / f"{name}.nii.gz")
        _touch(root / "labels" / "final" / f"{name}.nii.gz")
    labeled = [_ml_item(root, "a"), _ml_item(root, "b")]
    with caplog.at_level(logging.WARNING, logger="metassl_monai.data.studies"):
        unlabeled = unlabeled_studies(labeled)
    assert unlabeled == [{"image": str(root / "a.nii.gz")}, {"image": str(root / "b.nii.gz")}]
    assert "no study without a label" in caplog.text and "reuses the 2 labeled images" in caplog.text
    with pytest.raises(ValueError, match=f"no unlabeled study .* in {root}"):
        unlabeled_studies(labeled, fallback_to_labeled=False)


def test_unlabeled_studies_errors(studies):
    with pytest.raises(ValueError, match="labeled datalist is empty"):
        unlabeled_studies([])
    missing = studies / "zz.nii.gz"
    with pytest.raises(FileNotFoundError, match=rf"labeled datalist\[1\]: image file not found: {missing}"):
        unlabeled_studies([_ml_item(studies, "a"), {"image": str(missing)}])
    with pytest.raises(ValueError, match=r"labeled datalist\[0\] must be a dict with an 'image' key"):
        unlabeled_studies([{"label": "x"}])
