# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""A per-iteration loss log as JSON lines, e.g. to plot a run or to compare two runs exactly."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.distributed as dist
from ignite.engine import Engine, Events

__all__ = ["LossTraceWriter", "read_loss_trace"]


def _loss_terms(output: Any) -> Any:
    return output["loss_terms"]


class LossTraceWriter:
    """
    Append one JSON line per training iteration (every ``interval`` iterations) to ``output_dir/filename``::

        {"iteration": 12, "epoch": 1, "loss": 0.83, "sup": 0.61, "cons_u": 0.22, ...}

    The terms are ``output_transform(engine.state.output)`` — by default the ``loss_terms`` of
    :class:`metassl_monai.engines.SemiSupervisedTrainer`, a mapping of floats that stays on the device until read
    (:class:`~metassl_monai.lazy_floats.LazyFloats`) — converted to Python floats; JSON keeps every float exactly
    (``repr`` round-trip), so two traces can be compared bitwise. Non-finite values are written as ``NaN`` /
    ``Infinity`` (what Python's ``json`` reads back). Reading the terms is what copies them to the host: on a GPU,
    ``interval=1`` waits for the device once per iteration (a larger ``interval`` only then).

    The file is truncated when the engine starts from iteration 0 and appended to when it starts later (a resumed
    run). Under ``torch.distributed`` only rank 0 writes. The file is opened for each line, so the trace of a run
    that crashed is complete up to the crash.

    In a bundle, add it to the training handlers with an extra config file merged after ``train.json``::

        {"+train#handlers": [{"_target_": "metassl_monai.handlers.LossTraceWriter", "output_dir": "@output_dir"}]}

    Args:
        output_dir: folder to write to (created if needed).
        filename: name of the JSON-lines file.
        output_transform: maps ``engine.state.output`` to a mapping ``name → number`` (float or 0-dim tensor).
        interval: write every ``interval`` iterations (≥ 1).

    Raises:
        ValueError: ``interval`` < 1.
        TypeError: (when writing) the transformed output is not a mapping.
    """

    def __init__(
        self,
        output_dir: str,
        filename: str = "loss_trace.jsonl",
        output_transform: Callable[[Any], Mapping[str, Any]] = _loss_terms,
        interval: int = 1,
    ) -> None:
        if int(interval) < 1:
            raise ValueError(f"interval must be >= 1, got {interval}.")
        self.output_dir = str(output_dir)
        self.filename = filename
        self.output_transform = output_transform
        self.interval = int(interval)

    @property
    def path(self) -> str:
        return os.path.join(self.output_dir, self.filename)

    def attach(self, engine: Engine) -> None:
        # at the first iteration, not at STARTED: a checkpoint loader attached after this handler restores the
        # iteration count at STARTED, after this handler would have run (the bundles attach it in ``training``)
        engine.add_event_handler(Events.STARTED, self._arm)
        engine.add_event_handler(Events.ITERATION_STARTED, self._start)
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=self.interval), self)

    @staticmethod
    def _is_writer() -> bool:
        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0

    def _arm(self, engine: Engine) -> None:
        self._first_iteration = True

    def _start(self, engine: Engine) -> None:
        if not getattr(self, "_first_iteration", False):
            return
        self._first_iteration = False
        if self._is_writer() and engine.state.iteration == 1:  # a run from iteration 0, not a resumed one
            os.makedirs(self.output_dir, exist_ok=True)
            open(self.path, "w", encoding="utf-8").close()

    def __call__(self, engine: Engine) -> None:
        if not self._is_writer():
            return
        terms = self.output_transform(engine.state.output)
        if not isinstance(terms, Mapping):
            raise TypeError(f"output_transform must return a mapping name -> number, got {type(terms)}.")
        record: dict[str, Any] = {"iteration": int(engine.state.iteration), "epoch": int(engine.state.epoch)}
        for name, value in terms.items():
            record[str(name)] = float(value.detach().cpu()) if isinstance(value, torch.Tensor) else float(value)
        os.makedirs(self.output_dir, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:  # one line per write: complete up to a crash
            f.write(json.dumps(record, allow_nan=True) + "\n")


def read_loss_trace(path: str) -> list[dict[str, float]]:
    """Read a file written by :class:`LossTraceWriter`: one dict per line, in order."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

