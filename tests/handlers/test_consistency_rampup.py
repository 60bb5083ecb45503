# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the sigmoid ramp-up of the consistency weight and of its Ignite state scheduler."""

from __future__ import annotations

import math

import pytest
from ignite.engine import Engine, Events

from metassl_monai.handlers import ConsistencyRampUp, LinearRampUp, SigmoidRampUp


def by_hand(max_value: float, length: int, t: int) -> float:
    return max_value * math.exp(-5.0 * (1.0 - min(t, length) / length) ** 2)


@pytest.mark.parametrize(
    "max_value, length, t, expected",
    [
        # exp(-5) = 0.006737946999085467, exp(-1.25) = 0.28650479686019010
        (1.0, 10, 0, 0.006737946999085467),
        (1.0, 10, 5, 0.28650479686019010),
        (1.0, 10, 10, 1.0),
        (1.0, 10, 20, 1.0),
        (0.1, 30000, 0, 0.1 * 0.006737946999085467),
        (0.1, 30000, 15000, 0.1 * 0.28650479686019010),
        (0.1, 30000, 30000, 0.1),
        (0.1, 30000, 60000, 0.1),
        (2.5, 8, 2, 2.5 * math.exp(-5.0 * 0.75**2)),  # exp(-2.8125)
        (2.5, 8, 6, 2.5 * math.exp(-5.0 * 0.25**2)),  # exp(-0.3125)
    ],
)
def test_sigmoid_rampup_values(max_value, length, t, expected):
    ramp = SigmoidRampUp(max_value, length)
    assert ramp(t) == pytest.approx(expected, rel=1e-12)
    assert ramp(t) == pytest.approx(by_hand(max_value, length, t), rel=1e-12)


