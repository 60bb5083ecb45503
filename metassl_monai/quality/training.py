# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Training and evaluating the quality predictor with MONAI's SupervisedTrainer / SupervisedEvaluator: batch preparation,
gradient-norm clipping (1.0, as the published predictor training), fixed validation sets and the report.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.engines.utils import IterationEvents
from monai.transforms import Randomizable

__all__ = ["QualityBatch", "GradientClipping", "materialize", "QualityReportSaver", "quality_report"]


class QualityBatch:
    """
    ``prepare_batch`` for MONAI engines training / evaluating the quality predictor: the network input is
    ``batch[input_key]`` (image and one-hot mask, concatenated by ``ConcatItemsd``), the target ``batch[target_key]``
    (the true Dice per foreground class, from ``MaskQualityd``).
    """

    def __init__(self, input_key: str = "input", target_key: str = "quality") -> None:
        self.input_key, self.target_key = input_key, target_key

    def __call__(self, batchdata: Mapping, device=None, non_blocking: bool = False, **kwargs):
        for key in (self.input_key, self.target_key):
            if key not in batchdata:
                raise KeyError(f"quality batch has no {key!r} (keys: {sorted(batchdata)}); check the preprocessing.")
        return (
            batchdata[self.input_key].to(device=device, non_blocking=non_blocking),
            batchdata[self.target_key].to(device=device, non_blocking=non_blocking).float(),
        )


class GradientClipping:
    """
    Clip the gradient norm of a MONAI trainer's network before each optimizer step
    (:func:`torch.nn.utils.clip_grad_norm_` at ``IterationEvents.BACKWARD_COMPLETED``, between ``backward()`` and
    ``optimizer.step()``). The published quality predictor is trained with the norm clipped at 1.0.

    With mixed precision (``amp`` and a grad scaler) the gradients are unscaled first (``scaler.unscale_``, after which
    ``scaler.step`` does not unscale again), so the clipped norm is the true one. With gradient accumulation the
    gradients are clipped only at the iterations that step the optimizer (the accumulated gradient).

    Args:
        max_norm: the maximum total norm; ``None`` or ``<= 0`` disables the clipping.
        norm_type: the norm (2.0: Euclidean; ``inf``: maximum).

    Raises:
        ValueError: a ``max_norm`` that is not a number (NaN).
    """

    def __init__(self, max_norm: float | None = 1.0, norm_type: float = 2.0) -> None:
        if max_norm is not None and math.isnan(float(max_norm)):
            raise ValueError("max_norm must be a number or None, got NaN.")
        self.max_norm = None if max_norm is None or float(max_norm) <= 0 else float(max_norm)
        self.norm_type = float(norm_type)

    def attach(self, engine: Engine) -> None:
        """Clip at every ``IterationEvents.BACKWARD_COMPLETED`` of ``engine`` (a MONAI ``SupervisedTrainer``)."""
        engine.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self)

    @staticmethod
    def _steps(engine: Engine) -> bool:
        """Whether this iteration steps the optimizer (as ``SupervisedTrainer`` decides under accumulation)."""
        acc = int(getattr(engine, "accumulation_steps", 1) or 1)
        if acc <= 1:
            return True
        epoch_length = engine.state.epoch_length
        if epoch_length is not None:
            local = (engine.state.iteration - 1) % epoch_length
            return (local + 1) % acc == 0 or (local + 1) == epoch_length
        return engine.state.iteration % acc == 0

    def __call__(self, engine: Engine) -> None:
        if self.max_norm is None or not self._steps(engine):
            return
        scaler = getattr(engine, "scaler", None)
        if getattr(engine, "amp", False) and scaler is not None:
            scaler.unscale_(engine.optimizer)
        engine.state.grad_norm = float(
            torch.nn.utils.clip_grad_norm_(engine.network.parameters(), self.max_norm, norm_type=self.norm_type)
        )


def materialize(items: Sequence[Mapping], transform: Callable, seed: int = 0) -> list[dict]:
    """
    Apply a (random) transform once to every item with a fixed seed and return the results: a validation set of
    corrupted masks that is the same at every validation round and in every run.
    """
    if isinstance(transform, Randomizable):
        transform.set_random_state(seed=seed)
    return [transform(dict(item)) for item in items]


def _group(op: str) -> str:
    return "real" if str(op).startswith("snapshot") else "synthetic"


def quality_report(pred: np.ndarray, true: np.ndarray, groups: Sequence[str]) -> dict:
    """
    MAE, Pearson and Spearman correlation between predicted and true Dice, for all samples and per group
    (``"synthetic"`` corruptions / ``"real"`` segmenter outputs). ``pred`` and ``true`` are ``(N, C − 1)``; the
    correlations are over the per-sample mean over classes (``null`` when a group has < 3 samples or no variance).
    """
    from scipy.stats import pearsonr, spearmanr

    pred, true = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    groups = np.asarray(list(groups))
    report = {}
    for name in ("all", "synthetic", "real"):
        sel = np.ones(len(groups), bool) if name == "all" else groups == name
        entry = {"n": int(sel.sum())}
        if sel.sum():
            p, t = pred[sel], true[sel]
            entry["mae"] = float(np.abs(p - t).mean())
            entry["mae_per_class"] = np.abs(p - t).mean(0).tolist()
            pm, tm = p.mean(1), t.mean(1)
            ok = sel.sum() >= 3 and np.ptp(pm) > 0 and np.ptp(tm) > 0
            entry["pearson"] = float(pearsonr(pm, tm)[0]) if ok else None
            entry["spearman"] = float(spearmanr(pm, tm)[0]) if ok else None
        report[name] = entry
    return report


