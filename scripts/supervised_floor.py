#!/usr/bin/env python
# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Issue 17: what separates the bundle's supervised-only ACDC model from the published floor, one factor at a time,
on the validation patients only. Each experiment is a real ``python -m monai.bundle run training`` of metassl_acdc
with ``framework=supervised`` (train.json + train_cpu.json + the experiment's overrides), then ``evaluating`` of
its best-validation ``model.pt`` (per-class Dice, HD95 at native resolution, 3D per volume).

    python scripts/supervised_floor.py run DATASET_DIR OUT NAME [NAME ...]   # sequentially, alone on the machine
    python scripts/supervised_floor.py evaluate DATASET_DIR OUT NAME --protocol ssl4mis  # SSL4MIS's scoring
    python scripts/supervised_floor.py report OUT [--plot_png PNG] [--names A,B]  # markdown tables (+ curves)
    python scripts/supervised_floor.py publish OUT docs/results/supervised_floor  # the committed record
    python scripts/supervised_floor.py list                                  # the experiments and what they change

A run killed before its end continues from its last checkpoint when the same command is repeated (``--resume
true``); its wall time is the sum of its pieces (``train_seconds.txt``). Finished and evaluated runs are skipped.
Progress: ``tail -f OUT/NAME.log``; one line per validation is printed here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import fire

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "metassl_acdc"
SUPERVISED = ["--framework", "@frameworks#supervised", "--ssl_loss", "@ssl_losses#none"]
# MONAI's BasicUNet: a full-resolution first block (MONAI's UNet strides its first convolution), SSL4MIS's widths
BASIC_UNET = {"_target_": "BasicUNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
              "features": [16, 32, 64, 128, 256, 16], "norm": "batch", "dropout": 0.1}
# SSL4MIS's own U-Net: BasicUNet's layout with its encoder dropout 0.05..0.5 by depth and no decoder dropout
SSL4MIS_UNET = {"_target_": "metassl_monai.networks.SSL4MISUNet", "spatial_dims": 2, "in_channels": 1,
                "out_channels": "@num_classes"}
#: the bundles' network before issue 17 (every experiment names its network: the bundle default changed)
MONAI_UNET = {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1, "out_channels": "@num_classes",
              "channels": [16, 32, 64, 128, 256], "strides": [2, 2, 2, 2], "num_res_units": 2, "norm": "batch",
              "dropout": 0.1}



@dataclass(frozen=True)
class Experiment:
    """One factor experiment: what it changes, its overrides of train.json + train_cpu.json, its schedule."""

    factor: str
    overrides: dict = field(default_factory=dict)
    iterations: int = 3000
    labeled_patients: int = 7


EXPERIMENTS: dict[str, Experiment] = {
    "unet128": Experiment("the CPU setting before issue 17: MONAI UNet, 128², batch 6", {"network_def": MONAI_UNET}),
    "basicunet128": Experiment("network: MONAI BasicUNet (full-resolution first block)", {"network_def": BASIC_UNET}),
    "ssl4misunet128": Experiment("network: SSL4MIS's U-Net (dropout 0.05..0.5 by depth)", {"network_def": SSL4MIS_UNET}),
    "basicunet128_1500": Experiment("BasicUNet, 1 500 iterations", {"network_def": BASIC_UNET}, iterations=1500),
    "basicunet256_1500": Experiment("BasicUNet at 256², 1 500 iterations",
                                    {"network_def": BASIC_UNET, "patch_size": [256, 256]}, iterations=1500),
    "ssl4misunet128_6000": Experiment("SSL4MIS's U-Net, 6 000 iterations", {"network_def": SSL4MIS_UNET},
                                      iterations=6000),
    "ssl4misunet128_b12": Experiment("SSL4MIS's U-Net, batch 12", {"network_def": SSL4MIS_UNET, "batch_size": 12}),
    "ssl4misunet256": Experiment("SSL4MIS's U-Net at 256² (SSL4MIS's zoom)",
                                 {"network_def": SSL4MIS_UNET, "patch_size": [256, 256]}),
    "ssl4misunet128_3labeled": Experiment("SSL4MIS's U-Net, 3 labeled patients (68 slices)",
                                          {"network_def": SSL4MIS_UNET}, labeled_patients=3),
    "basicunet128_3labeled": Experiment("BasicUNet, 3 labeled patients (68 slices)", {"network_def": BASIC_UNET},
                                        labeled_patients=3),
}
VAL_INTERVAL = 250
# Evaluation protocols of ``evaluate``: overrides of evaluate.json and the folder (in the run directory) written to.
# "native" is the bundle's: the volume resized in-plane to the patch size (linear), softmax probabilities mapped back to
# native size (linear), then argmax. "ssl4mis" is SSL4MIS's ``test_single_volume``: each slice zoomed with nearest
# neighbour, argmax at the patch size, the label map zoomed back with nearest neighbour.
PROTOCOLS: dict[str, tuple[dict, str]] = {
    "native": ({}, "eval"),
    "ssl4mis": ({
        "validate#transforms#0#mode": "nearest",
        "argmax_at_patch_size": {"_target_": "AsDiscreted", "keys": "pred", "argmax": True},
        "validate#invert_spatial#0#nearest_interp": True,
        "validate#discretize#argmax": [False, False],
        "validate#postprocessing#transforms":
            "$[@validate#activation, @argmax_at_patch_size] + @validate#invert_spatial + [@validate#discretize]",
    }, "eval_ssl4mis"),
}
_VAL = re.compile(r"Epoch\[(\d+)\] Metrics -- val_mean_dice: ([0-9.]+)")


def _configs(out: Path, name: str, extra: list[str]) -> str:
    """train.json, train_cpu.json, ``extra`` bundle configs, then the experiment's overrides (last: evaluate.json
    sets the shipped model's patch size, the experiment's own wins)."""
    path = out / f"{name}.overrides.json"
    path.write_text(json.dumps(EXPERIMENTS[name].overrides, indent=1))
    files = [f if isinstance(f, Path) else BUNDLE / "configs" / f for f in ("train.json", "train_cpu.json", *extra)]
    files.append(path)
    return "[" + ",".join(f"'{f}'" for f in files) + "]"


def curve(log: Path, val_interval: int = VAL_INTERVAL) -> list[tuple[int, float]]:
    """(iteration, validation mean Dice) pairs of a training log (StatsHandler's epoch lines)."""
    if not log.exists():
        return []
    points = {int(m.group(1)) * val_interval: float(m.group(2)) for m in _VAL.finditer(log.read_text())}
    return sorted(points.items())


def _train(dataset_dir: str, out: Path, name: str) -> bool:
    experiment = EXPERIMENTS[name]
    iterations = experiment.iterations
    run_dir = out / name
    if (run_dir / "checkpoint_final.pt").exists():
        return True
    resume = ["--resume", "true"] if list(run_dir.glob("checkpoint_*.pt")) else []
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", _configs(out, name, []),
           "--bundle_root", str(BUNDLE), "--dataset_dir", dataset_dir, "--output_dir", str(run_dir), *SUPERVISED,
           "--num_iterations", str(iterations), "--labeled_patients", str(experiment.labeled_patients), "--val_interval", str(VAL_INTERVAL), *resume]
    log = out / f"{name}.log"
    print(f"[{name}] training {time.strftime('%H:%M:%S')} {' '.join(resume)}: {' '.join(cmd[1:])}", flush=True)
    start, seen = time.time(), len(curve(log))
    with open(log, "a") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(10)
            points = curve(log)
            for it, dice in points[seen:]:
                print(f"[{name}] iteration {it}/{iterations}: val Dice {dice:.4f} "
                      f"({time.time() - start:.0f} s)", flush=True)
            seen = len(points)
    seconds = time.time() - start + float((run_dir / "train_seconds.txt").read_text() or 0
                                          if (run_dir / "train_seconds.txt").exists() else 0)
    (run_dir / "train_seconds.txt").write_text(f"{seconds:.0f}")
    if proc.returncode != 0:
        print(f"[{name}] training failed ({proc.returncode}): see {log}", flush=True)
    return (run_dir / "checkpoint_final.pt").exists()


