# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The registries the corruption sampler (:class:`~metassl_monai.quality.corruptions.MaskCorruptor`) draws from: named,
parameterised entries (an op with fixed parameters), each with a weight and a category.

:data:`REGISTRY` is the catalogue of the public QG-SSL code (``data/corruption_ops.py`` of sfu-mial/QG-SSL): every
entry, parameter and weight below is the published one. Its three tables hold 51 entries: 40 single (the three
blobs among them), 7 heavy and 4 catastrophic, weights 0.3–1.0. The sampler draws

* a *single* corruption among the 40 single entries, with probability proportional to the weights;
* a *heavy* one among the 7 heavy entries, and a *catastrophic* one among the 4 catastrophic entries, likewise;
* a *chain* of 2–3 distinct single entries drawn uniformly (as published: the weights are not used for chains, and
  entries of one op, e.g. ``erosion_5`` and ``erosion_9``, may be chained) among the single entries that are not in
  the blob category;
* a *blob* uniformly among the five entries marked ``blob``: ``gaussian_blob``, ``gaussian_blob_large``,
  ``circular_blob``, ``convex_hull``, ``bounding_box`` (which are also single entries, and never chained).

The entries (weight in brackets):

* morphology: ``erosion_5``, ``erosion_7``, ``erosion_9`` (1, 1, 0.8) and ``dilation_5``, ``dilation_7``,
  ``dilation_9`` (1, 1, 0.8): :func:`erode` / :func:`dilate` with kernel 5, 7, 9; ``opening_5``, ``closing_5`` (0.5
  each);
* shape: ``ellipse`` (1, :func:`ellipse_fit`), ``polygon_3``, ``polygon_5``, ``polygon_8`` (0.5, 0.8, 0.8,
  :func:`polygon_approx`), ``convex_hull`` (1, blob), ``bounding_box`` (0.5, blob);
* boundary and warps: ``jagged_3``, ``jagged_5`` (1, 1, :func:`jagged_boundary` with band width 1 and 2, the
  published kernels 3 and 5), ``smooth_11``, ``smooth_15`` (0.8 each), ``elastic_light`` (1, alpha 30 / sigma 4),
  ``elastic_heavy`` (0.8, alpha 60 / sigma 5), ``grid_light`` (1, 5 cells, limit 0.2), ``grid_heavy`` (0.7, 8 cells,
  limit 0.4);
* topology: ``holes_small`` (1, 2 holes of radius 3–8), ``holes_large`` (0.8, 3 of radius 8–15), ``islands_small``
  (1, 2 islands of radius 3–8), ``holes_and_islands`` (1, 2 + 2 of radius 5–15), ``largest_only`` (0.8),
  ``drop_component`` (0.5), ``rect_dropout`` (0.8, one box with sides 10–30 % of the image, anywhere in it);
* geometric: ``shift_small``, ``shift_medium``, ``shift_large`` (1, 0.8, 0.5; up to 10, 20, 30 % of the image size),
  ``scale_down`` (1, 0.75–0.9), ``scale_up`` (1, 1.1–1.25), ``rotate_small`` (1, ±15°), ``rotate_large`` (0.7, ±30°),
  ``random_affine`` (0.8; scale 0.9–1.1, ±15°, shift up to 10 % of the image);
* blobs: ``gaussian_blob`` (1), ``gaussian_blob_large`` (0.7, size factor 1.2), ``circular_blob`` (0.8);
* heavy: ``erosion_11``, ``dilation_11``, ``shift_very_large`` (40 % of the image), ``scale_very_small`` (0.5–0.7),
  ``scale_very_large`` (1.4–1.6), ``grid_very_heavy`` (12 cells, limit 0.6), ``holes_many`` (5 holes of radius
  10–20), weight 1 each;
* catastrophic: ``invert`` (1), ``empty`` (0.5), ``full`` (0.5), ``random_50`` (0.3, :func:`random_mask`: the whole
  mask replaced by random pixels).

The ops generalise the published binary 2D ones to multi-class 2D / 3D label maps (each corrupts one class, or moves
the whole map; see :mod:`metassl_monai.quality.ops`). Where they still differ from the published code, on purpose:

