# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""TwoDecoderUNet: MetaSSL's CCT network (one encoder without dropout, two decoders with 0.4/0.3/0.2/0.1)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metassl_monai.networks import TwoDecoderUNet


def dropout_ps(module: nn.Module) -> list[float]:
    return [m.p for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


@pytest.mark.parametrize("spatial_dims, shape", [(2, (2, 1, 32, 48)), (3, (1, 1, 16, 32, 16))])
@pytest.mark.parametrize("out_channels", [2, 4])
def test_shapes_and_heads(spatial_dims, shape, out_channels):
    torch.manual_seed(0)
    net = TwoDecoderUNet(spatial_dims, 1, out_channels).eval()
    x = torch.rand(shape)
    one = net(x)
    a, b = net(x, all_heads=True)
    assert one.shape == a.shape == b.shape == (shape[0], out_channels, *shape[2:])
    torch.testing.assert_close(one, a)  # forward(x) is decoder 1 (what is validated and exported)
    assert not torch.allclose(a, b)  # independently initialised decoders


def test_dropout_layout_is_the_metassl_ccts():
    net = TwoDecoderUNet(2, 1, 4)
    assert dropout_ps(net.encoder) == []  # the encoder has no dropout at all
    for decoder in (net.decoder_1, net.decoder_2):
        assert dropout_ps(decoder) == [0.4, 0.3, 0.2, 0.1]  # deepest up-block first
    assert [block["conv"][0].conv.out_channels for block in net.decoder_1.ups] == [128, 64, 32, 16]
    assert net.decoder_1.out.conv.kernel_size == (3, 3)


def test_decoders_are_independent_parameters():
    net = TwoDecoderUNet(2, 1, 3)
    p1 = {id(p) for p in net.decoder_1.parameters()}
    p2 = {id(p) for p in net.decoder_2.parameters()}
    assert not p1 & p2
    w1, w2 = net.decoder_1.out.conv.weight, net.decoder_2.out.conv.weight
    assert w1.shape == w2.shape and not torch.equal(w1, w2)


def test_one_encoder_pass_for_both_heads():
    net = TwoDecoderUNet(2, 1, 2)
    calls = []
    net.encoder[0].register_forward_hook(lambda *_: calls.append(1))
    net(torch.rand(2, 1, 16, 16), all_heads=True)
    assert calls == [1]


@pytest.mark.parametrize("kwargs, match", [({"decoder_dropout": (0.4, 0.3)}, "decoder_dropout needs 4"),
                                           ({"encoder_dropout": (0.0,)}, "encoder_dropout needs 5")])
def test_bad_dropout_lengths(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TwoDecoderUNet(2, 1, 2, **kwargs)
