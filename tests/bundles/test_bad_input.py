# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Bad input through the bundles, as a user meets it (`python -m monai.bundle run ...`, issue #6 "Reliability"). The
runs go through the same command line in this process (tests/bundle_runner.py): its exit status and stderr are what
the interpreter would give (an exception's traceback, printed as `python -m` prints it, and exit status 1).

Every case damages a private copy (``fresh_copy``) of a session dataset of tests/conftest.py (missing folder / listed
file, truncated h5 or NIfTI, labels >= num_classes, wrong dimensions, NaN / Inf) or asks for split counts that empty a
stream (on the shared, read-only dataset), and checks what is guaranteed:

- the run exits non-zero;
- stderr holds the clear message, naming the file (or the config key) and what was expected. MONAI wraps errors
  raised inside transforms / config instantiation ("applying transform ...", "Failed to instantiate component ..."),
  so the clear message is the root cause of the printed traceback, not necessarily its last line;
- no model or checkpoint was written, and nothing on disk changed: the dataset, the bundle folder and the (pre-created,
  empty) output folder have the same files, sizes, mtimes and contents before and after.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from bundle_runner import ACDC_TINY, LA_TINY, bundle_root, config_list, configs, run_bundle, training_args

from metassl_monai.data import write_nifti_volumes
from metassl_monai.data.la import uamt_case_path

ACDC_BUNDLE = bundle_root("metassl_acdc")
LA_BUNDLE = bundle_root("metassl_la")
SHORT = ["--num_iterations", "2", "--val_interval", "1"]
CHECKPOINTS = ("*.pt", "*.pth", "*.ts")


# ----------------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------------
def snapshot(*roots: Path) -> dict[str, tuple]:
    """``{path: (kind, size, mtime_ns, sha256)}`` of every file and folder under ``roots`` (absent roots included)."""
    state: dict[str, tuple] = {}
    for root in roots:
        if not root.exists():
            state[str(root)] = ("absent",)
            continue
        for p in sorted([root, *root.rglob("*")]):
            st = p.lstat()
            if p.is_dir():
                state[str(p)] = ("dir",)
            else:
                state[str(p)] = ("file", st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return state


def assert_fails_cleanly(args: list[str], message: str, watched: list[Path], output_dir: Path) -> str:
    """``monai.bundle ARGS`` (in this process) must fail with ``message`` (a regex) in stderr and change nothing under
    ``watched``."""
    output_dir.mkdir(parents=True, exist_ok=True)  # pre-created: the configs' `initialize` makes it
    roots = [*watched, output_dir]
    before = snapshot(*roots)
    proc: subprocess.CompletedProcess = run_bundle(*args, check=False)
    stderr = proc.stderr
    assert proc.returncode != 0, f"expected a failure, got exit 0:\n{proc.stdout[-2000:]}\n{stderr[-2000:]}"
    assert re.search(message, stderr), f"{message!r} not in stderr:\n{stderr[-5000:]}"
    written = [p for root in roots if root.exists() for pattern in CHECKPOINTS for p in root.rglob(pattern)
               if str(p) not in before]  # (the bundle ships models/model.pt)
    assert not written, f"a model/checkpoint was written: {written}"
    assert snapshot(*roots) == before, "the dataset, the bundle or the output folder changed"
    return stderr


def acdc_args(dataset: Path, out: Path, *extra: str) -> list[str]:
    return training_args("metassl_acdc", dataset, out, *ACDC_TINY, *SHORT, *extra)


def la_args(dataset: Path, out: Path, *extra: str) -> list[str]:
    return training_args("metassl_la", dataset, out, *LA_TINY, *SHORT, *extra)


def rewrite_h5(path: Path, **arrays: np.ndarray) -> None:
    """Replace datasets of an h5 file (the damage is done before the snapshot)."""
    with h5py.File(path, "r+") as f:
        for key, array in arrays.items():
            del f[key]
            f.create_dataset(key, data=array)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def q(path: Path | str) -> str:
    return re.escape(str(path))


@pytest.fixture
def acdc(acdc_dataset, fresh_copy) -> Path:
    """A fresh copy of the session ACDC-like dataset (3 training patients, 1 labeled here; 1 validation patient; slices
    ~32 x 32), free to damage."""
    return fresh_copy(acdc_dataset)


def acdc_slice(root: Path, index: int = -1) -> Path:
    """A listed training slice; the last one is unlabeled with labeled_patients=1 (the unlabeled stream is checked too)."""
    names = (root / "train_slices.list").read_text().split()
    return root / "data" / "slices" / f"{names[index]}.h5"


@pytest.fixture
def la(la_dataset, fresh_copy) -> Path:
    """A fresh copy of the session LA-like dataset: train.list of 8 cases (2 labeled, 4 unlabeled, 2 validation),
    test.list of 2; 40 x 40 x 24 volumes."""
    return fresh_copy(la_dataset)


def la_case(root: Path, index: int) -> Path:
    return uamt_case_path(root, (root / "train.list").read_text().split()[index])


# ----------------------------------------------------------------------------------------------------------------------
# metassl_acdc training
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_acdc_missing_dataset_dir(tmp_path):
    missing = tmp_path / "no_such_dataset"
    assert_fails_cleanly(acdc_args(missing, tmp_path / "out"),
                         rf"dataset_dir does not exist or is not a folder: {q(missing)}", [tmp_path], tmp_path / "out")


@pytest.mark.slow
def test_acdc_listed_slice_missing(acdc, tmp_path):
    gone = acdc_slice(acdc, 2)
    gone.unlink()
    assert_fails_cleanly(acdc_args(acdc, tmp_path / "out"),
                         rf"1 file\(s\) listed in {q(acdc / 'train_slices.list')} are missing: {q(gone)}",
                         [acdc, ACDC_BUNDLE], tmp_path / "out")


def _acdc_nan(path):
    with h5py.File(path, "r") as f:
        image = f["image"][()]
    image[(1,) * image.ndim], image[(2,) * image.ndim] = np.nan, np.inf  # one voxel each (slice or volume)
    rewrite_h5(path, image=image)


def _acdc_label_4(path):
    with h5py.File(path, "r") as f:
        label = f["label"][()]
    label[0, 0] = 4
    rewrite_h5(path, label=label)


@pytest.mark.slow
@pytest.mark.parametrize(
    "index, damage, message",
    [
        (0, truncate, r"OSError: cannot read HDF5 file {path} \(truncated or not HDF5\?\)"),
        (-1, _acdc_nan, r"ValueError: {path}: image 'image' has non-finite values \(1 NaN, 1 Inf of \d+ voxels\), "
                        r"expected only finite values"),
        (0, _acdc_label_4, r"ValueError: {path}: label 'label' has values in \[0, 4\], expected class indices 0\.\.3 "
                           r"\(num_classes=4\)"),
    ],
    ids=["truncated-h5", "nan-inf-unlabeled", "label-ge-num_classes"],
)
def test_acdc_bad_slice(acdc, tmp_path, index, damage, message):
    """Index 0 is a labeled slice, -1 an unlabeled one (labeled_patients=1)."""
    path = acdc_slice(acdc, index)
    damage(path)
    assert_fails_cleanly(acdc_args(acdc, tmp_path / "out"), message.format(path=q(path)), [acdc, ACDC_BUNDLE],
                         tmp_path / "out")


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        # every patient labeled: the unlabeled stream of Mean Teacher would be empty
        (["--labeled_patients", "3"], r"labeled_patients=3 is out of range: no patient would be left for the "
                                      r"unlabeled stream .*between 1 and 2 \(train_slices\.list of {root} has 3"),
        # more unlabeled slices per batch than exist (drop_last): the loader would yield nothing
        (["--unlabeled_batch_size", "1000"], r"the unlabeled data loader would yield no batch: unlabeled_batch_size="
                                             r"1000 but the unlabeled datalist has only \d+ item\(s\) and drop_last="
                                             r"True; set unlabeled_batch_size <= \d+, or lower labeled_patients\."),
    ],
    ids=["labeled_patients-all", "empty-unlabeled-loader"],
)
def test_acdc_split_settings(acdc_dataset, tmp_path, extra, message):
    """Nothing is damaged: the shared dataset, which the run must leave unchanged."""
    acdc = acdc_dataset
    assert_fails_cleanly(acdc_args(acdc, tmp_path / "out", *extra), message.format(root=q(acdc)), [acdc, ACDC_BUNDLE],
                         tmp_path / "out")


