# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the Left Atrium readers (:mod:`metassl_monai.data.la`) and synthetic writers (``synthetic_la``)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from metassl_monai.data.la import (
    LA_TRAINING_FOLDER,
    UAMT_H5_NAME,
    convert_raw_la_to_uamt,
    la_uamt_datalists,
    la_uamt_eval_datalist,
    la_uamt_split,
    msd_heart_split,
    msd_heart_datalist,
    read_nrrd,
    read_nrrd_header,
    uamt_case_path,
)
from metassl_monai.data.synthetic_la import (
    la_case_ids,
    synthesize_la_volume,
    write_msd_heart_dataset,
    write_nrrd,
    write_raw_la_dataset,
    write_uamt_la_dataset,
)
from metassl_monai.transforms import LoadH5d

SHAPE = (32, 32, 16)
CASE_ID = re.compile(r"^[A-Z0-9]{20}$")


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------------------------------------------------
# synthetic volumes
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(48, 48, 24), (32, 40, 16)])
def test_volume_shape_dtype_values(shape):
    image, label = synthesize_la_volume(shape, rng=3)
    assert image.shape == label.shape == shape
    assert image.dtype == np.float32 and label.dtype == np.uint8
    assert set(np.unique(label).tolist()) == {0, 1}
    assert 0 < image.min() and 300 <= image.max() <= 400 + 1e-3  # raw positive MR-like units, not normalised
    assert image[label == 1].mean() > 1.8 * image[label == 0].mean()  # bright blood pool
    assert 0.01 < label.mean() < 0.3


@pytest.mark.parametrize("seed", range(8))
def test_volume_is_one_blob_with_veins(seed):
    _, label = synthesize_la_volume(rng=seed)
    assert ndimage.label(label)[1] == 1  # body and veins: a single 6-connected component
    # the veins (radius ~2 voxels) do not survive an opening with a 5x5x5 cube, the body does; away from the body
    # (dilated by 2) what remains is 2-4 tubes
    body = ndimage.binary_opening(label, structure=np.ones((5, 5, 5), bool))
    assert body.sum() > 0.3 * label.sum()
    pieces, _ = ndimage.label(label.astype(bool) & ~ndimage.binary_dilation(body, iterations=2))
    sizes = np.bincount(pieces.ravel())[1:]
    assert 2 <= np.count_nonzero(sizes >= 30) <= 4


