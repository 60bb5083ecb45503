# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""What every benchmark of :mod:`metassl_monai.bench` shares: interleaved timing, results with their goals."""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

__all__ = ["Measurement", "synchronize", "time_call", "interleaved", "peak_memory_reset", "peak_memory", "progress"]


@dataclass
class Measurement:
    """
    One benchmark figure: ``value`` (a ratio ``×``, seconds, images/s or bytes, see ``unit``) with the ``goal`` it is
    held to (``None`` when it is only reported) and the raw timings/details that produced it.

    ``passed`` is ``value <= goal`` for ratios and times, ``value >= goal`` for throughputs (``higher_is_better``).
    """

    name: str
    value: float
    unit: str = "x"
    goal: float | None = None
    higher_is_better: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool | None:
        if self.goal is None:
            return None
        return self.value >= self.goal if self.higher_is_better else self.value <= self.goal

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        return out

    def line(self) -> str:
        goal = "" if self.goal is None else f"  goal {'≥' if self.higher_is_better else '≤'} {self.goal:g}{self.unit}"
        verdict = {True: "  ok", False: "  MISSED", None: ""}[self.passed]
        return f"{self.name:58s} {self.value:10.4g}{self.unit}{goal}{verdict}"


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for the device's queued work (CUDA), so a wall-clock time covers it; no-op on CPU."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], Any], device: torch.device | str | None = None) -> float:
    """Wall-clock seconds of one ``fn()`` call, the device synchronised before and after."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def interleaved(
    candidates: dict[str, Callable[[], Any]], repeats: int = 7, warmup: int = 1, device=None, label: str = ""
) -> dict[str, list[float]]:
    """
    Time every callable of ``candidates`` ``repeats`` times, interleaved (a, b, a, b, ...), after ``warmup`` untimed
    rounds, so slow drifts of the machine (other processes, frequency) hit each candidate alike. Returns the list of
    seconds per candidate; compare medians.
    """
    for _ in range(warmup):
        for fn in candidates.values():
            time_call(fn, device)
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for r in range(repeats):
        for name, fn in candidates.items():
            times[name].append(time_call(fn, device))
        progress(f"{label} {r + 1}/{repeats}")
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def peak_memory_reset(device: torch.device | str) -> None:
    """Start a peak-memory window (CUDA: ``reset_peak_memory_stats``; CPU: nothing to reset, see :func:`peak_memory`)."""
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device | str) -> int:
    """
    Peak bytes: ``torch.cuda.max_memory_allocated`` on CUDA; on CPU the process's peak resident set size
    (``ru_maxrss``), which never goes down, so measure the smaller configuration first or in its own process.
    """
    if torch.device(device).type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def progress(message: str) -> None:
    """One progress line on stderr (benchmarks run minutes); silenced with ``METASSL_BENCH_QUIET=1``."""
    if os.environ.get("METASSL_BENCH_QUIET") != "1":
        print(f"[bench] {message}", file=sys.stderr, flush=True)
