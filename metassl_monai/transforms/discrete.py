# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""MONAI's ``AsDiscrete(d)`` with the channel argmax of :func:`metassl_monai.losses.class_indices` (fast on CPU)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import monai.transforms
import torch
from monai.config import KeysCollection
from monai.data.meta_obj import get_track_meta
from monai.utils import convert_to_dst_type, convert_to_tensor

from metassl_monai.losses.class_indices import class_indices

__all__ = ["AsDiscrete", "AsDiscreted"]


class AsDiscrete(monai.transforms.AsDiscrete):
    """
    :class:`monai.transforms.AsDiscrete`, the same arguments and the same output (values, dtype, MetaTensor
    metadata), with its ``argmax`` over the channel dimension (``dim=0``, ``keepdim=True``, the defaults) computed by
    :func:`~metassl_monai.losses.class_indices`: torch's ``argmax`` over the strided channel dimension of a
    ``(C, *spatial)`` image is the slowest step of the bundles' CPU postprocessing (measured 42–48 ms of a 216×256×10
    ACDC frame, 132 ms of a 144×144×88 LA volume, against 3 and 6 ms). Other ``dim``/``keepdim`` settings, and the
    one-hot, threshold and rounding steps, are MONAI's.
    """

    def __call__(self, img, argmax=None, to_onehot=None, threshold=None, rounding=None):  # type: ignore[override]
        argmax = self.argmax if argmax is None else argmax
        if argmax and self.kwargs.get("dim", 0) == 0 and self.kwargs.get("keepdim", True):
            img = convert_to_tensor(img, track_meta=get_track_meta())
            indices = class_indices(torch.as_tensor(img).unsqueeze(0), keepdim=True)[0]  # (1, *spatial)
            img, *_ = convert_to_dst_type(indices, img, dtype=self.kwargs.get("dtype", torch.float))
            argmax = False
        return super().__call__(img, argmax=argmax, to_onehot=to_onehot, threshold=threshold, rounding=rounding)


class AsDiscreted(monai.transforms.AsDiscreted):
    """:class:`monai.transforms.AsDiscreted` (same arguments) with the channel argmax of :class:`AsDiscrete`."""

    def __init__(
        self,
        keys: KeysCollection,
        argmax: Sequence[bool] | bool = False,
        to_onehot: Sequence[int | None] | int | None = None,
        threshold: Sequence[float | None] | float | None = None,
        rounding: Sequence[str | None] | str | None = None,
        allow_missing_keys: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(keys, argmax, to_onehot, threshold, rounding, allow_missing_keys, **kwargs)
        self.converter = AsDiscrete()
        self.converter.kwargs = kwargs

    def __call__(self, data) -> dict[Hashable, torch.Tensor]:
        return super().__call__(data)
