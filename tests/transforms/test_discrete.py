# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""metassl_monai.transforms.AsDiscrete(d): MONAI's output exactly (values, dtype, metadata), faster argmax."""

import pytest
import torch
from monai.data import MetaTensor
from monai.transforms import AsDiscrete as MonaiAsDiscrete
from monai.transforms import AsDiscreted as MonaiAsDiscreted

from metassl_monai.transforms import AsDiscrete, AsDiscreted

CASES = [
    dict(argmax=True),
    dict(argmax=True, to_onehot=4),
    dict(argmax=True, dim=0, keepdim=False),
    dict(argmax=False, threshold=0.5),
    dict(argmax=True, dtype=torch.uint8),
]


def _image(shape=(4, 6, 5, 3), seed=0):
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).round(decimals=0)  # many ties
    return MetaTensor(x, affine=torch.diag(torch.tensor([1.5, 2.0, 3.0, 1.0])), meta={"filename_or_obj": "case.nii"})


@pytest.mark.parametrize("kwargs", CASES)
def test_same_output_as_monai(kwargs):
    img = _image()
    ours, theirs = AsDiscrete(**kwargs)(img.clone()), MonaiAsDiscrete(**kwargs)(img.clone())
    assert type(ours) is type(theirs) and ours.dtype == theirs.dtype and ours.shape == theirs.shape
    assert torch.equal(ours.as_tensor(), theirs.as_tensor())
    assert torch.equal(ours.affine, theirs.affine) and ours.meta["filename_or_obj"] == "case.nii"


def test_hand_case():
    img = torch.tensor([[[0.1, 0.5, 0.2]], [[0.7, 0.5, 0.1]], [[0.2, 0.0, 0.7]]])  # (C=3, 1, 3): ties → first
    assert AsDiscrete(argmax=True)(img).tolist() == [[[1.0, 0.0, 2.0]]]


@pytest.mark.parametrize("argmax, to_onehot", [([True, False], 3), (True, None)])
def test_dictionary_version(argmax, to_onehot):
    data = {"pred": _image((3, 4, 4, 2)), "label": MetaTensor(torch.randint(0, 3, (1, 4, 4, 2)).float())}
    keys = ["pred", "label"] if isinstance(argmax, list) else "pred"
    ours = AsDiscreted(keys, argmax=argmax, to_onehot=to_onehot)({k: v.clone() for k, v in data.items()})
    theirs = MonaiAsDiscreted(keys, argmax=argmax, to_onehot=to_onehot)({k: v.clone() for k, v in data.items()})
    for key in data:
        assert torch.equal(torch.as_tensor(ours[key]), torch.as_tensor(theirs[key])), key