* erosion / dilation / opening / closing use a disk (ball) of diameter ``kernel`` instead of a ``kernel x kernel``
  square: isotropic, and the same element in 3D;
* ``ellipse`` is the moment-matched ellipse (ellipsoid) of the class instead of OpenCV's contour fit of its largest
  component, and ``polygon_*`` takes boundary pixels at evenly spaced angles instead of Douglas–Peucker: both work in
  3D (the polygon slice-wise) without OpenCV;
* islands are placed away from the class, so that each is a new component (published: anywhere in the background);
* ``drop_component`` removes a class that has a single component (published: unchanged, so on masks of one
  component per class, as ACDC's, the entry would be a second identity category);
* rotation, scale and the affine are applied with nearest-neighbour interpolation (published: bilinear, then cast).

:data:`LEGACY_REGISTRY` is the catalogue before this one, for comparisons: the 21 ops of :data:`OPS` (without
``blob``) as single entries with their own random parameter choices and weight 1 (so drawn uniformly, chains from all
of them, convex hull and bounding box included), the old heavy settings (``*_heavy``), the old random blob
(:func:`blob`, the only entry of the blob category) and the catastrophic ``empty``, ``full``, ``invert``,
``random_noise`` (weight 1). Its shift, affine and rectangle dropout are relative to the foreground's bounding box and
its elastic noise is uniform (0.58 times the published displacement). ``MaskCorruptor(registry="legacy")`` draws
exactly the masks the sampler drew before the published catalogue (same seed, same masks).

:data:`OPS` maps the name of every op function of the single and blob categories to the function (its parameters
drawn from its own defaults), :data:`HEAVY_OPS` and :data:`CATASTROPHIC_OPS` the published heavy and catastrophic
entries by name.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Union

import numpy as np

from .blobs import blob, circular_blob, gaussian_blob
from .boundary import jagged_boundary, smooth
from .catastrophic import empty, full, invert, random_mask, random_noise
from .geometric import HEAVY_SCALE_RANGES, affine, rotate, scale, shift
from .morphology import closing, dilate, erode, opening
from .shape import bounding_box, convex_hull, ellipse_fit, polygon_approx
from .topology import (
    add_holes,
    add_islands,
    drop_component,
    holes_and_islands,
    keep_largest_component,
    rectangle_dropout,
)
from .warps import elastic, grid_distortion

ENTRY_CATEGORIES: tuple[str, ...] = ("single", "heavy", "catastrophic", "blob")
"""The categories of registry entries (``"blob"``: an entry of the blob category only, not a single corruption)."""

BLOB_ENTRIES: tuple[str, ...] = ("gaussian_blob", "gaussian_blob_large", "circular_blob", "convex_hull", "bounding_box")
"""The entries of :data:`REGISTRY` drawn (uniformly) by the blob category and excluded from chains."""


@dataclass(frozen=True, eq=False)
class RegistryEntry:
    """
    One named, parameterised corruption: ``entry(mask, rng, **kwargs)`` is ``op(mask, rng, **params, **kwargs)``.

    Args:
        name: the entry's name (what the sampler records).
        op: the op, ``op(mask, rng, **params) -> np.ndarray``.
        params: fixed keyword parameters of the op (stored read-only).
        weight: relative weight of the entry within its category (> 0).
        category: ``"single"``, ``"heavy"``, ``"catastrophic"`` or ``"blob"`` (see :data:`ENTRY_CATEGORIES`).
        blob: drawn by the blob category and never chained (always true for category ``"blob"``).

    Raises:
        ValueError: an empty name, a non-callable op, a weight that is not finite and positive, or an unknown
            category.
    """

    name: str
    op: Callable[..., np.ndarray]
    params: Mapping[str, Any] = field(default_factory=dict)
    weight: float = 1.0
    category: str = "single"
    blob: bool = False

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a registry entry needs a name.")
        if not callable(self.op):
            raise ValueError(f"entry {self.name!r}: op is not callable.")
        weight = float(self.weight)
        if not math.isfinite(weight) or weight <= 0:
            raise ValueError(f"entry {self.name!r}: weight must be finite and > 0, got {self.weight}.")
        if self.category not in ENTRY_CATEGORIES:
            raise ValueError(f"entry {self.name!r}: category must be one of {ENTRY_CATEGORIES}, got {self.category!r}.")
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "blob", bool(self.blob) or self.category == "blob")

    def __call__(self, mask: np.ndarray, rng: np.random.Generator, **kwargs) -> np.ndarray:
        return self.op(mask, rng, **self.params, **kwargs)

    @property
    def accepts_num_classes(self) -> bool:
        """Whether the op takes ``num_classes`` (and it is not fixed by ``params``)."""
        if "num_classes" in self.params:
            return False
        try:
            return "num_classes" in inspect.signature(self.op).parameters
        except (TypeError, ValueError):
            return False


