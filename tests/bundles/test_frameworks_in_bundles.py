# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Every framework with its plain consistency loss and with MetaSSL, through the bundles' command line, in 2D
(metassl_acdc) and 3D (metassl_la), each one ``--framework`` / ``--ssl_loss`` override away from the defaults.
Per run: the loss trace has every iteration and the terms of every branch, all finite; the checkpoint holds one
MetaSSL threshold set per branch and term (CCT: four); the best model loads into the network the bundle validates."""

from __future__ import annotations

import json
import math

import pytest
import torch
from bundle_runner import (
    ACDC_TINY,
    LA_TINY,
    bundle_root,
    config_list,
    config_parser,
    configs,
    run_bundle,
    training_args,
)
from monai.bundle import ConfigParser

from metassl_monai.handlers import read_loss_trace

SPLIT_ACROSS_WORKERS = True  # every run is its own

#: framework -> (its plain consistency loss, number of branches)
FRAMEWORKS = {
    "mean_teacher": ("softmax_mse", 1),
    "cps": ("pseudo_label_ce", 2),
    "rdrop": ("softmax_mse", 2),
    "cct": ("pseudo_label_ce", 2),
    "fixmatch": ("fixmatch", 1),
}
BUNDLES = {"metassl_acdc": ("acdc_dataset", ACDC_TINY, 4), "metassl_la": ("la_dataset", LA_TINY, 2)}
CASES = [(b, f, loss) for b in BUNDLES for f, (plain, _) in FRAMEWORKS.items() for loss in (plain, "metassl")]


@pytest.fixture(scope="module")
def trace_config(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("cfg") / "loss_trace.json"
    path.write_text(json.dumps({"+train#handlers": [{"_target_": "metassl_monai.handlers.LossTraceWriter",
                                                      "output_dir": "@output_dir"}]}))
    return str(path)


def network_of(bundle: str, framework: str) -> torch.nn.Module:
    """The network the bundle validates and saves as model.pt for ``framework`` (CCT: the two-decoder U-Net)."""
    parser = ConfigParser()
    parser.read_config(configs(bundle, "train.json"))
    return parser.get_parsed_content("two_decoder_network_def" if framework == "cct" else "network_def")


@pytest.mark.slow
@pytest.mark.parametrize("bundle, framework, ssl_loss", CASES, ids=["-".join(c) for c in CASES])
def test_framework_trains_in_the_bundle(bundle, framework, ssl_loss, request, trace_config, tmp_path):
    dataset_fixture, tiny, iterations = BUNDLES[bundle]
    dataset = request.getfixturevalue(dataset_fixture)
    run_bundle(*training_args(bundle, dataset, tmp_path, "--num_iterations", str(iterations), "--val_interval",
                              str(iterations), "--framework", f"@frameworks#{framework}", "--ssl_loss",
                              f"@ssl_losses#{ssl_loss}", *tiny, config_files=[trace_config]))
    branches = FRAMEWORKS[framework][1]
    suffixes = ["", "_b"][:branches]
    trace = read_loss_trace(str(tmp_path / "loss_trace.jsonl"))
    assert [r["iteration"] for r in trace] == list(range(1, iterations + 1))
    expected = {"loss"} | {f"{t}{s}" for t in ("sup", "cons_u") for s in suffixes}
    if ssl_loss == "metassl":
        expected |= {f"cons_l{s}" for s in suffixes}  # MetaSSL's labeled term, per branch
    for record in trace:
        assert expected <= set(record), (expected - set(record))
        assert not any(k.startswith("cons_l") for k in record) or ssl_loss == "metassl"
        assert all(math.isfinite(record[k]) for k in expected)
    ckpt = torch.load(tmp_path / "checkpoint_final.pt", map_location="cpu", weights_only=True)
    taus = [k for key in ("consistency_losses", "labeled_consistency_losses") for k in ckpt[key]
            if k.endswith("thresholds")]
    assert len(taus) == (2 * branches if ssl_loss == "metassl" else 0)  # CCT and CPS: 2 networks x 2 terms
    network = network_of(bundle, framework)
    network.load_state_dict(torch.load(tmp_path / "model.pt", map_location="cpu", weights_only=True))


@pytest.mark.slow
def test_cct_model_is_evaluated_with_the_two_decoder_network(acdc_dataset, tmp_path):
    """A CCT run's model.pt is decoder 1 of the two-decoder U-Net: evaluation takes ``--network_def``."""
    out = tmp_path / "cct"
    run_bundle(*training_args("metassl_acdc", acdc_dataset, out, "--num_iterations", "2", "--val_interval", "2",
                              "--framework", "@frameworks#cct", *ACDC_TINY))
    evaluate = config_list(configs("metassl_acdc", "train.json", "evaluate.json"))
    run_bundle("run", "evaluating", "--config_file", evaluate, "--bundle_root", str(bundle_root("metassl_acdc")),
               "--dataset_dir", str(acdc_dataset), "--output_dir", str(tmp_path / "eval"), "--ckpt_path",
               str(out / "model.pt"), "--patch_size", "[32,32]", "--network_def", "@two_decoder_network_def")
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert 0.0 <= metrics["mean_dice"] <= 1.0 and metrics["num_cases"] == 2


