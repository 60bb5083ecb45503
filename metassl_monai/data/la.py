# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The 3D Left Atrium (LA) data of the 2018 Atrial Segmentation Challenge, in the three layouts it circulates in.

UA-MT layout (the one of the semi-supervised LA papers, read by :func:`la_uamt_datalists`)::

    DATASET_DIR/train.list                                  80 case ids, one per line (the first 8 / 16 labeled)
    DATASET_DIR/test.list                                   20 case ids
    DATASET_DIR/2018LA_Seg_Training Set/<case>/mri_norm2.h5 "image" float32 (X, Y, Z) z-scored, "label" uint8 0/1

Raw challenge release (read by :func:`read_nrrd`, turned into the UA-MT layout by :func:`convert_raw_la_to_uamt`)::

    RAW_DIR/<case>/lgemri.nrrd   LGE-MRI, raw intensities (X, Y, Z), spacing in the NRRD header
    RAW_DIR/<case>/laendo.nrrd   LA endocardium mask, 0 / 255

Medical Segmentation Decathlon Task02_Heart (read by :func:`msd_heart_datalist`)::

    DATASET_DIR/dataset.json                      "training": [{"image": "./imagesTr/la_003.nii.gz", "label": ...}]
    DATASET_DIR/imagesTr/la_XXX.nii.gz, DATASET_DIR/labelsTr/la_XXX.nii.gz

Case ids of the challenge are 20-character uppercase alphanumeric strings (e.g. the folder names of the release).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from .acdc import read_list
from .paths import require_dir

__all__ = [
    "LA_TRAINING_FOLDER",
    "UAMT_H5_NAME",
    "UAMT_LABELED_CASES",
    "UAMT_MARGIN",
    "UAMT_MIN_SIZE",
    "uamt_case_path",
    "la_uamt_datalists",
    "la_uamt_eval_datalist",
    "la_uamt_split",
    "msd_heart_split",
    "write_uamt_as_nifti",
    "read_nrrd",
    "read_nrrd_header",
    "NRRD_TYPES",
    "convert_raw_la_to_uamt",
    "msd_heart_datalist",
]

#: folder of the case sub-folders in the UA-MT layout (also the name of the raw release's training folder)
LA_TRAINING_FOLDER = "2018LA_Seg_Training Set"
#: file name of a preprocessed UA-MT case
UAMT_H5_NAME = "mri_norm2.h5"
#: labeled cases of the UA-MT ``train.list`` (80 cases) in the papers: percentage → number of leading cases
UAMT_LABELED_CASES = {10: 8, 20: 16}
#: crop margin (x, y, z) in voxels around the label bounding box; UA-MT draws it per case from 10..19 / 10..19 / 5..9
#: voxels (``np.random.randint(10, 20)``, ``randint(5, 10)``); this is the (exclusive) top of those ranges, fixed, so
#: that the conversion is deterministic and never keeps less context than UA-MT's files
UAMT_MARGIN = (20, 20, 10)
#: UA-MT's training patch size: the crop is widened (symmetrically) by ``max(size - bbox extent, 0) // 2`` per side
UAMT_MIN_SIZE = (112, 112, 80)

_CASE_FILES = ("lgemri.nrrd", "laendo.nrrd")


# ----------------------------------------------------------------------------------------------------------------------
# UA-MT datalists
# ----------------------------------------------------------------------------------------------------------------------
def uamt_case_path(dataset_dir: str | os.PathLike, case: str) -> Path:
    """``dataset_dir/2018LA_Seg_Training Set/<case>/mri_norm2.h5``."""
    return Path(dataset_dir) / LA_TRAINING_FOLDER / case / UAMT_H5_NAME


def _uamt_files(dataset_dir: str | os.PathLike, list_name: str) -> tuple[list[str], list[str]]:
    """Case ids of the list and their h5 paths; a FileNotFoundError lists the missing files (and the list)."""
    cases = read_list(dataset_dir, list_name)
    files = [uamt_case_path(dataset_dir, c) for c in cases]
    missing = [f for f in files if not f.is_file()]
    if missing:
        shown = ", ".join(str(m) for m in missing[:5])
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(
            f"{len(missing)} case file(s) listed in {Path(dataset_dir) / list_name} are missing: {shown}{more}"
        )
    return cases, [str(f) for f in files]


