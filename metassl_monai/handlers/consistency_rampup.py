# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Sigmoid ramp-up of the consistency weight λ(t) (Laine & Aila 2017, as used by SSL4MIS and MetaSSL)."""

from __future__ import annotations

import math
from collections.abc import Callable

from ignite.engine import Engine, Events
from ignite.handlers import LambdaStateScheduler

from metassl_monai.handlers.iteration import follow_iteration

__all__ = ["SigmoidRampUp", "LinearRampUp", "ConsistencyRampUp"]


class SigmoidRampUp:
    """
    ``λ(t) = max_value · exp(−5 (1 − min(t, L)/L)²)`` with ``L = rampup_iterations`` (``max_value`` for L = 0).

    The MetaSSL/SSL4MIS code evaluates this on ``⌊t/150⌋`` with L = 200 "epochs" (full weight at 30k of 50k
    iterations); here ``t`` is the iteration, so L = 30000 reproduces it (without the 150-iteration steps).
    """

    def __init__(self, max_value: float, rampup_iterations: int) -> None:
        if max_value < 0 or rampup_iterations < 0:
            raise ValueError(f"need max_value >= 0 and rampup_iterations >= 0, got {max_value}, {rampup_iterations}.")
        self.max_value = float(max_value)
        self.rampup_iterations = int(rampup_iterations)

    def __call__(self, iteration: int) -> float:
        if self.rampup_iterations == 0:
            return self.max_value
        phase = 1.0 - min(max(iteration, 0), self.rampup_iterations) / self.rampup_iterations
        return self.max_value * math.exp(-5.0 * phase * phase)


class LinearRampUp:
    """
    ``λ(t) = 0`` for ``t < warmup_iterations``, then linear to ``max_value`` over ``rampup_iterations``, then
    ``max_value`` (QG-SSL's schedules: QAR 0 for 30 of 200 epochs, then linear over 40 to 0.01; PL-QW warm-up 15,
    linear over 30 to 0.25).

    Raises:
        ValueError: a negative argument.
    """

    def __init__(self, max_value: float, warmup_iterations: int, rampup_iterations: int) -> None:
        if max_value < 0 or warmup_iterations < 0 or rampup_iterations < 0:
            raise ValueError(
                "need max_value, warmup_iterations and rampup_iterations >= 0, got "
                f"{max_value}, {warmup_iterations}, {rampup_iterations}."
            )
        self.max_value = float(max_value)
        self.warmup_iterations = int(warmup_iterations)
        self.rampup_iterations = int(rampup_iterations)

    def __call__(self, iteration: int) -> float:
        t = iteration - self.warmup_iterations
        if t < 0:
            return 0.0
        if self.rampup_iterations == 0 or t >= self.rampup_iterations:
            return self.max_value
        return self.max_value * t / self.rampup_iterations


class ConsistencyRampUp(LambdaStateScheduler):
    """
    Ignite state-parameter scheduler setting ``engine.state.consistency_weight`` (read by
    :class:`~metassl_monai.engines.SemiSupervisedTrainer`) to ``schedule(t)`` at the start of every iteration —
    :class:`SigmoidRampUp` (``max_value``, ``rampup_iterations``) unless another ``schedule`` is given (a bundle's
    consistency-loss recipe may bring its own, e.g. :class:`LinearRampUp` for QG-SSL). The schedule is evaluated at
    ``engine.state.iteration`` (not at a private call counter), so a run resumed from a checkpoint continues the ramp
    where it stopped; nothing extra needs saving.

    Args:
        max_value: the weight reached at the end of the sigmoid ramp (0.1 in the MetaSSL code).
        rampup_iterations: iterations of the sigmoid ramp (30000 for the 50k-iteration ACDC schedule).
        param_name: the ``engine.state`` attribute to set.
        schedule: a callable ``iteration -> weight`` used instead of the sigmoid ramp.

    Raises:
        ValueError: neither ``schedule`` nor both ``max_value`` and ``rampup_iterations``, or both.
    """

    def __init__(
        self,
        max_value: float | None = None,
        rampup_iterations: int | None = None,
        param_name: str = "consistency_weight",
        schedule: Callable[[int], float] | None = None,
    ) -> None:
        sigmoid_args = (max_value, rampup_iterations)
        if schedule is None and None in sigmoid_args or schedule is not None and sigmoid_args != (None, None):
            raise ValueError(
                "give either schedule, or max_value and rampup_iterations (the sigmoid ramp); got "
                f"schedule={schedule!r}, max_value={max_value}, rampup_iterations={rampup_iterations}."
            )
        self.schedule = schedule if schedule is not None else SigmoidRampUp(max_value, rampup_iterations)  # type: ignore[arg-type]
        super().__init__(self.schedule, param_name=param_name, create_new=True)

    def __call__(self, engine: Engine) -> None:
        follow_iteration(self, engine)  # a resumed run continues the ramp where it was instead of restarting it
        super().__call__(engine)

    def attach(self, engine: Engine, event: Events = Events.ITERATION_STARTED) -> None:  # type: ignore[override]
        # the trainer may already hold an initial value: take it over instead of refusing to attach
        self.create_new = not hasattr(engine.state, self.param_name)
        super().attach(engine, event)
