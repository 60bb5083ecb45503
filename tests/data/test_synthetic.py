# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
from __future__ import annotations

import re
import time
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from metassl_monai.data.synthetic import (
    make_acdc_like_dataset,
    synthesize_slice,
    synthesize_volume,
    write_nifti_volumes,
)

SMALL = dict(n_train_patients=3, n_val_patients=2, size=(40, 48), depth_range=(3, 5), size_jitter=4)


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _lv_ring(label: np.ndarray) -> np.ndarray:
    """Labels of the pixels that a 1-pixel (8-connected) dilation of the LV adds."""
    lv = label == 3
    return label[ndimage.binary_dilation(lv, structure=np.ones((3, 3), bool)) & ~lv]


# ---------------------------------------------------------------- slices


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", [(64, 64), (56, 72), (96, 80), (32, 32)])
def test_full_scale_slice_has_all_labels(shape, seed):
    image, label = synthesize_slice(*shape, np.random.default_rng(seed))
    assert image.shape == label.shape == shape
    assert image.dtype == np.float32 and label.dtype == np.uint8
    assert image.min() == 0.0 and image.max() == 1.0
    assert set(np.unique(label).tolist()) == {0, 1, 2, 3}
    # the heart lies inside the image: no label touches the border
    border = np.concatenate([label[0], label[-1], label[:, 0], label[:, -1]])
    assert np.all(border == 0)


@pytest.mark.parametrize("scale", [1.0, 0.6, 0.3, 0.1])
@pytest.mark.parametrize("seed", range(5))
def test_lv_is_enclosed_by_myocardium(scale, seed):
    _, label = synthesize_slice(64, 64, np.random.default_rng(seed), scale=scale)
    assert (label == 3).any() and (label == 2).any()
    ring = _lv_ring(label)
    assert ring.size > 0
    assert set(np.unique(ring).tolist()) == {2}


@pytest.mark.parametrize("seed", range(5))
def test_slice_anatomy_and_intensities(seed):
    image, label = synthesize_slice(64, 64, np.random.default_rng(seed))
    lv, myo, rv = label == 3, label == 2, label == 1
    # RV on the image left of the LV, and adjacent to the myocardium (a crescent hugging it)
    assert np.nonzero(rv)[1].mean() < np.nonzero(lv)[1].mean() - 3
    assert (ndimage.binary_dilation(rv, structure=np.ones((3, 3), bool)) & myo).any()
    # myocardium thickness ~0.3 LV radius -> ring area / cavity area ~ 1.3**2 - 1 = 0.69
    assert 0.35 < myo.sum() / lv.sum() < 1.2
    # bright blood pools, dark myocardium
    assert image[lv].mean() > image[myo].mean() + 0.2
    assert image[rv].mean() > image[myo].mean() + 0.2
    assert image[lv].mean() > np.median(image[label == 0])


def test_scale_shrinks_the_heart_and_removes_the_rv():
    areas, rv_present = [], []
    for scale in (1.0, 0.7, 0.4, 0.15):
        _, label = synthesize_slice(64, 64, np.random.default_rng(7), scale=scale)
        areas.append(int(np.count_nonzero(label >= 2)))
        rv_present.append(bool((label == 1).any()))
    assert areas == sorted(areas, reverse=True) and areas[-1] < areas[0] / 4
    assert rv_present == [True, True, True, False]


@pytest.mark.parametrize("scale", [0.0, -0.5, 1.5])
def test_slice_rejects_bad_scale(scale):
    with pytest.raises(ValueError, match="scale"):
        synthesize_slice(64, 64, np.random.default_rng(0), scale=scale)


def test_slice_rejects_tiny_size():
    with pytest.raises(ValueError, match="16"):
        synthesize_slice(8, 64, np.random.default_rng(0))


