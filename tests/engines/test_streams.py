# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""ResumableStream: a pass interrupted anywhere resumes with the same batches, order and augmentations."""

from __future__ import annotations

import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, Lambdad, RandGaussianNoised
from torch.utils.data import DistributedSampler, SequentialSampler

from metassl_monai.engines import ResumableStream, get_random_states, set_random_states


def items(n: int) -> list[dict]:
    return [{"image": torch.full((1, 2), float(i))} for i in range(n)]


def augmented(n: int = 7) -> Dataset:
    """Item i is ``i + noise``: the integer part tells the order, the fraction the augmentation draw."""
    transform = Compose([Lambdad("image", lambda x: x.clone()), RandGaussianNoised("image", prob=1.0, std=0.1)])
    transform.set_random_state(0)
    return Dataset(items(n), transform=transform)


def values(batches) -> list[list[float]]:
    return [b["image"][:, 0, 0].tolist() for b in batches]


def take(it, n: int) -> list:
    return [next(it) for _ in range(n)]


def test_passes_are_shuffled_differently_and_do_not_touch_the_global_rng():
    stream = ResumableStream(DataLoader(items(6), batch_size=2, shuffle=True), seed=1)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    p0, p1 = values(stream), values(stream)
    assert torch.equal(torch.get_rng_state(), before)
    assert sorted(sum(p0, [])) == sorted(sum(p1, [])) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert p0 != p1
    assert stream.pass_index == 1 and stream.consumed == 3
    # the same seed gives the same passes
    again = ResumableStream(DataLoader(items(6), batch_size=2, shuffle=True), seed=1)
    assert values(again) == p0 and values(again) == p1


@pytest.mark.parametrize("num_workers", [0, 2])
@pytest.mark.parametrize("stop_after", [0, 1, 3, 4])
def test_resume_mid_pass_yields_what_the_uninterrupted_stream_yields(num_workers, stop_after):
    def make():
        return ResumableStream(DataLoader(augmented(), batch_size=2, shuffle=True, num_workers=num_workers), seed=5,
                               name="labeled")

    reference = make()
    values(reference)  # pass 0
    it = iter(reference)  # pass 1, four batches (7 items): interrupt after `stop_after`
    head = values(take(it, stop_after)) if stop_after else []
    state = reference.state_dict()
    randomness = get_random_states(reference.loader)
    tail = values(it)
    following = values(reference)  # pass 2
    # before the first batch of pass 1 is read, the stream is still at the end of pass 0
    assert (state["pass_index"], state["consumed"]) == ((0, 4) if stop_after == 0 else (1, stop_after))

    resumed = make()
    resumed.load_state_dict(state)
    resumed.prepare()
    set_random_states(randomness, resumed.loader)  # what the trainer does after the replay (num_workers=0 case)
    if stop_after == 0:
        assert values(resumed) == []  # pass 0 replayed to its end
    got = values(resumed)
    assert got == tail  # empty when the pass was complete (it is replayed to its end)
    assert values(resumed) == following
    assert torch.equal(resumed.generator.get_state(), reference.generator.get_state())
    assert not (set(map(tuple, got)) & set(map(tuple, head)))


def test_distributed_sampler_gets_the_pass_index():
    ds = items(8)
    sampler = DistributedSampler(ds, num_replicas=2, rank=1, shuffle=True, seed=0)
    stream = ResumableStream(DataLoader(ds, batch_size=2, sampler=sampler), seed=0)
    first, second = values(stream), values(stream)
    sampler.set_epoch(0)
    assert first == [[float(i) for i in list(sampler)[:2]], [float(i) for i in list(sampler)[2:]]]
    sampler.set_epoch(1)
    assert sum(second, []) == [float(i) for i in sampler]
    assert stream.is_reproducible


def test_state_before_reading_and_reproducibility_flags():
    stream = ResumableStream(DataLoader(items(4), batch_size=2, sampler=SequentialSampler(items(4))))
    assert stream.state_dict()["pass_index"] == 0 and stream.state_dict()["consumed"] == 0
    assert stream.is_reproducible
    persistent = ResumableStream(DataLoader(items(4), batch_size=2, num_workers=1, persistent_workers=True))
    assert not persistent.is_reproducible


def test_user_generator_is_kept_and_restored():
    g = torch.Generator().manual_seed(42)
    loader = DataLoader(items(6), batch_size=2, shuffle=True, generator=g)
    stream = ResumableStream(loader, seed=0)
    assert loader.generator is g
    it = iter(stream)
    next(it)
    state = stream.state_dict()
    tail = values(it)
    other = ResumableStream(DataLoader(items(6), batch_size=2, shuffle=True, generator=torch.Generator()), seed=9)
    other.load_state_dict(state)
    assert values(other) == tail


def test_resume_after_the_data_shrank_is_refused_with_the_stream_name():
    stream = ResumableStream(DataLoader(items(6), batch_size=2, shuffle=True), seed=0, name="unlabeled")
    it = iter(stream)
    take(it, 2)
    state = stream.state_dict()
    smaller = ResumableStream(DataLoader(items(2), batch_size=2, shuffle=True), seed=0, name="unlabeled")
    smaller.load_state_dict(state)
    with pytest.raises(ValueError, match="cannot resume the unlabeled stream: .* after 2 batches .* yields only 1"):
        smaller.prepare()


@pytest.mark.parametrize("broken, message", [
    ({"pass_index": 0, "consumed": 0}, "has no 'generator_states'"),
    ({"pass_index": 0, "consumed": 0, "generator_states": []}, "holds 0 generator states, this loader has 1"),
])
def test_bad_state_is_named(broken, message):
    stream = ResumableStream(DataLoader(items(4), batch_size=2, shuffle=True), name="labeled")
    with pytest.raises((KeyError, ValueError), match=message):
        stream.load_state_dict(broken)


def test_rejects_a_non_dataloader():
    with pytest.raises(TypeError, match="the labeled stream needs a torch.utils.data.DataLoader, got list"):
        ResumableStream([1, 2], name="labeled")
