# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
One training iteration of a bundle — its :class:`~metassl_monai.engines.SemiSupervisedTrainer` with the bundle's
default training handlers (LR schedule, consistency ramp-up, StatsHandler, TensorBoard, region images, progress bar,
the Mean Teacher EMA) — against :class:`HandLoop`, a hand-written PyTorch loop doing the same work: the same data
loaders, framework (networks), losses, optimizer and LR scheduler objects, the same AMP and device transfers.
Goal: trainer ≤ 1.05× the hand loop's median iteration and ≤ 1.10× its mean.

The two run in alternating blocks of iterations (the trainer is interrupted and resumed with Ignite's
``Engine.interrupt``), so both see the same machine state. An iteration's time is from the end of the previous one
to the end of this one (data, transfer, forward, backward, step and, for the trainer, every handler); validation and
checkpoints are outside the timed window (``val_interval`` is set beyond it): the hand loop has neither.
"""

from __future__ import annotations

import math
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from ignite.engine import Events

from metassl_monai.bench.common import Measurement, median, progress, synchronize
from metassl_monai.engines.semi_supervised_trainer import _call  # the trainer's own loss-call convention

__all__ = ["FRAMEWORKS", "QUICK_FRAMEWORKS", "HandLoop", "bundle_parser", "compare", "first_batch_losses",
           "synthetic_acdc", "time_trainer", "run"]

#: frameworks timed by default (``--framework @frameworks#<name>`` of metassl_acdc), with their default MetaSSL loss
FRAMEWORKS = ("mean_teacher", "cps", "cct", "rdrop", "fixmatch")
QUICK_FRAMEWORKS = ("mean_teacher",)
GOAL_MEDIAN, GOAL_MEAN = 1.05, 1.10
_REPO_BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


def bundle_parser(bundle: str, dataset_dir: str, output_dir: str, device: torch.device, cpu_setting: bool,
                  **overrides):
    """
    The bundle's training config (``train.json``, plus ``train_cpu.json`` when ``cpu_setting``: 128², 6 + 6) on
    ``dataset_dir``, with ``overrides`` (config ids, e.g. ``framework="@frameworks#cps"``), validation and
    checkpoints pushed beyond any benchmark (``val_interval`` 10⁶) and the bundle's ``initialize`` run (seed).
    """
    from monai.bundle import ConfigParser

    root = Path(bundle) if Path(bundle).is_dir() else _REPO_BUNDLES / bundle
    files = [root / "configs" / "train.json"] + ([root / "configs" / "train_cpu.json"] if cpu_setting else [])
    parser = ConfigParser()
    parser.read_config([str(f) for f in files])
    parser.update({"bundle_root": str(root), "dataset_dir": str(dataset_dir), "output_dir": str(output_dir),
                   "device": f"$torch.device('{device}')", "val_interval": 10**6, **overrides})
    parser.get_parsed_content("initialize")
    return parser


class HandLoop:
    """
    A plain PyTorch training loop over the parts of a parsed bundle config (``parser``): what a user would write by
    hand for the same work as the trainer's iteration. It shares the trainer's objects (framework, optimizer, LR
    scheduler, loss modules, data loaders), so the two alternate on one model.
    """

    def __init__(self, parser, trainer) -> None:
        self.device = trainer.state.device
        self.framework = trainer.framework
        self.optimizer = trainer.optimizer
        self.supervised_loss = trainer.supervised_loss
        self.losses = trainer.branch_losses
        self.lr_scheduler = parser.get_parsed_content("lr_scheduler")
        self.amp = bool(trainer.amp)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp else None
        self.labeled = _cycle(getattr(trainer.data_loader, "loader", trainer.data_loader))
        unlabeled = trainer.unlabeled_data_loader
        self.unlabeled = _cycle(getattr(unlabeled, "loader", unlabeled)) if unlabeled is not None else None
        self.consistency = float(parser.get_parsed_content("consistency"))
        self.rampup = int(parser.get_parsed_content("rampup_iterations"))
        self.iteration = 0
        ema = getattr(self.framework, "ema", None)
        self.teacher_params = list(self.framework.teacher.parameters()) if ema is not None else None
        self.student_params = list(self.framework.network.parameters()) if ema is not None else None
        settings = getattr(self.framework, "teacher_settings", {})
        self.ema_decay = float(settings.get("ema_decay", 0.99))
        self.ema_warmup = int(settings.get("ema_warmup_iterations", 0))
        self.ema_warmup_momentum = float(settings.get("ema_warmup_momentum", 1.0))

    def weight(self) -> float:
        """The sigmoid ramp-up of the consistency weight (the bundles' default schedule) at the coming iteration
        (1-based, as Ignite's ``engine.state.iteration`` during an iteration), by hand."""
        t = min((self.iteration + 1) / self.rampup, 1.0) if self.rampup > 0 else 1.0
        return self.consistency * math.exp(-5.0 * (1.0 - t) ** 2)

    def batches(self):
        batch_l = next(self.labeled)
        batch_u = next(self.unlabeled) if self.unlabeled is not None else None
        return batch_l, batch_u

    def step(self, batch_l: dict, batch_u: dict | None) -> torch.Tensor:
        """One iteration on the given batches; returns the total loss (a 0-dim tensor, not synchronised)."""
        dev = self.device
        x_l = batch_l["image"].to(dev, non_blocking=True)
        y_l = batch_l["label"].to(dev, non_blocking=True)
        x_u = batch_u["image"].to(dev, non_blocking=True) if batch_u is not None else None
        views = {k: (batch_l[k].to(dev, non_blocking=True),
                     None if batch_u is None else batch_u[k].to(dev, non_blocking=True))
                 for k in self.framework.view_keys}
        for net in self.framework.trainable_networks():
            net.train()
        self.losses.train()
        self.optimizer.zero_grad(set_to_none=False)
        w = self.weight()
        with torch.autocast("cuda") if self.amp else nullcontext():
            extra = {"views": views} if views else {}
            branches = self.framework(x_l, x_u, with_labeled_reference=self.losses.has_labeled, **extra)
            total = torch.zeros((), device=x_l.device)
            for i, b in enumerate(branches):
                total = total + self.supervised_loss(b.pred_l, y_l).mean()
                if self.losses.has_unlabeled:
                    total = total + w * _call(self.losses.unlabeled[i], b.pred_u, b.ref_u, None, x_u)
                if self.losses.has_labeled:
                    total = total + w * _call(self.losses.labeled[i], b.labeled_consistency_pred, b.ref_l, y_l, x_l)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            total.backward()
            self.optimizer.step()
        self.lr_scheduler.step()
        self.iteration += 1
        self._update_teacher()
        return total.detach()

    @torch.no_grad()
    def _update_teacher(self) -> None:
        if self.teacher_params is None:
            return
        final = 1.0 - self.ema_decay
        if self.ema_warmup > 0 and self.iteration < self.ema_warmup:
            momentum = self.ema_warmup_momentum + (final - self.ema_warmup_momentum) * self.iteration / self.ema_warmup
        else:
            momentum = final
        torch._foreach_lerp_(self.teacher_params, self.student_params, momentum)


def _cycle(loader):
    while True:
        for batch in loader:
            yield batch


def compare(parser, block: int = 10, rounds: int = 6, warmup: int = 3, label: str = "") -> dict:
    """
    Time ``rounds`` alternating blocks of ``block`` iterations of the bundle's trainer (with its handlers) and of
    :class:`HandLoop`, after ``warmup`` untimed iterations of each. Returns the per-iteration seconds of both.
    """
    trainer = parser.get_parsed_content("train#trainer")
    device = trainer.state.device
    hand = HandLoop(parser, trainer)
    trainer.interrupt_resume_enabled = True
    stamps: list[float] = []

    def stamp(engine) -> None:  # registered last: runs after every other handler of the iteration
        synchronize(device)
        stamps.append(time.perf_counter())
        if len(stamps) % block == 0:
            engine.interrupt()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, stamp)
    times = {"trainer": [], "hand": []}

    def trainer_block(record: bool) -> None:
        stamps.clear()
        synchronize(device)
        start = time.perf_counter()
        trainer.run()
        if record:
            times["trainer"] += [b - a for a, b in zip([start] + stamps[:-1], stamps)]

    def hand_block(n: int, record: bool) -> None:
        synchronize(device)
        last = time.perf_counter()
        for _ in range(n):
            hand.step(*hand.batches())
            synchronize(device)
            now = time.perf_counter()
            if record:
                times["hand"].append(now - last)
            last = now

    # warm-up: the first trainer block also builds the loaders' iterators and caches; not recorded
    trainer_block(record=False)
    hand_block(max(warmup, 1), record=False)
    for r in range(rounds):
        trainer_block(record=True)
        hand_block(block, record=True)
        progress(f"trainer {label} round {r + 1}/{rounds}: trainer {median(times['trainer']):.3f} s/it, "
                 f"hand loop {median(times['hand']):.3f} s/it")
    trainer.terminate()  # resume once to end the interrupted run cleanly (no iteration runs)
    trainer.run()
    return times


def time_trainer(trainer, iterations: int, warmup: int = 2) -> list[float]:
    """Seconds of each of ``iterations`` iterations of ``trainer`` (with its handlers), after ``warmup`` untimed ones."""
    device = trainer.state.device
    stamps: list[float] = []
    warmup = max(1, warmup)  # the first iteration's time has no previous stamp
    total = warmup + iterations

    def stamp(engine) -> None:
        synchronize(device)
        stamps.append(time.perf_counter())
        if len(stamps) == total:
            engine.terminate()

    trainer.add_event_handler(Events.ITERATION_COMPLETED, stamp)
    trainer.run()
    trainer.remove_event_handler(stamp, Events.ITERATION_COMPLETED)
    return [b - a for a, b in zip(stamps[warmup - 1:-1], stamps[warmup:])]


def synthetic_acdc(root: str | Path, quick: bool) -> Path:
    """A synthetic ACDC-like dataset for the benchmarks (SSL4MIS layout; 10 training patients of 256×224 slices)."""
    from metassl_monai.data import make_acdc_like_dataset

    size = (32, 32) if quick else (256, 224)
    return make_acdc_like_dataset(Path(root), n_train_patients=4 if quick else 10, n_val_patients=1, size=size, seed=0)


#: the quick setting's overrides of metassl_acdc / qgssl_acdc (32², 2 + 2)
QUICK_OVERRIDES = {"patch_size": [32, 32], "batch_size": 2, "unlabeled_batch_size": 2, "labeled_patients": 1}


def first_batch_losses(parser, seed: int = 0) -> tuple[float, float]:
    """
    The total loss of the bundle's trainer and of :class:`HandLoop` on the same first batch from the same starting
    state (network, optimizer, thresholds and RNG restored in between): the hand loop does the trainer's work.
    """
    import copy

    trainer = parser.get_parsed_content("train#trainer")
    hand = HandLoop(parser, trainer)
    batch_l, batch_u = hand.batches()
    state = {k: copy.deepcopy(getattr(trainer, k).state_dict()) for k in ("framework", "optimizer", "branch_losses")}
    trainer._next_unlabeled = lambda: batch_u
    trainer.state.iteration = 1  # what the ramp-up handler would have set at ITERATION_STARTED, by the schedule
    (schedule,) = [h.schedule for h in parser.get_parsed_content("train#handlers") if hasattr(h, "schedule")]
    trainer.state.consistency_weight = float(schedule(1))
    torch.manual_seed(seed)
    trainer_loss = float(trainer._iteration(trainer, batch_l)["loss"].detach())
    for k, v in state.items():
        getattr(trainer, k).load_state_dict(v)
    hand.iteration = 0
    torch.manual_seed(seed)
    hand_loss = float(hand.step(batch_l, batch_u))
    return trainer_loss, hand_loss


def _measure(name: str, times: dict, detail: dict) -> list[Measurement]:
    t, h = times["trainer"], times["hand"]
    detail = {**detail, "trainer_s": [round(v, 4) for v in t], "hand_s": [round(v, 4) for v in h],
              "trainer_median_s": round(median(t), 4), "hand_median_s": round(median(h), 4),
              "trainer_mean_s": round(sum(t) / len(t), 4), "hand_mean_s": round(sum(h) / len(h), 4)}
    return [
        Measurement(f"trainer/{name}/median_vs_hand_loop", median(t) / median(h), "x", GOAL_MEDIAN, detail=detail),
        Measurement(f"trainer/{name}/mean_vs_hand_loop", (sum(t) / len(t)) / (sum(h) / len(h)), "x", GOAL_MEAN,
                    detail={"see": f"trainer/{name}/median_vs_hand_loop"}),
    ]


def run(device="cpu", quick: bool = False, dataset_dir: str | None = None, frameworks=None, block: int | None = None,
        rounds: int | None = None) -> list[Measurement]:
    """
    metassl_acdc at the CPU setting on CPU (128², 6 + 6) or its GPU default on CUDA (256², 12 + 12, AMP), for each
    framework of :data:`FRAMEWORKS` (``quick``: Mean Teacher only, 32², 2 + 2, 2 blocks of 3), on ``dataset_dir``
    (real ACDC) or a synthetic ACDC-like dataset.
    """
    device = torch.device(device)
    frameworks = frameworks or (QUICK_FRAMEWORKS if quick else FRAMEWORKS)
    block, rounds = block or (3 if quick else 10), rounds or (2 if quick else 6)
    out: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="metassl_bench_") as tmp:
        source = "synthetic" if dataset_dir is None else str(dataset_dir)
        dataset_dir = dataset_dir or synthetic_acdc(Path(tmp) / "data", quick)
        overrides = QUICK_OVERRIDES if quick else {}
        for name in frameworks:
            progress(f"trainer {name}: building the bundle")
            parser = bundle_parser("metassl_acdc", dataset_dir, Path(tmp) / f"run_{name}", device,
                                   cpu_setting=device.type == "cpu", framework=f"@frameworks#{name}", **overrides)
            times = compare(parser, block=block, rounds=rounds, label=name)
            detail = {"bundle": "metassl_acdc", "framework": name, "ssl_loss": "metassl (default)", "data": source,
                      "setting": "CPU (128², 6 + 6)" if device.type == "cpu" else "GPU default (256², 12 + 12, AMP)",
                      "block": block, "rounds": rounds}
            if quick:
                detail["setting"] = "quick (32², 2 + 2)"
            out += _measure(name, times, detail)
    return out
