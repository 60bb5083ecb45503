# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The building blocks of SSL4MIS's U-Net (``code/networks/unet.py``), written with MONAI's ``Convolution`` and
``UpSample``: shared by :class:`~metassl_monai.networks.SSL4MISUNet` and
:class:`~metassl_monai.networks.TwoDecoderUNet`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.blocks import Convolution, UpSample
from torch import nn

__all__ = ["ConvBlock", "Encoder", "Decoder", "check_dropout"]


class ConvBlock(nn.Sequential):
    """SSL4MIS's ConvBlock: conv-norm-act, dropout, conv-norm-act (3x3 convolutions)."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, dropout: float, act, norm) -> None:
        super().__init__(
            Convolution(spatial_dims, in_channels, out_channels, act=act, norm=norm, dropout=dropout or None,
                        adn_ordering="NAD", padding=1),
            Convolution(spatial_dims, out_channels, out_channels, act=act, norm=norm, adn_ordering="NA", padding=1),
        )


class Encoder(nn.ModuleList):
    """One ConvBlock per level, max-pooling by 2 before every level but the first; returns every level's output."""

    def __init__(self, spatial_dims: int, in_channels: int, features: Sequence[int], dropout: Sequence[float],
                 act, norm) -> None:
        pool = nn.MaxPool2d if spatial_dims == 2 else nn.MaxPool3d
        super().__init__(
            nn.Sequential(*([] if i == 0 else [pool(2)]),
                          ConvBlock(spatial_dims, in_channels if i == 0 else features[i - 1], c, p, act, norm))
            for i, (c, p) in enumerate(zip(features, dropout))
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for level in self:
            x = level(x)
            skips.append(x)
        return skips


class Decoder(nn.Module):
    """Up-blocks (transposed convolution, concatenation with the skip, ConvBlock) and a 3x3 output convolution."""

    def __init__(self, spatial_dims: int, features: Sequence[int], out_channels: int, dropout: Sequence[float],
                 act, norm) -> None:
        super().__init__()
        deep_to_shallow = list(features)[::-1]
        self.ups = nn.ModuleList(
            nn.ModuleDict({
                "up": UpSample(spatial_dims, c_in, c_skip, scale_factor=2, mode="deconv"),
                "conv": ConvBlock(spatial_dims, 2 * c_skip, c_skip, p, act, norm),
            })
            for c_in, c_skip, p in zip(deep_to_shallow[:-1], deep_to_shallow[1:], dropout)
        )
        self.out = Convolution(spatial_dims, features[0], out_channels, kernel_size=3, padding=1, conv_only=True)

    def forward(self, skips: list[torch.Tensor]) -> torch.Tensor:
        x = skips[-1]
        for i, block in enumerate(self.ups):  # indexed, not reversed(): TorchScript exports it
            x = block["conv"](torch.cat([skips[-2 - i], block["up"](x)], dim=1))
        return self.out(x)


def check_dropout(features: Sequence[int], encoder_dropout: Sequence[float] | None,
                  decoder_dropout: Sequence[float] | None) -> tuple[list[float], list[float]]:
    """The dropout lists (``None``: no dropout), checked: one value per level and one per up-block (deepest first).

    Raises:
        ValueError: naming the argument whose length is wrong.
    """
    encoder = [0.0] * len(features) if encoder_dropout is None else list(encoder_dropout)
    decoder = [0.0] * (len(features) - 1) if decoder_dropout is None else list(decoder_dropout)
    if len(decoder) != len(features) - 1:
        raise ValueError(f"decoder_dropout needs {len(features) - 1} values (one per up-block, deepest first), "
                         f"got {decoder}.")
    if len(encoder) != len(features):
        raise ValueError(f"encoder_dropout needs {len(features)} values (one per level), got {encoder}.")
    return encoder, decoder
