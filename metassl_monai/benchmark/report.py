# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The benchmark report, regenerated from the cells' records alone (``benchmark report``): ``<name>.csv`` (one row per
cell), ``<name>.md`` (mean ± sample standard deviation over seeds per method, the paired difference of each method to
its plain baseline on the same seeds, the grid's published results next to its methods, the cells not recorded yet,
where the training loss comes from at the end of training, the MetaSSL region fractions at the end of training,
every cell, the commands)
and PNG plots: validation Dice vs iteration per method (``<name>_curves_<N>labeled.png``), final Dice per method with
every seed (``<name>_final.png``) and the region fractions over training (``<name>_regions.png``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import shlex
from collections import defaultdict
from pathlib import Path

__all__ = ["load_records", "cell_threads", "summarize", "paired", "seed_spread", "spread_sources", "region_fractions", "loss_composition",
           "write_report", "mean_std"]

REGIONS = ("UC", "US", "DC", "DS")
#: the parts of the training loss, as the trainer names its terms (``sup``, ``sup_b``, ... one per trainable network)
LOSS_PARTS = (("supervised", "sup"), ("labeled", "cons_l"), ("unlabeled", "cons_u"))


#: what every cell record has (the runner writes them all at once, atomically)
RECORD_KEYS = ("cell", "best", "last", "train_seconds")


def load_records(records_dir: str | Path, strict: bool = True) -> list[dict]:
    """Every cell record (``*.json``) in ``records_dir``, ordered by labeled count (descending), method, seed.

    Args:
        records_dir: the folder of the records (``<out>/records`` of a grid run, or a committed copy).
        strict: a report or a shipped model must not leave a cell out silently, so by default a missing folder or a
            JSON file that is not a record raises. ``False`` (the runner's scheduling, reading the records of the
            cells already run) skips them: no folder yet means no records.

    Raises:
        FileNotFoundError: ``strict`` and the folder does not exist.
        ValueError: ``strict`` and a file is not valid JSON or not a cell record (the file is named).
    """
    folder = Path(records_dir)
    if not folder.is_dir():
        if strict:
            raise FileNotFoundError(f"records folder {folder} does not exist (run the grid first)")
        return []
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            if strict:
                raise ValueError(f"{path} is not a benchmark cell record (not readable JSON: {e})") from None
            continue
        if not isinstance(record, dict) or any(key not in record for key in RECORD_KEYS):
            if strict:
                raise ValueError(f"{path} is not a benchmark cell record (no {' / '.join(map(repr, RECORD_KEYS))})")
            continue
        records.append(record)
    return sorted(records, key=lambda r: (-r["labeled"], r["method"], r["seed"]))


def cell_threads(record: dict) -> int | None:
    """The CPU threads a cell trained with (``host.threads``); None when its record does not say (written before the
    runner kept it)."""
    threads = record.get("host", {}).get("threads")
    return int(threads) if threads is not None else None


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (n - 1; None for a single value)."""
    n = len(values)
    mean = sum(values) / n
    return mean, (math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None)


def _mean_defined(values: list) -> float:
    """Mean of the values that are numbers (a distance is None when no case had one: empty predictions); NaN if
    none is."""
    defined = [v for v in values if v is not None and not math.isnan(v)]
    return sum(defined) / len(defined) if defined else float("nan")


def _fmt(mean: float, std: float | None, digits: int = 3) -> str:
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _methods_in_order(records: list[dict]) -> list[str]:
    seen: list[str] = []
    for r in records:
        if r["method"] not in seen:
            seen.append(r["method"])
    return seen


def summarize(records: list[dict]) -> list[dict]:
    """Per (labeled, method): seeds, and mean / std over seeds of the best-validation model's and the last
    iteration's evaluated mean Dice, per-class Dice and HD95 of the last (with the number of case × class HD95 values
    left out of it, not finite: a class absent from a prediction), training minutes and seconds/iteration."""
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["labeled"], r["method"])].append(r)
    rows = []
    for (labeled, method), cells in groups.items():
        best = mean_std([c["best"]["metrics"]["mean_dice"] for c in cells])
        last = mean_std([c["last"]["metrics"]["mean_dice"] for c in cells])
        classes = list(cells[0]["last"]["metrics"].get("mean_dice_per_class", {}))
        per_class = {k: mean_std([c["last"]["metrics"]["mean_dice_per_class"][k] for c in cells])[0]
                     for k in classes}
        # the per-method s/it are means over the cells that had one thread: a cell given more (it ran alone so that it
        # finished within a session) would make its method look faster; "Every cell" lists every cell's threads
        timed = [c["seconds_per_iteration"] for c in cells if cell_threads(c) == 1]
        alone = [t["alone"] for t in timed if t["alone"]]
        shared = [t["shared"] for t in timed if t["shared"]]
        hd95_left_out = sum(int(c["last"]["metrics"].get("hd95_nonfinite_values") or 0) for c in cells)
        rows.append({"labeled": labeled, "method": method, "framework": cells[0]["framework"],
                     "ssl_loss": cells[0]["ssl_loss"], "baseline": cells[0]["baseline"],
                     "seeds": [c["seed"] for c in cells], "best": best, "last": last, "last_per_class": per_class,
                     "last_hd95": _mean_defined([c["last"]["metrics"].get("hd95") for c in cells]),
                     "last_hd95_left_out": hd95_left_out,
                     "best_iteration": [c["best"]["iteration"] for c in cells],
                     "train_minutes": mean_std([c["train_seconds"] / 60 for c in cells])[0],
                     "s_per_it_alone": sum(alone) / len(alone) if alone else None,
                     "s_per_it_shared": sum(shared) / len(shared) if shared else None})
    return rows


# two-sided 95 % quantiles of Student's t for 1..10 degrees of freedom (pairs - 1)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def _seeds_per_method(records: list[dict], labeled: int, which: str) -> dict[str, list[float]]:
    by_method: dict[str, list[float]] = defaultdict(list)
    for r in records:
        if r["labeled"] == labeled:
            by_method[r["method"]].append(r[which]["metrics"]["mean_dice"])
    return by_method


def seed_spread(records: list[dict], labeled: int, which: str = "last") -> float | None:
    """The seed-to-seed spread at a number of labeled patients: the pooled sample standard deviation over seeds of
    the evaluated mean Dice (``which`` model), over the methods run with 2 seeds or more (None when none is)."""
    variances = [(len(v) - 1, mean_std(v)[1] ** 2) for v in _seeds_per_method(records, labeled, which).values()
                 if len(v) >= 2]
    dof = sum(d for d, _ in variances)
    return math.sqrt(sum(d * var for d, var in variances) / dof) if dof else None


def spread_sources(records: list[dict], labeled: int, which: str = "last") -> dict[str, int]:
    """The methods :func:`seed_spread` pools at ``labeled``, with their number of seeds."""
    return {m: len(v) for m, v in _seeds_per_method(records, labeled, which).items() if len(v) >= 2}


def paired(records: list[dict]) -> list[dict]:
    """For each method with a baseline: the per-seed difference method − baseline (same labeled count and seed) of
    the evaluated mean Dice, best-validation model and last iteration, with mean and sample std over the pairs, the
    95 % confidence interval of the mean last-iteration difference (paired t; None below 2 pairs) and that difference
    in units of the seed spread of its labeled count (:func:`seed_spread`; the issue's rule: a one-seed comparison
    under 2 spreads needs 3 seeds)."""
    by_key = {(r["labeled"], r["method"], r["seed"]): r for r in records}
    rows: dict[tuple[int, str], dict] = {}
    for r in records:
        base = by_key.get((r["labeled"], r["baseline"], r["seed"])) if r["baseline"] else None
        if base is None:
            continue
        row = rows.setdefault((r["labeled"], r["method"]), {"labeled": r["labeled"], "method": r["method"],
                                                             "baseline": r["baseline"], "seeds": [],
                                                             "best": [], "last": []})
        row["seeds"].append(r["seed"])
        for which in ("best", "last"):
            row[which].append(r[which]["metrics"]["mean_dice"] - base[which]["metrics"]["mean_dice"])
    for row in rows.values():
        row["best_mean_std"] = mean_std(row["best"])
        row["last_mean_std"] = mean_std(row["last"])
        mean, std = row["last_mean_std"]
        n = len(row["last"])
        row["last_ci95"] = None if std is None else (
            mean - _T975[min(n - 1, len(_T975)) - 1] * std / math.sqrt(n),
            mean + _T975[min(n - 1, len(_T975)) - 1] * std / math.sqrt(n))
        spread = seed_spread(records, row["labeled"])
        row["spread"] = spread
        row["last_in_spreads"] = abs(mean) / spread if spread else None
    return list(rows.values())


def _tail_start(n: int, tail: float) -> int:
    """The first of ``n`` traced iterations in their last ``tail`` (at least the last one)."""
    return min(n - 1, int(n * (1 - tail))) if n else 0


def region_fractions(record: dict, tail: float = 0.1) -> dict[str, dict[str, float]]:
    """Per MetaSSL loss of a cell (``<loss>/fraction_<R>`` in its trace): each region's mean fraction over the last
    ``tail`` of the recorded trace, and each class's final adaptive threshold."""
    trace = record.get("ssl_trace") or {}
    out: dict[str, dict[str, float]] = {}
    n = len(trace.get("iteration", []))
    start = _tail_start(n, tail)
    for key, values in trace.items():
        if "/fraction_" in key or "/threshold_" in key:
            loss, stat = key.rsplit("/", 1)
            kept = [v for v in values[start:] if v is not None] if "/fraction_" in key else \
                [v for v in values if v is not None][-1:]
            if kept:
                out.setdefault(loss, {})[stat] = sum(kept) / len(kept)
    return out