def _evaluate(dataset_dir: str, out: Path, name: str, protocol: str = "native") -> None:
    overrides, folder = PROTOCOLS[protocol]
    run_dir = out / name
    if (run_dir / folder / "metrics.json").exists():
        return
    extra: list = ["evaluate.json"]
    if overrides:
        extra.append(out / f"protocol_{protocol}.json")
        extra[-1].write_text(json.dumps(overrides, indent=1))
    cmd = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file",
           _configs(out, name, extra), "--bundle_root", str(BUNDLE), "--dataset_dir", dataset_dir,
           "--output_dir", str(run_dir / folder), "--ckpt_path", str(run_dir / "model.pt")]
    with open(out / f"{name}.{folder}.log", "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, check=True)
    metrics = json.loads((run_dir / folder / "metrics.json").read_text())
    print(f"[{name}] evaluated ({protocol} protocol): mean Dice {metrics['mean_dice']:.4f}", flush=True)


def evaluate(dataset_dir: str, out: str, *names: str, protocol: str = "ssl4mis") -> None:
    """Evaluate trained experiments' best-validation models with another protocol (``PROTOCOLS``)."""
    if protocol not in PROTOCOLS:
        raise SystemExit(f"unknown protocol {protocol!r}: choose from {sorted(PROTOCOLS)}")
    for name in names:
        if not (Path(out) / name / "model.pt").exists():
            raise SystemExit(f"{Path(out) / name / 'model.pt'} does not exist: train {name} first (run)")
        _evaluate(dataset_dir, Path(out), name, protocol)


def run(dataset_dir: str, out: str, *names: str) -> None:
    """Train (or continue) and evaluate the named experiments one after the other."""
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or not names:
        raise SystemExit(f"unknown or no experiments {unknown}: choose from {sorted(EXPERIMENTS)}")
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        if _train(dataset_dir, out_dir, name):
            _evaluate(dataset_dir, out_dir, name)


def _row(out_dir: Path, name: str) -> str | None:
    points = curve(out_dir / f"{name}.log")
    if not points:
        return None
    e = EXPERIMENTS[name]
    best_it, best = max(points, key=lambda p: p[1])
    seconds = out_dir / name / "train_seconds.txt"
    done = (out_dir / name / "checkpoint_final.pt").exists()
    wall = f"{int(seconds.read_text()) / 60:.0f} min" if seconds.exists() and done else "running"
    metrics_file = out_dir / name / "eval" / "metrics.json"
    if metrics_file.exists():
        m = json.loads(metrics_file.read_text())
        per_class = m.get("mean_dice_per_class", {})
        cls = [f"{per_class.get(c, float('nan')):.3f}" for c in ("RV", "MYO", "LV")]
        hd = f"{m.get('hd95', float('nan')):.1f}"
    else:
        cls, hd = ["—"] * 3, "—"
    return (f"| `{name}` | {e.factor} | {e.labeled_patients} | {e.iterations} | {best:.3f} ({best_it}) | "
            f"{points[-1][1]:.3f} ({points[-1][0]}) | " + " | ".join(cls) + f" | {hd} | {wall} |")


def _protocol_row(out_dir: Path, name: str) -> str | None:
    scores = {}
    for protocol, (_, folder) in PROTOCOLS.items():
        metrics_file = out_dir / name / folder / "metrics.json"
        if metrics_file.exists():
            scores[protocol] = json.loads(metrics_file.read_text())
    if len(scores) < 2:
        return None

    def cell(m: dict) -> str:
        per_class = m["mean_dice_per_class"]
        return f"{m['mean_dice']:.3f} (RV {per_class['RV']:.3f}, MYO {per_class['MYO']:.3f}, LV {per_class['LV']:.3f})"

    return f"| `{name}` | " + " | ".join(cell(scores[p]) if p in scores else "—" for p in PROTOCOLS) + " |"


def table(out: str, names: str | None = None) -> str:
    """The markdown tables of the experiments run in ``out``: one row per experiment (validation curve, per-class
    Dice and HD95 of the best-validation model, wall time), then the models scored under every evaluation protocol."""
    out_dir = Path(out)
    chosen = names.split(",") if isinstance(names, str) else list(names or EXPERIMENTS)
    rows = [r for r in (_row(out_dir, n) for n in chosen) if r]
    text = ("| experiment | what changes | labeled patients | iterations | best val Dice (iteration) | "
            "last val Dice (iteration) | RV | MYO | LV | HD95 (voxels) | train wall time |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    protocol_rows = [r for r in (_protocol_row(out_dir, n) for n in chosen) if r]
    if protocol_rows:
        text += ("\n\nThe same best-validation models scored under each evaluation protocol (validation mean Dice):"
                 "\n\n| experiment | " + " | ".join(PROTOCOLS) + " |\n|---|" + "---|" * len(PROTOCOLS) + "\n"
                 + "\n".join(protocol_rows))
    return text


def write_curve_csv(path: Path, points: list[tuple[int, float]]) -> None:
    """``iteration,val_mean_dice`` rows of a validation curve."""
    path.write_text("iteration,val_mean_dice\n" + "".join(f"{it},{dice}\n" for it, dice in points))


def plot_curves(curves: dict[str, list[tuple[int, float]]], png: str, title: str) -> None:
    """A PNG of validation curves ``{name: [(iteration, validation mean Dice), ...]}``, one line per name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, points in curves.items():
        if points:
            ax.plot(*zip(*points), marker="o", ms=3, label=name)
    ax.set_xlabel("iteration")
    ax.set_ylabel("validation mean Dice (RV, MYO, LV)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def plot(out: str, png: str, names: str | None = None, title: str = "ACDC, supervised only (CPU)") -> None:
    """A PNG of the validation curves (validation mean Dice vs iteration) of the named experiments."""
    chosen = names.split(",") if isinstance(names, str) else list(names or EXPERIMENTS)
    plot_curves({name: curve(Path(out) / f"{name}.log") for name in chosen}, png, title)


def report(out: str, plot_png: str | None = None, names: str | None = None) -> None:
    """Print the markdown tables (and write a PNG of the validation curves with ``plot_png``)."""
    print(table(out, names))
    if plot_png:
        plot(out, plot_png, names)


def publish(out: str, dest: str) -> None:
    """Write the committed record of the experiments run in ``out`` to ``dest``: per experiment its validation curve
    (``NAME.curve.csv``) and the metrics of its best-validation model per protocol (``NAME.metrics.json``,
    ``NAME.ssl4mis_metrics.json``), the tables (``tables.md``) and one PNG of the curves per number of labeled
    patients (``val_dice_<N>labeled.png``); runs still going are left out. The docs take their numbers from these
    files."""
    out_dir, dest_dir = Path(out), Path(dest)
    dest_dir.mkdir(parents=True, exist_ok=True)
    ran = [n for n in EXPERIMENTS if (out_dir / n / "checkpoint_final.pt").exists()]  # finished runs only
    for name in ran:
        write_curve_csv(dest_dir / f"{name}.curve.csv", curve(out_dir / f"{name}.log"))
        for protocol, (_, folder) in PROTOCOLS.items():
            metrics_file = out_dir / name / folder / "metrics.json"
            if metrics_file.exists():
                target = f"{name}.metrics.json" if protocol == "native" else f"{name}.{protocol}_metrics.json"
                (dest_dir / target).write_text(metrics_file.read_text())
    (dest_dir / "tables.md").write_text(table(out, ",".join(ran)) + "\n")
    for labeled in sorted({EXPERIMENTS[n].labeled_patients for n in ran}):
        group = [n for n in ran if EXPERIMENTS[n].labeled_patients == labeled]
        plot(out, str(dest_dir / f"val_dice_{labeled}labeled.png"), ",".join(group),
             title=f"ACDC, supervised only, {labeled} labeled patients (CPU)")
    print(f"wrote {dest_dir}: {len(ran)} experiments")


def list_experiments() -> None:
    for name, e in EXPERIMENTS.items():
        print(f"{name:22s} {e.factor} ({e.labeled_patients} labeled, {e.iterations} iterations): "
              f"{json.dumps(e.overrides)}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    fire.Fire({"run": run, "evaluate": evaluate, "report": report, "publish": publish,
               "list": list_experiments})
