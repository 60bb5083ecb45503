# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
from .init import init_weights

__all__ = ["init_weights"]
