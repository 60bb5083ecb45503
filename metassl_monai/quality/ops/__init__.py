# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Individual mask-corruption operations of Quality-Guided SSL, laid out by the categories of the published catalogue,
and the registries the corruption sampler draws from.

:mod:`.morphology` (erosion, dilation, opening, closing), :mod:`.shape` (ellipse, polygon, convex hull, bounding box),
:mod:`.boundary` (jagged boundary, smoothing), :mod:`.warps` (elastic deformation, grid distortion), :mod:`.topology`
(holes, islands, components, rectangle dropout), :mod:`.geometric` (shift, scale, rotation, affine), :mod:`.blobs`
(Gaussian and circular blobs), :mod:`.catastrophic` (empty, full, invert, random), :mod:`.swap` (the mask of another
image) and :mod:`.registry` (:data:`REGISTRY`, the published catalogue of 51 weighted, parameterised entries, and
:data:`LEGACY_REGISTRY`, the catalogue before it); the helpers are in :mod:`._common`. Every name is re-exported
here.

Every op has the signature ``op(mask, rng, *, <params>) -> np.ndarray``: ``mask`` is a spatial integer label map
(2D ``(H, W)`` or 3D ``(H, W, D)``, no channel dimension, values ``0..C-1`` with 0 the background) and ``rng`` a
:class:`numpy.random.Generator`, the only source of randomness (a fixed seed gives a fixed result). The result is a new
array of the same shape and dtype whose values are a subset of the input values plus, for the ops that create
foreground (``add_islands``, ``holes_and_islands``, ``blob``, ``full``, ``invert``, ``random_mask``,
``random_noise``), classes in ``1..num_classes-1``; the input is never modified.

Multi-class convention (the published ops are binary and 2D):

* *binary* ops (morphology, shape approximations, boundary perturbations, holes / islands, components, rectangle
  dropout, blobs) act on one foreground class (``label``; ``None`` draws one of the foreground classes present): its
  binary mask is corrupted and written back — pixels removed from the class become background (0), pixels added to
  the class take the class value, overwriting whatever was there. With no foreground they return an unchanged copy
  (except ``add_islands``, ``holes_and_islands`` and ``blob``, which then create foreground of a random class in
  ``1..num_classes-1``).
* *geometric* ops (``shift``, ``scale``, ``rotate``, ``affine``, ``elastic``, ``grid_distortion``) move the whole map
  with nearest-neighbour interpolation, or, with ``per_class=True``, only one class as above.
* *catastrophic* ops replace the whole map: ``empty`` (background), ``full`` (one class), ``invert`` (one class's
  complement), ``random_mask`` (every pixel background with probability 0.5, else a uniformly drawn foreground class).

Sizes follow the published catalogue: shifts, the affine's translation and rectangle dropout are fractions of the
**image** size (``relative_to="foreground"`` gives the earlier fractions of the foreground's bounding box), and the
elastic displacement is Gaussian noise smoothed by ``sigma`` and scaled by ``alpha``. The remaining deliberate
differences from the published ops are listed in :mod:`.registry`.
"""

from __future__ import annotations

from ._common import RELATIVE_TO
from .blobs import blob, circular_blob, gaussian_blob
from .boundary import JAGGED_WIDTHS, SMOOTH_KERNEL_SIZES, jagged_boundary, smooth
from .catastrophic import (
    empty,
    full,
    invert,
    random_mask,
    random_noise,
)
from .geometric import (
    HEAVY_SCALE_RANGES,
    ROTATION_LIMITS,
    SCALE_RANGES,
    SHIFT_FRACTIONS,
    affine,
    rotate,
    scale,
    shift,
)
from .morphology import (
    MORPH_KERNEL_SIZES,
    closing,
    dilate,
    erode,
    opening,
)
from .registry import (
    BLOB_ENTRIES,
    CATASTROPHIC_FUNCTIONS,
    CATASTROPHIC_OPS,
    ENTRY_CATEGORIES,
    HEAVY_OPS,
    LEGACY_REGISTRY,
    OPS,
    REGISTRIES,
    REGISTRY,
    RegistryEntry,
    get_registry,
    registry_entries,
)
from .shape import (
    POLYGON_VERTICES,
    bounding_box,
    convex_hull,
    ellipse_fit,
    polygon_approx,
)
from .swap import swap
from .topology import (
    HOLE_RADIUS_RANGES,
    add_holes,
    add_islands,
    drop_component,
    holes_and_islands,
    keep_largest_component,
    rectangle_dropout,
)
from .warps import (
    ELASTIC_NOISE,
    ELASTIC_SETTINGS,
    GRID_DISTORT_LIMITS,
    elastic,
    elastic_displacement,
    grid_distortion,
)

__all__ = [
    # morphology
    "erode",
    "dilate",
    "opening",
    "closing",
    # shape
    "ellipse_fit",
    "polygon_approx",
    "convex_hull",
    "bounding_box",
    # boundary
    "jagged_boundary",
    "smooth",
    # warps
    "elastic",
    "elastic_displacement",
    "grid_distortion",
    # topology
    "add_holes",
    "add_islands",
    "holes_and_islands",
    "keep_largest_component",
    "drop_component",
    "rectangle_dropout",
    # geometric
    "shift",
    "scale",
    "rotate",
    "affine",
    # blobs
    "gaussian_blob",
    "circular_blob",
    "blob",
    # catastrophic
    "empty",
    "full",
    "invert",
    "random_mask",
    "random_noise",
    # swap
    "swap",
    # registry
    "RegistryEntry",
    "REGISTRY",
    "LEGACY_REGISTRY",
    "REGISTRIES",
    "ENTRY_CATEGORIES",
    "BLOB_ENTRIES",
    "get_registry",
    "registry_entries",
    "OPS",
    "HEAVY_OPS",
    "CATASTROPHIC_OPS",
    "CATASTROPHIC_FUNCTIONS",
    # the parameter choices of the ops' random defaults
    "MORPH_KERNEL_SIZES",
    "SMOOTH_KERNEL_SIZES",
    "JAGGED_WIDTHS",
    "POLYGON_VERTICES",
    "ELASTIC_SETTINGS",
    "ELASTIC_NOISE",
    "GRID_DISTORT_LIMITS",
    "HOLE_RADIUS_RANGES",
    "SHIFT_FRACTIONS",
    "SCALE_RANGES",
    "HEAVY_SCALE_RANGES",
    "ROTATION_LIMITS",
    "RELATIVE_TO",
]