def test_volume_determinism():
    a = synthesize_la_volume(SHAPE, rng=5)
    b = synthesize_la_volume(SHAPE, rng=np.random.default_rng(5))
    c = synthesize_la_volume(SHAPE, rng=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_volume_argument_errors():
    with pytest.raises(ValueError, match="shape"):
        synthesize_la_volume((8, 48, 24))
    with pytest.raises(ValueError, match="spacing"):
        synthesize_la_volume(SHAPE, spacing=(0.625, 0, 2.5))


def test_case_ids():
    ids = la_case_ids(5, seed=1)
    assert all(CASE_ID.match(i) for i in ids) and len(set(ids)) == 5
    assert la_case_ids(3, seed=1) == ids[:3]  # case i depends on (seed, i) only
    assert la_case_ids(3, seed=2) != ids[:3]


# ----------------------------------------------------------------------------------------------------------------------
# UA-MT layout and datalists
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def uamt(tmp_path_factory) -> Path:
    return write_uamt_la_dataset(tmp_path_factory.mktemp("la") / "LA", n_cases=10, n_test=2, shape=SHAPE, seed=0)


def test_uamt_layout(uamt):
    train = (uamt / "train.list").read_text().split()
    test = (uamt / "test.list").read_text().split()
    assert len(train) == 8 and len(test) == 2 and not set(train) & set(test)
    assert train + test == la_case_ids(10, seed=0)  # the last n_test cases go to test.list
    for case in train + test:
        path = uamt / LA_TRAINING_FOLDER / case / UAMT_H5_NAME
        assert CASE_ID.match(case) and path.is_file()
    with h5py.File(uamt_case_path(uamt, train[0]), "r") as f:
        image, label = f["image"][()], f["label"][()]
    assert image.shape == label.shape == SHAPE
    assert image.dtype == np.float32 and label.dtype == np.uint8
    assert set(np.unique(label).tolist()) == {0, 1}
    assert abs(image.mean()) < 1e-4 and abs(image.std() - 1) < 1e-4


@pytest.mark.parametrize("labeled_cases", [1, 2])  # "10 %" and "20 %" of an 8-case train.list, as 8 / 16 of 80
def test_uamt_datalists(uamt, labeled_cases):
    labeled, unlabeled = la_uamt_datalists(uamt, labeled_cases=labeled_cases)
    train = (uamt / "train.list").read_text().split()
    assert len(labeled) == labeled_cases and len(unlabeled) == 8 - labeled_cases
    assert [d["image"] for d in labeled + unlabeled] == [str(uamt_case_path(uamt, c)) for c in train]
    assert all(d["label"] == d["image"] for d in labeled)
    assert all(set(d) == {"image"} for d in unlabeled)
    loaded = LoadH5d(["image", "label"])(labeled[0])
    assert tuple(loaded["image"].shape) == tuple(loaded["label"].shape) == SHAPE


def test_uamt_eval_datalist(uamt):
    items = la_uamt_eval_datalist(uamt)
    test = (uamt / "test.list").read_text().split()
    assert [d["name"] for d in items] == test
    assert all(d["image"] == d["label"] == str(uamt_case_path(uamt, d["name"])) for d in items)


def test_uamt_datalist_errors(uamt, tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        la_uamt_datalists(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="train.list"):
        la_uamt_datalists(tmp_path)
    with pytest.raises(FileNotFoundError, match="other.list"):
        la_uamt_eval_datalist(uamt, "other.list")
    for bad, why in ((0, "the labeled stream would be empty"), (8, "no case would be left for the unlabeled"),
                     (9, "no case would be left for the unlabeled")):
        with pytest.raises(ValueError, match=f"^labeled_cases={bad} is out of range: {why}") as exc:
            la_uamt_datalists(uamt, labeled_cases=bad)
        assert f"must be between 1 and 7 (train.list of {uamt} has 8 cases)" in str(exc.value)
    # a listed case without its h5
    (tmp_path / "train.list").write_text("ABCDEFGHIJKLMNOPQRST\n")
    with pytest.raises(FileNotFoundError, match=re.escape(str(uamt_case_path(tmp_path, "ABCDEFGHIJKLMNOPQRST")))):
        la_uamt_datalists(tmp_path)


def test_uamt_writer_refuses_overwrite(tmp_path):
    root = write_uamt_la_dataset(tmp_path / "LA", n_cases=3, n_test=1, shape=SHAPE, seed=0)
    before = _snapshot(root)
    with pytest.raises(FileExistsError, match=re.escape(str(root / "train.list"))):
        write_uamt_la_dataset(root, n_cases=3, n_test=1, shape=SHAPE, seed=1)
    assert _snapshot(root) == before
    write_uamt_la_dataset(root, n_cases=3, n_test=1, shape=SHAPE, seed=1, overwrite=True)
    cases = sorted(p.parent.name for p in (root / LA_TRAINING_FOLDER).glob(f"*/{UAMT_H5_NAME}"))
    assert cases == sorted(la_case_ids(3, seed=1))  # the previous dataset's files are gone
    with pytest.raises(ValueError, match="n_test"):
        write_uamt_la_dataset(tmp_path / "bad", n_cases=2, n_test=2)


# ----------------------------------------------------------------------------------------------------------------------
# NRRD
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["raw", "gzip"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.float32, np.float64])
def test_nrrd_roundtrip(tmp_path, encoding, dtype):
    rng = np.random.default_rng(0)
    array = (rng.uniform(0, 200, size=(7, 5, 3))).astype(dtype)
    path = write_nrrd(tmp_path / "x.nrrd", array, spacing=(0.625, 0.7, 2.5), origin=(1, 2, 3), encoding=encoding)
    assert path.read_bytes().startswith(b"NRRD0004\n")
    out, header = read_nrrd(path)
    assert out.dtype == array.dtype and out.shape == (7, 5, 3)
    np.testing.assert_array_equal(out, array)
    assert header["spacing"] == pytest.approx((0.625, 0.7, 2.5))
    np.testing.assert_allclose(header["origin"], [1, 2, 3])
    np.testing.assert_allclose(header["directions"], np.diag([0.625, 0.7, 2.5]))
    assert header["encoding"] == encoding and header["space"] == "left-posterior-superior"
    out.flat[0] = 1  # writable


def test_nrrd_big_endian_spacings_and_skips(tmp_path):
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 5
    header = "NRRD0005\ntype: signed short\ndimension: 3\nsizes: 2 3 4\nspacings: 1.5 1.5 3\nendian: big\n"
    data = array.astype(">i2").tobytes(order="F")
    (tmp_path / "big.nrrd").write_bytes((header + "encoding: raw\nbyte skip: -1\n\n").encode() + b"junk" + data)
    out, meta = read_nrrd(tmp_path / "big.nrrd")
    np.testing.assert_array_equal(out, array)
    assert out.dtype == np.int16 and out.dtype.isnative and meta["spacing"] == (1.5, 1.5, 3.0)
    gz_header = (header + "encoding: gz\nline skip: 1\n\n").encode()
    (tmp_path / "gz.nrrd").write_bytes(gz_header + b"x\n" + gzip.compress(data))
    np.testing.assert_array_equal(read_nrrd(tmp_path / "gz.nrrd")[0], array)


def _header(**fields) -> bytes:
    base = {"type": "float", "dimension": "3", "sizes": "2 2 2", "endian": "little", "encoding": "raw"}
    base.update(fields)
    return ("NRRD0004\n" + "".join(f"{k}: {v}\n" for k, v in base.items() if v is not None) + "\n").encode()


@pytest.mark.parametrize(
    "content, message",
    [
        (_header() + b"\0" * 31, "truncated NRRD file: .* need 32 bytes of data, found 31"),
        (_header(encoding="gzip") + gzip.compress(b"\0" * 32, mtime=0)[:-9], "corrupt or truncated gzip"),
        (b"NRRD0004\ntype: float\ndimension: 3\n", "header has no terminating blank line"),
        (_header(encoding="ascii") + b"0 " * 8, "unsupported NRRD encoding 'ascii'"),
        (_header(type="block") + b"\0" * 32, "unsupported NRRD type 'block'"),
        (_header(sizes=None) + b"\0" * 32, "no 'sizes' field"),
        (_header(endian=None) + b"\0" * 32, "no valid 'endian' field"),
        (_header(sizes="2 2") + b"\0" * 32, "do not match dimension 3"),
        (_header(**{"data file": "x.raw"}), "detached NRRD data"),
        (_header(**{"space directions": "(1,0,0) (0,1,0)"}) + b"\0" * 32, "'space directions' has 2 entries"),
        (b"P5\n2 2\n255\n" + b"\0" * 4, "is not a NRRD file"),
    ],
)
def test_nrrd_errors_name_the_file(tmp_path, content, message):
    path = tmp_path / "bad_file.nrrd"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + message):
        read_nrrd(path)


