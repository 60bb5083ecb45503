# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Loading NIfTI (and the other MONAI formats) with read errors that name the file; no h5py needed (inference)."""

from __future__ import annotations

import os

from monai.transforms import LoadImaged

from .input_error import input_error

__all__ = ["LoadImageNamingErrorsd"]


class LoadImageNamingErrorsd(LoadImaged):
    """
    :class:`monai.transforms.LoadImaged` whose read errors name the file and the key.

    ``LoadImaged`` reports a truncated ``.nii.gz`` as ``EOFError: Compressed file ended before the end-of-stream marker
    was reached``, without the file (and ``Compose`` / ``Dataset`` wrap it in ``RuntimeError: applying transform``).
    This subclass takes the same arguments and returns the same data; when loading fails it finds the file that cannot
    be read (reading the item's files one by one, only on that error path) and re-raises with it named.

    Raises:
        FileNotFoundError: a file of the item does not exist (the message names the key and the path).
        OSError: a file cannot be read (truncated, corrupt, unsupported); the message names the key, the path and the
            original error (kept as ``__cause__``).
    """

    def __call__(self, data, reader=None):
        try:
            return super().__call__(data, reader)
        except Exception as e:
            raise input_error(self._named_error(data, reader, e)) from e

    def _named_error(self, data, reader, error: Exception) -> Exception:
        d = dict(data)
        culprit = None
        for key in self.key_iterator(d):
            try:
                self._loader(d[key], reader)
            except Exception as e:  # the first file that fails on its own is the one to report
                culprit, error = (key, d[key]), e
                break
        if culprit is None:
            files = ", ".join(f"{k!r}: {d[k]}" for k in self.key_iterator(d))
            return OSError(f"cannot load the files of the item ({files}): {type(error).__name__}: {error}")
        key, path = culprit
        if isinstance(error, FileNotFoundError) or not os.path.exists(str(path)):
            return FileNotFoundError(f"{key!r} file not found: {path}")
        return OSError(f"cannot read {key!r} file {path} (truncated or corrupt?): {type(error).__name__}: {error}")
