# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Ship a benchmark's winner as a bundle's model (``benchmark ship``).

For each bundle: among its methods at one number of labeled patients, the winner is the method with the highest mean
over seeds of its best-validation model's evaluated mean Dice (validation patients only, never test data). Only
methods run on as many seeds as the bundle's most-run method compete, so one lucky seed cannot win against three.
The winner's cell of the bundle's default seed (``seed`` of its ``train.json``: what ``python -m monai.bundle run
training`` with the bundle's defaults and the winner's framework / loss gives) is copied into the bundle:

- ``models/model.pt``: that cell's best-validation checkpoint, the one its record's ``best`` metrics evaluated;
- ``docs/validation_metrics.json``: those metrics;
- ``docs/shipped_model.json``: where it comes from (cell, method, framework, loss, seed, iteration, the training
  commands at the CPU setting and the paper's, and the ranking it won);
- ``eval_metrics`` of the bundle's metadata layer (``bundles/_layers/<bundle>/metadata.json``; the generated
  ``configs/metadata.json`` is recomposed).

Prose that names the model (the bundle README's tables, the metadata description) stays the author's: the docs tests
(``tests/test_docs_numbers.py``) fail until it states the shipped numbers.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

from metassl_monai.atomic_files import atomic_path
from metassl_monai.benchmark.grid import Grid
from metassl_monai.benchmark.report import gpu_command, load_records, mean_std

__all__ = ["ShipError", "rank_methods", "plan_ship", "ship"]


class ShipError(ValueError):
    """A winner that cannot be shipped; the message says what is missing."""


def _bundle_defaults(bundle_root: Path) -> dict:
    with open(bundle_root / "configs" / "train.json", encoding="utf-8") as f:
        config = json.load(f)
    return {"seed": config.get("seed"), "framework": str(config.get("framework", "")).split("#")[-1],
            "ssl_loss": str(config.get("ssl_loss", "")).split("#")[-1]}


def rank_methods(records: list[dict], bundle: str, labeled: int) -> list[dict]:
    """The methods of ``bundle`` at ``labeled`` patients, best first: seeds, the best-validation model's evaluated
    mean Dice per seed, its mean and sample std, and ``eligible`` (run on the most seeds of any of them)."""
    by_method: dict[str, list[dict]] = defaultdict(list)
    for r in records:
        if r["bundle"] == bundle and r["labeled"] == labeled:
            by_method[r["method"]].append(r)
    if not by_method:
        return []
    most = max(len(cells) for cells in by_method.values())
    rows = []
    for method, cells in by_method.items():
        cells = sorted(cells, key=lambda c: c["seed"])
        dice = [c["best"]["metrics"]["mean_dice"] for c in cells]
        mean, std = mean_std(dice)
        rows.append({"method": method, "framework": cells[0]["framework"], "ssl_loss": cells[0]["ssl_loss"],
                     "seeds": [c["seed"] for c in cells], "dice": dice, "mean": mean, "std": std,
                     "eligible": len(cells) == most})
    return sorted(rows, key=lambda r: (not r["eligible"], -r["mean"]))


def plan_ship(grid: Grid, records: list[dict], bundle: str, labeled: int, seed: int | None = None) -> dict:
    """
    What :func:`ship` would copy for ``bundle``: the ranking, the winner and the cell record of ``seed`` (default: the
    bundle's ``train.json`` seed).

    Raises:
        ShipError: no record of the bundle at ``labeled``; the winner has no record of that seed; the winner is
            evaluated with other network settings (``evaluate_overrides``, e.g. CCT's two-decoder network) than the
            bundle's own inference configs use.
    """
    ranking = rank_methods(records, bundle, labeled)
    if not ranking:
        raise ShipError(f"no benchmark record of bundle {bundle!r} with {labeled} labeled: nothing to ship "
                        "(--bundles names the bundles to ship)")
    winner = ranking[0]
    defaults = _bundle_defaults(grid.bundles_dir / bundle)
    seed = defaults["seed"] if seed is None else seed
    record = next((r for r in records if r["bundle"] == bundle and r["labeled"] == labeled
                   and r["method"] == winner["method"] and r["seed"] == seed), None)
    if record is None:
        raise ShipError(f"{bundle}: the winner {winner['method']!r} ({labeled} labeled) has no record of seed {seed} "
                        f"(recorded seeds {winner['seeds']}): run that cell, or pass --seed one of them")
    if record.get("evaluate_overrides"):
        raise ShipError(f"{bundle}: the winner {record['cell']} is evaluated with {record['evaluate_overrides']}, "
                        "which the bundle's inference and evaluation configs do not use: change the bundle's "
                        "network first, then ship it")
    return {"bundle": bundle, "labeled": labeled, "seed": seed, "ranking": ranking, "winner": winner,
            "record": record, "bundle_defaults": defaults,
            "default_training": (defaults["framework"], defaults["ssl_loss"]) == (record["framework"],
                                                                                   record["ssl_loss"])}


def _update_eval_metrics(layer: Path, metrics: dict) -> bool:
    """Rewrite the ``"eval_metrics": {...}`` line of a metadata layer with ``metrics`` (4 digits); False if absent."""
    if not layer.is_file():
        return False
    text = layer.read_text(encoding="utf-8")
    values = {"mean_dice": round(metrics["mean_dice"], 4),
              **{f"mean_dice_{k}": round(v, 4) for k, v in metrics.get("mean_dice_per_class", {}).items()}}
    new, n = re.subn(r'"eval_metrics": \{[^{}]*\}', '"eval_metrics": ' + json.dumps(values), text, count=1)
    if n == 0:
        return False
    with atomic_path(layer) as tmp:
        Path(tmp).write_text(new, encoding="utf-8")
    return True


def _write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=4) + "\n", encoding="utf-8")


