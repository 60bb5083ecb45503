# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Path checks shared by the dataset readers, so every reader reports a missing folder the same way."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["require_dir"]


def require_dir(path: str | os.PathLike, what: str = "dataset_dir") -> Path:
    """``Path(path)`` if it is a folder, else FileNotFoundError naming ``what`` and the path."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{what} does not exist or is not a folder: {root}")
    return root
