# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""LossTraceWriter: one exact JSON line per iteration, truncated on a fresh run, appended on a resumed one."""

from __future__ import annotations

import json

import pytest
import torch
from ignite.engine import Engine

from metassl_monai.handlers import LossTraceWriter, read_loss_trace

# floats whose repr needs all 17 digits, a float32 value and a tiny one
VALUES = [0.1 + 0.2, 1 / 3, float(torch.tensor(0.7, dtype=torch.float32)), 1e-300]


def make_engine(values=VALUES):
    def step(engine, batch):
        i = engine.state.iteration - 1
        return {"loss": torch.tensor(values[i % len(values)]), "loss_terms": {"loss": values[i % len(values)],
                                                                               "sup": torch.tensor(float(i))}}

    return Engine(step)


def test_writes_one_exact_line_per_iteration(tmp_path):
    engine = make_engine()
    LossTraceWriter(str(tmp_path / "out")).attach(engine)
    engine.run(range(2), max_epochs=2)
    trace = read_loss_trace(str(tmp_path / "out" / "loss_trace.jsonl"))
    assert [r["iteration"] for r in trace] == [1, 2, 3, 4]
    assert [r["epoch"] for r in trace] == [1, 1, 2, 2]
    assert [r["loss"] for r in trace] == VALUES  # bitwise: JSON keeps the float repr
    assert [r["sup"] for r in trace] == [0.0, 1.0, 2.0, 3.0]


def test_truncates_on_a_new_run_and_appends_on_a_resumed_one(tmp_path):
    writer = LossTraceWriter(str(tmp_path), filename="t.jsonl")
    engine = make_engine()
    writer.attach(engine)
    engine.run(range(2), max_epochs=1)
    engine = make_engine()
    writer.attach(engine)
    engine.run(range(2), max_epochs=1)  # a new run from iteration 0: the old trace is replaced
    assert [r["iteration"] for r in read_loss_trace(str(tmp_path / "t.jsonl"))] == [1, 2]
    engine.run(range(2), max_epochs=2)  # continues at iteration 2 (like a resumed checkpoint): appended
    assert [r["iteration"] for r in read_loss_trace(str(tmp_path / "t.jsonl"))] == [1, 2, 3, 4]


def test_appends_when_a_checkpoint_loader_attached_after_it_resumes_the_run(tmp_path):
    """The bundles attach their CheckpointLoader after the handlers: it restores the iteration at STARTED, after the
    writer's own STARTED handler has run (the trace of a resumed bundle run was truncated before the fix)."""
    from monai.handlers import CheckpointLoader

    writer = LossTraceWriter(str(tmp_path), filename="t.jsonl")
    first = make_engine()
    writer.attach(first)
    first.run(range(2), max_epochs=1)
    torch.save({"trainer": first.state_dict()}, tmp_path / "ckpt.pt")
    resumed = make_engine()
    writer.attach(resumed)
    CheckpointLoader(str(tmp_path / "ckpt.pt"), {"trainer": resumed}).attach(resumed)
    resumed.run(range(2), max_epochs=2)
    assert [r["iteration"] for r in read_loss_trace(str(tmp_path / "t.jsonl"))] == [1, 2, 3, 4]


def test_interval_and_output_transform_and_nonfinite(tmp_path):
    engine = make_engine([float("nan"), float("inf"), 2.0])
    LossTraceWriter(str(tmp_path), interval=2, output_transform=lambda out: {"total": out["loss"]}).attach(engine)
    engine.run(range(4), max_epochs=1)
    lines = (tmp_path / "loss_trace.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [2, 4]
    first, second = (json.loads(x)["total"] for x in lines)
    assert first == float("inf") and second != second  # iteration 2 gives inf, iteration 4 gives nan


def test_invalid_arguments_and_output(tmp_path):
    with pytest.raises(ValueError, match="interval"):
        LossTraceWriter(str(tmp_path), interval=0)
    engine = Engine(lambda e, b: 1.0)
    LossTraceWriter(str(tmp_path), output_transform=lambda out: out).attach(engine)
    with pytest.raises(TypeError, match="mapping"):
        engine.run(range(1), max_epochs=1)

