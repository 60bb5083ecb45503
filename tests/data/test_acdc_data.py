# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the SSL4MIS ACDC datalists (:mod:`metassl_monai.data.acdc`) on hand-written layouts and the real data."""

from __future__ import annotations

from pathlib import Path

import pytest
from bundle_runner import REAL_ACDC

from metassl_monai.data.acdc import (
    SSL4MIS_LABELED_SLICES,
    acdc_slice_datalists,
    acdc_volume_datalist,
    patient_id,
    read_list,
)
from metassl_monai.data.synthetic import make_acdc_like_dataset



def slice_names(patient: str, frames=(1, 2), n_slices: int = 3) -> list[str]:
    return [f"{patient}_frame{f:02d}_slice_{k}" for f in frames for k in range(n_slices)]


def write_layout(root: Path, names: list[str], list_name: str = "train_slices.list", create=None) -> Path:
    """The SSL4MIS slice layout: the list (one name a line) and an (empty) ``data/slices/<name>.h5`` per name."""
    slices = root / "data" / "slices"
    slices.mkdir(parents=True, exist_ok=True)
    for n in names if create is None else create:
        (slices / f"{n}.h5").touch()
    (root / list_name).write_text("\n".join(names) + "\n")
    return root


def slice_path(root: Path, name: str) -> str:
    return str(root / "data" / "slices" / f"{name}.h5")


PATIENTS = ["patient001", "patient002", "patient003", "patient004"]


@pytest.fixture
def layout(tmp_path) -> tuple[Path, list[str]]:
    names = [n for p in PATIENTS for n in slice_names(p)]  # 4 patients x 2 frames x 3 slices = 24 names
    return write_layout(tmp_path / "acdc", names), names


# ----------------------------------------------------------------------------------------------------------------------
# patient_id / read_list
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, expected",
    [
        ("patient099_frame01_slice_15", "patient099"),
        ("patient001_frame02_slice_0", "patient001"),
        ("patient001_frame12", "patient001"),
        ("patient_a_frame1_slice_3", "patient_a"),
        ("case7_slice_2", "case7_slice_2"),  # no _frameNN: its own patient
        ("patient001_frameXX", "patient001_frameXX"),  # _frame must be followed by digits
    ],
)
def test_patient_id(name, expected):
    assert patient_id(name) == expected


def test_read_list_strips_and_drops_blank_lines(tmp_path):
    (tmp_path / "x.list").write_text("  a \n\n\tb\n   \nc")
    assert read_list(tmp_path, "x.list") == ["a", "b", "c"]


# ----------------------------------------------------------------------------------------------------------------------
# acdc_slice_datalists
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [1, 2, 3])
def test_labeled_are_the_slices_of_the_first_k_patients(layout, k):
    root, names = layout
    labeled, unlabeled = acdc_slice_datalists(root, labeled_patients=k)
    n_lab = 6 * k
    assert labeled == [{"image": slice_path(root, n), "label": slice_path(root, n)} for n in names[:n_lab]]
    assert unlabeled == [{"image": slice_path(root, n)} for n in names[n_lab:]]
    assert all(set(item) == {"image"} for item in unlabeled)  # no label key at all
    assert len(labeled) + len(unlabeled) == 24
    assert {patient_id(Path(d["image"]).stem) for d in labeled} == set(PATIENTS[:k])
    assert {patient_id(Path(d["image"]).stem) for d in unlabeled} == set(PATIENTS[k:])


def test_default_list_name_and_str_dir(layout):
    root, names = layout
    labeled, unlabeled = acdc_slice_datalists(str(root), 2)
    assert [d["image"] for d in labeled] == [slice_path(root, n) for n in names[:12]]
    assert len(unlabeled) == 12


def test_patients_are_taken_in_list_order_not_numeric_order(tmp_path):
    # patient003 first, frames and slices of a patient in any order inside its block
    order = ["patient003", "patient001", "patient004", "patient002"]
    names = []
    for p in order:
        names += list(reversed(slice_names(p, frames=(2, 1), n_slices=2)))
    root = write_layout(tmp_path / "d", names)
    labeled, unlabeled = acdc_slice_datalists(root, labeled_patients=2)
    assert [d["image"] for d in labeled] == [slice_path(root, n) for n in names[:8]]
    assert [d["image"] for d in unlabeled] == [slice_path(root, n) for n in names[8:]]
    assert {patient_id(Path(d["image"]).stem) for d in labeled} == {"patient003", "patient001"}


