# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .semi_supervised_trainer import SemiSupervisedTrainer

__all__ = ["SemiSupervisedTrainer"]
