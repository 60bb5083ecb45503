# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Your own NIfTI data, as the bundles read it with ``--datalist PATH`` (every bundle; 2D bundles slice the volumes):

- a **MONAI datalist JSON** (as the Model Zoo bundles take)::

      {"training":   [{"image": "imagesTr/a.nii.gz", "label": "labelsTr/a.nii.gz"}, ...],   # labeled
       "unlabeled":  [{"image": "imagesTs/u.nii.gz"}, ...],                                # optional
       "validation": [{"image": "...", "label": "..."}, ...]}                               # model selection

  relative paths are read from the JSON's folder; without ``validation`` the last ``val_fraction`` of ``training``
  is held out (a warning lists them);
- a **Medical Segmentation Decathlon / nnU-Net folder**: ``dataset.json`` with ``imagesTr/``, ``labelsTr/``, and
  ``imagesTs/`` (used unlabeled). The MSD ``dataset.json`` lists ``training`` pairs and ``test`` images; an nnU-Net v2
  one lists neither: images are ``imagesTr/<case>_0000<file_ending>`` and labels ``labelsTr/<case><file_ending>``.
  The last ``val_fraction`` of the training cases is the validation set.

An empty unlabeled part is not an error: the labeled images are used as unlabeled too (a warning says so), the
fallback of the MONAI Label datastore. ``python -m metassl_monai datalist`` writes such a JSON from folders.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Sequence
from pathlib import Path

__all__ = ["read_datalist", "dataset_folder_datalist", "datalist_split", "split_or_datalist", "write_datalist",
           "volume_name", "is_slice_datalist", "volume_slices"]

logger = logging.getLogger(__name__)
_NIFTI = (".nii.gz", ".nii")


def volume_name(path: str | os.PathLike) -> str:
    """The file name without ``.nii.gz`` / ``.nii`` (the case name in metrics and outputs)."""
    base = Path(path).name
    for ending in (*_NIFTI, ".nrrd", ".mha", ".h5"):
        if base.endswith(ending):
            return base[: -len(ending)]
    return Path(base).stem


def _load_json(path: Path) -> dict:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path} must hold a JSON object with 'training' (and 'unlabeled', 'validation'), "
                         f"got {type(content).__name__}")
    return content


def _items(content: dict, section: str, source: Path, keys: tuple[str, ...], base: Path) -> list[dict]:
    """The section's items as dicts with absolute paths; a bare path string is ``{"image": path}``."""
    entries = content.get(section) or []
    if not isinstance(entries, list):
        raise ValueError(f"{source}: '{section}' must be a list, got {type(entries).__name__}")
    items = []
    for i, entry in enumerate(entries):
        item = {"image": entry} if isinstance(entry, str) else entry
        if not isinstance(item, dict):
            raise ValueError(f"{source}: {section}[{i}] must be a path or an object with 'image', got {entry!r}")
        missing = [k for k in keys if not item.get(k)]
        if missing:
            hint = " (an image without a label belongs in 'unlabeled')" if missing == ["label"] else ""
            raise ValueError(f"{source}: {section}[{i}] ({item.get('image', item)}) has no {missing}{hint}")
        resolved = dict(item)
        for key in ("image", "label"):
            if key in item:
                path = Path(item[key])
                resolved[key] = str(path if path.is_absolute() else (base / path).resolve())
        items.append(resolved)
    return items


