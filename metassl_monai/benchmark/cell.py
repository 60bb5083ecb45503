# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
One benchmark cell on disk: the ``monai.bundle`` commands that train and evaluate it, the files they leave in its
folder, and the record written when it is finished.

A cell's folder ``OUT/cells/<cell>/`` is the bundle run's ``output_dir``; the benchmark adds three handlers to the
training (``benchmark_handlers.json`` beside the cells):

- ``train_trace.jsonl``: every ``trace_interval`` iterations the loss terms and the MetaSSL / QG statistics
  (``<branch>/fraction_UC|US|DC|DS``, ``<branch>/threshold_<class>``, ...);
- ``val_trace.jsonl``: the validation metrics at every validation (``val_mean_dice``), with the iteration;
- ``model_last.pt``: the network at the last iteration (``model.pt`` is the best-validation one).

The cell is then scored twice by the bundle's ``evaluating`` workflow, ``eval_best/`` (``model.pt``) and
``eval_last/`` (``model_last.pt``: carries no selection bias), each with the ``seconds.json`` the evaluation took.
``timing.jsonl`` holds the runner's samples
(time, iteration, cells running side by side) that give the step time alone and shared.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from metassl_monai.atomic_files import atomic_path
from metassl_monai.benchmark.grid import Cell, Grid, cli_args
from metassl_monai.handlers.loss_trace import read_loss_trace

__all__ = ["CellFiles", "handlers_config", "training_command", "evaluation_command", "build_record",
           "step_seconds", "wall_seconds", "dedupe_trace", "RECORD_VERSION"]

RECORD_VERSION = 1
TRAIN_DONE = "benchmark_train_done.json"


def handlers_config(trace_interval: int) -> dict:
    """The extra config file merged after a cell's training configs (see the module docstring)."""
    return {"+train#handlers": [
        {"_target_": "metassl_monai.handlers.LossTraceWriter", "output_dir": "@run_dir",
         "filename": "train_trace.jsonl", "interval": int(trace_interval),
         "output_transform": "$lambda x: {**x['loss_terms'], **x['ssl_stats']}"},
        # registered after the trainer's ValidationHandler (same event, same period): reads this validation's metrics
        {"_target_": "metassl_monai.handlers.LossTraceWriter", "output_dir": "@run_dir",
         "filename": "val_trace.jsonl", "interval": "@val_interval",
         "output_transform": "$lambda x: dict(@validate#evaluator.state.metrics)"},
        {"_target_": "metassl_monai.handlers.AtomicCheckpointSaver", "save_dir": "@run_dir",
         "save_dict": {"model": "$@framework.network"}, "save_final": True, "final_filename": "model_last.pt"},
    ]}


TRAIN_SECONDS = "train_seconds.json"  # in a cell's folder: the wall seconds of its training processes, summed


class CellFiles:
    """The paths of one cell in the benchmark's output folder ``out``."""

    def __init__(self, out: Path, cell: Cell) -> None:
        self.cell = cell
        self.out = Path(out)
        self.dir = self.out / "cells" / cell.name
        self.log = self.out / "logs" / f"{cell.name}.log"
        self.record = self.out / "records" / f"{cell.name}.json"
        self.train_trace = self.dir / "train_trace.jsonl"
        self.val_trace = self.dir / "val_trace.jsonl"
        self.timing = self.dir / "timing.jsonl"
        self.train_done = self.dir / TRAIN_DONE

    def eval_dir(self, which: str) -> Path:
        return self.dir / f"eval_{which}"

    def evaluate_seconds(self) -> float | None:
        """The wall seconds of the two evaluations (None until both were timed: records before they were)."""
        paths = [self.eval_dir(w) / "seconds.json" for w in ("best", "last")]
        if not all(p.is_file() for p in paths):
            return None
        return round(sum(float(_read_json(p)["seconds"]) for p in paths), 1)

    def checkpoint(self, which: str) -> Path:
        return self.dir / ("model.pt" if which == "best" else "model_last.pt")

    def has_interval_checkpoint(self) -> bool:
        return any(self.dir.glob("checkpoint_*.pt"))

    def trained(self) -> bool:
        """Training ended normally (the runner saw exit status 0 and the final checkpoint)."""
        return self.train_done.is_file() and (self.dir / "checkpoint_final.pt").is_file()

    def last_iteration(self) -> int:
        """The latest iteration in the training trace (0 before the first record)."""
        return _last_iteration(self.train_trace)

    def curve(self) -> list[tuple[int, float]]:
        """(iteration, validation mean Dice) so far."""
        return [(int(r["iteration"]), float(r["val_mean_dice"])) for r in dedupe_trace(self.val_trace)
                if "val_mean_dice" in r]

    def discard_unsaved_attempt(self) -> bool:
        """Forget the wall time and timing samples of an attempt that was stopped before its first checkpoint (the
        training starts again from iteration 0, so they would be counted twice; its traces are truncated by the
        training itself). True if there was one."""
        stale = [p for p in (self.dir / TRAIN_SECONDS, self.timing) if p.is_file()]
        for path in stale:
            path.unlink()
        return bool(stale)

    def add_timing(self, iteration: int, running: int, segment: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.timing, "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": round(time.time(), 3), "iteration": iteration, "running": running,
                                "segment": segment, "load": round(os.getloadavg()[0], 2)}) + "\n")


