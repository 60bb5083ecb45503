# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Catastrophic corruptions: empty, full, inverted and random masks (published weights: invert 1, empty 0.5, full 0.5,
random 0.3; see :mod:`.registry`).

:func:`random_mask` replaces the whole mask by random pixels, as published; :func:`random_noise`, which redraws only
about half of the pixels and keeps the rest of the truth, is the op of the ``legacy`` registry.
"""

from __future__ import annotations

import numpy as np

from ._common import _check_mask, _num_classes, _pick_or_new_label


def empty(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """
    All background.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator (unused).

    Returns:
        an all-zero label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array.
    """
    _check_mask(mask)
    return np.zeros_like(mask)


def full(
    mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None, num_classes: int | None = None
) -> np.ndarray:
    """
    Everything one class: a present foreground class, or a random class in ``1..num_classes-1`` if there is none.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        label: the class; ``None`` draws one as above.
        num_classes: number of classes including background; ``None`` infers ``max(mask) + 1`` (at least 2).

    Returns:
        a constant label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``num_classes < 2``.
    """
    _check_mask(mask)
    return np.full_like(mask, _pick_or_new_label(mask, rng, label, num_classes))


def invert(
    mask: np.ndarray, rng: np.random.Generator, *, label: int | None = None, num_classes: int | None = None
) -> np.ndarray:
    """
    Binary inversion of one class's mask: its pixels become background and all the others (background and, following
    the write-back convention, the other classes too) become the class. With no foreground a random class in
    ``1..num_classes-1`` fills the whole map.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        label: the class; ``None`` draws a present foreground class.
        num_classes: number of classes including background; ``None`` infers ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map (values 0 and the class only).

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``label < 1`` or ``num_classes < 2``.
    """
    _check_mask(mask)
    label = _pick_or_new_label(mask, rng, label, num_classes)
    return np.where(mask == label, 0, label).astype(mask.dtype)


def random_mask(
    mask: np.ndarray, rng: np.random.Generator, *, density: float = 0.5, num_classes: int | None = None
) -> np.ndarray:
    """
    Replace the whole mask by random pixels (the published ``random_50``): each pixel is foreground with probability
    ``density``, independently of the mask, its class drawn uniformly in ``1..num_classes-1``. For a binary mask this
    is the published Bernoulli(``density``) mask; with ``C`` classes each foreground class covers about
    ``density / (C - 1)`` of the image, so its Dice with the truth is that of chance.

    Args:
        mask: spatial integer label map (2D or 3D), giving the shape and dtype.
        rng: random generator.
        density: probability of a pixel being foreground.
        num_classes: number of classes including background; ``None`` infers ``max(mask) + 1`` (at least 2).

    Returns:
        a random label map (nothing of ``mask`` is kept).

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``num_classes < 2`` or ``density`` not in [0, 1].
    """
    _check_mask(mask)
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}.")
    num_classes = _num_classes(mask, num_classes)
    foreground = rng.random(mask.shape) < density
    classes = rng.integers(1, num_classes, size=mask.shape) if num_classes > 2 else 1
    return np.where(foreground, classes, 0).astype(mask.dtype)


def random_noise(
    mask: np.ndarray, rng: np.random.Generator, *, prob: float = 0.5, num_classes: int | None = None
) -> np.ndarray:
    """
    Replace every pixel, with probability ``prob``, by a uniformly random label in ``0..num_classes-1`` (so about
    ``prob * (1 - 1/num_classes)`` of the pixels change and the rest of the mask is kept). This was the "random"
    catastrophic op before the published catalogue, which replaces the whole mask (:func:`random_mask`); it is kept
    for the ``legacy`` registry.

    Args:
        mask: spatial integer label map (2D or 3D).
        rng: random generator.
        prob: replacement probability per pixel.
        num_classes: number of classes including background; ``None`` infers ``max(mask) + 1`` (at least 2).

    Returns:
        the corrupted label map.

    Raises:
        ValueError: ``mask`` is not a 2D/3D integer array, or ``num_classes < 2`` or ``prob`` not in [0, 1].
    """
    _check_mask(mask)
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}.")
    num_classes = _num_classes(mask, num_classes)
    replace = rng.random(mask.shape) < prob
    values = rng.integers(0, num_classes, size=mask.shape)
    return np.where(replace, values, mask).astype(mask.dtype)
