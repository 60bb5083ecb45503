# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Individual mask-corruption operations of Quality-Guided SSL, one module per kind of corruption.

:mod:`.morphology` (erosion, dilation, opening, closing), :mod:`.shape` (ellipse, polygon, convex hull, bounding box),
:mod:`.boundary` (jagged boundary, smoothing), :mod:`.warps` (elastic, grid distortion), :mod:`.topology` (holes,
islands, components, rectangle dropout), :mod:`.geometric` (shift, scale, rotation, affine), :mod:`.blobs`,
:mod:`.catastrophic`, :mod:`.swap` and :mod:`.registry` (the tables the sampler draws from); the helpers are in
:mod:`._common`. Every name is re-exported here.

Every op has the signature ``op(mask, rng, *, <params>) -> np.ndarray``: ``mask`` is a spatial integer label map
(2D ``(H, W)`` or 3D ``(H, W, D)``, no channel dimension, values ``0..C-1`` with 0 the background) and ``rng`` a
:class:`numpy.random.Generator`, the only source of randomness (a fixed seed gives a fixed result). The result is a new
array of the same shape and dtype whose values are a subset of the input values plus, for the ops that create
foreground (``add_islands``, ``blob``, ``full``, ``invert``, ``random_noise``), classes in ``1..num_classes-1``; the
input is never modified.

Multi-class convention:

* *binary* ops (morphology, shape approximations, boundary perturbations, holes / islands, components, blob) act on
  one foreground class (``label``; ``None`` draws one of the foreground classes present): its binary mask is corrupted
  and written back — pixels removed from the class become background (0), pixels added to the class take the class
  value, overwriting whatever was there. With no foreground they return an unchanged copy (except ``add_islands`` and
  ``blob``, which then create foreground of a random class in ``1..num_classes-1``).
* *geometric* ops (``shift``, ``scale``, ``rotate``, ``affine``, ``elastic``, ``grid_distortion``) move the whole map
  with nearest-neighbour interpolation, or, with ``per_class=True``, only one class as above.

Structuring elements are discrete disks (2D) / balls (3D) ``{b : |b|^2 <= r^2}`` with ``r = kernel_size // 2``
voxels; erosion and dilation are computed exactly through Euclidean distance transforms of the region's bounding box
grown by the radius (equal to binary morphology with that element, at a cost independent of the radius). The image
border is not treated as background by erosion (a region touching the border is not eroded from it).

:data:`OPS` maps the names of the single ops to their functions, :data:`HEAVY_OPS` to callables with the heavy settings
and :data:`CATASTROPHIC_OPS` to the catastrophic ones; :func:`swap` (the mask of another image) is separate.
"""

from __future__ import annotations

from .blobs import blob
from .boundary import JAGGED_WIDTHS, SMOOTH_KERNEL_SIZES, jagged_boundary, smooth
from .catastrophic import (
    empty,
    full,
    invert,
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
from .registry import CATASTROPHIC_OPS, HEAVY_OPS, OPS
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
    keep_largest_component,
    rectangle_dropout,
)
from .warps import ELASTIC_SETTINGS, GRID_DISTORT_LIMITS, elastic, grid_distortion

__all__ = [
    "erode",
    "dilate",
    "opening",
    "closing",
    "ellipse_fit",
    "polygon_approx",
    "convex_hull",
    "bounding_box",
    "jagged_boundary",
    "smooth",
    "elastic",
    "grid_distortion",
    "add_holes",
    "add_islands",
    "keep_largest_component",
    "drop_component",
    "rectangle_dropout",
    "shift",
    "scale",
    "rotate",
    "affine",
    "blob",
    "empty",
    "full",
    "invert",
    "random_noise",
    "swap",
    "OPS",
    "HEAVY_OPS",
    "CATASTROPHIC_OPS",
    # the parameter choices of the ops' random defaults
    "MORPH_KERNEL_SIZES",
    "SMOOTH_KERNEL_SIZES",
    "JAGGED_WIDTHS",
    "POLYGON_VERTICES",
    "ELASTIC_SETTINGS",
    "GRID_DISTORT_LIMITS",
    "HOLE_RADIUS_RANGES",
    "SHIFT_FRACTIONS",
    "SCALE_RANGES",
    "HEAVY_SCALE_RANGES",
    "ROTATION_LIMITS",
]
