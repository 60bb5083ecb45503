# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Non-rigid warps (:mod:`metassl_monai.quality.ops.warps`): elastic deformation and grid distortion.

The elastic displacement is the published one: Gaussian noise smoothed by a Gaussian of ``sigma`` and multiplied by
``alpha``. Smoothing white noise of unit variance with a normalised 2D Gaussian leaves, per component, the variance
``sum g^2 = 1 / (4 pi sigma^2)``; the length of the 2D displacement then has the Rayleigh mean
``sqrt(pi / 2) * alpha / (2 sqrt(pi) sigma) = alpha / (2 sqrt(2) sigma)``: 2.652 voxels for alpha 30 / sigma 4 and
4.243 for alpha 60 / sigma 5. The catalogue before the published one drew the noise uniformly in [-1, 1] (standard
deviation 1 / sqrt(3)): 0.577 times these. The statistics are measured away from the image border (4 sigma), where
the reflected noise adds variance.
"""

from __future__ import annotations

import numpy as np
import pytest
from corruption_masks import dice, disk, rng, two_class_2d

from metassl_monai.quality import ops as O
from metassl_monai.quality.ops import OPS, REGISTRY

# alpha, sigma, mean displacement length alpha / (2 sqrt(2) sigma), per-axis standard deviation alpha / (2 sqrt(pi) sigma)
ELASTIC_EXPECTED = [(30.0, 4.0, 2.6517, 2.1157), (60.0, 5.0, 4.2426, 3.3851)]


@pytest.mark.parametrize("alpha,sigma,mean_length,axis_std", ELASTIC_EXPECTED)
def test_elastic_mean_displacement_is_the_published_one_2d(alpha, sigma, mean_length, axis_std):
    fields = [O.elastic_displacement((256, 256), rng(seed), alpha=alpha, sigma=sigma) for seed in range(8)]
    field = np.stack(fields)[..., 16:-16, 16:-16]  # (8, 2, 224, 224)
    length = np.sqrt((field**2).sum(axis=1))
    assert length.mean() == pytest.approx(mean_length, rel=0.04)
    assert field.std() == pytest.approx(axis_std, rel=0.04)
    assert abs(field.mean()) < 0.05 * axis_std  # no drift


@pytest.mark.parametrize("alpha,sigma,mean_length,axis_std", ELASTIC_EXPECTED)
def test_legacy_uniform_noise_displaces_0_58_times_as_much(alpha, sigma, mean_length, axis_std):
    fields = [O.elastic_displacement((256, 256), rng(seed), alpha=alpha, sigma=sigma, noise="uniform")
              for seed in range(8)]
    assert np.stack(fields)[..., 16:-16, 16:-16].std() == pytest.approx(axis_std / np.sqrt(3.0), rel=0.04)


def test_elastic_3d_displaces_as_much_as_2d():
    field = O.elastic_displacement((96, 96, 96), rng(0), alpha=30.0, sigma=4.0)
    assert field.shape == (3, 96, 96, 96)
    assert field[:, 16:-16, 16:-16, 16:-16].std() == pytest.approx(2.1157, rel=0.06)


@pytest.mark.parametrize("alpha,sigma,mean_length,axis_std", ELASTIC_EXPECTED)
def test_elastic_op_moves_pixels_by_the_field(alpha, sigma, mean_length, axis_std):
    """Warp a map whose labels are the pixel indices: the output says where every pixel came from. The nearest
    neighbour rounds the displacement (variance + 1/12 per axis), so the rms length is sqrt(2 s^2 + 1/6)."""
    n, margin = 160, 30
    index = np.arange(n * n, dtype=np.int64).reshape(n, n)
    lengths = []
    for seed in range(6):
        out = O.elastic(index, rng(seed), alpha=alpha, sigma=sigma)
        rows, cols = np.divmod(out, n)
        grid_rows, grid_cols = np.indices((n, n))
        inner = (slice(margin, n - margin),) * 2
        lengths.append(np.hypot(rows - grid_rows, cols - grid_cols)[inner])
    rms = np.sqrt(np.mean(np.square(lengths)))
    assert rms == pytest.approx(np.sqrt(2 * axis_std**2 + 1 / 6), rel=0.06)


def test_registry_elastic_entries_are_the_published_settings():
    assert dict(REGISTRY["elastic_light"].params) == {"alpha": 30.0, "sigma": 4.0}
    assert dict(REGISTRY["elastic_heavy"].params) == {"alpha": 60.0, "sigma": 5.0}
    assert dict(REGISTRY["grid_light"].params) == {"num_cells": 5, "distort_limit": 0.2}
    assert dict(REGISTRY["grid_heavy"].params) == {"num_cells": 8, "distort_limit": 0.4}
    assert dict(REGISTRY["grid_very_heavy"].params) == {"num_cells": 12, "distort_limit": 0.6}


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", ["elastic", "grid_distortion"])
def test_deformations_are_moderate(name, ndim):
    shape = (48, 48) if ndim == 2 else (32, 32, 24)
    mask = disk(shape, [n // 2 for n in shape], 8).astype(np.int64)
    for seed in range(3):
        out = OPS[name](mask, rng(seed))
        assert not np.array_equal(out, mask)
        assert 0.4 < dice(out == 1, mask == 1) < 1.0


def test_zero_deformations_are_the_identity():
    mask = two_class_2d()
    np.testing.assert_array_equal(O.grid_distortion(mask, rng(), distort_limit=0.0), mask)
    np.testing.assert_array_equal(O.elastic(mask, rng(), alpha=0.0, sigma=4.0), mask)
    identity = dict(max_rotation=0.0, scale_range=(1.0, 1.0), max_shear=0.0, max_shift_fraction=0.0)
    np.testing.assert_array_equal(O.affine(mask, rng(), **identity), mask)
    np.testing.assert_array_equal(O.affine(mask, rng(), relative_to="foreground", **identity), mask)