def test_nrrd_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.nrrd"):
        read_nrrd(tmp_path / "absent.nrrd")
    with pytest.raises(FileNotFoundError, match="absent.nrrd"):
        read_nrrd_header(tmp_path / "absent.nrrd")


# ----------------------------------------------------------------------------------------------------------------------
# raw release → UA-MT
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture
def raw(tmp_path) -> Path:
    return write_raw_la_dataset(tmp_path / "Training Set", n_cases=2, shape=SHAPE, seed=0)


def test_raw_layout(raw):
    cases = la_case_ids(2, seed=0)
    assert sorted(p.name for p in raw.iterdir()) == sorted(cases)
    image, header = read_nrrd(raw / cases[0] / "lgemri.nrrd")
    label, _ = read_nrrd(raw / cases[0] / "laendo.nrrd")
    assert image.shape == label.shape == SHAPE and image.dtype == label.dtype == np.uint8
    assert set(np.unique(label).tolist()) == {0, 255}
    assert header["spacing"] == pytest.approx((0.625, 0.625, 2.5)) and header["encoding"] == "gzip"
    _, synth_label = synthesize_la_volume(SHAPE, rng=np.random.default_rng([0, 0]))
    np.testing.assert_array_equal(label == 255, synth_label == 1)  # case i is the same volume in every writer
    with pytest.raises(FileExistsError, match=re.escape(str(raw))):
        write_raw_la_dataset(raw, n_cases=1, shape=SHAPE)