Registry = Mapping[str, RegistryEntry]
RegistryArg = Union[str, Registry]


def _registry(*entries: RegistryEntry) -> dict[str, RegistryEntry]:
    table: dict[str, RegistryEntry] = {}
    for entry in entries:
        if entry.name in table:
            raise ValueError(f"duplicate registry entry {entry.name!r}.")
        table[entry.name] = entry
    return table


def _single(name: str, op: Callable, weight: float, blob: bool = False, **params) -> RegistryEntry:
    return RegistryEntry(name, op, params, weight, "single", blob)


def _heavy(name: str, op: Callable, weight: float, **params) -> RegistryEntry:
    return RegistryEntry(name, op, params, weight, "heavy")


def _catastrophic(name: str, op: Callable, weight: float, **params) -> RegistryEntry:
    return RegistryEntry(name, op, params, weight, "catastrophic")


REGISTRY: dict[str, RegistryEntry] = _registry(
    # morphology
    _single("erosion_5", erode, 1.0, kernel_size=5),
    _single("erosion_7", erode, 1.0, kernel_size=7),
    _single("erosion_9", erode, 0.8, kernel_size=9),
    _single("dilation_5", dilate, 1.0, kernel_size=5),
    _single("dilation_7", dilate, 1.0, kernel_size=7),
    _single("dilation_9", dilate, 0.8, kernel_size=9),
    _single("opening_5", opening, 0.5, kernel_size=5),
    _single("closing_5", closing, 0.5, kernel_size=5),
    # shape approximations
    _single("ellipse", ellipse_fit, 1.0),
    _single("polygon_3", polygon_approx, 0.5, n_vertices=3),
    _single("polygon_5", polygon_approx, 0.8, n_vertices=5),
    _single("polygon_8", polygon_approx, 0.8, n_vertices=8),
    _single("convex_hull", convex_hull, 1.0, blob=True),
    _single("bounding_box", bounding_box, 0.5, blob=True),
    # boundary perturbations and warps
    _single("jagged_3", jagged_boundary, 1.0, width=1),
    _single("jagged_5", jagged_boundary, 1.0, width=2),
    _single("smooth_11", smooth, 0.8, kernel_size=11),
    _single("smooth_15", smooth, 0.8, kernel_size=15),
    _single("elastic_light", elastic, 1.0, alpha=30.0, sigma=4.0),
    _single("elastic_heavy", elastic, 0.8, alpha=60.0, sigma=5.0),
    _single("grid_light", grid_distortion, 1.0, num_cells=5, distort_limit=0.2),
    _single("grid_heavy", grid_distortion, 0.7, num_cells=8, distort_limit=0.4),
    # topology
    _single("holes_small", add_holes, 1.0, n_holes=2, radius_range=(3.0, 8.0)),
    _single("holes_large", add_holes, 0.8, n_holes=3, radius_range=(8.0, 15.0)),
    _single("islands_small", add_islands, 1.0, n_islands=2, radius_range=(3.0, 8.0)),
    _single("holes_and_islands", holes_and_islands, 1.0, n_holes=2, n_islands=2, radius_range=(5.0, 15.0)),
    _single("largest_only", keep_largest_component, 0.8),
    _single("drop_component", drop_component, 0.5),
    _single("rect_dropout", rectangle_dropout, 0.8, n_rects=1, size_range=(0.1, 0.3)),
    # geometric
    _single("shift_small", shift, 1.0, max_fraction=0.1),
    _single("shift_medium", shift, 0.8, max_fraction=0.2),
    _single("shift_large", shift, 0.5, max_fraction=0.3),
    _single("scale_down", scale, 1.0, ranges=((0.75, 0.9),)),
    _single("scale_up", scale, 1.0, ranges=((1.1, 1.25),)),
    _single("rotate_small", rotate, 1.0, max_angle=15.0),
    _single("rotate_large", rotate, 0.7, max_angle=30.0),
    _single("random_affine", affine, 0.8, max_rotation=15.0, scale_range=(0.9, 1.1), max_shift_fraction=0.1),
    # blobs
    _single("gaussian_blob", gaussian_blob, 1.0, blob=True, size_factor=1.0),
    _single("gaussian_blob_large", gaussian_blob, 0.7, blob=True, size_factor=1.2),
    _single("circular_blob", circular_blob, 0.8, blob=True, size_factor=1.0),
    # heavy
    _heavy("erosion_11", erode, 1.0, kernel_size=11),
    _heavy("dilation_11", dilate, 1.0, kernel_size=11),
    _heavy("shift_very_large", shift, 1.0, max_fraction=0.4),
    _heavy("scale_very_small", scale, 1.0, ranges=((0.5, 0.7),)),
    _heavy("scale_very_large", scale, 1.0, ranges=((1.4, 1.6),)),
    _heavy("grid_very_heavy", grid_distortion, 1.0, num_cells=12, distort_limit=0.6),
    _heavy("holes_many", add_holes, 1.0, n_holes=5, radius_range=(10.0, 20.0)),
    # catastrophic
    _catastrophic("invert", invert, 1.0),
    _catastrophic("empty", empty, 0.5),
    _catastrophic("full", full, 0.5),
    _catastrophic("random_50", random_mask, 0.3, density=0.5),
)
"""The published corruption registry (see the module docstring): entry name -> :class:`RegistryEntry`."""

