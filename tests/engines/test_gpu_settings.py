# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
:mod:`metassl_monai.engines.gpu_settings`: the memory format of ``channels_last`` (2D / 3D / off), cuDNN's autotuner
switched after ``set_determinism``, and errors naming the config item. The bundles' use of them is in
``tests/bundles/test_bundle_gpu_settings.py``.
"""

from __future__ import annotations

import pytest
import torch
from monai.utils import set_determinism

from metassl_monai.engines import as_flag, memory_format, set_cudnn_benchmark


@pytest.mark.parametrize("value, expected", [(True, True), (False, False), (1, True), (0, False), ("true", True),
                                             ("False", False), (" TRUE ", True)])
def test_as_flag_accepts_booleans(value, expected):
    assert as_flag(value, "pin_memory") is expected


@pytest.mark.parametrize("value", ["yes", "", 2, -1, None, 0.5, [True]])
def test_as_flag_names_the_config_item(value):
    with pytest.raises(ValueError, match=r"config item 'pin_memory' must be true or false, got"):
        as_flag(value, "pin_memory")


@pytest.mark.parametrize("channels_last, spatial_dims, expected", [
    (True, 2, torch.channels_last),
    (True, 3, torch.channels_last_3d),
    (False, 2, torch.preserve_format),
    (False, 3, torch.preserve_format),
    (False, 1, torch.preserve_format),  # off: the dimensions do not matter
    ("true", 2, torch.channels_last),
])
def test_memory_format(channels_last, spatial_dims, expected):
    assert memory_format(channels_last, spatial_dims) == expected


def test_memory_format_errors_name_the_config_items():
    with pytest.raises(ValueError, match="'channels_last' must be true or false"):
        memory_format("on", 2)
    with pytest.raises(ValueError, match=r"'channels_last' needs 2 or 3 spatial dimensions \(patch_size\), got 1"):
        memory_format(True, 1)


@pytest.mark.parametrize("dims", [2, 3])
def test_memory_format_gives_the_layout_of_module_and_tensor_to(dims):
    conv = (torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d)(1, 4, 3)
    x = torch.randn(2, 3, *([5] * dims))
    fmt = memory_format(True, dims)
    assert conv.to("cpu", memory_format=fmt).weight.is_contiguous(memory_format=fmt)
    moved = x.to("cpu", memory_format=fmt)
    assert moved.is_contiguous(memory_format=fmt) and not moved.is_contiguous()
    # off: preserve_format changes nothing (the same tensor object, the same strides)
    assert x.to("cpu", memory_format=memory_format(False, dims)) is x


@pytest.fixture
def restore_cudnn_flags():
    saved = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    yield
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved


@pytest.mark.parametrize("enabled", [True, False, "true"])
def test_set_cudnn_benchmark_after_set_determinism(enabled, restore_cudnn_flags):
    set_determinism(seed=0)  # what the bundles' initialize does first: it turns the autotuner off
    assert torch.backends.cudnn.benchmark is False and torch.backends.cudnn.deterministic is True
    assert set_cudnn_benchmark(enabled) is as_flag(enabled, "cudnn_benchmark")
    assert torch.backends.cudnn.benchmark is as_flag(enabled, "cudnn_benchmark")
    assert torch.backends.cudnn.deterministic is True  # left as set_determinism set it
    set_determinism(seed=None)


def test_set_cudnn_benchmark_names_the_config_item(restore_cudnn_flags):
    before = torch.backends.cudnn.benchmark
    with pytest.raises(ValueError, match="'cudnn_benchmark'"):
        set_cudnn_benchmark("fast")
    assert torch.backends.cudnn.benchmark is before
