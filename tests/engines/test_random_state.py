# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Every random state a run draws from is saved in a weights_only-loadable form and restored exactly."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
from monai.data import CacheDataset, Dataset
from monai.transforms import Compose, OneOf, RandFlipd, RandGaussianNoised, RandRotated

from metassl_monai.engines import get_random_states, randomizable_objects, set_random_states


def pipeline() -> Compose:
    return Compose([
        RandGaussianNoised("image", prob=1.0),
        OneOf([RandFlipd("image", prob=1.0), RandRotated("image", range_x=0.3, prob=1.0)]),
    ])


def draws(transform) -> list:
    return [
        torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)],
        [obj.R.rand() for obj in randomizable_objects(transform)],
    ]


def test_finds_every_randomizable_transform_once_in_order():
    t = pipeline()
    found = randomizable_objects(Dataset([{"image": 0}], transform=t), t)
    names = [type(o).__name__ for o in found]
    # Compose and OneOf draw too (OneOf picks a branch); RandRotated holds an array RandRotate with its own state
    # (RandFlipd's array Flip is not random)
    assert names == ["Compose", "RandGaussianNoised", "RandGaussianNoise", "OneOf", "RandFlipd", "RandRotated",
                     "RandRotate"]
    assert len({id(o) for o in found}) == len(found)


def test_datasets_are_searched_through_their_transform_not_their_cache():
    data = [{"image": torch.zeros(1, 4, 4)} for _ in range(3)]
    ds = CacheDataset(data, transform=pipeline(), progress=False)
    assert len(randomizable_objects(ds)) == 7


def test_restore_replays_every_generator():
    t = pipeline()
    t.set_random_state(3)
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    states = get_random_states(t)
    first = draws(t)
    set_random_states(states, t)
    assert draws(t) == first


def test_states_survive_a_weights_only_checkpoint():
    t = pipeline()
    states = get_random_states(t)
    buffer = io.BytesIO()
    torch.save({"random_states": states}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["random_states"]
    first = draws(t)
    set_random_states(loaded, t)
    assert draws(t) == first


def test_a_different_pipeline_is_refused():
    states = get_random_states(pipeline())
    with pytest.raises(ValueError, match="holds the random states of 7 randomizable transforms, the current "
                                         "pipeline has 2"):
        set_random_states(states, Compose([RandFlipd("image", prob=1.0)]))


def test_missing_key_is_named():
    states = get_random_states()
    del states["numpy"]
    with pytest.raises(KeyError, match="random states have no 'numpy'"):
        set_random_states(states)


def _as_rank(monkeypatch, rank: int, world: int) -> None:
    import metassl_monai.distributed as distributed

    monkeypatch.setattr(distributed, "get_rank", lambda: rank)
    monkeypatch.setattr(distributed, "get_world_size", lambda: world)


def test_one_process_saves_its_own_part_only():
    from metassl_monai.engines.random_state import with_every_rank

    assert with_every_rank({"streams": 1}) == {"streams": 1, "rank": 0}


def test_several_processes_save_every_rank_part(monkeypatch):
    import metassl_monai.distributed as distributed
    from metassl_monai.engines.random_state import with_every_rank

    _as_rank(monkeypatch, 1, 2)
    monkeypatch.setattr(distributed, "all_gather_object", lambda own: [{"streams": "of rank 0"}, own])
    assert with_every_rank({"streams": "of rank 1"}) == {
        "streams": "of rank 1", "rank": 1, "rank_states": [{"streams": "of rank 0"}, {"streams": "of rank 1"}]}


SAVED_BY_TWO = {"streams": "r0", "rank": 0, "rank_states": [{"streams": "r0"}, {"streams": "r1"}]}
SAVED_BY_ONE = {"streams": "r0", "rank": 0}


@pytest.mark.parametrize("saved, rank, world, expected", [
    (SAVED_BY_TWO, 0, 2, {"streams": "r0"}),  # each rank of the same number of processes gets its own part
    (SAVED_BY_TWO, 1, 2, {"streams": "r1"}),
    (SAVED_BY_TWO, 0, 1, SAVED_BY_TWO),  # one process continues as rank 0
    (SAVED_BY_ONE, 0, 1, SAVED_BY_ONE),
    (SAVED_BY_ONE, 0, 2, SAVED_BY_ONE),  # a single-process (or older multi-GPU) checkpoint: rank 0 continues ...
    (SAVED_BY_ONE, 1, 2, None),  # ... the others keep their own states
    (SAVED_BY_TWO, 2, 3, None),  # more processes than saved it
])
def test_each_rank_restores_its_own_part(monkeypatch, caplog, saved, rank, world, expected):
    from metassl_monai.engines.random_state import this_rank_part

    _as_rank(monkeypatch, rank, world)
    with caplog.at_level("WARNING"):
        assert this_rank_part(saved) == expected
    warned = [r.getMessage() for r in caplog.records if "keeps its own random states" in r.getMessage()]
    if expected is None:
        assert warned == [f"the checkpoint's random states were saved by {len(saved.get('rank_states', [1]))} "
                          f"process(es), this run has {world}: rank {rank} keeps its own random states (the resumed "
                          "run is not identical to an uninterrupted one)."]
    else:
        assert warned == []


def test_all_gather_object_without_processes_is_the_object_alone():
    from metassl_monai.distributed import all_gather_object

    assert all_gather_object({"a": 1}) == [{"a": 1}]