def la_uamt_datalists(
    dataset_dir: str | os.PathLike, labeled_cases: int = 8, train_list: str = "train.list"
) -> tuple[list[dict], list[dict]]:
    """
    Split the UA-MT LA training cases into a labeled and an unlabeled datalist, the UA-MT way.

    The labeled cases are the first ``labeled_cases`` of ``train_list`` (UA-MT's ``labeled_idxs = range(16)``), the
    unlabeled ones the rest; on the standard 80-case list, 8 cases are the "10 %" and 16 the "20 %" setting
    (:data:`UAMT_LABELED_CASES`).

    Args:
        dataset_dir: root of the UA-MT layout (holds ``train.list`` and ``2018LA_Seg_Training Set/``).
        labeled_cases: how many leading cases of the list are labeled.
        train_list: list file inside ``dataset_dir``.

    Returns:
        ``(labeled, unlabeled)``: labeled items ``{"image": h5, "label": h5}`` (both datasets of the same file, read
        with :class:`metassl_monai.transforms.LoadH5d`), unlabeled items ``{"image": h5}`` (no label key).

    Raises:
        FileNotFoundError: ``dataset_dir``, the list or a listed ``mri_norm2.h5`` is missing (the message names it).
        ValueError: the list is empty, or ``labeled_cases`` is < 1 or leaves no unlabeled case.
    """
    cases, files = _uamt_files(dataset_dir, train_list)
    labeled_cases = int(labeled_cases)
    if not 1 <= labeled_cases < len(cases):
        n = len(cases)
        why = (
            "the labeled stream would be empty" if labeled_cases < 1
            else "no case would be left for the unlabeled stream (semi-supervised training needs both)"
        )
        raise ValueError(
            f"labeled_cases={labeled_cases} is out of range: {why}. labeled_cases must be between 1 and {n - 1} "
            f"({train_list} of {dataset_dir} has {n} cases); set --labeled_cases "
            "accordingly (the papers use 8 or 16 of the 80 UA-MT training cases)."
        )
    labeled = [{"image": f, "label": f} for f in files[:labeled_cases]]
    unlabeled = [{"image": f} for f in files[labeled_cases:]]
    return labeled, unlabeled


def la_uamt_eval_datalist(dataset_dir: str | os.PathLike, list_name: str = "test.list") -> list[dict]:
    """Items ``{"image": h5, "label": h5, "name": case}`` of the cases of ``dataset_dir/list_name`` (UA-MT layout)."""
    cases, files = _uamt_files(dataset_dir, list_name)
    return [{"image": f, "label": f, "name": c} for f, c in zip(files, cases)]


def _check_split(n_total: int, labeled_cases: int, val_cases: int, source: str) -> tuple[int, int]:
    labeled_cases, val_cases = int(labeled_cases), int(val_cases)
    if labeled_cases < 1 or val_cases < 1 or labeled_cases + val_cases >= n_total:
        empty = [
            name for name, is_empty in (
                ("labeled", labeled_cases < 1),
                ("unlabeled", labeled_cases + val_cases >= n_total),
                ("validation", val_cases < 1),
            ) if is_empty
        ]
        raise ValueError(
            f"labeled_cases={labeled_cases}, val_cases={val_cases} leave the {' and '.join(empty)} set(s) empty: "
            f"{source} has {n_total} cases; need labeled_cases >= 1, val_cases >= 1 and labeled_cases + val_cases "
            f"<= {n_total - 1} (the cases in between are the unlabeled stream); set --labeled_cases / --val_cases "
            "accordingly."
        )
    return labeled_cases, val_cases