_LEGACY_PARAMS: dict[str, dict[str, Any]] = {
    "shift": {"relative_to": "foreground"},
    "rectangle_dropout": {"size_range": (0.2, 0.5), "relative_to": "foreground"},
    "elastic": {"noise": "uniform"},
    "affine": {
        "max_rotation": 10.0,
        "scale_range": (0.9, 1.1),
        "max_shear": 0.1,
        "max_shift_fraction": 0.05,
        "isotropic": False,
        "relative_to": "foreground",
    },
}
_LEGACY_SINGLE = (
    "erode", "dilate", "opening", "closing", "ellipse_fit", "polygon_approx", "convex_hull", "bounding_box",
    "jagged_boundary", "smooth", "elastic", "grid_distortion", "add_holes", "add_islands", "keep_largest_component",
    "drop_component", "rectangle_dropout", "shift", "scale", "rotate", "affine",
)  # fmt: skip

OPS: dict[str, Callable[..., np.ndarray]] = {
    "erode": erode,
    "dilate": dilate,
    "opening": opening,
    "closing": closing,
    "ellipse_fit": ellipse_fit,
    "polygon_approx": polygon_approx,
    "convex_hull": convex_hull,
    "bounding_box": bounding_box,
    "jagged_boundary": jagged_boundary,
    "smooth": smooth,
    "elastic": elastic,
    "grid_distortion": grid_distortion,
    "add_holes": add_holes,
    "add_islands": add_islands,
    "holes_and_islands": holes_and_islands,
    "keep_largest_component": keep_largest_component,
    "drop_component": drop_component,
    "rectangle_dropout": rectangle_dropout,
    "shift": shift,
    "scale": scale,
    "rotate": rotate,
    "affine": affine,
    "gaussian_blob": gaussian_blob,
    "circular_blob": circular_blob,
    "blob": blob,
}
"""Every op function of the single and blob categories, by function name (their parameters drawn from their own
defaults; everything except :func:`swap` and the catastrophic ops)."""

