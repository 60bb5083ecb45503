# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Resume after a crash, through `python -m monai.bundle` as a user runs it: a training run killed with SIGKILL
mid-way and resumed with ``--resume true`` from its last checkpoint ends with the same weights, EMA teacher,
optimizer state and MetaSSL thresholds as an uninterrupted run of the same seed; and a finished run's directory is
never silently overwritten. The runs that are killed are real ``python -m monai.bundle`` processes; the others run
in-process through the same command line (tests/bundle_runner.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess as subprocess_
import sys
import time
from pathlib import Path

import pytest
import torch
from bundle_runner import ACDC_TINY, SUBPROCESS_ENV, run_bundle, tensors, training_args

from metassl_monai.data import write_uamt_la_dataset

ENV = dict(os.environ, **SUBPROCESS_ENV)
LA_TINY = ["--patch_size", "[16,16,16]", "--batch_size", "1", "--unlabeled_batch_size", "1", "--labeled_cases", "1",
           "--val_cases", "1"]


def command(bundle: str, data: Path, out: Path, extra_configs=(), args=()) -> list[str]:
    """``monai.bundle`` arguments of a CPU training of ``bundle`` (train.json + train_cpu.json + ``extra_configs``)."""
    return training_args(bundle, data, out, *args, config_files=extra_configs)


def run(args: list[str], expect_ok: bool = True, subprocess: bool = False) -> subprocess_.CompletedProcess:
    """The training in this process, or (``subprocess=True``: a run that kills itself) in a child process."""
    return run_bundle(*args, check=expect_ok, subprocess=subprocess)


def training_calls(tmp: Path, name: str, calls: list[str]) -> str:
    """An extra config file replacing the ``training`` entry point by ``calls`` (what the tests hook in)."""
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"training": calls}))
    return str(path)


ATTACH = ["$@train#checkpoint_loader.attach(@train#trainer) if @resume else None",
          "$@train#checkpoint_saver.attach(@train#trainer)"]


def kill_at(tmp: Path, iteration: int) -> str:
    """The process SIGKILLs itself at the end of ``iteration`` (after that iteration's handlers: deterministic)."""
    return training_calls(tmp, f"kill_at_{iteration}", ["$import signal", *ATTACH,
        f"$@train#trainer.add_event_handler(ignite.engine.Events.ITERATION_COMPLETED(once={iteration}), "
        "lambda e: os.kill(os.getpid(), signal.SIGKILL))", "$@train#trainer.run()"])


def slow(tmp: Path, seconds: float) -> str:
    """Every iteration sleeps ``seconds`` so that a kill from outside lands mid-run."""
    return training_calls(tmp, "slow", ["$import time", *ATTACH,
        f"$@train#trainer.add_event_handler(ignite.engine.Events.ITERATION_COMPLETED, lambda e: time.sleep({seconds}))",
        "$@train#trainer.run()"])


