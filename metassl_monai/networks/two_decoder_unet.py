# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The network of MetaSSL's CCT framework: one U-Net encoder, two independently initialised decoders.

As the MetaSSL code builds it (``code/networks_CCT/unet.py``, ``code/train_MetaSSL_CCT_2D.py``): the SSL4MIS encoder
(16-32-64-128-256 channels) **without dropout**, and two identical decoders whose up-blocks drop out 0.4, 0.3, 0.2,
0.1 from the deepest to the shallowest, each ending in a 3x3 output convolution. Written with MONAI's blocks
(:mod:`metassl_monai.networks.ssl4mis_blocks`); 2D as in the paper, 3D by ``spatial_dims=3`` (ours: the paper has no 3D CCT).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from metassl_monai.networks.ssl4mis_blocks import Decoder, Encoder, check_dropout

__all__ = ["TwoDecoderUNet"]


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
        encoder_dropout, decoder_dropout = check_dropout(features, encoder_dropout, decoder_dropout)
        self.encoder = Encoder(spatial_dims, in_channels, features, encoder_dropout, act, norm)
        self.decoder_1 = Decoder(spatial_dims, features, out_channels, decoder_dropout, act, norm)
        self.decoder_2 = Decoder(spatial_dims, features, out_channels, decoder_dropout, act, norm)

    def forward(self, x: torch.Tensor, all_heads: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        skips = self.encoder(x)
        if not all_heads:
            return self.decoder_1(skips)
        return self.decoder_1(skips), self.decoder_2(skips)