def test_sigmoid_rampup_is_monotone_and_reaches_max():
    ramp = SigmoidRampUp(0.3, 50)
    values = [ramp(t) for t in range(0, 80)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert values[50:] == [0.3] * 30
    assert values[49] < 0.3


def test_sigmoid_rampup_negative_iteration_clamped_to_zero():
    ramp = SigmoidRampUp(1.0, 10)
    assert ramp(-5) == ramp(0) == pytest.approx(math.exp(-5.0))


@pytest.mark.parametrize("max_value", [0.0, 0.1, 3.0])
@pytest.mark.parametrize("t", [0, 1, 1000])
def test_sigmoid_rampup_zero_length_gives_max(max_value, t):
    assert SigmoidRampUp(max_value, 0)(t) == max_value


@pytest.mark.parametrize("max_value, length", [(-0.1, 10), (0.1, -1), (-1.0, -1)])
def test_negative_arguments_raise(max_value, length):
    with pytest.raises(ValueError, match=">= 0"):
        SigmoidRampUp(max_value, length)
    with pytest.raises(ValueError, match=">= 0"):
        ConsistencyRampUp(max_value, length)


def _run_dummy(scheduler: ConsistencyRampUp, n_iterations: int, param: str = "consistency_weight", **attach_kw):
    engine = Engine(lambda e, b: None)
    scheduler.attach(engine, **attach_kw)
    seen: list[tuple[int, float]] = []

    @engine.on(Events.ITERATION_STARTED)
    def record(e):  # registered after the scheduler: sees the value the iteration's step will read
        seen.append((e.state.iteration, getattr(e.state, param)))

    engine.run(range(n_iterations), max_epochs=1)
    return engine, seen


@pytest.mark.parametrize("max_value, length", [(0.1, 4), (1.0, 10), (0.5, 0)])
def test_consistency_rampup_sets_state_at_iteration_started(max_value, length):
    sched = ConsistencyRampUp(max_value, length)
    engine, seen = _run_dummy(sched, 5)
    assert [t for t, _ in seen] == [1, 2, 3, 4, 5]
    ramp = SigmoidRampUp(max_value, length)
    for t, value in seen:
        assert value == pytest.approx(ramp(t), rel=1e-12)
        if length:
            assert value == pytest.approx(by_hand(max_value, length, t), rel=1e-12)
    assert engine.state.consistency_weight == pytest.approx(ramp(5))


def test_consistency_rampup_values_for_l4_by_hand():
    _, seen = _run_dummy(ConsistencyRampUp(0.1, 4), 5)
    expected = [0.1 * math.exp(-5 * x) for x in (0.5625, 0.25, 0.0625, 0.0, 0.0)]
    assert [v for _, v in seen] == pytest.approx(expected, rel=1e-12)


def test_consistency_rampup_is_set_before_the_process_function():
    sched = ConsistencyRampUp(1.0, 3)
    read: list[float] = []
    engine = Engine(lambda e, b: read.append(e.state.consistency_weight))
    sched.attach(engine)
    engine.run(range(4), max_epochs=1)
    assert read == pytest.approx([SigmoidRampUp(1.0, 3)(t) for t in (1, 2, 3, 4)])


def test_consistency_rampup_custom_param_name():
    engine, seen = _run_dummy(ConsistencyRampUp(1.0, 2, param_name="lam"), 3, param="lam")
    assert [v for _, v in seen] == pytest.approx([math.exp(-1.25), 1.0, 1.0])
    assert not hasattr(engine.state, "consistency_weight")


def test_consistency_rampup_follows_the_engine_iteration_after_a_resume():
    # a resumed trainer restores its iteration from the checkpoint; the ramp must continue at 6, 7, 8 (a call counter
    # would restart it at 1, 2, 3)
    sched = ConsistencyRampUp(1.0, 10)
    seen: list[tuple[int, float]] = []
    engine = Engine(lambda e, b: seen.append((e.state.iteration, e.state.consistency_weight)))
    sched.attach(engine)
    engine.load_state_dict({"iteration": 5, "epoch_length": 5, "max_epochs": 2})
    engine.run(range(5), max_epochs=2)
    assert [t for t, _ in seen] == [6, 7, 8, 9, 10]
    assert [v for _, v in seen] == pytest.approx([by_hand(1.0, 10, t) for t in (6, 7, 8, 9, 10)], rel=1e-12)


def test_consistency_rampup_takes_over_an_existing_initial_value():
    # the trainer sets an initial state.consistency_weight; the ramp attaches anyway and overwrites it from iteration 1
    engine = Engine(lambda e, b: None)
    engine.state.consistency_weight = 123.0
    ConsistencyRampUp(1.0, 10).attach(engine)
    assert engine.state.consistency_weight == 123.0
    seen = []
    engine.add_event_handler(Events.ITERATION_STARTED, lambda e: seen.append(e.state.consistency_weight))
    engine.run([0, 1], max_epochs=1)
    assert seen == pytest.approx([by_hand(1.0, 10, 1), by_hand(1.0, 10, 2)], rel=1e-12)


# ----------------------------------------------------------------------------------------------------------------------
# LinearRampUp (QG-SSL's per-term schedules) and ConsistencyRampUp with a schedule of its own
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "max_value, warmup, length, t, expected",
    [
        # QAR at 200 "epochs" of 10 iterations: 0 for 300 iterations, linear over 400 to 0.01
        (0.01, 300, 400, 0, 0.0),
        (0.01, 300, 400, 299, 0.0),
        (0.01, 300, 400, 300, 0.0),
        (0.01, 300, 400, 400, 0.0025),
        (0.01, 300, 400, 500, 0.005),
        (0.01, 300, 400, 700, 0.01),
        (0.01, 300, 400, 5000, 0.01),
        # PL-QW: warm-up 150, linear over 300 to 0.25
        (0.25, 150, 300, 225, 0.0625),
        (0.25, 150, 300, 449, 0.25 * 299 / 300),
        (0.25, 150, 300, 450, 0.25),
        # no warm-up, no ramp: a constant from the first iteration
        (2.0, 0, 0, 0, 2.0),
        (2.0, 0, 0, 7, 2.0),
        # warm-up but no ramp: a step
        (1.0, 5, 0, 4, 0.0),
        (1.0, 5, 0, 5, 1.0),
    ],
)
def test_linear_rampup_values(max_value, warmup, length, t, expected):
    assert LinearRampUp(max_value, warmup, length)(t) == pytest.approx(expected, rel=1e-12, abs=0.0)


def test_linear_rampup_is_monotone():
    ramp = LinearRampUp(0.25, 3, 4)
    values = [ramp(t) for t in range(12)]
    assert values == pytest.approx([0, 0, 0, 0, 0.0625, 0.125, 0.1875, 0.25, 0.25, 0.25, 0.25, 0.25])


@pytest.mark.parametrize("args", [(-0.1, 0, 1), (0.1, -1, 1), (0.1, 0, -1)])
def test_linear_rampup_negative_arguments_raise(args):
    with pytest.raises(ValueError, match=">= 0"):
        LinearRampUp(*args)


def test_consistency_rampup_with_a_schedule_sets_its_values():
    _, seen = _run_dummy(ConsistencyRampUp(schedule=LinearRampUp(1.0, 2, 4)), 7)
    assert [v for _, v in seen] == pytest.approx([0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0])


