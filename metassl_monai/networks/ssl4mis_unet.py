# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
SSL4MIS's plain 2D U-Net (``code/networks/unet.py``, class ``UNet``): the network behind every published ACDC row the
papers compare with, including the supervised floor (0.79 with 7 labeled patients).

Unlike MONAI's ``UNet`` (residual units, first convolution strided: at 128² its finest features are 64²), its first
level works at full resolution; unlike MONAI's ``BasicUNet`` (one dropout rate), its encoder's dropout grows with depth
(0.05, 0.1, 0.2, 0.3, 0.5) and its decoder has none.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from metassl_monai.networks.ssl4mis_blocks import Decoder, Encoder, check_dropout

__all__ = ["SSL4MISUNet"]


class SSL4MISUNet(nn.Module):
    """
    A U-Net as SSL4MIS builds it: ConvBlocks (3x3 conv-norm-LeakyReLU, dropout, 3x3 conv-norm-LeakyReLU),
    max-pooling down, transposed-convolution up, concatenated skips, a 3x3 output convolution.

    ``forward(x)``: ``x`` (B, in_channels, *spatial) → logits (B, out_channels, *spatial).

    Args:
        spatial_dims: 2 (SSL4MIS) or 3 (ours).
        in_channels: input channels.
        out_channels: classes.
        features: channels of the encoder levels (SSL4MIS: 16, 32, 64, 128, 256).
        encoder_dropout: dropout of each encoder level, shallowest first (SSL4MIS: 0.05, 0.1, 0.2, 0.3, 0.5).
        decoder_dropout: dropout of each up-block, deepest first (SSL4MIS: none).
        act: activation (SSL4MIS: LeakyReLU, slope 0.01).
        norm: normalisation (SSL4MIS: batch norm).

    Raises:
        ValueError: when ``encoder_dropout`` has not one value per level, or ``decoder_dropout`` not one per up-block.

    Spatial sizes must be divisible by ``2 ** (len(features) - 1)`` (16 by default).
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        features: Sequence[int] = (16, 32, 64, 128, 256),
        encoder_dropout: Sequence[float] | None = (0.05, 0.1, 0.2, 0.3, 0.5),
        decoder_dropout: Sequence[float] | None = None,
        act: str | tuple = ("leakyrelu", {"negative_slope": 0.01}),
        norm: str | tuple = "batch",
    ) -> None:
        super().__init__()
        features = list(features)
        encoder_dropout, decoder_dropout = check_dropout(features, encoder_dropout, decoder_dropout)
        self.encoder = Encoder(spatial_dims, in_channels, features, encoder_dropout, act, norm)
        self.decoder = Decoder(spatial_dims, features, out_channels, decoder_dropout, act, norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))
