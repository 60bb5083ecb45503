# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""The two region-weight forms of the MetaSSL reference code, returned in the order (UC, US, DC, DS)."""

from __future__ import annotations

import math

__all__ = ["ratio_weights", "exp_weights"]


def ratio_weights(w: float = 50.0, r: float = 1.25, gamma: float = 5.0) -> tuple[float, float, float, float]:
    """
    Ratio form, used by the paper's Mean-Teacher code (2D and 3D)::

        UC = W,  US = W / r,  DS = W / (r² γ),  DC = W / (r³ γ³)

    Defaults (W=50, r=1.25, γ=5) give the unlabeled weights UC 50, US 40, DC 0.2048, DS 6.4 — note that this form
    ranks DS above DC, unlike the paper's text. The labeled-image weights of that code are this form with γ=1 and
    r=1.4 (2D) or 1.5 (3D): ``ratio_weights(50, 1.4, 1)``.

    Returns:
        ``(UC, US, DC, DS)``.
    """
    if w < 0 or r <= 0 or gamma <= 0:
        raise ValueError(f"need w >= 0, r > 0, gamma > 0; got w={w}, r={r}, gamma={gamma}.")
    return (float(w), w / r, w / (r**3 * gamma**3), w / (r**2 * gamma))


def exp_weights(w: float = 50.0, r: float = 0.6, gamma: float = 3.0) -> tuple[float, float, float, float]:
    """
    Exponential form, used by the paper's CPS 2D code: ``W · exp(−(k·r)^γ)`` for k = 0, 1, 2, 3 in the order
    UC, US, DC, DS (so UC > US > DC > DS, as the paper's text says).

    Defaults (W=50, r=0.6, γ=3) give UC 50, US 40.3, DC 8.88, DS 0.147; that code's labeled-image weights are
    ``exp_weights(85, 0.3, 3)``.

    Returns:
        ``(UC, US, DC, DS)``.
    """
    if w < 0 or r < 0 or gamma <= 0:
        raise ValueError(f"need w >= 0, r >= 0, gamma > 0; got w={w}, r={r}, gamma={gamma}.")
    return tuple(float(w * math.exp(-((k * r) ** gamma))) for k in range(4))  # type: ignore[return-value]
