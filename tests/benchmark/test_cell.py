# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""A benchmark cell's files: step time alone / shared from the runner's samples, traces of resumed runs, commands."""

from __future__ import annotations

import json
import os

import pytest

from metassl_monai.benchmark.cell import _last_iteration, dedupe_trace, printable, step_seconds, wall_seconds


def s(t, it, running, segment="a", load=None):
    sample = {"time": t, "iteration": it, "running": running, "segment": segment}
    return sample if load is None else {**sample, "load": load}


def test_step_seconds_alone_and_shared_without_start_up():
    samples = [
        s(0, 0, 1), s(10, 0, 1), s(20, 20, 1),  # start-up: interpreter, data, first iterations (left out)
        s(30, 50, 1),  # alone: 10 s / 30 it
        s(40, 60, 2),  # the count changed between the samples: left out
        s(60, 80, 2),  # shared: 20 s / 20 it
        s(100, 80, 1, "b"), s(110, 100, 1, "b"),  # a resumed process: its start-up again
        s(120, 130, 1, "b"),  # alone: 10 s / 30 it
    ]
    result = step_seconds(samples)
    assert result == {"alone": pytest.approx(20 / 60, abs=1e-4), "shared": pytest.approx(1.0), "load_alone": None,
                      "load_shared": None}


def test_step_seconds_reports_the_machine_load_of_the_counted_samples():
    samples = [s(0, 0, 1, load=9.0), s(10, 10, 1, load=2.0), s(20, 30, 1, load=2.0), s(30, 50, 1, load=5.0),
               s(40, 70, 2, load=4.0), s(50, 90, 2, load=4.5)]
    result = step_seconds(samples)
    assert result["alone"] == 0.5 and result["load_alone"] == 3.0  # samples 1-3; the start-up's 9.0 is not counted
    assert result["shared"] == 0.5 and result["load_shared"] == 4.25


def test_step_seconds_none_without_pairs():
    none = {"alone": None, "shared": None, "load_alone": None, "load_shared": None}
    assert step_seconds([]) == none
    assert step_seconds([s(0, 0, 1), s(5, 10, 1)]) == none  # start-up only


def test_dedupe_trace_keeps_the_repeated_iterations_once(tmp_path):
    path = tmp_path / "t.jsonl"
    rows = [{"iteration": i, "loss": float(i)} for i in (1, 2, 3, 2, 3, 4)]  # resumed from iteration 1
    rows[3]["loss"] = 20.0
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [(r["iteration"], r["loss"]) for r in dedupe_trace(path)] == [(1, 1.0), (2, 20.0), (3, 3.0), (4, 4.0)]
    assert dedupe_trace(tmp_path / "absent.jsonl") == []


def test_last_iteration_reads_the_tail_and_skips_a_cut_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"iteration": i, "x": "y" * 50}) + "\n" for i in range(1, 500))
                    + '{"iteration": 50')  # a line being written
    assert _last_iteration(path) == 499
    assert _last_iteration(tmp_path / "absent") == 0


def test_printable_command(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cmd = ["/usr/bin/python3", "-m", "monai.bundle", "run", "training", "--config_file",
           f"['{tmp_path}{os.sep}a.json','/abs/b.json']", "--framework", "@frameworks#cps", "--dir", "it's"]
    assert printable(cmd) == ('python -m monai.bundle run training --config_file "[\'a.json\',\'/abs/b.json\']" '
                              '--framework "@frameworks#cps" --dir "it\'s"')


def test_wall_seconds_sums_every_process_including_killed_ones():
    samples = [s(100, 0, 1, "a"), s(110, 20, 1, "a"), s(160, 250, 1, "a"),  # killed after its last sample
               s(500, 250, 1, "b"), s(530, 400, 1, "b")]
    assert wall_seconds(samples) == 90.0  # 60 + 30; the time between the processes is not training
    assert wall_seconds([]) == 0


@pytest.mark.parametrize("stale", [(), ("train_seconds.json",), ("timing.jsonl",), ("train_seconds.json", "timing.jsonl")])
def test_an_attempt_stopped_before_its_first_checkpoint_is_not_counted(tmp_path, stale):
    """A cell stopped before its first checkpoint starts again from iteration 0: the wall time and timing samples of
    that attempt go (they would be counted twice); everything else in the cell's folder stays."""
    from metassl_monai.benchmark.cell import CellFiles
    from metassl_monai.benchmark.grid import Cell, Method

    files = CellFiles(tmp_path, Cell(Method("mt", "metassl_acdc", "mean_teacher", "softmax_mse"), 7, 1, "g"))
    files.dir.mkdir(parents=True)
    for name in (*stale, "train_trace.jsonl", "events.out.tfevents.1"):
        (files.dir / name).write_text("{}\n")
    assert files.discard_unsaved_attempt() == bool(stale)
    assert sorted(p.name for p in files.dir.iterdir()) == ["events.out.tfevents.1", "train_trace.jsonl"]
