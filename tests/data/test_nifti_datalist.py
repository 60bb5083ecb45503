# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :func:`metassl_monai.data.nifti.nifti_datalist`."""

from __future__ import annotations

from pathlib import Path

import pytest

from metassl_monai.data.nifti import nifti_datalist


def touch(root: Path, *names: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for n in names:
        (root / n).touch()
    return root


def test_sorted_and_ground_truth_skipped(tmp_path):
    root = touch(
        tmp_path,
        "patient101_frame02.nii.gz",
        "patient101_frame01_gt.nii.gz",
        "patient010_frame01.nii.gz",
        "patient101_frame01.nii.gz",
        "patient101_frame02_gt.nii.gz",
        "notes.txt",
        "volume.nii",  # not *.nii.gz
        "volume.h5",
    )
    (root / "folder.nii.gz").mkdir()  # a directory is not a file
    assert nifti_datalist(root) == [
        {"image": str(root / "patient010_frame01.nii.gz")},
        {"image": str(root / "patient101_frame01.nii.gz")},
        {"image": str(root / "patient101_frame02.nii.gz")},
    ]


def test_str_dir_and_non_recursive(tmp_path):
    root = touch(tmp_path, "b.nii.gz", "a.nii.gz")
    touch(tmp_path / "sub", "c.nii.gz")
    assert [d["image"] for d in nifti_datalist(str(root))] == [str(root / "a.nii.gz"), str(root / "b.nii.gz")]


@pytest.mark.parametrize(
    "exclude_suffix, expected",
    [("", ["a.nii.gz", "a_gt.nii.gz", "b_seg.nii.gz"]), ("_seg", ["a.nii.gz", "a_gt.nii.gz"])],
)
def test_exclude_suffix(tmp_path, exclude_suffix, expected):
    root = touch(tmp_path, "a.nii.gz", "a_gt.nii.gz", "b_seg.nii.gz")
    out = nifti_datalist(root, exclude_suffix=exclude_suffix)
    assert out == [{"image": str(root / n)} for n in expected]


def test_custom_pattern(tmp_path):
    root = touch(tmp_path, "x.nii", "y.nii.gz", "z_gt.nii")
    assert nifti_datalist(root, pattern="*.nii") == [{"image": str(root / "x.nii")}]


def test_missing_dir(tmp_path):
    missing = tmp_path / "absent"
    with pytest.raises(FileNotFoundError) as exc:
        nifti_datalist(missing)
    assert str(missing) in str(exc.value)


def test_path_is_a_file(tmp_path):
    f = touch(tmp_path, "a.nii.gz") / "a.nii.gz"
    with pytest.raises(FileNotFoundError) as exc:
        nifti_datalist(f)
    assert str(f) in str(exc.value)


@pytest.mark.parametrize("files", [[], ["readme.txt", "a.h5"], ["a_gt.nii.gz", "b_gt.nii.gz"]],
                         ids=["empty", "no-nifti", "only-gt"])
def test_dir_without_nifti(tmp_path, files):
    root = touch(tmp_path / "d", *files)
    with pytest.raises(FileNotFoundError) as exc:
        nifti_datalist(root)
    assert str(root) in str(exc.value)
    assert "*.nii.gz" in str(exc.value)
