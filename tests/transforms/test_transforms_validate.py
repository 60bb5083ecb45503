# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""ValidateSegmentationInputd: bad images / labels fail with the file, the key and what was expected."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import Compose, EnsureChannelFirstd

from metassl_monai.transforms import LoadH5d, ValidateSegmentationInputd

FILE = "/data/slices/patient001_frame01_slice_3.h5"


def item(image, label=None, filename=FILE):
    d = {"image": MetaTensor(torch.as_tensor(image), meta={"filename_or_obj": filename})}
    if label is not None:
        d["label"] = MetaTensor(torch.as_tensor(label), meta={"filename_or_obj": filename})
    return d


def good(shape=(1, 8, 8)):
    image = torch.rand(shape)
    label = torch.zeros(shape, dtype=torch.uint8)
    label[..., 2:5, 2:5] = 3
    return image, label


def validator(**kwargs):
    args = {"keys": ["image", "label"], "num_classes": 4, "spatial_dims": 2, "allow_missing_keys": True}
    return ValidateSegmentationInputd(**{**args, **kwargs})


def test_good_item_passes_unchanged():
    image, label = good()
    data = item(image, label)
    out = validator()(data)
    assert out["image"] is data["image"] and out["label"] is data["label"]
    assert validator()(item(image))["image"] is not None  # unlabeled item: no label key


def _nan(x):
    x = x.clone()
    x[0, 1, 1] = float("nan")
    return x


def _inf(x):
    x = x.clone()
    x[0, 2, 2] = -float("inf")
    return x


@pytest.mark.parametrize(
    "change, kwargs, message",
    [
        (lambda i, l: (_nan(i), l), {}, r"image 'image' has non-finite values \(1 NaN, 0 Inf"),
        (lambda i, l: (_inf(i), l), {}, r"image 'image' has non-finite values \(0 NaN, 1 Inf"),
        (lambda i, l: (i, torch.full_like(l, 4)), {}, r"label 'label' has values in \[4, 4\], expected class indices 0\.\.3 \(num_classes=4\)"),
        (lambda i, l: (i, l.float() - 1), {}, r"label 'label' has values in \[-1, 2\], expected class indices 0\.\.3"),
        (lambda i, l: (i, l.float() / 2), {}, r"label 'label' has non-integer values"),
        (lambda i, l: (torch.cat([i, i, i]), l), {}, r"image 'image' has shape \(3, 8, 8\), i\.e\. 3 channel\(s\), expected 1"),
        (lambda i, l: (i, torch.cat([l, l])), {}, r"label 'label' has shape \(2, 8, 8\), i\.e\. 2 channel\(s\), expected 1"),
        (lambda i, l: (i[None], l), {}, r"image 'image' has shape \(1, 1, 8, 8\) \(4 dimensions .*expected 3 dimensions"),
        (lambda i, l: (i, l), {"spatial_dims": 3}, r"image 'image' has shape \(1, 8, 8\) \(3 dimensions .*expected 4 dimensions \(C, 3 spatial\) for 3D"),
        (lambda i, l: (i, l[:, :6]), {}, r"label 'label' has spatial shape \(6, 8\) but image 'image'.* has \(8, 8\)"),
    ],
    ids=["nan", "inf", "label-too-large", "label-negative", "label-fraction", "image-channels", "label-channels",
         "image-dims", "spatial-dims-3d", "shape-mismatch"],
)
def test_bad_item_names_file_key_and_expectation(change, kwargs, message):
    image, label = change(*good())
    with pytest.raises(ValueError, match=re.escape(FILE) + ": .*" + message):
        validator(**kwargs)(item(image, label))


def test_label_range_skipped_without_num_classes_and_channels_configurable():
    image, label = good()
    ValidateSegmentationInputd(["image", "label"], num_classes=None, spatial_dims=2)(item(image, label + 10))
    ValidateSegmentationInputd(["image"], spatial_dims=2, channels=2)(item(torch.cat([image, image])))
    with pytest.raises(ValueError, match="expected 2 channel"):
        ValidateSegmentationInputd(["image"], spatial_dims=2, channels=2)(item(image))


def test_plain_arrays_and_meta_dicts():
    image, label = good()
    data = {"image": _nan(image).numpy(), "image_meta_dict": {"filename_or_obj": "/x/case.nii.gz"}}
    with pytest.raises(ValueError, match=r"^/x/case\.nii\.gz: image 'image' has non-finite"):
        validator()(data)
    with pytest.raises(ValueError, match=r"^<unknown file>: image 'image'"):
        validator()({"image": _nan(image).numpy()})


def test_missing_key_is_an_error_unless_allowed():
    image, _ = good()
    with pytest.raises(KeyError):
        validator(allow_missing_keys=False)(item(image))


@pytest.mark.parametrize("kwargs", [{"num_classes": 0}, {"spatial_dims": 4}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        ValidateSegmentationInputd(["image"], **kwargs)


def test_after_loadh5d_the_file_is_named(tmp_path):
    import h5py

    path = tmp_path / "slice.h5"
    with h5py.File(path, "w") as f:
        f["image"] = np.full((6, 6), np.nan, np.float32)
        f["label"] = np.zeros((6, 6), np.uint8)
    pipeline = Compose([
        LoadH5d(["image", "label"]),
        EnsureChannelFirstd(["image", "label"], channel_dim="no_channel"),
        validator(),
    ])
    with pytest.raises(RuntimeError) as exc:
        pipeline({"image": str(path), "label": str(path)})
    cause = exc.value.__cause__
    assert isinstance(cause, ValueError) and str(cause).startswith(f"{path}: image 'image' has non-finite values")