def la_uamt_split(
    dataset_dir: str | os.PathLike, labeled_cases: int = 8, val_cases: int = 8, train_list: str = "train.list"
) -> dict[str, list[dict]]:
    """
    Labeled, unlabeled and validation datalists from the UA-MT ``train.list``, for training with model selection.

    The labeled cases are the first ``labeled_cases`` of the list (as UA-MT), the validation cases the *last*
    ``val_cases`` (their labels are used only to select the checkpoint), the unlabeled cases those in between.
    UA-MT-style papers select nothing (or select on ``test.list``, which leaks the test set); holding out
    ``val_cases`` of the unlabeled pool is the price of an honest model selection. On the standard 80-case list
    with ``val_cases=8``: 8 labeled / 64 unlabeled / 8 validation (10 %), or 16 / 56 / 8 (20 %).

    Args:
        dataset_dir: root of the UA-MT layout.
        labeled_cases: leading cases of the list that are labeled (>= 1).
        val_cases: trailing cases of the list held out for validation (>= 1).
        train_list: list file inside ``dataset_dir``.

    Returns:
        ``{"labeled": [{"image", "label"}], "unlabeled": [{"image"}], "validation": [{"image", "label", "name"}]}``.

    Raises:
        FileNotFoundError: the folder, the list or a listed ``mri_norm2.h5`` is missing (the message names it).
        ValueError: the counts leave one of the three sets empty (the message gives the list's size).
    """
    cases, files = _uamt_files(dataset_dir, train_list)
    labeled_cases, val_cases = _check_split(len(cases), labeled_cases, val_cases, str(Path(dataset_dir) / train_list))
    n_unlabeled_end = len(cases) - val_cases
    return {
        "labeled": [{"image": f, "label": f} for f in files[:labeled_cases]],
        "unlabeled": [{"image": f} for f in files[labeled_cases:n_unlabeled_end]],
        "validation": [{"image": f, "label": f, "name": c} for f, c in zip(files[n_unlabeled_end:], cases[n_unlabeled_end:])],
    }


def write_uamt_as_nifti(
    dataset_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    list_name: str = "test.list",
    with_labels: bool = True,
    overwrite: bool = False,
) -> list[Path]:
    """
    Write the UA-MT cases of ``dataset_dir/list_name`` as NIfTI, the input of the bundle's ``inference.json``:
    ``output_dir/<case>.nii.gz`` (float32 image) and, with ``with_labels``, ``<case>_gt.nii.gz`` (uint8 label).

    Arrays keep their (X, Y, Z) order; the affine is ``diag(spacing, 1)`` from the file's ``spacing`` attribute
    (:func:`metassl_monai.transforms.io.read_h5_spacing`) or the identity when the file has none (the original UA-MT
    files), so the NIfTI segmentation of a case overlays its h5 arrays voxel for voxel.

    Raises:
        FileNotFoundError: as :func:`la_uamt_eval_datalist`.
        FileExistsError: an output file exists and ``overwrite`` is False (nothing is written).
    """
    import nibabel as nib

    from metassl_monai.transforms.io import read_h5_dataset, read_h5_spacing

    items = la_uamt_eval_datalist(dataset_dir, list_name)
    out = Path(output_dir)
    targets = [(it, out / f"{it['name']}.nii.gz", out / f"{it['name']}_gt.nii.gz") for it in items]
    planned = [p for _, image, label in targets for p in ((image, label) if with_labels else (image,))]
    existing = [p for p in planned if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]} already exists; pass overwrite=True to replace it (nothing was written)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for item, image_path, label_path in targets:
        image = read_h5_dataset(item["image"], "image").astype(np.float32)
        spacing = read_h5_spacing(item["image"], ndim=image.ndim) or (1.0,) * image.ndim
        affine = np.diag(list(spacing) + [1.0])
        arrays = [(image, image_path)]
        if with_labels:
            arrays.append((read_h5_dataset(item["label"], "label").astype(np.uint8), label_path))
        for array, path in arrays:
            nii = nib.Nifti1Image(array, affine)
            nii.header.set_xyzt_units("mm")
            nib.save(nii, str(path))
            written.append(path)
    return written


# ----------------------------------------------------------------------------------------------------------------------
# NRRD
# ----------------------------------------------------------------------------------------------------------------------
#: NRRD type names (all the spellings of the format specification) → numpy dtype (byte order added from "endian")
NRRD_TYPES: dict[str, str] = {
    **dict.fromkeys(("signed char", "int8", "int8_t"), "i1"),
    **dict.fromkeys(("uchar", "unsigned char", "uint8", "uint8_t"), "u1"),
    **dict.fromkeys(("short", "short int", "signed short", "signed short int", "int16", "int16_t"), "i2"),
    **dict.fromkeys(("ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"), "u2"),
    **dict.fromkeys(("int", "signed int", "int32", "int32_t"), "i4"),
    **dict.fromkeys(("uint", "unsigned int", "uint32", "uint32_t"), "u4"),
    **dict.fromkeys(
        ("longlong", "long long", "long long int", "signed long long", "signed long long int", "int64", "int64_t"),
        "i8",
    ),
    **dict.fromkeys(
        ("ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"), "u8"
    ),
    "float": "f4",
    "double": "f8",
}
#: field spellings of older NRRD versions → the NRRD0004/5 name
_FIELD_ALIASES = {"datafile": "data file", "lineskip": "line skip", "byteskip": "byte skip"}
_ENCODINGS = {"raw": "raw", "gzip": "gzip", "gz": "gzip"}
_MAGIC = re.compile(rb"^NRRD000[1-5]$")
_VECTOR = re.compile(r"\(([^()]*)\)|none", re.IGNORECASE)
#: longest header accepted (real headers are < 1 kB); protects against reading a binary file line by line
_MAX_HEADER_BYTES = 1 << 20