@pytest.mark.slow
def test_the_2d_codes_uc_weighting_and_ssl4mis_dice_are_one_override_each(acdc_dataset, trace_config, tmp_path):
    run_bundle(*training_args("metassl_acdc", acdc_dataset, tmp_path, "--num_iterations", "2", "--val_interval", "2",
                              "--ssl_loss", "@ssl_losses#metassl_paper_2d", "--supervised_loss",
                              "@supervised_losses#ssl4mis_dice_ce", *ACDC_TINY, config_files=[trace_config]))
    trace = read_loss_trace(str(tmp_path / "loss_trace.jsonl"))
    assert [r["iteration"] for r in trace] == [1, 2]
    assert all(math.isfinite(r[k]) for r in trace for k in ("sup", "cons_u", "cons_l"))


# ----------------------------------------------------------------------------------------------------------------------
# presets: choosing a framework brings the paper's settings (metassl_monai.presets); one override changes one fact
# ----------------------------------------------------------------------------------------------------------------------
#: bundle, framework -> (iterations, labeled batch, unlabeled batch, unlabeled UC..DS weights, labeled UC..DS weights)
PRESET_CASES = {
    ("metassl_acdc", "mean_teacher"): (50000, 12, 12, (50, 40, 0.2048, 6.4), (50, 35.71, 18.22, 25.51)),
    ("metassl_acdc", "cps"): (100000, 12, 12, (50, 40.29, 8.88, 0.147), (85, 82.74, 68.49, 41.0)),
    ("metassl_acdc", "cct"): (50000, 12, 12, (50, 40.29, 0.147, 8.88), (50, 48.67, 24.12, 40.29)),
    ("metassl_la", "mean_teacher"): (50000, 2, 2, (50, 40, 0.2048, 6.4), (50, 33.33, 14.81, 22.22)),
    ("metassl_la", "cps"): (50000, 1, 1, (50, 40, 0.2048, 6.4), (50, 33.33, 14.81, 22.22)),
}


@pytest.mark.parametrize("bundle, framework", sorted(PRESET_CASES), ids=["-".join(c) for c in sorted(PRESET_CASES)])
def test_choosing_a_framework_gives_its_paper_settings(bundle, framework):
    iterations, batch, unlabeled_batch, w_u, w_l = PRESET_CASES[(bundle, framework)]
    parser = config_parser(bundle, "train.json", framework=f"@frameworks#{framework}", ssl_loss="@ssl_losses#metassl")
    got = {k: parser.get_parsed_content(k) for k in ("num_iterations", "batch_size", "unlabeled_batch_size")}
    assert got == {"num_iterations": iterations, "batch_size": batch, "unlabeled_batch_size": unlabeled_batch}
    assert parser.get_parsed_content("rampup_iterations") == 30000  # λ full at e = 200 epochs of 150 iterations
    metassl = parser.get_parsed_content("ssl_loss")
    assert metassl["unlabeled"].weights[:4].tolist() == pytest.approx(w_u, abs=6e-3)
    assert metassl["labeled"].weights[:4].tolist() == pytest.approx(w_l, abs=6e-3)
    dice_ce = parser.get_parsed_content("supervised_loss")  # SSL4MIS's batch-level Dice with squared denominators
    assert dice_ce.dice.squared_pred and dice_ce.dice.batch and dice_ce.dice.include_background


def test_an_override_changes_one_preset_fact_and_the_cpu_setting_wins():
    parser = config_parser("metassl_acdc", "train.json", framework="@frameworks#cps", num_iterations=3000,
                           ssl_losses__metassl__unlabeled__weights=[1.0, 2.0, 3.0, 4.0])
    assert parser.get_parsed_content("num_iterations") == 3000
    assert parser.get_parsed_content("rampup_iterations") == 1800  # min(30000, 60 % of a shortened schedule)
    assert parser.get_parsed_content("batch_size") == 12
    assert parser.get_parsed_content("ssl_losses#metassl#unlabeled").weights[:4].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert parser.get_parsed_content("ssl_losses#metassl#labeled").weights[:4].tolist() == pytest.approx((85, 82.74, 68.49, 41.0), abs=6e-3)
    cpu = config_parser("metassl_acdc", framework="@frameworks#cps")  # train.json + train_cpu.json
    assert [cpu.get_parsed_content(k) for k in ("num_iterations", "batch_size", "unlabeled_batch_size")] == [3000, 6, 6]


@pytest.mark.parametrize(
    "ssl_loss, noise_std",
    [("metassl", 0.0), ("softmax_mse", 0.1), ("metassl_labeled_only", 0.0), ("pseudo_label_ce", 0.0)],
)
def test_the_mean_teacher_input_noise_follows_the_recipe(ssl_loss, noise_std):
    # MetaSSL's code feeds its teacher the clean batch; SSL4MIS's Mean Teacher baseline adds clipped noise
    parser = config_parser("metassl_acdc", "train.json", ssl_loss=f"@ssl_losses#{ssl_loss}")
    framework = parser.get_parsed_content("train#trainer#framework")
    assert (framework.noise_std, framework.noise_clip) == (noise_std, 0.2)
