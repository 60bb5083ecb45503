# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Datalists of the SSL4MIS ACDC layout::

    DATASET_DIR/train_slices.list      training slice names, one per line, in the standard order
    DATASET_DIR/data/slices/<name>.h5  2D slices, datasets "image" (H, W) float in [0, 1], "label" (H, W) 0..3
    DATASET_DIR/val.list               validation volume names
    DATASET_DIR/data/<name>.h5         3D volumes, datasets "image" and "label" (D, H, W)

The labeled split takes the slices of the first ``labeled_patients`` patients of ``train_slices.list``, i.e. a
prefix of the list. On the standard list this is exactly SSL4MIS's ``patients_to_slices`` table (3 patients → the
first 68 slices, 7 → 136); it also works for any other list in the same layout (e.g. the synthetic demo data).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .paths import require_dir

__all__ = [
    "read_list",
    "patient_id",
    "acdc_slice_datalists",
    "acdc_volume_datalist",
    "acdc_volume_slices",
    "SSL4MIS_LABELED_SLICES",
]

#: SSL4MIS ``patients_to_slices`` for ACDC: labeled patients → number of leading slices of train_slices.list.
SSL4MIS_LABELED_SLICES = {1: 32, 3: 68, 7: 136, 14: 256, 21: 396, 28: 512, 35: 664, 70: 1312}

_PATIENT = re.compile(r"^(.*?)_frame\d+")


def read_list(dataset_dir: str | os.PathLike, list_name: str) -> list[str]:
    """Non-empty, stripped lines of ``dataset_dir/list_name``; clear errors for a missing folder or list."""
    root = require_dir(dataset_dir)
    path = root / list_name
    if not path.is_file():
        raise FileNotFoundError(f"list file not found: {path}")
    names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not names:
        raise ValueError(f"list file is empty: {path}")
    return names


def patient_id(name: str) -> str:
    """``patient099_frame01_slice_15`` → ``patient099`` (names without ``_frameNN`` are their own patient)."""
    m = _PATIENT.match(name)
    return m.group(1) if m else name


def _existing(files: list[Path], list_path: Path) -> list[str]:
    missing = [f for f in files if not f.is_file()]
    if missing:
        shown = ", ".join(str(m) for m in missing[:5])
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} file(s) listed in {list_path} are missing: {shown}{more}")
    return [str(f) for f in files]


def acdc_slice_datalists(
    dataset_dir: str | os.PathLike, labeled_patients: int = 7, list_name: str = "train_slices.list"
) -> tuple[list[dict], list[dict]]:
    """
    Split the training slices into a labeled and an unlabeled datalist, the SSL4MIS way.

    Args:
        dataset_dir: root of the SSL4MIS ACDC layout.
        labeled_patients: how many leading patients of the list are labeled (3 or 7 in the papers).
        list_name: slice list file inside ``dataset_dir``.

    Returns:
        ``(labeled, unlabeled)``: labeled items ``{"image": path, "label": path}`` (both keys read from the same h5),
        unlabeled items ``{"image": path}`` (their labels are never read).

    Raises:
        FileNotFoundError: ``dataset_dir``, the list or any listed slice file is missing (the message names them).
        ValueError: ``labeled_patients`` is < 1 or leaves no unlabeled slice.
    """
    names = read_list(dataset_dir, list_name)
    patients = list(dict.fromkeys(patient_id(n) for n in names))
    labeled_patients = int(labeled_patients)
    if not 1 <= labeled_patients < len(patients):
        n = len(patients)
        why = (
            "the labeled stream would be empty" if labeled_patients < 1
            else "no patient would be left for the unlabeled stream (semi-supervised training needs both)"
        )
        raise ValueError(
            f"labeled_patients={labeled_patients} is out of range: {why}. labeled_patients must be between 1 and "
            f"{n - 1} ({list_name} of {dataset_dir} has {n} patients); set "
            f"--labeled_patients accordingly (the papers use 3 or 7 of the 70 ACDC training patients)."
        )
    keep = set(patients[:labeled_patients])
    n_labeled = next((i for i, n in enumerate(names) if patient_id(n) not in keep), len(names))
    if any(patient_id(n) in keep for n in names[n_labeled:]):
        raise ValueError(
            f"{Path(dataset_dir) / list_name}: the slices of the first {labeled_patients} patients are not a prefix "
            "of the list, so the SSL4MIS split (a prefix) is undefined."
        )
    files = _existing([Path(dataset_dir) / "data" / "slices" / f"{n}.h5" for n in names], Path(dataset_dir) / list_name)
    labeled = [{"image": f, "label": f} for f in files[:n_labeled]]
    unlabeled = [{"image": f} for f in files[n_labeled:]]
    return labeled, unlabeled


def acdc_volume_datalist(dataset_dir: str | os.PathLike, list_name: str = "val.list") -> list[dict]:
    """Items ``{"image": path, "label": path, "name": case}`` of the volumes ``data/<case>.h5`` named in the list."""
    names = read_list(dataset_dir, list_name)
    files = _existing([Path(dataset_dir) / "data" / f"{n}.h5" for n in names], Path(dataset_dir) / list_name)
    return [{"image": f, "label": f, "name": n} for f, n in zip(files, names)]


def acdc_split(
    dataset_dir: str | os.PathLike,
    labeled_patients: int = 7,
    list_name: str = "train_slices.list",
    val_list: str = "val.list",
) -> dict[str, list[dict]]:
    """
    The train configs' split of the SSL4MIS ACDC layout, keyed like :func:`metassl_monai.data.la_uamt_split`:
    ``{"labeled": ..., "unlabeled": ...}`` of :func:`acdc_slice_datalists` and ``"validation"``, the volumes of
    ``val_list`` (:func:`acdc_volume_datalist`).

    Raises:
        FileNotFoundError / ValueError: as :func:`acdc_slice_datalists` and :func:`acdc_volume_datalist`.
    """
    labeled, unlabeled = acdc_slice_datalists(dataset_dir, labeled_patients, list_name)
    return {"labeled": labeled, "unlabeled": unlabeled, "validation": acdc_volume_datalist(dataset_dir, val_list)}


def acdc_volume_slices(dataset_dir: str | os.PathLike, list_name: str = "val.list") -> list[dict]:
    """
    The 2D slices (along the first axis) of the volumes of ``dataset_dir/list_name``, in memory:
    ``[{"image": float32 (H, W), "label": uint8 (H, W), "name": "<volume>_slice_<i>"}, ...]`` — e.g. to evaluate a 2D
    quality predictor on the validation volumes, which SSL4MIS stores only as whole volumes.

    Raises:
        FileNotFoundError / OSError / KeyError: as :func:`acdc_volume_datalist` and
            :func:`metassl_monai.transforms.io.read_h5_dataset` (the file and key are named).
    """
    from metassl_monai.transforms.io import read_h5_dataset

    items = []
    for volume in acdc_volume_datalist(dataset_dir, list_name):
        image = read_h5_dataset(volume["image"], "image").astype(np.float32)
        label = read_h5_dataset(volume["label"], "label").astype(np.uint8)
        if image.shape != label.shape or image.ndim != 3:
            raise ValueError(f"{volume['image']}: image {image.shape} and label {label.shape} must be equal 3D shapes")
        for i in range(image.shape[0]):
            items.append({"image": image[i], "label": label[i], "name": f"{volume['name']}_slice_{i}"})
    return items