def _vector(text: str, path: Path, field: str) -> np.ndarray | None:
    """``(a,b,c)`` → array; ``none`` → None."""
    if text.strip().lower() == "none":
        return None
    try:
        return np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        raise ValueError(f"{path}: cannot parse the vector {text!r} of NRRD field {field!r}") from None


def _vectors(value: str, path: Path, field: str) -> list[np.ndarray | None]:
    tokens = [m.group(0) for m in _VECTOR.finditer(value)]
    if not tokens or _VECTOR.sub("", value).strip():
        raise ValueError(f"{path}: cannot parse NRRD field {field!r}: {value!r}")
    return [_vector(m[1:-1] if m.startswith("(") else m, path, field) for m in tokens]


def _parse_header(path: Path) -> tuple[dict, int]:
    """The header dict of :func:`read_nrrd` and the byte offset of the data (right after the blank line)."""
    if not path.is_file():
        raise FileNotFoundError(f"NRRD file not found: {path}")
    fields: dict = {}
    keyvalues: dict[str, str] = {}
    with open(path, "rb") as f:
        magic = f.readline(64).rstrip(b"\r\n")
        if not _MAGIC.match(magic):
            raise ValueError(f"{path} is not a NRRD file (first line {magic[:16]!r}, expected b'NRRD0004')")
        terminated = False
        while f.tell() < _MAX_HEADER_BYTES:
            raw = f.readline(_MAX_HEADER_BYTES)
            if not raw:
                break
            line = raw.rstrip(b"\r\n").decode("latin-1")
            if not line:
                terminated = True
                break
            if line.startswith("#"):
                continue
            if ":=" in line:
                key, value = line.split(":=", 1)
                keyvalues[key] = value
            elif ": " in line:
                name, value = line.split(": ", 1)
                name = name.strip().lower()
                fields[_FIELD_ALIASES.get(name, name)] = value.strip()
            else:
                raise ValueError(f"{path}: malformed NRRD header line {line!r} (expected 'field: value')")
        offset = f.tell()
    if "data file" in fields:
        raise ValueError(
            f"{path}: detached NRRD data (data file: {fields['data file']}) is not supported; convert it to a "
            "single .nrrd file with the data attached"
        )
    if not terminated:
        raise ValueError(f"{path}: truncated NRRD file: the header has no terminating blank line and no data")
    for required in ("type", "dimension", "sizes", "encoding"):
        if required not in fields:
            raise ValueError(f"{path}: NRRD header has no {required!r} field (fields: {sorted(fields)})")

    type_name = " ".join(fields["type"].lower().split())
    if type_name not in NRRD_TYPES:
        raise ValueError(
            f"{path}: unsupported NRRD type {fields['type']!r} (supported: uint8, int8, int16, uint16, int32, uint32, "
            "int64, uint64, float, double)"
        )
    encoding = fields["encoding"].lower()
    if encoding not in _ENCODINGS:
        raise ValueError(f"{path}: unsupported NRRD encoding {fields['encoding']!r} (supported: raw, gzip)")
    try:
        dimension = int(fields["dimension"])
        sizes = tuple(int(s) for s in fields["sizes"].split())
    except ValueError:
        raise ValueError(
            f"{path}: cannot parse NRRD dimension/sizes {fields['dimension']!r} / {fields['sizes']!r}"
        ) from None
    if dimension < 1 or len(sizes) != dimension or min(sizes) < 1:
        raise ValueError(f"{path}: NRRD sizes {fields['sizes']!r} do not match dimension {dimension}")
    dtype = np.dtype(NRRD_TYPES[type_name])
    if dtype.itemsize > 1:
        endian = fields.get("endian", "").lower()
        if endian not in ("little", "big"):
            raise ValueError(
                f"{path}: NRRD header has no valid 'endian' field (got {fields.get('endian')!r}), required for "
                f"type {fields['type']!r}"
            )
        dtype = dtype.newbyteorder("<" if endian == "little" else ">")

    spacing = directions = origin = None
    if "space directions" in fields:
        vectors = _vectors(fields["space directions"], path, "space directions")
        if len(vectors) != dimension:
            raise ValueError(f"{path}: NRRD 'space directions' has {len(vectors)} entries for dimension {dimension}")
        spatial = [v for v in vectors if v is not None]
        if spatial and len({v.size for v in spatial}) != 1:
            raise ValueError(f"{path}: NRRD 'space directions' vectors differ in length: {fields['space directions']}")
        directions = np.array(spatial) if spatial else None
        spacing = tuple(float(np.linalg.norm(v)) if v is not None else float("nan") for v in vectors)
    elif "spacings" in fields:
        try:
            spacing = tuple(float(s) for s in fields["spacings"].split())
        except ValueError:
            raise ValueError(f"{path}: cannot parse NRRD spacings {fields['spacings']!r}") from None
        if len(spacing) != dimension:
            raise ValueError(f"{path}: NRRD 'spacings' has {len(spacing)} entries for dimension {dimension}")
    if "space origin" in fields:
        origin = _vectors(fields["space origin"], path, "space origin")[0]

    header = dict(fields)
    header.update(
        keyvalues=keyvalues,
        dtype=dtype,
        shape=sizes,
        encoding_name=_ENCODINGS[encoding],
        spacing=spacing,
        directions=directions,
        origin=origin,
    )
    return header, offset