def test_custom_list_name(tmp_path):
    names = slice_names("patientA", n_slices=1) + slice_names("patientB", n_slices=1)
    root = write_layout(tmp_path / "d", names, list_name="my.list")
    labeled, unlabeled = acdc_slice_datalists(root, labeled_patients=1, list_name="my.list")
    assert [d["label"] for d in labeled] == [slice_path(root, n) for n in names[:2]]
    assert [d["image"] for d in unlabeled] == [slice_path(root, n) for n in names[2:]]


def test_missing_dataset_dir(tmp_path):
    missing = tmp_path / "no_such_dir"
    with pytest.raises(FileNotFoundError, match="dataset_dir") as exc:
        acdc_slice_datalists(missing, 1)
    assert str(missing) in str(exc.value)


def test_dataset_dir_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(FileNotFoundError) as exc:
        acdc_slice_datalists(f, 1)
    assert str(f) in str(exc.value)


def test_missing_list(tmp_path):
    (tmp_path / "data" / "slices").mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as exc:
        acdc_slice_datalists(tmp_path, 1)
    assert str(tmp_path / "train_slices.list") in str(exc.value)


@pytest.mark.parametrize("content", ["", "\n\n", "   \n\t\n"])
def test_empty_list(tmp_path, content):
    (tmp_path / "train_slices.list").write_text(content)
    with pytest.raises(ValueError, match="empty") as exc:
        acdc_slice_datalists(tmp_path, 1)
    assert str(tmp_path / "train_slices.list") in str(exc.value)


@pytest.mark.parametrize("missing_index", [0, 10, 23])  # labeled part, unlabeled part, last
def test_listed_slice_missing(tmp_path, missing_index):
    names = [n for p in PATIENTS for n in slice_names(p)]
    gone = names[missing_index]
    root = write_layout(tmp_path / "d", names, create=[n for n in names if n != gone])
    with pytest.raises(FileNotFoundError) as exc:
        acdc_slice_datalists(root, 1)
    message = str(exc.value)
    assert slice_path(root, gone) in message
    assert str(root / "train_slices.list") in message
    assert message.count(".h5") == 1  # only the missing file is named


def test_many_missing_slices_are_summarised(tmp_path):
    names = [n for p in PATIENTS for n in slice_names(p)]
    root = write_layout(tmp_path / "d", names, create=names[:10])  # 14 missing
    with pytest.raises(FileNotFoundError, match=r"14 file\(s\)") as exc:
        acdc_slice_datalists(root, 1)
    assert "(and 9 more)" in str(exc.value)
    assert slice_path(root, names[10]) in str(exc.value)


@pytest.mark.parametrize(
    "k, why",
    [
        (0, "the labeled stream would be empty"),
        (-1, "the labeled stream would be empty"),
        (4, "no patient would be left for the unlabeled stream"),  # all labeled: an empty unlabeled stream
        (5, "no patient would be left for the unlabeled stream"),
    ],
)
def test_labeled_patients_out_of_range(layout, k, why):
    """The message names the key, its value, why it is wrong, the valid range and the list it was checked against."""
    root, _ = layout
    with pytest.raises(ValueError, match=rf"^labeled_patients={k} is out of range: {why}") as exc:
        acdc_slice_datalists(root, labeled_patients=k)
    assert f"must be between 1 and 3 (train_slices.list of {root} has 4 patients)" in str(exc.value)
    assert "--labeled_patients" in str(exc.value)


def test_labeled_patients_not_a_prefix(tmp_path):
    names = slice_names("patientA", (1,), 2) + slice_names("patientB", (1,), 2) + slice_names("patientA", (2,), 2)
    names += slice_names("patientC", (1,), 2)
    root = write_layout(tmp_path / "d", names)
    with pytest.raises(ValueError, match="prefix"):
        acdc_slice_datalists(root, labeled_patients=1)
    # with A and B labeled, A-B-A is a prefix again
    labeled, unlabeled = acdc_slice_datalists(root, labeled_patients=2)
    assert [d["image"] for d in labeled] == [slice_path(root, n) for n in names[:6]]
    assert [d["image"] for d in unlabeled] == [slice_path(root, n) for n in names[6:]]