def loss_composition(record: dict, tail: float = 0.1) -> dict[str, float] | None:
    """Where a cell's training loss comes from at the end of training: over the last ``tail`` of its recorded trace,
    the mean of the supervised terms (``sup``, ``sup_b``, ...: every trainable network), of λ(t) times the labeled
    consistency terms (``cons_l*``) and of λ(t) times the unlabeled ones (``cons_u*``), as ``{"supervised",
    "labeled", "unlabeled"}``: the three parts of the loss the optimiser sees. None for a cell without a consistency
    term (supervised-only) or without a trace."""
    trace = record.get("ssl_trace") or {}
    n = len(trace.get("iteration", []))
    if not n or not any(k.startswith("cons_") for k in trace):
        return None
    start = _tail_start(n, tail)
    weight = trace.get("consistency_weight") or [1.0] * n
    out = {}
    for part, prefix in LOSS_PARTS:
        keys = [k for k in trace if k == prefix or k.startswith(prefix + "_")]
        per_iteration = [sum(trace[k][i] or 0.0 for k in keys) * (1.0 if part == "supervised" else weight[i] or 0.0)
                         for i in range(start, n)]
        out[part] = sum(per_iteration) / len(per_iteration)
    return out


# ---------------------------------------------------------------------------------------------------- writers
def _device(record: dict) -> str:
    """The GPU a cell ran on, else "CPU" with its model when the record names it (records before 2026-12-08 do not)."""
    host = record.get("host", {})
    if "gpu" not in host:
        return "–"
    return host["gpu"] or ("CPU" + (f" ({host['cpu_model']})" if host.get("cpu_model") else ""))


