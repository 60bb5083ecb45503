# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Multi-process (``torchrun``, ``DistributedDataParallel``) helpers used by the bundles' ``multi_gpu_*.json`` configs.

One process per GPU (or per CPU process with the gloo backend): every rank builds the same config, trains on its
shard of the labeled and unlabeled streams (``DistributedSampler``), DDP averages the gradients,
:meth:`metassl_monai.frameworks.Framework.distribute` keeps teacher and BatchNorm buffers identical across ranks,
and :class:`~metassl_monai.losses.HeterogeneousLoss` all-reduces its threshold statistics. Handlers that log or
write a run-wide file run on rank 0 only (:func:`rank_zero_only`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist
from ignite.handlers import ProgressBar
from monai.handlers import CheckpointSaver, MLFlowHandler, StatsHandler, TensorBoardHandler
from torch import nn

__all__ = [
    "RANK_ZERO_HANDLER_TYPES",
    "all_gather_object",
    "require_item_per_rank",
    "average_buffers",
    "broadcast_state",
    "distributed_device",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_distributed",
    "rank_zero_only",
]


def is_distributed() -> bool:
    """True when a ``torch.distributed`` process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def get_world_size() -> int:
    """The number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def all_gather_object(obj) -> list:
    """``[obj of rank 0, obj of rank 1, ...]`` (``[obj]`` when not distributed). Collective: every rank calls it."""
    if not is_distributed():
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def require_item_per_rank(dataset, what: str = "validation"):
    """
    ``dataset`` unchanged when every process gets at least one of its items from a ``DistributedSampler``; otherwise a
    clear error at start, instead of a process with nothing to evaluate failing later inside the metric's gather.
    The multi-GPU configs wrap their validation/evaluation dataset in it.

    Raises:
        ValueError: fewer items than processes (the message gives both numbers and the ``torchrun`` setting to change).
    """
    n, world = len(dataset), get_world_size()
    if n < world:
        raise ValueError(
            f"the {what} data has {n} item(s) for {world} processes: each process needs at least one. Run with "
            f"torchrun --nproc_per_node {max(n, 1)} (or fewer), or add {what} items."
        )
    return dataset


def init_distributed(backend: str | None = None) -> str:
    """
    Initialise the default process group from the ``torchrun`` environment (``RANK``, ``WORLD_SIZE``,
    ``MASTER_ADDR``...) unless it already is; ``backend`` defaults to ``nccl`` when CUDA is available, else
    ``gloo`` (multi-process training on CPU, as the tests do). Returns the backend in use.

    Raises:
        RuntimeError: when the process was not started by ``torchrun`` (no ``RANK``/``WORLD_SIZE`` in the
            environment), so a multi-GPU config run with plain ``python`` fails with a message, not a hang.
    """
    if is_distributed():
        return str(dist.get_backend())
    missing = [k for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(
            f"multi-GPU configs must be started with torchrun (environment variables {missing} are not set), e.g. "
            "torchrun --nproc_per_node=2 -m monai.bundle run ... --config_file \"['train.json','multi_gpu_train.json']\"."
        )
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    dist.init_process_group(backend=backend)
    return backend


def distributed_device() -> torch.device:
    """``cuda:<LOCAL_RANK>`` (and made the current CUDA device) when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        torch.cuda.set_device(device)
        return device
    return torch.device("cpu")


@torch.no_grad()
def broadcast_state(module: nn.Module, src: int = 0) -> None:
    """Copy every parameter and buffer of ``module`` from rank ``src`` to all ranks (no-op when not distributed)."""
    if not is_distributed():
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=src)


@torch.no_grad()
def average_buffers(module: nn.Module) -> None:
    """
    Average the floating-point buffers of ``module`` (BatchNorm running statistics) across ranks in place.

    DDP averages gradients but leaves buffers rank-local: each rank's BatchNorm statistics follow its own batches,
    and a teacher running in train mode updates its own. Averaging after each iteration keeps the ranks identical
    and uses every rank's batches. Integer buffers (``num_batches_tracked``) are equal on all ranks already.
    """
    if not is_distributed():
        return
    world = dist.get_world_size()
    for buf in module.buffers():
        if torch.is_floating_point(buf):
            dist.all_reduce(buf.data)
            buf.data.div_(world)


#: handlers that log or write one run-wide file: kept on rank 0 only by :func:`rank_zero_only`. Metric handlers and
#: ``MetricsSaver`` gather across ranks (every rank must run them); schedulers, ramp-ups and validation change state
#: and run everywhere.
RANK_ZERO_HANDLER_TYPES: tuple[type, ...] = (StatsHandler, TensorBoardHandler, MLFlowHandler, CheckpointSaver, ProgressBar)


def _rank_zero_types() -> tuple[type, ...]:
    from metassl_monai.handlers import MetricsJSONSaver

    return RANK_ZERO_HANDLER_TYPES + (MetricsJSONSaver,)


def rank_zero_only(handlers: Iterable | None, types: Sequence[type] | None = None) -> list:
    """
    The ``handlers`` this rank should attach: all of them on rank 0 (or when not distributed); on other ranks the
    ones that are not instances of ``types`` (default: loggers, TensorBoard writers -- every
    ``monai.handlers.TensorBoardHandler``, :class:`~metassl_monai.handlers.RegionTensorBoardHandler` included --,
    MLflow writers, checkpoint savers, progress bars, :class:`~metassl_monai.handlers.MetricsJSONSaver`).
    """
    handlers = [] if handlers is None else list(handlers)
    if get_rank() == 0:
        return handlers
    drop = tuple(types) if types is not None else _rank_zero_types()
    return [h for h in handlers if not isinstance(h, drop)]
