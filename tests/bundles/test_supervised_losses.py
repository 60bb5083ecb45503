# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The bundles' supervised losses: ``supervised_losses#ssl4mis_dice_ce`` is the papers' ½(CE + Dice) with SSL4MIS's
Dice (batch-level sums, squared denominators, background included, smooth 1e-5, mean over classes), built from
MONAI's DiceCELoss; ``dice_ce`` (the default) is MONAI's per-image, non-squared Dice."""

from __future__ import annotations

import math

import pytest
import torch
from bundle_runner import configs
from monai.bundle import ConfigParser


def supervised_loss(bundle: str, name: str):
    parser = ConfigParser()
    parser.read_config(configs(bundle, "train.json"))
    return parser.get_parsed_content(f"supervised_losses#{name}")


def ssl4mis_dice_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SSL4MIS's ``0.5 * (CrossEntropyLoss()(x, y) + DiceLoss(C)(softmax(x), y))``, written from its formula: per
    class ``1 - (2 Σ p·g + s) / (Σ p² + Σ g² + s)`` over the whole batch, s = 1e-5, averaged over the C classes."""
    probs, classes = torch.softmax(logits.double(), 1), logits.shape[1]
    onehot = torch.nn.functional.one_hot(target[:, 0].long(), classes).movedim(-1, 1).double()
    dice = sum(1 - (2 * (probs[:, c] * onehot[:, c]).sum() + 1e-5)
               / ((probs[:, c] ** 2).sum() + (onehot[:, c] ** 2).sum() + 1e-5) for c in range(classes)) / classes
    ce = torch.nn.functional.cross_entropy(logits.double(), target[:, 0].long())
    return 0.5 * (ce + dice)


@pytest.mark.parametrize("bundle", ["metassl_acdc", "metassl_la"])
def test_hand_computed_two_pixels(bundle):
    # p0 logits [ln3, 0] -> (3/4, 1/4), label 0;  p1 [0, 0] -> (1/2, 1/2), label 1
    # class 0: (2·3/4 + s) / (9/16 + 1/4 + 1 + s);  class 1: (2·1/2 + s) / (1/16 + 1/4 + 1 + s)
    # CE = (ln 4/3 + ln 2) / 2
    s = 1e-5
    dice = 1 - ((1.5 + s) / (13 / 16 + 1 + s) + (1.0 + s) / (5 / 16 + 1 + s)) / 2
    expected = 0.5 * ((math.log(4 / 3) + math.log(2)) / 2 + dice)
    assert expected == pytest.approx(0.3478346, abs=1e-6)
    shape = (1, 2, 1, 2) if bundle.endswith("acdc") else (1, 2, 1, 1, 2)
    logits = torch.tensor([[math.log(3), 0.0], [0.0, 0.0]]).t().reshape(shape)
    target = torch.tensor([0.0, 1.0]).reshape(1, 1, *shape[2:])
    assert supervised_loss(bundle, "ssl4mis_dice_ce")(logits, target).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("shape", [(3, 4, 8, 8), (2, 2, 4, 4, 4)])
def test_matches_ssl4mis_on_random_batches_and_differs_from_the_default(shape):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=g) * 3
    target = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=g).float()
    ours = supervised_loss("metassl_acdc", "ssl4mis_dice_ce")(logits, target)
    assert ours.item() == pytest.approx(ssl4mis_dice_ce(logits, target).item(), rel=1e-5)
    default = supervised_loss("metassl_acdc", "dice_ce")(logits, target)  # per-image, non-squared: another number
    assert abs(default.item() - ours.item()) > 1e-3
