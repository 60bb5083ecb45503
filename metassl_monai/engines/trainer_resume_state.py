# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""What a plain MONAI trainer needs, beyond its own state, to resume exactly where it was killed."""

from __future__ import annotations

import logging
from typing import Any

from ignite.engine import Engine, Events

from .random_state import get_random_states, set_random_states, stateful_transforms, this_rank_part, with_every_rank
from .streams import ResumableStream

__all__ = ["TrainerResumeState"]

_KEYS = ("stream", "random_states", "transform_states", "rank")


class TrainerResumeState:
    """
    One checkpointable object (``state_dict`` / ``load_state_dict``, for ``CheckpointSaver`` / ``CheckpointLoader``)
    holding what a MONAI trainer whose data come from a :class:`~metassl_monai.engines.ResumableStream` needs to
    resume **exactly** (the same batches, augmentations and weights as a run never interrupted), as
    :class:`~metassl_monai.engines.SemiSupervisedTrainer` does for itself:

    - ``stream``: the position in the data pass and its generator states (the order and the worker seeds);
    - ``random_states``: the global random states and those of the pipeline's random transforms;
    - ``transform_states``: the states of the pipeline's transforms that keep one (``state_dict`` /
      ``load_state_dict``, e.g. the swap pool of :class:`metassl_monai.quality.RandMaskCorruptiond`);
    - ``rank``: the process they belong to, and with several processes ``rank_states``: every rank's three parts
      above (each rank restores its own; see :func:`~metassl_monai.engines.random_state.this_rank_part`).

    A loaded state is applied when the trainer asks for its next batch (``attach`` the object to the trainer): the
    stream replays the batches already delivered in the interrupted pass, then the random states and the transform
    states are restored (the replay in the main process, ``num_workers=0``, advances them: they are set afterwards).

    Args:
        stream: the trainer's data (its ``train_data_loader``).

    Raises:
        TypeError: ``stream`` is not a :class:`ResumableStream`.
    """

    def __init__(self, stream: ResumableStream) -> None:
        if not isinstance(stream, ResumableStream):
            raise TypeError(f"TrainerResumeState needs the trainer's ResumableStream, got {type(stream).__name__}: "
                            "wrap the data loader in metassl_monai.engines.ResumableStream.")
        self.stream = stream
        self._pending: dict | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._apply_pending)

    def _roots(self) -> list[Any]:
        return [self.stream.loader]

    def state_dict(self) -> dict:
        """The parts above (tensors and plain values: ``torch.load(..., weights_only=True)`` loads them). Collective
        with several processes (every rank calls it at the same point)."""
        if self._pending is not None:  # loaded but not applied yet (e.g. a finished run resumed): keep it
            return dict(self._pending)
        return with_every_rank({
            "stream": self.stream.state_dict(),
            "random_states": get_random_states(*self._roots()),
            "transform_states": [t.state_dict() for t in stateful_transforms(*self._roots())],
        })

    def load_state_dict(self, state: dict) -> None:
        """
        Raises:
            KeyError: ``state`` misses one of the parts (the message lists what it has).
            ValueError: it holds the states of a different number of stateful transforms than the pipeline has.
        """
        missing = [k for k in _KEYS if k not in state]
        if missing:
            raise KeyError(f"the trainer resume state has no {missing} (it has {sorted(state)}).")
        expected = len(stateful_transforms(*self._roots()))
        if len(state["transform_states"]) != expected:
            raise ValueError(f"the checkpoint holds the states of {len(state['transform_states'])} stateful "
                             f"transforms, the current pipeline has {expected}: the transforms changed since.")
        self._pending = dict(state)

    def _apply_pending(self, _engine: Engine | None = None) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        own = this_rank_part(pending, logging.getLogger(__name__))
        self.stream.load_state_dict((own or pending)["stream"])
        self.stream.prepare()
        if own is None:
            return
        set_random_states(own["random_states"], *self._roots())
        for transform, state in zip(stateful_transforms(*self._roots()), own["transform_states"]):
            transform.load_state_dict(state)
