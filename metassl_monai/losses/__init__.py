# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .branch import BranchLosses
from .class_indices import class_indices
from .combined import WeightedSumLoss
from .consistency import ConfidenceMaskedCrossEntropyLoss, PseudoLabelCrossEntropyLoss, PseudoLabelDiceCELoss, SoftmaxMSELoss, weighted_sample_mean
from .heterogeneous import REGION_NAMES, HeterogeneousLoss
from .quality import QualityAwareRegularizationLoss, QualityWeightedLoss, quality_weights
from .weights import exp_weights, ratio_weights

__all__ = [
    "class_indices",
    "BranchLosses",
    "HeterogeneousLoss",
    "REGION_NAMES",
    "ConfidenceMaskedCrossEntropyLoss",
    "PseudoLabelCrossEntropyLoss",
    "PseudoLabelDiceCELoss",
    "SoftmaxMSELoss",
    "QualityAwareRegularizationLoss",
    "QualityWeightedLoss",
    "WeightedSumLoss",
    "quality_weights",
    "weighted_sample_mean",
    "exp_weights",
    "ratio_weights",
]
