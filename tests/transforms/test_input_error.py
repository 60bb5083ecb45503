# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""input_error: the same error, and under a Starlette server (MONAI Label) also an HTTP 422 carrying its message."""

from __future__ import annotations

import sys
import traceback
import types

import numpy as np
import pytest
import torch

from metassl_monai.transforms import INPUT_ERROR_STATUS, ValidateSegmentationInputd, input_error


class FakeHTTPException(Exception):
    """Stands for starlette.exceptions.HTTPException (the tests do not need Starlette installed)."""


@pytest.fixture
def served(monkeypatch):
    module = types.ModuleType("starlette.exceptions")
    module.HTTPException = FakeHTTPException
    monkeypatch.setitem(sys.modules, "starlette.exceptions", module)


@pytest.fixture
def not_served(monkeypatch):
    monkeypatch.delitem(sys.modules, "starlette.exceptions", raising=False)


def test_unchanged_outside_a_server(not_served):
    error = OSError("cannot read 'image' file a.nii.gz")
    assert input_error(error) is error


@pytest.mark.parametrize("error", [OSError("cannot read 'image' file a.nii.gz (truncated or corrupt?)"),
                                   FileNotFoundError("'image' file not found: b.nii.gz"),
                                   ValueError("c.nii.gz: image 'image' has non-finite values")])
def test_served_error_is_both_and_prints_the_same(served, error):
    error.__cause__ = EOFError("ended early")
    out = input_error(error)
    assert isinstance(out, type(error)) and isinstance(out, FakeHTTPException)
    assert (out.status_code, out.detail, out.headers) == (INPUT_ERROR_STATUS, str(error), None) == (422, str(error),
                                                                                                   None)
    assert str(out) == str(error) and out.args == error.args and out.__cause__ is error.__cause__
    assert type(out).__name__ == type(error).__name__
    try:
        raise out
    except type(error):
        text = traceback.format_exc()
    assert text.rstrip().endswith(f"{type(error).__name__}: {error}")
    assert input_error(out) is out  # already served: unchanged


def test_the_validation_transform_raises_it(served):
    check = ValidateSegmentationInputd(keys="image", num_classes=4, spatial_dims=2)
    image = torch.ones(1, 4, 4)
    image[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"has non-finite values \(1 NaN, 0 Inf of 16 voxels\)") as e:
        check({"image": image})
    assert isinstance(e.value, FakeHTTPException) and e.value.status_code == 422
    assert check({"image": np.ones((1, 4, 4), np.float32)})  # a good input passes through
