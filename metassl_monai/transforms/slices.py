# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""One 2D slice of a 3D volume per item, the volume read once for all its slices (the 2D bundles' NIfTI stream)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping

from monai.transforms import MapTransform

__all__ = ["VolumeSliced"]


class VolumeSliced(MapTransform):
    """
    For items ``{"image": path, "label": path, "slice": k}``: run ``volume_transform`` (loading, channel first,
    per-volume intensity, axes to ``(C, D, H, W)``) on the item's volume and return its slice ``k`` along ``D`` as
    ``(C, H, W)`` — what an h5 slice item gives. The prepared volumes of the last ``cache_size`` items' files are
    kept, so a volume's slices, listed one after the other, read and normalise it once (deterministic: a cached
    dataset stores only the slices).

    Args:
        keys: keys of the volumes to slice (``image``, ``label``).
        volume_transform: the per-volume preparation, called with the item without its slice index.
        slice_key: the item key holding the slice index (removed from the output).
        cache_size: prepared volumes kept (by their files).
        allow_missing_keys: a key that is absent (an unlabeled item's ``label``) is skipped.

    Raises:
        KeyError: the item has no ``slice_key``.
        IndexError: the slice index is outside the volume (the message names the file and its depth).
    """

    def __init__(self, keys, volume_transform: Callable[[Mapping], Mapping], slice_key: str = "slice",
                 cache_size: int = 2, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.volume_transform = volume_transform
        self.slice_key = slice_key
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[tuple, Mapping] = OrderedDict()
        self._lock = threading.Lock()  # CacheDataset fills its cache from several threads

    def _volume(self, item: dict) -> Mapping:
        files = tuple((k, str(item[k])) for k in sorted(map(str, item)) if k in self.keys or k == "image")
        with self._lock:
            if files in self._cache:
                self._cache.move_to_end(files)
                return self._cache[files]
        prepared = self.volume_transform(item)
        with self._lock:
            if self.cache_size > 0:
                self._cache[files] = prepared
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return prepared

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        d = dict(data)
        if self.slice_key not in d:
            raise KeyError(f"VolumeSliced: the item has no {self.slice_key!r} index: {d.get('image', d)}")
        index = int(d.pop(self.slice_key))
        volume = self._volume(d)
        out = dict(volume)
        for key in self.key_iterator(out):
            depth = out[key].shape[1]
            if not 0 <= index < depth:
                raise IndexError(f"slice {index} is outside {d.get(key, key)} ({depth} slices)")
            out[key] = out[key][:, index].clone()  # not a view: the cached volume stays unchanged
        return out