def test_consistency_rampup_with_a_schedule_follows_a_resume():
    sched = ConsistencyRampUp(schedule=LinearRampUp(1.0, 2, 8))
    seen: list[float] = []
    engine = Engine(lambda e, b: seen.append(e.state.consistency_weight))
    sched.attach(engine)
    engine.load_state_dict({"iteration": 4, "epoch_length": 4, "max_epochs": 2})
    engine.run(range(4), max_epochs=2)
    assert seen == pytest.approx([0.375, 0.5, 0.625, 0.75])  # iterations 5..8: (t - 2) / 8


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"max_value": 0.1},
        {"rampup_iterations": 10},
        {"schedule": LinearRampUp(1.0, 0, 1), "max_value": 0.1},
        {"schedule": LinearRampUp(1.0, 0, 1), "max_value": 0.1, "rampup_iterations": 10},
    ],
)
def test_consistency_rampup_needs_a_schedule_or_both_sigmoid_arguments(kwargs):
    with pytest.raises(ValueError, match="give either schedule, or max_value and rampup_iterations"):
        ConsistencyRampUp(**kwargs)


# ----------------------------------------------------------------------------------------------------------------------
# follow_iteration: the one helper behind the ramp-up and the Mean Teacher EMA warm-up
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("event", [Events.ITERATION_STARTED, Events.ITERATION_COMPLETED])
@pytest.mark.parametrize("resume_at, n_more", [(0, 4), (3, 2), (7, 5)])
@pytest.mark.parametrize("follow", [True, False])
def test_follow_iteration_makes_a_state_scheduler_evaluate_at_the_engine_iteration(event, resume_at, n_more, follow):
    from ignite.handlers import LambdaStateScheduler

    from metassl_monai.handlers import follow_iteration

    sched = LambdaStateScheduler(lambda t: 10.0 * t, param_name="p", create_new=True)
    engine = Engine(lambda e, b: None)
    if follow:
        engine.add_event_handler(event, lambda e: follow_iteration(sched, e))  # before the scheduler: runs first
    sched.attach(engine, event)
    seen: list[float] = []
    engine.add_event_handler(event, lambda e: seen.append(e.state.p))
    total = resume_at + n_more
    if resume_at:
        engine.load_state_dict({"iteration": resume_at, "epoch_length": total, "max_epochs": 1})
    engine.run(range(total), max_epochs=1)
    iterations = list(range(resume_at + 1, total + 1))
    # following the engine: value of iteration t is 10 t; the scheduler's own call counter restarts at 1 on resume
    expected = [10.0 * t for t in iterations] if follow else [10.0 * (i + 1) for i in range(n_more)]
    assert seen == expected


def test_follow_iteration_rejects_an_optimizer_param_scheduler():
    import torch
    from ignite.handlers import LinearCyclicalScheduler

    from metassl_monai.handlers import follow_iteration

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = LinearCyclicalScheduler(opt, "lr", 0.0, 1.0, cycle_size=4)
    engine = Engine(lambda e, b: None)
    with pytest.raises(TypeError, match="StateParamScheduler, got LinearCyclicalScheduler"):
        follow_iteration(sched, engine)


@pytest.mark.parametrize("resume_at", [0, 2, 5])
def test_mean_teacher_ema_warmup_follows_the_engine_iteration_after_a_resume(resume_at):
    import torch

    from metassl_monai.frameworks import MeanTeacher

    warmup, decay, start = 6, 0.9, 1.0
    mt = MeanTeacher(torch.nn.Conv2d(1, 2, 1), ema_decay=decay, ema_warmup_iterations=warmup, ema_warmup_momentum=start)
    engine = Engine(lambda e, b: None)
    mt.attach(engine)
    seen: list[tuple[int, float]] = []

    @engine.on(Events.ITERATION_COMPLETED)
    def record(e):  # registered after the EMA handler: sees the momentum this iteration's update used
        seen.append((e.state.iteration, e.state.ema_momentum))

    total = resume_at + 3
    if resume_at:
        engine.load_state_dict({"iteration": resume_at, "epoch_length": total, "max_epochs": 1})
    engine.run(range(total), max_epochs=1)
    # Ignite's EMAWarmUp by hand: mu(t) = start + (1 - decay - start) (t - 1) / (warmup - 1), clamped at 1 - decay
    iterations = range(resume_at + 1, total + 1)
    by_hand = [(t, max(1 - decay, start + (1 - decay - start) * (t - 1) / (warmup - 1))) for t in iterations]
    assert [t for t, _ in seen] == [t for t, _ in by_hand]
    assert [m for _, m in seen] == pytest.approx([m for _, m in by_hand], rel=1e-12)
