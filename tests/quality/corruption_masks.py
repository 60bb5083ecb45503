# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Small hand-made 2D / 3D label maps and measurements shared by the tests of the corruption ops."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

C = 3  # background + 2 classes


def disk(shape, centre, radius) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum((g - c) ** 2 for g, c in zip(grids, centre)) <= radius**2


def two_class_2d() -> np.ndarray:
    """32x32: a disk of class 1 (radius 6 at (12, 12)) and a 8x10 rectangle of class 2."""
    mask = np.zeros((32, 32), dtype=np.int64)
    mask[disk(mask.shape, (12, 12), 6)] = 1
    mask[20:28, 18:28] = 2
    return mask


def two_class_3d() -> np.ndarray:
    """16x16x8 (uint8): a ball of class 1 (radius 3 at (6, 6, 4)) and a 4x5x4 box of class 2."""
    mask = np.zeros((16, 16, 8), dtype=np.uint8)
    mask[disk(mask.shape, (6, 6, 4), 3)] = 1
    mask[10:14, 9:14, 2:6] = 2
    return mask


MASKS = {2: two_class_2d, 3: two_class_3d}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


class FixedRng:
    """A stand-in generator whose ``uniform`` returns ``u`` (the low end when ``u="low"``, the high end when
    ``"high"``) and whose ``integers`` returns the low end: the ops' random choices made by hand."""

    def __init__(self, u="high"):
        self.u = u

    def uniform(self, low=0.0, high=1.0, size=None):
        value = {"low": low, "high": high}.get(self.u, self.u)
        return np.full(size, value, dtype=float) if size is not None else float(value)

    def integers(self, low, high=None, size=None):
        low = 0 if high is None else low
        return np.broadcast_to(np.asarray(low), np.shape(high) if size is None else size).copy()


def area(mask: np.ndarray, label: int = 1) -> int:
    return int(np.count_nonzero(mask == label))


def centroid(x: np.ndarray) -> np.ndarray:
    return np.argwhere(x).mean(axis=0)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def n_components(x: np.ndarray) -> int:
    return ndimage.label(x, structure=ndimage.generate_binary_structure(x.ndim, x.ndim))[1]
