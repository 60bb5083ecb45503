# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Per-volume intensity handling chosen by name (the bundles' ``--intensity`` option)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from monai.transforms import MapTransform, NormalizeIntensityd, ScaleIntensityd, ScaleIntensityRanged

__all__ = ["VolumeIntensityd", "INTENSITY_MODES"]

#: the modes and what each does to a volume
INTENSITY_MODES = {
    "minmax": "scaled to [0, 1] by its own minimum and maximum (MRI; the ACDC bundles' default, as SSL4MIS)",
    "zscore": "minus its mean, divided by its standard deviation (MRI; the LA bundles' default, as UA-MT)",
    "window": "clipped to the window [low, high] and scaled to [0, 1] (CT, Hounsfield units: e.g. [-175, 250] for "
              "abdominal soft tissue)",
}


class VolumeIntensityd(MapTransform):
    """
    One of MONAI's intensity transforms, chosen by ``mode`` (:data:`INTENSITY_MODES`), applied to each whole volume:
    ``"minmax"`` is :class:`monai.transforms.ScaleIntensityd` to [0, 1], ``"zscore"``
    :class:`monai.transforms.NormalizeIntensityd`, ``"window"`` :class:`monai.transforms.ScaleIntensityRanged` from
    ``window`` to [0, 1] with clipping. The result is exactly the chosen MONAI transform's.

    Args:
        keys: the image keys.
        mode: "minmax", "zscore" or "window".
        window: ``(low, high)`` for ``"window"``.
        allow_missing_keys: skip absent keys.

    Raises:
        ValueError: an unknown mode, or a window that is not two increasing numbers (the message lists the modes).
    """

    def __init__(self, keys, mode: str = "minmax", window: Sequence[float] | None = None,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        mode = str(mode).lower()
        if mode not in INTENSITY_MODES:
            raise ValueError(f"intensity mode {mode!r} is not one of {sorted(INTENSITY_MODES)}: "
                             + "; ".join(f"{k}: {v}" for k, v in INTENSITY_MODES.items()))
        self.mode = mode
        if mode == "window":
            if window is None or len(window) != 2 or not float(window[0]) < float(window[1]):
                raise ValueError(f"intensity mode 'window' needs intensity_window [low, high] with low < high, got "
                                 f"{window!r}")
            self.transform = ScaleIntensityRanged(keys, a_min=float(window[0]), a_max=float(window[1]), b_min=0.0,
                                                  b_max=1.0, clip=True, allow_missing_keys=allow_missing_keys)
        elif mode == "zscore":
            self.transform = NormalizeIntensityd(keys, allow_missing_keys=allow_missing_keys)
        else:
            self.transform = ScaleIntensityd(keys, minv=0.0, maxv=1.0, allow_missing_keys=allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, object]) -> dict:
        return self.transform(data)
