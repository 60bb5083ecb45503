#!/usr/bin/env python
# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Print the markdown validation table of runs made by scripts/qgssl_acdc_table.sh:
    python scripts/summarize_table.py RUNS_DIR [RUNS_DIR ...]
Each run folder holds eval/metrics.json and train_seconds.txt; a STOPPED.txt marks a run stopped by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LABELS = {
    "supervised": "supervised only (labeled slices)",
    "mt": "Mean Teacher (softmax MSE)",
    "mt_metassl": "Mean Teacher + MetaSSL",
    "mt_metassl_exp": "Mean Teacher + MetaSSL, exp weight form",
    "mt_metassl_lambda001": "Mean Teacher + MetaSSL, λ_max 0.01",
    "mt_metassl_labeled_only": "Mean Teacher + MetaSSL on labeled images only (unlabeled: softmax MSE)",
    "cps": "CPS (pseudo-label CE)",
    "cps_metassl": "CPS + MetaSSL",
    "cps_metassl_preset": "CPS + MetaSSL with the CPS preset (exp weights 50/0.6/3, 85/0.3/3)",
    "cps_metassl_lambda001": "CPS + MetaSSL, λ_max 0.01",
    "cct": "CCT, two decoders (pseudo-label CE)",
    "cct_metassl": "CCT, two decoders + MetaSSL",
    "rdrop": "R-Drop (softmax MSE)",
    "rdrop_metassl": "R-Drop + MetaSSL",
    "fixmatch": "FixMatch (CE masked at 0.95)",
    "fixmatch_metassl": "FixMatch + MetaSSL",
    "qar": "QAR as published (L_sup + λ(t)·QAR, eval-mode EMA teacher)",
    "plqw": "PL-QW as published (L_sup + λ(t)·L_qw, eval-mode EMA teacher)",
    "mt_qar": "Mean Teacher + QAR",
    "mt_plqw": "Mean Teacher + PL-QW",
    "mt_plqw_metassl": "Mean Teacher + PL-QW × MetaSSL",
}


def fmt(v, digits=4):
    return "–" if v is None else f"{v:.{digits}f}"


def main(dirs: list[str]) -> None:
    rows = []
    for d in dirs:
        for run in sorted(Path(d).iterdir()):
            metrics_file = run / "eval" / "metrics.json"
            if not metrics_file.is_file():
                continue
            m = json.loads(metrics_file.read_text())
            secs = run / "train_seconds.txt"
            minutes = f"{int(secs.read_text()) / 60:.0f}" if secs.is_file() else "–"
            pc = m["mean_dice_per_class"]
            stopped = (run / "STOPPED.txt").is_file()  # a run stopped by hand after it collapsed (reason inside)
            rows.append((run.name + (" (stopped)" if stopped else ""), m, pc, minutes))
    order = list(LABELS)
    base = lambda name: name.split(" ")[0]  # noqa: E731
    rows.sort(key=lambda r: order.index(base(r[0])) if base(r[0]) in order else len(order))
    print("| run | mean Dice | RV | MYO | LV | Jaccard | HD95 (vox) | ASD (vox) | train wall time (min) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, m, pc, minutes in rows:
        label = LABELS.get(base(name), base(name)) + name[len(base(name)):]
        print(f"| {label} | **{fmt(m['mean_dice'])}** | {fmt(pc['RV'])} | {fmt(pc['MYO'])} | "
              f"{fmt(pc['LV'])} | {fmt(m['mean_jaccard'])} | {fmt(m['hd95'], 2)} | {fmt(m['asd'], 2)} | {minutes} |")


if __name__ == "__main__":
    main(sys.argv[1:] or ["runs"])
