# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :func:`metassl_monai.networks.init_weights`."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from metassl_monai.networks import init_weights


def make_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1, bias=False),
        nn.InstanceNorm2d(4, affine=True),
        nn.InstanceNorm2d(4, affine=False),
        nn.ConvTranspose2d(4, 3, 2, stride=2),
        nn.Conv3d(3, 2, 1),
        nn.Conv1d(2, 2, 1),
        nn.BatchNorm1d(2, affine=False),
        nn.Linear(5, 5),
    )
    with torch.no_grad():  # make every parameter clearly non-default
        for p in net.parameters():
            p.uniform_(0.5, 1.5)
    return net


CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)
NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.InstanceNorm2d)


@pytest.mark.parametrize("scheme", ["kaiming", "xavier"])
def test_init_weights_resets_convs_and_norms(scheme):
    net = make_net()
    before = copy.deepcopy(net)
    torch.manual_seed(1)
    out = init_weights(net, scheme)
    assert out is net
    n_conv = n_norm = 0
    for m, m0 in zip(net.modules(), before.modules()):
        if isinstance(m, CONV):
            n_conv += 1
            assert not torch.allclose(m.weight, m0.weight)
            assert m.weight.min() < 0 < m.weight.max()  # zero-mean normal, unlike the uniform(0.5, 1.5) start
            if m.bias is not None:
                assert torch.equal(m.bias, torch.zeros_like(m.bias))
        elif isinstance(m, NORM) and m.affine:
            n_norm += 1
            assert torch.equal(m.weight, torch.ones_like(m.weight))
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
        elif isinstance(m, nn.Linear):  # not a convolution: untouched
            torch.testing.assert_close(m.weight, m0.weight, rtol=0, atol=0)
            torch.testing.assert_close(m.bias, m0.bias, rtol=0, atol=0)
    assert n_conv == 5 and n_norm == 2
    # buffers (running stats) untouched and parameters still parameters of the same module
    torch.testing.assert_close(net[1].running_mean, before[1].running_mean, rtol=0, atol=0)
    assert net[3].bias is None


@pytest.mark.parametrize("scheme", ["he", "Kaiming", "", "normal"])
def test_init_weights_bad_scheme(scheme):
    net = make_net()
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(ValueError, match="kaiming"):
        init_weights(net, scheme)
    for k, v in net.state_dict().items():  # nothing was modified before the error
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_init_weights_default_is_kaiming():
    a, b = nn.Conv2d(16, 64, 3), nn.Conv2d(16, 64, 3)
    torch.manual_seed(5)
    init_weights(a)
    torch.manual_seed(5)
    init_weights(b, "kaiming")
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


@pytest.mark.parametrize(
    "layer, fan_in, fan_out",
    [
        (lambda: nn.Conv2d(16, 64, 3), 16 * 9, 64 * 9),
        (lambda: nn.Conv3d(8, 32, 3), 8 * 27, 32 * 27),
        (lambda: nn.Conv2d(64, 16, 3), 64 * 9, 16 * 9),
    ],
)
def test_kaiming_and_xavier_std(layer, fan_in, fan_out):
    """He normal: std = sqrt(2 / fan_in); Glorot normal: std = sqrt(2 / (fan_in + fan_out))."""
    expected = {"kaiming": math.sqrt(2.0 / fan_in), "xavier": math.sqrt(2.0 / (fan_in + fan_out))}
    stds = {}
    for scheme in ("kaiming", "xavier"):
        torch.manual_seed(0)
        conv = init_weights(layer(), scheme)
        w = conv.weight.detach()
        assert w.numel() >= 6000  # std estimate within ~1%
        stds[scheme] = w.std().item()
        assert stds[scheme] == pytest.approx(expected[scheme], rel=0.1)
        assert abs(w.mean().item()) < 0.1 * expected[scheme]
    # the expected direction: 2/fan_in > 2/(fan_in + fan_out), so He normal is always the wider one
    assert stds["kaiming"] > stds["xavier"]
    ratio = stds["kaiming"] / stds["xavier"]
    assert ratio == pytest.approx(math.sqrt((fan_in + fan_out) / fan_in), rel=0.1)


def test_schemes_make_two_copies_differ():
    """What the CPS bundle relies on: the same architecture initialised with the two schemes differs."""
    base = nn.Sequential(nn.Conv2d(1, 8, 3), nn.Conv2d(8, 2, 1))
    a = init_weights(copy.deepcopy(base), "kaiming")
    b = init_weights(copy.deepcopy(base), "xavier")
    for pa, pb in zip(a.parameters(), b.parameters()):
        if pa.dim() > 1:
            assert not torch.allclose(pa, pb)