def _last_iteration(path: Path) -> int:
    if not path.is_file():
        return 0
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 4096))
        lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    for line in reversed(lines):
        try:
            return int(json.loads(line)["iteration"])
        except (ValueError, KeyError):
            continue  # a line cut by the seek, or being written
    return 0


def dedupe_trace(path: Path) -> list[dict]:
    """A trace written by :class:`~metassl_monai.handlers.LossTraceWriter`, one record per iteration in order: a
    resumed run repeats the iterations after its last checkpoint, and the repetition (identical: resume is exact)
    replaces the first."""
    if not Path(path).is_file():
        return []
    by_iteration: dict[int, dict] = {}
    for record in read_loss_trace(str(path)):
        by_iteration[int(record["iteration"])] = record
    return [by_iteration[k] for k in sorted(by_iteration)]


def _common_args(grid: Grid, cell: Cell, dataset_dir: str) -> list[str]:
    return ["--bundle_root", str(grid.bundle_root(cell.method)), "--dataset_dir", str(dataset_dir)]


def training_command(grid: Grid, cell: Cell, dataset_dir: str, files: CellFiles, handlers_file: Path,
                     resume: bool) -> list[str]:
    """``python -m monai.bundle run training ...`` of a cell (what a user runs, plus the benchmark's handlers)."""
    configs = [*grid.config_files(cell.method), str(handlers_file)]
    return [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", _config_list(configs),
            *_common_args(grid, cell, dataset_dir), "--output_dir", str(files.dir),
            "--framework", f"@frameworks#{cell.method.framework}", "--ssl_loss", f"@ssl_losses#{cell.method.ssl_loss}",
            f"--{grid.labeled_key}", str(cell.labeled), "--seed", str(cell.seed),
            *cli_args({**grid.overrides, **cell.method.overrides}), *(["--resume", "true"] if resume else [])]


def evaluation_command(grid: Grid, cell: Cell, dataset_dir: str, files: CellFiles, which: str) -> list[str]:
    """``python -m monai.bundle run evaluating ...`` of a cell's best (``which="best"``) or last model."""
    configs = grid.config_files(cell.method, evaluate=True)
    overrides = {**grid.overrides, **cell.method.overrides, **cell.method.evaluate_overrides}
    return [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", _config_list(configs),
            *_common_args(grid, cell, dataset_dir), "--output_dir", str(files.eval_dir(which)),
            "--ckpt_path", str(files.checkpoint(which)), *cli_args(overrides)]


def _config_list(files: list[str]) -> str:
    return "[" + ",".join(f"'{f}'" for f in files) + "]"


def _quote(arg: str) -> str:
    if shlex.quote(arg) == arg:
        return arg
    if not any(c in arg for c in '"$`\\!'):
        return f'"{arg}"'  # --config_file "['a.json','b.json']" as the README writes it
    return shlex.quote(arg)


def printable(command: list[str]) -> str:
    """The command as a user would type it: ``python`` for this interpreter, paths under the working directory
    relative to it."""
    cwd = str(Path.cwd()) + os.sep
    return " ".join(_quote(a.replace(cwd, "")) for a in ["python", *command[1:]])


