# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Save and restore every random state a training run draws from, in a ``weights_only``-loadable form."""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch

__all__ = ["randomizable_objects", "stateful_transforms", "get_random_states", "set_random_states", "with_every_rank",
           "this_rank_part"]


def randomizable_objects(*roots: Any) -> list[Any]:
    """
    The objects with a numpy ``R`` random state (MONAI ``Randomizable`` transforms, ``Compose``/``OneOf``
    included) reachable from ``roots`` through attributes, lists, tuples and dicts, in a stable order, each once.
    Datasets are searched through their ``transform`` only (not their data or cache).
    """
    return _reachable(roots, lambda obj: isinstance(getattr(obj, "R", None), np.random.RandomState))


def stateful_transforms(*roots: Any) -> list[Any]:
    """
    The MONAI transforms reachable from ``roots`` (as :func:`randomizable_objects`) that carry a state of their own
    beyond their random state, i.e. define ``state_dict`` and ``load_state_dict`` (e.g. the swap pool of
    :class:`metassl_monai.quality.RandMaskCorruptiond`), in a stable order, each once. Networks held by transforms
    (``torch.nn.Module``) are not transforms and are not included.
    """
    from monai.transforms import Transform

    return _reachable(roots, lambda obj: isinstance(obj, Transform) and callable(getattr(obj, "state_dict", None))
                      and callable(getattr(obj, "load_state_dict", None)))


def _reachable(roots: tuple, wanted) -> list[Any]:
    found: list[Any] = []
    seen: set[int] = set()

    def visit(obj: Any, depth: int) -> None:
        if obj is None or depth > 12 or id(obj) in seen:
            return
        if isinstance(obj, (str, bytes, int, float, bool, torch.Tensor, np.ndarray)):
            return
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            for item in obj:
                visit(item, depth + 1)
            return
        if isinstance(obj, dict):
            for item in obj.values():
                visit(item, depth + 1)
            return
        if isinstance(obj, torch.utils.data.Dataset):
            visit(getattr(obj, "transform", None), depth + 1)
            visit(getattr(obj, "dataset", None), depth + 1)  # Subset and other wrappers
            return
        if wanted(obj):
            found.append(obj)
        attrs = getattr(obj, "__dict__", None)
        if attrs:
            for key, value in attrs.items():
                if not key.startswith("__") and key != "R":
                    visit(value, depth + 1)

    for root in roots:
        visit(root, 0)
    return found


def _numpy_state(rs: np.random.RandomState | None = None) -> dict:
    name, keys, pos, has_gauss, gauss = (rs.get_state() if rs is not None else np.random.get_state())
    return {"keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_state(state: dict, rs: np.random.RandomState | None = None) -> None:
    value = ("MT19937", state["keys"].numpy().astype(np.uint32), state["pos"], state["has_gauss"], state["gauss"])
    (rs.set_state if rs is not None else np.random.set_state)(value)


def get_random_states(*roots: Any) -> dict:
    """
    The global random states (torch CPU and CUDA, numpy, Python ``random``) and those of the randomizable
    objects reachable from ``roots`` (see :func:`randomizable_objects`). Only tensors, ints, floats, lists and
    dicts: the result can be saved in a checkpoint loaded with ``torch.load(..., weights_only=True)``.
    """
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": _numpy_state(),
        "python": {"version": int(version), "state": list(internal), "gauss_next": gauss_next},
        "objects": [_numpy_state(obj.R) for obj in randomizable_objects(*roots)],
    }


def set_random_states(states: dict, *roots: Any) -> None:
    """
    Restore what :func:`get_random_states` returned, for the same ``roots``.

    Raises:
        KeyError: when ``states`` misses a key.
        ValueError: when ``roots`` hold a different number of randomizable objects than when the states were
            taken (a different transform pipeline).
    """
    for key in ("torch", "cuda", "numpy", "python", "objects"):
        if key not in states:
            raise KeyError(f"random states have no '{key}' (they have {sorted(states)}).")
    objects = randomizable_objects(*roots)
    if len(objects) != len(states["objects"]):
        raise ValueError(
            f"the checkpoint holds the random states of {len(states['objects'])} randomizable transforms, the "
            f"current pipeline has {len(objects)}: the transforms changed since the checkpoint."
        )
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    _set_numpy_state(states["numpy"])
    py = states["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss_next"]))
    for obj, state in zip(objects, states["objects"]):
        _set_numpy_state(state, obj.R)


def with_every_rank(own: dict) -> dict:
    """
    What a checkpoint keeps of this process's resume state ``own`` (e.g. its stream positions and random states): ``own``
    itself, the ``rank`` it belongs to and, with more than one process, ``rank_states`` -- every rank's ``own``,
    gathered (index = rank), so that each process of a resumed multi-GPU run restores its own.

    Collective with more than one process: every rank calls it at the same point (the bundles' multi-GPU configs
    attach the checkpoint saver on every rank; only rank 0 writes the file).
    """
    from metassl_monai.distributed import all_gather_object, get_rank, get_world_size

    state = {**own, "rank": get_rank()}
    if get_world_size() > 1:
        state["rank_states"] = all_gather_object(own)
    return state


def this_rank_part(saved: dict, logger: logging.Logger | None = None) -> dict | None:
    """
    The part of ``saved`` (from :func:`with_every_rank`) that belongs to this process: its entry of ``rank_states``
    when the checkpoint was saved by as many processes as run now; otherwise ``saved``'s own part on the rank that
    saved it (rank 0: a single process resuming a multi-GPU checkpoint continues as its rank 0), and None on the other
    ranks, with a warning that they keep their own random states.
    """
    from metassl_monai.distributed import get_rank, get_world_size

    rank, world = get_rank(), get_world_size()
    every = saved.get("rank_states")
    if every is not None and len(every) == world:
        return every[rank]
    if int(saved.get("rank", 0)) == rank:  # the saving rank's own part (rank 0 of any earlier run)
        return saved
    saved_by = len(every) if every is not None else 1
    (logger or logging.getLogger(__name__)).warning(
        f"the checkpoint's random states were saved by {saved_by} process(es), this run has {world}: rank {rank} "
        "keeps its own random states (the resumed run is not identical to an uninterrupted one)."
    )
    return None
