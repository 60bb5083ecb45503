# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .base import Branch, Framework
from .cct import CrossConsistencyTraining
from .cps import CrossPseudoSupervision
from .fixmatch import FixMatch
from .mean_teacher import MeanTeacher
from .rdrop import RDrop
from .supervised import Supervised

__all__ = ["Branch", "Framework", "MeanTeacher", "CrossPseudoSupervision", "CrossConsistencyTraining", "FixMatch", "RDrop",
           "Supervised"]
