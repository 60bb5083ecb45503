# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Input checks shared by the dataset readers and the bundles, so every reader reports a missing folder (or an empty
stream) the same way."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["require_dir", "require_batches"]


def require_dir(path: str | os.PathLike, what: str = "dataset_dir") -> Path:
    """``Path(path)`` if it is a folder, else FileNotFoundError naming ``what`` and the path."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{what} does not exist or is not a folder: {root}")
    return root


def require_batches(loader, stream: str, batch_size_key: str, hint: str = ""):
    """
    ``loader`` itself if it yields at least one batch, else a ValueError naming the setting to change.

    The bundles call it on their training loaders so that an empty stream (e.g. ``unlabeled_batch_size`` larger than the
    unlabeled datalist, with ``drop_last=True``) fails when the trainer is built, with the config key in the message,
    instead of as a StopIteration on the first iteration. It is the only such check:
    :class:`~metassl_monai.engines.SemiSupervisedTrainer` does not check its loaders' lengths itself.

    Args:
        loader: a ``torch.utils.data.DataLoader`` (anything with ``__len__``, ``batch_size``, ``dataset``).
        stream: ``"labeled"`` or ``"unlabeled"`` (for the message).
        batch_size_key: the config key of the loader's batch size, e.g. ``"unlabeled_batch_size"``.
        hint: what else the user can change, appended to the message.

    Raises:
        ValueError: the loader yields no batch; the message gives the key, the batch size and the datalist size.
    """
    try:
        n_batches = len(loader)
    except TypeError:  # an iterable without a length: nothing to check here
        return loader
    if n_batches > 0:
        return loader
    dataset = getattr(loader, "dataset", None)
    n_items = len(dataset) if dataset is not None and hasattr(dataset, "__len__") else 0
    batch_size = getattr(loader, "batch_size", None)
    if n_items == 0:
        problem = f"the {stream} datalist is empty"
        fix = hint or "check the dataset and the split settings"
    else:
        drop_last = getattr(loader, "drop_last", False)
        problem = (
            f"{batch_size_key}={batch_size} but the {stream} datalist has only {n_items} item(s)"
            + (" and drop_last=True" if drop_last else "")
        )
        fix = f"set {batch_size_key} <= {n_items}" + (f", or {hint}" if hint else "")
    raise ValueError(f"the {stream} data loader would yield no batch: {problem}; {fix}.")
