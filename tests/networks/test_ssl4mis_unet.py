# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""SSL4MISUNet: SSL4MIS's plain U-Net (encoder dropout 0.05..0.5 by depth, no decoder dropout, full-resolution level)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metassl_monai.networks import SSL4MISUNet, TwoDecoderUNet


def dropout_ps(module: nn.Module) -> list[float]:
    return [m.p for m in module.modules() if isinstance(m, nn.modules.dropout._DropoutNd)]


def conv_block_params(c_in: int, c_out: int) -> int:
    """Two 3x3 convolutions with bias, each followed by a batch norm (weight + bias)."""
    return (9 * c_in * c_out + c_out) + 2 * c_out + (9 * c_out * c_out + c_out) + 2 * c_out


def expected_params(features=(16, 32, 64, 128, 256), in_channels=1, out_channels=4) -> int:
    encoder = sum(conv_block_params(a, b) for a, b in zip((in_channels, *features[:-1]), features))
    deep = features[::-1]
    decoder = sum(4 * a * b + b + conv_block_params(2 * b, b) for a, b in zip(deep[:-1], deep[1:]))  # 2x2 deconv
    return encoder + decoder + 9 * features[0] * out_channels + out_channels  # 3x3 output convolution


@pytest.mark.parametrize("spatial_dims, shape", [(2, (2, 1, 32, 48)), (3, (1, 1, 16, 32, 16))])
@pytest.mark.parametrize("out_channels", [2, 4])
def test_shapes(spatial_dims, shape, out_channels):
    net = SSL4MISUNet(spatial_dims, 1, out_channels).eval()
    assert net(torch.rand(shape)).shape == (shape[0], out_channels, *shape[2:])


@pytest.mark.parametrize("features, out_channels", [((16, 32, 64, 128, 256), 4), ((8, 16, 32), 2)])
def test_parameter_count_is_ssl4mis_layout(features, out_channels):
    net = SSL4MISUNet(2, 1, out_channels, features=features, encoder_dropout=[0.1] * len(features))
    assert sum(p.numel() for p in net.parameters()) == expected_params(features, 1, out_channels)
    if features[0] == 16:
        assert sum(p.numel() for p in net.parameters()) == 1_944_324


def test_dropout_ladder_and_full_resolution_first_level():
    net = SSL4MISUNet(2, 1, 4)
    assert dropout_ps(net.encoder) == [0.05, 0.1, 0.2, 0.3, 0.5]  # shallowest level first
    assert dropout_ps(net.decoder) == []
    first = net.encoder[0][0][0].conv
    assert first.stride == (1, 1) and first.kernel_size == (3, 3)  # unlike MONAI's UNet, no strided first conv
    x = torch.rand(1, 1, 32, 32)
    assert net.encoder(x)[0].shape[-2:] == (32, 32)


def test_same_blocks_as_the_two_decoder_network():
    """One set of blocks: an SSL4MISUNet's encoder and decoder load into TwoDecoderUNet's encoder and decoder 1."""
    torch.manual_seed(0)
    single = SSL4MISUNet(2, 1, 3, encoder_dropout=None).eval()
    double = TwoDecoderUNet(2, 1, 3, decoder_dropout=(0.0,) * 4).eval()
    double.encoder.load_state_dict(single.encoder.state_dict())
    double.decoder_1.load_state_dict(single.decoder.state_dict())
    x = torch.rand(2, 1, 16, 16)
    torch.testing.assert_close(double(x), single(x))


@pytest.mark.parametrize("spatial_dims, shape", [(2, (1, 1, 32, 32)), (3, (1, 1, 16, 16, 16))])
def test_torchscript_export_gives_the_same_output(spatial_dims, shape):
    torch.manual_seed(0)
    net = SSL4MISUNet(spatial_dims, 1, 3).eval()
    x = torch.rand(shape)
    torch.testing.assert_close(torch.jit.script(net)(x), net(x))


@pytest.mark.parametrize("kwargs, match", [({"encoder_dropout": (0.1, 0.2)}, "encoder_dropout needs 5"),
                                           ({"decoder_dropout": (0.1,)}, "decoder_dropout needs 4")])
def test_bad_dropout_lengths(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SSL4MISUNet(2, 1, 2, **kwargs)
