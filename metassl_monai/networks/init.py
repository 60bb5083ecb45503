# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Weight initialisation, used to make the two CPS networks differ as in the reference code."""

from __future__ import annotations

from torch import nn

__all__ = ["init_weights"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_NORM = (
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d,
    nn.GroupNorm, nn.LayerNorm,
)


def init_weights(network: nn.Module, scheme: str = "kaiming") -> nn.Module:
    """
    Re-initialise every convolution of ``network`` in place with ``"kaiming"`` (He normal) or ``"xavier"``
    (Glorot normal) weights and zero biases; affine norm layers get weight 1 and bias 0. Returns ``network``.
    """
    if scheme not in ("kaiming", "xavier"):
        raise ValueError(f"scheme must be 'kaiming' or 'xavier', got {scheme!r}.")
    for m in network.modules():
        if isinstance(m, _CONV):
            if scheme == "kaiming":
                nn.init.kaiming_normal_(m.weight)
            else:
                nn.init.xavier_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, _NORM) and getattr(m, "weight", None) is not None:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return network
