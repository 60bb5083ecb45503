# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The papers' settings per framework (metassl_monai.presets) against the numbers of ../shared/specs/metassl.md."""

from __future__ import annotations

import pytest
import torch

from metassl_monai import frameworks
from metassl_monai.networks import TwoDecoderUNet
from metassl_monai.presets import PAPER_PRESETS, FrameworkPreset, paper_preset

# the region weights (UC, US, DC, DS) as the spec prints them (two decimals; 0.2048 and 0.147 as printed)
MT_UNLABELED = (50.0, 40.0, 0.2048, 6.4)
MT_LABELED_2D = (50.0, 35.71, 18.22, 25.51)
MT_LABELED_3D = (50.0, 33.33, 14.81, 22.22)
CPS_UNLABELED = (50.0, 40.29, 8.88, 0.147)
CPS_LABELED = (85.0, 82.74, 68.49, 41.00)
CCT_UNLABELED = (50.0, 40.29, 0.147, 8.88)
CCT_LABELED = (50.0, 48.67, 24.12, 40.29)

# framework class name, dims -> (iterations, labeled batch, unlabeled batch, unlabeled weights, labeled weights, ours)
EXPECTED = {
    ("MeanTeacher", 2): (50000, 12, 12, MT_UNLABELED, MT_LABELED_2D, False),
    ("MeanTeacher", 3): (50000, 2, 2, MT_UNLABELED, MT_LABELED_3D, False),
    ("CrossPseudoSupervision", 2): (100000, 12, 12, CPS_UNLABELED, CPS_LABELED, False),
    ("CrossPseudoSupervision", 3): (50000, 1, 1, MT_UNLABELED, MT_LABELED_3D, False),
    ("CrossConsistencyTraining", 2): (50000, 12, 12, CCT_UNLABELED, CCT_LABELED, False),
    ("CrossConsistencyTraining", 3): (50000, 2, 2, MT_UNLABELED, MT_LABELED_3D, True),
    ("RDrop", 2): (50000, 12, 12, CPS_UNLABELED, CPS_LABELED, True),
    ("RDrop", 3): (50000, 2, 2, MT_UNLABELED, MT_LABELED_3D, True),
    ("FixMatch", 2): (50000, 12, 12, MT_UNLABELED, MT_LABELED_2D, True),
    ("FixMatch", 3): (50000, 2, 2, MT_UNLABELED, MT_LABELED_3D, True),
    ("Supervised", 2): (50000, 12, 12, MT_UNLABELED, MT_LABELED_2D, True),
    ("Supervised", 3): (50000, 2, 2, MT_UNLABELED, MT_LABELED_3D, True),
}


def test_every_framework_of_the_package_has_a_preset_in_2d_and_3d():
    classes = {c.__name__ for c in vars(frameworks).values() if isinstance(c, type) and issubclass(c, frameworks.Framework)}
    classes.discard("Framework")
    assert {(c, d) for c in classes for d in (2, 3)} == set(PAPER_PRESETS) == set(EXPECTED)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_preset_resolves_to_the_documented_numbers(key):
    iterations, batch, unlabeled_batch, w_u, w_l, ours = EXPECTED[key]
    preset = paper_preset(key[0], key[1])
    assert (preset.num_iterations, preset.batch_size, preset.unlabeled_batch_size) == (iterations, batch, unlabeled_batch)
    assert preset.unlabeled_weights == pytest.approx(w_u, abs=6e-3)
    assert preset.labeled_weights == pytest.approx(w_l, abs=6e-3)
    # λ(t) reaches 0.1 at e = 200 "epochs" of 150 iterations; SSL4MIS's Dice in every MetaSSL script
    assert preset.rampup_iterations == 30000
    assert preset.supervised_loss == "ssl4mis_dice_ce"
    # a preset the papers' code gives names its script; one that is ours says why and names none
    assert bool(preset.ours) == ours
    assert bool(preset.source) != ours
    if not ours:
        assert preset.source.startswith("HiLab-git/MetaSSL code")
        assert ("code_3D/" in preset.source) == (key[1] == 3)


def test_weights_are_exact_not_rounded():
    # the exp form at full precision: 50·exp(-(0.6)^3) = 50·exp(-0.216)
    assert paper_preset("CrossPseudoSupervision", 2).unlabeled_weights[1] == pytest.approx(50 * 2.718281828459045**-0.216)
    assert paper_preset("MeanTeacher", 2).unlabeled_weights == pytest.approx((50.0, 40.0, 0.2048, 6.4), rel=1e-12)


def _tiny(dims=2, dropout=0.2):
    conv = torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d
    return torch.nn.Sequential(conv(1, 4, 1), torch.nn.Dropout(dropout), conv(4, 2, 1))


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: frameworks.Supervised(_tiny()), "Supervised"),
        (lambda: frameworks.MeanTeacher(_tiny()), "MeanTeacher"),
        (lambda: frameworks.CrossPseudoSupervision(_tiny(), _tiny()), "CrossPseudoSupervision"),
        (lambda: frameworks.RDrop(_tiny()), "RDrop"),
        (lambda: frameworks.CrossConsistencyTraining(TwoDecoderUNet(2, 1, 2, features=(4, 8), decoder_dropout=(0.1,))), "CrossConsistencyTraining"),
        (lambda: frameworks.FixMatch(_tiny()), "FixMatch"),
    ],
)
@pytest.mark.parametrize("dims", [2, 3])
def test_lookup_by_instance_class_and_name_agree(build, name, dims):
    fw = build()
    assert paper_preset(fw, dims) is paper_preset(type(fw), dims) is paper_preset(name, dims) is PAPER_PRESETS[(name, dims)]


def test_a_subclass_gets_its_parents_preset():
    class MyTeacher(frameworks.MeanTeacher):
        pass

    assert paper_preset(MyTeacher, 2) is PAPER_PRESETS[("MeanTeacher", 2)]
    assert paper_preset(MyTeacher(_tiny()), 3) is PAPER_PRESETS[("MeanTeacher", 3)]


@pytest.mark.parametrize("dims", [1, 4, 0])
def test_unsupported_dims_raise(dims):
    with pytest.raises(ValueError, match=f"spatial_dims must be 2 or 3, got {dims}"):
        paper_preset("MeanTeacher", dims)


def test_unknown_framework_raises_naming_it_and_the_known_ones():
    class NotAFramework(torch.nn.Module):
        pass

    with pytest.raises(ValueError, match=r"no published preset for NotAFramework \(2D\).*'MeanTeacher'.*num_iterations"):
        paper_preset(NotAFramework(), 2)
    with pytest.raises(ValueError, match=r"no published preset for Nope \(3D\)"):
        paper_preset("Nope", 3)


def test_presets_are_frozen():
    preset = paper_preset("MeanTeacher", 2)
    with pytest.raises(Exception, match="cannot assign"):
        preset.num_iterations = 3  # type: ignore[misc]
    assert isinstance(preset, FrameworkPreset)
