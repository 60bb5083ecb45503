# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
How long a cell still needs, from the records of the cells already run: what ``benchmark run --hours H`` uses to start
only the cells that end within ``H`` hours.

A runner whose disk outlives it does not need this (an interrupted cell resumes from its last checkpoint). One on a
machine that is handed back at a fixed time (a session, a spot instance, a scheduler's wall-time limit on a scratch
disk) loses the whole training of a cell still running then: with ``--hours`` it fills the time with cells that finish.

The estimate is deliberately pessimistic: the slowest recorded cell of the same kind (bundle, framework, loss), per
iteration, times the iterations left, plus the slowest recorded evaluation of the bundle, times :data:`SAFETY`. A cell
of a kind never recorded is estimated from the method its grid says it is like (``timed_like``, times its factor);
without one it has no estimate and is not started before a deadline. The runner also stops a training whose
measured pace says it would miss the deadline (records may come from a faster machine).
"""

from __future__ import annotations

from metassl_monai.benchmark.grid import Cell, Method

__all__ = ["SAFETY", "EVALUATE_SECONDS_UNTIMED", "recorded_seconds_per_iteration", "expected_seconds"]

SAFETY = 1.1
# When no record of the bundle timed its evaluations (records written before they were): a generous allowance for the
# two evaluations (best and last model); the first record that times them replaces it.
EVALUATE_SECONDS_UNTIMED = 600.0


def _same_kind(record: dict, method: Method) -> bool:
    return (record.get("bundle"), record.get("framework"), record.get("ssl_loss")) == (
        method.bundle, method.framework, method.ssl_loss)


def recorded_seconds_per_iteration(records: list[dict], cell: Cell | Method) -> tuple[float, dict, int] | None:
    """The slowest recorded training pace of ``cell``'s kind (bundle, framework, loss), its record and how many timed
    records of the kind there are, or None."""
    method = cell.method if isinstance(cell, Cell) else cell
    same = [r for r in records if _same_kind(r, method) and r.get("train_seconds") and r["last"].get("iteration")]
    if not same:
        return None
    slowest = max(same, key=lambda r: r["train_seconds"] / r["last"]["iteration"])
    return slowest["train_seconds"] / slowest["last"]["iteration"], slowest, len(same)


def expected_seconds(records: list[dict], cell: Cell, train: bool, done_iterations: int = 0,
                     iterations: int | None = None, pace: float = 1.0) -> tuple[float | None, str]:
    """
    The wall seconds ``cell`` still needs and where the figure comes from.

    Args:
        records: the records of the cells already run (:func:`~metassl_monai.benchmark.report.load_records`).
        cell: the cell to estimate.
        train: whether it still has to train (False: only its evaluations are left).
        done_iterations: iterations it resumes from (its last checkpoint).
        iterations: its training length (default: that of the records it is estimated from).
        pace: how much slower this machine trains than the records (measured on the cells running now: the records
            may come from another machine); multiplies the training part.

    Returns:
        ``(seconds, source)``; ``seconds`` is None when no record of the same bundle, framework and loss exists, nor
        of the method the grid says it is timed like (``timed_like``).
    """
    timed = [float(r["evaluate_seconds"]) for r in records
             if r.get("bundle") == cell.method.bundle and r.get("evaluate_seconds")]
    evaluate = max(timed) if timed else EVALUATE_SECONDS_UNTIMED
    if not train:
        return SAFETY * evaluate, "evaluations only"
    method, factor, like = cell.method, 1.0, ""
    recorded = recorded_seconds_per_iteration(records, method)
    if recorded is None and method.timed_like is not None:  # never recorded: the grid names a method it is like
        recorded = recorded_seconds_per_iteration(records, method.timed_like)
        factor = method.timed_like_factor
        like = f" x {factor:.2f} (timed like {method.timed_like.name} until a cell of {method.name} is recorded)"
    if recorded is None:
        return None, (f"no record of {method.bundle} / {method.framework} / {method.ssl_loss}"
                      + (f" or of {method.timed_like.name}" if method.timed_like is not None else "")
                      + " to estimate it from")
    per_iteration, slowest, count = recorded
    total = iterations or int(slowest["last"]["iteration"])
    seconds = SAFETY * (pace * factor * per_iteration * max(0, total - done_iterations) + evaluate)
    return seconds, (f"{per_iteration:.2f} s/it of {slowest['cell']}, the slowest of {count} record(s)" + like
                     + (f", x {pace:.2f} for this machine" if pace != 1.0 else ""))
