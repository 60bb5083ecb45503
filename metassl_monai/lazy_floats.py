# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""A read-only ``name -> float`` mapping whose values stay tensors until read: logging without per-iteration syncs."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Union

import torch

__all__ = ["LazyFloats"]

#: what a value may be given as: a number, a one-element tensor, or a zero-argument callable returning either
Source = Union[float, int, bool, torch.Tensor, Callable[[], Any]]


def _check_tensor(key: str, value: torch.Tensor) -> torch.Tensor:
    if value.numel() != 1:
        raise ValueError(f"LazyFloats: the value of '{key}' must have one element, got shape {tuple(value.shape)}.")
    return value.detach().reshape(())


class LazyFloats(Mapping):
    """
    A read-only mapping ``name -> float`` that keeps its values as given (detached one-element tensors, Python
    numbers, or zero-argument callables returning either) and converts them to Python floats only when one is read.

    The trainer's ``engine.state.output["loss_terms"]`` and ``["ssl_stats"]`` are such mappings: every iteration
    makes one, but the bundles log them only every 10 or 50 iterations, and on a GPU each ``tensor.item()`` would
    wait for the device (a host sync) in every iteration. Here nothing waits until a handler reads a value; the first
    read converts *every* value at once, with one device-to-host copy per (device, dtype) of the tensors, and keeps
    the floats (later reads cost nothing). The floats are bitwise those of ``tensor.item()``.

    To its readers it is a dict of floats: ``m["loss"]``, ``dict(m)``, ``{**m, **other}``, ``m.items()`` and ``==``
    against a dict all see Python floats; ``len``, iteration over the names and ``name in m`` convert nothing.
    Pickling (``torch.save``, ``copy.deepcopy``, multiprocessing) stores the floats as a plain
    ``collections.OrderedDict`` (a ``dict``, as state dicts are), readable without this package and by
    ``torch.load(..., weights_only=True)``; ``json.dumps`` needs ``dict(m)`` or :meth:`to_dict`.

    A value is read when it is first converted, not when the mapping is made: give tensors that are not modified in
    place afterwards (clone a buffer that is, e.g. an EMA threshold), and callables that read such tensors.

    Args:
        values: ``name -> value``, in the order the mapping keeps; a tensor is detached and must have one element.

    Raises:
        ValueError: a tensor with more than one element (the message names the key); when a callable's result is
            such a tensor, at the read.
        TypeError: a value that is neither a number, a tensor nor a callable (at construction), or a callable
            returning something else (at the read).
    """

    __slots__ = ("_sources", "_floats")

    def __init__(self, values: Mapping[str, Source] | None = None) -> None:
        sources: dict[str, Source] = {}
        for key, value in (values or {}).items():
            if isinstance(value, torch.Tensor):
                value = _check_tensor(key, value)
            elif not (isinstance(value, (float, int)) or callable(value)):  # bool is an int
                raise TypeError(
                    f"LazyFloats: the value of '{key}' must be a number, a one-element tensor or a callable, got "
                    f"{type(value).__name__}."
                )
            sources[str(key)] = value
        self._sources: dict[str, Source] | None = sources
        self._floats: dict[str, float] | None = None

    # ------------------------------------------------------------------------------------ what converts nothing
    def _keys(self) -> dict:
        return self._floats if self._floats is not None else self._sources  # type: ignore[return-value]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __contains__(self, key: object) -> bool:
        return key in self._keys()

    @property
    def converted(self) -> bool:
        """True once the values were read (converted to floats)."""
        return self._floats is not None

    # ------------------------------------------------------------------------------------------- what converts
    def __getitem__(self, key: str) -> float:
        return self.to_dict()[key]

    def to_dict(self) -> dict[str, float]:
        """A plain ``dict`` of Python floats (a new one each call); converts every value on the first call."""
        if self._floats is None:
            self._floats = self._convert(self._sources or {})
            self._sources = None  # the tensors are not needed any more
        return dict(self._floats)

    @staticmethod
    def _convert(sources: Mapping[str, Source]) -> dict[str, float]:
        values: dict[str, Any] = {}
        for key, value in sources.items():
            if callable(value) and not isinstance(value, torch.Tensor):
                value = value()
                if isinstance(value, torch.Tensor):
                    value = _check_tensor(key, value)
                elif not isinstance(value, (float, int)):
                    raise TypeError(f"LazyFloats: the callable of '{key}' returned {type(value).__name__}, not a "
                                    "number or a one-element tensor.")
            values[key] = value
        groups: dict[tuple, list[str]] = {}
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                groups.setdefault((value.device, value.dtype), []).append(key)
        for keys in groups.values():  # one device-to-host copy per group; .tolist() gives .item()'s numbers
            for key, number in zip(keys, torch.stack([values[k] for k in keys]).tolist()):
                values[key] = number
        return {key: float(value) for key, value in values.items()}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyFloats):
            other = other.to_dict()
        if not isinstance(other, Mapping):
            return NotImplemented
        return self.to_dict() == dict(other.items())

    __hash__ = None  # type: ignore[assignment]  # mutable-looking: as a dict

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_dict()!r})"

    def __reduce__(self) -> tuple:
        # an OrderedDict (a dict), as state_dicts are: torch.load(..., weights_only=True) reads it, builtins.dict not
        return OrderedDict, (list(self.to_dict().items()),)
