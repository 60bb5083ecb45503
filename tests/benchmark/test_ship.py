# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""``benchmark ship``: the winner by mean validation Dice over seeds (only methods run on the most seeds compete), its
cell of the bundle's default seed copied into a copy of the repository's bundles with its metrics, provenance and
metadata; the refusals that leave everything as it was."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from fake_records import record  # noqa: E402 (tests/benchmark/fake_records.py)

from metassl_monai.benchmark import load_grid
from metassl_monai.benchmark.ship import ShipError, plan_ship, rank_methods, ship

REPO = Path(__file__).resolve().parents[2]
SEEDS = (1337, 1338, 1339)  # 1337: the bundles' default seed (train.json)
#: best-validation model Dice per seed: mt_metassl has the highest mean (0.80), cct one lucky seed (0.95)
DICE = {"mt": (0.70, 0.80, 0.75), "mt_metassl": (0.78, 0.82, 0.80), "cps": (0.74, 0.77)}
GRID = """
name: t
bundles_dir: {bundles}
methods:
  mt: {{bundle: metassl_acdc, framework: mean_teacher, ssl_loss: softmax_mse}}
  mt_metassl: {{bundle: metassl_acdc, framework: mean_teacher, ssl_loss: metassl, baseline: mt}}
  cps: {{bundle: metassl_acdc, framework: cps, ssl_loss: pseudo_label_ce}}
  cct: {{bundle: metassl_acdc, framework: cct, ssl_loss: pseudo_label_ce,
        evaluate_overrides: {{network_def: "@two_decoder_network_def"}}}}
  plqw: {{bundle: qgssl_acdc, framework: mean_teacher, ssl_loss: plqw}}
groups:
  - {{labeled: 7, seeds: [1337, 1338, 1339], methods: [mt, mt_metassl, cps, plqw]}}
  - {{labeled: 7, seeds: [1337], methods: [cct]}}
"""


def records() -> list[dict]:
    out = [record(m, s, d, d - 0.01, framework=m.split("_")[0].replace("mt", "mean_teacher"),
                  ssl_loss="metassl" if m.endswith("metassl") else "softmax_mse")
           for m, values in DICE.items() for s, d in zip(SEEDS, values)]
    out.append(record("cct", 1337, 0.95, 0.94, framework="cct", ssl_loss="pseudo_label_ce",
                      evaluate_overrides={"network_def": "@two_decoder_network_def"}))
    return out


@pytest.fixture
def setup(tmp_path):
    """A copy of the repository's bundles (its own model files replaced by small ones), the grid, the records, and
    each cell's model.pt (a state dict naming its cell)."""
    bundles = tmp_path / "bundles"
    shutil.copytree(REPO / "bundles", bundles, ignore=shutil.ignore_patterns("*.pt"))
    for b in ("metassl_acdc", "qgssl_acdc"):
        torch.save({"shipped_before": torch.zeros(1)}, bundles / b / "models" / "model.pt")
    grid_file = tmp_path / "grid.yaml"
    grid_file.write_text(GRID.format(bundles=bundles))
    (tmp_path / "records").mkdir()
    for r in records():
        (tmp_path / "records" / f"{r['cell']}.json").write_text(json.dumps(r))
        (tmp_path / "cells" / r["cell"]).mkdir(parents=True)
        torch.save({r["cell"]: torch.ones(1)}, tmp_path / "cells" / r["cell"] / "model.pt")
        (tmp_path / "cells" / r["cell"] / "eval_best").mkdir()
        (tmp_path / "cells" / r["cell"] / "eval_best" / "metrics.json").write_text(json.dumps(r["best"]["metrics"]))
    return load_grid(grid_file), tmp_path, bundles


def test_ranking_compares_methods_on_the_most_seeds():
    rows = rank_methods(records(), "metassl_acdc", 7)
    assert [(r["method"], r["eligible"]) for r in rows] == [
        ("mt_metassl", True), ("mt", True), ("cct", False), ("cps", False)]
    assert rows[0]["mean"] == pytest.approx(0.80) and rows[0]["std"] == pytest.approx(0.02)
    assert rows[1]["mean"] == pytest.approx(0.75) and rows[1]["seeds"] == [1337, 1338, 1339]
    assert rows[2]["mean"] == 0.95 and rows[2]["std"] is None and rows[3]["mean"] == pytest.approx(0.755)
    assert rank_methods(records(), "metassl_acdc", 3) == []


