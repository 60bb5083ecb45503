# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Output directories, the checkpoint to resume from, and the validation state of a resumed run."""

from __future__ import annotations

import os

import pytest
import torch
from ignite.engine import Engine, Events
from monai.handlers import CheckpointSaver

from metassl_monai.engines import ValidationState, backup_file, latest_checkpoint, prepare_output_dir


def touch(path, content: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


def listing(directory) -> dict:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


@pytest.mark.parametrize("files, expected", [
    (["checkpoint_epoch=2.pt", "checkpoint_epoch=10.pt", "checkpoint_final.pt"], "checkpoint_epoch=10.pt"),
    (["checkpoint_iteration=300.pt", "checkpoint_iteration=1200.pt"], "checkpoint_iteration=1200.pt"),
    (["checkpoint_final.pt", "model.pt"], "checkpoint_final.pt"),
    (["checkpoint_epoch=3.pt", "checkpoint_epoch=3.pt.tmp", "tmpab12cd"], "checkpoint_epoch=3.pt"),
])
def test_latest_checkpoint(tmp_path, files, expected):
    for name in files:
        touch(tmp_path / name)
    assert latest_checkpoint(tmp_path) == str(tmp_path / expected)


def test_latest_checkpoint_errors_name_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"the output directory {tmp_path / 'nope'} does not exist"):
        latest_checkpoint(tmp_path / "nope")
    touch(tmp_path / "model.pt")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path} holds no checkpoint"):
        latest_checkpoint(tmp_path)


@pytest.mark.parametrize("held", [["model.pt"], ["checkpoint_final.pt"], ["checkpoint_epoch=4.pt"]])
def test_a_trained_run_is_refused_and_left_alone(tmp_path, held):
    out = tmp_path / "run"
    for name in held:
        touch(out / name)
    before = listing(tmp_path)
    with pytest.raises(FileExistsError, match=f"{out} already holds a trained run \\({held[0]}\\); nothing was "
                                              "overwritten. Continue that run with --resume true"):
        prepare_output_dir(out)
    assert listing(tmp_path) == before


def test_fresh_and_resumed_and_versioned_runs(tmp_path):
    out = tmp_path / "run"
    assert prepare_output_dir(out) == str(out) and not out.exists()  # nothing is created before the run writes
    touch(out / "events.out.tfevents.1")  # logs alone do not make a trained run
    assert prepare_output_dir(out) == str(out)
    touch(out / "checkpoint_epoch=1.pt")
    assert prepare_output_dir(out, resume=True) == str(out)
    assert prepare_output_dir(out, on_existing="version") == str(tmp_path / "run_2")
    assert (tmp_path / "run_2").is_dir()  # claimed at once
    touch(tmp_path / "run_2" / "model.pt")
    assert prepare_output_dir(out, on_existing="version") == str(tmp_path / "run_3")
    assert (out / "checkpoint_epoch=1.pt").exists() and (tmp_path / "run_2" / "model.pt").exists()
    with pytest.raises(ValueError, match="on_existing must be 'refuse' or 'version', got 'overwrite'"):
        prepare_output_dir(out, on_existing="overwrite")


def test_backup_keeps_the_original_and_never_overwrites_a_backup(tmp_path):
    model = tmp_path / "model.pt"
    assert backup_file(model) is None
    touch(model, b"weights-1")
    os.utime(model, (1_700_000_000, 1_700_000_000))
    first = backup_file(model)
    second = backup_file(model)
    assert first != second
    assert model.read_bytes() == b"weights-1"
    assert open(first, "rb").read() == open(second, "rb").read() == b"weights-1"
    assert os.path.basename(first).startswith("model_") and first.endswith(".pt")


def test_validation_state_keeps_the_best_model_across_a_resume(tmp_path):
    """After a resume, a worse validation must not replace model.pt (a fresh saver would write its first model)."""
    net = torch.nn.Linear(1, 1)

    def evaluator(scores):
        engine = Engine(lambda e, b: None)
        engine.state.best_metric, engine.state.best_metric_epoch = -1.0, -1
        it = iter(scores)

        @engine.on(Events.EPOCH_COMPLETED)
        def _metric(e):
            e.state.metrics["dice"] = next(it)
            with torch.no_grad():
                net.bias.fill_(e.state.metrics["dice"])
            if e.state.metrics["dice"] > e.state.best_metric:
                e.state.best_metric, e.state.best_metric_epoch = e.state.metrics["dice"], e.state.epoch

        saver = CheckpointSaver(save_dir=str(tmp_path), save_dict={"model": net}, save_key_metric=True,
                                key_metric_name="dice", key_metric_filename="model.pt")
        saver.attach(engine)
        return engine, saver

    first, saver = evaluator([0.8])
    first.run(range(1), max_epochs=1)
    state = ValidationState(first, saver).state_dict()
    assert state == {"best_metric": 0.8, "best_metric_epoch": 1, "ranking": [[0.8, "model_key_metric=0.8000.pt"]]}  # Ignite's name; saved as model.pt

    resumed, saver2 = evaluator([0.6])
    ValidationState(resumed, saver2).load_state_dict(state)
    assert resumed.state.best_metric == 0.8
    resumed.run(range(1), max_epochs=1)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["bias"].item() == pytest.approx(0.8)

    fresh, saver3 = evaluator([0.6])  # without the state: the worse model replaces the best one
    fresh.run(range(1), max_epochs=1)
    assert torch.load(tmp_path / "model.pt", weights_only=True)["bias"].item() == pytest.approx(0.6)


def test_validation_state_missing_key_is_named():
    with pytest.raises(KeyError, match="the validation state has no 'ranking'"):
        ValidationState(Engine(lambda e, b: None)).load_state_dict({"best_metric": 0.1, "best_metric_epoch": 1})
