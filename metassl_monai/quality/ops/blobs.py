# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Blob corruptions: one class replaced by an area-matched blob at its centroid.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ._common import _centroid, _check_mask, _choice, _pick_or_new_label, _squared_distance, _write_back


def blob(
    mask: np.ndarray,
    rng: np.random.Generator,
    *,
    mode: str | None = None,
    label: int | None = None,
    num_classes: int | None = None,
) -> np.ndarray:
    """
    Replace one class by an area-matched blob at its centroid: the ``area`` pixels with the highest score, the score
    being minus the distance to the centroid (``"sphere"``: a disk / ball) or that plus smoothed Gaussian noise
    (``"gaussian"``: a random blob). The area (voxel count) is preserved exactly. With no foreground a random class in
    ``1..num_classes-1`` gets a blob of 5–20 % of the image at a random position.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        mode: ``"gaussian"`` or ``"sphere"``; ``None`` draws one.
        label: the class; ``None`` draws a present foreground class.
        num_classes: number of classes including background, used when the mask has no foreground; ``None`` infers
            ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1``, ``num_classes < 2`` or an unknown
            ``mode``.
    """
    _check_mask(mask)
    if mode is None:
        mode = str(_choice(rng, ("gaussian", "sphere")))
    if mode not in ("gaussian", "sphere"):
        raise ValueError(f"mode must be 'gaussian' or 'sphere', got {mode!r}.")
    label = _pick_or_new_label(mask, rng, label, num_classes)
    region = mask == label
    area = int(region.sum())
    if area == 0:
        area = max(1, int(round(rng.uniform(0.05, 0.2) * mask.size)))
        centre = np.array(np.unravel_index(rng.integers(mask.size), mask.shape), dtype=float)
    else:
        centre = _centroid(region)
    score = -np.sqrt(np.broadcast_to(_squared_distance(mask.shape, centre), mask.shape))
    if mode == "gaussian":
        radius = (area / np.pi) ** 0.5 if mask.ndim == 2 else (3.0 * area / (4.0 * np.pi)) ** (1.0 / 3.0)
        noise = ndimage.gaussian_filter(rng.standard_normal(mask.shape), sigma=max(1.0, radius / 2.0), mode="wrap")
        noise /= max(float(noise.std()), 1e-12)
        score = score / max(radius, 1.0) + 0.5 * noise
    new = np.zeros(mask.shape, dtype=bool)
    if area >= mask.size:
        new[...] = True
    else:
        new.flat[np.argpartition(-score.ravel(), area - 1)[:area]] = True
    return _write_back(mask, label, new)