def test_convert_crop_normalise(raw, tmp_path):
    margin = (3, 3, 2)
    out = tmp_path / "LA"
    paths = convert_raw_la_to_uamt(raw, out, margin=margin, min_size=(0, 0, 0), crop_z=True, normalize="crop")
    cases = sorted(la_case_ids(2, seed=0))
    assert paths == [uamt_case_path(out, c) for c in cases]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left
    for case, path in zip(cases, paths):
        source, _ = read_nrrd(raw / case / "lgemri.nrrd")
        full = read_nrrd(raw / case / "laendo.nrrd")[0] == 255
        with h5py.File(path, "r") as f:
            image, label = f["image"][()], f["label"][()]
            start, stop = f.attrs["crop_start"], f.attrs["crop_stop"]
            assert f.attrs["spacing"] == pytest.approx((0.625, 0.625, 2.5))
        assert image.dtype == np.float32 and label.dtype == np.uint8 and image.shape == label.shape
        assert set(np.unique(label).tolist()) == {0, 1} and label.sum() == full.sum()  # the whole label is inside
        idx = np.argwhere(full)
        lo, hi = idx.min(0), idx.max(0)
        np.testing.assert_array_equal(start, np.maximum(lo - margin, 0))  # margin kept, or the crop touches the border
        np.testing.assert_array_equal(stop, np.minimum(hi + 1 + np.array(margin), SHAPE))
        box = tuple(slice(a, b) for a, b in zip(start, stop))
        np.testing.assert_array_equal(label, full[box])
        assert abs(image.mean()) < 1e-4 and abs(image.std() - 1) < 1e-4
        crop = source[box].astype(np.float64)
        np.testing.assert_allclose(image, (crop - crop.mean()) / crop.std(), rtol=1e-5, atol=1e-5)

    # the converted dataset feeds the UA-MT datalists once the lists exist
    (out / "train.list").write_text("\n".join(cases) + "\n")
    labeled, unlabeled = la_uamt_datalists(out, labeled_cases=1)
    assert labeled[0]["label"] == str(paths[0]) and unlabeled == [{"image": str(paths[1])}]


def test_convert_uamt_defaults(raw, tmp_path):
    """UA-MT: x/y crop widened to 112 (clipped to the 32-voxel volume here), z kept, volume-wide z-score."""
    (path, _) = convert_raw_la_to_uamt(raw, tmp_path / "LA")
    case = path.parent.name
    source = read_nrrd(raw / case / "lgemri.nrrd")[0].astype(np.float64)
    with h5py.File(path, "r") as f:
        image = f["image"][()]
    np.testing.assert_allclose(image, (source - source.mean()) / source.std(), rtol=1e-5, atol=1e-5)


def test_convert_refuses_overwrite(raw, tmp_path):
    out = tmp_path / "LA"
    first, second = convert_raw_la_to_uamt(raw, out, min_size=(0, 0, 0))
    second.unlink()
    before = first.read_bytes()
    with pytest.raises(FileExistsError, match=re.escape(str(first))):
        convert_raw_la_to_uamt(raw, out, margin=(1, 1, 1), min_size=(0, 0, 0))
    assert first.read_bytes() == before and not second.exists()  # nothing written for any case
    convert_raw_la_to_uamt(raw, out, margin=(1, 1, 1), min_size=(0, 0, 0), overwrite=True)
    assert first.read_bytes() != before and second.is_file()