# ----------------------------------------------------------------------------------------------------------------------
# metassl_acdc evaluation and inference
# ----------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def acdc_model(tmp_path_factory) -> Path:
    """An untrained network's weights in the bundle's format (evaluation/inference only need a loadable model.pt)."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(configs("metassl_acdc", "train.json")[0])
    path = tmp_path_factory.mktemp("acdc_model") / "model.pt"
    torch.save(parser.get_parsed_content("network_def").state_dict(), path)
    return path


@pytest.mark.slow
def test_acdc_evaluate_nan_volume(acdc, acdc_model, tmp_path):
    first = (acdc / "val.list").read_text().split()[0]  # the first volume: nothing is evaluated before it
    path = acdc / "data" / f"{first}.h5"
    _acdc_nan(path)
    args = ["run", "evaluating",
            "--config_file", config_list(configs("metassl_acdc", "train.json", "train_cpu.json", "evaluate.json")),
            "--bundle_root", str(ACDC_BUNDLE), "--dataset_dir", str(acdc), "--output_dir", str(tmp_path / "eval"),
            "--ckpt_path", str(acdc_model), "--patch_size", "[32,32]"]
    assert_fails_cleanly(args, rf"{q(path)}: image 'image' has non-finite values \(1 NaN, 1 Inf",
                         [acdc, ACDC_BUNDLE, acdc_model.parent], tmp_path / "eval")


@pytest.mark.slow
@pytest.mark.parametrize("bad_index", [0, 1, 2], ids=["first", "middle", "last"])
def test_acdc_inference_over_a_folder_with_a_bad_nifti(acdc, acdc_model, tmp_path, bad_index):
    """Issue 16 part 2: every readable volume gets its mask, the bad one none (nor a partial file); one summary names
    it and why, the run exits non-zero and failed_inputs.json lists it; the input folder is unchanged."""
    nii_dir = tmp_path / "nii"
    first = write_nifti_volumes(acdc / "data", nii_dir, with_labels=False)[0]  # the 2 frames of the validation patient
    (nii_dir / "p3.nii.gz").write_bytes(first.read_bytes())  # and a third volume
    volumes = sorted(nii_dir.glob("*.nii.gz"))
    assert len(volumes) == 3
    bad = volumes[bad_index]
    truncate(bad)
    out = tmp_path / "seg"
    out.mkdir()
    (out / "mine.txt").write_text("kept")  # something of the user's in the output folder
    before = snapshot(nii_dir, ACDC_BUNDLE, acdc_model.parent)
    args = ["run", "--config_file", configs("metassl_acdc", "inference.json")[0], "--bundle_root", str(ACDC_BUNDLE),
            "--dataset_dir", str(nii_dir), "--output_dir", str(out), "--ckpt_path", str(acdc_model),
            "--patch_size", "[32,32]"]
    proc = run_bundle(*args, check=False)
    assert proc.returncode == 1
    reason = rf"OSError: cannot read 'image' file {q(bad)} \(truncated or corrupt\?\): EOFError: Compressed file ended"
    summary = (rf"1 of 3 input\(s\) failed; no mask was written for them \(the other 2 mask\(s\) are in {q(out)}\):\n"
               rf"  {q(bad)}: {reason}.*\nThe list is in {q(out / 'failed_inputs.json')}\.")
    assert re.search(summary, proc.stderr), proc.stderr[-3000:]
    good = [v.name.replace(".nii.gz", "_seg.nii.gz") for v in volumes if v != bad]
    assert sorted(p.name for p in out.iterdir()) == sorted(good + ["failed_inputs.json", "mine.txt"])
    for name in good:  # complete masks
        assert nib.load(out / name).get_fdata().shape == nib.load(nii_dir / name.replace("_seg", "")).shape
    report = json.loads((out / "failed_inputs.json").read_text())
    assert report["attempted"] == 3 and report["written"] == 2 and [f["file"] for f in report["failed"]] == [str(bad)]
    assert snapshot(nii_dir, ACDC_BUNDLE, acdc_model.parent) == before


# ----------------------------------------------------------------------------------------------------------------------
# metassl_la training
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_la_listed_case_missing(la, tmp_path):
    gone = la_case(la, 3)
    gone.unlink()
    assert_fails_cleanly(la_args(la, tmp_path / "out"),
                         rf"1 case file\(s\) listed in {q(la / 'train.list')} are missing: {q(gone)}",
                         [la, LA_BUNDLE], tmp_path / "out")


def _la_label_2(path):
    with h5py.File(path, "r") as f:
        label = f["label"][()]
    label[label == 1] = 2  # e.g. a multi-structure mask passed as the binary LA label
    rewrite_h5(path, label=label)


@pytest.mark.slow
@pytest.mark.parametrize(
    "index, damage, message",
    [
        (1, _la_label_2, r"ValueError: {path}: label 'label' has values in \[0, 2\], expected class indices 0\.\.1 "
                         r"\(num_classes=2\)"),
    ],
    ids=["label-ge-num_classes"],
)
def test_la_bad_case(la, tmp_path, index, damage, message):
    path = la_case(la, index)
    damage(path)
    assert_fails_cleanly(la_args(la, tmp_path / "out"), message.format(path=q(path)), [la, LA_BUNDLE],
                         tmp_path / "out")


@pytest.mark.slow
def test_la_labeled_cases_leave_no_unlabeled_case(la_dataset, tmp_path):
    la = la_dataset  # nothing is damaged: the shared dataset, which the run must leave unchanged
    assert_fails_cleanly(la_args(la, tmp_path / "out", "--labeled_cases", "6"),
                         r"labeled_cases=6, val_cases=2 leave the unlabeled set\(s\) empty: "
                         rf"{q(la / 'train.list')} has 8 cases.*set --labeled_cases / --val_cases",
                         [la, LA_BUNDLE], tmp_path / "out")