def step_seconds(samples: list[dict]) -> dict[str, float | None]:
    """
    Wall seconds per training iteration (validation included) from the runner's samples ``{"time", "iteration",
    "running", "segment"}``: ``alone`` over the sample pairs where this cell ran by itself, ``shared`` where it ran
    beside others (consecutive samples of one process, ``segment``, with the same ``running`` count); None when no
    such pair advanced. A process's start-up (up to its first sample after the iteration first moved) is left out.
    ``load_alone`` / ``load_shared``: the machine's mean 1-minute load average over those samples (``load`` of each
    sample; None without): "alone" counts the benchmark's cells only, a load well above this cell's threads says
    something else was running too.
    """
    totals = {"alone": [0.0, 0], "shared": [0.0, 0]}
    counted: dict[str, set[int]] = {"alone": set(), "shared": set()}  # the samples of the counted pairs
    started: set = set()  # segments past their start-up (interpreter, data loading, first records)
    for index, (a, b) in enumerate(zip(samples, samples[1:])):
        if a["segment"] != b["segment"] or b["iteration"] < a["iteration"]:
            continue
        if a["segment"] not in started:
            if b["iteration"] > a["iteration"]:
                started.add(a["segment"])  # from b on: b's iteration was reached while training
            continue
        if a["running"] != b["running"]:
            continue
        key = "alone" if a["running"] == 1 else "shared"
        totals[key][0] += b["time"] - a["time"]
        totals[key][1] += b["iteration"] - a["iteration"]
        counted[key].update(i for i in (index, index + 1) if "load" in samples[i])
    result = {k: (round(t / n, 4) if n > 0 else None) for k, (t, n) in totals.items()}
    result.update({f"load_{k}": (round(sum(samples[i]["load"] for i in v) / len(v), 2) if v else None)
                   for k, v in counted.items()})
    return result


def wall_seconds(samples: list[dict]) -> float:
    """Training wall time from the runner's samples: the sum over the training processes (``segment``) of the time
    from their first to their last sample. A process killed without warning loses at most one sample period; this
    holds where a ``train_seconds`` count written at exit would lose the whole killed process."""
    spans: dict = {}
    for sample in samples:
        first, last = spans.get(sample["segment"], (sample["time"], sample["time"]))
        spans[sample["segment"]] = (min(first, sample["time"]), max(last, sample["time"]))
    return round(sum(last - first for first, last in spans.values()), 1)


def _series(records: list[dict], max_points: int = 200) -> dict[str, list]:
    """The statistics of a training trace as columns (``iteration`` first), at most ``max_points`` rows (evenly
    subsampled, the last kept)."""
    if not records:
        return {}
    step = max(1, -(-len(records) // max_points))
    chosen = records[::step]
    if chosen[-1] is not records[-1]:
        chosen.append(records[-1])
    keys = sorted({k for r in chosen for k in r} - {"iteration", "epoch"})
    return {"iteration": [int(r["iteration"]) for r in chosen],
            **{k: [r.get(k) for r in chosen] for k in keys}}


def _read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def build_record(grid: Grid, cell: Cell, files: CellFiles, commands: dict[str, str], host: dict) -> dict:
    """The record of a finished cell (what ``benchmark report`` reads): its identity, commands, validation curve,
    best and last iteration with the metrics of their models, timing and the trace of the SSL statistics."""
    curve = files.curve()
    if not curve:
        raise RuntimeError(f"{files.val_trace} holds no validation: cannot record {cell.name}")
    best_iteration, best_dice = curve[0]
    for it, dice in curve:  # the first maximum: the best-model saver replaces model.pt on strict improvement only
        if dice > best_dice:
            best_iteration, best_dice = it, dice
    samples = [json.loads(ln) for ln in files.timing.read_text().splitlines() if ln.strip()] \
        if files.timing.is_file() else []
    train = _read_json(files.train_done)
    return {
        "version": RECORD_VERSION,
        "cell": cell.name, "method": cell.method.name, "group": cell.group, "bundle": cell.method.bundle,
        "framework": cell.method.framework, "ssl_loss": cell.method.ssl_loss, "baseline": cell.method.baseline,
        "labeled": cell.labeled, "labeled_key": grid.labeled_key, "seed": cell.seed, "grid": grid.name,
        "overrides": {**grid.overrides, **cell.method.overrides},
        "evaluate_overrides": dict(cell.method.evaluate_overrides),
        "commands": commands,
        "curve": [[it, dice] for it, dice in curve],
        "best": {"iteration": best_iteration, "val_mean_dice": best_dice,
                 "metrics": _read_json(files.eval_dir("best") / "metrics.json")},
        "last": {"iteration": curve[-1][0], "val_mean_dice": curve[-1][1],
                 "metrics": _read_json(files.eval_dir("last") / "metrics.json")},
        "train_seconds": wall_seconds(samples) if samples else train["seconds"],
        "seconds_per_iteration": step_seconds(samples),
        "evaluate_seconds": files.evaluate_seconds(),
        "ssl_trace": _series(dedupe_trace(files.train_trace)),
        "host": host,
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def write_json(path: Path, data: Any) -> None:
    """``data`` as indented JSON, written atomically (a kill leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, allow_nan=True)
        f.write("\n")