class QualityReportSaver:
    """
    At the end of an evaluation of the quality predictor, write ``quality_metrics.json`` (:func:`quality_report`:
    MAE, Pearson, Spearman for all masks, synthetic corruptions and real segmenter outputs), ``quality_cases.csv``
    (name, kind, op, true and predicted Dice per class) and ``quality_scatter.png`` (predicted vs true mean Dice,
    one colour per kind) to ``output_dir``.

    Args:
        output_dir: folder (created if needed).
        ops_key: key of the batch holding what produced each mask (``RandMaskCorruptiond`` / ``RandSnapshotMaskd``).
        name_key: key of the batch holding the sample names (optional).
        class_names: foreground class names for the CSV header.
        best_only: write only after an evaluation that is the evaluator's best so far (its key metric improved:
            ``engine.state.best_metric_epoch == engine.state.epoch``; always when the evaluator has no key metric), so
            that the report describes the predictor a key-metric checkpoint saver keeps, not the last epoch's.
    """

    def __init__(self, output_dir: str, ops_key: str = "corruption", name_key: str = "name",
                 class_names: Sequence[str] | None = None, best_only: bool = False) -> None:
        self.output_dir, self.ops_key, self.name_key = output_dir, ops_key, name_key
        self.class_names = list(class_names) if class_names else None
        self.best_only = best_only
        self._rows: list[tuple] = []

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, lambda _: self._rows.clear())
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._write)

    def _collect(self, engine: Engine) -> None:
        out, batch = engine.state.output, engine.state.batch
        items = out if isinstance(out, list) else [out]
        preds = [np.atleast_2d(np.asarray(torch.as_tensor(i["pred"]).detach().cpu().float())) for i in items]
        trues = [np.atleast_2d(np.asarray(torch.as_tensor(i["label"]).detach().cpu().float())) for i in items]
        pred, true = np.concatenate(preds), np.concatenate(trues)
        if isinstance(batch, Mapping):  # a collated batch
            ops = batch.get(self.ops_key, ["?"] * len(pred))
            names = batch.get(self.name_key, [""] * len(pred))
        else:  # decollated by the engine: a list of per-sample dicts
            ops = [b.get(self.ops_key, "?") if isinstance(b, Mapping) else "?" for b in batch]
            names = [b.get(self.name_key, "") if isinstance(b, Mapping) else "" for b in batch]
        for k in range(len(pred)):
            self._rows.append((str(names[k]), str(ops[k]), true[k], pred[k]))

    def _write(self, engine: Engine) -> None:
        if not self._rows:
            return
        best_epoch = getattr(engine.state, "best_metric_epoch", -1)
        if self.best_only and best_epoch not in (None, -1) and best_epoch != engine.state.epoch:
            return
        os.makedirs(self.output_dir, exist_ok=True)
        true = np.stack([r[2] for r in self._rows])
        pred = np.stack([r[3] for r in self._rows])
        groups = [_group(r[1]) for r in self._rows]
        report = quality_report(pred, true, groups)
        with open(os.path.join(self.output_dir, "quality_metrics.json"), "w") as f:
            json.dump(report, f, indent=4)
            f.write("\n")
        names = self.class_names or [f"class{c + 1}" for c in range(true.shape[1])]
        with open(os.path.join(self.output_dir, "quality_cases.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", "kind", "op"] + [f"true_{n}" for n in names] + [f"pred_{n}" for n in names])
            for (name, op, t, p), g in zip(self._rows, groups):
                w.writerow([name, g, op] + [f"{v:.5f}" for v in t] + [f"{v:.5f}" for v in p])
        self._scatter(pred.mean(1), true.mean(1), groups, report)

    def _scatter(self, pred: np.ndarray, true: np.ndarray, groups: list[str], report: dict) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
        for g, colour in (("synthetic", "tab:blue"), ("real", "tab:orange")):
            sel = np.asarray(groups) == g
            if sel.any():
                r = report[g]
                label = f"{g} (n={r['n']}, MAE {r['mae']:.3f}" + (
                    f", Spearman {r['spearman']:.2f})" if r.get("spearman") is not None else ")")
                ax.scatter(true[sel], pred[sel], s=8, alpha=0.6, c=colour, label=label)
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("true Dice (mean over foreground classes)")
        ax.set_ylabel("predicted Dice")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(os.path.join(self.output_dir, "quality_scatter.png"))
        plt.close(fig)
