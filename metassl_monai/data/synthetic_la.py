# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Small synthetic "Left-Atrium-like" LGE-MRI volumes, for tests and demos of the LA readers (no download).

Each volume holds one left atrium (label 1): a randomly oriented, lobulated ellipsoid with 2-4 pulmonary-vein tubes
(radius ~2 voxels) leaving it in well separated outward directions, 0.3-0.5 of the volume long (they may leave the
field of view). The image has a bright blood pool in the label, a dark wall around it, a smooth random background
texture, a smooth multiplicative bias field and Rician noise, in raw positive MR-like units (maximum 300-400).

Arrays are in ``(X, Y, Z)`` order, as the challenge NRRD files, nibabel and UA-MT's h5 files hold them. The volume
is generated in voxel space; the spacing is metadata only, written to the NRRD / NIfTI headers (the default
``(0.625, 0.625, 2.5)`` mm is the challenge's in-plane resolution with a thicker slice; the challenge volumes
themselves are 0.625 mm isotropic, 576 or 640 x 576 or 640 x 88).

Three writers produce the layouts read by :mod:`metassl_monai.data.la`:

- :func:`write_uamt_la_dataset`: ``root/2018LA_Seg_Training Set/<case>/mri_norm2.h5`` + ``train.list``/``test.list``;
- :func:`write_raw_la_dataset`: the raw challenge release, ``root/<case>/lgemri.nrrd`` + ``laendo.nrrd`` (0/255),
  written by the minimal NRRD writer :func:`write_nrrd`;
- :func:`write_msd_heart_dataset`: the Medical Segmentation Decathlon ``Task02_Heart`` layout.

