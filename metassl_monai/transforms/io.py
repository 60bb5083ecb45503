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

__all__ = ["LoadH5d", "read_h5_dataset"]


def read_h5_dataset(path: str, key: str) -> np.ndarray:
    """
    Read dataset ``key`` of the HDF5 file ``path`` into memory.

    Raises:
        FileNotFoundError: the file does not exist.
        OSError: the file is not a readable HDF5 file (truncated, corrupt); the message names the file.
        KeyError: the file has no dataset ``key``; the message names the file, the key and the keys it has.
    """
    try:
        handle = h5py.File(path, "r")
    except FileNotFoundError:
        raise FileNotFoundError(f"HDF5 file not found: {path}") from None
    except OSError as e:
        raise OSError(f"cannot read HDF5 file {path} (truncated or not HDF5?): {e}") from None
    with handle:
        if key not in handle:
            raise KeyError(f"HDF5 file {path} has no dataset {key!r}; it has {sorted(handle.keys())}.")
        try:
            return np.asarray(handle[key][()])
        except OSError as e:
            raise OSError(f"cannot read dataset {key!r} of HDF5 file {path}: {e}") from None


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
    """

    def __init__(
        self,
        keys: KeysCollection,
        h5_keys: Sequence[str] | None = None,
        dtype: Sequence | type | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
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
            array = read_h5_dataset(path, h5_key)
            if dtype is not None:
                array = array.astype(dtype, copy=False)
            meta = {"filename_or_obj": path, "original_channel_dim": "no_channel", "spatial_shape": array.shape}
            d[key] = MetaTensor(array, meta=meta)
        return d
