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
