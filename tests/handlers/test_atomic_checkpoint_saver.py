# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""AtomicCheckpointSaver: a save that dies half-way leaves the previous checkpoint intact and no partial file."""

from __future__ import annotations

import stat

import pytest
import torch
from ignite.engine import Engine, Events

from metassl_monai.handlers import AtomicCheckpointSaver


class Exploding(torch.nn.Module):
    """Pickling its state fails after part of the file is written (a kill in the middle of torch.save)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(1000.0))
        self.explode = False

    def state_dict(self, *args, **kwargs):
        state = super().state_dict(*args, **kwargs)
        if self.explode:
            state["boom"] = Unpicklable()
        return state


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("killed while writing")


def test_outdated_checkpoints_are_removed_after_a_complete_save(tmp_path):
    saver = AtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"a": torch.nn.Linear(1, 1),
                                  "b": torch.nn.Linear(1, 1)}, save_interval=1, n_saved=2)
    engine_with(saver, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=3.pt", "checkpoint_epoch=4.pt"]


def engine_with(saver, epochs: int) -> Engine:
    engine = Engine(lambda e, b: None)
    saver.attach(engine)
    engine.run(range(2), max_epochs=epochs)
    return engine


def test_interrupted_interval_save_keeps_the_previous_checkpoint(tmp_path):
    net = Exploding()
    saver = AtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"net": net, "other": torch.nn.Linear(1, 1)},
                                  save_interval=1, n_saved=1)
    engine = Engine(lambda e, b: None)
    saver.attach(engine)

    @engine.on(Events.EPOCH_STARTED(once=2))
    def _arm(_):
        net.explode = True

    with pytest.raises(RuntimeError, match="killed while writing"):
        engine.run(range(2), max_epochs=2)
    # the outdated checkpoint is removed only once its successor is complete: here it never was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=1.pt"]
    state = torch.load(tmp_path / "checkpoint_epoch=1.pt", weights_only=True)
    assert torch.equal(state["net"]["weight"], torch.arange(1000.0))


def best_model_run(tmp_path, net, weight: str, scores: list[float], explode_at: int | None = None) -> Engine:
    """Validate once per epoch with the next score; the best-model saver keeps ``model.pt``. The network's ``weight``
    parameter is filled with the score, so the saved file tells which epoch it came from."""
    it = iter(scores)
    saver = AtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"model": net}, save_key_metric=True,
                                  key_metric_name="dice", key_metric_filename="model.pt")
    engine = Engine(lambda e, b: None)

    @engine.on(Events.EPOCH_COMPLETED)
    def _metric(e):
        e.state.metrics["dice"] = next(it)
        with torch.no_grad():
            getattr(net, weight).fill_(e.state.metrics["dice"])
        if explode_at is not None:
            net.explode = e.state.epoch == explode_at

    saver.attach(engine)
    engine.run(range(1), max_epochs=len(scores))
    return engine


def test_a_better_model_that_fails_to_save_leaves_the_previous_best(tmp_path):
    # Ignite removes the outdated best model before writing the new one: under the fixed name model.pt, a kill in
    # between would leave no model at all
    with pytest.raises(RuntimeError, match="killed while writing"):
        best_model_run(tmp_path, Exploding(), "weight", [0.5, 0.7, 0.9], explode_at=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert torch.allclose(saved["weight"], torch.full((1000,), 0.7))


def test_best_model_replaced_under_the_same_name(tmp_path):
    best_model_run(tmp_path, torch.nn.Linear(2, 2), "bias", [0.5, 0.7, 0.6])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert torch.allclose(saved["bias"], torch.full((2,), 0.7))  # the best epoch, not the last
    mode = (tmp_path / "model.pt").stat().st_mode
    assert mode & stat.S_IRGRP and mode & stat.S_IROTH