def _check_same_model(bundle: str, source: Path, record: dict) -> None:
    """``source`` is the model ``record`` scored: the evaluation beside it (the runner's ``eval_best/metrics.json``)
    gives the record's mean Dice. A cell trained again elsewhere (the machine's disk did not outlive the first run)
    gives the same model only where training is reproducible: this is where a different one is caught."""
    evaluated = source.parent / "eval_best" / "metrics.json"
    if not evaluated.is_file():
        raise ShipError(f"{bundle}: {evaluated} not found: cannot tell whether {source} is the model the record of "
                        f"{record['cell']} scored (the benchmark runner writes it beside the model)")
    with open(evaluated, encoding="utf-8") as f:
        dice = json.load(f)["mean_dice"]
    if abs(dice - record["best"]["metrics"]["mean_dice"]) > 1e-6:
        raise ShipError(f"{bundle}: {source} is not the model the record of {record['cell']} scored: it evaluates to "
                        f"mean Dice {dice:.6f}, the record says {record['best']['metrics']['mean_dice']:.6f} (trained "
                        "again and not reproduced?); ship it only with a record of its own run")


def ship(grid: Grid, records_dir: str | Path, cells_dir: str | Path, labeled: int, bundles: list[str] | None = None,
         seed: int | None = None, dry_run: bool = False) -> list[dict]:
    """
    Ship each bundle's winner (module docstring); ``bundles`` default: every bundle of the grid's methods that ships
    a ``models/model.pt``. ``cells_dir`` holds the cells' runs (the runner's ``--out``/``cells``). ``dry_run``:
    rank and check only, write nothing. Returns the plans, with ``written`` paths.

    Raises:
        ShipError: see :func:`plan_ship`; the winner's ``model.pt`` is missing from ``cells_dir``, or its evaluation
            there (``eval_best/metrics.json``) is missing or differs from the record's.
    """
    records = load_records(records_dir)
    cells_dir = Path(cells_dir)
    if bundles is None:
        bundles = sorted({m.bundle for m in grid.methods.values()
                          if (grid.bundles_dir / m.bundle / "models" / "model.pt").is_file()})
    plans = [plan_ship(grid, records, b, labeled, seed) for b in bundles]  # every check before any write
    for plan in plans:
        source = cells_dir / plan["record"]["cell"] / "model.pt"
        if not source.is_file():
            raise ShipError(f"{plan['bundle']}: {source} not found: the winner's cell ran elsewhere? Pass the "
                            "runner's --out/cells folder that holds it as --cells_dir, or train the cell again "
                            f"into a new folder (benchmark run --cells {plan['record']['cell']} --out NEW)")
        _check_same_model(plan["bundle"], source, plan["record"])
        plan["source"] = str(source)
    for plan in plans:
        root = grid.bundles_dir / plan["bundle"]
        record = plan["record"]
        plan["written"] = []
        if dry_run:
            continue
        target = root / "models" / "model.pt"
        with atomic_path(target) as tmp:
            shutil.copyfile(plan["source"], tmp)
        _write_json(root / "docs" / "validation_metrics.json", record["best"]["metrics"])
        _write_json(root / "docs" / "shipped_model.json", {
            "cell": record["cell"], "method": record["method"], "framework": record["framework"],
            "ssl_loss": record["ssl_loss"], "labeled": record["labeled"], "seed": record["seed"],
            "best_iteration": record["best"]["iteration"], "grid": record.get("grid"),
            "chosen_by": "highest mean over seeds of the best-validation model's validation mean Dice, among the "
                         "bundle's methods run on the most seeds (validation patients only)",
            "train_command_cpu": record["commands"]["train"], "train_command_gpu": gpu_command(record),
            "ranking": [{k: r[k] for k in ("method", "seeds", "dice", "mean", "std", "eligible")}
                        for r in plan["ranking"]],
            "validation_metrics": record["best"]["metrics"]})
        plan["written"] += [str(target), str(root / "docs" / "validation_metrics.json"),
                            str(root / "docs" / "shipped_model.json")]
        layer = grid.bundles_dir / "_layers" / plan["bundle"] / "metadata.json"
        if _update_eval_metrics(layer, record["best"]["metrics"]):
            plan["written"].append(str(layer))
    if not dry_run and any(p["written"] for p in plans) and (grid.bundles_dir / "_layers").is_dir():
        from metassl_monai.bundle_configs import compose_all

        for path in compose_all(grid.bundles_dir):  # relative to bundles_dir: "<bundle>/configs/metadata.json"
            for plan in plans:
                if path.startswith(f"{plan['bundle']}/"):
                    plan["written"].append(str(grid.bundles_dir / path))
    return plans
