# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
``benchmark run --hours``: a cell's expected time from the records (hand-computed cases), and the runner starting only
the cells that end before the deadline (no training: the choice is made before a cell starts).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fake_records import record  # noqa: E402 (tests/benchmark/fake_records.py)

from metassl_monai.benchmark import load_grid, run_grid
from metassl_monai.benchmark.runner import _Runner
from metassl_monai.benchmark.report import load_records
from metassl_monai.benchmark.schedule import EVALUATE_SECONDS_UNTIMED, SAFETY, expected_seconds
from metassl_monai.cli import main

GRID = """
name: tiny
overrides: {num_iterations: 8, val_interval: 2}
methods:
  supervised: {bundle: metassl_acdc, framework: supervised, ssl_loss: none}
  mt_metassl: {bundle: metassl_acdc, framework: mean_teacher, ssl_loss: metassl, baseline: supervised}
  plqw: {bundle: qgssl_acdc, framework: mean_teacher, ssl_loss: plqw}
groups:
  - {labeled: 1, seeds: [1], methods: [mt_metassl, supervised, plqw]}
"""


def timed(method, seed, train_seconds, evaluate_seconds=None, **kind):
    """A record of ``method`` whose training of 100 iterations took ``train_seconds``."""
    r = record(method, seed, 0.7, 0.7, **kind)
    r.update(train_seconds=train_seconds, evaluate_seconds=evaluate_seconds)
    return r


