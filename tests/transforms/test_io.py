# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :class:`metassl_monai.transforms.LoadH5d` and :func:`read_h5_dataset` on small hand-written h5 files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from metassl_monai.transforms.io import LoadH5d, read_h5_dataset

IMAGE = (np.arange(12, dtype=np.float64).reshape(3, 4) / 10.0) - 0.25  # float64 in the file
LABEL = (np.arange(12, dtype=np.int64).reshape(3, 4) % 4)  # int64 in the file, values 0..3


def write_h5(path: Path, **datasets) -> Path:
    with h5py.File(path, "w") as f:
        for name, array in datasets.items():
            f.create_dataset(name, data=array)
    return path


@pytest.fixture
def h5_file(tmp_path) -> Path:
    return write_h5(tmp_path / "case.h5", image=IMAGE, label=LABEL)


@pytest.fixture
def truncated_h5(tmp_path) -> Path:
    path = write_h5(tmp_path / "truncated.h5", image=IMAGE, label=LABEL)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "notes.h5"
    path.write_text("this is not an HDF5 file\n")
    return path


# ----------------------------------------------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("as_path", [False, True], ids=["str", "Path"])
def test_reads_image_and_label_with_dtype_conversion(h5_file, as_path):
    src = h5_file if as_path else str(h5_file)
    before = h5_file.read_bytes()
    out = LoadH5d(keys=["image", "label"], dtype=[np.float32, np.uint8])({"image": src, "label": src, "other": 7})

    assert out["other"] == 7  # untouched keys are kept
    for key, expected, dtype in (("image", IMAGE, torch.float32), ("label", LABEL, torch.uint8)):
        t = out[key]
        assert isinstance(t, MetaTensor)
        assert t.dtype == dtype
        assert tuple(t.shape) == (3, 4)  # no channel dimension added
        np.testing.assert_array_equal(t.numpy(), expected.astype(t.numpy().dtype))
        assert t.meta["filename_or_obj"] == str(h5_file)
        assert t.meta["original_channel_dim"] == "no_channel"
        assert tuple(t.meta["spatial_shape"]) == (3, 4)
    np.testing.assert_allclose(out["image"].numpy(), IMAGE.astype(np.float32))
    assert out["label"].numpy().tolist() == [[0, 1, 2, 3], [0, 1, 2, 3], [0, 1, 2, 3]]
    assert h5_file.read_bytes() == before


def test_without_dtype_keeps_the_stored_dtype(h5_file):
    out = LoadH5d(keys=["image", "label"])({"image": str(h5_file), "label": str(h5_file)})
    assert out["image"].dtype == torch.float64
    assert out["label"].dtype == torch.int64
    np.testing.assert_array_equal(out["image"].numpy(), IMAGE)
    np.testing.assert_array_equal(out["label"].numpy(), LABEL)


def test_single_dtype_applies_to_every_key(h5_file):
    out = LoadH5d(keys=["image", "label"], dtype=np.float16)({"image": str(h5_file), "label": str(h5_file)})
    assert out["image"].dtype == torch.float16 and out["label"].dtype == torch.float16
    np.testing.assert_array_equal(out["label"].numpy(), LABEL.astype(np.float16))


def test_input_dict_is_not_modified(h5_file):
    data = {"image": str(h5_file), "label": str(h5_file)}
    LoadH5d(keys=["image", "label"])(data)
    assert data == {"image": str(h5_file), "label": str(h5_file)}


def test_h5_keys_map_to_other_dataset_names(tmp_path):
    path = write_h5(tmp_path / "la.h5", img=IMAGE, seg=LABEL, image=np.zeros((2, 2)))
    out = LoadH5d(keys=["image", "label"], h5_keys=["img", "seg"], dtype=[np.float32, np.uint8])(
        {"image": str(path), "label": str(path)}
    )
    np.testing.assert_allclose(out["image"].numpy(), IMAGE.astype(np.float32))  # "img", not the "image" dataset
    np.testing.assert_array_equal(out["label"].numpy(), LABEL.astype(np.uint8))
    assert out["label"].meta["filename_or_obj"] == str(path)


def test_allow_missing_keys_skips_an_absent_key(h5_file):
    out = LoadH5d(keys=["image", "label"], dtype=[np.float32, np.uint8], allow_missing_keys=True)(
        {"image": str(h5_file)}
    )
    assert set(out) == {"image"}
    np.testing.assert_allclose(out["image"].numpy(), IMAGE.astype(np.float32))


