# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The papers' own settings per framework: choosing a framework in a bundle gives these unless the user overrides them.

A bundle reads them through one config item, ``"preset": "$metassl_monai.presets.paper_preset(@framework,
len(@patch_size))"``; ``num_iterations``, the batch sizes, the ramp-up length, the supervised loss and the MetaSSL
region weights are expressions of ``@preset``, so ``--num_iterations 3000`` or ``--ssl_losses#metassl#unlabeled#weights
"[50,40,9,1]"`` still override one fact each. The settings are looked up by the framework's class (a subclass gets its
parent's) and the number of spatial dimensions: the MetaSSL code's 2D scripts produced its ACDC results, its 3D scripts
its LA results.

Sources (HiLab-git/MetaSSL): ``code/train_MetaSSL_MT_2D.py``, ``code/train_MetaSSL_CPS_2D.py``,
``code/train_MetaSSL_CCT_2D.py``, ``code_3D/train_MetaSSL_MT_3D.py``, ``code_3D/train_MetaSSL_CPS_3D.py``. R-Drop and
FixMatch were never released and the code has no 3D CCT: those presets are ours, and :attr:`FrameworkPreset.ours`
says what was chosen and why.

What a preset does not hold, because it depends on the consistency loss rather than the framework: Mean Teacher's
teacher (input noise, train/eval mode, EMA schedule) and the λ(t) schedule are part of each ``ssl_losses`` recipe
(``"teacher"``, ``"schedule"``); see :meth:`metassl_monai.frameworks.Framework.configure_teacher`.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from metassl_monai.losses.weights import exp_weights, ratio_weights

__all__ = ["FrameworkPreset", "PAPER_PRESETS", "paper_preset"]

Weights = tuple[float, float, float, float]


@dataclass(frozen=True)
class FrameworkPreset:
    """
    One framework's published training settings.

    Attributes:
        num_iterations: training iterations.
        batch_size: labeled images per iteration.
        unlabeled_batch_size: unlabeled images per iteration.
        unlabeled_weights: MetaSSL region weights (UC, US, DC, DS) of the unlabeled term.
        labeled_weights: MetaSSL region weights (UC, US, DC, DS) of the labeled term.
        rampup_iterations: iteration at which λ(t) reaches its maximum (the code's ``e = min(⌊t/150⌋, 200)``:
            30 000 whatever the schedule length; a bundle uses ``min(this, 60 % of the schedule)`` so a shortened
            schedule still ramps).
        supervised_loss: the name of the bundle's ``supervised_losses`` entry ("ssl4mis_dice_ce": SSL4MIS's
            batch-level Dice with squared denominators, which every MetaSSL script uses).
        source: the script of the papers' code the numbers come from.
        ours: what is not in the papers' code and why (empty when everything is).
    """

    num_iterations: int
    batch_size: int
    unlabeled_batch_size: int
    unlabeled_weights: Weights
    labeled_weights: Weights
    source: str
    rampup_iterations: int = 30000
    supervised_loss: str = "ssl4mis_dice_ce"
    ours: str = ""


_MT_2D = FrameworkPreset(
    num_iterations=50000,
    batch_size=12,
    unlabeled_batch_size=12,
    unlabeled_weights=ratio_weights(50.0, 1.25, 5.0),
    labeled_weights=ratio_weights(50.0, 1.4, 1.0),
    source="HiLab-git/MetaSSL code/train_MetaSSL_MT_2D.py",
)
_MT_3D = FrameworkPreset(
    num_iterations=50000,
    batch_size=2,
    unlabeled_batch_size=2,
    unlabeled_weights=ratio_weights(50.0, 1.25, 5.0),
    labeled_weights=ratio_weights(50.0, 1.5, 1.0),
    source="HiLab-git/MetaSSL code_3D/train_MetaSSL_MT_3D.py",
)
_CPS_2D = FrameworkPreset(
    num_iterations=100000,
    batch_size=12,
    unlabeled_batch_size=12,
    unlabeled_weights=exp_weights(50.0, 0.6, 3.0),
    labeled_weights=exp_weights(85.0, 0.3, 3.0),
    source="HiLab-git/MetaSSL code/train_MetaSSL_CPS_2D.py",
)
_CPS_3D = FrameworkPreset(
    num_iterations=50000,
    batch_size=1,
    unlabeled_batch_size=1,
    unlabeled_weights=ratio_weights(50.0, 1.25, 5.0),
    labeled_weights=ratio_weights(50.0, 1.5, 1.0),
    source="HiLab-git/MetaSSL code_3D/train_MetaSSL_CPS_3D.py (the 3D CPS code uses the MT ratio form)",
)


