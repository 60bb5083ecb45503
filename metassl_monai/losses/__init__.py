# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .consistency import PseudoLabelCrossEntropyLoss, SoftmaxMSELoss
from .heterogeneous import REGION_NAMES, HeterogeneousLoss
from .weights import exp_weights, ratio_weights

__all__ = [
    "HeterogeneousLoss",
    "REGION_NAMES",
    "PseudoLabelCrossEntropyLoss",
    "SoftmaxMSELoss",
    "exp_weights",
    "ratio_weights",
]