def test_convert_input_errors(raw, tmp_path):
    cases = sorted(la_case_ids(2, seed=0))
    out = tmp_path / "LA"
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        convert_raw_la_to_uamt(tmp_path / "no_such_dir", out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no case folder"):
        convert_raw_la_to_uamt(tmp_path / "empty", out)

    # a missing laendo.nrrd is named, before anything is written
    label_path = raw / cases[1] / "laendo.nrrd"
    label_bytes = label_path.read_bytes()
    label_path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(label_path))):
        convert_raw_la_to_uamt(raw, out)
    assert not out.exists()

    # a truncated image (raw encoding: the header is fine, the data is short) is named; nothing is left in out_dir
    label_path.write_bytes(label_bytes)
    image, _ = read_nrrd(raw / cases[1] / "lgemri.nrrd")
    image_path = write_nrrd(raw / cases[1] / "lgemri.nrrd", image, (0.625, 0.625, 2.5), encoding="raw")
    image_path.write_bytes(image_path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=re.escape(str(image_path)) + ".*truncated"):
        convert_raw_la_to_uamt(raw, out)
    assert list(out.iterdir()) == []  # the first case's output was staged only, then removed

    # an empty label names the case
    write_nrrd(raw / cases[1] / "lgemri.nrrd", image, (0.625, 0.625, 2.5))
    write_nrrd(label_path, np.zeros(SHAPE, np.uint8), (0.625, 0.625, 2.5))
    with pytest.raises(ValueError, match=f"case {cases[1]}: empty label"):
        convert_raw_la_to_uamt(raw, out)

    # image and label sizes differ
    write_nrrd(label_path, np.zeros((8, 8, 8), np.uint8), (0.625, 0.625, 2.5))
    with pytest.raises(ValueError, match=f"case {cases[1]}.*sizes"):
        convert_raw_la_to_uamt(raw, out)


# ----------------------------------------------------------------------------------------------------------------------
# Medical Segmentation Decathlon Task02_Heart
# ----------------------------------------------------------------------------------------------------------------------
def test_msd_roundtrip(tmp_path):
    root = write_msd_heart_dataset(tmp_path / "Task02_Heart", n_cases=2, shape=SHAPE, seed=0)
    content = json.loads((root / "dataset.json").read_text())
    assert content["modality"] == {"0": "MRI"} and content["labels"] == {"0": "background", "1": "left atrium"}
    assert content["numTraining"] == 2 and content["test"] == []
    assert content["training"][0] == {"image": "./imagesTr/la_003.nii.gz", "label": "./labelsTr/la_003.nii.gz"}
    items = msd_heart_datalist(root)
    assert [Path(d["image"]).name for d in items] == ["la_003.nii.gz", "la_004.nii.gz"]
    assert all(Path(d["image"]).is_absolute() and Path(d["label"]).parent.name == "labelsTr" for d in items)
    image, label = nib.load(items[0]["image"]), nib.load(items[0]["label"])
    assert image.shape == label.shape == SHAPE and image.header.get_zooms() == pytest.approx((1.25, 1.25, 1.37))
    assert set(np.unique(np.asarray(label.dataobj)).tolist()) == {0, 1}
    with pytest.raises(FileExistsError, match=re.escape(str(root / "dataset.json"))):
        write_msd_heart_dataset(root, n_cases=1, shape=SHAPE)


def test_msd_errors(tmp_path):
    root = write_msd_heart_dataset(tmp_path / "Task02_Heart", n_cases=2, shape=SHAPE, seed=0)
    missing = root / "labelsTr" / "la_004.nii.gz"
    missing.unlink()
    with pytest.raises(FileNotFoundError) as excinfo:
        msd_heart_datalist(root)
    assert str(missing.resolve()) in str(excinfo.value) and str(root / "dataset.json") in str(excinfo.value)
    with pytest.raises(FileNotFoundError, match="dataset.json"):
        msd_heart_datalist(tmp_path)
    (tmp_path / "dataset.json").write_text("{not json")
    with pytest.raises(ValueError, match="dataset.json.*not valid JSON"):
        msd_heart_datalist(tmp_path)
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "x"}))
    with pytest.raises(ValueError, match="'training'"):
        msd_heart_datalist(tmp_path)


