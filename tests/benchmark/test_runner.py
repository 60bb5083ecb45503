# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The benchmark runner on a 2-method × 2-seed grid of a few iterations on the synthetic ACDC-like data (every cell a real
``python -m monai.bundle`` training + 2 evaluations): records written, finished cells skipped, a cell whose runner
was killed mid-training resumes and ends identical to the uninterrupted cell, the report regenerated from the
records matches them.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from bundle_runner import SUBPROCESS_ENV

from metassl_monai.benchmark import grid_status, load_grid, run_grid, write_report
from metassl_monai.benchmark.runner import RunnerBusyError
from metassl_monai.host import cpu_model

GRID = """
name: tiny
overrides: {patch_size: [32, 32], batch_size: 2, unlabeled_batch_size: 2, num_iterations: 8, val_interval: 2}
trace_interval: 1
methods:
  supervised: {bundle: metassl_acdc, framework: supervised, ssl_loss: none}
  mt_metassl: {bundle: metassl_acdc, framework: mean_teacher, ssl_loss: metassl, baseline: supervised}
groups:
  - {labeled: 1, seeds: [1, 2], methods: [supervised, mt_metassl]}
"""
CELLS = ["supervised_1l_s1", "supervised_1l_s2", "mt_metassl_1l_s1", "mt_metassl_1l_s2"]
DETERMINISTIC = ("curve", "best", "last", "ssl_trace", "commands")  # what an interrupted cell must reproduce


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("grid") / "tiny.yaml"
    path.write_text(GRID)
    return path


@pytest.fixture(scope="module")
def finished(grid_file, acdc_dataset, tmp_path_factory):
    """The whole grid run once, two cells side by side."""
    out = tmp_path_factory.mktemp("bench") / "out"
    with pytest.MonkeyPatch.context() as mp:
        for k, v in SUBPROCESS_ENV.items():
            mp.setenv(k, v)
        result = run_grid(load_grid(grid_file), str(acdc_dataset), out, parallel=2, threads=2, progress_seconds=2,
                          sample_seconds=0.5)
    return out, result


def records(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))}


@pytest.mark.slow
def test_grid_recorded_skipped_and_reported(finished, grid_file, acdc_dataset, tmp_path, capsys):
    """One test on purpose: the grid is built once (pytest-xdist may place a file's tests on both workers)."""
    out, result = finished
    # every cell recorded, with what the record promises
    assert sorted(result["done"]) == sorted(CELLS) and result["failed"] == {}
    recs = records(out)
    assert sorted(recs) == sorted(CELLS)
    for name, r in recs.items():
        assert [it for it, _ in r["curve"]] == [2, 4, 6, 8]
        best = max(r["curve"], key=lambda p: p[1])
        assert r["best"]["val_mean_dice"] == best[1]
        assert r["last"]["iteration"] == 8 and r["last"]["val_mean_dice"] == r["curve"][-1][1]
        # the last-iteration model scored by `evaluating` is the network validated at iteration 8 (same volumes)
        assert r["last"]["metrics"]["mean_dice"] == pytest.approx(r["curve"][-1][1], abs=1e-5)
        assert r["best"]["metrics"]["mean_dice"] == pytest.approx(best[1], abs=1e-5)
        assert r["evaluate_seconds"] > 0  # both evaluations timed (what `--hours` estimates them from)
        assert r["host"]["threads"] == 1  # 2 threads split between 2 cells
        assert r["host"]["cpu_model"] == cpu_model()  # "" only where /proc/cpuinfo and platform say nothing
        assert r["host"]["torch"] == torch.__version__ and r["host"]["gpu"] == (
            torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)
        assert r["train_seconds"] > 0 and "--seed" in r["commands"]["train"]
        assert r["ssl_trace"]["iteration"] == list(range(1, 9))
    mt = recs["mt_metassl_1l_s1"]["ssl_trace"]
    fractions = [sum(mt[f"unlabeled_0/fraction_{g}"][i] for g in ("UC", "US", "DC", "DS")) for i in range(8)]
    assert fractions == pytest.approx([1.0] * 8)  # the four regions partition the pixels
    assert "unlabeled_0/threshold_1" in mt and "unlabeled_0/fraction_UC" not in recs["supervised_1l_s1"]["ssl_trace"]
    assert recs["supervised_1l_s1"]["curve"] != recs["supervised_1l_s2"]["curve"]  # the seed reaches the run
    assert grid_status(load_grid(grid_file), out) == {c: "done" for c in CELLS}
    assert not (out / "running.json").exists()  # only while a runner works

    # finished cells are skipped: nothing runs, no file changes
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != ".runner.lock"}
    again = run_grid(load_grid(grid_file), str(acdc_dataset), out, parallel=2)
    assert again == {"done": [], "failed": {}, "deferred": []}
    assert capsys.readouterr().out.count("done already") == 4
    assert {p: p.stat().st_mtime_ns for p in before} == before

    # the report, regenerated from the records alone, matches them
    paths = write_report(out / "records", tmp_path, "tiny")
    rows = {r["cell"]: r for r in csv.DictReader(open(paths["csv"]))}
    for name, r in recs.items():
        assert float(rows[name]["best_mean_dice"]) == r["best"]["metrics"]["mean_dice"]
        assert float(rows[name]["last_mean_dice"]) == r["last"]["metrics"]["mean_dice"]
    diffs = [recs[f"mt_metassl_1l_s{s}"]["last"]["metrics"]["mean_dice"]
             - recs[f"supervised_1l_s{s}"]["last"]["metrics"]["mean_dice"] for s in (1, 2)]
    text = open(paths["markdown"]).read()
    assert "| `mt_metassl` | `supervised` | 2 (1, 2) |" in text
    assert f"{sum(diffs) / 2:.4f} ± " in text
    assert all(Path(paths[f]).stat().st_size > 1000 for f in ("tiny_curves_1labeled.png", "tiny_final.png",
                                                              "tiny_regions.png"))


