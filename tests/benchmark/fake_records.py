# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Hand-made benchmark cell records (the runner's record format) for the report and ship tests."""

from __future__ import annotations


def metrics(d: float, hd95_left_out: int = 0) -> dict:
    """An evaluation's metrics.json with mean Dice ``d`` (classes RV / MYO / LV at d - 0.1, d, d + 0.1); HD95 5.0
    over the finite values, ``hd95_left_out`` not finite."""
    return {"mean_dice": d, "mean_dice_per_class": {"RV": d - 0.1, "MYO": d, "LV": d + 0.1},
            "mean_jaccard": d / 2, "hd95": 5.0, "hd95_nonfinite_values": hd95_left_out, "asd": 1.0}


def record(method, seed, best, last, baseline=None, labeled=7, fractions=None, bundle="metassl_acdc",
           framework="mean_teacher", ssl_loss="metassl", evaluate_overrides=None, terms=None, hd95_left_out=0):
    """A cell record; ``fractions`` (region -> fraction) and ``terms`` (loss term -> its 10 traced values) fill the
    trace of its 10 logged iterations."""
    trace = {"iteration": list(range(0, 100, 10)), **(terms or {})}
    if fractions:
        trace.update({f"unlabeled_0/fraction_{r}": [v] * 10 for r, v in fractions.items()})
        trace["unlabeled_0/threshold_1"] = [0.9 - 0.01 * i for i in range(10)]
    return {"version": 1, "cell": f"{method}_{labeled}l_s{seed}", "method": method, "group": f"{labeled} labeled",
            "bundle": bundle, "framework": framework, "ssl_loss": ssl_loss, "baseline": baseline,
            "labeled": labeled, "labeled_key": "labeled_patients", "seed": seed, "grid": "t",
            "overrides": {"patch_size": [32, 32]}, "evaluate_overrides": evaluate_overrides or {},
            "commands": {"train": f"python -m monai.bundle run training --seed {seed}"},
            "curve": [[50, best - 0.1], [100, best]], "best": {"iteration": 100, "val_mean_dice": best,
                                                               "metrics": metrics(best)},
            "last": {"iteration": 100, "val_mean_dice": last, "metrics": metrics(last, hd95_left_out)},
            "train_seconds": 600.0, "seconds_per_iteration": {"alone": 0.5, "shared": None, "load_alone": 2.1,
                                                                "load_shared": None}, "ssl_trace": trace}