LEGACY_REGISTRY: dict[str, RegistryEntry] = _registry(
    *(_single(name, OPS[name], 1.0, **_LEGACY_PARAMS.get(name, {})) for name in _LEGACY_SINGLE),
    RegistryEntry("blob", blob, {}, 1.0, "blob"),
    _heavy("erode_heavy", erode, 1.0, kernel_size=11),
    _heavy("dilate_heavy", dilate, 1.0, kernel_size=11),
    _heavy("grid_distortion_heavy", grid_distortion, 1.0, distort_limit=0.6),
    _heavy("shift_heavy", shift, 1.0, max_fraction=0.4, relative_to="foreground"),
    _heavy("scale_heavy", scale, 1.0, ranges=HEAVY_SCALE_RANGES),
    _heavy("add_holes_heavy", add_holes, 1.0, n_holes=5, radius_range=(10.0, 20.0)),
    _catastrophic("empty", empty, 1.0),
    _catastrophic("full", full, 1.0),
    _catastrophic("invert", invert, 1.0),
    _catastrophic("random_noise", random_noise, 1.0),
)
"""The catalogue before the published one (see the module docstring), for comparisons."""

REGISTRIES: dict[str, dict[str, RegistryEntry]] = {"published": REGISTRY, "legacy": LEGACY_REGISTRY}
"""The named registries :func:`get_registry` resolves."""

HEAVY_OPS: dict[str, RegistryEntry] = {name: e for name, e in REGISTRY.items() if e.category == "heavy"}
"""The published heavy entries, by name (callables with the op signature)."""

CATASTROPHIC_OPS: dict[str, Callable[..., np.ndarray]] = {
    name: e for name, e in REGISTRY.items() if e.category == "catastrophic"
}
"""The published catastrophic entries, by name (callables with the op signature)."""

CATASTROPHIC_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "empty": empty,
    "full": full,
    "invert": invert,
    "random_mask": random_mask,
    "random_noise": random_noise,
}
"""Every catastrophic op function, by function name."""


def get_registry(registry: RegistryArg = "published") -> dict[str, RegistryEntry]:
    """
    A registry by name (``"published"``: :data:`REGISTRY`, ``"legacy"``: :data:`LEGACY_REGISTRY`), or a mapping of
    entries validated.

    Args:
        registry: a name of :data:`REGISTRIES` or a mapping name -> :class:`RegistryEntry`.

    Returns:
        the registry, a dict name -> entry.

    Raises:
        ValueError: an unknown name, or a mapping whose values are not :class:`RegistryEntry` or whose keys are not
            their names.
    """
    if isinstance(registry, str):
        if registry not in REGISTRIES:
            raise ValueError(f"unknown corruption registry {registry!r}; known: {sorted(REGISTRIES)}.")
        return REGISTRIES[registry]
    table = dict(registry)
    for key, entry in table.items():
        if not isinstance(entry, RegistryEntry):
            raise ValueError(f"registry value for {key!r} is a {type(entry).__name__}, not a RegistryEntry.")
        if entry.name != key:
            raise ValueError(f"registry key {key!r} differs from its entry's name {entry.name!r}.")
    return table


def registry_entries(registry: RegistryArg, category: str) -> list[RegistryEntry]:
    """
    The entries a sampler category draws from, in registry order: ``"single"``, ``"heavy"``, ``"catastrophic"`` (the
    entries of that category), ``"blob"`` (the entries marked ``blob``) or ``"chain"`` (the single entries not marked
    ``blob``).

    Args:
        registry: a registry name or mapping (see :func:`get_registry`).
        category: one of ``"single"``, ``"heavy"``, ``"catastrophic"``, ``"blob"``, ``"chain"``.

    Returns:
        the list of entries.

    Raises:
        ValueError: an unknown category, or as :func:`get_registry`.
    """
    table = get_registry(registry)
    if category == "blob":
        return [e for e in table.values() if e.blob]
    if category == "chain":
        return [e for e in table.values() if e.category == "single" and not e.blob]
    if category not in ("single", "heavy", "catastrophic"):
        raise ValueError(f"unknown sampler category {category!r}.")
    return [e for e in table.values() if e.category == category]