def test_slice_and_volume_determinism():
    a = synthesize_slice(48, 52, np.random.default_rng(11), scale=0.8)
    b = synthesize_slice(48, 52, np.random.default_rng(11), scale=0.8)
    c = synthesize_slice(48, 52, np.random.default_rng(12), scale=0.8)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0]) and not np.array_equal(a[1], c[1])

    v1 = synthesize_volume(4, 40, 40, np.random.default_rng(3))
    v2 = synthesize_volume(4, 40, 40, np.random.default_rng(3))
    v3 = synthesize_volume(4, 40, 40, np.random.default_rng(4))
    np.testing.assert_array_equal(v1[0], v2[0])
    np.testing.assert_array_equal(v1[1], v2[1])
    assert not np.array_equal(v1[0], v3[0])


# ---------------------------------------------------------------- volumes


@pytest.mark.parametrize("depth", [1, 6, 9])
def test_volume_base_to_apex(depth):
    image, label = synthesize_volume(depth, 60, 68, np.random.default_rng(depth))
    assert image.shape == label.shape == (depth, 60, 68)
    assert image.dtype == np.float32 and label.dtype == np.uint8
    assert image.min() == 0.0 and image.max() == 1.0
    assert set(np.unique(label[0]).tolist()) == {0, 1, 2, 3}  # the base slice has everything
    assert set(np.unique(label).tolist()) <= {0, 1, 2, 3}
    heart = (label >= 2).reshape(depth, -1).sum(1)
    assert np.all(np.diff(heart) <= 0)  # shrinking towards the apex
    if depth > 1:
        assert heart[-1] < heart[0] / 4
        # same heart along D: the LV centroid drifts only a little between neighbouring slices
        centres = np.array([ndimage.center_of_mass(label[k] == 3) for k in range(depth)])
        assert np.abs(np.diff(centres, axis=0)).max() < 3
    for k in range(depth):
        assert set(np.unique(_lv_ring(label[k])).tolist()) == {2}


# ---------------------------------------------------------------- dataset


def test_dataset_layout(tmp_path):
    root = make_acdc_like_dataset(tmp_path / "acdc", seed=5, **SMALL)
    assert root == tmp_path / "acdc"
    names = (root / "train_slices.list").read_text().splitlines()
    slice_files = sorted(p.stem for p in (root / "data" / "slices").glob("*.h5"))
    assert sorted(names) == slice_files and len(set(names)) == len(names)

    # cases: two frames per patient, patients 001.. in order, slices 0..D-1 in order
    pattern = re.compile(r"^patient(\d{3})_frame(0[12])_slice_(\d+)$")
    parsed = [pattern.match(n).groups() for n in names]
    cases = list(dict.fromkeys(f"patient{p}_frame{f}" for p, f, _ in parsed))
    assert cases == [f"patient{p:03d}_frame{f:02d}" for p in (1, 2, 3) for f in (1, 2)]
    depths = {}
    for case in cases:
        ks = [int(k) for p, f, k in parsed if f"patient{p}_frame{f}" == case]
        assert ks == list(range(len(ks)))
        depths[case] = len(ks)
    # patient by patient: every patient's slices are contiguous
    patients = [p for p, _, _ in parsed]
    assert patients == sorted(patients)
    assert len(names) == sum(depths.values())
    assert all(3 <= d <= 5 for d in depths.values())

    shapes = {}
    for name in names:
        with h5py.File(root / "data" / "slices" / f"{name}.h5", "r") as f:
            assert set(f.keys()) == {"image", "label"}
            image, label = f["image"][()], f["label"][()]
        assert image.dtype == np.float32 and label.dtype == np.uint8
        assert image.shape == label.shape and image.ndim == 2
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert set(np.unique(label).tolist()) <= {0, 1, 2, 3}
        shapes.setdefault(name.split("_slice_")[0], set()).add(image.shape)
    for p in (1, 2, 3):
        (s1,), (s2,) = shapes[f"patient{p:03d}_frame01"], shapes[f"patient{p:03d}_frame02"]
        assert s1 == s2 and 36 <= s1[0] <= 44 and 44 <= s1[1] <= 52

    vals = (root / "val.list").read_text().splitlines()
    assert vals == ["patient101_frame01", "patient101_frame02", "patient102_frame01", "patient102_frame02"]
    for case in vals:
        with h5py.File(root / "data" / f"{case}.h5", "r") as f:
            assert set(f.keys()) == {"image", "label"}
            image, label = f["image"][()], f["label"][()]
        assert image.dtype == np.float32 and label.dtype == np.uint8
        assert image.shape == label.shape and image.ndim == 3 and 3 <= image.shape[0] <= 5
        assert image.min() == 0.0 and image.max() == 1.0
        assert set(np.unique(label[0]).tolist()) == {0, 1, 2, 3}
    # nothing else in data/ besides the validation volumes and the slices folder
    assert sorted(p.name for p in (root / "data").iterdir()) == sorted([f"{c}.h5" for c in vals] + ["slices"])


