# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The validation curves of bundle trainings, from their logs: one ``NAME.curve.csv`` per run and one PNG of all of them.

    python scripts/validation_curves.py DEST --png curves.png --title "ACDC, 7 labeled (CPU)" \
        mt_metassl=runs/mt_metassl.log plqw_metassl=runs/plqw_metassl.log

Each run is ``NAME=LOG`` (the stdout of ``python -m monai.bundle run training``, whose StatsHandler prints
``Epoch[N] Metrics -- val_mean_dice: ...`` after each validation); ``--val_interval`` turns validation epochs into
iterations (the CPU setting's 250 by default).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from supervised_floor import VAL_INTERVAL, curve, plot_curves, write_curve_csv  # noqa: E402


def main(dest: str, *runs: str, png: str = "val_dice.png", title: str = "ACDC validation (CPU)",
         val_interval: int = VAL_INTERVAL) -> None:
    if not runs or any("=" not in r for r in runs):
        raise SystemExit(f"give runs as NAME=LOG, got {list(runs)}")
    dest_dir = Path(dest)
    dest_dir.mkdir(parents=True, exist_ok=True)
    curves = {}
    for run in runs:
        name, log = run.split("=", 1)
        if not Path(log).is_file():
            raise SystemExit(f"{name}: no log at {log}")
        points = curve(Path(log), val_interval)
        if not points:
            raise SystemExit(f"{name}: {log} holds no validation line (Epoch[N] Metrics -- val_mean_dice)")
        write_curve_csv(dest_dir / f"{name}.curve.csv", points)
        best_it, best = max(points, key=lambda p: p[1])
        print(f"{name}: {len(points)} validations, best {best:.4f} at {best_it}, last {points[-1][1]:.4f}")
        curves[name] = points
    plot_curves(curves, str(dest_dir / png), title)
    print(f"wrote {dest_dir / png}")


if __name__ == "__main__":
    import fire

    fire.Fire(main)
