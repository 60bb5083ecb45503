# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Reading HDF5 files (the SSL4MIS / UA-MT formats) as a MONAI dictionary transform."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import h5py
import numpy as np
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform

__all__ = ["LoadH5d", "read_h5_dataset", "read_h5_spacing"]


def _open_h5(path: str) -> h5py.File:
    """Open an HDF5 file for reading; errors name the file (missing, truncated, not HDF5)."""
    try:
        return h5py.File(path, "r")
    except FileNotFoundError:
        raise FileNotFoundError(f"HDF5 file not found: {path}") from None
    except OSError as e:
        raise OSError(f"cannot read HDF5 file {path} (truncated or not HDF5?): {e}") from None


def _dataset(handle: h5py.File, path: str, key: str) -> np.ndarray:
    if key not in handle:
        raise KeyError(f"HDF5 file {path} has no dataset {key!r}; it has {sorted(handle.keys())}.")
    try:
        return np.asarray(handle[key][()])
    except OSError as e:
        raise OSError(f"cannot read dataset {key!r} of HDF5 file {path}: {e}") from None


def _spacing(handle: h5py.File, attr: str, ndim: int | None) -> tuple[float, ...] | None:
    if attr not in handle.attrs:
        return None
    try:
        values = np.asarray(handle.attrs[attr], dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    if values.size == 0 or not np.all(np.isfinite(values)) or not np.all(values > 0):
        return None
    if ndim is not None and values.size != ndim:
        return None
    return tuple(float(v) for v in values)


def read_h5_dataset(path: str, key: str) -> np.ndarray:
    """
    Read dataset ``key`` of the HDF5 file ``path`` into memory.

    Raises:
        FileNotFoundError: the file does not exist.
        OSError: the file is not a readable HDF5 file (truncated, corrupt); the message names the file.
        KeyError: the file has no dataset ``key``; the message names the file, the key and the keys it has.
    """
    handle = _open_h5(path)
    with handle:
        return _dataset(handle, path, key)


def read_h5_spacing(path: str, attr: str = "spacing", ndim: int | None = None) -> tuple[float, ...] | None:
    """
    The voxel size stored in the file attribute ``attr`` of the HDF5 file ``path`` (written by
    :func:`metassl_monai.data.convert_raw_la_to_uamt`), or ``None`` when the file has no such attribute, when it does
    not hold ``ndim`` finite positive numbers (e.g. the ``nan`` the converter writes for an unknown spacing), or when
    ``ndim`` is given and does not match. The original SSL4MIS / UA-MT files carry no spacing.

    Raises:
        FileNotFoundError / OSError: as :func:`read_h5_dataset`.
    """
    handle = _open_h5(path)
    with handle:
        return _spacing(handle, attr, ndim)


class LoadH5d(MapTransform):
    """
    Load arrays from HDF5 files, the format of the SSL4MIS ACDC slices/volumes and of the UA-MT LA volumes.

    For each key, ``data[key]`` is the path of an HDF5 file and the array read is its dataset named ``key``
    (or ``h5_keys[i]`` when given). The result is a :class:`monai.data.MetaTensor` (no channel dimension; follow
    with ``EnsureChannelFirstd(channel_dim="no_channel")``) whose meta holds ``filename_or_obj`` and
    ``original_channel_dim`` so MONAI's writers and ``Invertd`` work as with ``LoadImaged``.

    Args:
        keys: keys of the data dictionary holding file paths.
        h5_keys: dataset names inside the file, one per key; defaults to the keys themselves.
        dtype: optional dtype per key (a single dtype or one per key), e.g. ``(np.float32, np.uint8)``.
        allow_missing_keys: do not raise if a key is absent from the data dictionary.
        spacing_attr: file attribute holding the voxel size (see :func:`read_h5_spacing`); when the file has a valid
            one, the MetaTensor's affine is ``diag(spacing, 1)`` so that ``pixdim`` and the spacing-aware metrics
            (:class:`metassl_monai.handlers.SpacingAwareMetric`) report millimetres. Otherwise the affine is the
            identity (distances in voxels). ``None`` never reads it.
    """

    def __init__(
        self,
        keys: KeysCollection,
        h5_keys: Sequence[str] | None = None,
        dtype: Sequence | type | None = None,
        allow_missing_keys: bool = False,
        spacing_attr: str | None = "spacing",
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.spacing_attr = spacing_attr
        self.h5_keys = list(h5_keys) if h5_keys is not None else [str(k) for k in self.keys]
        if len(self.h5_keys) != len(self.keys):
            raise ValueError(f"h5_keys {self.h5_keys} must have one entry per key {list(self.keys)}.")
        if dtype is None or not isinstance(dtype, (list, tuple)):
            dtype = [dtype] * len(self.keys)
        if len(dtype) != len(self.keys):
            raise ValueError(f"dtype {list(dtype)} must be a single dtype or one per key {list(self.keys)}.")
        self.dtypes = list(dtype)

    def __call__(self, data: Mapping[Hashable, str]) -> dict:
        d = dict(data)
        for key, h5_key, dtype in self.key_iterator(d, self.h5_keys, self.dtypes):
            path = str(d[key])
            with _open_h5(path) as handle:  # one open per key: the array and its spacing
                array = _dataset(handle, path, h5_key)
                spacing = _spacing(handle, self.spacing_attr, array.ndim) if self.spacing_attr else None
            if dtype is not None:
                array = array.astype(dtype, copy=False)
            meta = {"filename_or_obj": path, "original_channel_dim": "no_channel", "spatial_shape": array.shape}
            affine = np.eye(array.ndim + 1)
            if spacing is not None:
                affine[: array.ndim, : array.ndim] = np.diag(spacing)
            d[key] = MetaTensor(array, affine=affine, meta=meta)
        return d
