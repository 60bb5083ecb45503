# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The inference benchmark (quick: small volumes, tiny networks): the bundle's evaluator and the plain MONAI inferer
call predict the same tensor on the same volume, and both ratios come out with their names, units and goals. The
figures themselves are not asserted (the machines are noisy)."""

import math

import pytest
import torch
from monai.inferers import SliceInferer, SlidingWindowInferer

from metassl_monai.bench import inference


@pytest.mark.parametrize("kind, inferer", [("la", SlidingWindowInferer), ("acdc", SliceInferer)])
def test_bundle_path_and_plain_call_predict_the_same(kind, inferer, tmp_path):
    case = inference.build_case(kind, "cpu", "quick", tmp_path)
    assert type(case.plain_inferer) is inferer and type(case.evaluator.inferer) is inferer
    output = case.bundle()
    plain = case.plain()
    torch.testing.assert_close(case.bundle_prediction().as_tensor(), plain.as_tensor() if hasattr(plain, "as_tensor")
                               else plain, rtol=0, atol=0)
    assert plain.shape[2:] == case.volume.shape[2:] and plain.shape[1] == (2 if kind == "la" else 4)
    assert case.settings["mode"] == str(case.evaluator.inferer.mode)
    # the writer is out (no file), the postprocessing ran: one argmax label map per volume
    assert not any((tmp_path / f"{kind}_out").glob("*.nii.gz"))
    (item,) = output
    assert item["pred"].shape[0] == 1 and set(torch.unique(item["pred"]).tolist()) <= set(range(plain.shape[1]))
    if kind == "acdc":  # Invertd: back to the 216 x 256-like input grid of the NIfTI file (48 x 40 quick)
        assert item["pred"].shape[1:] == (40, 48, 4)


@pytest.fixture(scope="module")
def figures():
    return inference.run("cpu", quick=True)


def test_ratios_are_named_with_goals(figures):
    assert [m.name for m in figures] == ["inference/la_sliding_window_ratio", "inference/acdc_slice_ratio"]
    for m in figures:
        assert m.unit == "x" and m.goal == 1.05 and not m.higher_is_better
        assert math.isfinite(m.value) and m.value > 0
        assert m.value == pytest.approx(m.detail["bundle_seconds"] / m.detail["plain_seconds"])
        assert m.detail["same_prediction"] is True
        assert m.detail["postprocessing_seconds"] > 0 and m.detail["size"] == "quick"
    la, acdc = figures
    assert la.detail["inferer"] == "SlidingWindowInferer" and la.detail["mode"] == "gaussian"
    assert acdc.detail["inferer"] == "SliceInferer" and "Invertd" in acdc.detail["postprocessing"]


def test_unknown_size_is_named(tmp_path):
    with pytest.raises(ValueError, match="huge"):
        inference.build_case("la", "cpu", "huge", tmp_path)