def read_nrrd_header(path: str | os.PathLike) -> dict:
    """
    Parse the header of a NRRD file without reading its data (see :func:`read_nrrd` for the dict returned).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a NRRD file, a missing required field, an unsupported type / encoding, detached data.
    """
    return _parse_header(Path(path))[0]


def _skip_lines(buffer: bytes, n: int, path: Path) -> bytes:
    for _ in range(n):
        end = buffer.find(b"\n")
        if end < 0:
            raise ValueError(f"{path}: truncated NRRD file: cannot skip {n} line(s) before the data")
        buffer = buffer[end + 1 :]
    return buffer


def read_nrrd(path: str | os.PathLike) -> tuple[np.ndarray, dict]:
    """
    Read a NRRD file with attached data (``.nrrd``), as the LA challenge's ``lgemri.nrrd`` / ``laendo.nrrd``.

    Supports the ``raw`` and ``gzip`` encodings, little and big endian, the integer types of 8 to 64 bits, ``float``
    and ``double`` (every spelling of the specification), and the ``line skip`` / ``byte skip`` fields
    (``byte skip: -1`` with raw data). Detached headers (``.nhdr`` + data file) are not supported.

    Args:
        path: the ``.nrrd`` file.

    Returns:
        ``(array, header)``: ``array`` has shape ``sizes`` in the file's axis order, the fastest axis first — i.e.
        ``(X, Y, Z)`` for an image volume, as pynrrd and nibabel return it — in native byte order. ``header`` holds
        every field of the file as a string under its lower-case name (``"type"``, ``"sizes"``, ``"space
        directions"``, ...) and the parsed values:

        - ``"spacing"``: tuple, one float per axis: the norms of ``space directions`` (``nan`` for a ``none`` axis)
          or else ``spacings``; ``None`` when the file has neither;
        - ``"directions"``: ``(n_spatial_axes, space_dim)`` array of the ``space directions`` vectors or ``None``;
        - ``"origin"``: ``space origin`` as an array or ``None``;
        - ``"dtype"``, ``"shape"``, ``"encoding_name"`` (``raw`` / ``gzip``) and ``"keyvalues"`` (``key:=value``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the message names the file: not a NRRD file, truncated (header or data), corrupt gzip data,
            unsupported encoding / type, a missing or malformed field, detached data.
    """
    path = Path(path)
    header, offset = _parse_header(path)
    dtype, shape = header["dtype"], header["shape"]
    n_bytes = int(np.prod(shape)) * dtype.itemsize
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    try:
        line_skip = int(header.get("line skip", 0))
        byte_skip = int(header.get("byte skip", 0))
    except ValueError:
        raise ValueError(f"{path}: cannot parse NRRD line skip / byte skip") from None
    data = _skip_lines(data, line_skip, path)
    if header["encoding_name"] == "gzip":
        if byte_skip < 0:
            raise ValueError(f"{path}: NRRD 'byte skip: {byte_skip}' is only valid with raw encoding")
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(f"{path}: corrupt or truncated gzip data in NRRD file: {e}") from None
    if byte_skip == -1:
        data = data[-n_bytes:] if len(data) >= n_bytes else data
    elif byte_skip < -1:
        raise ValueError(f"{path}: invalid NRRD 'byte skip: {byte_skip}'")
    else:
        data = data[byte_skip:]
    if len(data) < n_bytes:
        raise ValueError(
            f"{path}: truncated NRRD file: sizes {' x '.join(map(str, shape))} of {header['type']!r} need "
            f"{n_bytes} bytes of data, found {len(data)}"
        )
    array = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape))).reshape(shape, order="F")
    return array.astype(dtype.newbyteorder("="), order="F"), header


