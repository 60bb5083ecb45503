# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Run the cells of a grid: each through ``python -m monai.bundle run training`` then ``evaluating`` (best and last
model), ``parallel`` cells side by side with the CPU threads split between them, resumable at any moment.

- A cell with a record (``OUT/records/<cell>.json``) is done and skipped.
- A cell whose training was interrupted (a kill, a stopped session) continues from its last checkpoint
  (``--resume true``): the bundle's resume is exact, so it ends as an uninterrupted run would. A cell that was
  trained but not evaluated is only evaluated.
- Every ``progress_seconds`` one line per running cell (iteration, seconds per iteration, ETA, best validation Dice
  so far) and a grid summary are printed; every command is printed (and written to the cell's log) before it runs.
- With a deadline (``hours``), a cell is started only when the records say it ends before it
  (:mod:`~metassl_monai.benchmark.schedule`); the others are left for the next run, which resumes them as usual.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import platform
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from metassl_monai.benchmark.cell import (
    TRAIN_DONE, TRAIN_SECONDS, CellFiles, build_record, evaluation_command, handlers_config, printable, training_command,
    write_json,
)
from metassl_monai.benchmark.grid import Cell, Grid
from metassl_monai.benchmark.report import load_records
from metassl_monai.benchmark.schedule import expected_seconds, recorded_seconds_per_iteration

__all__ = ["run_grid", "grid_status", "RunnerBusyError"]

LOCK_FILE, RUNNING_FILE = ".runner.lock", "running.json"  # in OUT: held by a working runner; the cells it trains


class RunnerBusyError(RuntimeError):
    """Another runner holds the output folder (two would train the same cells twice)."""


def _lock_held(out: Path) -> bool:
    """Whether a runner holds ``out``'s lock now (a runner killed by any signal releases it: the kernel drops it)."""
    if not (out / LOCK_FILE).is_file():
        return False
    with open(out / LOCK_FILE) as probe:
        try:
            fcntl.flock(probe, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(probe, fcntl.LOCK_UN)
        return False


@dataclass
class _Job:
    """A cell being worked on: its stages (train, eval_best, eval_last) and the process of the current one."""

    cell: Cell
    files: CellFiles
    stages: list[str]
    commands: dict[str, str]
    proc: subprocess.Popen | None = None
    stage: str = ""
    started: float = 0.0
    segment: int = 0
    last_sample: float = 0.0
    log_handle: object = None
    iterations: int | None = None
    rate: list = field(default_factory=list)  # (time, iteration) of the last minutes, for the ETA
    first_iteration: int | None = None  # the trace's iteration when this process was first sampled
    paced: list = field(default_factory=list)  # the last PACE_SECONDS of samples once the process made progress


PACE_SECONDS = 600.0  # how long a training's pace is measured before a deadline may stop it


def _rate_window(rate: list, now: float, iteration: int, seconds: float = 300) -> list:
    """The (time, iteration) samples of the last ``seconds`` the ETA is measured over, with the new one. A resumed
    cell's trace still ends at the killed process's last iteration until the new process passes its checkpoint: when
    the iteration goes back, the older samples are dropped (else the ETA divides minutes by a few iterations)."""
    kept = [p for p in rate if now - p[0] < seconds and p[1] <= iteration]
    return kept + [(now, iteration)]


def _seconds_per_iteration(rate: list, min_span: float = 0.0) -> float | None:
    """Seconds per iteration over the ETA window (None when it spans less than ``min_span`` seconds or no
    iteration)."""
    if len(rate) < 2 or rate[-1][1] <= rate[0][1] or rate[-1][0] - rate[0][0] < min_span:
        return None
    return (rate[-1][0] - rate[0][0]) / (rate[-1][1] - rate[0][1])


def _host() -> dict:
    """The machine a cell ran on (its timings mean nothing without it); ``gpu``: the CUDA device the bundle's
    ``device`` picks (None: the CPU)."""
    import torch

    from metassl_monai.host import cpu_model

    return {"cpus": os.cpu_count(), "machine": platform.machine(), "processor": platform.processor() or "",
            "cpu_model": cpu_model(),
            "python": platform.python_version(), "torch": torch.__version__,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _num_iterations(grid: Grid, cell: Cell, dataset_dir: str) -> int | None:
    """The cell's training length as its configs resolve it (for the progress line; None if it cannot be read)."""
    try:
        from monai.bundle import ConfigParser

        parser = ConfigParser()
        parser.read_config(grid.config_files(cell.method))
        for key, value in {**grid.overrides, **cell.method.overrides, "bundle_root": str(grid.bundle_root(cell.method)),
                           "dataset_dir": dataset_dir, "framework": f"@frameworks#{cell.method.framework}"}.items():
            parser[key] = value
        return int(parser.get_parsed_content("num_iterations"))
    except Exception:  # only the progress line needs it
        return None


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def grid_status(grid: Grid, out: str | os.PathLike, cells: list[Cell] | None = None) -> dict[str, str]:
    """Each cell's state: ``done`` (recorded), ``running`` (a runner works on it now), ``trained`` (to evaluate),
    ``interrupted`` (resumes from a checkpoint) or ``pending``."""
    out = Path(out)
    running = set()
    if _lock_held(out) and (out / RUNNING_FILE).is_file():
        running = set(json.loads((out / RUNNING_FILE).read_text()))
    status = {}
    for cell in cells if cells is not None else grid.cells:
        files = CellFiles(out, cell)
        if files.record.is_file():
            status[cell.name] = "done"
        elif cell.name in running:
            status[cell.name] = "running"
        elif files.trained():
            status[cell.name] = "trained"
        elif files.has_interval_checkpoint() or (files.dir / "checkpoint_final.pt").is_file():
            status[cell.name] = "interrupted"
        else:
            status[cell.name] = "pending"
    return status


_ERROR = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b.*:")  # "FileNotFoundError: ..."


def _terminate(signum, frame):
    raise SystemExit(128 + signum)  # runs the runner's ``finally``: the cells' processes are stopped too


class _Runner:
    def __init__(self, grid: Grid, dataset_dir: str, out: Path, parallel: int, progress_seconds: float,
                 sample_seconds: float, threads: int | None, hours: float | None = None) -> None:
        self.grid, self.dataset_dir, self.out = grid, str(Path(dataset_dir).resolve()), out
        self.parallel = max(1, int(parallel))
        self.progress_seconds, self.sample_seconds = float(progress_seconds), float(sample_seconds)
        cpus = int(threads or os.cpu_count() or 1)
        self.threads = max(1, cpus // self.parallel)
        self.handlers_file = out / "benchmark_handlers.json"
        self.running: list[_Job] = []
        self.failed: dict[str, str] = {}
        self.done: list[str] = []
        self.deadline = time.time() + 3600.0 * float(hours) if hours is not None else None
        self.deferred: dict[str, str] = {}  # cell -> why it was not started before the deadline
        self.pace = 1.0  # this machine's training time / the records' (measured on the cells running now)
        self.host = {**_host(), "threads": self.threads}  # per cell: the s/it columns mean nothing without it

    def say(self, text: str) -> None:
        print(f"[benchmark {time.strftime('%H:%M:%S')}] {text}", flush=True)

    # ---- a cell's stages
    def prepare(self, cell: Cell) -> _Job | None:
        files = CellFiles(self.out, cell)
        if files.record.is_file():
            return None
        train_cmd = training_command(self.grid, cell, self.dataset_dir, files, self.handlers_file, resume=False)
        commands = {"train": printable(train_cmd),
                    **{f"evaluate_{w}": printable(evaluation_command(self.grid, cell, self.dataset_dir, files, w))
                       for w in ("best", "last")}}
        stages = [] if files.trained() else ["train"]
        stages += [f"eval_{w}" for w in ("best", "last") if not (files.eval_dir(w) / "metrics.json").is_file()
                   or "train" in stages]
        return _Job(cell, files, stages, commands)

    def next_job(self, queue: list[_Job]) -> _Job | None:
        """The first queued job that ends before the deadline (any, without one), taken out of ``queue``."""
        if self.deadline is None:
            return queue.pop(0)
        records = load_records(self.out / "records", strict=False)
        left = self.deadline - time.time()
        for job in list(queue):
            if not job.stages:  # trained and evaluated: only its record is missing
                queue.remove(job)
                return job
            train = "train" in job.stages
            if train and job.iterations is None:
                job.iterations = _num_iterations(self.grid, job.cell, self.dataset_dir)
            curve = job.files.curve() if train and job.files.has_interval_checkpoint() else []
            seconds, source = expected_seconds(records, job.cell, train, curve[-1][0] if curve else 0, job.iterations,
                                               self.pace)
            if seconds is not None and seconds <= left:
                queue.remove(job)
                self.deferred.pop(job.cell.name, None)
                self.say(f"{job.cell.name}: expected to take {_format_eta(seconds)} ({source}), "
                         f"{_format_eta(left)} left before the deadline")
                return job
            why = (f"expected {_format_eta(seconds)} ({source}), {_format_eta(left)} left" if seconds is not None
                   else source)
            if job.cell.name not in self.deferred:
                self.say(f"{job.cell.name}: not started before the deadline: {why}")
            self.deferred[job.cell.name] = why
        return None

    def start_stage(self, job: _Job) -> None:
        job.stage = job.stages.pop(0)
        files, cell = job.files, job.cell
        if job.stage == "train":
            resume = files.has_interval_checkpoint() or (files.dir / "checkpoint_final.pt").is_file()
            cmd = training_command(self.grid, cell, self.dataset_dir, files, self.handlers_file, resume=resume)
            if job.iterations is None:
                job.iterations = _num_iterations(self.grid, cell, self.dataset_dir)
            files.train_done.unlink(missing_ok=True)
            if resume:
                from metassl_monai.engines.resume import latest_checkpoint

                what = f"resumed from its last checkpoint, {Path(latest_checkpoint(files.dir)).name}"
            else:
                what = "started"
                if files.discard_unsaved_attempt():
                    what += " (again: the attempt stopped before its first checkpoint is not counted)"
        else:
            which = job.stage.split("_", 1)[1]
            cmd = evaluation_command(self.grid, cell, self.dataset_dir, files, which)
            what = f"evaluating its {which} model"
        files.log.parent.mkdir(parents=True, exist_ok=True)
        job.log_handle = open(files.log, "a", encoding="utf-8")
        job.log_handle.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')} {printable(cmd)}\n")
        job.log_handle.flush()
        env = dict(os.environ, OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads),
                   PYTHONUNBUFFERED="1")
        self.say(f"{cell.name}: {what} ({self.threads} thread(s); log {files.log})\n    {printable(cmd)}")
        job.started = time.time()
        job.segment = int(job.started * 1000)  # one per process: samples of two processes are never paired
        job.last_sample = 0.0
        job.rate, job.paced, job.first_iteration = [], [], None
        job.proc = subprocess.Popen(cmd, stdout=job.log_handle, stderr=subprocess.STDOUT, env=env)

    def count_train_seconds(self, job: _Job) -> float:
        """Add this training process's wall time to the cell's count (a resumed cell sums its processes)."""
        path = job.files.dir / TRAIN_SECONDS
        previous = json.loads(path.read_text())["seconds"] if path.is_file() else 0.0
        total = round(previous + time.time() - job.started, 1)
        write_json(path, {"seconds": total})
        self.sample(job, force=True)
        return total

    def measure_pace(self, job: _Job, per_it: float, records: list[dict]) -> None:
        """Compare a running training's pace with its records' and keep the ratio for the next estimates (the
        records may come from a faster or a slower machine, or another thread split)."""
        recorded = recorded_seconds_per_iteration(records, job.cell)
        if recorded is None:
            return
        pace = min(4.0, max(0.25, per_it / recorded[0]))
        if abs(pace - self.pace) > 0.05:
            self.say(f"pace: {job.cell.name} trains at {per_it:.2f} s/it here, its records at {recorded[0]:.2f}: "
                     f"cells are estimated x {pace:.2f} from now on")
        self.pace = pace

    def stop_if_late(self, job: _Job) -> bool:
        """With a deadline: stop a training whose measured pace ends it, with its evaluations, after the deadline (the
        machine is slower than the records said). The pace is measured over :data:`PACE_SECONDS` once the process made
        progress (not over its start-up, which would stop every resumed cell). Its threads go to a cell that fits; it
        resumes from its last checkpoint in a later run. True when it was stopped."""
        if self.deadline is None or job.stage != "train" or not job.iterations:
            return False
        per_it = _seconds_per_iteration(job.paced, min_span=0.9 * PACE_SECONDS)
        if per_it is None:
            return False
        records = load_records(self.out / "records", strict=False)
        self.measure_pace(job, per_it, records)
        evaluate, _ = expected_seconds(records, job.cell, train=False)
        left = self.deadline - time.time()
        needed = per_it * max(0, job.iterations - job.files.last_iteration()) + evaluate
        if needed <= left:
            return False
        job.proc.terminate()
        job.proc.wait(60)
        job.log_handle.close()
        self.count_train_seconds(job)
        curve = job.files.curve()
        why = (f"at {per_it:.2f} s/it it needs {_format_eta(needed)} more, {_format_eta(left)} left (the machine is "
               "slower than the records)")
        self.deferred[job.cell.name] = why
        self.say(f"{job.cell.name}: stopped before the deadline: {why}; it resumes from its last checkpoint "
                 f"(iteration {curve[-1][0] if curve else 0}) in a later run")
        return True

    def finish_stage(self, job: _Job) -> bool:
        """Called when the stage's process ended; False when the cell failed."""
        code = job.proc.returncode
        job.log_handle.close()
        files = job.files
        if job.stage == "train":
            seconds = self.count_train_seconds(job)
            if code == 0 and (files.dir / "checkpoint_final.pt").is_file():
                write_json(files.dir / TRAIN_DONE, {"seconds": seconds})
                return True
        elif code == 0 and (files.eval_dir(job.stage.split("_", 1)[1]) / "metrics.json").is_file():
            write_json(files.eval_dir(job.stage.split("_", 1)[1]) / "seconds.json",
                       {"seconds": round(time.time() - job.started, 1)})
            return True
        text = files.log.read_text(encoding="utf-8", errors="replace")
        this_run = text[text.rfind("\n# "):].splitlines()  # the log since this stage's command
        causes = [ln for ln in this_run if _ERROR.match(ln)]
        self.failed[job.cell.name] = f"{job.stage} exited with {code}"
        self.say(f"{job.cell.name}: {job.stage} FAILED (exit status {code})"
                 + (f": {causes[0]}" if causes else "") + f"; the end of {files.log}:\n" + "\n".join(this_run[-12:]))
        return False

    def record(self, job: _Job) -> None:
        record = build_record(self.grid, job.cell, job.files, job.commands, self.host)
        write_json(job.files.record, record)
        self.done.append(job.cell.name)
        best, last = record["best"], record["last"]
        self.say(f"{job.cell.name}: done in {record['train_seconds'] / 60:.1f} min of training; best val Dice "
                 f"{best['val_mean_dice']:.4f} (iteration {best['iteration']}), evaluated {best['metrics']['mean_dice']:.4f}; "
                 f"last iteration {last['metrics']['mean_dice']:.4f}; record {job.files.record}")

    # ---- monitoring
    def sample(self, job: _Job, force: bool = False) -> bool:
        """Record a timing sample of a training (every ``sample_seconds``); True when one was taken."""
        now = time.time()
        if job.stage != "train" or (not force and now - job.last_sample < self.sample_seconds):
            return False
        job.last_sample = now
        iteration = job.files.last_iteration()
        running = sum(1 for j in self.running if j.stage == "train" and j.proc is not None and j.proc.poll() is None)
        job.files.add_timing(iteration, max(1, running), job.segment)
        job.rate = _rate_window(job.rate, now, iteration)
        if job.first_iteration is None:
            job.first_iteration = iteration
        if iteration > job.first_iteration:  # past the process's start-up (and a resumed trace's stale iterations)
            job.paced = _rate_window(job.paced, now, iteration, PACE_SECONDS)
        return True

    def progress_line(self, job: _Job) -> str:
        if job.stage != "train":
            return f"  {job.cell.name}: {job.stage.replace('_', ' ')}"
        iteration = job.files.last_iteration()
        total = job.iterations
        per_it = _seconds_per_iteration(job.rate)
        eta = per_it * (total - iteration) if per_it and total else None
        curve = job.files.curve()
        best = max(curve, key=lambda p: p[1]) if curve else None
        return (f"  {job.cell.name}: iteration {iteration}/{total or '?'}"
                + (f", {per_it:.2f} s/it" if per_it else "") + f", ETA {_format_eta(eta)}"
                + (f", best val Dice {best[1]:.4f} @ {best[0]}" if best else ", no validation yet"))

    def progress(self, pending: int) -> None:
        lines = [self.progress_line(j) for j in self.running]
        deadline = f", deadline in {_format_eta(self.deadline - time.time())}" if self.deadline is not None else ""
        self.say(f"grid {self.grid.name}: {len(self.done)} done, {len(self.running)} running, {pending} waiting, "
                 f"{len(self.failed)} failed{deadline}\n" + "\n".join(lines))

    def run(self, cells: list[Cell]) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        lock = open(self.out / LOCK_FILE, "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise RunnerBusyError(f"another benchmark runner is working in {self.out}: wait for it or stop it "
                                  "(two runners would train the same cells twice)") from None
        previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            return self._run(cells)
        finally:
            signal.signal(signal.SIGTERM, previous)
            (self.out / RUNNING_FILE).unlink(missing_ok=True)
            lock.close()

    def _run(self, cells: list[Cell]) -> dict:
        handlers = handlers_config(self.grid.trace_interval)
        if not self.handlers_file.is_file() or json.loads(self.handlers_file.read_text()) != handlers:
            write_json(self.handlers_file, handlers)
        queue: list[_Job] = []
        for cell in cells:
            job = self.prepare(cell)
            if job is None:
                self.say(f"{cell.name}: done already ({CellFiles(self.out, cell).record})")
            else:
                queue.append(job)
        self.say(f"grid {self.grid.name}: {len(queue)} cell(s) to run of {len(cells)}, {self.parallel} side by side, "
                 f"{self.threads} thread(s) each; output {self.out}")
        last_progress = time.time()
        announced: list[str] | None = None
        try:
            while queue or self.running:
                while queue and len(self.running) < self.parallel:
                    job = self.next_job(queue)
                    if job is None:
                        break
                    if job.stages:
                        self.running.append(job)
                        self.start_stage(job)
                    else:
                        self.record(job)
                if queue and not self.running:  # none of the waiting cells ends before the deadline
                    break
                for job in list(self.running):
                    if job.proc.poll() is None:
                        if self.sample(job) and self.stop_if_late(job):  # judged at each new sample, not each poll
                            self.running.remove(job)
                        continue
                    if not self.finish_stage(job):
                        self.running.remove(job)
                    elif job.stages:
                        self.start_stage(job)
                    else:
                        self.running.remove(job)
                        self.record(job)
                names = [job.cell.name for job in self.running]
                if names != announced:  # what `benchmark status` reports as running
                    write_json(self.out / RUNNING_FILE, names)
                    announced = names
                if time.time() - last_progress >= self.progress_seconds and self.running:
                    self.progress(len(queue))
                    last_progress = time.time()
                time.sleep(0.2)
        finally:
            stopped = [job.cell.name for job in self.running if job.proc is not None and job.proc.poll() is None]
            for job in self.running:  # interrupted (Ctrl-C, SIGTERM): stop the children; their checkpoints resume them
                if job.proc is not None and job.proc.poll() is None:
                    job.proc.terminate()
                    job.proc.wait(60)
            if stopped:
                self.say(f"stopped: {', '.join(stopped)} will resume from their last checkpoint when the same command "
                         "is run again")
        self.say(f"grid {self.grid.name}: {len(self.done)} cell(s) recorded now, {len(self.failed)} failed"
                 + (": " + "; ".join(f"{k} ({v})" for k, v in self.failed.items()) if self.failed else ""))
        if self.deferred:
            self.say(f"left for a later run ({len(self.deferred)} cell(s) would not end before the deadline): "
                     + "; ".join(f"{k} ({v})" for k, v in self.deferred.items()))
        return {"done": self.done, "failed": self.failed, "deferred": sorted(self.deferred)}


def run_grid(grid: Grid, dataset_dir: str, out: str | os.PathLike, cells: list[Cell] | None = None,
             parallel: int = 1, progress_seconds: float = 60.0, sample_seconds: float = 10.0,
             threads: int | None = None, hours: float | None = None) -> dict:
    """
    Run (or continue) ``cells`` of ``grid`` (default: all) on ``dataset_dir``, writing to ``out``.

    Args:
        parallel: cells trained side by side.
        progress_seconds: period of the progress lines.
        sample_seconds: period of the timing samples (seconds per iteration alone / shared).
        threads: CPU threads to split between the cells (default: all of this machine's).
        hours: start only the cells that end within this many hours, by the records of the cells already run
            (:func:`~metassl_monai.benchmark.schedule.expected_seconds`); default: no deadline.

    Returns:
        ``{"done": [cells recorded now], "failed": {cell: what failed}, "deferred": [cells left for a later run]}``.

    Raises:
        FileNotFoundError: ``dataset_dir`` does not exist.
        ValueError: ``hours`` is not positive.
        RunnerBusyError: another runner works in ``out``.
    """
    if hours is not None and not float(hours) > 0:
        raise ValueError(f"hours must be positive, got {hours}")
    if not Path(dataset_dir).is_dir():
        raise FileNotFoundError(f"dataset_dir {dataset_dir} does not exist")
    runner = _Runner(grid, dataset_dir, Path(out).resolve(), parallel, progress_seconds, sample_seconds, threads, hours)
    return runner.run(list(cells) if cells is not None else list(grid.cells))
