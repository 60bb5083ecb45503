# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The consistency losses' forward + backward against a plain cross-entropy to the reference's pseudo-label, on the same
tensors (goal: ``HeterogeneousLoss`` ≤ 1.2×, 2D and 3D, with per-image weights too).

The baseline is what a user would write without MetaSSL, ``F.cross_entropy(pred, argmax(ref))`` with the pseudo-label
from :func:`~metassl_monai.losses.class_indices` (torch's ``argmax`` over the channel dimension is 10–50× slower on
CPU; with it the baseline itself costs several times more, see ``detail["ce_torch_argmax_ms"]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from metassl_monai.bench.common import Measurement, interleaved, median
from metassl_monai.losses import (
    HeterogeneousLoss,
    PseudoLabelDiceCELoss,
    SoftmaxMSELoss,
    class_indices,
    ratio_weights,
)

__all__ = ["SHAPES", "QUICK_SHAPES", "GOAL", "run"]

#: (B, C, *spatial) of the papers' GPU settings: ACDC 2D 24 slices (12 + 12) of 256², LA 3D 4 crops (2 + 2) of 112²×80
SHAPES = {"2d": (24, 4, 256, 256), "3d": (4, 2, 112, 112, 80)}
QUICK_SHAPES = {"2d": (4, 4, 32, 32), "3d": (2, 2, 16, 16, 8)}
GOAL = 1.2


def _candidates(shape, device, gen) -> dict:
    pred = torch.randn(shape, generator=gen).to(device).requires_grad_(True)
    ref = torch.randn(shape, generator=gen).to(device)
    target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=gen).to(device)
    weights = torch.rand(shape[0], generator=gen).to(device)
    unlabeled = HeterogeneousLoss(shape[1], weights=ratio_weights(50.0, 1.25, 5.0)).to(device).train()
    labeled = HeterogeneousLoss(shape[1], confidence_source="prediction").to(device).train()

    def step(fn):
        def call():
            pred.grad = None
            fn().backward()

        return call

    return {
        "ce": step(lambda: F.cross_entropy(pred, class_indices(ref))),
        "ce_torch_argmax": step(lambda: F.cross_entropy(pred, ref.argmax(1))),
        "heterogeneous": step(lambda: unlabeled(pred, ref)),
        "heterogeneous_weighted": step(lambda: unlabeled(pred, ref, sample_weights=weights)),
        "heterogeneous_labeled": step(lambda: labeled(pred, ref, target)),
        "softmax_mse": step(lambda: SoftmaxMSELoss()(pred, ref)),
        "pseudo_label_dice_ce": step(lambda: PseudoLabelDiceCELoss()(pred, ref, sample_weights=weights)),
    }


def run(device="cpu", quick: bool = False, dataset_dir=None, repeats: int | None = None) -> list[Measurement]:
    """Median of ``repeats`` interleaved forward + backward passes of each loss (7; 3 when ``quick``) per shape."""
    device = torch.device(device)
    repeats = repeats or (3 if quick else 7)
    out: list[Measurement] = []
    for dims, shape in (QUICK_SHAPES if quick else SHAPES).items():
        gen = torch.Generator().manual_seed(0)
        times = interleaved(_candidates(shape, device, gen), repeats=repeats, device=device, label=f"losses {dims}")
        ms = {name: median(t) * 1000 for name, t in times.items()}
        base = ms["ce"]
        detail = {"shape": list(shape), "repeats": repeats, **{f"{k}_ms": round(v, 3) for k, v in ms.items()}}
        for name, goal in (("heterogeneous", GOAL), ("heterogeneous_weighted", GOAL), ("heterogeneous_labeled", GOAL),
                           ("softmax_mse", None), ("pseudo_label_dice_ce", None)):
            out.append(Measurement(f"losses/{dims}/{name}_vs_ce", ms[name] / base, "x", goal, detail=detail))
    return out
