# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The quality predictor's training (``run training_quality``, configs/train_quality.json) resumes exactly, like the
segmentation training (issue 16 part 3): killed with SIGKILL mid-way and resumed with ``--resume true``, it ends with
bitwise the weights, optimizer state, swap pool and best model of an uninterrupted run of the same seed, with the
corruption swap pool, the random states (masks, snapshot sampling, augmentations) and the data order restored, with
``num_workers`` 0 and 1. Its checkpoints are atomic, a finished run is never overwritten, and its inputs are checked.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import h5py
import pytest
import torch
from bundle_runner import bundle_root, config_list, configs, run_bundle, tensors

pytestmark = pytest.mark.slow

BUNDLE = bundle_root("qgssl_acdc")
SPLIT_ACROSS_WORKERS = lambda item: item.callspec.params.get("workers", "other") if hasattr(item, "callspec") else "other"  # noqa: E731


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory) -> Path:
    """One segmentation snapshot (randomly initialised weights of the bundle's network): masks drawn from it are the
    'real imperfect outputs' the predictor also trains on."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(configs("qgssl_acdc", "train.json", "train_cpu.json"))
    folder = tmp_path_factory.mktemp("snapshots")
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), folder / "snapshot_1.pt")
    return folder


def args(data: Path, out: Path, snapshots: Path, *extra: str, config_files=()) -> list[str]:
    return ["run", "training_quality",
            "--config_file", config_list(configs("qgssl_acdc", "train.json", "train_cpu.json", "train_quality.json",
                                                 *config_files)),
            "--bundle_root", str(BUNDLE), "--dataset_dir", str(data), "--output_dir", str(out / "segmentation"),
            "--quality_output_dir", str(out), "--quality_snapshot_glob", str(snapshots / "snapshot_*.pt"),
            "--quality_snapshot_prob", "0.5", "--quality_iterations", "8", "--quality_epoch_length", "2",
            "--quality_batch_size", "4", "--patch_size", "[32,32]", "--labeled_patients", "2", *extra]


def kill_at(tmp: Path, iteration: int) -> str:
    """A config whose training_quality SIGKILLs the process at the end of ``iteration``."""
    path = tmp / f"kill_at_{iteration}.json"
    path.write_text(json.dumps({"training_quality": [
        "$import signal",
        "$metassl_monai.engines.prepare_output_dir(@quality_output_dir, resume=@resume)",
        "$os.makedirs(@quality_output_dir, exist_ok=True)",
        "$@quality#checkpoint_loader.attach(@quality#trainer) if @resume else None",
        "$@quality#checkpoint_saver.attach(@quality#trainer)",
        f"$@quality#trainer.add_event_handler(ignite.engine.Events.ITERATION_COMPLETED(once={iteration}), "
        "lambda e: os.kill(os.getpid(), signal.SIGKILL))",
        "$@quality#trainer.run()"]}))
    return str(path)


def assert_same_run(reference: Path, resumed: Path) -> dict:
    a = torch.load(reference / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    b = torch.load(resumed / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    assert a["trainer"]["iteration"] == b["trainer"]["iteration"] == 8
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys()
    differing = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not differing, f"resumed run differs from the uninterrupted one in {differing[:8]}"
    assert a["validation"] == b["validation"]
    ma, mb = (torch.load(run / "quality_predictor.pt", weights_only=True) for run in (reference, resumed))
    pa, pb = tensors(dict(ma)), tensors(dict(mb))
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa), "not the same best predictor"
    assert (json.loads((reference / "quality_metrics.json").read_text())
            == json.loads((resumed / "quality_metrics.json").read_text()))
    return a


@pytest.fixture(scope="module")
def references(acdc_dataset, snapshots, tmp_path_factory) -> dict[str, Path]:
    """Uninterrupted runs, per num_workers, made on first use."""
    made: dict[str, Path] = {}

    def get(workers: str) -> Path:
        if workers not in made:
            out = tmp_path_factory.mktemp(f"quality_reference_{workers}") / "quality"
            run_bundle(*args(acdc_dataset, out, snapshots, "--quality_num_workers", workers))
            made[workers] = out
        return made[workers]

    return get


@pytest.mark.parametrize("workers", ["0", "1"])
def test_killed_quality_training_resumes_to_the_uninterrupted_result(acdc_dataset, snapshots, references, tmp_path,
                                                                     workers):
    reference = references(workers)
    crashed = tmp_path / "quality"
    proc = run_bundle(*args(acdc_dataset, crashed, snapshots, "--quality_num_workers", workers,
                            config_files=[kill_at(tmp_path, 5)]), check=False, subprocess=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert sorted(p.name for p in crashed.glob("checkpoint_*.pt")) == ["checkpoint_epoch=2.pt"]
    assert not list(crashed.glob(".*partial*"))
    run_bundle(*args(acdc_dataset, crashed, snapshots, "--quality_num_workers", workers, "--resume", "true"))
    ckpt = assert_same_run(reference, crashed)
    pool = ckpt["resume"]["transform_states"][0]["pool"]
    if workers == "0":  # the main process corrupts: its swap pool was saved and restored (8 iterations x 4 masks)
        assert len(pool) == 32 and all(m.dtype == torch.uint8 and m.shape == (32, 32) for m in pool)
    else:  # the workers corrupt (each pass rebuilds their pool): the main process's stays empty
        assert pool == []


def test_the_comparison_can_fail(acdc_dataset, snapshots, references, tmp_path):
    """Another seed ends elsewhere: assert_same_run is not vacuous."""
    other = tmp_path / "quality"
    run_bundle(*args(acdc_dataset, other, snapshots, "--quality_num_workers", "0", "--seed", "7"))
    with pytest.raises(AssertionError, match="differs"):
        assert_same_run(references("0"), other)


def test_a_finished_quality_run_is_never_overwritten(acdc_dataset, snapshots, references, tmp_path):
    finished = references("0")
    before = {p.name: p.stat().st_mtime_ns for p in finished.iterdir()}
    proc = run_bundle(*args(acdc_dataset, finished, snapshots), check=False)
    assert proc.returncode == 1
    assert f"the output directory {finished} already holds a trained run" in proc.stderr
    assert {p.name: p.stat().st_mtime_ns for p in finished.iterdir()} == before


def test_resume_without_a_checkpoint_names_the_directory(acdc_dataset, snapshots, tmp_path):
    proc = run_bundle(*args(acdc_dataset, tmp_path / "none", snapshots, "--resume", "true"), check=False)
    assert proc.returncode == 1
    assert f"cannot resume: the output directory {tmp_path / 'none'} does not exist" in proc.stderr


def test_a_bad_label_is_named_before_training(acdc_dataset, fresh_copy, snapshots, tmp_path):
    data = fresh_copy(acdc_dataset)
    first = (data / "train_slices.list").read_text().split()[0]
    path = data / "data" / "slices" / f"{first}.h5"
    with h5py.File(path, "r+") as f:
        label = f["label"][()]
        label[0, 0] = 7
        del f["label"]
        f.create_dataset("label", data=label)
    out = tmp_path / "quality"
    proc = run_bundle(*args(data, out, snapshots), check=False)
    assert proc.returncode == 1
    assert (f"ValueError: {path}: label 'label' has values in [0, 7], expected class indices 0..3 (num_classes=4)"
            in proc.stderr), proc.stderr[-3000:]
    assert not list(tmp_path.rglob("*.pt"))