def test_dataset_reads_with_acdc_datalists(tmp_path):
    from metassl_monai.data.acdc import acdc_slice_datalists, acdc_volume_datalist

    root = make_acdc_like_dataset(tmp_path, **SMALL)
    names = (root / "train_slices.list").read_text().splitlines()
    labeled, unlabeled = acdc_slice_datalists(root, labeled_patients=1)
    assert len(labeled) == sum(n.startswith("patient001_") for n in names)
    assert len(labeled) + len(unlabeled) == len(names)
    assert [d["name"] for d in acdc_volume_datalist(root)] == (root / "val.list").read_text().splitlines()


def test_end_systole_has_smaller_cavity_and_thicker_wall(tmp_path):
    root = make_acdc_like_dataset(tmp_path, **SMALL)
    for case in (root / "val.list").read_text().splitlines()[::2]:
        with h5py.File(root / "data" / f"{case}.h5", "r") as f:
            ed = f["label"][()]
        with h5py.File(root / "data" / f"{case.replace('frame01', 'frame02')}.h5", "r") as f:
            es = f["label"][()]
        assert ed.shape == es.shape
        assert (es == 3).sum() < 0.8 * (ed == 3).sum()
        assert (es == 2).sum() / (es == 3).sum() > 1.3 * (ed == 2).sum() / (ed == 3).sum()


def test_dataset_determinism(tmp_path):
    a = make_acdc_like_dataset(tmp_path / "a", seed=1, **SMALL)
    b = make_acdc_like_dataset(tmp_path / "b", seed=1, **SMALL)
    c = make_acdc_like_dataset(tmp_path / "c", seed=2, **SMALL)
    assert (a / "train_slices.list").read_text() == (b / "train_slices.list").read_text()
    for rel in ["data/slices/patient002_frame02_slice_1.h5", "data/patient101_frame01.h5"]:
        with h5py.File(a / rel, "r") as fa, h5py.File(b / rel, "r") as fb, h5py.File(c / rel, "r") as fc:
            np.testing.assert_array_equal(fa["image"][()], fb["image"][()])
            np.testing.assert_array_equal(fa["label"][()], fb["label"][()])
            assert fa["image"].shape != fc["image"].shape or not np.array_equal(fa["image"][()], fc["image"][()])


def test_defaults_are_fast_and_complete(tmp_path):
    start = time.perf_counter()
    root = make_acdc_like_dataset(tmp_path)
    elapsed = time.perf_counter() - start
    assert elapsed < 10.0  # ~0.3 s on 2 cores; generous bound against a loaded machine
    names = (root / "train_slices.list").read_text().splitlines()
    assert len({n.split("_slice_")[0] for n in names}) == 20
    assert 20 * 6 <= len(names) <= 20 * 9
    assert len((root / "val.list").read_text().splitlines()) == 6