Case ``i`` of a dataset is the same volume in all three (it depends on ``seed`` and ``i`` only).
"""

from __future__ import annotations

import gzip
import json
import os
import string
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
from scipy import ndimage

from .la import uamt_case_path

__all__ = [
    "synthesize_la_volume",
    "la_case_ids",
    "write_nrrd",
    "write_uamt_la_dataset",
    "write_raw_la_dataset",
    "write_msd_heart_dataset",
]

#: smallest (x, y, z) volume the atrium model is drawn on
_MIN_SHAPE = (16, 16, 8)
_ID_ALPHABET = np.array(list(string.ascii_uppercase + string.digits))
#: numpy dtype → the NRRD type name written (Teem's spelling)
_NRRD_NAMES = {
    "i1": "signed char",
    "u1": "unsigned char",
    "i2": "short",
    "u2": "unsigned short",
    "i4": "int",
    "u4": "unsigned int",
    "i8": "long long",
    "u8": "unsigned long long",
    "f4": "float",
    "f8": "double",
}


# ----------------------------------------------------------------------------------------------------------------------
# volume model
# ----------------------------------------------------------------------------------------------------------------------
def _check_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    dims = tuple(int(s) for s in shape)
    if len(dims) != 3 or any(d < m for d, m in zip(dims, _MIN_SHAPE)):
        raise ValueError(f"shape must be three ints (x, y, z) >= {_MIN_SHAPE}, got {tuple(shape)}")
    return dims  # type: ignore[return-value]


def _check_spacing(spacing: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(s) for s in spacing)
    if len(values) != 3 or not all(np.isfinite(values)) or min(values) <= 0:
        raise ValueError(f"spacing must be three positive numbers (x, y, z) in mm, got {tuple(spacing)}")
    return values  # type: ignore[return-value]


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _spread_directions(n: int, rng: np.random.Generator, min_angle_deg: float = 50.0) -> np.ndarray:
    """``n`` unit vectors, pairwise at least ``min_angle_deg`` apart (greedy over random candidates)."""
    candidates = rng.standard_normal((256, 3))
    candidates /= np.linalg.norm(candidates, axis=1, keepdims=True)
    chosen = [candidates[0]]
    cos_max = np.cos(np.deg2rad(min_angle_deg))
    for c in candidates[1:]:
        if len(chosen) == n:
            break
        if np.max(np.asarray(chosen) @ c) < cos_max:
            chosen.append(c)
    return np.asarray(chosen)


def _unit_field(shape: tuple[int, ...], sigma: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Smooth random field rescaled to ``[0, 1]``."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape), sigma=sigma, mode="reflect")
    return (field - field.min()) / max(float(np.ptp(field)), 1e-12)


def _atrium_label(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """The label (bool): lobulated ellipsoid body + pulmonary-vein tubes, one 6-connected component."""
    dims = np.asarray(shape, dtype=np.float64)
    half = (dims - 1) / 2
    centre = half + rng.uniform(-0.06, 0.06, size=3) * dims
    x, y, z = np.meshgrid(*(np.arange(n, dtype=np.float64) for n in shape), indexing="ij", sparse=True)
    # normalised coordinates: the volume spans [-1, 1] on every axis, so the body fits whatever the shape
    q = [(x - centre[0]) / half[0], (y - centre[1]) / half[1], (z - centre[2]) / half[2]]

    # body: points with ellipsoidal radius <= 1 + lobulation, the ellipse axes rotated by `rot`
    radii = rng.uniform(0.34, 0.48, size=3)
    rot = _random_rotation(rng)
    inv = rot / radii[None, :]  # column k: the k-th axis scaled by 1 / radius_k
    u = [sum(q[i] * inv[i, k] for i in range(3)) for k in range(3)]
    rho = np.sqrt(u[0] ** 2 + u[1] ** 2 + u[2] ** 2)
    lobes = _unit_field(shape, sigma=dims / 8, rng=rng) * 2 - 1  # low-frequency bumps in [-1, 1]
    label = rho <= 1.0 + 0.25 * lobes

    # veins: segments from the centre through the surface, ending 0.3-0.5 of the volume beyond it
    n_veins = int(rng.integers(2, 5))
    directions = _spread_directions(n_veins, rng)
    for d in directions:
        surface = 1.0 / float(np.linalg.norm(d @ inv))  # ellipsoid radius along d (normalised units)
        length = rng.uniform(0.6, 1.0)  # 0.3-0.5 of the [-1, 1] extent
        end = centre + half * d * (surface + length)
        seg = end - centre
        rel = [x - centre[0], y - centre[1], z - centre[2]]
        t = np.clip((rel[0] * seg[0] + rel[1] * seg[1] + rel[2] * seg[2]) / float(seg @ seg), 0.0, 1.0)
        dist2 = (rel[0] - t * seg[0]) ** 2 + (rel[1] - t * seg[1]) ** 2 + (rel[2] - t * seg[2]) ** 2
        label |= dist2 <= rng.uniform(1.7, 2.3) ** 2

    # keep the component of the centre (6-connectivity), fill enclosed holes
    components, _ = ndimage.label(label)
    keep = components == components[tuple(np.round(centre).astype(int))]
    return ndimage.binary_fill_holes(keep)


def _render_la(label: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """LGE-MRI-like image (float32, raw positive units) of the atrium ``label``."""
    shape = label.shape
    image = 0.1 + 0.3 * _unit_field(shape, sigma=np.asarray(shape) / rng.uniform(8.0, 14.0), rng=rng)

    # dark wall (1-2 voxels) around the atrium, bright blood pool with a faint texture inside
    wall = ndimage.binary_dilation(label, iterations=int(rng.integers(1, 3))) & ~label
    image[wall] = rng.uniform(0.12, 0.2)
    blood = rng.uniform(0.65, 0.75) + 0.05 * (_unit_field(shape, sigma=2.0, rng=rng) - 0.5)
    image[label] = blood[label]
    image = ndimage.gaussian_filter(image, sigma=0.6)  # partial-volume softening of the edges

    # multiplicative bias: a random quadratic in normalised coordinates, clipped to [0.6, 1.4]
    nx, ny, nz = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij", sparse=True)
    c = rng.uniform(-0.15, 0.15, size=6)
    bias = 1.0 + c[0] * nx + c[1] * ny + c[2] * nz + c[3] * nx * ny + c[4] * nx**2 + c[5] * ny**2
    image = image * np.clip(bias, 0.6, 1.4)

    # Rician noise: magnitude of the signal plus complex Gaussian noise
    sigma = rng.uniform(0.02, 0.04)
    image = np.hypot(image + rng.normal(0.0, sigma, shape), rng.normal(0.0, sigma, shape))
    image = image * (rng.uniform(300.0, 400.0) / float(image.max()))
    return image.astype(np.float32)


def synthesize_la_volume(
    shape: Sequence[int] = (48, 48, 24),
    rng: np.random.Generator | int | None = 0,
    spacing: Sequence[float] = (0.625, 0.625, 2.5),
) -> tuple[np.ndarray, np.ndarray]:
    """
    One synthetic left-atrium LGE-MRI volume (see the module docstring).

    Args:
        shape: ``(X, Y, Z)`` size, at least ``(16, 16, 8)``.
        rng: random generator or anything ``numpy.random.default_rng`` accepts (an int seed: deterministic).
        spacing: voxel size ``(x, y, z)`` in mm, validated only: the volume is drawn in voxel space, the spacing is
            the metadata the writers put into the file headers.

    Returns:
        ``(image, label)``: image float32 ``shape``, positive raw intensities (not normalised, maximum 300-400);
        label uint8 ``shape`` with values ``{0, 1}``, one 6-connected component (body and veins), which does not
        touch the volume border except where a vein leaves the field of view.
    """
    shape = _check_shape(shape)
    _check_spacing(spacing)
    rng = np.random.default_rng(rng)
    label = _atrium_label(shape, rng)
    return _render_la(label, rng), label.astype(np.uint8)


def la_case_ids(n_cases: int, seed: int = 0) -> list[str]:
    """``n_cases`` distinct challenge-like case ids (20 uppercase letters / digits); id ``i`` depends on seed, i."""
    ids: list[str] = []
    for i in range(int(n_cases)):
        rng = np.random.default_rng([int(seed), i, 20])
        case = "".join(rng.choice(_ID_ALPHABET, size=20))
        while case in ids:  # astronomically unlikely, keeps the ids distinct anyway
            case = "".join(rng.choice(_ID_ALPHABET, size=20))
        ids.append(case)
    return ids


def _case_volume(seed: int, index: int, shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    return synthesize_la_volume(shape, np.random.default_rng([seed, index]))


def _check_seed(seed: int) -> int:
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return seed


# ----------------------------------------------------------------------------------------------------------------------
# NRRD writer
# ----------------------------------------------------------------------------------------------------------------------
def write_nrrd(
    path: str | os.PathLike,
    array: np.ndarray,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    origin: Sequence[float] | None = None,
    encoding: str = "gzip",
) -> Path:
    """
    Write a 3D array as a NRRD file with attached data (``NRRD0004``, space ``left-posterior-superior``).

    The header holds ``type``, ``dimension: 3``, ``space``, ``sizes``, ``space directions`` (a diagonal of
    ``spacing``), ``kinds``, ``endian: little``, ``encoding`` and ``space origin``; the data follow a blank line, the
    first axis fastest (Fortran order), so that :func:`metassl_monai.data.la.read_nrrd` returns ``array`` again.

    Args:
        path: output file (the folder must exist).
        array: ``(X, Y, Z)`` array of an integer type of 8-64 bits, float32 or float64 (bool is written as uint8).
        spacing: voxel size ``(x, y, z)`` in mm.
        origin: ``space origin``; default ``(0, 0, 0)``.
        encoding: ``"gzip"`` or ``"raw"``.

    Returns:
        ``Path(path)``.
    """
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    if array.ndim != 3:
        raise ValueError(f"write_nrrd writes 3D arrays, got shape {array.shape} for {path}")
    code = array.dtype.str[1:]
    if code not in _NRRD_NAMES:
        raise ValueError(f"unsupported dtype {array.dtype} for NRRD file {path} (integers, float32, float64)")
    if encoding not in ("gzip", "raw"):
        raise ValueError(f"encoding must be 'gzip' or 'raw', got {encoding!r}")
    spacing = _check_spacing(spacing)
    origin = (0.0, 0.0, 0.0) if origin is None else tuple(float(o) for o in origin)
    if len(origin) != 3:
        raise ValueError(f"origin must have three coordinates, got {origin}")

    directions = " ".join(
        "(" + ",".join(repr(spacing[i]) if i == j else "0" for j in range(3)) + ")" for i in range(3)
    )
    header = "\n".join(
        [
            "NRRD0004",
            "# Complete NRRD file format specification at:",
            "# http://teem.sourceforge.net/nrrd/format.html",
            f"type: {_NRRD_NAMES[code]}",
            "dimension: 3",
            "space: left-posterior-superior",
            "sizes: " + " ".join(str(n) for n in array.shape),
            f"space directions: {directions}",
            "kinds: domain domain domain",
            "endian: little",
            f"encoding: {encoding}",
            "space origin: (" + ",".join(repr(o) for o in origin) + ")",
        ]
    )
    data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes(order="F")
    if encoding == "gzip":
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path = Path(path)
    path.write_bytes(header.encode("ascii") + b"\n\n" + data)
    return path


# ----------------------------------------------------------------------------------------------------------------------
# dataset writers
# ----------------------------------------------------------------------------------------------------------------------
def _listed(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [n.strip() for n in path.read_text().splitlines() if n.strip()]


def _plain(name: str) -> bool:
    return bool(name) and "/" not in name and os.sep not in name and name not in (".", "..")


def _remove_file_and_empty_parent(path: Path) -> None:
    path.unlink(missing_ok=True)
    try:
        path.parent.rmdir()
    except OSError:  # not empty (other files of the user) or absent
        pass


def write_uamt_la_dataset(
    root: str | os.PathLike,
    n_cases: int = 6,
    n_test: int = 2,
    shape: Sequence[int] = (48, 48, 24),
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """
    Write a synthetic LA dataset in the UA-MT layout (see :mod:`metassl_monai.data.la`) under ``root``.

    Each case is ``root/2018LA_Seg_Training Set/<case>/mri_norm2.h5`` with datasets ``image`` (float32 ``(X, Y, Z)``,
    z-score normalised over the volume as in UA-MT) and ``label`` (uint8 0/1); ``root/train.list`` names the first
    ``n_cases - n_test`` case ids and ``root/test.list`` the last ``n_test``.

    Args:
        root: dataset folder (created if needed).
        n_cases: number of cases (>= 2).
        n_test: cases of ``test.list`` (1 <= n_test < n_cases).
        shape: ``(X, Y, Z)`` volume size.
        seed: non-negative int; case ``i`` (its id and volume) depends only on ``seed`` and ``i``.
        overwrite: replace a dataset already in ``root`` (the files its lists name are deleted first).

    Returns:
        ``Path(root)``.

    Raises:
        FileExistsError: ``root/train.list`` exists and ``overwrite`` is False (the message names it).
        ValueError: invalid counts, shape or seed.
    """
    root = Path(root)
    n_cases, n_test = int(n_cases), int(n_test)
    if not 1 <= n_test < n_cases:
        raise ValueError(f"need 1 <= n_test < n_cases, got n_cases={n_cases}, n_test={n_test}")
    shape, seed = _check_shape(shape), _check_seed(seed)
    train_list, test_list = root / "train.list", root / "test.list"
    if train_list.exists() and not overwrite:
        raise FileExistsError(
            f"a dataset already exists at {train_list}; pass overwrite=True to replace it or choose another root"
        )
    if overwrite:
        for case in _listed(train_list) + _listed(test_list):
            if _plain(case):
                _remove_file_and_empty_parent(uamt_case_path(root, case))

    cases = la_case_ids(n_cases, seed)
    for i, case in enumerate(cases):
        image, label = _case_volume(seed, i, shape)
        image = (image - image.mean()) / image.std()
        target = uamt_case_path(root, case)
        target.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(target, "w") as f:
            f.create_dataset("image", data=image.astype(np.float32), compression="gzip")
            f.create_dataset("label", data=label.astype(np.uint8), compression="gzip")
    # lists last: a dataset with lists is a complete one
    test_list.write_text("\n".join(cases[n_cases - n_test :]) + "\n")
    train_list.write_text("\n".join(cases[: n_cases - n_test]) + "\n")
    return root


def write_raw_la_dataset(
    root: str | os.PathLike,
    n_cases: int = 3,
    shape: Sequence[int] = (48, 48, 24),
    seed: int = 0,
    overwrite: bool = False,
    spacing: Sequence[float] = (0.625, 0.625, 2.5),
    image_dtype: str = "uint8",
    encoding: str = "gzip",
) -> Path:
    """
    Write synthetic cases in the layout of the raw challenge release: ``root/<case>/lgemri.nrrd`` (image, raw
    intensities) and ``root/<case>/laendo.nrrd`` (uint8 label, 0 / 255), spacing in the NRRD headers.

    Args:
        root: folder of the case folders (created if needed); the release's ``Training Set``.
        n_cases: number of cases (>= 1).
        shape: ``(X, Y, Z)`` volume size.
        seed: non-negative int; case ``i`` is the same volume as case ``i`` of the other writers.
        overwrite: replace the cases already in ``root`` (every ``root/*/lgemri.nrrd`` and ``laendo.nrrd`` is
            deleted first, so that no stale case survives).
        spacing: voxel size ``(x, y, z)`` in mm written to the headers.
        image_dtype: ``"uint8"`` (as the release: the image rescaled to 0..255) or ``"float32"`` (raw values).
        encoding: NRRD data encoding, ``"gzip"`` (as the release) or ``"raw"``.

    Returns:
        ``Path(root)``.

    Raises:
        FileExistsError: ``root`` already holds a case file and ``overwrite`` is False (the message names it).
    """
    root = Path(root)
    n_cases = int(n_cases)
    if n_cases < 1:
        raise ValueError(f"n_cases must be >= 1, got {n_cases}")
    shape, seed, spacing = _check_shape(shape), _check_seed(seed), _check_spacing(spacing)
    if image_dtype not in ("uint8", "float32"):
        raise ValueError(f"image_dtype must be 'uint8' or 'float32', got {image_dtype!r}")
    existing = sorted(p for name in ("lgemri.nrrd", "laendo.nrrd") for p in root.glob(f"*/{name}"))
    if existing and not overwrite:
        raise FileExistsError(
            f"a raw LA dataset already exists in {root} ({existing[0]}); pass overwrite=True to replace it"
        )
    for path in existing:
        _remove_file_and_empty_parent(path)

    for i, case in enumerate(la_case_ids(n_cases, seed)):
        image, label = _case_volume(seed, i, shape)
        if image_dtype == "uint8":
            image = np.rint(image * (255.0 / float(image.max()))).astype(np.uint8)
        folder = root / case
        folder.mkdir(parents=True, exist_ok=True)
        write_nrrd(folder / "lgemri.nrrd", image, spacing, encoding=encoding)
        write_nrrd(folder / "laendo.nrrd", (label * 255).astype(np.uint8), spacing, encoding=encoding)
    return root


def write_msd_heart_dataset(
    root: str | os.PathLike,
    n_cases: int = 3,
    shape: Sequence[int] = (48, 48, 24),
    seed: int = 0,
    overwrite: bool = False,
    spacing: Sequence[float] = (1.25, 1.25, 1.37),
    n_test: int = 0,
) -> Path:
    """
    Write synthetic cases in the Medical Segmentation Decathlon ``Task02_Heart`` layout::

        root/dataset.json
        root/imagesTr/la_XXX.nii.gz   float32 image (X, Y, Z), raw intensities, affine diag(spacing)
        root/labelsTr/la_XXX.nii.gz   uint8 label 0 / 1
        root/imagesTs/la_XXX.nii.gz   images without labels (``n_test`` of them; the decathlon has 10)

    ``dataset.json`` has the decathlon keys (``name``, ``description``, ``modality`` ``{"0": "MRI"}``, ``labels``
    ``{"0": "background", "1": "left atrium"}``, ``numTraining``, ``numTest``, ``training`` with ``./imagesTr/...``
    relative paths, ``test`` empty). Cases are numbered from ``la_003`` like the decathlon's first one.

    Args:
        root: the ``Task02_Heart`` folder (created if needed).
        n_cases: number of training cases (>= 1).
        shape: ``(X, Y, Z)`` volume size.
        seed: non-negative int; case ``i`` is the same volume as case ``i`` of the other writers.
        overwrite: replace a dataset already in ``root`` (the files its ``dataset.json`` names are deleted first).
        spacing: voxel size in mm (the decathlon's is 1.25 x 1.25 x 1.37).
        n_test: number of unlabeled ``test`` images (numbered after the training cases).

    Returns:
        ``Path(root)``.

    Raises:
        FileExistsError: ``root/dataset.json`` exists and ``overwrite`` is False (the message names it).
    """
    import nibabel as nib

    root = Path(root)
    n_cases, n_test = int(n_cases), int(n_test)
    if n_cases < 1 or n_test < 0:
        raise ValueError(f"need n_cases >= 1 and n_test >= 0, got n_cases={n_cases}, n_test={n_test}")
    shape, seed, spacing = _check_shape(shape), _check_seed(seed), _check_spacing(spacing)
    json_path = root / "dataset.json"
    if json_path.exists() and not overwrite:
        raise FileExistsError(
            f"a dataset already exists at {json_path}; pass overwrite=True to replace it or choose another root"
        )
    if json_path.exists():
        try:
            old = json.loads(json_path.read_text())
            previous = list(old.get("training", [])) + [
                t if isinstance(t, dict) else {"image": t} for t in old.get("test", [])
            ]
        except (json.JSONDecodeError, AttributeError, TypeError):
            previous = []
        for item in previous:
            for key, folder in (("image", "imagesTr"), ("label", "labelsTr"), ("image", "imagesTs")):
                rel = Path(str(item.get(key, ""))) if isinstance(item, dict) else Path()
                if rel.parent.name == folder and _plain(rel.name):
                    (root / folder / rel.name).unlink(missing_ok=True)

    (root / "imagesTr").mkdir(parents=True, exist_ok=True)
    (root / "labelsTr").mkdir(parents=True, exist_ok=True)
    affine = np.diag(list(spacing) + [1.0])
    training = []
    for i in range(n_cases):
        image, label = _case_volume(seed, i, shape)
        name = f"la_{i + 3:03d}.nii.gz"
        for array, folder in ((image, "imagesTr"), (label, "labelsTr")):
            nii = nib.Nifti1Image(array, affine)
            nii.header.set_xyzt_units("mm")
            nib.save(nii, str(root / folder / name))
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    test = []
    if n_test:
        (root / "imagesTs").mkdir(parents=True, exist_ok=True)
    for i in range(n_cases, n_cases + n_test):
        image, _ = _case_volume(seed, i, shape)
        name = f"la_{i + 3:03d}.nii.gz"
        nii = nib.Nifti1Image(image, affine)
        nii.header.set_xyzt_units("mm")
        nib.save(nii, str(root / "imagesTs" / name))
        test.append(f"./imagesTs/{name}")
    content = {
        "name": "LeftAtrium",
        "description": "Synthetic left atrium segmentation (metassl_monai), Task02_Heart layout",
        "reference": "synthetic",
        "licence": "CC-BY-SA 4.0",
        "release": "synthetic",
        "tensorImageSize": "3D",
        "modality": {"0": "MRI"},
        "labels": {"0": "background", "1": "left atrium"},
        "numTraining": n_cases,
        "numTest": n_test,
        "training": training,
        "test": test,
    }
    json_path.write_text(json.dumps(content, indent=4) + "\n")
    return root