# ----------------------------------------------------------------------------------------------------------------------
# raw challenge release → UA-MT layout
# ----------------------------------------------------------------------------------------------------------------------
def _triple(value: Sequence[int], name: str) -> tuple[int, int, int]:
    values = tuple(int(v) for v in value)
    if len(values) != 3 or min(values) < 0:
        raise ValueError(f"{name} must be three non-negative ints (x, y, z), got {tuple(value)}")
    return values  # type: ignore[return-value]


def _crop_box(
    label: np.ndarray, margin: tuple[int, int, int], min_size: tuple[int, int, int], crop_z: bool
) -> tuple[slice, slice, slice]:
    """UA-MT's crop: label bounding box ± (margin + max(min_size - (max - min), 0) // 2) per axis, clipped."""
    nonzero = np.nonzero(label)
    boxes = []
    for axis, (idx, m, size, n) in enumerate(zip(nonzero, margin, min_size, label.shape)):
        lo, hi = int(idx.min()), int(idx.max())
        if axis == 2 and not crop_z:
            boxes.append(slice(0, n))
            continue
        pad = max(size - (hi - lo), 0) // 2
        boxes.append(slice(max(lo - m - pad, 0), min(hi + 1 + m + pad, n)))
    return tuple(boxes)  # type: ignore[return-value]


