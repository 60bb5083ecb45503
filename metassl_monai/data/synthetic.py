# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
A small synthetic "ACDC-like" short-axis cardiac MRI dataset, for the demo command and the tests (no download).

Each 2D slice shows a heart made of three structures, with the ACDC label values::

    0 background
    1 RV   right ventricle cavity: a crescent hugging the left side of the myocardium
    2 MYO  left-ventricular myocardium: a ring of thickness ~0.3 x LV radius around the LV cavity
    3 LV   left-ventricular blood pool: a filled, randomly oriented ellipse

The blood pools are bright, the myocardium dark, the background a smooth random texture with a few bright and
dark blobs; a multiplicative smooth bias field and Gaussian noise are applied and the result is min-max normalised
to ``[0, 1]``. Volumes stack slices of one heart from base (large) to apex (small, the RV fading out).

:func:`make_acdc_like_dataset` writes them in the SSL4MIS ACDC layout read by :mod:`metassl_monai.data.acdc`::

    root/data/slices/<case>_slice_<k>.h5   training slices, "image" float32 (H, W) in [0, 1], "label" uint8 (H, W)
    root/train_slices.list                 slice names (no ".h5"), patient by patient, slices in order
    root/data/<case>.h5                    validation volumes, "image" float32 (D, H, W), "label" uint8 (D, H, W)
    root/val.list                          validation case names

with ACDC case names ``patient001_frame01`` (end-diastole) and ``patient001_frame02`` (end-systole: smaller LV
cavity, thicker myocardium). :func:`write_nifti_volumes` turns h5 volumes into NIfTI files oriented like the real
ACDC ones.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
from scipy import ndimage

__all__ = ["synthesize_slice", "synthesize_volume", "make_acdc_like_dataset", "write_nifti_volumes", "write_acdc_datalist"]

#: smallest slice side the heart model is drawn on
_MIN_SIDE = 16
#: minimum myocardium thickness in pixels, so that the ring always closes around the LV (8-connected)
_MIN_MYO_PX = 1.5
#: validation patients are numbered from here (training patients from 1), as long as the ids do not collide
_VAL_FIRST_ID = 101


@dataclasses.dataclass(frozen=True)
class _Heart:
    """Geometry of one heart at full scale (base slice), in pixels of an ``(h, w)`` slice."""

    cy: float  # centre row
    cx: float  # centre column
    r_lv: float  # LV cavity mean radius
    ratio: float  # minor/major axis ratio of the LV ellipse, in (0, 1]
    theta: float  # LV ellipse orientation (radians)
    myo_frac: float  # myocardium thickness / LV radius
    rv_angle: float  # direction from the heart centre to the RV (pi = image left)
    rv_off: float  # RV ellipse centre distance from the heart centre, in outer (epicardial) radii
    rv_ax: float  # RV semi-axis along rv_angle, in outer radii
    rv_perp: float  # RV semi-axis across rv_angle, in outer radii


def _sample_heart(height: int, width: int, rng: np.random.Generator) -> _Heart:
    side = min(height, width)
    return _Heart(
        cy=(height - 1) / 2 + rng.uniform(-0.05, 0.05) * height,
        # slightly right of the centre: the RV takes room on the left
        cx=(width - 1) / 2 + rng.uniform(0.0, 0.08) * width,
        r_lv=rng.uniform(0.11, 0.14) * side,
        ratio=rng.uniform(0.72, 0.95),
        theta=rng.uniform(0.0, math.pi),
        myo_frac=rng.uniform(0.27, 0.33),
        rv_angle=math.pi + rng.uniform(-0.35, 0.35),
        rv_off=rng.uniform(0.45, 0.65),
        rv_ax=rng.uniform(1.0, 1.25),
        rv_perp=rng.uniform(1.1, 1.35),
    )