def test_ship_copies_the_default_seed_cell_with_metrics_provenance_and_metadata(setup, capsys):
    grid, tmp, bundles = setup
    before_qgssl = (bundles / "qgssl_acdc" / "configs" / "metadata.json").read_text()
    (plan,) = ship(grid, tmp / "records", tmp / "cells", 7, bundles=["metassl_acdc"])
    root = bundles / "metassl_acdc"
    assert plan["record"]["cell"] == "mt_metassl_7l_s1337" and plan["default_training"] is True
    assert list(torch.load(root / "models" / "model.pt", weights_only=True)) == ["mt_metassl_7l_s1337"]
    metrics = json.loads((root / "docs" / "validation_metrics.json").read_text())
    assert metrics["mean_dice"] == 0.78 and metrics["mean_dice_per_class"]["LV"] == pytest.approx(0.88)
    shipped = json.loads((root / "docs" / "shipped_model.json").read_text())
    assert (shipped["cell"], shipped["seed"], shipped["best_iteration"]) == ("mt_metassl_7l_s1337", 1337, 100)
    assert [r["method"] for r in shipped["ranking"]] == ["mt_metassl", "mt", "cct", "cps"]
    assert "--config_file bundles/metassl_acdc/configs/train.json " in shipped["train_command_gpu"]
    # eval_metrics of the metadata layer, and the generated metadata recomposed from it
    expected = {"mean_dice": 0.78, "mean_dice_RV": 0.68, "mean_dice_MYO": 0.78, "mean_dice_LV": 0.88}
    layer = json.loads((bundles / "_layers" / "metassl_acdc" / "metadata.json").read_text())
    generated = json.loads((root / "configs" / "metadata.json").read_text())
    assert layer["eval_metrics"] == generated["eval_metrics"] == expected
    assert (bundles / "qgssl_acdc" / "configs" / "metadata.json").read_text() == before_qgssl
    assert str(root / "configs" / "metadata.json") in plan["written"]


def test_dry_run_writes_nothing(setup):
    grid, tmp, bundles = setup
    before = {p: p.read_bytes() for p in bundles.rglob("*") if p.is_file()}
    (plan,) = ship(grid, tmp / "records", tmp / "cells", 7, bundles=["metassl_acdc"], dry_run=True)
    assert plan["winner"]["method"] == "mt_metassl" and plan["written"] == []
    assert {p: p.read_bytes() for p in bundles.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("change, message", [
    ("no_default_seed", r"the winner 'mt_metassl' \(7 labeled\) has no record of seed 1337 \(recorded seeds "
                        r"\[1338, 1339\]\)"),
    ("two_decoder_winner", r"the winner cct_7l_s1337 is evaluated with \{'network_def': "
                           r"'@two_decoder_network_def'\}"),
    ("model_missing", r"cells/mt_metassl_7l_s1337/model.pt not found: .* train the cell again into a new folder "
                      r"\(benchmark run --cells mt_metassl_7l_s1337 --out NEW\)"),
    ("evaluation_missing", r"mt_metassl_7l_s1337/eval_best/metrics.json not found: cannot tell whether"),
    ("another_model", r"mt_metassl_7l_s1337/model.pt is not the model the record of mt_metassl_7l_s1337 scored: it "
                      r"evaluates to mean Dice 0.500000, the record says 0.780000"),
    ("no_records_of_bundle", r"no benchmark record of bundle 'qgssl_acdc' with 7 labeled"),
])
def test_refusals_leave_every_bundle_as_it_was(setup, change, message):
    grid, tmp, bundles = setup
    bundle_list = ["metassl_acdc", "qgssl_acdc"] if change == "no_records_of_bundle" else ["metassl_acdc"]
    if change == "no_default_seed":
        (tmp / "records" / "mt_metassl_7l_s1337.json").unlink()
        for s in (1338, 1339):  # mt_metassl now has 2 seeds: make every method a 2-seed one
            (tmp / "records" / f"mt_{7}l_s{s}.json").unlink(missing_ok=True)
    if change == "two_decoder_winner":
        for name in ("mt", "mt_metassl", "cps"):
            for p in (tmp / "records").glob(f"{name}_7l_s*.json"):
                p.unlink()
    if change == "model_missing":
        (tmp / "cells" / "mt_metassl_7l_s1337" / "model.pt").unlink()
    evaluated = tmp / "cells" / "mt_metassl_7l_s1337" / "eval_best" / "metrics.json"
    if change == "evaluation_missing":
        evaluated.unlink()
    if change == "another_model":  # trained again, not reproduced
        evaluated.write_text(json.dumps({**json.loads(evaluated.read_text()), "mean_dice": 0.5}))
    before = {p: p.read_bytes() for p in bundles.rglob("*") if p.is_file()}
    with pytest.raises(ShipError, match=message):
        ship(grid, tmp / "records", tmp / "cells", 7, bundles=bundle_list)
    assert {p: p.read_bytes() for p in bundles.rglob("*") if p.is_file()} == before


def test_another_seed_on_request(setup):
    grid, tmp, _ = setup
    plan = plan_ship(grid, [json.loads(p.read_text()) for p in (tmp / "records").glob("*.json")], "metassl_acdc", 7,
                     seed=1339)
    assert plan["record"]["cell"] == "mt_metassl_7l_s1339"


def test_cli_prints_the_ranking_and_what_it_wrote(setup, capsys):
    from metassl_monai.cli import main

    grid, tmp, bundles = setup
    main(["benchmark", "ship", str(grid.path), "--labeled", "7", "--records", str(tmp / "records"), "--cells_dir",
          str(tmp / "cells"), "--bundles", "metassl_acdc", "--dry_run", "true"])
    out = capsys.readouterr().out
    assert "* mt_metassl           0.8000 ± 0.0200  seeds [1337, 1338, 1339]" in out
    assert "cps                  0.7550 ± 0.0212  seeds [1337, 1338]  (fewer seeds: not compared)" in out
    assert "ships mt_metassl_7l_s1337 (best iteration 100)" in out and "dry run: nothing written" in out