def convert_raw_la_to_uamt(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    margin: Sequence[int] = UAMT_MARGIN,
    min_size: Sequence[int] = UAMT_MIN_SIZE,
    crop_z: bool = False,
    normalize: str = "volume",
    overwrite: bool = False,
) -> list[Path]:
    """
    Preprocess the raw LA challenge release into the UA-MT layout, as UA-MT's ``la_heart_processing.py`` does.

    For every ``raw_dir/<case>/lgemri.nrrd`` (with its ``laendo.nrrd``): ``label = laendo == 255``; the image is
    z-score normalised, ``(x - mean) / std``; image and label are cropped to the label's bounding box enlarged on
    each side by ``margin`` plus, where the box is smaller than ``min_size``, half of the difference (so that the
    crop holds a ``min_size`` training patch), clipped to the volume; the result is written to
    ``out_dir/2018LA_Seg_Training Set/<case>/mri_norm2.h5`` (datasets ``image`` float32 and ``label`` uint8, (X, Y, Z),
    gzip-compressed; attributes ``spacing``, ``crop_start``, ``crop_stop`` and ``source``).

    The defaults reproduce UA-MT's files except for its random margins (10-19 voxels in x/y per case; 5-9 in z,
    unused), fixed here to :data:`UAMT_MARGIN`: UA-MT crops x and y only (``crop_z=False``) and takes the z-score
    statistics over the whole volume before cropping (``normalize="volume"``). ``crop_z=True`` also crops z and
    ``normalize="crop"`` takes the statistics over the cropped image (its mean is then 0 and its std 1).

    The list files (UA-MT's ``train.list`` / ``test.list``) are not written. All inputs are checked (present,
    readable NRRD headers, matching sizes) and all outputs are checked (none exists, unless ``overwrite``) before
    anything is converted; the outputs are written to a temporary folder inside ``out_dir`` and moved into place only
    once every case has been converted, so an error leaves ``out_dir`` as it was.

    Args:
        raw_dir: folder of the case folders (the release's ``Training Set``).
        out_dir: root of the UA-MT layout to write (created if needed; may be the parent of ``raw_dir``).
        margin: voxels (x, y, z) added to each side of the label bounding box.
        min_size: (x, y, z) size the box is widened to, UA-MT's patch size; ``(0, 0, 0)`` to disable.
        crop_z: crop the z axis too (UA-MT keeps every slice).
        normalize: ``"volume"`` (UA-MT) or ``"crop"``: the region the mean and std are computed on.
        overwrite: replace existing ``mri_norm2.h5`` files.

    Returns:
        The written h5 paths, sorted by case.

    Raises:
        FileNotFoundError: ``raw_dir`` is missing, holds no case, or a case lacks ``lgemri.nrrd`` / ``laendo.nrrd``.
        FileExistsError: an output file exists and ``overwrite`` is False (nothing is written).
        ValueError: a corrupt / truncated / unsupported NRRD file (named), image and label sizes differ, an empty
            label (no voxel equal to 255; the case is named), a constant image, invalid arguments.
    """
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    margin, min_size = _triple(margin, "margin"), _triple(min_size, "min_size")
    if normalize not in ("volume", "crop"):
        raise ValueError(f"normalize must be 'volume' or 'crop', got {normalize!r}")
    require_dir(raw_dir, "raw_dir")
    cases = sorted(d.name for d in raw_dir.iterdir() if d.is_dir() and any((d / n).exists() for n in _CASE_FILES))
    if not cases:
        raise FileNotFoundError(f"no case folder with lgemri.nrrd / laendo.nrrd found in {raw_dir}")

    # 1. check every input and output before converting anything
    for case in cases:
        headers = []
        for name in _CASE_FILES:
            path = raw_dir / case / name
            if not path.is_file():
                raise FileNotFoundError(f"case {case}: {path} not found")
            headers.append(read_nrrd_header(path))
        (image_h, label_h) = headers
        if len(image_h["shape"]) != 3 or image_h["shape"] != label_h["shape"]:
            raise ValueError(
                f"case {case}: image {raw_dir / case / _CASE_FILES[0]} has sizes {image_h['shape']} and label "
                f"{raw_dir / case / _CASE_FILES[1]} has sizes {label_h['shape']}: need two equal 3D sizes"
            )
    outputs = [uamt_case_path(out_dir, c) for c in cases]
    existing = [p for p in outputs if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise FileExistsError(
            f"{existing[0]} already exists{more}; pass overwrite=True to replace it (nothing was written)"
        )

    # 2. convert into a staging folder
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".la_convert_", dir=out_dir))
    try:
        for case in cases:
            image_path, label_path = (raw_dir / case / n for n in _CASE_FILES)
            image, header = read_nrrd(image_path)
            laendo, _ = read_nrrd(label_path)
            label = (laendo == 255).astype(np.uint8)
            if not label.any():
                values = np.unique(laendo)
                raise ValueError(
                    f"case {case}: empty label, no voxel of {label_path} equals 255 (values found: "
                    f"{values[:10].tolist()})"
                )
            box = _crop_box(label, margin, min_size, crop_z)
            cropped = image[box].astype(np.float64)
            stats_region = image if normalize == "volume" else cropped
            mean, std = float(stats_region.mean(dtype=np.float64)), float(stats_region.std(dtype=np.float64))
            if not std > 0:
                raise ValueError(f"case {case}: constant image {image_path}, cannot z-score normalise it")
            cropped = ((cropped - mean) / std).astype(np.float32)
            with h5py.File(staging / f"{case}.h5", "w") as f:
                f.create_dataset("image", data=cropped, compression="gzip")
                f.create_dataset("label", data=label[box], compression="gzip")
                spacing = header["spacing"]
                f.attrs["spacing"] = np.asarray(spacing if spacing is not None else (np.nan,) * 3, dtype=np.float64)
                f.attrs["crop_start"] = np.array([s.start for s in box], dtype=np.int64)
                f.attrs["crop_stop"] = np.array([s.stop for s in box], dtype=np.int64)
                f.attrs["source"] = str(image_path)
        # 3. move into place
        for case, target in zip(cases, outputs):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / f"{case}.h5", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return outputs


