# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Ignite state-parameter schedulers that follow the engine's iteration, so a resumed run continues them."""

from __future__ import annotations

from ignite.engine import Engine
from ignite.handlers.state_param_scheduler import StateParamScheduler

__all__ = ["follow_iteration"]


def follow_iteration(scheduler: StateParamScheduler, engine: Engine) -> None:
    """
    Make ``scheduler``'s next call evaluate its schedule at ``engine.state.iteration``.

    An Ignite :class:`~ignite.handlers.state_param_scheduler.StateParamScheduler` counts its own calls: each call
    adds one to ``event_index`` and evaluates the schedule there. That counter is not in any checkpoint, so after a
    resume (the trainer's iteration restored by ``monai.handlers.CheckpointLoader``) the schedule would restart
    from 0. Called just before the scheduler, at an iteration event (``ITERATION_STARTED``/``ITERATION_COMPLETED``,
    where Ignite has already advanced ``engine.state.iteration``), this sets the counter so that the call evaluates
    at the engine's iteration instead: iteration ``t`` of a resumed run gets the value of iteration ``t`` of the
    uninterrupted run, and a fresh run is unchanged (the counter equals the iteration there anyway).

    Used by :class:`~metassl_monai.handlers.ConsistencyRampUp` and by the EMA momentum warm-up of
    :class:`~metassl_monai.frameworks.MeanTeacher`.

    Args:
        scheduler: the state-parameter scheduler (``event_index`` is incremented before its schedule is evaluated).
        engine: the engine it is attached to.

    Raises:
        TypeError: ``scheduler`` is not a ``StateParamScheduler`` (optimizer ``ParamScheduler`` s count differently).
    """
    if not isinstance(scheduler, StateParamScheduler):
        raise TypeError(f"follow_iteration needs an ignite StateParamScheduler, got {type(scheduler).__name__}.")
    scheduler.event_index = int(engine.state.iteration) - 1
