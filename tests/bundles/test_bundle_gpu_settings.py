# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The bundles' GPU settings (issue 15): ``channels_last`` / ``memory_format``, ``compile`` / ``compile_options``,
``pin_memory``, ``non_blocking`` and ``cudnn_benchmark``. Their GPU speed cannot be measured here; what the CPU can
check is checked: every bundle resolves them to their CPU values, every DataLoader and engine reads them, they reach
the objects MONAI builds, a channels-last network gives the outputs of the default layout, a short training with
``--channels_last true`` and one with ``--compile true`` (Dynamo's eager backend) run and save a ``model.pt`` that
loads into a plain network (no ``_orig_mod.``), and an evaluation with both gives the metrics of the default one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from bundle_runner import (ACDC_TINY, LA_TINY, BUNDLES, bundle_root, config_list, config_parser, configs, run_bundle,
                           training_args)

BUNDLE_NAMES = ["metassl_acdc", "metassl_la", "qgssl_acdc", "qgssl_la"]
#: the config files each workflow reads (train_quality only in the quality-guided bundles)
WORKFLOWS = {
    "train": ("train.json", "train_cpu.json"),
    "evaluate": ("train.json", "evaluate.json"),
    "inference": ("inference.json",),
    "multi_gpu_train": ("train.json", "train_cpu.json", "multi_gpu_train.json"),
    "train_quality": ("train.json", "train_cpu.json", "train_quality.json"),
}
CASES = [(b, w) for b in BUNDLE_NAMES for w in WORKFLOWS if w != "train_quality" or b.startswith("qgssl")]
CPU_VALUES = {"channels_last": False, "memory_format": torch.preserve_format, "compile": False, "pin_memory": False,
              "non_blocking": False, "cudnn_benchmark": False}
ENGINES = ("SemiSupervisedTrainer", "SupervisedTrainer", "SupervisedEvaluator")
TINY = {"metassl_acdc": ACDC_TINY, "metassl_la": LA_TINY}


def _objects(node, path=""):
    """Every dict of a config with its id, depth first."""
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _objects(value, f"{path}#{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _objects(value, f"{path}#{i}")


def _generated_configs() -> list[Path]:
    return sorted(p for b in BUNDLE_NAMES for p in (BUNDLES / b / "configs").glob("*.json")
                  if json.loads(p.read_text()).get("_generated"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU values; on a GPU they are the GPU ones")
@pytest.mark.parametrize("bundle, workflow", CASES)
def test_items_resolve_to_their_cpu_values(bundle, workflow):
    parser = config_parser(bundle, *WORKFLOWS[workflow])
    assert {key: parser.get_parsed_content(key) for key in CPU_VALUES} == CPU_VALUES
    assert parser.get_parsed_content("compile_options") == {"backend": "inductor", "mode": "default"}


@pytest.mark.parametrize("bundle, workflow", [(b, w) for b, w in CASES if w in ("train", "inference")])
def test_items_are_what_the_gpu_gets(bundle, workflow, monkeypatch):
    """On a CUDA machine (simulated: ``torch.cuda.is_available`` patched) the defaults turn on what helps there:
    pinned memory with non-blocking copies, cuDNN's autotuner, channels-last for the 2D networks only."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    parser = config_parser(bundle, *WORKFLOWS[workflow])
    two_d = bundle.endswith("acdc")
    expected = {"channels_last": two_d, "memory_format": torch.channels_last if two_d else torch.preserve_format,
                "compile": False, "pin_memory": True, "non_blocking": True, "cudnn_benchmark": True}
    assert {key: parser.get_parsed_content(key) for key in expected} == expected


@pytest.mark.parametrize("path", _generated_configs(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_loader_and_engine_reads_the_items(path):
    """Each setting is one config item, given to every DataLoader / engine of every generated config, and cuDNN's
    autotuner is set after every ``set_determinism`` (which turns it off)."""
    config = json.loads(path.read_text())
    for key, node in _objects(config):
        target = str(node.get("_target_", ""))
        if target.split(".")[-1] == "DataLoader":
            assert node.get("pin_memory") == "@pin_memory", key
        if target.split(".")[-1] in ENGINES:
            assert {k: node.get(k) for k in ("non_blocking", "compile", "compile_kwargs")} == {
                "non_blocking": "@non_blocking", "compile": "@compile", "compile_kwargs": "@compile_options"}, key
    for key, value in config.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            for i, expr in enumerate(value):
                if "set_determinism(" in expr:
                    assert value[i + 1] == "$metassl_monai.engines.set_cudnn_benchmark(@cudnn_benchmark)", key


@pytest.mark.parametrize("bundle", ["metassl_acdc", "metassl_la"])
def test_settings_reach_the_loaders_engines_and_networks(bundle, acdc_dataset, la_dataset, tmp_path):
    """``--pin_memory true --channels_last true --compile true``: the objects MONAI builds get them."""
    from torch._dynamo.eval_frame import OptimizedModule

    dataset = acdc_dataset if bundle.endswith("acdc") else la_dataset
    tiny = dict(zip([a[2:] for a in TINY[bundle][::2]], [json.loads(v) for v in TINY[bundle][1::2]]))
    parser = config_parser(bundle, dataset_dir=str(dataset), output_dir=str(tmp_path), pin_memory=True,
                           channels_last=True, compile=True, compile_options={"backend": "eager"}, **tiny)
    fmt = torch.channels_last if bundle.endswith("acdc") else torch.channels_last_3d
    trainer = parser.get_parsed_content("train#trainer")
    evaluator = parser.get_parsed_content("validate#evaluator")
    assert trainer.non_blocking is True and evaluator.non_blocking is True
    assert trainer.data_loader.loader.pin_memory and trainer.unlabeled_data_loader.loader.pin_memory
    assert parser.get_parsed_content("validate#dataloader").pin_memory
    assert trainer.to_kwargs == {"memory_format": fmt}
    framework = parser.get_parsed_content("framework")
    assert trainer.compile and framework.is_compiled
    assert isinstance(evaluator.network, OptimizedModule) and evaluator.network._orig_mod is framework.network
    convs = [p for p in framework.network.parameters() if p.ndim == len(TINY_SHAPES[bundle]) + 2]
    assert convs and all(p.is_contiguous(memory_format=fmt) for p in convs)
    # the Mean Teacher's teacher is a copy of the converted student: the same layout
    assert all(p.is_contiguous(memory_format=fmt) for p in framework.teacher.parameters() if p.ndim == convs[0].ndim)


TINY_SHAPES = {"metassl_acdc": (32, 32), "metassl_la": (16, 16, 16)}


@pytest.mark.parametrize("bundle, names", [
    ("metassl_acdc", ("train.json", "train_cpu.json")),
    ("metassl_acdc", ("inference.json",)),
    ("metassl_la", ("train.json", "train_cpu.json")),
    ("metassl_la", ("inference.json",)),
], ids=["acdc-train", "acdc-inference", "la-train", "la-inference"])
def test_channels_last_network_gives_the_outputs_of_the_default_layout(bundle, names):
    nets = {}
    for channels_last in (False, True):
        parser = config_parser(bundle, *names, channels_last=channels_last)
        nets[channels_last] = parser.get_parsed_content("network").eval()
    nets[True].load_state_dict(nets[False].state_dict())  # copies in place: the layout stays
    fmt = torch.channels_last if bundle.endswith("acdc") else torch.channels_last_3d
    weights = [p for p in nets[True].parameters() if p.ndim >= 4]
    assert weights and all(p.is_contiguous(memory_format=fmt) for p in weights)
    assert any(not p.is_contiguous() for p in weights)  # (1 x 1 kernels are both layouts at once)
    x = torch.randn(2, 1, *TINY_SHAPES[bundle], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        default, channels_last = nets[False](x), nets[True](x.to(memory_format=fmt))
    if bundle.endswith("acdc"):  # 3D: with one CPU thread oneDNN's conv3d may return NCDHW, the values are what count
        assert channels_last.is_contiguous(memory_format=fmt) and not channels_last.is_contiguous()
    # the same sums in another order (oneDNN's channels-last kernels): float32 rounding, relative to the output's scale
    scale = float(default.abs().max())
    torch.testing.assert_close(channels_last, default, rtol=1e-4, atol=1e-5 * scale)


#: an extra config file: after training, what the run used (written by the run itself, read by the tests)
REPORT = {
    "+imports": ["$import json"],
    "+run": [
        "$open(os.path.join(@output_dir, 'gpu_settings.json'), 'w').write(json.dumps({"
        "'memory_format': str(@memory_format), 'non_blocking': @train#trainer.non_blocking, "
        "'compiled': @framework.is_compiled, 'evaluator_network': type(@validate#evaluator.network).__name__, "
        "'pred_shape': list(@train#trainer.state.output['pred'].shape), "
        "'pred_stride': list(@train#trainer.state.output['pred'].stride()), "
        "'weight_shapes': [list(p.shape) for p in @network.parameters() if p.ndim >= 4], "
        "'weight_strides': [list(p.stride()) for p in @network.parameters() if p.ndim >= 4]}))"
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("bundle, overrides", [
    ("metassl_acdc", ("--channels_last", "true")),
    ("metassl_la", ("--channels_last", "true")),
    ("metassl_acdc", ("--compile", "true", "--compile_options#backend", "eager")),
], ids=["acdc-channels_last", "la-channels_last", "acdc-compile"])
def test_short_training_saves_a_plain_model(bundle, overrides, acdc_dataset, la_dataset, tmp_path):
    torch._dynamo.reset()
    dataset = acdc_dataset if bundle.endswith("acdc") else la_dataset
    report = tmp_path / "report.json"
    report.write_text(json.dumps(REPORT))
    out = tmp_path / "run"
    run_bundle(*training_args(bundle, dataset, out, "--num_iterations", "4", "--val_interval", "2", *TINY[bundle],
                              *overrides, config_files=[report]))
    used = json.loads((out / "gpu_settings.json").read_text())
    compiled = "--compile" in overrides
    assert used["compiled"] is compiled and used["non_blocking"] is False
    assert used["evaluator_network"] == ("OptimizedModule" if compiled else bundle_network_class(bundle))
    if not compiled:  # the trained weights are channels-last (channels the fastest-moving dimension) ...
        assert used["memory_format"] == str(torch.channels_last if bundle.endswith("acdc") else torch.channels_last_3d)
        kernels = [(shape, stride) for shape, stride in zip(used["weight_shapes"], used["weight_strides"])
                   if shape[1] > 1 and any(k > 1 for k in shape[2:])]
        assert kernels and all(stride[1] == 1 for _, stride in kernels)
        if bundle.endswith("acdc"):  # ... and so are the 2D U-Net's logits (VNet's need not be: each op picks one)
            assert used["pred_stride"][1] == 1 and used["pred_shape"][1] > 1
    # model.pt and the checkpoint hold plain state dicts: they load into a network built without the settings
    model = torch.load(out / "model.pt", map_location="cpu", weights_only=True)
    checkpoint = torch.load(out / "checkpoint_final.pt", map_location="cpu", weights_only=False)
    assert not any("_orig_mod" in k for k in model)
    assert not any("_orig_mod" in k for part in ("framework", "optimizer") for k in _keys(checkpoint[part]))
    plain = config_parser(bundle, **{k[2:]: json.loads(v) for k, v in zip(TINY[bundle][::2], TINY[bundle][1::2])})
    plain.get_parsed_content("network").load_state_dict(model)  # strict
    framework = plain.get_parsed_content("framework")
    framework.load_state_dict(checkpoint["framework"])  # strict


def _keys(state) -> list[str]:
    return [str(k) for k in state] if isinstance(state, dict) else []


def bundle_network_class(bundle: str) -> str:
    return "SSL4MISUNet" if bundle.endswith("acdc") else "VNet"


@pytest.mark.slow
def test_evaluation_with_channels_last_and_compile_gives_the_default_metrics(acdc_dataset, tmp_path):
    """The shipped metassl_acdc model evaluated with ``--channels_last true --compile true`` (Dynamo's eager backend,
    MONAI's ``SupervisedEvaluator(compile=True)``) gives the metrics of the default evaluation."""
    torch._dynamo.reset()
    bundle = "metassl_acdc"
    metrics = {}
    for name, extra in (("default", ()), ("gpu_paths", ("--channels_last", "true", "--compile", "true",
                                                         "--compile_options#backend", "eager"))):
        out = tmp_path / name
        run_bundle("run", "evaluating", "--config_file", config_list(configs(bundle, "train.json", "evaluate.json")),
                   "--bundle_root", str(bundle_root(bundle)), "--dataset_dir", str(acdc_dataset),
                   "--output_dir", str(out), *extra)
        metrics[name] = json.loads((out / "metrics.json").read_text())
    assert metrics["gpu_paths"]["num_cases"] == metrics["default"]["num_cases"] > 0
    assert metrics["gpu_paths"]["mean_dice"] == pytest.approx(metrics["default"]["mean_dice"], abs=1e-4)