def _end_systole(heart: _Heart, rng: np.random.Generator) -> _Heart:
    """The same heart contracted: LV cavity radius x0.7-0.8, myocardial area kept (so the wall thickens)."""
    r_es = heart.r_lv * rng.uniform(0.7, 0.8)
    t_ed = heart.myo_frac * heart.r_lv
    ring = 2 * heart.r_lv * t_ed + t_ed**2  # (r + t)^2 - r^2, proportional to the myocardial area
    t_es = math.sqrt(r_es**2 + ring) - r_es
    return dataclasses.replace(
        heart, r_lv=r_es, myo_frac=t_es / r_es, rv_ax=heart.rv_ax * 0.9, rv_perp=heart.rv_perp * 0.9
    )


def _slice_labels(
    height: int, width: int, heart: _Heart, scale: float, dy: float = 0.0, dx: float = 0.0, dtheta: float = 0.0
) -> np.ndarray:
    """Label map (uint8, 0..3) of ``heart`` shrunk by ``scale`` and moved by ``(dy, dx)`` / rotated by ``dtheta``."""
    yy, xx = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    cy, cx = heart.cy + dy, heart.cx + dx
    theta = heart.theta + dtheta

    # LV cavity: ellipse with the area of a circle of radius r
    r = heart.r_lv * scale
    a, b = r / math.sqrt(heart.ratio), r * math.sqrt(heart.ratio)
    u = (xx - cx) * math.cos(theta) + (yy - cy) * math.sin(theta)
    v = -(xx - cx) * math.sin(theta) + (yy - cy) * math.cos(theta)
    lv = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    if not lv.any():  # tiny scales: keep at least the centre pixel so that the ring is well defined
        lv[int(np.clip(round(cy), 0, height - 1)), int(np.clip(round(cx), 0, width - 1))] = True

    # myocardium: every pixel within distance t of the cavity
    t = max(heart.myo_frac * r, _MIN_MYO_PX)
    heart_mask = ndimage.distance_transform_edt(~lv) <= t
    label = np.zeros((height, width), dtype=np.uint8)

    # RV: an ellipse centred left of the heart, minus the heart -> a crescent. Towards the apex its protrusion
    # beyond the epicardium (and its width) shrink to nothing: no RV below scale ~0.2.
    fade = min(max((scale - 0.2) / 0.15, 0.0), 1.0)
    if fade > 0:
        r_out = r + t
        phi = heart.rv_angle + dtheta
        ex, ey = math.cos(phi), math.sin(phi)
        rcx, rcy = cx + ex * r_out * heart.rv_off, cy + ey * r_out * heart.rv_off
        along = r_out * (1.0 - heart.rv_off) + max(r_out * (heart.rv_off + heart.rv_ax - 1.0), 2.0) * fade
        across = r_out * heart.rv_perp * (0.5 + 0.5 * fade)
        p = (xx - rcx) * ex + (yy - rcy) * ey
        q = -(xx - rcx) * ey + (yy - rcy) * ex
        rv = ((p / along) ** 2 + (q / across) ** 2 <= 1.0) & ~heart_mask
        if np.count_nonzero(rv) >= 3:
            label[rv] = 1
    label[heart_mask] = 2
    label[lv] = 3
    return label