def assert_same_run(reference: Path, resumed: Path) -> dict:
    a = torch.load(reference / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    b = torch.load(resumed / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    assert a["trainer"]["iteration"] == b["trainer"]["iteration"]
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    differing = [k for k in ta if not torch.allclose(ta[k].double(), tb[k].double(), atol=1e-6, rtol=0)]
    assert not differing, f"resumed run differs from the uninterrupted one in {differing[:8]}"
    thresholds = {k: v for k, v in ta.items() if k.endswith("thresholds")}
    assert thresholds, "the checkpoint holds the adaptive thresholds"
    ma = torch.load(reference / "model.pt", map_location="cpu", weights_only=True)
    mb = torch.load(resumed / "model.pt", map_location="cpu", weights_only=True)
    assert all(torch.equal(ma[k], mb[k]) for k in ma), "the best model of the resumed run is the reference's"
    return a


@pytest.fixture(scope="module")
def acdc(acdc_dataset) -> Path:
    return acdc_dataset


ARGS = [*ACDC_TINY, "--num_iterations", "12", "--val_interval", "3"]  # epochs of 3 iterations: checkpoints 3, 6, 9


@pytest.fixture(scope="module")
def acdc_reference(acdc, tmp_path_factory) -> Path:
    """The uninterrupted MT + MetaSSL run the default-framework cases compare with."""
    out = tmp_path_factory.mktemp("reference") / "run"
    run(command("metassl_acdc", acdc, out, args=ARGS))
    return out


ACDC_CASES = {
    # name: (extra args, kill at iteration)
    "mt_metassl": ([], 7),
    "cps_metassl": (["--framework", "@frameworks#cps"], 8),
    "cct_metassl": (["--framework", "@frameworks#cct"], 8),  # two decoders, four threshold sets
    "fixmatch_metassl": (["--framework", "@frameworks#fixmatch"], 7),  # the strong view's random intensity states
    "mt_metassl_workers": (["--num_workers", "1"], 5),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(ACDC_CASES))
def test_killed_run_resumes_to_the_uninterrupted_result(acdc, acdc_reference, tmp_path, case):
    extra, kill = ACDC_CASES[case]
    args = [*ARGS, *extra]
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    if extra:
        run(command("metassl_acdc", acdc, reference, args=args))
    else:
        reference = acdc_reference

    proc = run(command("metassl_acdc", acdc, crashed, [kill_at(tmp_path, kill)], args), expect_ok=False,
               subprocess=True)
    assert proc.returncode == -signal.SIGKILL
    assert not (crashed / "checkpoint_final.pt").exists()
    last = kill // 3
    assert sorted(p.name for p in crashed.glob("checkpoint_*.pt")) == [f"checkpoint_epoch={last}.pt"]

    run(command("metassl_acdc", acdc, crashed, args=[*args, "--resume", "true"]))
    ckpt = assert_same_run(reference, crashed)
    assert ckpt["trainer"]["iteration"] == 12
    # the MetaSSL thresholds moved from their initial value (the comparison above is not of untouched buffers)
    taus = [v for k, v in tensors(ckpt).items() if k.endswith("consistency_losses/0.thresholds")]
    assert taus and not torch.allclose(taus[0], torch.full_like(taus[0], 0.9))


@pytest.mark.slow
def test_the_comparison_can_fail(acdc, acdc_reference, tmp_path):
    """Another seed ends elsewhere: assert_same_run is not vacuous."""
    other = tmp_path / "other"
    run(command("metassl_acdc", acdc, other, args=[*ARGS, "--seed", "7"]))
    with pytest.raises(AssertionError, match="differs"):
        assert_same_run(acdc_reference, other)


@pytest.mark.slow
def test_kill_from_outside_at_any_moment_then_resume(acdc, acdc_reference, tmp_path):
    """SIGKILL sent by another process while the run trains, validates or writes a checkpoint."""
    crashed = tmp_path / "crashed"
    proc = subprocess_.Popen([sys.executable, "-m", "monai.bundle",
                              *command("metassl_acdc", acdc, crashed, [slow(tmp_path, 0.4)], ARGS)],
                             stdout=subprocess_.DEVNULL, stderr=subprocess_.DEVNULL, env=ENV)
    deadline = time.time() + 600
    while not (crashed / "checkpoint_epoch=2.pt").exists():
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.02)
    time.sleep(0.5)  # somewhere in epoch 3 (iterations of at least 0.4 s)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(60) == -signal.SIGKILL
    assert not (crashed / "checkpoint_final.pt").exists()
    for path in crashed.glob("checkpoint_*.pt"):  # every checkpoint left behind is complete
        torch.load(path, map_location="cpu", weights_only=True)

    run(command("metassl_acdc", acdc, crashed, args=[*ARGS, "--resume", "true"]))
    assert_same_run(acdc_reference, crashed)


@pytest.mark.slow
def test_3d_la_mean_teacher_resumes(tmp_path):
    data = write_uamt_la_dataset(tmp_path / "LA", n_cases=5, n_test=1, shape=(24, 24, 20), seed=1)
    args = [*LA_TINY, "--num_iterations", "4", "--val_interval", "2"]
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    run(command("metassl_la", data, reference, args=args))
    proc = run(command("metassl_la", data, crashed, [kill_at(tmp_path, 3)], args), expect_ok=False, subprocess=True)
    assert proc.returncode == -signal.SIGKILL
    run(command("metassl_la", data, crashed, args=[*args, "--resume", "true"]))
    assert_same_run(reference, crashed)


def leaves(obj, prefix: str = "") -> dict[str, object]:
    """Every leaf of a loaded checkpoint by path (tensors as their bytes' digest): its content, not its pickling."""
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in leaves(value, f"{prefix}/{key}").items()}
    if isinstance(obj, (list, tuple)):
        return {k: v for i, value in enumerate(obj) for k, v in leaves(value, f"{prefix}/{i}").items()}
    if isinstance(obj, torch.Tensor):
        return {prefix: (str(obj.dtype), tuple(obj.shape), hashlib.sha256(obj.numpy().tobytes()).hexdigest())}
    return {prefix: obj}


def snapshot(directory: Path) -> dict[str, object]:
    """Files by content; a checkpoint by what it holds (``torch.save`` of equal objects may differ in bytes)."""
    found = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            name = str(p.relative_to(directory))
            found[name] = (leaves(torch.load(p, map_location="cpu", weights_only=True)) if p.suffix == ".pt"
                           else hashlib.sha256(p.read_bytes()).hexdigest())
    return found


@pytest.mark.slow
def test_a_finished_run_is_never_overwritten(acdc, tmp_path):
    args = [*ACDC_TINY, "--num_iterations", "3", "--val_interval", "3"]
    out = tmp_path / "run"
    run(command("metassl_acdc", acdc, out, args=args))
    before = snapshot(out)
    assert "model.pt" in before and "checkpoint_final.pt" in before
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    proc = run(command("metassl_acdc", acdc, out, args=args), expect_ok=False)
    assert proc.returncode != 0
    assert f"the output directory {out} already holds a trained run" in proc.stderr
    assert "--resume true" in proc.stderr
    assert snapshot(out) == before, "nothing on disk changed"
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps, "not even rewritten"

    # resuming a finished run trains no further: its files keep their content (the final checkpoint is written again,
    # identical, with the stream positions and random states it was loaded with)
    run(command("metassl_acdc", acdc, out, args=[*args, "--resume", "true"]))
    after = snapshot(out)
    assert {k: v for k, v in after.items() if not k.startswith("events")} == \
        {k: v for k, v in before.items() if not k.startswith("events")}


@pytest.mark.slow
def test_resume_without_a_checkpoint_names_the_directory(acdc, tmp_path):
    out = tmp_path / "empty"
    proc = run(command("metassl_acdc", acdc, out, args=[*ACDC_TINY, "--resume", "true"]), expect_ok=False)
    assert proc.returncode != 0
    assert f"cannot resume: the output directory {out} does not exist" in proc.stderr
    assert not out.exists()
