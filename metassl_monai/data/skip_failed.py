# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Go on past the inputs that cannot be loaded, and say which they were and why."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from torch.utils.data import IterableDataset, get_worker_info

__all__ = ["FailedItem", "SkipFailedItems", "root_cause"]


@dataclass(frozen=True)
class FailedItem:
    """An input that was skipped: its file (or ``item <index>``) and the reason, ``"<ErrorType>: <message>"``."""

    name: str
    reason: str


def root_cause(error: BaseException) -> str:
    """``"<ErrorType>: <message>"`` of ``error`` once MONAI's wrappers are taken off: MONAI wraps a transform's error
    in ``RuntimeError("applying transform ...")``, whose cause is the transform's own (clear) message; causes below
    that one (e.g. the ``EOFError`` under "cannot read ... (truncated or corrupt?)") are already in its message."""
    while (isinstance(error, RuntimeError) and str(error).startswith("applying transform")
           and error.__cause__ is not None):
        error = error.__cause__
    return f"{type(error).__name__}: {error}"


class SkipFailedItems(IterableDataset):
    """
    Iterates the map-style ``dataset`` (e.g. a :class:`monai.data.Dataset` whose transform loads and checks each
    file) in order, **skipping** the items whose loading or checking raises an ``Exception``: each one is recorded in
    :attr:`failures` (file name and root cause) and logged, and the next item follows. An inference over a folder thus
    writes the mask of every readable input, and reports the others at the end
    (:class:`metassl_monai.handlers.FailedInputsReport`).

    It has no length (the number of good items is known only at the end): a MONAI evaluator on a ``DataLoader`` of it
    runs one epoch over what it yields. ``KeyboardInterrupt`` and other ``BaseException`` are not caught.

    Args:
        dataset: the map-style dataset (``len`` and ``[index]``); its ``data[index][name_key]``, when present, names
            the item in :attr:`failures`.
        name_key: the key of the data dictionaries holding the input's file name.

    Raises:
        RuntimeError: iterated inside ``DataLoader`` worker processes (``num_workers > 0``): the failures would be
            recorded in the workers, not here.
    """

    def __init__(self, dataset, name_key: str = "image") -> None:
        self.dataset = dataset
        self.name_key = name_key
        self.failures: list[FailedItem] = []
        self.attempted = 0

    def _name(self, index: int) -> str:
        try:
            return str(self.dataset.data[index][self.name_key])
        except (AttributeError, LookupError, TypeError):
            return f"item {index}"

    def __iter__(self) -> Iterator:
        if get_worker_info() is not None:
            raise RuntimeError("SkipFailedItems records the failed inputs in the process that iterates it: use it with "
                               "a DataLoader of num_workers=0.")
        self.failures, self.attempted = [], 0
        for index in range(len(self.dataset)):
            self.attempted += 1
            try:
                item = self.dataset[index]
            except Exception as e:
                failure = FailedItem(self._name(index), root_cause(e))
                self.failures.append(failure)
                logging.getLogger(__name__).error(f"skipped {failure.name}: {failure.reason}")
                continue
            yield item