def read_datalist(path: str | os.PathLike) -> dict[str, list[dict]]:
    """
    The ``training``, ``unlabeled`` and ``validation`` sections of a MONAI datalist JSON, paths made absolute
    (relative ones from the JSON's folder). Missing sections are empty lists.

    Raises:
        FileNotFoundError: the JSON does not exist.
        ValueError: not JSON / not an object; a section that is not a list; a ``training`` or ``validation`` item
            without ``image`` and ``label``, an ``unlabeled`` item without ``image`` (the message names the item).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"datalist not found: {path}")
    content = _load_json(path)
    base = path.parent.resolve()
    return {"training": _items(content, "training", path, ("image", "label"), base),
            "unlabeled": _items(content, "unlabeled", path, ("image",), base),
            "validation": _items(content, "validation", path, ("image", "label"), base)}


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(_NIFTI)) if folder.is_dir() else []


def dataset_folder_datalist(folder: str | os.PathLike) -> dict[str, list[dict]]:
    """
    ``training`` (labeled pairs) and ``unlabeled`` (``imagesTs``) items of a Medical Segmentation Decathlon or
    nnU-Net v2 dataset folder (see the module docstring); no ``validation`` (held out by :func:`datalist_split`).

    Raises:
        FileNotFoundError: no folder or no ``dataset.json``; an nnU-Net case without its label file.
        ValueError: ``dataset.json`` is not valid; an nnU-Net dataset with more than one input channel.
    """
    root = Path(folder)
    json_path = root / "dataset.json"
    if not json_path.is_file():
        raise FileNotFoundError(f"{root} is not a dataset folder: it has no dataset.json (a Medical Segmentation "
                                "Decathlon or nnU-Net folder: dataset.json, imagesTr/, labelsTr/, imagesTs/)")
    content = _load_json(json_path)
    base = root.resolve()
    if content.get("training"):  # Medical Segmentation Decathlon
        training = _items(content, "training", json_path, ("image", "label"), base)
        unlabeled = _items(content, "test", json_path, ("image",), base)
        listed = {Path(it["image"]).name for it in unlabeled}
        unlabeled += [{"image": str(p.resolve())} for p in _nifti_files(root / "imagesTs") if p.name not in listed]
        return {"training": training, "unlabeled": unlabeled}
    ending = content.get("file_ending", ".nii.gz")  # nnU-Net v2: cases by file name
    if len(content.get("channel_names", {"0": ""})) > 1:
        raise ValueError(f"{json_path}: {len(content['channel_names'])} input channels; the bundles take one")
    training = []
    for image in sorted((root / "imagesTr").glob(f"*_0000{ending}")):
        case = image.name[: -len(f"_0000{ending}")]
        label = root / "labelsTr" / f"{case}{ending}"
        if not label.is_file():
            raise FileNotFoundError(f"{image} has no label {label} (nnU-Net layout: labelsTr/<case>{ending})")
        training.append({"image": str(image.resolve()), "label": str(label.resolve())})
    unlabeled = [{"image": str(p.resolve())} for p in sorted((root / "imagesTs").glob(f"*_0000{ending}"))]
    return {"training": training, "unlabeled": unlabeled}


def _check_files(items: list[dict], source: str) -> None:
    missing = [item[key] for item in items for key in ("image", "label") if key in item
               and not Path(item[key]).is_file()]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} file(s) listed in {source} are missing: "
                                f"{', '.join(missing[:5])}{more}")


def _check_shapes(items: list[dict], source: str) -> None:
    """Image and label of each pair have the same shape (read from the headers, not the voxels)."""
    import nibabel as nib

    for item in items:
        if "label" not in item or not item["image"].endswith(_NIFTI):
            continue
        try:
            image, label = nib.load(item["image"]).shape, nib.load(item["label"]).shape
        except Exception as e:  # nibabel's message says what is wrong with the file
            raise ValueError(f"cannot read the NIfTI header of {item['image']} or {item['label']} ({source}): "
                             f"{e}") from None
        if tuple(image[:3]) != tuple(label[:3]):
            raise ValueError(f"image and label shapes differ ({source}): {item['image']} is {tuple(image)}, "
                             f"{item['label']} is {tuple(label)}")


def _held_out(n: int, val_fraction: float) -> int:
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    return min(n - 1, max(1, math.ceil(n * val_fraction)))


def _slices(items: list[dict]) -> list[dict]:
    """Each volume item as one item per slice along its last axis (``"slice": k``), in order."""
    import nibabel as nib

    out = []
    for item in items:
        shape = nib.load(item["image"]).shape
        if len(shape) < 3:
            raise ValueError(f"{item['image']} is {len(shape)}D {tuple(shape)}: a 2D bundle slices 3D volumes")
        out += [{**item, "slice": k} for k in range(shape[2])]
    return out


def volume_slices(items: list[dict], transform) -> list[dict]:
    """
    The 2D slices of labeled volumes in memory, as :func:`metassl_monai.data.acdc_volume_slices` gives them for the h5
    layout: ``[{"image": float32 (H, W), "label": uint8 (H, W), "name": "<volume>_slice_<i>"}, ...]``, each volume
    prepared by ``transform`` (loading, intensity, axes to ``(1, D, H, W)``: the 2D bundles' ``train#volume_reading``)
    — e.g. to validate the quality predictor on a datalist's validation volumes.
    """
    import numpy as np

    out = []
    for item in items:
        prepared = transform({"image": item["image"], "label": item["label"]})
        image = np.asarray(prepared["image"], dtype=np.float32)[0]
        label = np.asarray(prepared["label"]).astype(np.uint8)[0]
        name = item.get("name") or volume_name(item["image"])
        out += [{"image": image[i], "label": label[i], "name": f"{name}_slice_{i}"} for i in range(image.shape[0])]
    return out


def is_slice_datalist(items: list[dict]) -> bool:
    """Whether a datalist's items are slices of volumes (:func:`datalist_split` with ``slices=True``)."""
    return bool(items) and "slice" in items[0]


def datalist_split(datalist: str | os.PathLike, val_fraction: float = 0.2,
                   unlabeled_dir: str | os.PathLike | None = None, slices: bool = False) -> dict[str, list[dict]]:
    """
    Labeled, unlabeled and validation datalists of a datalist JSON or a dataset folder (module docstring).

    Args:
        datalist: a MONAI datalist JSON file, or an MSD / nnU-Net folder with ``dataset.json``.
        val_fraction: the fraction of the labeled cases held out for validation when the source has no
            ``validation`` section (the last ones, in the source's order; at least one).
        unlabeled_dir: a folder whose NIfTI images are added to the unlabeled part.
        slices: labeled and unlabeled volumes as one item per slice along their last axis (``"slice": k``, the 2D
            bundles: :class:`~metassl_monai.transforms.VolumeSliced` reads them); validation stays per volume.

    Returns:
        ``{"labeled": [{"image", "label"}], "unlabeled": [{"image"}], "validation": [{"image", "label", "name"}]}``
        (with ``"slice"`` in the first two when ``slices``).

    Raises:
        FileNotFoundError: the source, a listed file or ``unlabeled_dir`` is missing (the message names it).
        ValueError: as :func:`read_datalist`; no labeled case left; image and label shapes differ (naming both).
    """
    source = Path(datalist)
    if source.is_dir():
        parts = dataset_folder_datalist(source)
        parts["validation"] = []
        where = str(source / "dataset.json")
    elif source.is_file():
        parts, where = read_datalist(source), str(source)
    else:
        raise FileNotFoundError(f"datalist not found: {source} (a datalist JSON file or a dataset folder with "
                                "dataset.json)")
    labeled, validation = parts["training"], parts["validation"]
    if not validation:
        if len(labeled) < 2:
            raise ValueError(f"{where} has {len(labeled)} labeled case(s) and no 'validation' section: it needs at "
                             "least 2 (one to train, one to validate)")
        n = _held_out(len(labeled), val_fraction)
        labeled, validation = labeled[:-n], labeled[-n:]
        logger.warning(f"{where} has no validation section: the last {n} labeled case(s) validate "
                       f"({', '.join(volume_name(it['image']) for it in validation)})")
    if not labeled:
        raise ValueError(f"{where} has no labeled case ('training' is empty)")
    unlabeled = list(parts["unlabeled"])
    if unlabeled_dir is not None:
        folder = Path(unlabeled_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"unlabeled_dir does not exist or is not a folder: {folder}")
        unlabeled += [{"image": str(p.resolve())} for p in _nifti_files(folder)]
    for part in (labeled, unlabeled, validation):
        _check_files(part, where)
    _check_shapes(labeled + validation, where)
    if not unlabeled:
        logger.warning(f"{where} has no unlabeled image: the labeled images are used as unlabeled too (consistency "
                       "on the labeled set only). Add an 'unlabeled' section, imagesTs/ or --unlabeled_dir.")
        unlabeled = [{"image": it["image"]} for it in labeled]
    labeled = [{"image": it["image"], "label": it["label"]} for it in labeled]
    unlabeled = [{"image": it["image"]} for it in unlabeled]
    return {"labeled": _slices(labeled) if slices else labeled,
            "unlabeled": _slices(unlabeled) if slices else unlabeled,
            "validation": [{"image": it["image"], "label": it["label"], "name": volume_name(it["image"])}
                           for it in validation]}


def split_or_datalist(datalist: str | None, make_split, val_fraction: float = 0.2, unlabeled_dir: str | None = None,
                      slices: bool = False):
    """The bundles' split function: ``make_split`` (the dataset's own layout) unless ``datalist`` is set, then
    :func:`datalist_split` of it (``slices``: the 2D bundles). ``functools.cache`` of it is ``train#split``."""
    if not datalist:
        return make_split

    def split() -> dict[str, list[dict]]:
        return datalist_split(datalist, val_fraction=val_fraction, unlabeled_dir=unlabeled_dir or None, slices=slices)

    return split


def _case(path: Path, suffixes: Sequence[str]) -> str:
    name = volume_name(path)
    for suffix in suffixes:
        if suffix and name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def write_datalist(images_dir: str | os.PathLike, output: str | os.PathLike, labels_dir: str | os.PathLike | None = None,
                   labeled: float | Sequence[str] | None = None, val_fraction: float = 0.2,
                   unlabeled_dir: str | os.PathLike | None = None, seed: int | None = None,
                   overwrite: bool = False) -> dict[str, list[dict]]:
    """
    Write a MONAI datalist JSON (``training`` / ``unlabeled`` / ``validation``, paths relative to the JSON's folder)
    from NIfTI folders.

    Images are paired with labels by case name: ``a.nii.gz`` ↔ ``a.nii.gz`` (``labels_dir``), ``a_0000.nii.gz`` ↔
    ``a.nii.gz`` (nnU-Net) or ``a.nii.gz`` ↔ ``a_gt.nii.gz`` (in the same folder or ``labels_dir``). Images without a
    label, and the images of ``unlabeled_dir``, are unlabeled. Of the pairs, the last ``val_fraction`` validate (in
    name order, or shuffled with ``seed``); of the others, ``labeled`` decides which keep their label: all (None),
    a fraction (0.1: the first 10 %, at least one) or a list of case names; the rest are unlabeled.

    Raises:
        FileExistsError: ``output`` exists and ``overwrite`` is false (nothing is written).
        FileNotFoundError: a folder is missing or ``images_dir`` holds no NIfTI image.
        ValueError: a named labeled case that is not a pair; a fraction outside (0, 1]; fewer than 2 pairs.
    """
    output = Path(output)
    if output.exists() and not overwrite:
        raise FileExistsError(f"{output} exists: choose another --output or pass --overwrite true")
    images_root = Path(images_dir)
    if not images_root.is_dir():
        raise FileNotFoundError(f"images_dir does not exist or is not a folder: {images_root}")
    labels_root = Path(labels_dir) if labels_dir else images_root
    if not labels_root.is_dir():
        raise FileNotFoundError(f"labels_dir does not exist or is not a folder: {labels_root}")
    if unlabeled_dir and not Path(unlabeled_dir).is_dir():
        raise FileNotFoundError(f"unlabeled_dir does not exist or is not a folder: {unlabeled_dir}")
    label_files = {_case(p, ("_gt",)): p for p in _nifti_files(labels_root)
                   if labels_root != images_root or volume_name(p).endswith("_gt")}
    images = [p for p in _nifti_files(images_root) if not (labels_root == images_root
                                                         and volume_name(p).endswith("_gt"))]
    if not images:
        raise FileNotFoundError(f"no NIfTI image (*.nii.gz, *.nii) in {images_root}")
    pairs, unpaired = [], []
    for image in images:
        label = label_files.get(_case(image, ("_0000",)))
        (pairs if label is not None else unpaired).append((image, label))
    if len(pairs) < 2:
        raise ValueError(f"{len(pairs)} image(s) of {images_root} have a label in {labels_root}: at least 2 are "
                         "needed (one to train, one to validate)")
    if seed is not None:
        random.Random(seed).shuffle(pairs)
    n_val = _held_out(len(pairs), val_fraction)
    train_pairs, val_pairs = pairs[:-n_val], pairs[-n_val:]
    if labeled is None:
        keep = train_pairs
    elif isinstance(labeled, (int, float)) and not isinstance(labeled, bool):
        if not 0 < labeled <= 1:
            raise ValueError(f"labeled must be a fraction in (0, 1] or a list of case names, got {labeled}")
        keep = train_pairs[: max(1, round(len(train_pairs) * labeled))]
    else:
        names = [labeled] if isinstance(labeled, str) else list(labeled)
        cases = {_case(image, ("_0000",)): (image, label) for image, label in train_pairs}
        unknown = [n for n in names if n not in cases]
        if unknown:
            raise ValueError(f"labeled cases {unknown} are not image/label pairs of the training part; pairs: "
                             f"{sorted(cases)[:10]}")
        keep = [cases[n] for n in names]
    kept = {image for image, _ in keep}
    base = output.parent.resolve()

    def rel(path: Path) -> str:
        return os.path.relpath(path.resolve(), base)

    content = {
        "training": [{"image": rel(i), "label": rel(lb)} for i, lb in keep],
        "unlabeled": [{"image": rel(i)} for i, _ in train_pairs if i not in kept]
        + [{"image": rel(i)} for i, _ in unpaired]
        + ([{"image": rel(p)} for p in _nifti_files(Path(unlabeled_dir))] if unlabeled_dir else []),
        "validation": [{"image": rel(i), "label": rel(lb)} for i, lb in val_pairs],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")
    return content
