# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""TrainerResumeState: an Ignite engine stopped after any epoch and resumed from the saved state sees the same
batches, augmentations and stateful-transform states as one never stopped (issue 16 part 3)."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, Lambdad, RandGaussianNoised, Transform

from metassl_monai.engines import ResumableStream, TrainerResumeState, stateful_transforms


class Counter(Transform):
    """A stateful transform: adds how many items it has seen so far (its state) to the image."""

    def __init__(self):
        self.seen = 0

    def __call__(self, d):
        self.seen += 1
        return {**d, "image": d["image"] + 1000 * self.seen}

    def state_dict(self):
        return {"seen": self.seen}

    def load_state_dict(self, state):
        self.seen = int(state["seen"])


def pipeline_stream(seed: int = 0) -> ResumableStream:
    transform = Compose([Lambdad("image", lambda x: x.clone()), RandGaussianNoised("image", prob=1.0, std=0.1),
                         Counter()])
    transform.set_random_state(seed)
    data = Dataset([{"image": torch.full((1, 2), float(i))} for i in range(5)], transform=transform)
    return ResumableStream(DataLoader(data, batch_size=2, shuffle=True, num_workers=0), seed=seed, name="toy")


def run(epochs: int, state: dict | None = None, start: dict | None = None):
    """Batches seen by an engine (epochs of 3 iterations) and the resume state at the end."""
    torch.manual_seed(5)  # MONAI's DataLoader seeds the transforms from the global generator when it is made
    stream = pipeline_stream()
    resume = TrainerResumeState(stream)
    seen = []
    engine = Engine(lambda e, batch: seen.append(batch["image"][:, 0].tolist()))
    resume.attach(engine)
    if state is not None:
        engine.load_state_dict(start)
        resume.load_state_dict(state)
    engine.run(stream, max_epochs=epochs, epoch_length=3)
    return seen, resume.state_dict(), engine.state_dict()


@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_resumed_engine_sees_what_the_uninterrupted_one_sees(stop_after, tmp_path):
    full, _, _ = run(4)
    first, state, engine_state = run(stop_after)
    torch.save(state, tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["transform_states"] == [{"seen": 5 * stop_after}]  # an epoch is one pass over the 5 items
    rest, _, _ = run(4, state, engine_state)
    assert first + rest == full  # order, noise and the Counter's state all continue exactly


def test_the_comparison_can_fail():
    full, _, _ = run(4)
    _, state, engine_state = run(2)
    state["transform_states"] = [{"seen": 0}]  # a lost transform state shows in the batches
    rest, _, _ = run(4, state, engine_state)
    assert rest != full[len(full) - len(rest):]


def test_stateful_transforms_finds_only_transforms_with_a_state():
    stream = pipeline_stream()
    found = stateful_transforms(stream.loader)
    assert [type(t).__name__ for t in found] == ["Counter"]


def test_errors():
    with pytest.raises(TypeError, match="needs the trainer's ResumableStream, got DataLoader"):
        TrainerResumeState(DataLoader([1, 2]))
    resume = TrainerResumeState(pipeline_stream())
    with pytest.raises(KeyError, match=r"has no \['transform_states', 'rank'\]"):
        resume.load_state_dict({"stream": {}, "random_states": {}})
    with pytest.raises(ValueError, match="holds the states of 2 stateful transforms, the current pipeline has 1"):
        resume.load_state_dict({"stream": {}, "random_states": {}, "transform_states": [{}, {}], "rank": 0})