def _swap_dc_ds(w: Weights) -> Weights:
    return (w[0], w[1], w[3], w[2])


_CCT_2D = FrameworkPreset(
    num_iterations=50000,
    batch_size=12,
    unlabeled_batch_size=12,
    # hard-coded in the CCT script: the CPS exp values with DC and DS swapped (unlabeled 50, 40.29, 0.147, 8.88;
    # labeled 50, 48.67, 24.12, 40.29)
    unlabeled_weights=_swap_dc_ds(exp_weights(50.0, 0.6, 3.0)),
    labeled_weights=_swap_dc_ds(exp_weights(50.0, 0.3, 3.0)),
    source="HiLab-git/MetaSSL code/train_MetaSSL_CCT_2D.py",
)

PAPER_PRESETS: dict[tuple[str, int], FrameworkPreset] = {
    ("Supervised", 2): FrameworkPreset(
        **{**_MT_2D.__dict__, "source": "", "ours": "no supervised script in the MetaSSL code: the MT schedule"}
    ),
    ("Supervised", 3): FrameworkPreset(
        **{**_MT_3D.__dict__, "source": "", "ours": "no supervised script in the MetaSSL code: the MT schedule"}
    ),
    ("MeanTeacher", 2): _MT_2D,
    ("MeanTeacher", 3): _MT_3D,
    ("CrossPseudoSupervision", 2): _CPS_2D,
    ("CrossPseudoSupervision", 3): _CPS_3D,
    ("CrossConsistencyTraining", 2): _CCT_2D,
    ("CrossConsistencyTraining", 3): FrameworkPreset(
        **{
            **_MT_3D.__dict__,
            "source": "",
            "ours": "the MetaSSL code has no 3D CCT: the 3D MT schedule, batch and ratio weights (the 3D code's "
            "only weight form)",
        }
    ),
    ("RDrop", 2): FrameworkPreset(
        **{
            **_CPS_2D.__dict__,
            "num_iterations": 50000,
            "source": "",
            "ours": "R-Drop was never released: the CPS exp weights (the paper's figure pairs R-Drop with the "
            "symmetric frameworks) and the 50k-iteration single-network schedule of MT and CCT",
        }
    ),
    ("RDrop", 3): FrameworkPreset(
        **{**_MT_3D.__dict__, "source": "", "ours": "R-Drop was never released: the 3D MT schedule and weights"}
    ),
    ("FixMatch", 2): FrameworkPreset(
        **{
            **_MT_2D.__dict__,
            "source": "",
            "ours": "FixMatch was never released: the MT schedule and ratio weights (one network whose weak-view "
            "prediction is the reference, as MT's teacher is)",
        }
    ),
    ("FixMatch", 3): FrameworkPreset(
        **{**_MT_3D.__dict__, "source": "", "ours": "FixMatch was never released: the 3D MT schedule and weights"}
    ),
}


def paper_preset(framework: nn.Module | type | str, spatial_dims: int) -> FrameworkPreset:
    """
    The published settings of ``framework`` (an instance, a class or a class name) in ``spatial_dims`` dimensions.

    A subclass without its own entry gets its nearest parent's.

    Raises:
        ValueError: ``spatial_dims`` is not 2 or 3, or no class in the framework's hierarchy has a preset.
    """
    if int(spatial_dims) not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
    if isinstance(framework, str):
        names = [framework]
    else:
        cls = framework if isinstance(framework, type) else type(framework)
        names = [c.__name__ for c in cls.__mro__]
    for name in names:
        if (name, int(spatial_dims)) in PAPER_PRESETS:
            return PAPER_PRESETS[(name, int(spatial_dims))]
    known = sorted({k[0] for k in PAPER_PRESETS})
    raise ValueError(
        f"no published preset for {names[0]} ({spatial_dims}D); known frameworks: {known}. Set num_iterations, "
        "batch_size, unlabeled_batch_size, rampup_iterations, supervised_loss and the MetaSSL weights in the config "
        "instead of @preset."
    )