def _blank(value) -> object:
    return "" if value is None else value


def _csv(records: list[dict]) -> str:
    classes = list(records[0]["best"]["metrics"].get("mean_dice_per_class", {})) if records else []
    metrics = ("mean_dice", "mean_jaccard", "hd95", "asd")
    header = ["cell", "method", "labeled", "seed", "bundle", "framework", "ssl_loss", "baseline"]
    for which in ("best", "last"):
        header += [f"{which}_iteration", f"{which}_val_mean_dice", *[f"{which}_{m}" for m in metrics],
                   *[f"{which}_dice_{c}" for c in classes]]
    header += ["train_seconds", "s_per_it_alone", "s_per_it_shared", "load_alone", "load_shared", "threads",
               "evaluate_seconds", "torch", "gpu"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for r in records:
        row = [r["cell"], r["method"], r["labeled"], r["seed"], r["bundle"], r["framework"], r["ssl_loss"],
               r["baseline"] or ""]
        for which in ("best", "last"):
            m = r[which]["metrics"]
            row += [r[which]["iteration"], r[which]["val_mean_dice"], *[m.get(k, "") for k in metrics],
                    *[m.get("mean_dice_per_class", {}).get(c, "") for c in classes]]
        spi = r["seconds_per_iteration"]
        row += [r["train_seconds"], *[spi.get(k) if spi.get(k) is not None else ""
                                      for k in ("alone", "shared", "load_alone", "load_shared")]]
        host = r.get("host", {})
        row += [_blank(cell_threads(r)), _blank(r.get("evaluate_seconds")), _blank(host.get("torch")),
                _blank(host.get("gpu"))]
        writer.writerow(row)
    return buf.getvalue()


def gpu_command(record: dict) -> str:
    """The training command of a cell at the paper's setting (the bundle's ``train.json`` alone: the GPU default)."""
    bundle = f"bundles/{record['bundle']}"
    overrides = {k: v for k, v in record.get("overrides", {}).items()}
    args = ["python", "-m", "monai.bundle", "run", "training", "--config_file", f"{bundle}/configs/train.json",
            "--bundle_root", bundle, "--dataset_dir", "DATA", "--output_dir", f"runs/{record['cell']}",
            "--framework", f"@frameworks#{record['framework']}", "--ssl_loss", f"@ssl_losses#{record['ssl_loss']}",
            f"--{record.get('labeled_key', 'labeled_patients')}", str(record["labeled"]), "--seed", str(record["seed"])]
    for key, value in overrides.items():
        args += [f"--{key}", value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))]
    return shlex.join(args)