def wait_for(condition, proc, timeout=300.0):
    deadline = time.time() + timeout
    while not condition():
        assert proc.poll() is None, "the runner ended before it could be killed"
        assert time.time() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_runner_resumes_the_cell_to_the_uninterrupted_result(finished, grid_file, acdc_dataset, tmp_path,
                                                                    capsys):
    cell = "mt_metassl_1l_s1"
    reference = finished[0]  # the cell uninterrupted, in the whole grid (1 thread, as the killed and the resumed run)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "metassl_monai", "benchmark", "run", str(grid_file),
                             "--dataset_dir", str(acdc_dataset), "--out", str(out), "--cells", cell,
                             "--parallel", "2", "--threads", "2"],  # 1 thread per cell, as the reference had
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ,
                            **SUBPROCESS_ENV), start_new_session=True)
    run_dir = out / "cells" / cell
    wait_for(lambda: (run_dir / "checkpoint_epoch=1.pt").exists(), proc)
    assert grid_status(load_grid(grid_file), out, load_grid(grid_file).select(cell)) == {cell: "running"}
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its training, as a stopped session does
    proc.wait(60)
    if (run_dir / "checkpoint_final.pt").exists():
        pytest.fail("the training finished before the kill: the test did not interrupt anything")
    # its running.json stays behind, but no runner holds the lock any more
    assert grid_status(load_grid(grid_file), out, load_grid(grid_file).select(cell)) == {cell: "interrupted"}

    with pytest.MonkeyPatch.context() as mp:
        for k, v in SUBPROCESS_ENV.items():
            mp.setenv(k, v)
        # exact at the same thread count (CPU kernels sum in another order with more threads)
        result = run_grid(load_grid(grid_file), str(acdc_dataset), out, cells=load_grid(grid_file).select(cell),
                          parallel=2, threads=2)
    assert result["done"] == [cell]
    assert "resumed from its last checkpoint, checkpoint_epoch=" in capsys.readouterr().out
    assert "--resume true" in (out / "logs" / f"{cell}.log").read_text()
    resumed, uninterrupted = records(out)[cell], records(reference)[cell]
    for key in ("curve", "best", "last", "ssl_trace"):
        assert resumed[key] == uninterrupted[key], key
    a = torch.load(run_dir / "model_last.pt", weights_only=True)
    b = torch.load(reference / "cells" / cell / "model_last.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_a_failing_cell_is_reported_and_the_others_go_on(grid_file, tmp_path, capsys):
    empty = tmp_path / "no_data"
    empty.mkdir()
    result = run_grid(load_grid(grid_file), str(empty), tmp_path / "out",
                      cells=load_grid(grid_file).select("supervised_1l_s1"))
    assert result == {"done": [], "failed": {"supervised_1l_s1": "train exited with 1"}, "deferred": []}
    printed = capsys.readouterr().out
    # the first error of the log, the bundle's own naming the missing file (not MONAI's "Failed to evaluate")
    assert (f"supervised_1l_s1: train FAILED (exit status 1): FileNotFoundError: list file not found: "
            f"{empty}/train_slices.list") in printed


def test_a_second_runner_on_the_same_output_is_refused(grid_file, tmp_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".runner.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunnerBusyError, match="another benchmark runner is working in"):
            run_grid(load_grid(grid_file), str(tmp_path), out)


@pytest.mark.parametrize("lock_held, expected", [(True, "running"), (False, "pending")])
def test_status_says_running_only_while_a_runner_holds_the_output(grid_file, tmp_path, lock_held, expected):
    """running.json names the cells a runner trains; a runner that died (lock released) leaves it stale."""
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    (out / "running.json").write_text('["supervised_1l_s1"]')
    with open(out / ".runner.lock", "w") as held:
        if lock_held:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        status = grid_status(load_grid(grid_file), out)
    assert status == {**{c: "pending" for c in CELLS}, "supervised_1l_s1": expected}


def test_missing_dataset_dir(grid_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset_dir .*absent does not exist"):
        run_grid(load_grid(grid_file), str(tmp_path / "absent"), tmp_path / "out")


@pytest.mark.parametrize("samples,window", [
    # steady: 100 iterations per 100 s; the sample older than 300 s is dropped
    ([(0, 0), (250, 250), (350, 350), (400, 400)], [(250, 250), (350, 350), (400, 400)]),
    # a resumed cell: its trace said 200 (the killed process) until the new one went back to its checkpoint (50)
    ([(0, 200), (60, 50), (120, 125), (180, 225)], [(60, 50), (120, 125), (180, 225)]),
])
def test_eta_window_forgets_samples_ahead_of_the_current_iteration(samples, window):
    from metassl_monai.benchmark.runner import _rate_window

    rate: list = []
    for now, iteration in samples:  # as the runner samples a cell, one call per sample
        rate = _rate_window(rate, now, iteration)
    assert rate == window
