# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The op tables the corruption sampler draws from.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from .blobs import blob
from .boundary import jagged_boundary, smooth
from .catastrophic import empty, full, invert, random_noise
from .geometric import HEAVY_SCALE_RANGES, affine, rotate, scale, shift
from .morphology import closing, dilate, erode, opening
from .shape import bounding_box, convex_hull, ellipse_fit, polygon_approx
from .topology import (
    add_holes,
    add_islands,
    drop_component,
    keep_largest_component,
    rectangle_dropout,
)
from .warps import elastic, grid_distortion


OPS: dict[str, Callable[..., np.ndarray]] = {
    "erode": erode,
    "dilate": dilate,
    "opening": opening,
    "closing": closing,
    "ellipse_fit": ellipse_fit,
    "polygon_approx": polygon_approx,
    "convex_hull": convex_hull,
    "bounding_box": bounding_box,
    "jagged_boundary": jagged_boundary,
    "smooth": smooth,
    "elastic": elastic,
    "grid_distortion": grid_distortion,
    "add_holes": add_holes,
    "add_islands": add_islands,
    "keep_largest_component": keep_largest_component,
    "drop_component": drop_component,
    "rectangle_dropout": rectangle_dropout,
    "shift": shift,
    "scale": scale,
    "rotate": rotate,
    "affine": affine,
    "blob": blob,
}
"""The single ops (everything except :func:`swap` and the catastrophic ones), name -> function."""

HEAVY_OPS: dict[str, Callable[..., np.ndarray]] = {
    "erode": partial(erode, kernel_size=11),
    "dilate": partial(dilate, kernel_size=11),
    "grid_distortion": partial(grid_distortion, distort_limit=0.6),
    "shift": partial(shift, max_fraction=0.4),
    "scale": partial(scale, ranges=HEAVY_SCALE_RANGES),
    "add_holes": partial(add_holes, n_holes=5, radius_range=(10.0, 20.0)),
}
"""Heavy settings of some single ops, name -> callable with the same signature."""

CATASTROPHIC_OPS: dict[str, Callable[..., np.ndarray]] = {
    "empty": empty,
    "full": full,
    "invert": invert,
    "random_noise": random_noise,
}
"""Catastrophic failures, name -> function."""
