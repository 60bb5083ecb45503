# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .base import Branch, Framework
from .cps import CrossPseudoSupervision
from .mean_teacher import MeanTeacher
from .supervised import Supervised

__all__ = ["Branch", "Framework", "MeanTeacher", "CrossPseudoSupervision", "Supervised"]
