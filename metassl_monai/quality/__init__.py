# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Quality-Guided SSL: the mask-corruption library (:mod:`.ops`, :mod:`.corruptions`), the quality predictor
(:mod:`.predictor`), its training helpers (:mod:`.training`), snapshot masks (:mod:`.snapshots`) and QC (:mod:`.qc`).
"""

from __future__ import annotations

from .corruptions import (
    CATEGORIES,
    DEFAULT_CATEGORY_PROBS,
    DEFAULT_SAMPLER_OPS,
    MaskCorruptor,
    MaskQualityd,
    RandMaskCorruptiond,
    dice_per_class,
)
from .ops import (
    CATASTROPHIC_OPS,
    HEAVY_OPS,
    LEGACY_REGISTRY,
    OPS,
    REGISTRY,
    RegistryEntry,
    add_holes,
    add_islands,
    affine,
    blob,
    bounding_box,
    circular_blob,
    closing,
    convex_hull,
    dilate,
    drop_component,
    elastic,
    ellipse_fit,
    empty,
    erode,
    full,
    gaussian_blob,
    grid_distortion,
    holes_and_islands,
    invert,
    jagged_boundary,
    keep_largest_component,
    opening,
    polygon_approx,
    random_mask,
    random_noise,
    rectangle_dropout,
    rotate,
    scale,
    shift,
    smooth,
    swap,
)
from .predictor import QualityPredictor, as_probabilities, load_quality_predictor
from .qc import QualityQCSaver, aggregate_slice_quality, qc_ranking
from .snapshots import RandSnapshotMaskd, find_snapshots, load_snapshot_networks
from .training import GradientClipping, QualityBatch, QualityReportSaver, materialize, quality_report

__all__ = [
    # corruptions
    "CATEGORIES",
    "DEFAULT_CATEGORY_PROBS",
    "DEFAULT_SAMPLER_OPS",
    "MaskCorruptor",
    "MaskQualityd",
    "RandMaskCorruptiond",
    "dice_per_class",
    # ops and their registries
    "REGISTRY",
    "LEGACY_REGISTRY",
    "RegistryEntry",
    "OPS",
    "HEAVY_OPS",
    "CATASTROPHIC_OPS",
    "add_holes",
    "add_islands",
    "affine",
    "blob",
    "bounding_box",
    "circular_blob",
    "closing",
    "convex_hull",
    "dilate",
    "drop_component",
    "elastic",
    "ellipse_fit",
    "empty",
    "erode",
    "full",
    "gaussian_blob",
    "grid_distortion",
    "holes_and_islands",
    "invert",
    "jagged_boundary",
    "keep_largest_component",
    "opening",
    "polygon_approx",
    "random_mask",
    "random_noise",
    "rectangle_dropout",
    "rotate",
    "scale",
    "shift",
    "smooth",
    "swap",
    # predictor, qc, snapshots, training
    "QualityPredictor",
    "as_probabilities",
    "load_quality_predictor",
    "QualityQCSaver",
    "aggregate_slice_quality",
    "qc_ranking",
    "RandSnapshotMaskd",
    "find_snapshots",
    "load_snapshot_networks",
    "QualityBatch",
    "GradientClipping",
    "QualityReportSaver",
    "materialize",
    "quality_report",
]