# ----------------------------------------------------------------------------------------------------------------------
# acdc_volume_datalist
# ----------------------------------------------------------------------------------------------------------------------
def write_volumes(root: Path, names: list[str], create=None, list_name: str = "val.list") -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    for n in names if create is None else create:
        (root / "data" / f"{n}.h5").touch()
    (root / list_name).write_text("\n".join(names) + "\n")
    return root


def test_volume_datalist(tmp_path):
    names = ["patient102_frame01", "patient101_frame02", "patient101_frame01"]
    root = write_volumes(tmp_path, names)
    items = acdc_volume_datalist(root)
    assert items == [
        {"image": str(tmp_path / "data" / f"{n}.h5"), "label": str(tmp_path / "data" / f"{n}.h5"), "name": n}
        for n in names
    ]


def test_volume_datalist_custom_list(tmp_path):
    root = write_volumes(tmp_path, ["a", "b"], list_name="test.list")
    assert [d["name"] for d in acdc_volume_datalist(root, "test.list")] == ["a", "b"]


def test_volume_datalist_missing_file(tmp_path):
    root = write_volumes(tmp_path, ["a", "b", "c"], create=["a", "c"])
    with pytest.raises(FileNotFoundError) as exc:
        acdc_volume_datalist(root)
    assert str(tmp_path / "data" / "b.h5") in str(exc.value)
    assert str(tmp_path / "val.list") in str(exc.value)


def test_volume_datalist_missing_list(tmp_path):
    with pytest.raises(FileNotFoundError) as exc:
        acdc_volume_datalist(tmp_path)
    assert str(tmp_path / "val.list") in str(exc.value)


# ----------------------------------------------------------------------------------------------------------------------
# synthetic and real data
# ----------------------------------------------------------------------------------------------------------------------
def test_synthetic_dataset_split(tmp_path):
    root = make_acdc_like_dataset(tmp_path / "d", n_train_patients=4, n_val_patients=1)
    names = read_list(root, "train_slices.list")
    labeled, unlabeled = acdc_slice_datalists(root, labeled_patients=1)
    p1 = [n for n in names if n.startswith("patient001_")]
    assert len(p1) > 0
    assert [d["image"] for d in labeled] == [slice_path(root, n) for n in p1]
    assert all(d["label"] == d["image"] for d in labeled)
    assert [d["image"] for d in unlabeled] == [slice_path(root, n) for n in names[len(p1):]]
    assert {patient_id(Path(d["image"]).stem) for d in unlabeled} == {"patient002", "patient003", "patient004"}
    volumes = acdc_volume_datalist(root)
    assert [v["name"] for v in volumes] == ["patient101_frame01", "patient101_frame02"]


@pytest.mark.realdata
@pytest.mark.parametrize("k", [3, 7])
def test_real_acdc_split(k):
    if not REAL_ACDC.is_dir():
        pytest.skip(f"real ACDC data not found at {REAL_ACDC}")
    labeled, unlabeled = acdc_slice_datalists(REAL_ACDC, labeled_patients=k)
    assert len(labeled) == SSL4MIS_LABELED_SLICES[k] == {3: 68, 7: 136}[k]
    assert len(unlabeled) == 1312 - SSL4MIS_LABELED_SLICES[k]
    assert len({patient_id(Path(d["image"]).stem) for d in labeled}) == k
    assert all(set(d) == {"image"} for d in unlabeled)


@pytest.mark.realdata
def test_real_acdc_volumes():
    if not REAL_ACDC.is_dir():
        pytest.skip(f"real ACDC data not found at {REAL_ACDC}")
    items = acdc_volume_datalist(REAL_ACDC, "val.list")
    assert len(items) == 20
    assert all(Path(d["image"]).is_file() and d["label"] == d["image"] for d in items)
    assert all(Path(d["image"]).stem == d["name"] for d in items)
