# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""MetaSSL for MONAI: heterogeneous loss, semi-supervised trainers and bundles."""

__version__ = "0.1.0"
