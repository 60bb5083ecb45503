# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""MONAI's NIfTI writer, writing each file completely or not at all."""

from __future__ import annotations

import logging
import os

from monai.data import NibabelWriter

from ..atomic_files import atomic_path

__all__ = ["AtomicNibabelWriter"]


def _extension(name: str) -> str:
    return ".nii.gz" if name.endswith(".nii.gz") else os.path.splitext(name)[1]


class AtomicNibabelWriter(NibabelWriter):
    """
    :class:`monai.data.NibabelWriter` (the same image, header and compression) that writes through
    :func:`metassl_monai.atomic_files.atomic_path`: the mask is written to a hidden temporary beside its target,
    flushed to disk and renamed over it. A process killed while writing, or a full disk, never leaves a half-written
    ``*_seg.nii.gz`` (a full disk raises an ``OSError`` naming the file). Use it as ``SaveImaged(writer=...)``.
    """

    def write(self, filename, verbose: bool = False, **obj_kwargs) -> None:
        filename = os.fspath(filename)
        with atomic_path(filename, extension=_extension(filename)) as tmp:
            super().write(tmp, verbose=False, **obj_kwargs)
        if verbose:
            logging.getLogger(__name__).info(f"wrote: {filename}")
