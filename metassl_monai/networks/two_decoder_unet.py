# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The network of MetaSSL's CCT framework: one U-Net encoder, two independently initialised decoders.

As the MetaSSL code builds it (``code/networks_CCT/unet.py``, ``code/train_MetaSSL_CCT_2D.py``): the SSL4MIS encoder
(16-32-64-128-256 channels) **without dropout**, and two identical decoders whose up-blocks drop out 0.4, 0.3, 0.2,
0.1 from the deepest to the shallowest, each ending in a 3x3 output convolution. Written with MONAI's blocks
(``Convolution``, ``UpSample``); 2D as in the paper, 3D by ``spatial_dims=3`` (ours: the paper has no 3D CCT).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution, UpSample
from torch import nn

__all__ = ["TwoDecoderUNet"]


class _ConvBlock(nn.Sequential):
    """SSL4MIS's ConvBlock: conv-norm-act, dropout, conv-norm-act (3x3 convolutions)."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, dropout: float, act, norm) -> None:
        super().__init__(
            Convolution(spatial_dims, in_channels, out_channels, act=act, norm=norm, dropout=dropout or None,
                        adn_ordering="NAD", padding=1),
            Convolution(spatial_dims, out_channels, out_channels, act=act, norm=norm, adn_ordering="NA", padding=1),
        )


class _Decoder(nn.Module):
    """Up-blocks (transposed convolution, concatenation with the skip, ConvBlock) and a 3x3 output convolution."""

    def __init__(self, spatial_dims: int, features: Sequence[int], out_channels: int, dropout: Sequence[float],
                 act, norm) -> None:
        super().__init__()
        deep_to_shallow = list(features)[::-1]
        self.ups = nn.ModuleList(
            nn.ModuleDict({
                "up": UpSample(spatial_dims, c_in, c_skip, scale_factor=2, mode="deconv"),
                "conv": _ConvBlock(spatial_dims, 2 * c_skip, c_skip, p, act, norm),
            })
            for c_in, c_skip, p in zip(deep_to_shallow[:-1], deep_to_shallow[1:], dropout)
        )
        self.out = Convolution(spatial_dims, features[0], out_channels, kernel_size=3, padding=1, conv_only=True)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[-1]
        for block, skip in zip(self.ups, reversed(skips[:-1])):
            x = block["conv"](torch.cat([skip, block["up"](x)], dim=1))
        return self.out(x)


class TwoDecoderUNet(nn.Module):
    """
    A U-Net with one shared encoder and two decoders (MetaSSL's CCT network).

    ``forward(x)`` returns the first decoder's logits (B, out_channels, *spatial), what validation, inference and the
    exported model use (the MetaSSL code validates decoder 1); ``forward(x, all_heads=True)`` returns both decoders'
    logits as a tuple, from one pass of the encoder, for :class:`~metassl_monai.frameworks.CrossConsistencyTraining`.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
        out_channels: classes.
        features: channels of the five encoder levels (SSL4MIS: 16, 32, 64, 128, 256).
        decoder_dropout: dropout of each decoder's up-blocks, deepest first (MetaSSL's CCT: 0.4, 0.3, 0.2, 0.1).
        encoder_dropout: dropout of the encoder levels (MetaSSL's CCT: none).
        act: activation (SSL4MIS: LeakyReLU, slope 0.01).
        norm: normalisation (SSL4MIS: batch norm).

    Raises:
        ValueError: when ``decoder_dropout`` has not one value per up-block, or ``encoder_dropout`` not one per level.

    Spatial sizes must be divisible by ``2 ** (len(features) - 1)`` (16 by default).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        features: Sequence[int] = (16, 32, 64, 128, 256),
        decoder_dropout: Sequence[float] = (0.4, 0.3, 0.2, 0.1),
        encoder_dropout: Sequence[float] | None = None,
        act: str | tuple = ("leakyrelu", {"negative_slope": 0.01}),
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        features = list(features)
        encoder_dropout = [0.0] * len(features) if encoder_dropout is None else list(encoder_dropout)
        if len(decoder_dropout) != len(features) - 1:
            raise ValueError(f"decoder_dropout needs {len(features) - 1} values (one per up-block, deepest first), "
                             f"got {list(decoder_dropout)}.")
        if len(encoder_dropout) != len(features):
            raise ValueError(f"encoder_dropout needs {len(features)} values (one per level), got {encoder_dropout}.")
        pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        self.encoder = nn.ModuleList(
            nn.Sequential(*([] if i == 0 else [pool(2)]),
                          _ConvBlock(spatial_dims, in_channels if i == 0 else features[i - 1], c, p, act, norm))
            for i, (c, p) in enumerate(zip(features, encoder_dropout))
        )
        self.decoder_1 = _Decoder(spatial_dims, features, out_channels, decoder_dropout, act, norm)
        self.decoder_2 = _Decoder(spatial_dims, features, out_channels, decoder_dropout, act, norm)

    def forward(self, x: torch.Tensor, all_heads: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        skips = []
        for level in self.encoder:
            x = level(x)
            skips.append(x)
        if not all_heads:
            return self.decoder_1(skips)
        return self.decoder_1(skips), self.decoder_2(skips)