def test_existing_dataset_is_not_overwritten(tmp_path):
    root = make_acdc_like_dataset(tmp_path, seed=0, **SMALL)
    before = _snapshot(root)
    with pytest.raises(FileExistsError, match=re.escape(str(root / "train_slices.list"))):
        make_acdc_like_dataset(tmp_path, seed=1, **SMALL)
    assert _snapshot(root) == before

    # overwrite=True regenerates; files of the previous dataset do not linger
    small = dict(SMALL, n_train_patients=2, n_val_patients=1)
    make_acdc_like_dataset(tmp_path, seed=1, overwrite=True, **small)
    names = (root / "train_slices.list").read_text().splitlines()
    assert sorted(p.stem for p in (root / "data" / "slices").glob("*.h5")) == sorted(names)
    assert {n[:10] for n in names} == {"patient001", "patient002"}
    assert sorted(p.name for p in (root / "data").glob("*.h5")) == ["patient101_frame01.h5", "patient101_frame02.h5"]
    fresh = make_acdc_like_dataset(tmp_path / "fresh", seed=1, **small)
    assert (fresh / "train_slices.list").read_text() == (root / "train_slices.list").read_text()


def test_val_list_alone_also_protects(tmp_path):
    (tmp_path / "val.list").write_text("mine\n")
    with pytest.raises(FileExistsError, match="val.list"):
        make_acdc_like_dataset(tmp_path, **SMALL)
    assert (tmp_path / "val.list").read_text() == "mine\n"


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(n_train_patients=0),
        dict(n_val_patients=0),
        dict(depth_range=(5, 3)),
        dict(depth_range=(0, 3)),
        dict(size=(20, 64), size_jitter=8),
        dict(size_jitter=-1),
        dict(seed=-1),
    ],
)
def test_dataset_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        make_acdc_like_dataset(tmp_path, **{**SMALL, **kwargs})
    assert not (tmp_path / "train_slices.list").exists()


# ---------------------------------------------------------------- NIfTI


@pytest.mark.parametrize("spacing", [(1.5, 1.5, 10.0), (0.7, 0.8, 5.0)])
def test_write_nifti_roundtrip(tmp_path, spacing):
    root = make_acdc_like_dataset(tmp_path / "ds", **SMALL)
    out = tmp_path / "nii"
    paths = write_nifti_volumes(root / "data", out, spacing=spacing)
    vals = (root / "val.list").read_text().splitlines()
    assert paths == [out / f"{c}.nii.gz" for c in vals]
    expected = [f"{c}.nii.gz" for c in vals] + [f"{c}_gt.nii.gz" for c in vals]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    for case, path in zip(vals, paths):
        with h5py.File(root / "data" / f"{case}.h5", "r") as f:
            image, label = f["image"][()], f["label"][()]
        nii, gt = nib.load(str(path)), nib.load(str(out / f"{case}_gt.nii.gz"))
        assert nii.get_data_dtype() == np.float32 and gt.get_data_dtype() == np.uint8
        assert nii.shape == image.shape[::-1]
        np.testing.assert_array_equal(np.asanyarray(nii.dataobj).transpose(2, 1, 0), image)
        np.testing.assert_array_equal(np.asanyarray(gt.dataobj).transpose(2, 1, 0), label)
        np.testing.assert_allclose(nii.affine, np.diag([*spacing, 1.0]))
        np.testing.assert_allclose(np.diag(gt.affine)[:3], spacing)
        np.testing.assert_allclose(nii.header.get_zooms(), spacing)


def test_write_nifti_names_and_without_labels(tmp_path):
    root = make_acdc_like_dataset(tmp_path / "ds", **SMALL)
    out = tmp_path / "nii"
    paths = write_nifti_volumes(root / "data", out, names=["patient102_frame02"], with_labels=False)
    assert paths == [out / "patient102_frame02.nii.gz"]
    assert [p.name for p in out.iterdir()] == ["patient102_frame02.nii.gz"]


def test_write_nifti_missing_files(tmp_path):
    root = make_acdc_like_dataset(tmp_path / "ds", **SMALL)
    out = tmp_path / "nii"
    with pytest.raises(FileNotFoundError, match="patient999_frame01.h5"):
        write_nifti_volumes(root / "data", out, names=["patient101_frame01", "patient999_frame01"])
    assert not out.exists() or not any(out.iterdir())  # checked before writing anything
    with pytest.raises(FileNotFoundError, match="val.list"):
        write_nifti_volumes(tmp_path / "elsewhere" / "data", out)
