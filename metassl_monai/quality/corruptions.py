# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The corruption sampler of Quality-Guided SSL and its MONAI dictionary transforms.

:class:`MaskCorruptor` draws a corruption category (identity .20, a single corruption .28, a chain of 2–3 .18, a swap
with the mask of another image .10, a heavy corruption .12, a catastrophic failure .05, a blob .07, as published) and
applies an entry of a corruption registry (:data:`~metassl_monai.quality.ops.REGISTRY`, the published catalogue:
single, heavy and catastrophic entries drawn with their weights, chains uniformly among the single entries outside the
blob category, blobs uniformly among the five blob entries) to a spatial label map; ``registry="legacy"`` draws from
the catalogue before the published one (:data:`~metassl_monai.quality.ops.LEGACY_REGISTRY`), exactly as the sampler
did then. :class:`RandMaskCorruptiond` wraps it as a randomisable MONAI dictionary transform producing the training
masks of the quality predictor, and :class:`MaskQualityd` / :func:`dice_per_class` compute its regression target, the
per-class Dice of a mask against the ground truth.
"""

from __future__ import annotations

import inspect
import json
import math
from collections import deque
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Union

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type

from .ops import CATASTROPHIC_FUNCTIONS, OPS, RegistryEntry, get_registry, registry_entries, swap
from .ops.registry import RegistryArg

__all__ = [
    "CATEGORIES",
    "DEFAULT_CATEGORY_PROBS",
    "DEFAULT_SAMPLER_OPS",
    "MaskCorruptor",
    "RandMaskCorruptiond",
    "MaskQualityd",
    "dice_per_class",
]

CATEGORIES: tuple[str, ...] = ("identity", "single", "chain", "swap", "heavy", "catastrophic", "blob")
"""The corruption categories, in the order they are drawn."""

DEFAULT_CATEGORY_PROBS: dict[str, float] = {
    "identity": 0.20,
    "single": 0.28,
    "chain": 0.18,
    "swap": 0.10,
    "heavy": 0.12,
    "catastrophic": 0.05,
    "blob": 0.07,
}
"""Probability of each corruption category (sums to 1)."""

DEFAULT_SAMPLER_OPS: tuple[str, ...] = tuple(e.name for e in registry_entries("published", "single"))
"""The entries of the "single" category by default: the 40 single entries of the published registry."""

OpsArg = Union[Mapping[str, Callable[..., np.ndarray]], Sequence[str], None]


class _Pool:
    """The entries one category draws from: names, callables, weights, and whether each may be chained."""

    def __init__(self, entries: list[tuple[str, Callable, float, bool]]) -> None:
        self.names = [e[0] for e in entries]
        self.fns = [e[1] for e in entries]
        weights = np.array([e[2] for e in entries], dtype=float)
        self.chainable = [e[3] for e in entries]
        # equal weights draw with ``integers`` (the draw of the sampler before the registry: the legacy registry
        # reproduces it bit for bit), different ones with ``choice`` and the normalised weights
        self.uniform = bool(weights.size == 0 or np.all(weights == weights[0]))
        self.probs = weights / weights.sum() if weights.size else weights

    def __len__(self) -> int:
        return len(self.names)

    def draw(self, rng: np.random.Generator) -> int:
        """The index of one entry, drawn with the weights (no draw when there is a single entry)."""
        if len(self.names) == 1:
            return 0
        if self.uniform:
            return int(rng.integers(len(self.names)))
        return int(rng.choice(len(self.names), p=self.probs))


def _resolve(ops: OpsArg, entries: list[RegistryEntry], fallback: Mapping[str, Callable], what: str) -> _Pool:
    """
    The pool of a category: ``entries`` (``ops is None``); names looked up among ``entries``, then in ``fallback``
    (functions, weight 1); or a mapping name -> :class:`RegistryEntry` or callable (weight 1).
    """
    by_name = {e.name: e for e in entries}
    if ops is None:
        items = [(e.name, e) for e in entries]
    elif isinstance(ops, Mapping):
        items = list(ops.items())
    else:
        names = [ops] if isinstance(ops, str) else list(ops)
        unknown = [name for name in names if name not in by_name and name not in fallback]
        if unknown:
            raise ValueError(f"unknown {what} {unknown}; known: {sorted(set(by_name) | set(fallback))}.")
        items = [(name, by_name.get(name, fallback.get(name))) for name in names]
    resolved = []
    for name, fn in items:
        if not callable(fn):
            raise TypeError(f"{what} {name!r} is not callable.")
        if isinstance(fn, RegistryEntry):
            resolved.append((str(name), fn, fn.weight, not fn.blob))
        else:
            resolved.append((str(name), fn, 1.0, True))
    return _Pool(resolved)


def _accepts_num_classes(fn: Callable) -> bool:
    if isinstance(fn, RegistryEntry):
        return fn.accepts_num_classes
    try:
        return "num_classes" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _as_label_map(mask, num_classes: int | None = None, name: str = "mask") -> np.ndarray:
    """
    ``mask`` (numpy array or tensor, integer or integer-valued float) as an integer numpy array, validated.

    Raises:
        ValueError: non-integer or negative values, or values ``>= num_classes``; the message names ``name``.
    """
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu()
        mask = mask.as_tensor() if hasattr(mask, "as_tensor") else mask
        array = mask.numpy()
    else:
        array = np.asarray(mask)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating):
            raise ValueError(f"{name} must hold integer class labels, got dtype {array.dtype}.")
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.round(array)):
            raise ValueError(f"{name} must hold integer class labels, got non-integer values.")
        array = array.astype(np.int64)
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0:
            raise ValueError(f"{name} has negative label {low}; labels must be in 0..num_classes-1.")
        if num_classes is not None and high >= num_classes:
            raise ValueError(f"{name} has label {high} >= num_classes={num_classes}.")
    return array


def dice_per_class(mask, label, num_classes: int) -> np.ndarray:
    """
    Dice of every foreground class of ``mask`` against ``label``.

    Computed from the ``num_classes x num_classes`` confusion matrix (one ``bincount`` over the label pairs).

    Args:
        mask: label map (numpy array or tensor, any shape, integer values in ``0..num_classes-1``).
        label: ground-truth label map of the same shape.
        num_classes: number of classes including background (>= 2).

    Returns:
        float64 array of shape ``(num_classes - 1,)``: the Dice of classes ``1..num_classes-1``; 1.0 for a class absent
        from both, 0.0 for a class present in exactly one.

    Raises:
        ValueError: ``num_classes < 2``, different shapes, or labels outside ``0..num_classes-1``.
    """
    if int(num_classes) < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
    num_classes = int(num_classes)
    mask = _as_label_map(mask, num_classes, "mask")
    label = _as_label_map(label, num_classes, "label")
    if mask.shape != label.shape:
        raise ValueError(f"mask and label shapes differ: {mask.shape} vs {label.shape}.")
    pairs = mask.astype(np.int64).ravel() * num_classes + label.astype(np.int64).ravel()
    confusion = np.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    intersection = np.diag(confusion)[1:].astype(np.float64)
    total = (confusion.sum(axis=1) + confusion.sum(axis=0))[1:].astype(np.float64)
    return np.divide(2.0 * intersection, total, out=np.ones_like(total), where=total > 0)


class MaskCorruptor:
    """
    Draw and apply a random corruption of a spatial label map.

    Each call draws a category with ``category_probs`` and applies entries of the corruption registry (see
    :mod:`metassl_monai.quality.ops.registry`); the returned names say what was applied:

    * ``"identity"``: the mask unchanged (``["identity"]``);
    * ``"single"``: one single entry, drawn with the entries' weights (``["erosion_7"]``);
    * ``"chain"``: ``chain_length[0]..chain_length[1]`` distinct single entries in sequence, drawn uniformly among
      those outside the blob category (``["dilation_5", "rotate_small"]``), as published;
    * ``"swap"``: the mask of another image from the swap pool (``["swap"]``), drawn uniformly among the
      ``swap_area_quantile`` fraction of the pool closest in foreground fraction (the foreground area relative to the
      image size, which is the area for equal shapes; pool masks equal to the current one are excluded). With no
      candidate (only while the pool fills) it falls back to a single entry, recorded as that entry (published: the
      identity, which would add Dice-1 masks);
    * ``"heavy"``: one heavy entry, drawn with the weights (``["heavy:shift_very_large"]``);
    * ``"catastrophic"``: one catastrophic entry, drawn with the weights (``["catastrophic:invert"]``);
    * ``"blob"``: one entry of the blob category, drawn uniformly (``["blob:circular_blob"]``).

    With the published registry (default) the single entries are its 40 single entries (the five blob entries
    included, as published), the heavy and catastrophic ones its 7 and 4. ``registry="legacy"`` draws from the
    catalogue before the published one (all ops with weight 1, the old heavy settings, the old random blob), which
    with the same seed gives the masks the sampler gave then.

    The swap pool is a FIFO of the last ``swap_pool_size`` masks fed to the corruptor (every call adds its input after
    corrupting it, unless ``update_pool=False``), optionally initialised with ``swap_pool``; it holds compact
    (``uint8``) copies, e.g. 64 MB for 64 volumes of 112 x 112 x 80 voxels.

    Args:
        num_classes: number of classes including background (>= 2); passed to the ops that accept ``num_classes``.
        category_probs: probability of each category (keys from :data:`CATEGORIES`, missing ones are 0, renormalised
            to sum 1); ``None`` uses :data:`DEFAULT_CATEGORY_PROBS`.
        ops: the single entries (and so the chain entries and the swap fallback): ``None`` uses the registry's;
            names of registry entries or of :data:`~metassl_monai.quality.ops.OPS` functions (weight 1, their own
            random parameters); or a mapping name -> :class:`~metassl_monai.quality.ops.RegistryEntry` or callable
            ``op(mask, rng)`` (weight 1).
        chain_length: (min, max) number of entries of a chain, inclusive; capped at the number of chainable entries.
        swap_pool_size: capacity of the swap pool (0 disables swapping: it always falls back).
        swap_area_quantile: fraction of the pool, closest in foreground fraction, a swap draws from (in (0, 1]).
        seed: seed of the generator used when a call gets no ``rng``.
        swap_pool: initial pool masks (spatial label maps of the same number of dimensions as the masks to corrupt).
        update_pool: whether each call adds its input mask to the pool.
        heavy_ops: like ``ops`` for the heavy category (names of the registry's heavy entries).
        catastrophic_ops: like ``ops`` for the catastrophic category (names of the registry's catastrophic entries or
            of :data:`~metassl_monai.quality.ops.CATASTROPHIC_FUNCTIONS`).
        blob_ops: like ``ops`` for the blob category (names of the registry's blob entries or of ``OPS`` functions);
            drawn uniformly whatever their weights.
        registry: ``"published"`` (:data:`~metassl_monai.quality.ops.REGISTRY`), ``"legacy"``
            (:data:`~metassl_monai.quality.ops.LEGACY_REGISTRY`) or a mapping name ->
            :class:`~metassl_monai.quality.ops.RegistryEntry`.

    Raises:
        ValueError: invalid ``num_classes``, probabilities (unknown key, negative or non-finite value, zero sum),
            ``chain_length``, ``swap_pool_size``, ``swap_area_quantile``, registry, unknown op names, an empty op set
            for a category of non-zero probability, or an invalid pool mask.
    """

    def __init__(
        self,
        num_classes: int,
        category_probs: Mapping[str, float] | None = None,
        ops: OpsArg = None,
        chain_length: tuple[int, int] = (2, 3),
        swap_pool_size: int = 64,
        swap_area_quantile: float = 0.2,
        seed: int | None = None,
        swap_pool: Sequence[np.ndarray] | None = None,
        update_pool: bool = True,
        heavy_ops: OpsArg = None,
        catastrophic_ops: OpsArg = None,
        blob_ops: OpsArg = None,
        registry: RegistryArg = "published",
    ) -> None:
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2 (background + at least one class), got {num_classes}.")
        self.num_classes = int(num_classes)
        self.category_probs = self._validate_probs(category_probs)
        self.registry = get_registry(registry)
        self._single = _resolve(ops, registry_entries(self.registry, "single"), OPS, "op")
        chain = [
            (name, fn, 1.0, True)
            for name, fn, chainable in zip(self._single.names, self._single.fns, self._single.chainable)
            if chainable
        ]
        self._chain = _Pool(chain)
        self._heavy = _resolve(heavy_ops, registry_entries(self.registry, "heavy"), {}, "heavy op")
        self._catastrophic = _resolve(
            catastrophic_ops, registry_entries(self.registry, "catastrophic"), CATASTROPHIC_FUNCTIONS,
            "catastrophic op",
        )
        blob = _resolve(blob_ops, registry_entries(self.registry, "blob"), OPS, "blob op")
        self._blob = _Pool([(name, fn, 1.0, False) for name, fn in zip(blob.names, blob.fns)])  # drawn uniformly
        needs = {
            "single": self._single,
            "chain": self._chain,
            "swap": self._single,
            "heavy": self._heavy,
            "catastrophic": self._catastrophic,
            "blob": self._blob,
        }
        for category, pool in needs.items():
            if self.category_probs[category] > 0 and not len(pool):
                raise ValueError(f"category {category!r} has probability > 0 but no ops to draw from.")
        low, high = (int(v) for v in chain_length)
        if not 1 <= low <= high:
            raise ValueError(f"chain_length must be (min, max) with 1 <= min <= max, got {chain_length}.")
        self.chain_length = (low, high)
        if int(swap_pool_size) < 0:
            raise ValueError(f"swap_pool_size must be >= 0, got {swap_pool_size}.")
        if not 0.0 < float(swap_area_quantile) <= 1.0:
            raise ValueError(f"swap_area_quantile must be in (0, 1], got {swap_area_quantile}.")
        self.swap_area_quantile = float(swap_area_quantile)
        self.update_pool = bool(update_pool)
        self._pool: deque[tuple[np.ndarray, float]] = deque(maxlen=int(swap_pool_size))
        for pool_mask in swap_pool or ():
            self.add_to_pool(pool_mask)
        self._rng = np.random.default_rng(seed)
        self._takes_num_classes: dict[int, bool] = {}
        self._names = list(self.category_probs)
        self._probs = np.array([self.category_probs[name] for name in self._names])

    @property
    def ops(self) -> dict[str, Callable[..., np.ndarray]]:
        """The single entries, name -> callable."""
        return dict(zip(self._single.names, self._single.fns))

    @property
    def heavy_ops(self) -> dict[str, Callable[..., np.ndarray]]:
        """The heavy entries, name -> callable."""
        return dict(zip(self._heavy.names, self._heavy.fns))

    @property
    def catastrophic_ops(self) -> dict[str, Callable[..., np.ndarray]]:
        """The catastrophic entries, name -> callable."""
        return dict(zip(self._catastrophic.names, self._catastrophic.fns))

    @property
    def blob_ops(self) -> dict[str, Callable[..., np.ndarray]]:
        """The entries of the blob category, name -> callable."""
        return dict(zip(self._blob.names, self._blob.fns))

    @property
    def chain_ops(self) -> dict[str, Callable[..., np.ndarray]]:
        """The entries chains draw from (the single entries outside the blob category), name -> callable."""
        return dict(zip(self._chain.names, self._chain.fns))

    def probabilities(self, category: str) -> dict[str, float]:
        """
        The probability of each entry within a category, as the sampler draws them.

        Args:
            category: ``"single"``, ``"chain"`` (of the first entry of a chain), ``"heavy"``, ``"catastrophic"`` or
                ``"blob"``.

        Returns:
            name -> probability (sums to 1; empty for a category without entries).

        Raises:
            ValueError: an unknown category.
        """
        pools = {"single": self._single, "chain": self._chain, "heavy": self._heavy,
                 "catastrophic": self._catastrophic, "blob": self._blob}
        if category not in pools:
            raise ValueError(f"unknown category {category!r}; known: {sorted(pools)}.")
        pool = pools[category]
        if not len(pool):
            return {}
        probs = np.full(len(pool), 1.0 / len(pool)) if pool.uniform else pool.probs
        return {name: float(p) for name, p in zip(pool.names, probs)}

    @staticmethod
    def _validate_probs(category_probs: Mapping[str, float] | None) -> dict[str, float]:
        probs = dict(DEFAULT_CATEGORY_PROBS if category_probs is None else category_probs)
        unknown = sorted(set(probs) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown corruption categories {unknown}; known: {list(CATEGORIES)}.")
        values = {name: float(probs.get(name, 0.0)) for name in CATEGORIES}
        bad = {name: v for name, v in values.items() if not math.isfinite(v) or v < 0}
        if bad:
            raise ValueError(f"category probabilities must be finite and non-negative, got {bad}.")
        total = sum(values.values())
        if total <= 0:
            raise ValueError("category probabilities sum to 0; at least one must be positive.")
        return {name: v / total for name, v in values.items()}

    @property
    def pool(self) -> list[np.ndarray]:
        """The masks of the swap pool, oldest first (stored as uint8 for up to 256 classes; not copied here)."""
        return [entry[0] for entry in self._pool]

    def state_dict(self) -> dict:
        """
        What a resumed run needs to go on exactly as this corruptor would: the swap pool (``"pool"``: its masks,
        oldest first) and the state of the generator used by calls without ``rng`` (``"rng"``, JSON text). Tensors and
        strings only: loadable with ``torch.load(..., weights_only=True)``.
        """
        return {"pool": [torch.from_numpy(mask.copy()) for mask, _ in self._pool],
                "rng": json.dumps(self._rng.bit_generator.state)}

    def load_state_dict(self, state: Mapping) -> None:
        """
        Restore :meth:`state_dict` (the pool is replaced, its fractions recomputed as :meth:`add_to_pool` does).

        Raises:
            KeyError: ``state`` misses ``"pool"`` or ``"rng"``.
            ValueError: more pool masks than ``swap_pool_size``, or an invalid mask.
        """
        for key in ("pool", "rng"):
            if key not in state:
                raise KeyError(f"the mask corruptor state has no '{key}' (it has {sorted(state)}).")
        if len(state["pool"]) > (self._pool.maxlen or 0):
            raise ValueError(f"the saved swap pool holds {len(state['pool'])} masks, more than swap_pool_size="
                             f"{self._pool.maxlen}: the corruptor was configured differently.")
        self._pool.clear()
        for mask in state["pool"]:
            self.add_to_pool(np.asarray(mask))
        self._rng.bit_generator.state = json.loads(state["rng"])

    def add_to_pool(self, mask: np.ndarray) -> None:
        """
        Append a copy of ``mask`` to the swap pool (the oldest mask is dropped when the pool is full).

        Args:
            mask: spatial 2D or 3D label map with values in ``0..num_classes-1`` (numpy array or tensor).

        Raises:
            ValueError: not a 2D/3D integer-valued map, or labels outside ``0..num_classes-1``.
        """
        array = _as_label_map(mask, self.num_classes, "swap pool mask")
        if array.ndim not in (2, 3):
            raise ValueError(f"swap pool mask must be a spatial 2D or 3D label map, got shape {array.shape}.")
        if self._pool.maxlen == 0:
            return
        compact = np.uint8 if self.num_classes <= 256 else np.int32  # keeps a pool of 3D volumes small
        self._pool.append((array.astype(compact), float(np.count_nonzero(array)) / max(array.size, 1)))

    def _call_op(self, fn: Callable[..., np.ndarray], mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        key = id(fn)
        if key not in self._takes_num_classes:
            self._takes_num_classes[key] = _accepts_num_classes(fn)
        if self._takes_num_classes[key]:
            return fn(mask, rng, num_classes=self.num_classes)
        return fn(mask, rng)

    def _draw_swap(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray | None:
        """A pool mask close in foreground fraction to ``mask`` (not equal to it), or ``None``."""
        fraction = float(np.count_nonzero(mask)) / max(mask.size, 1)
        candidates = [
            (abs(frac - fraction), other)
            for other, frac in self._pool
            if other.ndim == mask.ndim and not (other.shape == mask.shape and np.array_equal(other, mask))
        ]
        if not candidates:
            return None
        order = np.argsort([gap for gap, _ in candidates], kind="stable")
        keep = max(1, math.ceil(self.swap_area_quantile * len(candidates)))
        return candidates[int(order[rng.integers(keep)])][1]

    def __call__(self, mask: np.ndarray, rng: np.random.Generator | None = None) -> tuple[np.ndarray, list[str]]:
        """
        Corrupt ``mask``.

        Args:
            mask: spatial 2D ``(H, W)`` or 3D ``(H, W, D)`` integer label map, values in ``0..num_classes-1``.
            rng: random generator; ``None`` uses the corruptor's own (seeded with ``seed``).

        Returns:
            the corrupted mask (a new array, same shape and dtype) and the names of the applied ops.

        Raises:
            ValueError: ``mask`` is not a 2D/3D integer array with labels in ``0..num_classes-1``.
        """
        rng = self._rng if rng is None else rng
        if not isinstance(mask, np.ndarray) or not np.issubdtype(mask.dtype, np.integer):
            kind = f"{type(mask).__name__} of dtype {getattr(mask, 'dtype', None)}"
            raise ValueError(f"mask must be an integer numpy array, got a {kind}.")
        if mask.ndim not in (2, 3):
            raise ValueError(f"mask must be a spatial 2D (H, W) or 3D (H, W, D) label map, got shape {mask.shape}.")
        _as_label_map(mask, self.num_classes)
        category = self._names[int(rng.choice(len(self._names), p=self._probs))]
        out, names = self._apply(category, mask, rng)
        if self.update_pool:
            self.add_to_pool(mask)
        return out, names

    def _apply(self, category: str, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
        if category == "identity":
            return mask.copy(), ["identity"]
        if category == "swap":
            other = self._draw_swap(mask, rng)
            if other is not None:
                return swap(mask, rng, other=other), ["swap"]
            category = "single"
        if category == "chain":
            pool = self._chain
            low, high = min(self.chain_length[0], len(pool)), min(self.chain_length[1], len(pool))
            length = int(rng.integers(low, high + 1))
            picks = [int(k) for k in rng.choice(len(pool), size=length, replace=False)]
            out = mask
            for k in picks:
                out = self._call_op(pool.fns[k], out, rng)
            return (out if out is not mask else mask.copy()), [pool.names[k] for k in picks]
        pool, prefix = {
            "single": (self._single, ""),
            "heavy": (self._heavy, "heavy:"),
            "catastrophic": (self._catastrophic, "catastrophic:"),
            "blob": (self._blob, "blob:"),
        }[category]
        k = pool.draw(rng)
        return self._call_op(pool.fns[k], mask, rng), [prefix + pool.names[k]]


class RandMaskCorruptiond(RandomizableTransform, MapTransform):
    """
    Dictionary transform writing a randomly corrupted copy of a label map (see :class:`MaskCorruptor`).

    ``data[key]`` is a channel-first label map ``(1, H, W)`` or ``(1, H, W, D)`` (numpy array, tensor or MetaTensor,
    integer or integer-valued float); ``data[output_key]`` gets the corrupted map with the same type, shape and dtype
    (a MetaTensor keeps the input's meta) and ``data[ops_key]`` the applied op names joined by ``"+"``. The input is
    not modified. Randomness comes from :attr:`R` (one :class:`numpy.random.Generator` seeded from it per call), so
    :meth:`set_random_state` / :func:`monai.utils.set_determinism` make it reproducible; the swap pool is per
    instance (per DataLoader worker).

    Args:
        keys: key(s) of the label map(s) to corrupt.
        num_classes: number of classes including background (>= 2).
        output_key: key(s) of the corrupted masks, one per key.
        ops_key: key(s) of the op names, one per key.
        category_probs: see :class:`MaskCorruptor`.
        ops: see :class:`MaskCorruptor`.
        chain_length: see :class:`MaskCorruptor`.
        swap_pool_size: see :class:`MaskCorruptor`.
        swap_area_quantile: see :class:`MaskCorruptor`.
        swap_pool: see :class:`MaskCorruptor`.
        registry: see :class:`MaskCorruptor` (``"published"``, ``"legacy"`` or a mapping of entries).
        allow_missing_keys: don't raise an exception if a key is missing.

    Raises:
        ValueError: as :class:`MaskCorruptor`, or ``output_key`` / ``ops_key`` not one per key.
    """

    def __init__(
        self,
        keys: KeysCollection = "label",
        *,
        num_classes: int,
        output_key: KeysCollection = "mask",
        ops_key: KeysCollection = "corruption",
        category_probs: Mapping[str, float] | None = None,
        ops: OpsArg = None,
        chain_length: tuple[int, int] = (2, 3),
        swap_pool_size: int = 64,
        swap_area_quantile: float = 0.2,
        swap_pool: Sequence[np.ndarray] | None = None,
        registry: RegistryArg = "published",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob=1.0)
        self.output_keys = self._per_key(output_key, "output_key")
        self.ops_keys = self._per_key(ops_key, "ops_key")
        self.corruptor = MaskCorruptor(
            num_classes,
            category_probs=category_probs,
            ops=ops,
            chain_length=chain_length,
            swap_pool_size=swap_pool_size,
            swap_area_quantile=swap_area_quantile,
            swap_pool=swap_pool,
            registry=registry,
        )
        self._seed: np.ndarray | None = None

    def _per_key(self, value: KeysCollection, name: str) -> tuple[Hashable, ...]:
        values = (value,) if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) else tuple(value)
        if len(values) != len(self.keys):
            raise ValueError(f"{name} must give one key per input key ({len(self.keys)}), got {value!r}.")
        return values

    @property
    def num_classes(self) -> int:
        return self.corruptor.num_classes

    def state_dict(self) -> dict:
        """The corruptor's swap pool and generator (see :meth:`MaskCorruptor.state_dict`); the seed of each call comes
        from :attr:`R`, which :func:`metassl_monai.engines.get_random_states` saves."""
        return self.corruptor.state_dict()

    def load_state_dict(self, state: Mapping) -> None:
        self.corruptor.load_state_dict(state)

    def randomize(self, data=None) -> None:
        """Draw the seed of this call's generator from :attr:`R`."""
        self._seed = self.R.randint(0, 2**32, size=4, dtype=np.uint64)

    def _spatial_label(self, value, key: Hashable) -> np.ndarray:
        shape = tuple(value.shape)
        if len(shape) not in (3, 4):
            raise ValueError(
                f"data[{key!r}] must be channel-first (1, H, W) or (1, H, W, D) with 2 or 3 spatial dims, "
                f"got shape {shape}."
            )
        if shape[0] != 1:
            raise ValueError(f"data[{key!r}] must have exactly 1 channel (a label map), got shape {shape}.")
        return _as_label_map(value, self.num_classes, f"data[{key!r}]")[0]

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        self.randomize()
        rng = np.random.default_rng(self._seed)
        for key, out_key, ops_key in self.key_iterator(d, self.output_keys, self.ops_keys):
            value = d[key]
            spatial = self._spatial_label(value, key)
            corrupted, names = self.corruptor(spatial, rng)
            d[out_key] = convert_to_dst_type(corrupted[None], value)[0]
            d[ops_key] = "+".join(names)
        return d


class MaskQualityd(MapTransform):
    """
    Dictionary transform writing the per-class Dice of a mask against the label (the quality predictor's target).

    Args:
        keys: the mask key and the ground-truth label key, in this order.
        num_classes: number of classes including background (>= 2).
        output_key: key of the float32 tensor of shape ``(num_classes - 1,)`` (see :func:`dice_per_class`).
        allow_missing_keys: don't raise an exception if a key is missing (the output is then not written).

    Raises:
        ValueError: not exactly two keys, or ``num_classes < 2``.
    """

    def __init__(
        self,
        keys: KeysCollection = ("mask", "label"),
        *,
        num_classes: int,
        output_key: Hashable = "quality",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 2:
            raise ValueError(f"keys must be (mask key, label key), got {self.keys}.")
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        self.num_classes = int(num_classes)
        self.output_key = output_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        present = list(self.key_iterator(d))
        if len(present) < 2:
            return d
        mask_key, label_key = self.keys
        try:
            quality = dice_per_class(d[mask_key], d[label_key], self.num_classes)
        except ValueError as e:
            raise ValueError(f"{type(self).__name__} (keys {mask_key!r}, {label_key!r}): {e}") from None
        d[self.output_key] = torch.as_tensor(quality, dtype=torch.float32)
        return d
