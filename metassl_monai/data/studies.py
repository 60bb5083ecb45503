# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Datalists of *studies folders* (MONAI Label's local datastore, or any folder of volumes) for the semi-supervised
train configs.

MONAI Label's ``BundleTrainTask`` overrides ``train#dataset#data`` with a supervised datalist,
``[{"image": <studies>/<id>.nii.gz, "label": <studies>/labels/final/<id>.nii.gz}, ...]`` (the labeled studies of
its training split only). A semi-supervised config also needs an unlabeled stream; the rule is:

    unlabeled = the volumes of the folder(s) of the labeled images that have no label — not an image of the
    datalist, not a label file of it, without a ``<folder>/labels/final/<id>.*`` label (so the labeled studies
    MONAI Label holds out for validation are never trained on), and not a ``*_gt`` ground-truth file.

When there is none (every study is labeled), the labeled images are reused without their labels for the
consistency term and a warning is logged. See :func:`unlabeled_studies`.

:func:`is_volume_datalist` is the switch the train configs use: a datalist of volume files (NIfTI, NRRD, ... —
anything but HDF5) takes the ``volume_preprocessing`` pipelines and the rule above; the bundles' own HDF5 datalists
keep their preprocessing and split. :func:`is_monailabel_datalist` recognises the datastore layout.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "H5_SUFFIXES",
    "LABELS_DIR",
    "is_volume_datalist",
    "is_monailabel_datalist",
    "study_id",
    "unlabeled_studies",
]

logger = logging.getLogger(__name__)

#: file suffixes read by :class:`metassl_monai.transforms.LoadH5d` (the bundles' own datasets)
H5_SUFFIXES = (".h5", ".hdf5")
#: MONAI Label's local datastore keeps labels in ``<studies>/labels/<tag>/`` (``final`` for submitted labels)
LABELS_DIR = "labels"


def _suffix(path: str | os.PathLike) -> str:
    """``.nii.gz`` for ``a.nii.gz`` (double suffixes of compressed files), else the last suffix, lower-case."""
    name = Path(path).name.lower()
    parts = name.split(".")
    if len(parts) > 2 and parts[-1] in ("gz", "bz2", "xz"):
        return "." + ".".join(parts[-2:])
    return Path(name).suffix


def study_id(path: str | os.PathLike) -> str:
    """``/studies/case01.nii.gz`` → ``case01`` (the file name without its (double) suffix, as MONAI Label names it)."""
    name = Path(path).name
    suffix = _suffix(name)
    return name[: len(name) - len(suffix)] if suffix else name


def _items(data, what: str) -> list[dict]:
    if isinstance(data, (str, bytes)) or not isinstance(data, Sequence):
        raise TypeError(f"{what} must be a list of dicts with an 'image' path, got {type(data).__name__}")
    items = list(data)
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "image" not in item:
            raise ValueError(f"{what}[{i}] must be a dict with an 'image' key, got {item!r}")
    return items


def is_volume_datalist(data) -> bool:
    """
    True when ``data`` is a non-empty list of ``{"image": path, ...}`` whose images are all volume files other than
    HDF5 (e.g. MONAI Label's NIfTI studies); False for the bundles' HDF5 datalists, an empty list, or in-memory
    arrays. A list mixing HDF5 and other files raises (one pipeline cannot read both).

    Raises:
        TypeError / ValueError: ``data`` is not a list of dicts with an ``image`` key (the item is named), or it
            mixes HDF5 and other files (both are named).
    """
    items = _items(data, "datalist")
    paths = [item["image"] for item in items]
    if not paths or not all(isinstance(p, (str, os.PathLike)) for p in paths):
        return False
    h5 = [p for p in paths if _suffix(p) in H5_SUFFIXES]
    if h5 and len(h5) < len(paths):
        other = next(p for p in paths if _suffix(p) not in H5_SUFFIXES)
        raise ValueError(f"datalist mixes HDF5 and other image files ({h5[0]} and {other}); use one format")
    return not h5


