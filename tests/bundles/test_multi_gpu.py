# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Every bundle's ``multi_gpu_train.json`` / ``multi_gpu_evaluate.json`` run as a user runs them, with
``torchrun --nproc_per_node=2`` on the CPU (gloo backend): the two processes train on different shards and must end
with identical weights, teacher, BatchNorm statistics and adaptive thresholds; a sharded evaluation must give the
metrics of a single-process one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bundle_runner import ACDC_TINY, BUNDLES, LA_PATCH, REPO, config_list, run_bundle, run_module, tensors

from metassl_monai.data import make_acdc_like_dataset

TORCHRUN = ["--nproc_per_node=2", "--nnodes=1", "-m", "monai.bundle"]
LA_TINY = ["--patch_size", LA_PATCH, "--batch_size", "1", "--unlabeled_batch_size", "1", "--labeled_cases", "2",
           "--val_cases", "2"]

# appended to the configs by the tests: each rank saves what must agree across ranks, and the shard it trained on
RANK_DUMP = {
    "finalize": [
        "$torch.save({'framework': @framework.state_dict(), "
        "'consistency': @train#branch_losses.unlabeled.state_dict(), "
        "'labeled_consistency': @train#branch_losses.labeled.state_dict(), "
        "'labeled_shard': list(iter(@train#sampler)), 'unlabeled_shard': list(iter(@train#unlabeled_sampler)), "
        "'iteration': @train#trainer.state.iteration}, "
        "@output_dir + '/rank' + str(dist.get_rank()) + '.pt')",
        "$dist.is_initialized() and dist.destroy_process_group()",
    ]
}


def torchrun(*args: str):
    """``torchrun --nproc_per_node=2 -m monai.bundle ARGS``: two real processes (gloo on the CPU)."""
    return run_module("torch.distributed.run", *TORCHRUN, *args, subprocess=True, cwd=REPO)


@pytest.fixture(scope="module")
def acdc(tmp_path_factory) -> Path:
    return make_acdc_like_dataset(tmp_path_factory.mktemp("acdc") / "data", n_train_patients=3, n_val_patients=3,
                                  size=(32, 32), size_jitter=4, depth_range=(4, 5), seed=3)


@pytest.fixture(scope="module")
def la(la_dataset) -> Path:
    return la_dataset


