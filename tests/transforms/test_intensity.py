# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""VolumeIntensityd: minmax / zscore / window per volume, exactly MONAI's transforms; clear errors."""

from __future__ import annotations

import pytest
import torch

from metassl_monai.transforms import VolumeIntensityd


@pytest.mark.parametrize("mode, window, values, expected", [
    ("minmax", None, [0.0, 5.0, 10.0], [0.0, 0.5, 1.0]),
    ("zscore", None, [0.0, 5.0, 10.0], [-1.224745, 0.0, 1.224745]),  # mean 5, population std sqrt(50/3)
    ("window", [-175, 250], [-200.0, 0.0, 300.0], [0.0, 175 / 425, 1.0]),  # clipped, then scaled
    ("WINDOW", (0, 100), [50.0, 150.0, -5.0], [0.5, 1.0, 0.0]),
])
def test_modes(mode, window, values, expected):
    out = VolumeIntensityd("image", mode=mode, window=window)({"image": torch.tensor([[values]])})
    assert torch.allclose(torch.as_tensor(out["image"]).flatten().float(), torch.tensor(expected), atol=1e-5)


def test_label_untouched():
    out = VolumeIntensityd("image", "minmax")({"image": torch.tensor([[2.0, 4.0]]), "label": torch.tensor([[1, 3]])})
    assert out["label"].tolist() == [[1, 3]]


@pytest.mark.parametrize("mode, window, message", [
    ("ct", None, r"intensity mode 'ct' is not one of \['minmax', 'window', 'zscore'\]"),
    ("window", None, r"needs intensity_window \[low, high\] with low < high, got None"),
    ("window", [250, -175], "with low < high, got \\[250, -175\\]"),
])
def test_errors(mode, window, message):
    with pytest.raises(ValueError, match=message):
        VolumeIntensityd("image", mode=mode, window=window)
