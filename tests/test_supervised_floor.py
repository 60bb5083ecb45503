# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
``scripts/supervised_floor.py`` (issue 17): its experiments resolve in the bundle, the SSL4MIS evaluation protocol
does what SSL4MIS's ``test_single_volume`` does (nearest zoom in, argmax at the patch size, nearest zoom back), and the
tables and the committed record are made from the runs' logs and metrics files.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch
from monai.transforms import Resize

from bundle_runner import REPO, config_parser

ACDC = "metassl_acdc"


def _module():
    spec = importlib.util.spec_from_file_location("supervised_floor", REPO / "scripts" / "supervised_floor.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


floor = _module()


def _override_file(tmp_path: Path, name: str, overrides: dict) -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(overrides))
    return path


@pytest.mark.parametrize("name", sorted(floor.EXPERIMENTS))
def test_every_experiment_builds_its_network_in_the_bundle(tmp_path, name):
    experiment = floor.EXPERIMENTS[name]
    parser = config_parser(ACDC, "train.json", "train_cpu.json", _override_file(tmp_path, name, experiment.overrides))
    network = parser.get_parsed_content("network_def", instantiate=True)
    patch = parser.get_parsed_content("patch_size")
    assert patch == experiment.overrides.get("patch_size", [128, 128])
    target = experiment.overrides["network_def"]["_target_"]  # named by every experiment: the default changed
    assert type(network).__name__ == target.split(".")[-1]
    with torch.no_grad():
        assert network.eval()(torch.zeros(1, 1, 32, 32)).shape == (1, 4, 32, 32)


def test_ssl4mis_protocol_zooms_with_nearest_neighbour_both_ways(tmp_path, acdc_dataset):
    overrides, _ = floor.PROTOCOLS["ssl4mis"]
    parser = config_parser(ACDC, "train.json", "train_cpu.json", "evaluate.json",
                           _override_file(tmp_path, "ssl4mis", overrides), dataset_dir=str(acdc_dataset),
                           patch_size=[16, 16])
    assert parser["validate#transforms#0#mode"] == "nearest"
    item = parser.get_parsed_content("validate#preprocessing")(parser.get_parsed_content("validate#datalist")[0])
    native = tuple(item["image_native"].shape[1:])
    depth = native[0]
    assert tuple(item["image"].shape[1:]) == (depth, 16, 16)
    # a label map at the patch size with every class and single-pixel detail, as logits
    labels = (torch.arange(16 * 16).reshape(16, 16) * 7 % 4).expand(depth, 16, 16)
    logits = torch.nn.functional.one_hot(labels, 4).permute(3, 0, 1, 2).float() * 5.0
    pred = item["image"].clone()
    pred.set_array(logits)
    out = parser.get_parsed_content("validate#postprocessing")({**item, "pred": pred})["pred"]
    assert tuple(out.shape) == (4, *native)
    assert set(out.unique().tolist()) == {0.0, 1.0} and torch.all(out.sum(0) == 1)  # one-hot, native size
    expected = Resize(spatial_size=native, mode="nearest")(labels[None].float())[0]
    torch.testing.assert_close(out.argmax(0).float(), torch.as_tensor(expected).float())


def _fake_run(out: Path, name: str, dice: list[float], metrics: dict[str, float], seconds: int, finished=True):
    lines = [f"2026-12-06 10:00:00,000 - INFO - Epoch[{i + 1}] Metrics -- val_mean_dice: {d:.4f} "
             for i, d in enumerate(dice)]
    (out / f"{name}.log").write_text("noise\n" + "\n".join(lines) + "\n")
    run = out / name
    for folder, offset in (("eval", 0.0), ("eval_ssl4mis", -0.05)):
        (run / folder).mkdir(parents=True)
        per_class = {c: v + offset for c, v in metrics.items()}
        (run / folder / "metrics.json").write_text(json.dumps(
            {"mean_dice": sum(per_class.values()) / 3, "mean_dice_per_class": per_class, "hd95": 6.4}))
    (run / "train_seconds.txt").write_text(str(seconds))
    if finished:
        (run / "checkpoint_final.pt").write_bytes(b"")


def test_tables_and_record_come_from_the_runs_files(tmp_path):
    out, dest = tmp_path / "runs", tmp_path / "record"
    out.mkdir()
    _fake_run(out, "basicunet128", [0.2, 0.6, 0.7, 0.65], {"RV": 0.5, "MYO": 0.6, "LV": 0.85}, 1380)
    _fake_run(out, "basicunet128_3labeled", [0.1, 0.3], {"RV": 0.2, "MYO": 0.3, "LV": 0.4}, 600, finished=False)
    assert floor.curve(out / "basicunet128.log") == [(250, 0.2), (500, 0.6), (750, 0.7), (1000, 0.65)]
    text = floor.table(str(out))
    row = next(line for line in text.splitlines() if line.startswith("| `basicunet128` |"))
    assert "| 7 | 3000 | 0.700 (750) | 0.650 (1000) | 0.500 | 0.600 | 0.850 | 6.4 | 23 min |" in row
    running = next(line for line in text.splitlines() if line.startswith("| `basicunet128_3labeled` |"))
    assert "| 3 | 3000 | 0.300 (500) | 0.300 (500) |" in running and running.endswith("| running |")
    assert "| `basicunet128` | 0.650 (RV 0.500, MYO 0.600, LV 0.850) | 0.600 (RV 0.450, MYO 0.550, LV 0.800) |" in text
    floor.publish(str(out), str(dest))
    assert (dest / "basicunet128.curve.csv").read_text() == "iteration,val_mean_dice\n250,0.2\n500,0.6\n750,0.7\n1000,0.65\n"
    assert json.loads((dest / "basicunet128.ssl4mis_metrics.json").read_text())["mean_dice_per_class"]["LV"] == pytest.approx(0.8)
    assert (dest / "tables.md").read_text() == floor.table(str(out), "basicunet128") + "\n"  # finished runs only
    assert (dest / "val_dice_7labeled.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(dest.glob("basicunet128_3labeled*")) and not (dest / "val_dice_3labeled.png").exists()


def _curves_module():
    spec = importlib.util.spec_from_file_location("validation_curves", REPO / "scripts" / "validation_curves.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_validation_curves_of_bundle_logs(tmp_path):
    """scripts/validation_curves.py: one CSV per NAME=LOG (epochs × val_interval), a PNG; a log without validations
    or a missing log stops with its name."""
    curves = _curves_module()
    _fake_run(tmp_path, "a", [0.3, 0.5, 0.45], {"RV": 0.5, "MYO": 0.6, "LV": 0.85}, 60)
    curves.main(str(tmp_path / "out"), f"mt={tmp_path / 'a.log'}", png="c.png", val_interval=100)
    assert (tmp_path / "out" / "mt.curve.csv").read_text() == "iteration,val_mean_dice\n100,0.3\n200,0.5\n300,0.45\n"
    assert (tmp_path / "out" / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "empty.log").write_text("no validation yet\n")
    with pytest.raises(SystemExit, match="empty: .*holds no validation line"):
        curves.main(str(tmp_path / "out"), f"empty={tmp_path / 'empty.log'}")
    with pytest.raises(SystemExit, match="gone: no log at"):
        curves.main(str(tmp_path / "out"), f"gone={tmp_path / 'gone.log'}")
    with pytest.raises(SystemExit, match="NAME=LOG"):
        curves.main(str(tmp_path / "out"), str(tmp_path / "a.log"))