# ----------------------------------------------------------------------------------------------------------------------
# labeled / unlabeled / validation splits for training with model selection
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("labeled_cases, val_cases", [(1, 1), (2, 3), (6, 1)])
def test_uamt_split(uamt, labeled_cases, val_cases):
    split = la_uamt_split(uamt, labeled_cases=labeled_cases, val_cases=val_cases)
    train = (uamt / "train.list").read_text().split()
    paths = [str(uamt_case_path(uamt, c)) for c in train]
    assert [d["image"] for d in split["labeled"]] == paths[:labeled_cases]
    assert [d["image"] for d in split["unlabeled"]] == paths[labeled_cases : 8 - val_cases]
    assert [d["name"] for d in split["validation"]] == train[8 - val_cases :]
    assert all(set(d) == {"image"} for d in split["unlabeled"])
    assert all(d["label"] == d["image"] for d in split["labeled"] + split["validation"])
    # the labeled cases are the same as la_uamt_datalists' (the UA-MT protocol), only the unlabeled pool shrinks
    assert split["labeled"] == la_uamt_datalists(uamt, labeled_cases)[0]


@pytest.mark.parametrize(
    "labeled_cases, val_cases, empty",
    [(0, 1, "labeled"), (1, 0, "validation"), (4, 4, "unlabeled"), (7, 1, "unlabeled"), (8, 2, "unlabeled")],
)
def test_uamt_split_rejects_counts_that_empty_a_set(uamt, labeled_cases, val_cases, empty):
    with pytest.raises(ValueError, match=rf"^labeled_cases={labeled_cases}, val_cases={val_cases} leave the {empty} "
                                         r"set\(s\) empty: .*train\.list has 8 cases.*--labeled_cases / --val_cases"):
        la_uamt_split(uamt, labeled_cases=labeled_cases, val_cases=val_cases)


def test_msd_split_uses_test_images_as_unlabeled(tmp_path):
    root = write_msd_heart_dataset(tmp_path / "Task02_Heart", n_cases=5, n_test=2, shape=SHAPE, seed=0)
    content = json.loads((root / "dataset.json").read_text())
    assert content["numTest"] == 2 and content["test"] == ["./imagesTs/la_008.nii.gz", "./imagesTs/la_009.nii.gz"]
    split = msd_heart_split(root, labeled_cases=2, val_cases=1)
    names = lambda items: [Path(d["image"]).name for d in items]  # noqa: E731
    assert names(split["labeled"]) == ["la_003.nii.gz", "la_004.nii.gz"]
    assert names(split["unlabeled"]) == ["la_005.nii.gz", "la_006.nii.gz", "la_008.nii.gz", "la_009.nii.gz"]
    assert [d["name"] for d in split["validation"]] == ["la_007"]
    assert all(set(d) == {"image"} for d in split["unlabeled"])
    assert nib.load(split["unlabeled"][-1]["image"]).shape == SHAPE
    with pytest.raises(ValueError, match="has 5 cases"):
        msd_heart_split(root, labeled_cases=4, val_cases=1)
    (root / "imagesTs" / "la_009.nii.gz").unlink()
    with pytest.raises(FileNotFoundError, match="la_009"):
        msd_heart_split(root, labeled_cases=2, val_cases=1)


def test_msd_overwrite_removes_old_test_images(tmp_path):
    root = write_msd_heart_dataset(tmp_path / "T", n_cases=2, n_test=2, shape=SHAPE, seed=0)
    keep = root / "imagesTs" / "mine.txt"
    keep.write_text("user file")
    write_msd_heart_dataset(root, n_cases=2, n_test=0, shape=SHAPE, seed=0, overwrite=True)
    assert not list((root / "imagesTs").glob("*.nii.gz")) and keep.read_text() == "user file"