def _spread_line(records: list[dict], labeled: int) -> str:
    sources = spread_sources(records, labeled)
    if not sources:
        return "No method has 2 seeds at this labeled count yet: no spread."
    return (f"Spread at {labeled} labeled: {seed_spread(records, labeled):.4f}, pooled from "
            + ", ".join(f"`{m}` ({n} seeds)" for m, n in sources.items())
            + (": one method's seeds, a rough estimate." if len(sources) == 1 else "."))


def _hd95(row: dict) -> str:
    left_out = row.get("last_hd95_left_out") or 0
    return f"{row['last_hd95']:.2f}" + (f" ({left_out} left out)" if left_out else "")


def _published_rows(published: dict, summary: list[dict]) -> list[str]:
    ours = {(r["labeled"], r["method"]): r for r in summary}
    lines = ["## Next to the published results", "",
             f"Published: {published['setting']}. Source: {published['source']}. The budgets differ: compare the gain "
             "of a method over its baseline at equal budget (the paired tables), not our Dice with theirs.", "",
             "| method | labeled | our seeds | our best-val model Dice | our last-iteration Dice | our last HD95 | "
             "published | published Dice | published HD95 |", "|---|---|---|---|---|---|---|---|---|"]
    for row in published["rows"]:
        r = ours.get((row["labeled"], row["method"]))
        mine = (f"{len(r['seeds'])} | {_fmt(*r['best'])} | {_fmt(*r['last'])} | {_hd95(r)}" if r
                else "0 | not run yet | – | –")
        hd95 = "–" if row["hd95"] is None else f"{row['hd95']:.1f}"
        lines.append(f"| `{row['method']}` | {row['labeled']} | {mine} | {row['name']} | {row['dice']:.3f} | {hd95} |")
    return lines + [""]


