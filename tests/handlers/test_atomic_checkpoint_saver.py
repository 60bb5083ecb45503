# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""AtomicCheckpointSaver: a save that dies half-way leaves the previous checkpoint intact and no partial file."""

from __future__ import annotations

import errno
import os
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


# --- a full disk, a failing flush, a power loss, a killed save's leftovers (issue 16 part 5) -------------------------
def _full_disk_on_second_save(monkeypatch):
    real_save, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(f)
        if len(calls) == 2:  # the disk fills up half-way through the second file
            f.write(b"\0" * 4096)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def _failing_fsync_on_second_save(monkeypatch):
    real_fsync, files = os.fsync, []

    def fsync(fd):
        if stat.S_ISREG(os.fstat(fd).st_mode):
            files.append(fd)
            if len(files) == 2:
                raise OSError(errno.EIO, "Input/output error")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("fault, reason", [(_full_disk_on_second_save, "the disk is full"),
                                           (_failing_fsync_on_second_save, "Input/output error")])
def test_a_failed_save_keeps_the_previous_checkpoint_names_the_file_and_leaves_no_temporary(tmp_path, monkeypatch,
                                                                                          fault, reason):
    net = torch.nn.Linear(3, 3)
    saver = AtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"net": net, "other": torch.nn.Linear(1, 1)},
                                  save_interval=1, n_saved=1)
    fault(monkeypatch)
    with pytest.raises(OSError, match=rf"could not save .*checkpoint_epoch=2\.pt: {reason}") as raised:
        engine_with(saver, 2)
    assert raised.value.errno in (errno.ENOSPC, errno.EIO) and "no temporary file was left" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint_epoch=1.pt"]  # nothing partial, nothing lost
    state = torch.load(tmp_path / "checkpoint_epoch=1.pt", weights_only=True)
    assert torch.equal(state["net"]["weight"], net.weight.detach())


def test_every_save_is_fsynced_before_and_after_the_rename(tmp_path, monkeypatch):
    real_fsync, kinds = os.fsync, []

    def fsync(fd):
        kinds.append("file" if stat.S_ISREG(os.fstat(fd).st_mode) else "dir")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    engine_with(AtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"a": torch.nn.Linear(1, 1)},
                                      save_interval=1, n_saved=1), 2)
    assert kinds == ["file", "dir"] * 2  # the data, then the directory entry of the rename, per save


def test_leftovers_of_a_killed_save_are_removed_at_start_and_nothing_else(tmp_path):
    leftovers = [tmp_path / ".checkpoint_epoch=3.pt.k2j4.partial", tmp_path / ".model.pt.x81.partial"]
    kept = [tmp_path / "checkpoint_epoch=2.pt", tmp_path / "tmp1234", tmp_path / "notes.partial",
            tmp_path / ".hidden"]
    for p in leftovers + kept:
        p.write_bytes(b"x")
    AtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"a": torch.nn.Linear(1, 1)}, save_interval=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in kept)
