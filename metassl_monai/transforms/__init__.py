# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .io import LoadH5d, read_h5_dataset

__all__ = ["LoadH5d", "read_h5_dataset"]