def random_la_predictor(bundle: str, path: Path) -> None:
    """A randomly initialised 3D quality predictor at the CPU setting (qgssl_la ships no weights)."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(BUNDLES / bundle / "configs" / f) for f in ("train.json", "train_cpu.json")])
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("quality_predictor_def").state_dict(), path)


CASES = {
    # id: (bundle, dataset fixture, extra overrides)
    "metassl_acdc-mt": ("metassl_acdc", "acdc", ["--framework", "@frameworks#mean_teacher"]),
    "metassl_acdc-cps": ("metassl_acdc", "acdc", ["--framework", "@frameworks#cps"]),
    "metassl_acdc-rdrop": ("metassl_acdc", "acdc", ["--framework", "@frameworks#rdrop"]),  # one DDP call, 2 passes
    "metassl_acdc-cct": ("metassl_acdc", "acdc", ["--framework", "@frameworks#cct"]),  # forward kwargs through DDP
    "metassl_acdc-fixmatch": ("metassl_acdc", "acdc", ["--framework", "@frameworks#fixmatch"]),  # strong view
    "metassl_la-mt": ("metassl_la", "la", ["--framework", "@frameworks#mean_teacher"]),
    "qgssl_acdc-plqw_metassl": ("qgssl_acdc", "acdc", ["--ssl_loss", "@ssl_losses#plqw_metassl"]),
    "qgssl_la-qar": ("qgssl_la", "la", ["--ssl_loss", "@ssl_losses#qar"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_two_processes_end_identical(case, request, tmp_path):
    bundle, data_fixture, extra = CASES[case]
    data = request.getfixturevalue(data_fixture)
    configs = BUNDLES / bundle / "configs"
    dump = tmp_path / "rank_dump.json"
    dump.write_text(json.dumps(RANK_DUMP))
    out = tmp_path / "out"
    tiny = ACDC_TINY if data_fixture == "acdc" else LA_TINY
    args = ["--num_iterations", "4", "--val_interval", "2", *tiny, *extra]
    if bundle == "qgssl_la":
        random_la_predictor(bundle, tmp_path / "predictor.pt")
        args += ["--quality_ckpt", str(tmp_path / "predictor.pt")]
    proc = torchrun("run", "training", "--config_file",
                    config_list([configs / "train.json", configs / "train_cpu.json", configs / "multi_gpu_train.json",
                                 dump]),
                    "--bundle_root", str(BUNDLES / bundle), "--dataset_dir", str(data), "--output_dir", str(out), *args)

    r0 = torch.load(out / "rank0.pt", weights_only=True)
    r1 = torch.load(out / "rank1.pt", weights_only=True)
    assert r0["iteration"] == r1["iteration"] == 4
    # the two processes trained on different data ...
    assert r0["labeled_shard"] != r1["labeled_shard"] or r0["unlabeled_shard"] != r1["unlabeled_shard"]
    # ... and agree on every parameter and buffer (student, teacher / second network, BatchNorm statistics)
    for part in ("framework", "consistency", "labeled_consistency"):
        assert r0[part].keys() == r1[part].keys()
        for key in r0[part]:
            if not isinstance(r0[part][key], torch.Tensor):  # e.g. the quality predictor's stored architecture
                assert r0[part][key] == r1[part][key], f"{part}.{key}"
                continue
            torch.testing.assert_close(r0[part][key], r1[part][key], rtol=0, atol=1e-6, msg=f"{part}.{key}")
    thresholds = [v for k, v in r0["consistency"].items() if k.endswith("thresholds")]
    if "metassl" in case or bundle.startswith("metassl"):
        assert thresholds and all(((t > 0) & (t <= 1)).all() for t in thresholds)
        assert any(not torch.allclose(t, torch.full_like(t, 0.9)) for t in thresholds), "thresholds never updated"
    # rank 0 alone wrote the checkpoints; their keys are those of a single-process run (no DDP "module." prefix)
    ckpt = torch.load(out / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert not any(".module." in k or k.startswith("module.") for k in ckpt["framework"])
    torch.testing.assert_close(ckpt["framework"], r0["framework"], rtol=0, atol=0)
    model = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    assert set(model) == {k[len("network."):] for k in r0["framework"] if k.startswith("network.")}
    # one TensorBoard writer attached (rank 0); rank 1 logged nothing
    assert "rank 1" not in proc.stdout


# each rank's final random states (global ones and its pipeline's transforms), beside RANK_DUMP's weights
RANDOM_DUMP = {
    "finalize": [
        "$torch.save({'framework': @framework.state_dict(), "
        "'consistency': @train#branch_losses.unlabeled.state_dict(), "
        "'random_states': metassl_monai.engines.get_random_states(@train#dataloader, @train#unlabeled_dataloader), "
        "'iteration': @train#trainer.state.iteration}, "
        "@output_dir + '/rank' + str(dist.get_rank()) + '.pt')",
        "$dist.is_initialized() and dist.destroy_process_group()",
    ]
}
KILL_AT_7 = {  # every rank SIGKILLs itself at the end of iteration 7 (after the checkpoint of iteration 6)
    "training": [
        "$import signal",
        "$@train#checkpoint_saver.attach(@train#trainer)",
        "$@train#trainer.add_event_handler(ignite.engine.Events.ITERATION_COMPLETED(once=7), "
        "lambda e: os.kill(os.getpid(), signal.SIGKILL))",
        "$@train#trainer.run()",
    ]
}


@pytest.mark.slow
def test_two_processes_killed_and_resumed_end_as_an_uninterrupted_run(acdc, tmp_path):
    """Issue 16 part 4: both ranks killed at iteration 7 and resumed from the checkpoint of iteration 6 end with the
    weights, thresholds and random states of an uninterrupted two-process run, rank by rank (before, rank 1 restarted
    from its initial seeds: its augmentations and so the shared weights differed)."""
    configs = BUNDLES / "metassl_acdc" / "configs"
    (tmp_path / "dump.json").write_text(json.dumps(RANDOM_DUMP))
    (tmp_path / "kill.json").write_text(json.dumps(KILL_AT_7))

    def train(out: Path, *extra_configs: Path, resume: bool = False, check: bool = True):
        files = [configs / "train.json", configs / "train_cpu.json", configs / "multi_gpu_train.json", *extra_configs]
        return run_module("torch.distributed.run", *TORCHRUN, "run", "training", "--config_file", config_list(files),
                          "--bundle_root", str(BUNDLES / "metassl_acdc"), "--dataset_dir", str(acdc),
                          "--output_dir", str(out), *ACDC_TINY, "--num_iterations", "12", "--val_interval", "3",
                          *(["--resume", "true"] if resume else []), subprocess=True, cwd=REPO, check=check)

    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    train(reference, tmp_path / "dump.json")
    killed = train(resumed, tmp_path / "kill.json", check=False)
    assert killed.returncode != 0 and not (resumed / "rank0.pt").exists(), killed.stderr[-3000:]
    assert sorted(p.name for p in resumed.glob("checkpoint_*.pt")) == ["checkpoint_epoch=2.pt"]
    saved = torch.load(resumed / "checkpoint_epoch=2.pt", map_location="cpu", weights_only=True)["trainer"]
    assert [s["streams"].keys() for s in saved["rank_states"]] == [{"labeled", "unlabeled"}] * 2
    assert not torch.equal(saved["rank_states"][0]["random_states"]["torch"],
                           saved["rank_states"][1]["random_states"]["torch"]), "each rank's own states are saved"
    train(resumed, tmp_path / "dump.json", resume=True)

    for rank in (0, 1):
        a = tensors(torch.load(reference / f"rank{rank}.pt", weights_only=True), numbers=True)
        b = tensors(torch.load(resumed / f"rank{rank}.pt", weights_only=True), numbers=True)
        assert a.keys() == b.keys() and "/iteration" in a and any(k.startswith("/random_states/objects") for k in a)
        differing = [k for k in a if not torch.allclose(a[k].double(), b[k].double(), atol=1e-6, rtol=0)]
        assert not differing, f"rank {rank} of the resumed run differs from the uninterrupted one in {differing[:8]}"


@pytest.mark.slow
@pytest.mark.parametrize("bundle", ["metassl_acdc", "qgssl_acdc"])
def test_sharded_evaluation_gives_the_single_process_metrics(bundle, acdc, tmp_path):
    """5 validation volumes over 2 ranks (uneven shards, 3 + 2): the metrics gathered from both equal a one-process
    run, the per-case table holds every case once, and each rank wrote the overlays of its own cases."""
    cases = (acdc / "val.list").read_text().split()[:5]
    (acdc / "five.list").write_text("\n".join(cases) + "\n")
    configs = BUNDLES / bundle / "configs"
    common = ["--bundle_root", str(BUNDLES / bundle), "--dataset_dir", str(acdc), "--eval_list", "five.list",
              "--patch_size", "[128,128]"]
    single, multi = tmp_path / "single", tmp_path / "multi"
    run_bundle("run", "evaluating", "--config_file", config_list([configs / "train.json", configs / "evaluate.json"]),
               "--output_dir", str(single), *common)
    torchrun("run", "evaluating", "--config_file",
             config_list([configs / "train.json", configs / "evaluate.json", configs / "multi_gpu_evaluate.json"]),
             "--output_dir", str(multi), *common)
    expected = json.loads((single / "metrics.json").read_text())
    got = json.loads((multi / "metrics.json").read_text())
    assert got["num_cases"] == expected["num_cases"] == 5
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, (float, dict)):
            assert got[key] == pytest.approx(value, abs=1e-6), key
    rows = (multi / "mean_dice_raw.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == sorted(cases)
    assert sorted(p.name for p in (multi / "overlays").glob("*_overlay.png")) == sorted(f"{c}_overlay.png" for c in cases)


@pytest.mark.slow
def test_sharded_3d_evaluation_gives_the_single_process_metrics(la, fresh_copy, tmp_path):
    """metassl_la: 3 volumes over 2 ranks with a sliding-window 3D evaluation (random VNet weights)."""
    from monai.bundle import ConfigParser

    configs = BUNDLES / "metassl_la" / "configs"
    parser = ConfigParser()
    parser.read_config(str(configs / "inference.json"))
    torch.manual_seed(0)
    torch.save(parser.get_parsed_content("network_def").state_dict(), tmp_path / "model.pt")
    la = fresh_copy(la)  # three.list is written into it
    cases = (la / "train.list").read_text().split()[:3]
    (la / "three.list").write_text("\n".join(cases) + "\n")
    common = ["--bundle_root", str(BUNDLES / "metassl_la"), "--dataset_dir", str(la), "--eval_list", "three.list",
              "--patch_size", LA_PATCH, "--ckpt_path", str(tmp_path / "model.pt")]
    single, multi = tmp_path / "single", tmp_path / "multi"
    run_bundle("run", "evaluating", "--config_file", config_list([configs / "train.json", configs / "evaluate.json"]),
               "--output_dir", str(single), *common)
    torchrun("run", "evaluating", "--config_file",
             config_list([configs / "train.json", configs / "evaluate.json", configs / "multi_gpu_evaluate.json"]),
             "--output_dir", str(multi), *common)
    expected = json.loads((single / "metrics.json").read_text())
    got = json.loads((multi / "metrics.json").read_text())
    assert got["num_cases"] == expected["num_cases"] == 3
    for key, value in expected.items():
        if isinstance(value, (float, dict)):
            assert got[key] == pytest.approx(value, abs=1e-6), key
    rows = (multi / "mean_dice_raw.csv").read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == sorted(cases)