def test_allow_missing_keys_keeps_h5_keys_and_dtypes_aligned(h5_file):
    # the first key is absent: the second key must still use the *second* h5 key and dtype
    out = LoadH5d(keys=["img", "seg"], h5_keys=["image", "label"], dtype=[np.float32, np.uint8],
                  allow_missing_keys=True)({"seg": str(h5_file)})
    assert set(out) == {"seg"}
    assert out["seg"].dtype == torch.uint8
    np.testing.assert_array_equal(out["seg"].numpy(), LABEL.astype(np.uint8))


def test_absent_key_without_allow_missing_keys_raises(h5_file):
    with pytest.raises(KeyError):
        LoadH5d(keys=["image", "label"])({"image": str(h5_file)})


def test_read_h5_dataset_returns_an_in_memory_array(h5_file):
    array = read_h5_dataset(str(h5_file), "label")
    assert isinstance(array, np.ndarray) and array.dtype == np.int64
    np.testing.assert_array_equal(array, LABEL)
    h5_file.unlink()  # the file is closed and the array does not depend on it
    np.testing.assert_array_equal(array, LABEL)


# ----------------------------------------------------------------------------------------------------------------------
# errors (and the file is never modified)
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reader", ["function", "transform"])
def test_missing_file_raises_file_not_found_naming_it(tmp_path, reader):
    path = str(tmp_path / "nowhere" / "missing.h5")
    with pytest.raises(FileNotFoundError) as exc:
        if reader == "function":
            read_h5_dataset(path, "image")
        else:
            LoadH5d(keys="image")({"image": path})
    assert path in str(exc.value)
    assert not Path(path).exists()  # nothing was created


@pytest.mark.parametrize("kind", ["truncated", "text"])
@pytest.mark.parametrize("reader", ["function", "transform"])
def test_unreadable_file_raises_oserror_naming_it(request, kind, reader):
    path = request.getfixturevalue("truncated_h5" if kind == "truncated" else "text_file")
    before = path.read_bytes()
    with pytest.raises(OSError) as exc:
        if reader == "function":
            read_h5_dataset(str(path), "image")
        else:
            LoadH5d(keys=["image", "label"])({"image": str(path), "label": str(path)})
    assert not isinstance(exc.value, FileNotFoundError)
    assert str(path) in str(exc.value)
    assert path.read_bytes() == before


@pytest.mark.parametrize("reader", ["function", "transform"])
def test_missing_dataset_raises_key_error_naming_file_key_and_available_keys(h5_file, reader):
    before = h5_file.read_bytes()
    with pytest.raises(KeyError) as exc:
        if reader == "function":
            read_h5_dataset(str(h5_file), "mask")
        else:
            LoadH5d(keys=["image", "label"], h5_keys=["image", "mask"])({"image": str(h5_file), "label": str(h5_file)})
    message = exc.value.args[0]
    assert str(h5_file) in message
    assert "'mask'" in message
    assert "['image', 'label']" in message
    assert h5_file.read_bytes() == before


@pytest.mark.parametrize("h5_keys", [["image"], ["image", "label", "extra"], []])
def test_h5_keys_of_the_wrong_length_raise_value_error(h5_keys):
    with pytest.raises(ValueError, match="one entry per key"):
        LoadH5d(keys=["image", "label"], h5_keys=h5_keys)


def test_dtype_list_of_the_wrong_length_is_rejected():
    # a shorter dtype list would make key_iterator's zip silently skip the remaining keys
    with pytest.raises(ValueError, match="one per key"):
        LoadH5d(keys=["image", "label"], dtype=[np.float32])


def test_reading_many_times_never_changes_the_file(h5_file):
    before = h5_file.read_bytes()
    mtime = h5_file.stat().st_mtime_ns
    transform = LoadH5d(keys=["image", "label"], dtype=[np.float32, np.uint8])
    for _ in range(3):
        transform({"image": str(h5_file), "label": str(h5_file)})
        with pytest.raises(KeyError):
            read_h5_dataset(str(h5_file), "absent")
    assert h5_file.read_bytes() == before
    assert h5_file.stat().st_mtime_ns == mtime


