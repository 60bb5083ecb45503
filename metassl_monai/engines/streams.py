# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""A data loader whose position in its current pass can be saved and restored exactly (for resuming training)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, SequentialSampler

__all__ = ["ResumableStream"]

logger = logging.getLogger(__name__)


def _sampler_of(loader: DataLoader) -> Any:
    batch_sampler = getattr(loader, "batch_sampler", None)
    sampler = getattr(batch_sampler, "sampler", None)
    return sampler if sampler is not None else getattr(loader, "sampler", None)


class ResumableStream:
    """
    An iterable over a :class:`~torch.utils.data.DataLoader` that owns the loader's randomness, so that the
    position reached in the current pass can be saved (:meth:`state_dict`) and restored (:meth:`load_state_dict`)
    exactly: the resumed pass yields the same batches, in the same order, with the same random augmentations as
    the interrupted one would have.

    - Each call to ``iter()`` starts a *pass* (one iteration over the loader). The shuffling and the DataLoader's
      worker seeds come from a :class:`torch.Generator` owned by the stream (seeded with ``seed``) and installed
      as the loader's ``generator`` and, for a ``RandomSampler``/``WeightedRandomSampler`` built without one, as
      the sampler's ``generator``; the global torch RNG is not touched by the data streams. A sampler with a
      ``set_epoch`` method (``DistributedSampler``) gets the pass index.
    - :meth:`state_dict` holds the pass index, the number of batches delivered in it and the generator states at
      its start (tensors and ints only: loadable with ``torch.load(..., weights_only=True)``).
    - After :meth:`load_state_dict`, the next pass re-creates that pass and *replays* the batches already
      delivered (they are loaded and dropped), which brings the sampler and the worker processes'
      augmentation random states to where they were. :meth:`prepare` does this replay eagerly, so a caller can
      restore other random states after it (the main process's transform random states are advanced by the
      replay when ``num_workers == 0``: restore them afterwards, see
      :func:`metassl_monai.engines.random_state.set_random_states`).

    Exactness needs every random draw of the pipeline to come from the loader's generator or, in the workers,
    from the seeds it gives them (MONAI's :class:`monai.data.DataLoader` re-seeds the transforms of each worker
    from it). Not covered: ``persistent_workers=True`` (workers keep their random state across passes) and
    samplers that draw from the global torch RNG themselves.

    Args:
        loader: the data loader (typically ``monai.data.DataLoader``).
        seed: seed of the stream's generator; default ``torch.initial_seed()`` (what
            ``monai.utils.set_determinism`` set).
        name: used in messages ("labeled", "unlabeled").

    Raises:
        TypeError: when ``loader`` is not a ``torch.utils.data.DataLoader``.
    """

    def __init__(self, loader: DataLoader, seed: int | None = None, name: str = "data") -> None:
        if not isinstance(loader, DataLoader):
            raise TypeError(f"the {name} stream needs a torch.utils.data.DataLoader, got {type(loader).__name__}.")
        self.loader = loader
        self.name = name
        self.seed = int(torch.initial_seed() if seed is None else seed) % (2**63)
        self.generator = torch.Generator().manual_seed(self.seed)
        if loader.generator is None:
            loader.generator = self.generator
        sampler = _sampler_of(loader)
        if sampler is not None and hasattr(sampler, "generator") and sampler.generator is None:
            sampler.generator = self.generator
        self._generators = list({id(g): g for g in (loader.generator, getattr(sampler, "generator", None))
                                 if isinstance(g, torch.Generator)}.values())
        self._sampler = sampler
        #: index of the pass in progress (-1 before the first); passes are numbered from 0
        self.pass_index = -1
        #: batches delivered in the pass in progress
        self.consumed = 0
        self._pass_states: list[torch.Tensor] = []
        self._resume: dict | None = None
        self._prepared: Iterator | None = None

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def is_reproducible(self) -> bool:
        """Whether resuming reproduces this stream's order: the sampler's randomness is owned by the stream."""
        sampler = self._sampler
        return (
            sampler is None
            or isinstance(sampler, (SequentialSampler, DistributedSampler))
            or isinstance(getattr(sampler, "generator", None), torch.Generator)
        ) and not getattr(self.loader, "persistent_workers", False)

    def _start_pass(self) -> Iterator:
        resume, self._resume = self._resume, None
        if resume is not None:
            self.pass_index = int(resume["pass_index"])
            skip = int(resume["consumed"])
            for g, state in zip(self._generators, resume["generator_states"]):
                g.set_state(state)
        else:
            self.pass_index += 1
            skip = 0
        self._pass_states = [g.get_state() for g in self._generators]
        if hasattr(self._sampler, "set_epoch"):
            self._sampler.set_epoch(self.pass_index)
        self.consumed = 0
        it = iter(self.loader)
        for _ in range(skip):
            try:
                next(it)
            except StopIteration:
                raise ValueError(
                    f"cannot resume the {self.name} stream: the checkpoint was taken after {skip} batches of a pass, "
                    f"but the {self.name} data loader now yields only {self.consumed} per pass (the dataset, batch "
                    "size or drop_last changed since the checkpoint)."
                ) from None
            self.consumed += 1
        if skip:
            logger.info(f"{self.name} stream: replayed {skip} batches of pass {self.pass_index} to resume")
        return it

    def prepare(self) -> None:
        """Start the next pass now (replaying a resumed pass's delivered batches); the next ``iter()`` takes it."""
        if self._prepared is None:
            self._prepared = self._start_pass()

    def __iter__(self) -> Iterator:
        it, self._prepared = (self._prepared, None) if self._prepared is not None else (None, None)
        if it is None:
            it = self._start_pass()
        for batch in it:
            self.consumed += 1
            yield batch

    def state_dict(self) -> dict:
        """Where the stream is: ``{"pass_index", "consumed", "generator_states"}`` (``weights_only``-loadable)."""
        # a finished pass is not skipped over: the sampler draws once more when it is found exhausted (torch's
        # RandomSampler), which the resumed stream reproduces by replaying the pass to its end
        if self.pass_index < 0:  # nothing read yet
            return {"pass_index": 0, "consumed": 0, "generator_states": [g.get_state() for g in self._generators]}
        return {"pass_index": self.pass_index, "consumed": self.consumed,
                "generator_states": [s.clone() for s in self._pass_states]}

    def load_state_dict(self, state: dict) -> None:
        """
        Make the next pass resume at ``state`` (from :meth:`state_dict`).

        Raises:
            KeyError: when ``state`` misses one of the keys.
            ValueError: when the number of generator states differs from this stream's (another loader setup).
        """
        for key in ("pass_index", "consumed", "generator_states"):
            if key not in state:
                raise KeyError(f"the {self.name} stream state has no '{key}' (it has {sorted(state)}).")
        if len(state["generator_states"]) != len(self._generators):
            raise ValueError(
                f"the {self.name} stream state holds {len(state['generator_states'])} generator states, this "
                f"loader has {len(self._generators)}: the loader was built differently from the checkpointed run."
            )
        self._resume = dict(state)
        self._prepared = None
