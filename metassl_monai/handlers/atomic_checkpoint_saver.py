# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""``monai.handlers.CheckpointSaver`` whose files are never half-written and never all gone."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.handlers.checkpoint import BaseSaveHandler
from monai.handlers import CheckpointSaver

from ..atomic_files import PARTIAL_SUFFIX, atomic_path, remove_partial_files

__all__ = ["AtomicCheckpointSaver", "PARTIAL_SUFFIX", "remove_partial_files"]


class _SaveThenRemove(BaseSaveHandler):
    """Wraps a ``DiskSaver``: writes atomically and removes outdated files only after the new one is complete."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner  # its dirname, save_on_rank, kwargs and remove(); the writing is done by _write
        self.fixed_name = getattr(inner, "filename", None)
        self._outdated: list[str] = []

    @property
    def dirname(self):  # Ignite's Checkpoint reads it (e.g. for ``last_checkpoint``)
        return self.inner.dirname

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        if idist.get_rank() == getattr(self.inner, "save_on_rank", 0):
            # MONAI's saver for a fixed name (final_filename, key_metric_filename) writes under that name
            self._write(checkpoint, Path(self.inner.dirname) / (self.fixed_name or filename))
        outdated, self._outdated = self._outdated, []
        if self.fixed_name is None:  # a fixed name was just replaced in place: nothing to remove
            for name in outdated:
                if name != filename:
                    self.inner.remove(name)

    def remove(self, filename: str) -> None:
        self._outdated.append(filename)

    def _write(self, checkpoint: Mapping, path: Path) -> None:
        """``torch.save`` through :func:`metassl_monai.atomic_files.atomic_path`: after a crash or power loss either
        the old or the new file is there, complete; a failed save (a full disk, a quota, permissions) removes its
        temporary and raises an ``OSError`` naming ``path`` (files saved before are untouched: outdated ones are
        removed only after a complete save)."""
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            torch.save(checkpoint, f, **getattr(self.inner, "kwargs", {}))
        os.chmod(path, os.stat(path).st_mode | stat.S_IRGRP | stat.S_IROTH)  # as Ignite's DiskSaver


class AtomicCheckpointSaver(CheckpointSaver):
    """
    :class:`monai.handlers.CheckpointSaver` (same arguments) for runs that may be killed at any moment:

    - every file is written atomically: to a temporary file in ``save_dir``, moved over the target name with
      ``os.replace`` once complete (MONAI turns Ignite's ``DiskSaver(atomic=True)`` off; this saver writes the files
      itself). A process killed while saving leaves at most a stray ``.partial`` file, never a truncated
      ``checkpoint_*.pt`` or ``model.pt``;
    - outdated checkpoints (beyond ``n_saved``) are removed only *after* the new one is complete. Ignite removes
      them before saving, so a kill during the save of ``checkpoint_epoch=N.pt`` with ``n_saved=1`` would leave no
      checkpoint at all; a fixed name (``final_filename``, ``key_metric_filename`` such as ``model.pt``) is
      replaced in place instead of being deleted first.

    - each file is flushed and ``fsync``-ed before the rename, and the rename is ``fsync``-ed, so a power loss leaves
      the old or the new file; a save that fails (a full disk: ``OSError(ENOSPC)``) removes its temporary and raises
      an ``OSError`` naming the file, the previous checkpoint and ``model.pt`` untouched. Temporaries are named
      ``.<file>.<random>.partial``; the ones a killed process left in ``save_dir`` are removed when the saver is
      created (:func:`remove_partial_files`; no other file is touched).

    Saved files are readable by the group and others, as with the plain saver.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if idist.get_rank() == 0:
            for path in remove_partial_files(self.save_dir):
                logging.getLogger(__name__).warning(f"removed {path}, left by a save that did not finish")
        for checkpoint in (self._final_checkpoint, self._key_metric_checkpoint, self._interval_checkpoint):
            if checkpoint is not None:
                checkpoint.save_handler = _SaveThenRemove(checkpoint.save_handler)
