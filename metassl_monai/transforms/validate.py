# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Checks of loaded segmentation inputs, so that bad data fails at loading with the file named (not mid-training)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform
from monai.utils import ensure_tuple

from .input_error import input_error

__all__ = ["ValidateSegmentationInputd", "describe_source"]


def describe_source(value, data: Mapping | None = None, key: Hashable | None = None) -> str:
    """
    The file an array was read from: its ``filename_or_obj`` meta (a MetaTensor's, else ``data[f"{key}_meta_dict"]``),
    else ``"<unknown file>"`` (an in-memory array).
    """
    meta = getattr(value, "meta", None)
    if not meta and data is not None and key is not None:
        meta = data.get(f"{key}_meta_dict")
    name = meta.get("filename_or_obj") if isinstance(meta, Mapping) else None
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    return str(name) if name else "<unknown file>"


class ValidateSegmentationInputd(MapTransform):
    """
    Check the loaded image(s) and label(s) of an item and raise a ``ValueError`` naming the file and the key when they
    cannot be what the network expects. Place it right after loading and ``EnsureChannelFirstd``, before any resampling
    or intensity transform, so that every item is checked once (with ``CacheDataset``, before training starts).
    The data are returned unchanged (the same objects), so it does not interfere with ``Invertd``.

    Checks, all vectorised (``torch.isfinite(x).all()``, ``x.min()``, ``x.max()``):

        - every key: ``spatial_dims + 1`` dimensions ``(C, spatial...)``; ``channels`` channels for the image keys,
          1 channel for the label keys;
        - image keys: only finite values (no NaN or Inf);
        - label keys: integer values in ``[0, num_classes - 1]``, and the same spatial shape as the first image key
          present.

    Args:
        keys: keys of the arrays to check, e.g. ``["image", "label"]``; arrays are channel-first ``(C, *spatial)``
            tensors or numpy arrays (MetaTensors name their file through ``meta["filename_or_obj"]``).
        label_keys: the keys among ``keys`` that hold labels (class indices); the others are images.
        num_classes: number of classes including the background; ``None`` skips the label range check.
        spatial_dims: 2 or 3; ``None`` skips the dimension check.
        channels: channels of the image keys; ``None`` skips the channel check.
        allow_missing_keys: do not raise if a key is absent (e.g. the unlabeled items have no label).

    Raises:
        ValueError: wrong number of dimensions or channels, NaN/Inf in an image, label values outside
            ``0..num_classes-1`` or not integers, image/label spatial shapes differ. The message starts with the file
            (``filename_or_obj``) and names the key and what was expected.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_keys: KeysCollection = ("label",),
        num_classes: int | None = None,
        spatial_dims: int | None = None,
        channels: int | None = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.label_keys = set(ensure_tuple(label_keys))
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}.")
        if spatial_dims is not None and int(spatial_dims) not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.spatial_dims = None if spatial_dims is None else int(spatial_dims)
        self.channels = None if channels is None else int(channels)

    def __call__(self, data: Mapping[Hashable, object]) -> Mapping[Hashable, object]:
        try:
            return self._check(data)
        except ValueError as e:  # served by MONAI Label: an HTTP 422 with this message (see input_error)
            raise input_error(e) from e.__cause__

    def _check(self, data: Mapping[Hashable, object]) -> Mapping[Hashable, object]:
        image_shape: tuple[tuple[int, ...], Hashable, str] | None = None
        for key in self.key_iterator(dict(data)):
            value = data[key]
            source = describe_source(value, data, key)
            # a plain tensor view: the checks below skip MetaTensor's per-op metadata handling
            x = value.as_tensor() if isinstance(value, MetaTensor) else value
            x = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
            is_label = key in self.label_keys
            what = "label" if is_label else "image"
            expected_channels = 1 if is_label else self.channels
            if self.spatial_dims is not None and x.ndim != self.spatial_dims + 1:
                raise ValueError(
                    f"{source}: {what} {key!r} has shape {tuple(x.shape)} ({x.ndim} dimensions after adding the "
                    f"channel), expected {self.spatial_dims + 1} dimensions (C, {self.spatial_dims} spatial) for "
                    f"{self.spatial_dims}D data."
                )
            if expected_channels is not None and (x.ndim == 0 or x.shape[0] != expected_channels):
                raise ValueError(
                    f"{source}: {what} {key!r} has shape {tuple(x.shape)}, i.e. {x.shape[0] if x.ndim else 0} "
                    f"channel(s), expected {expected_channels} channel(s) (shape (C, spatial...))."
                )
            if x.is_floating_point() or x.is_complex():
                finite = torch.isfinite(x)
                if not bool(finite.all()):
                    n_nan, n_inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
                    raise ValueError(
                        f"{source}: {what} {key!r} has non-finite values ({n_nan} NaN, {n_inf} Inf of "
                        f"{x.numel()} voxels), expected only finite values."
                    )
            if not is_label:
                if image_shape is None:
                    image_shape = (tuple(x.shape[1:]), key, source)
                continue
            if self.num_classes is not None and x.numel():
                lo, hi = float(x.min()), float(x.max())
                if lo < 0 or hi > self.num_classes - 1:
                    raise ValueError(
                        f"{source}: label {key!r} has values in [{lo:g}, {hi:g}], expected class indices "
                        f"0..{self.num_classes - 1} (num_classes={self.num_classes})."
                    )
                if x.is_floating_point() and not bool((x == torch.round(x)).all()):
                    raise ValueError(
                        f"{source}: label {key!r} has non-integer values, expected class indices "
                        f"0..{self.num_classes - 1} (num_classes={self.num_classes})."
                    )
            if image_shape is not None and tuple(x.shape[1:]) != image_shape[0]:
                raise ValueError(
                    f"{source}: label {key!r} has spatial shape {tuple(x.shape[1:])} but image {image_shape[1]!r} "
                    f"({image_shape[2]}) has {image_shape[0]}, expected equal spatial shapes."
                )
        return data
