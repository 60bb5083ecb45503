# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""class_indices: argmax over the channel dimension, first maximum on ties, the same as torch.argmax."""

import pytest
import torch

from metassl_monai.losses import class_indices

# hand case: pixel 0 a clear max at 2, pixel 1 a tie between 1 and 3 (first wins: 1), pixel 2 all equal (0)
HAND = torch.tensor([[[0.1, 0.0, 5.0], [0.2, 7.0, 5.0], [3.0, 1.0, 5.0], [-1.0, 7.0, 5.0]]])  # (1, C=4, 3)


@pytest.mark.parametrize("dtype", [torch.long, torch.uint8])
def test_hand_case(dtype):
    out = class_indices(HAND, dtype=dtype)
    assert out.dtype == dtype and out.tolist() == [[2, 1, 0]]
    assert class_indices(HAND, keepdim=True, dtype=dtype).tolist() == [[[2, 1, 0]]]


@pytest.mark.parametrize("shape", [(2, 4, 5, 5), (3, 2, 4, 4, 4), (1, 1, 3), (2, 7, 3), (4, 3, 8, 1)])
@pytest.mark.parametrize("float_dtype", [torch.float32, torch.float16, torch.float64])
def test_equals_argmax(shape, float_dtype):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=gen).round(decimals=0).to(float_dtype)  # rounding makes many ties
    assert torch.equal(class_indices(x), x.argmax(1))
    assert torch.equal(class_indices(x, keepdim=True), x.argmax(1, keepdim=True))
    assert torch.equal(class_indices(x, dtype=torch.uint8), x.argmax(1).to(torch.uint8))


def test_more_classes_than_uint8_falls_back_to_argmax():
    x = torch.randn(1, 300, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(class_indices(x), x.argmax(1))


def test_nan_pixel_gets_a_valid_class():
    x = torch.zeros(1, 3, 2)
    x[0, 1, 0] = float("nan")
    x[0, 2, 1] = 1.0
    out = class_indices(x)
    assert out.tolist() == [[2, 2]]  # NaN pixel: C − 1, a valid index for cross_entropy


@pytest.mark.parametrize("bad, error", [(torch.zeros(3), ValueError)])
def test_bad_input(bad, error):
    with pytest.raises(error, match="B, C"):
        class_indices(bad)
    with pytest.raises(ValueError, match="dtype"):
        class_indices(torch.zeros(1, 2, 3), dtype=torch.int32)