# ----------------------------------------------------------------------------------------------------------------------
# Medical Segmentation Decathlon Task02_Heart
# ----------------------------------------------------------------------------------------------------------------------
def msd_heart_datalist(dataset_dir: str | os.PathLike, json_name: str = "dataset.json") -> list[dict]:
    """
    The ``training`` items of the Medical Segmentation Decathlon ``Task02_Heart`` (20 LA MRI volumes, NIfTI).

    Paths are resolved against ``dataset_dir`` with :func:`monai.data.load_decathlon_datalist`.

    Args:
        dataset_dir: the ``Task02_Heart`` folder (``dataset.json``, ``imagesTr/``, ``labelsTr/``).
        json_name: the datalist file inside ``dataset_dir``.

    Returns:
        ``[{"image": path, "label": path}, ...]`` with absolute paths, in the order of the json (other keys of an
        item, e.g. ``fold``, are kept).

    Raises:
        FileNotFoundError: the folder, the json or a listed file is missing (the message names it and the json).
        ValueError: the json is not valid JSON, has no ``training`` list, or an item lacks ``image`` / ``label``.
    """
    from monai.data import load_decathlon_datalist

    root = require_dir(dataset_dir)
    json_path = root / json_name
    if not json_path.is_file():
        raise FileNotFoundError(f"datalist not found: {json_path}")
    try:
        content = json.loads(json_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_path} is not valid JSON: {e}") from None
    training = content.get("training") if isinstance(content, dict) else None
    if not isinstance(training, list) or not training:
        raise ValueError(f"{json_path} has no non-empty 'training' list")
    for i, item in enumerate(training):
        if not isinstance(item, dict) or not {"image", "label"} <= set(item):
            raise ValueError(f"{json_path}: training item {i} must be a dict with 'image' and 'label', got {item!r}")
    items = load_decathlon_datalist(json_path, is_segmentation=True, data_list_key="training", base_dir=root.resolve())
    paths = [p for item in items for key in ("image", "label") for p in np.atleast_1d(item[key]).tolist()]
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        shown = ", ".join(missing[:5])
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise FileNotFoundError(f"{len(missing)} file(s) listed in {json_path} are missing: {shown}{more}")
    return items


def msd_heart_split(
    dataset_dir: str | os.PathLike, labeled_cases: int = 4, val_cases: int = 4, json_name: str = "dataset.json"
) -> dict[str, list[dict]]:
    """
    Labeled, unlabeled and validation datalists from the Decathlon ``Task02_Heart`` (see :func:`msd_heart_datalist`).

    The ``training`` items are split in the order of the json: the first ``labeled_cases`` are labeled, the last
    ``val_cases`` are the validation set, the ones in between are used without their labels; the ``test`` images of
    the json (the decathlon ships 10 without labels) are added to the unlabeled set when they exist on disk.

    Returns:
        ``{"labeled": [{"image", "label"}], "unlabeled": [{"image"}], "validation": [{"image", "label", "name"}]}``
        where ``name`` is the image file name without ``.nii.gz``.

    Raises:
        FileNotFoundError / ValueError: as :func:`msd_heart_datalist`; a listed ``test`` image that is missing; counts
            that leave a set empty.
    """
    items = msd_heart_datalist(dataset_dir, json_name)
    json_path = Path(dataset_dir) / json_name
    labeled_cases, val_cases = _check_split(len(items), labeled_cases, val_cases, str(json_path))
    test = json.loads(json_path.read_text()).get("test") or []
    test_images = []
    for entry in test:
        image = entry.get("image") if isinstance(entry, dict) else entry
        if not isinstance(image, str):
            raise ValueError(f"{json_path}: 'test' entries must be paths or dicts with 'image', got {entry!r}")
        path = (Path(dataset_dir) / image).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"test image listed in {json_path} is missing: {path}")
        test_images.append({"image": str(path)})
    end = len(items) - val_cases
    from .datalists import volume_name as name  # the case name of a volume file, as --datalist names it

    return {
        "labeled": [{"image": it["image"], "label": it["label"]} for it in items[:labeled_cases]],
        "unlabeled": [{"image": it["image"]} for it in items[labeled_cases:end]] + test_images,
        "validation": [{"image": it["image"], "label": it["label"], "name": name(it["image"])} for it in items[end:]],
    }
