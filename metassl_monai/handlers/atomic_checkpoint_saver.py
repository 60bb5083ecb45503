# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""``monai.handlers.CheckpointSaver`` whose files are never half-written and never all gone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ignite.handlers.checkpoint import BaseSaveHandler
from monai.handlers import CheckpointSaver

__all__ = ["AtomicCheckpointSaver"]


class _SaveThenRemove(BaseSaveHandler):
    """Wraps a ``DiskSaver``: writes atomically and removes outdated files only after the new one is complete."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        inner._atomic = True
        self.fixed_name = getattr(inner, "filename", None)
        self._outdated: list[str] = []

    @property
    def dirname(self):  # Ignite's Checkpoint reads it (e.g. for ``last_checkpoint``)
        return self.inner.dirname

    def __call__(self, checkpoint: Mapping, filename: str, metadata: Mapping | None = None) -> None:
        self.inner(checkpoint, filename, metadata)
        outdated, self._outdated = self._outdated, []
        if self.fixed_name is None:  # a fixed name was just replaced in place: nothing to remove
            for name in outdated:
                if name != filename:
                    self.inner.remove(name)

    def remove(self, filename: str) -> None:
        self._outdated.append(filename)


class AtomicCheckpointSaver(CheckpointSaver):
    """
    :class:`monai.handlers.CheckpointSaver` (same arguments) for runs that may be killed at any moment:

    - every file is written atomically: to a temporary file in ``save_dir``, moved over the target name with
      ``os.replace`` once complete (Ignite's ``DiskSaver(atomic=True)``, which MONAI turns off). A process killed
      while saving leaves at most a stray ``tmp*`` file, never a truncated ``checkpoint_*.pt`` or ``model.pt``;
    - outdated checkpoints (beyond ``n_saved``) are removed only *after* the new one is complete. Ignite removes
      them before saving, so a kill during the save of ``checkpoint_epoch=N.pt`` with ``n_saved=1`` would leave no
      checkpoint at all; a fixed name (``final_filename``, ``key_metric_filename`` such as ``model.pt``) is
      replaced in place instead of being deleted first.

    Saved files are readable by the group and others, as with the plain saver.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for checkpoint in (self._final_checkpoint, self._key_metric_checkpoint, self._interval_checkpoint):
            if checkpoint is not None:
                checkpoint.save_handler = _SaveThenRemove(checkpoint.save_handler)
