# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The bundles' GPU settings that are more than one keyword of a MONAI component: the memory format of the networks and
batches (``channels_last``) and cuDNN's autotuner (``cudnn_benchmark``). Each function checks its config item and
names it in the error.
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["as_flag", "memory_format", "set_cudnn_benchmark"]


def as_flag(value: Any, key: str) -> bool:
    """
    ``value`` as a bool, for the config item ``key``: ``True``/``False`` (what ``--key true`` gives on MONAI's command
    line) or 0/1, and the strings ``"true"``/``"false"`` (any case).

    Raises:
        ValueError: anything else (e.g. ``"yes"``, ``2``, ``None``), naming ``key``.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"config item '{key}' must be true or false, got {value!r}.")


def memory_format(channels_last: Any, spatial_dims: int) -> torch.memory_format:
    """
    The memory format of the config item ``memory_format``: ``torch.channels_last`` (2D, NHWC) or
    ``torch.channels_last_3d`` (3D, NDHWC) when ``channels_last``, else ``torch.preserve_format`` (the default of
    ``Module.to`` / ``Tensor.to``: nothing changes). The bundles give it to ``network.to(device, memory_format=...)``
    and to the trainer's ``to_kwargs`` (the batches).

    Args:
        channels_last: the config item ``channels_last``.
        spatial_dims: 2 or 3 (the bundles: ``len(@patch_size)``).

    Raises:
        ValueError: ``channels_last`` is not true/false, or ``spatial_dims`` is not 2 or 3 (naming the items).
    """
    if not as_flag(channels_last, "channels_last"):
        return torch.preserve_format
    if spatial_dims not in (2, 3):
        raise ValueError(
            f"config item 'channels_last' needs 2 or 3 spatial dimensions (patch_size), got {spatial_dims}."
        )
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


def set_cudnn_benchmark(enabled: Any) -> bool:
    """
    ``torch.backends.cudnn.benchmark = enabled`` (config item ``cudnn_benchmark``): cuDNN times the convolution
    algorithms for every new input shape and keeps the fastest. Call it *after* ``monai.utils.set_determinism``, which
    turns it off. Timing-based choices differ between runs, so a run with it is not bitwise reproducible on a GPU
    (``cudnn.deterministic``, which ``set_determinism`` turns on, still excludes the non-deterministic algorithms).
    Nothing changes on the CPU. Returns the value set.

    Raises:
        ValueError: ``enabled`` is not true/false (naming ``cudnn_benchmark``).
    """
    enabled = as_flag(enabled, "cudnn_benchmark")
    torch.backends.cudnn.benchmark = enabled
    return enabled