@pytest.fixture
def grid(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(GRID)
    return load_grid(path)


def cell(grid, name):
    return next(c for c in grid.cells if c.name == name)


MT = {}  # fake_records' default kind: metassl_acdc / mean_teacher / metassl
SUPERVISED = {"framework": "supervised", "ssl_loss": "none"}
# two MT + MetaSSL records: 6 s/it and 9 s/it (the slowest counts), evaluations timed at 60 s on the second only
MT_RECORDS = [timed("mt_metassl", 1, 600.0, **MT), timed("mt_metassl", 2, 900.0, 60.0, **MT)]


@pytest.mark.parametrize("records, name, train, done, iterations, seconds", [
    (MT_RECORDS, "mt_metassl_1l_s1", True, 0, None, SAFETY * (9 * 100 + 60)),  # the records' own length
    (MT_RECORDS, "mt_metassl_1l_s1", True, 40, 200, SAFETY * (9 * 160 + 60)),  # resumed at 40 of 200
    (MT_RECORDS, "mt_metassl_1l_s1", False, 0, None, SAFETY * 60),  # evaluations only
    # no evaluation timed: the allowance
    (MT_RECORDS[:1], "mt_metassl_1l_s1", True, 0, None, SAFETY * (6 * 100 + EVALUATE_SECONDS_UNTIMED)),
    # another kind's evaluation of the same bundle counts (evaluation does not depend on the training method)
    ([timed("sup", 1, 100.0, 30.0, **SUPERVISED), MT_RECORDS[0]], "mt_metassl_1l_s1", True, 0, None,
     SAFETY * (6 * 100 + 30)),
    # ... another bundle's does not
    ([timed("q", 1, 100.0, 5.0, bundle="qgssl_acdc"), MT_RECORDS[0]], "mt_metassl_1l_s1", True, 0, None,
     SAFETY * (6 * 100 + EVALUATE_SECONDS_UNTIMED)),
])
def test_expected_seconds(grid, records, name, train, done, iterations, seconds):
    assert expected_seconds(records, cell(grid, name), train, done, iterations)[0] == pytest.approx(seconds)


def test_a_slower_machine_scales_the_training_part_only(grid):
    seconds, source = expected_seconds(MT_RECORDS, cell(grid, "mt_metassl_1l_s1"), True, pace=1.5)
    assert seconds == pytest.approx(SAFETY * (9 * 1.5 * 100 + 60))
    assert source == "9.00 s/it of mt_metassl_7l_s2, the slowest of 2 record(s), x 1.50 for this machine"


def test_a_kind_never_recorded_has_no_estimate(grid):
    seconds, why = expected_seconds(MT_RECORDS, cell(grid, "plqw_1l_s1"), True)
    assert seconds is None and why == "no record of qgssl_acdc / mean_teacher / plqw to estimate it from"
    # the same method at another bundle is another kind
    assert expected_seconds([timed("plqw", 1, 1.0, bundle="metassl_acdc", ssl_loss="plqw")],
                            cell(grid, "plqw_1l_s1"), True)[0] is None


def test_a_kind_never_recorded_is_timed_like_the_method_its_grid_names(tmp_path):
    """plqw_metassl (never recorded) is timed like mt_metassl x 1.5: 9 s/it x 1.5 over 100 iterations (x 2 for this
    machine), + the evaluation allowance (no qgssl_acdc evaluation timed); once one of its own cells is recorded, that
    record counts and the factor no longer applies."""
    path = tmp_path / "like.yaml"
    path.write_text(GRID.replace("groups:", "  plqw_metassl: {bundle: qgssl_acdc, framework: mean_teacher, ssl_loss: "
                                 "plqw_metassl, timed_like: {method: mt_metassl, factor: 1.5}}\ngroups:")
                    .replace("methods: [mt_metassl, supervised, plqw]", "methods: [plqw_metassl]"))
    grid = load_grid(path)
    seconds, source = expected_seconds(MT_RECORDS, cell(grid, "plqw_metassl_1l_s1"), True, pace=2.0)
    assert seconds == pytest.approx(SAFETY * (9 * 1.5 * 2.0 * 100 + EVALUATE_SECONDS_UNTIMED))
    assert source == ("9.00 s/it of mt_metassl_7l_s2, the slowest of 2 record(s) x 1.50 (timed like mt_metassl until "
                      "a cell of plqw_metassl is recorded), x 2.00 for this machine")
    own = timed("plqw_metassl", 1, 400.0, 70.0, bundle="qgssl_acdc", ssl_loss="plqw_metassl")
    assert expected_seconds([*MT_RECORDS, own], cell(grid, "plqw_metassl_1l_s1"), True)[0] == pytest.approx(
        SAFETY * (4 * 100 + 70))
    seconds, why = expected_seconds([], cell(grid, "plqw_metassl_1l_s1"), True)
    assert seconds is None and why == ("no record of qgssl_acdc / mean_teacher / plqw_metassl or of mt_metassl to "
                                       "estimate it from")


def test_scheduling_reads_records_leniently(tmp_path):
    """The runner reads the records of the cells already run with ``strict=False``: no folder yet is no records, and
    a file that is not a record is skipped (the report, strict, refuses both: tests/benchmark/test_report.py)."""
    assert load_records(tmp_path / "records", strict=False) == []
    (tmp_path / "a.json").write_text(json.dumps(MT_RECORDS[0]))
    (tmp_path / "broken.json").write_text("{")
    (tmp_path / "list.json").write_text("[1]")
    (tmp_path / "notes.txt").write_text("x")
    assert [r["cell"] for r in load_records(tmp_path, strict=False)] == [MT_RECORDS[0]["cell"]]


def write_records(out: Path, records: list[dict]) -> None:
    (out / "records").mkdir(parents=True)
    for r in records:
        (out / "records" / f"{r['cell']}.json").write_text(json.dumps(r))


def test_the_runner_starts_the_first_waiting_cell_that_ends_before_the_deadline(grid, tmp_path, capsys):
    """Queue: MT + MetaSSL (expected 1.1 x (9 s x 8 + 60 s) = 145.2 s), supervised (1.1 x (0.5 s x 8 + 60 s) = 70.4 s:
    the MT record's evaluation time counts for it too), PL-QW (never recorded)."""
    out = tmp_path / "out"
    write_records(out, [*MT_RECORDS, timed("sup", 9, 50.0, **SUPERVISED)])
    no_deadline = _Runner(grid, str(tmp_path), out, 1, 60, 10, 1)
    queue = [no_deadline.prepare(c) for c in grid.cells]
    runner = _Runner(grid, str(tmp_path), out, 1, 60, 10, 1, hours=1.0)
    runner.deadline = time.time() + 60.5  # a minute left when it chooses (whole seconds are printed)
    assert runner.next_job(list(queue)) is None  # nothing fits in a minute
    slowest = "the slowest of {} record(s)), 0:01:00 left"
    assert runner.deferred == {
        "mt_metassl_1l_s1": "expected 0:02:25 (9.00 s/it of mt_metassl_7l_s2, " + slowest.format(2),
        "supervised_1l_s1": "expected 0:01:10 (0.50 s/it of sup_7l_s9, " + slowest.format(1),
        "plqw_1l_s1": "no record of qgssl_acdc / mean_teacher / plqw to estimate it from"}
    assert capsys.readouterr().out.count("not started before the deadline") == 3

    runner = _Runner(grid, str(tmp_path), out, 1, 60, 10, 1, hours=1.0)
    runner.deadline = time.time() + 100.5
    waiting = list(queue)
    assert runner.next_job(waiting).cell.name == "supervised_1l_s1"  # the first that fits, out of its turn
    assert [j.cell.name for j in waiting] == ["mt_metassl_1l_s1", "plqw_1l_s1"]
    assert sorted(runner.deferred) == ["mt_metassl_1l_s1"]  # passed over; PL-QW, after the chosen one, not looked at
    assert no_deadline.next_job(list(queue)).cell.name == "mt_metassl_1l_s1"  # the grid's order


def test_a_grid_with_nothing_that_fits_ends_at_once_and_says_what_is_left(grid, tmp_path, capsys):
    out = tmp_path / "out"
    write_records(out, MT_RECORDS)
    result = run_grid(grid, str(tmp_path), out, hours=0.01)
    assert result == {"done": [], "failed": {}, "deferred": ["mt_metassl_1l_s1", "plqw_1l_s1", "supervised_1l_s1"]}
    assert not (out / "cells").exists()  # nothing was started
    printed = capsys.readouterr().out
    assert "left for a later run (3 cell(s) would not end before the deadline): mt_metassl_1l_s1 (expected" in printed


@pytest.mark.parametrize("hours", ["0", "-1", "soon", "inf"])
def test_cli_refuses_a_bad_hours_value_in_one_line(grid, tmp_path, capsys, hours):
    with pytest.raises(SystemExit) as exit_info:
        main(["benchmark", "run", str(grid.path), "--dataset_dir", str(tmp_path), "--out", str(tmp_path / "o"),
              "--hours", hours])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"metassl_monai: error: --hours takes a positive number, got {hours}\n"


@pytest.mark.parametrize("left, span, stopped", [
    (6000.0, 600.0, True),  # 3 s/it x 2 000 iterations left + 1.1 x 60 s of evaluations = 6 066 s > 6 000 s
    (6100.0, 600.0, False),  # ... < 6 100 s
    (6000.0, 500.0, False),  # a pace measured over less than 9 minutes decides nothing
])
def test_a_training_slower_than_the_records_is_stopped_when_it_would_miss_the_deadline(grid, tmp_path, capsys, left,
                                                                                         span, stopped):
    import subprocess
    import sys

    out = tmp_path / "out"
    write_records(out, MT_RECORDS)  # evaluations timed at 60 s
    runner = _Runner(grid, str(tmp_path), out, 1, 60, 10, 1, hours=1.0)
    job = runner.prepare(cell(grid, "mt_metassl_1l_s1"))
    job.stage, job.iterations, job.started = "train", 3000, time.time()
    job.files.dir.mkdir(parents=True)
    job.files.train_trace.write_text('{"iteration": 1000}\n')
    job.files.val_trace.write_text('{"iteration": 750, "val_mean_dice": 0.5}\n')
    job.log_handle = open(tmp_path / "log", "w")
    job.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    now = time.time()
    job.paced = [(now - span, 1000 - span / 3), (now, 1000)]  # 3 s per iteration once the process made progress
    runner.deadline = now + left
    try:
        assert runner.stop_if_late(job) is stopped
        assert (job.proc.poll() is not None) is stopped
        # the pace measured (3 s/it against the records' 9) scales the next estimates; none before 9 minutes
        assert runner.pace == pytest.approx(1 / 3 if span >= 540 else 1.0)
    finally:
        job.proc.kill()
        job.proc.wait()
    if stopped:
        assert runner.deferred == {"mt_metassl_1l_s1": "at 3.00 s/it it needs 1:41:06 more, 1:39:59 left (the machine "
                                                        "is slower than the records)"}
        assert "it resumes from its last checkpoint (iteration 750) in a later run" in capsys.readouterr().out
        assert json.loads((job.files.dir / "train_seconds.json").read_text())["seconds"] >= 0
    else:
        assert runner.deferred == {}


@pytest.mark.parametrize("checkpoint", [False, True])
def test_a_cell_stopped_before_its_first_checkpoint_starts_again_without_its_old_timing(grid, tmp_path, capsys,
                                                                                         monkeypatch, checkpoint):
    """The runner's stop above can come before a cell's first checkpoint: the next run starts it from iteration 0, and
    the stopped attempt's wall time and timing samples must not count in its record; a cell with a checkpoint resumes
    and keeps them."""
    import subprocess

    started = []
    monkeypatch.setattr(subprocess, "Popen", lambda cmd, **kwargs: started.append(cmd))
    runner = _Runner(grid, str(tmp_path), tmp_path / "out", 1, 60, 10, 1)
    job = runner.prepare(cell(grid, "mt_metassl_1l_s1"))
    job.stages = ["train"]
    job.files.dir.mkdir(parents=True)
    (job.files.dir / "train_seconds.json").write_text('{"seconds": 621.6}')
    job.files.timing.write_text('{"time": 1.0, "iteration": 25, "running": 2, "segment": 1, "load": 3.0}\n')
    if checkpoint:
        (job.files.dir / "checkpoint_epoch=1.pt").write_bytes(b"")
    runner.start_stage(job)
    job.log_handle.close()
    assert ("--resume" in started[0]) is checkpoint
    assert (job.files.dir / "train_seconds.json").is_file() is checkpoint and job.files.timing.is_file() is checkpoint
    said = capsys.readouterr().out
    assert ("started (again: the attempt stopped before its first checkpoint is not counted)" in said) is not checkpoint


def test_the_pace_is_measured_only_once_the_process_makes_progress(grid, tmp_path):
    """A resumed process first spends minutes starting up while its trace still ends at the killed process's last
    iteration: those samples would make any cell look hopelessly slow (one was stopped so at 9.6 s/it)."""
    runner = _Runner(grid, str(tmp_path), tmp_path / "out", 1, 60, 10, 1, hours=1.0)
    job = runner.prepare(cell(grid, "mt_metassl_1l_s1"))
    job.stage = "train"
    job.files.dir.mkdir(parents=True)
    clock = [1000.0]
    for t, iteration in [(0, 525), (60, 525), (120, 525), (180, 550), (240, 575), (300, 600)]:
        clock[0] = 1000.0 + t
        job.files.train_trace.write_text(json.dumps({"iteration": iteration}) + "\n")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(time, "time", lambda: clock[0])
            runner.sample(job, force=True)
    assert job.paced == [(1180.0, 550), (1240.0, 575), (1300.0, 600)]  # 2.4 s/it, not (300 s / 75 it) = 4 s/it
    # the deadline is judged at each new sample (every sample_seconds: 10 s here), not at each 0.2 s poll
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(time, "time", lambda: 1305.0)
        assert runner.sample(job) is False
        mp.setattr(time, "time", lambda: 1310.0)
        assert runner.sample(job) is True