def _markdown(name: str, records: list[dict], figures: list[str], grid=None) -> str:
    summary, pairs = summarize(records), paired(records)
    classes = list(records[0]["last"]["metrics"].get("mean_dice_per_class", {})) if records else []
    lines = [f"# Benchmark `{name}`", "",
             f"Generated by `python -m metassl_monai benchmark report` from {len(records)} cell record(s); do not edit "
             "by hand. Validation patients only (no test data); `best` = the model of the best validation Dice (chosen "
             "and scored on the same validation volumes: optimistic), `last` = the model of the last iteration (no "
             "selection). Mean ± sample standard deviation over seeds; Dice of the 3D volumes at native resolution, "
             "mean over the foreground classes; HD95 in voxels of the evaluation, mean over the case × class values that "
             "are finite: \"(n left out)\" counts the others (a class absent from a prediction), so such a mean is "
             "optimistic.", ""]
    for labeled in sorted({r["labeled"] for r in summary}, reverse=True):
        rows = [r for r in summary if r["labeled"] == labeled]
        lines += [f"## {labeled} labeled", "",
                  "| method | framework | consistency loss | seeds | best-val model Dice | last-iteration Dice | "
                  + " | ".join(f"last {c}" for c in classes) + " | last HD95 | best iteration(s) | train min/seed | "
                  "s/it alone (1 thread) | s/it shared (1 thread) |",
                  "|---|---|---|---|---|---|" + "---|" * len(classes) + "---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| `{r['method']}` | {r['framework']} | {r['ssl_loss']} | {len(r['seeds'])} | {_fmt(*r['best'])} | "
                f"{_fmt(*r['last'])} | " + " | ".join(f"{r['last_per_class'][c]:.3f}" for c in classes)
                + f" | {_hd95(r)} | {', '.join(map(str, r['best_iteration']))} | {r['train_minutes']:.1f} | "
                + (f"{r['s_per_it_alone']:.3f}" if r["s_per_it_alone"] else "–") + " | "
                + (f"{r['s_per_it_shared']:.3f}" if r["s_per_it_shared"] else "–") + " |")
        lines.append("")
        group_pairs = [p for p in pairs if p["labeled"] == labeled]
        if group_pairs:
            lines += ["Paired with the plain baseline on the same seeds (method − baseline, evaluated mean Dice). The "
                      "95 % interval is the paired t interval of the mean last-iteration difference (2 pairs or more); "
                      "|Δ| / spread is that difference in seed-to-seed spreads (pooled std over seeds of the methods "
                      "with 2 seeds or more at this labeled count): under 2, a one-seed comparison needs 3 seeds.",
                      _spread_line(records, labeled), "",
                      "| method | baseline | pairs (seeds) | Δ best-val model | Δ last iteration | 95 % interval "
                      "(last) | \\|Δ last\\| / spread |", "|---|---|---|---|---|---|---|"]
            for p in group_pairs:
                ci = "–" if p["last_ci95"] is None else f"[{p['last_ci95'][0]:+.4f}, {p['last_ci95'][1]:+.4f}]"
                ratio = "–" if p["last_in_spreads"] is None else f"{p['last_in_spreads']:.1f}"
                lines.append(f"| `{p['method']}` | `{p['baseline']}` | {len(p['seeds'])} "
                             f"({', '.join(map(str, p['seeds']))}) | {_fmt(*p['best_mean_std'], digits=4)} | "
                             f"{_fmt(*p['last_mean_std'], digits=4)} | {ci} | {ratio} |")
            lines.append("")
    if grid is not None and grid.published:
        lines += _published_rows(grid.published, summary)
    if grid is not None:
        done = {r["cell"] for r in records}
        pending = [c.name for c in grid.cells if c.name not in done]
        if pending:
            lines += ["## Not recorded yet", "", f"{len(pending)} of the grid's {len(grid.cells)} cells, in the order "
                      "they run: " + ", ".join(f"`{c}`" for c in pending) + ".", ""]
    region_rows = []
    for r in records:
        for loss, stats in region_fractions(r).items():
            if any(f"fraction_{g}" in stats for g in REGIONS):
                thresholds = [f"{v:.2f}" for k, v in sorted(stats.items()) if k.startswith("threshold_")]
                region_rows.append(f"| `{r['cell']}` | {loss} | " + " | ".join(
                    f"{stats.get(f'fraction_{g}', float('nan')):.3f}" for g in REGIONS) + f" | {', '.join(thresholds)} |")
    if region_rows:
        lines += ["## MetaSSL regions at the end of training", "",
                  "Fraction of pixels per region (mean over the last 10 % of the recorded trace) and the final adaptive "
                  "threshold per class, per MetaSSL loss of each cell:", "",
                  "| cell | loss | UC | US | DC | DS | thresholds (per class) |", "|---|---|---|---|---|---|---|",
                  *region_rows, ""]
    composition_rows = []
    for r in records:
        parts = loss_composition(r)
        if parts:
            total = sum(parts.values())
            share = (parts["labeled"] + parts["unlabeled"]) / total if total else float("nan")
            composition_rows.append(f"| `{r['cell']}` | {parts['supervised']:.4f} | {parts['labeled']:.4f} | "
                                    f"{parts['unlabeled']:.4f} | {share:.1%} |")
    if composition_rows:
        lines += ["## Where the training loss comes from at the end of training", "",
                  "Mean over the last 10 % of the recorded trace of the supervised loss, of λ(t) × the consistency "
                  "term on the labeled images and of λ(t) × the one on the unlabeled images (each summed over the "
                  "trainable networks), and the consistency terms' share of the total the optimiser sees:", "",
                  "| cell | supervised | λ · labeled term | λ · unlabeled term | consistency share |",
                  "|---|---|---|---|---|", *composition_rows, ""]
    lines += ["## Every cell", "", "s/it: wall seconds per training iteration, validation included; alone = no other "
              "cell of the benchmark ran, shared = others did; (load) = the machine's mean 1-minute load average "
              "meanwhile (a load well above the cell's threads: something else ran too); threads = the cell's CPU "
              "threads; "
              "evaluation s = wall seconds of its two evaluations (best and last model).", "",
              "| cell | best val Dice (iteration) | best-val model Dice | last-iteration Dice | train min | threads | "
              "s/it alone (load) | s/it shared (load) | evaluation s | torch | device |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]

    def timing(spi: dict, key: str) -> str:
        if spi.get(key) is None:
            return "–"
        return f"{spi[key]:.3f}" + (f" ({spi[f'load_{key}']:.1f})" if spi.get(f"load_{key}") is not None else "")

    for r in records:
        spi = r["seconds_per_iteration"]
        lines.append(f"| `{r['cell']}` | {r['best']['val_mean_dice']:.4f} ({r['best']['iteration']}) | "
                     f"{r['best']['metrics']['mean_dice']:.4f} | {r['last']['metrics']['mean_dice']:.4f} | "
                     f"{r['train_seconds'] / 60:.1f} | {cell_threads(r) or '–'} | {timing(spi, 'alone')} | "
                     f"{timing(spi, 'shared')} | "
                     + (f"{r['evaluate_seconds']:.0f}" if r.get("evaluate_seconds") is not None else "–")
                     + f" | {r.get('host', {}).get('torch') or '–'} | {_device(r)} |")
    lines += ["", "## Figures", "", *[f"![{f}]({f})" for f in figures], "",
              "## Commands", "", "Each cell as it ran (CPU benchmark setting; `--resume true` continues it), and at the "
              "paper's setting (the bundle's `train.json` alone, GPU):", ""]
    for r in records:
        lines += [f"- `{r['cell']}`", "  ```bash", f"  {r['commands']['train']}", f"  {gpu_command(r)}", "  ```"]
    return "\n".join(lines) + "\n"


def _plots(name: str, records: list[dict], dest: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    methods = _methods_in_order(records)
    colors = {m: plt.cm.tab20(i % 20) for i, m in enumerate(methods)}
    for labeled in sorted({r["labeled"] for r in records}, reverse=True):
        fig, ax = plt.subplots(figsize=(8, 4.5))
        for method in methods:
            cells = [r for r in records if r["labeled"] == labeled and r["method"] == method]
            if not cells:
                continue
            iterations = sorted(set.intersection(*[{it for it, _ in c["curve"]} for c in cells]))
            values = [[dict(map(tuple, c["curve"]))[it] for c in cells] for it in iterations]
            ax.plot(iterations, [sum(v) / len(v) for v in values], marker="o", ms=3, color=colors[method],
                    label=f"{method} (n={len(cells)})")
            if len(cells) > 1:
                ax.fill_between(iterations, [min(v) for v in values], [max(v) for v in values], color=colors[method],
                                alpha=0.15)
        ax.set_xlabel("iteration")
        ax.set_ylabel("validation mean Dice")
        ax.set_title(f"{name}: {labeled} labeled (mean over seeds, band = min..max)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        file = f"{name}_curves_{labeled}labeled.png"
        fig.savefig(dest / file, dpi=110)
        plt.close(fig)
        written.append(file)

    groups = sorted({r["labeled"] for r in records}, reverse=True)
    fig, axes = plt.subplots(1, len(groups), figsize=(max(6, 1.1 * len(methods) * len(groups)), 4.5), squeeze=False)
    for ax, labeled in zip(axes[0], groups):
        shown = [m for m in methods if any(r["labeled"] == labeled and r["method"] == m for r in records)]
        for x, method in enumerate(shown):
            cells = [r for r in records if r["labeled"] == labeled and r["method"] == method]
            for offset, which, marker in ((-0.12, "best", "o"), (0.12, "last", "x")):
                values = [c[which]["metrics"]["mean_dice"] for c in cells]
                ax.scatter([x + offset] * len(values), values, marker=marker, color=colors[method], zorder=3,
                           label=which if x == 0 else None)
                ax.hlines(sum(values) / len(values), x + offset - 0.1, x + offset + 0.1, color="k", lw=1)
        ax.set_xticks(range(len(shown)))
        ax.set_xticklabels(shown, rotation=45, ha="right", fontsize=8)
        ax.set_title(f"{labeled} labeled: every seed (o best-val model, x last iteration)", fontsize=9)
        ax.set_ylabel("evaluated mean Dice (validation)")
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    file = f"{name}_final.png"
    fig.savefig(dest / file, dpi=110)
    plt.close(fig)
    written.append(file)

    with_regions = [m for m in methods if any(
        r["method"] == m and any(k.endswith("/fraction_UC") for k in r.get("ssl_trace", {})) for r in records)]
    if with_regions:
        fig, axes = plt.subplots(1, len(with_regions), figsize=(4 * len(with_regions), 3.6), squeeze=False,
                                 sharey=True)
        for ax, method in zip(axes[0], with_regions):
            cells = [r for r in records if r["method"] == method]
            cell = max(cells, key=lambda r: r["labeled"])  # one cell per method: the first seed of the largest group
            trace = cell["ssl_trace"]
            loss = sorted(k for k in trace if k.endswith("/fraction_UC"))[0].rsplit("/", 1)[0]
            for region in REGIONS:
                ax.plot(trace["iteration"], trace[f"{loss}/fraction_{region}"], label=region)
            ax.set_title(f"{cell['cell']}\n{loss}", fontsize=8)
            ax.set_xlabel("iteration")
            ax.grid(alpha=0.3)
        axes[0][0].set_ylabel("fraction of pixels")
        axes[0][0].legend(fontsize=8)
        fig.tight_layout()
        file = f"{name}_regions.png"
        fig.savefig(dest / file, dpi=110)
        plt.close(fig)
        written.append(file)
    return written


def write_report(records_dir: str | Path, dest: str | Path, name: str, grid=None) -> dict[str, str]:
    """Write ``dest/<name>.md``, ``dest/<name>.csv`` and the PNG plots from the records in ``records_dir``; returns
    the paths written. With the ``grid`` (a :class:`~metassl_monai.benchmark.grid.Grid`), the markdown also places
    the grid's ``published`` results next to its methods and lists the cells not recorded yet."""
    records = load_records(records_dir)
    if not records:
        raise FileNotFoundError(f"no cell records in {records_dir}: nothing to report")
    if grid is not None:  # the grid's order (its methods as it lists them), not the records' file names
        order = {c.name: i for i, c in enumerate(grid.cells)}
        records = sorted(records, key=lambda r: order.get(r["cell"], len(order)))
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    figures = _plots(name, records, dest)
    (dest / f"{name}.csv").write_text(_csv(records), encoding="utf-8")
    (dest / f"{name}.md").write_text(_markdown(name, records, figures, grid), encoding="utf-8")
    return {"markdown": str(dest / f"{name}.md"), "csv": str(dest / f"{name}.csv"),
            **{f: str(dest / f) for f in figures}}