# ----------------------------------------------------------------------------------------------------------------------
# voxel spacing from the file attribute (written by convert_raw_la_to_uamt)
# ----------------------------------------------------------------------------------------------------------------------
def _volume_with_attr(tmp_path, value):
    path = tmp_path / "case.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("image", data=np.zeros((4, 5, 6), np.float32))
        f.create_dataset("label", data=np.zeros((4, 5, 6), np.uint8))
        if value is not None:
            f.attrs["spacing"] = value
    return str(path)


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.array([0.625, 0.625, 2.5]), (0.625, 0.625, 2.5)),
        (None, None),  # the original UA-MT / SSL4MIS files
        (np.array([np.nan, np.nan, np.nan]), None),  # what the converter writes for an unknown spacing
        (np.array([0.625, 0.0, 2.5]), None),
        (np.array([1.0, 1.0]), None),  # wrong number of axes
        ("not numbers", None),
    ],
)
def test_read_h5_spacing(tmp_path, value, expected):
    from metassl_monai.transforms.io import read_h5_spacing

    assert read_h5_spacing(_volume_with_attr(tmp_path, value), ndim=3) == expected


@pytest.mark.parametrize(
    "value, pixdim",
    [(np.array([0.625, 0.7, 2.5]), [0.625, 0.7, 2.5]), (None, [1.0, 1.0, 1.0]), (np.array([np.nan] * 3), [1.0] * 3)],
)
def test_loadh5d_puts_the_spacing_in_the_affine(tmp_path, value, pixdim):
    path = _volume_with_attr(tmp_path, value)
    out = LoadH5d(["image", "label"])({"image": path, "label": path})
    for key in ("image", "label"):
        assert out[key].pixdim.tolist() == pytest.approx(pixdim)
        assert out[key].affine[:3, 3].tolist() == [0.0, 0.0, 0.0]


def test_loadh5d_spacing_attr_none_ignores_the_attribute(tmp_path):
    path = _volume_with_attr(tmp_path, np.array([0.5, 0.5, 2.0]))
    out = LoadH5d("image", spacing_attr=None)({"image": path})
    assert out["image"].pixdim.tolist() == [1.0, 1.0, 1.0]


# ----------------------------------------------------------------------------------------------------------------------
# LoadImageNamingErrorsd: LoadImaged whose read errors name the file
# ----------------------------------------------------------------------------------------------------------------------
def _nifti(path: Path, array: np.ndarray) -> Path:
    import nibabel as nib

    nib.save(nib.Nifti1Image(array, np.eye(4)), str(path))
    return path


@pytest.fixture
def nifti_pair(tmp_path) -> tuple[Path, Path]:
    image = _nifti(tmp_path / "case.nii.gz", np.random.default_rng(0).random((12, 10, 6)).astype(np.float32))
    label = _nifti(tmp_path / "case_gt.nii.gz", (np.arange(720).reshape(12, 10, 6) % 4).astype(np.uint8))
    return image, label


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a nifti file" * 8)


def test_load_image_naming_errors_loads_like_load_imaged(nifti_pair):
    from monai.transforms import LoadImaged

    from metassl_monai.transforms import LoadImageNamingErrorsd

    item = {"image": str(nifti_pair[0]), "label": str(nifti_pair[1])}
    ours = LoadImageNamingErrorsd(["image", "label"], image_only=True)(item)
    theirs = LoadImaged(["image", "label"], image_only=True)(item)
    for key in item:
        assert torch.equal(ours[key], theirs[key]) and ours[key].meta["filename_or_obj"] == item[key]


@pytest.mark.parametrize("damage", [_truncate, _garbage], ids=["truncated", "not-nifti"])
@pytest.mark.parametrize("key", ["image", "label"])
def test_load_image_naming_errors_names_the_unreadable_file(nifti_pair, damage, key):
    import re

    from metassl_monai.transforms import LoadImageNamingErrorsd

    item = {"image": str(nifti_pair[0]), "label": str(nifti_pair[1])}
    damage(Path(item[key]))
    before = Path(item[key]).read_bytes()
    with pytest.raises(OSError, match=rf"cannot read '{key}' file {re.escape(item[key])} \(truncated or corrupt\?\)"):
        LoadImageNamingErrorsd(["image", "label"], image_only=True)(item)
    assert Path(item[key]).read_bytes() == before


def test_load_image_naming_errors_missing_file(nifti_pair, tmp_path):
    import re

    from metassl_monai.transforms import LoadImageNamingErrorsd

    missing = str(tmp_path / "absent.nii.gz")
    with pytest.raises(FileNotFoundError, match=rf"'label' file not found: {re.escape(missing)}"):
        LoadImageNamingErrorsd(["image", "label"], image_only=True)({"image": str(nifti_pair[0]), "label": missing})
