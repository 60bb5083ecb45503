# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Reproducibility (issue #6): the same seed on CPU gives a bitwise identical per-iteration loss trace, through the bundles
as a user runs them (the `python -m monai.bundle run training` command line, run in-process by tests/bundle_runner.py),
and another seed gives another trace. Each trace comes from its own run, written to its own output directory.

The trace is written by :class:`metassl_monai.handlers.LossTraceWriter`, appended to the training handlers by an extra
config file merged after the bundle's own; it records the trainer's ``engine.state.output["loss_terms"]``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bundle_runner import run_bundle, training_args

from metassl_monai.handlers import read_loss_trace

# 6 iterations with a validation after the 3rd (2D); 5 iterations and one validation at the end (3D, slower)
ACDC_TINY = ["--num_iterations", "6", "--val_interval", "3", "--patch_size", "[32,32]", "--batch_size", "2",
             "--unlabeled_batch_size", "2", "--labeled_patients", "1"]
LA_TINY = ["--num_iterations", "5", "--val_interval", "5", "--patch_size", "[16,16,16]", "--batch_size", "1",
           "--unlabeled_batch_size", "1", "--labeled_cases", "2", "--val_cases", "1"]
TRACE_CONFIG = {"+train#handlers": [{"_target_": "metassl_monai.handlers.LossTraceWriter", "output_dir": "@output_dir"}]}


@pytest.fixture
def acdc(acdc_dataset) -> Path:
    return acdc_dataset


@pytest.fixture
def la(la_small_dataset) -> Path:
    return la_small_dataset


@pytest.fixture(scope="module")
def trace_config(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cfg") / "loss_trace.json"
    path.write_text(json.dumps(TRACE_CONFIG))
    return str(path)


def train_trace(bundle: str, dataset: Path, out: Path, trace_config: str, *overrides: str) -> list[dict]:
    """Train ``bundle`` on CPU (``--num_iterations N`` among ``overrides``) and return its loss trace (one dict per
    iteration, checked to hold iterations 1..N), read from the file that this run wrote to ``out``."""
    assert not (out / "loss_trace.jsonl").exists(), "every trace comes from a run of its own"
    run_bundle(*training_args(bundle, dataset, out, *overrides, config_files=[trace_config]))
    trace = read_loss_trace(str(out / "loss_trace.jsonl"))
    iterations = int(overrides[overrides.index("--num_iterations") + 1])
    assert [r["iteration"] for r in trace] == list(range(1, iterations + 1))
    return trace


CASES = {
    "acdc_mean_teacher": ("metassl_acdc", "acdc", ACDC_TINY),
    "acdc_cps": ("metassl_acdc", "acdc", [*ACDC_TINY, "--framework", "@frameworks#cps"]),
    "acdc_mean_teacher_2_workers": ("metassl_acdc", "acdc", [*ACDC_TINY, "--num_workers", "2"]),
    "la_mean_teacher": ("metassl_la", "la", LA_TINY),
}



@pytest.fixture(scope="module")
def default_acdc_trace(acdc_dataset, trace_config, tmp_path_factory) -> list[dict]:
    """The metassl_acdc Mean Teacher trace with the bundle's seed (shared by the same-seed and other-seed tests)."""
    return train_trace("metassl_acdc", acdc_dataset, tmp_path_factory.mktemp("default"), trace_config, *ACDC_TINY)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_same_seed_same_loss_trace(case, request, trace_config, tmp_path):
    bundle, data, overrides = CASES[case]
    dataset = request.getfixturevalue(data)
    if case == "acdc_mean_teacher":
        first = request.getfixturevalue("default_acdc_trace")
    else:
        first = train_trace(bundle, dataset, tmp_path / "a", trace_config, *overrides)
    second = train_trace(bundle, dataset, tmp_path / "b", trace_config, *overrides)
    assert {"loss", "sup", "cons_u"} <= set(first[0])
    assert all(v == v for r in first for v in r.values()), "no NaN in the trace"
    assert first == second  # bitwise: JSON keeps every float exactly


@pytest.mark.slow
def test_other_seed_other_loss_trace(default_acdc_trace, acdc, trace_config, tmp_path):
    """The check above can fail: changing only the seed (the bundle's is 1337) changes the trace."""
    other = train_trace("metassl_acdc", acdc, tmp_path / "b", trace_config, *ACDC_TINY, "--seed", "7")
    assert [r["loss"] for r in default_acdc_trace] != [r["loss"] for r in other]


@pytest.mark.slow
def test_validation_frequency_does_not_change_training(default_acdc_trace, acdc, trace_config, tmp_path):
    """Validating after iteration 3 (the default trace) or not at all within 6 iterations trains identically: the
    validation loader draws from its own generator, not from the global RNG that dropout and the teacher noise use."""
    overrides = list(ACDC_TINY)
    overrides[overrides.index("--val_interval") + 1] = "6"
    other = train_trace("metassl_acdc", acdc, tmp_path / "b", trace_config, *overrides)

    def losses(trace):  # the epoch number differs (an epoch is val_interval iterations long), nothing else may
        return [{k: v for k, v in r.items() if k != "epoch"} for r in trace]

    assert losses(other) == losses(default_acdc_trace)
