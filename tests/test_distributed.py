# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""metassl_monai.distributed and Framework.distribute, with real gloo process groups on the CPU."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from ignite.handlers import ProgressBar
from monai.handlers import CheckpointSaver, LrScheduleHandler, MetricsSaver, StatsHandler
from torch import nn

from metassl_monai import distributed
from metassl_monai.frameworks import CrossPseudoSupervision, MeanTeacher
from metassl_monai.handlers import ConsistencyRampUp, MetricsJSONSaver


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, fn, queue) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    distributed.init_distributed("gloo")
    try:
        queue.put((rank, fn(rank)))
    finally:
        dist.destroy_process_group()


def spawn(fn, world: int = 2) -> dict:
    """Run ``fn(rank)`` in ``world`` gloo processes; returns {rank: result}."""
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(world, free_port(), fn, queue), nprocs=world, start_method="spawn")
    return dict(queue.get() for _ in range(world))


def _average(rank: int):
    m = nn.BatchNorm1d(2)
    m.running_mean.copy_(torch.tensor([1.0, 2.0]) * (rank + 1))  # rank 0: [1, 2], rank 1: [2, 4]
    m.num_batches_tracked.fill_(7)
    distributed.average_buffers(m)
    return m.running_mean.tolist(), int(m.num_batches_tracked), m.weight.tolist()


def _broadcast(rank: int):
    m = nn.Linear(1, 1)
    nn.init.constant_(m.weight, float(rank + 3))
    distributed.broadcast_state(m)
    return m.weight.item()


def _mean_teacher(rank: int):
    torch.manual_seed(rank)  # different initialisations on purpose
    net = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
    mt = MeanTeacher(net, noise_std=0.0).distribute()
    keys = sorted(mt.state_dict())
    mt(torch.full((1, 1, 2, 2), float(rank)), torch.full((1, 1, 2, 2), float(rank)))  # BN stats differ per rank
    distributed.average_buffers(mt)
    return keys, {k: v.tolist() for k, v in mt.state_dict().items()}, len(distributed.rank_zero_only([StatsHandler()]))


@pytest.mark.slow
def test_average_buffers_averages_floats_only():
    got = spawn(_average)
    for rank in (0, 1):
        assert got[rank] == ([1.5, 3.0], 7, [1.0, 1.0])  # mean of [1,2] and [2,4]; counters and parameters untouched


@pytest.mark.slow
def test_broadcast_state_copies_rank_zero():
    assert spawn(_broadcast) == {0: 3.0, 1: 3.0}


@pytest.mark.slow
def test_distributed_mean_teacher_starts_and_stays_identical():
    got = spawn(_mean_teacher)
    keys0, state0, handlers0 = got[0]
    keys1, state1, handlers1 = got[1]
    # no DDP wrapper in the state dict: checkpoints are those of a single-process run
    assert keys0 == keys1 == sorted(MeanTeacher(nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))).state_dict())
    for k in state0:
        assert state0[k] == state1[k], k
    assert (handlers0, handlers1) == (1, 0)  # the logger is attached on rank 0 only


def test_rank_zero_only_keeps_everything_on_rank_zero_and_drops_writers_elsewhere(monkeypatch, tmp_path):
    keep = [LrScheduleHandler(torch.optim.lr_scheduler.StepLR(torch.optim.SGD([nn.Parameter(torch.zeros(1))], 0.1), 1)),
            ConsistencyRampUp(max_value=0.1, rampup_iterations=10),
            MetricsSaver(save_dir=str(tmp_path))]
    drop = [StatsHandler(), CheckpointSaver(save_dir=str(tmp_path), save_dict={"m": nn.Linear(1, 1)}), ProgressBar(),
            MetricsJSONSaver(str(tmp_path), ["a"])]
    handlers = [drop[0], keep[0], drop[1], keep[1], drop[2], keep[2], drop[3]]
    assert distributed.rank_zero_only(handlers) == handlers  # not distributed: rank 0
    monkeypatch.setattr(distributed, "get_rank", lambda: 1)
    assert distributed.rank_zero_only(handlers) == keep
    assert distributed.rank_zero_only(None) == []
    assert distributed.rank_zero_only(handlers, types=[ProgressBar]) == [h for h in handlers if h is not drop[2]]


@pytest.mark.parametrize("rank, kept", [(0, 3), (1, 1)])
def test_tensorboard_handlers_run_on_rank_zero_only_by_their_monai_type(monkeypatch, tmp_path, rank, kept):
    from monai.handlers import TensorBoardHandler, TensorBoardStatsHandler

    from metassl_monai.handlers import RegionTensorBoardHandler

    assert TensorBoardHandler in distributed.RANK_ZERO_HANDLER_TYPES
    assert RegionTensorBoardHandler not in distributed._rank_zero_types()  # no special case: it is a TensorBoardHandler
    ramp = ConsistencyRampUp(max_value=0.1, rampup_iterations=10)
    handlers = [RegionTensorBoardHandler(log_dir=str(tmp_path)), ramp, TensorBoardStatsHandler(log_dir=str(tmp_path))]
    monkeypatch.setattr(distributed, "get_rank", lambda: rank)
    result = distributed.rank_zero_only(handlers)
    assert len(result) == kept and ramp in result
    for h in handlers[::2]:
        h.close()


def test_init_distributed_outside_torchrun_is_a_clear_error(monkeypatch):
    for key in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        distributed.init_distributed()
    assert not distributed.is_distributed()
    assert distributed.get_rank() == 0 and distributed.get_world_size() == 1


def test_distribute_needs_a_process_group():
    cps = CrossPseudoSupervision(nn.Linear(1, 1), nn.Linear(1, 1))
    with pytest.raises(RuntimeError, match="process group"):
        cps.distribute()
    assert not cps.is_distributed


def test_distributed_device_is_cpu_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("CUDA present: distributed_device picks cuda:LOCAL_RANK")
    assert distributed.distributed_device() == torch.device("cpu")


@pytest.mark.parametrize("items, world, ok", [(3, 2, True), (2, 2, True), (1, 2, False), (0, 1, False), (5, 1, True)])
def test_require_item_per_rank(monkeypatch, items, world, ok):
    monkeypatch.setattr(distributed, "get_world_size", lambda: world)
    data = list(range(items))
    if ok:
        assert distributed.require_item_per_rank(data, "validation") is data
    else:
        with pytest.raises(ValueError, match=rf"validation data has {items} item\(s\) for {world} processes.*"
                                             rf"--nproc_per_node {max(items, 1)}"):
            distributed.require_item_per_rank(data, "validation")


@pytest.mark.parametrize("bundle", ["metassl_acdc", "metassl_la", "qgssl_acdc", "qgssl_la"])
@pytest.mark.parametrize("config", ["multi_gpu_train.json", "multi_gpu_evaluate.json"])
def test_multi_gpu_configs_check_the_validation_shards(bundle, config):
    import json

    from bundle_runner import BUNDLES

    sampler = json.loads((BUNDLES / bundle / "configs" / config).read_text())["validate#sampler"]
    assert sampler["dataset"] == "$metassl_monai.distributed.require_item_per_rank(@validate#dataset, 'validation')"
