# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""PNG overlays of a segmentation on its image, for reports and the demo."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = ["save_overlay_png", "most_foreground_slice", "legend_names"]

# background transparent, then RV / MYO / LV (or any further class) in distinct colours
_COLOURS = np.array([[0, 0, 0], [230, 60, 60], [60, 200, 60], [60, 120, 240], [240, 200, 40], [200, 60, 220]]) / 255.0


def most_foreground_slice(label: np.ndarray, axis: int) -> int:
    """Index along ``axis`` of the slice with the most non-zero voxels of ``label`` (the middle one if none)."""
    other = tuple(a for a in range(label.ndim) if a != axis)
    counts = (label > 0).sum(axis=other)
    return int(np.argmax(counts)) if counts.max() > 0 else label.shape[axis] // 2


def legend_names(pred: np.ndarray, label: np.ndarray | None = None,
                 class_names: Sequence[str] | None = None) -> list[str]:
    """The legend of an overlay, one name per foreground class 1..C: ``class_names`` and, for classes beyond them
    that appear in ``pred`` or ``label``, "class <c>"."""
    given = list(class_names or ())
    n_classes = max(int(np.max(pred)), int(np.max(label)) if label is not None else 0, len(given))
    return given[:n_classes] + [f"class {c}" for c in range(len(given) + 1, n_classes + 1)]


def save_overlay_png(
    path: str, image: np.ndarray, pred: np.ndarray, label: np.ndarray | None = None, title: str = "",
    class_names: Sequence[str] | None = None,
) -> str:
    """
    Save a 2D ``image`` with the class map ``pred`` (and the ground truth ``label`` when given, side by side) as a
    PNG at ``path``. Arrays are (H, W); classes > 0 are drawn in colour with transparency, and a legend names each
    colour: ``class_names`` (one per foreground class: class 1 first), else "class 1", "class 2", ...
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    panels = [("prediction", pred)] + ([("ground truth", label)] if label is not None else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4), squeeze=False)
    for ax, (name, seg) in zip(axes[0], panels):
        seg = np.asarray(seg).astype(int)
        rgba = np.zeros(seg.shape + (4,))
        rgba[..., :3] = _COLOURS[np.clip(seg, 0, len(_COLOURS) - 1)]
        rgba[..., 3] = np.where(seg > 0, 0.45, 0.0)
        ax.imshow(np.asarray(image, dtype=float), cmap="gray")
        ax.imshow(rgba)
        ax.set_title(f"{title} {name}".strip(), fontsize=9)
        ax.axis("off")
    names = legend_names(pred, label, class_names)
    handles = [Patch(color=_COLOURS[min(c, len(_COLOURS) - 1)], alpha=0.6, label=name)
               for c, name in enumerate(names, start=1)]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if handles else 0, 1, 1))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