def _render(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MR-like image (float32 in [0, 1]) for a ``(D, H, W)`` label stack; smooth fields are smooth along D too."""
    depth, height, width = labels.shape
    side = min(height, width)
    sigma_d = 1.0 if depth > 1 else 0.0

    # background: smooth random texture in [0.05, 0.5]
    tex = ndimage.gaussian_filter(
        rng.standard_normal(labels.shape), sigma=(sigma_d, *(2 * [rng.uniform(2.0, 4.0) * side / 64])), mode="reflect"
    )
    tex = 0.05 + 0.45 * (tex - tex.min()) / max(float(np.ptp(tex)), 1e-8)

    # a few bright (fat, liver) and dark (lung, air) blobs
    zz, yy, xx = np.meshgrid(
        np.arange(depth, dtype=np.float64),
        np.arange(height, dtype=np.float64),
        np.arange(width, dtype=np.float64),
        indexing="ij",
        sparse=True,
    )
    n_blobs = int(rng.integers(2, 6))
    centres = rng.uniform(0, 1, size=(n_blobs, 3)) * np.array([depth - 1, height - 1, width - 1])
    radii = rng.uniform(1.5, 4.5, size=n_blobs) * side / 64
    amps = rng.uniform(0.15, 0.4, size=n_blobs) * rng.choice([-1.0, 1.0], size=n_blobs)
    depth_radius = max(depth / 3, 1.0)
    for (bz, by, bx), rad, amp in zip(centres, radii, amps):  # a handful of blobs, each vectorised over the volume
        d2 = ((yy - by) ** 2 + (xx - bx) ** 2) / rad**2 + ((zz - bz) / depth_radius) ** 2
        tex = tex + amp * np.exp(-0.5 * d2)
    image = np.clip(tex, 0.0, 1.0)

    # tissues: bright blood pools, dark myocardium
    for value, low, high in ((1, 0.75, 0.9), (2, 0.25, 0.35), (3, 0.75, 0.9)):
        image[labels == value] = rng.uniform(low, high)
    image = ndimage.gaussian_filter(image, sigma=(0.0, 0.6, 0.6))  # partial-volume softening of the edges

    # multiplicative smooth bias field: a random low-order polynomial in normalised in-plane coordinates
    ny, nx = np.linspace(-1, 1, height)[:, None], np.linspace(-1, 1, width)[None, :]
    c = rng.uniform(-0.15, 0.15, size=5)
    bias = 1.0 + c[0] * nx + c[1] * ny + c[2] * nx * ny + c[3] * nx**2 + c[4] * ny**2
    image = image * np.clip(bias, 0.6, 1.4)[None]

    image = image + rng.normal(0.0, rng.uniform(0.03, 0.05), size=image.shape)
    image = (image - image.min()) / max(float(np.ptp(image)), 1e-8)
    return image.astype(np.float32)


def _check_side(height: int, width: int) -> tuple[int, int]:
    height, width = int(height), int(width)
    if height < _MIN_SIDE or width < _MIN_SIDE:
        raise ValueError(f"height and width must be >= {_MIN_SIDE}, got ({height}, {width})")
    return height, width


def _volume(
    depth: int, height: int, width: int, heart: _Heart, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Base (scale 1.0) to apex (scale 0.3) along D, the heart drifting slightly from slice to slice."""
    t = np.linspace(0.0, 1.0, depth) if depth > 1 else np.zeros(1)
    scales = np.sqrt(1.0 - 0.91 * t**2)  # ellipsoidal cap: 1.0 at the base, 0.3 at the apex
    drift = np.cumsum(np.concatenate([np.zeros((1, 3)), rng.normal(0, [0.35, 0.35, 0.03], size=(depth - 1, 3))]), 0)
    labels = np.stack(
        [_slice_labels(height, width, heart, float(s), dy, dx, dth) for s, (dy, dx, dth) in zip(scales, drift)]
    )
    return _render(labels, rng), labels


def synthesize_slice(
    height: int, width: int, rng: np.random.Generator, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """
    One synthetic short-axis slice.

    Args:
        height, width: slice size (>= 16).
        rng: random generator (anything ``numpy.random.default_rng`` accepts, e.g. an int seed, also works).
        scale: in ``(0, 1]``, shrinks the heart (1.0 at the base, ~0.3 at the apex); below ~0.25 there is no RV.

    Returns:
        ``(image, label)``: image float32 ``(height, width)`` in ``[0, 1]``, label uint8 with values in
        ``{0: background, 1: RV, 2: MYO, 3: LV}``.
    """
    height, width = _check_side(height, width)
    if not 0.0 < float(scale) <= 1.0:
        raise ValueError(f"scale must be in (0, 1], got {scale}")
    rng = np.random.default_rng(rng)
    heart = _sample_heart(height, width, rng)
    label = _slice_labels(height, width, heart, float(scale))
    return _render(label[None], rng)[0], label


def synthesize_volume(depth: int, height: int, width: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """
    A synthetic short-axis stack: one heart from the base (slice 0, scale 1.0) to the apex (last slice, scale 0.3).

    Returns:
        ``(image, label)``: image float32 ``(depth, height, width)``, min-max normalised over the whole volume to
        ``[0, 1]``; label uint8 of the same shape with values in ``{0, 1, 2, 3}``.
    """
    depth = int(depth)
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    height, width = _check_side(height, width)
    rng = np.random.default_rng(rng)
    return _volume(depth, height, width, _sample_heart(height, width, rng), rng)


def _listed_names(path: Path) -> list[str]:
    if not path.is_file():
        return []
    return [n.strip() for n in path.read_text().splitlines() if n.strip()]


def _remove_previous(root: Path) -> None:
    """Delete the files a previous dataset in ``root`` listed (only plain names inside ``data/``)."""
    for folder, list_name in ((root / "data" / "slices", "train_slices.list"), (root / "data", "val.list")):
        for name in _listed_names(root / list_name):
            if os.sep in name or "/" in name or name in (".", ".."):
                continue
            (folder / f"{name}.h5").unlink(missing_ok=True)


def _write_h5(path: Path, image: np.ndarray, label: np.ndarray) -> None:
    with h5py.File(path, "w") as f:
        f.create_dataset("image", data=image.astype(np.float32, copy=False))
        f.create_dataset("label", data=label.astype(np.uint8, copy=False))


def make_acdc_like_dataset(
    root: str | os.PathLike,
    n_train_patients: int = 10,
    n_val_patients: int = 3,
    size: tuple[int, int] = (64, 64),
    depth_range: tuple[int, int] = (6, 9),
    size_jitter: int = 8,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """
    Write a synthetic dataset in the SSL4MIS ACDC layout (see the module docstring) under ``root``.

    Every patient has two frames, ``patient<id>_frame01`` (end-diastole) and ``patient<id>_frame02`` (end-systole),
    of the same heart, depth and in-plane size. Training patients are numbered from 001, validation patients from
    101 (or right after the training ids if there are more than 100 of them). A patient's depth is drawn from
    ``depth_range`` (inclusive) and its height/width from ``size ± size_jitter``.

    Args:
        root: dataset folder (created if needed).
        n_train_patients: training patients (>= 1), i.e. ``2 * n_train_patients`` training volumes sliced in 2D.
        n_val_patients: validation patients (>= 1), i.e. ``2 * n_val_patients`` validation volumes.
        size: nominal ``(height, width)``.
        depth_range: ``(min, max)`` number of slices per volume, inclusive.
        size_jitter: maximum deviation of height and width from ``size``.
        seed: non-negative int; the output is a deterministic function of all the arguments, and a given patient
            does not depend on how many patients are generated.
        overwrite: replace a dataset already in ``root`` (the files its lists name are deleted first).

    Returns:
        ``Path(root)``.

    Raises:
        FileExistsError: ``root`` already holds ``train_slices.list`` or ``val.list`` and ``overwrite`` is False.
        ValueError: invalid sizes, depths, counts or seed.
    """
    root = Path(root)
    n_train, n_val = int(n_train_patients), int(n_val_patients)
    if n_train < 1 or n_val < 1:
        raise ValueError(f"need at least one training and one validation patient, got {n_train} and {n_val}")
    lo, hi = (int(d) for d in depth_range)
    if not 1 <= lo <= hi:
        raise ValueError(f"depth_range must be (min, max) with 1 <= min <= max, got {tuple(depth_range)}")
    jitter = int(size_jitter)
    if jitter < 0:
        raise ValueError(f"size_jitter must be >= 0, got {size_jitter}")
    base_h, base_w = (int(s) for s in size)
    if min(base_h, base_w) - jitter < _MIN_SIDE:
        raise ValueError(f"size - size_jitter must be >= {_MIN_SIDE}, got size={tuple(size)}, size_jitter={jitter}")
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")

    existing = [root / n for n in ("train_slices.list", "val.list") if (root / n).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"a dataset already exists at {existing[0]}; pass overwrite=True to replace it or choose another root"
        )
    if existing:
        _remove_previous(root)
    slices_dir = root / "data" / "slices"
    slices_dir.mkdir(parents=True, exist_ok=True)

    def patient(pid: int):
        """Both frames of patient ``pid``: [(case name, image, label), ...]."""
        rng = np.random.default_rng([seed, pid])
        h = int(rng.integers(base_h - jitter, base_h + jitter + 1))
        w = int(rng.integers(base_w - jitter, base_w + jitter + 1))
        depth = int(rng.integers(lo, hi + 1))
        ed = _sample_heart(h, w, rng)
        es = _end_systole(ed, rng)
        frames = ((1, ed), (2, es))
        return [(f"patient{pid:03d}_frame{k:02d}", *_volume(depth, h, w, heart, rng)) for k, heart in frames]

    slice_names: list[str] = []
    for pid in range(1, n_train + 1):
        for case, image, label in patient(pid):
            for k in range(image.shape[0]):
                name = f"{case}_slice_{k}"
                _write_h5(slices_dir / f"{name}.h5", image[k], label[k])
                slice_names.append(name)

    val_names: list[str] = []
    first_val = max(_VAL_FIRST_ID, n_train + 1)
    for pid in range(first_val, first_val + n_val):
        for case, image, label in patient(pid):
            _write_h5(root / "data" / f"{case}.h5", image, label)
            val_names.append(case)

    # lists last: a dataset with lists is a complete one
    (root / "val.list").write_text("\n".join(val_names) + "\n")
    (root / "train_slices.list").write_text("\n".join(slice_names) + "\n")
    return root


def write_nifti_volumes(
    h5_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    names: list[str] | None = None,
    spacing: Sequence[float] = (1.5, 1.5, 10.0),
    with_labels: bool = True,
) -> list[Path]:
    """
    Convert h5 volumes ``h5_dir/<name>.h5`` to ``out_dir/<name>.nii.gz`` (and labels to ``<name>_gt.nii.gz``).

    The arrays are stored the way a real ACDC NIfTI loads with nibabel: axes ``(X, Y, Z)``, i.e. the h5 ``(D, H, W)``
    volume (a SimpleITK ``(Z, Y, X)`` array in SSL4MIS) transposed by ``(2, 1, 0)``; the affine is
    ``diag(*spacing, 1)``. Images are float32, labels uint8.

    Args:
        h5_dir: folder of the volumes, normally ``root/data``.
        out_dir: output folder (created if needed).
        names: volume names; default: the names in ``h5_dir/../val.list``.
        spacing: voxel size ``(x, y, z)`` in mm.
        with_labels: also write the ``_gt`` label files.

    Returns:
        The written image paths, in the order of ``names``.

    Raises:
        FileNotFoundError: the default ``val.list`` or a listed h5 file is missing (checked before writing).
        KeyError: an h5 file lacks the "image" (or, with labels, "label") dataset.
    """
    import nibabel as nib

    h5_dir, out_dir = Path(h5_dir), Path(out_dir)
    if names is None:
        list_path = h5_dir.parent / "val.list"
        if not list_path.is_file():
            raise FileNotFoundError(f"no names given and the volume list does not exist: {list_path}")
        names = _listed_names(list_path)
    spacing = [float(s) for s in spacing]
    if len(spacing) != 3 or min(spacing) <= 0:
        raise ValueError(f"spacing must be three positive numbers, got {spacing}")
    sources = [h5_dir / f"{n}.h5" for n in names]
    for src in sources:
        if not src.is_file():
            raise FileNotFoundError(f"h5 volume not found: {src}")

    affine = np.diag(spacing + [1.0])
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, src in zip(names, sources):
        with h5py.File(src, "r") as f:
            keys = ("image", "label") if with_labels else ("image",)
            missing = [k for k in keys if k not in f]
            if missing:
                raise KeyError(f"{src} has no dataset(s) {missing} (found {sorted(f.keys())})")
            arrays = {k: f[k][()] for k in keys}
        outputs = {
            "image": (out_dir / f"{name}.nii.gz", np.float32),
            "label": (out_dir / f"{name}_gt.nii.gz", np.uint8),
        }
        for key, array in arrays.items():
            if array.ndim != 3:
                raise ValueError(f"{src}:{key} must be a (D, H, W) volume, got shape {array.shape}")
            path, dtype = outputs[key]
            nii = nib.Nifti1Image(np.ascontiguousarray(array.transpose(2, 1, 0).astype(dtype)), affine)
            nii.header.set_xyzt_units("mm")
            nib.save(nii, str(path))
        written.append(outputs["image"][0])
    return written


def write_acdc_datalist(dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, labeled_patients: int = 7,
                        spacing: Sequence[float] = (1.5, 1.5, 10.0), overwrite: bool = False) -> Path:
    """
    Write an SSL4MIS-layout ACDC dataset as NIfTI volumes plus a MONAI datalist JSON: ``out_dir/nifti/<volume>.nii.gz``
    (and ``_gt``; the training volumes stacked from their slices in ``train_slices.list`` order) and
    ``out_dir/datalist.json`` with the first ``labeled_patients`` patients' volumes in ``training``, the other
    training volumes in ``unlabeled`` (no label) and the ``val.list`` volumes in ``validation`` — the same split as
    ``--dataset_dir`` with ``--labeled_patients``, as ``--datalist`` reads it.

    Returns:
        The datalist path.

    Raises:
        FileExistsError: ``out_dir/datalist.json`` exists and ``overwrite`` is false (nothing is written).
        FileNotFoundError: a list or slice file is missing.
        ValueError: fewer than ``labeled_patients`` patients.
    """
    import json
    import tempfile

    from .acdc import patient_id, read_list

    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    target = out_dir / "datalist.json"
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists: choose another output folder or pass overwrite=True")
    slices = read_list(dataset_dir, "train_slices.list")
    volumes: dict[str, list[str]] = {}
    for name in slices:
        volumes.setdefault(name.rsplit("_slice_", 1)[0], []).append(name)
    patients = list(dict.fromkeys(patient_id(v) for v in volumes))
    if len(patients) < labeled_patients:
        raise ValueError(f"{dataset_dir} has {len(patients)} training patients, fewer than labeled_patients="
                         f"{labeled_patients}")
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.is_dir() else None) as tmp:
        for volume, names in volumes.items():
            names = sorted(names, key=lambda n: int(n.rsplit("_", 1)[1]))
            images, labels = [], []
            for n in names:
                path = dataset_dir / "data" / "slices" / f"{n}.h5"
                if not path.is_file():
                    raise FileNotFoundError(f"slice file not found: {path} (listed in train_slices.list)")
                with h5py.File(path, "r") as f:
                    images.append(f["image"][()])
                    labels.append(f["label"][()])
            with h5py.File(Path(tmp) / f"{volume}.h5", "w") as f:
                f["image"], f["label"] = np.stack(images), np.stack(labels)
        write_nifti_volumes(tmp, out_dir / "nifti", names=list(volumes), spacing=spacing)
    validation = read_list(dataset_dir, "val.list")
    write_nifti_volumes(dataset_dir / "data", out_dir / "nifti", names=validation, spacing=spacing)
    labeled = set(patients[:labeled_patients])

    def item(v: str, label: bool = True) -> dict:
        return {"image": f"nifti/{v}.nii.gz", **({"label": f"nifti/{v}_gt.nii.gz"} if label else {})}

    content = {"training": [item(v) for v in volumes if patient_id(v) in labeled],
               "unlabeled": [item(v, False) for v in volumes if patient_id(v) not in labeled],
               "validation": [item(v) for v in validation]}
    target.write_text(json.dumps(content, indent=1) + "\n")
    return target