def is_monailabel_datalist(data, label_tag: str = "final") -> bool:
    """
    True when ``data`` is a volume datalist (:func:`is_volume_datalist`) in MONAI Label's local-datastore layout:
    every item has a ``label`` inside ``<folder of its image>/labels/<label_tag>/``.
    """
    if not is_volume_datalist(data):
        return False
    for item in data:
        label = item.get("label")
        if not isinstance(label, (str, os.PathLike)):
            return False
        if Path(label).parent.resolve() != (Path(item["image"]).parent / LABELS_DIR / label_tag).resolve():
            return False
    return True


def unlabeled_studies(
    labeled,
    label_tag: str = "final",
    exclude_suffix: str = "_gt",
    fallback_to_labeled: bool = True,
) -> list[dict]:
    """
    The unlabeled stream for a datalist of labeled volumes: ``[{"image": path}, ...]`` of the files of the folder(s)
    of the labeled images (not recursive, in folder order then name order) that

    - have the suffix of one of the labeled images (``.nii.gz``, ``.nii``, ``.nrrd``, ...),
    - are neither an image nor a label of ``labeled``,
    - have no label in ``<folder>/labels/<label_tag>/`` with the same study id (the labeled studies that
      MONAI Label's split keeps for validation, or labels not yet in the datalist),
    - and whose study id does not end with ``exclude_suffix`` (ground-truth files such as ``*_gt.nii.gz`` beside
      the images; ``""`` keeps all).

    When no such study exists and ``fallback_to_labeled`` is True, the labeled images are returned without their
    labels (the consistency term then runs on the labeled images, as a supervised run with consistency
    regularisation) and a warning says so; otherwise a ``ValueError`` is raised.

    Args:
        labeled: the labeled datalist, e.g. the ``train#dataset#data`` MONAI Label passes.
        label_tag: the datastore's label tag (``final`` for submitted labels).
        exclude_suffix: study-id suffix of ground-truth files to skip.
        fallback_to_labeled: reuse the labeled images when there is no unlabeled study.

    Raises:
        TypeError / ValueError: ``labeled`` is empty or not a list of ``{"image": path}`` (the item is named).
        FileNotFoundError: a labeled image does not exist (the file is named).
        ValueError: no unlabeled study and ``fallback_to_labeled`` is False (the folders are named).
    """
    items = _items(labeled, "labeled datalist")
    if not items:
        raise ValueError("labeled datalist is empty: MONAI Label passed no labeled study (submit labels first)")
    images = [Path(item["image"]) for item in items]
    for i, image in enumerate(images):
        if not image.is_file():
            raise FileNotFoundError(f"labeled datalist[{i}]: image file not found: {image}")
    used = {p.resolve() for p in images}
    used |= {Path(item["label"]).resolve() for item in items if isinstance(item.get("label"), (str, os.PathLike))}
    suffixes = {_suffix(p) for p in images}
    folders = list(dict.fromkeys(p.parent for p in images))

    unlabeled = []
    for folder in folders:
        label_dir = folder / LABELS_DIR / label_tag
        has_label = {study_id(p) for p in label_dir.iterdir() if p.is_file()} if label_dir.is_dir() else set()
        for path in sorted(folder.iterdir()):
            if not path.is_file() or _suffix(path) not in suffixes or path.resolve() in used:
                continue
            sid = study_id(path)
            if sid in has_label or (exclude_suffix and sid.endswith(exclude_suffix)):
                continue
            unlabeled.append({"image": str(path)})

    where = ", ".join(str(f) for f in folders)
    if unlabeled:
        logger.info(f"unlabeled stream: {len(unlabeled)} studies without labels in {where}")
        return unlabeled
    if not fallback_to_labeled:
        raise ValueError(f"no unlabeled study (a volume without a label) in {where}")
    logger.warning(
        f"unlabeled stream: no study without a label in {where}; the consistency term reuses the "
        f"{len(images)} labeled images (add unlabeled studies for semi-supervised training)"
    )
    return [{"image": str(p)} for p in images]
