# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Datalist of the NIfTI volumes of a folder (what the inference configs and MONAI Label read)."""

from __future__ import annotations

import os

from .paths import require_dir

__all__ = ["nifti_datalist"]


def nifti_datalist(dataset_dir: str | os.PathLike, pattern: str = "*.nii.gz", exclude_suffix: str = "_gt") -> list[dict]:
    """
    ``[{"image": path}, ...]`` for every file of ``dataset_dir`` matching ``pattern`` (sorted), skipping ground-truth
    files whose stem ends with ``exclude_suffix`` (e.g. ``patient001_frame01_gt.nii.gz``; "" keeps everything).

    Raises:
        FileNotFoundError: the folder does not exist, or holds no matching file (the message names both).
    """
    root = require_dir(dataset_dir)
    files = sorted(p for p in root.glob(pattern) if p.is_file())
    if exclude_suffix:
        files = [p for p in files if not p.name.split(".")[0].endswith(exclude_suffix)]
    if not files:
        raise FileNotFoundError(f"no file matching {pattern!r} in {root}")
    return [{"image": str(p)} for p in files]
