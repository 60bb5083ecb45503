# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Imperfect *real* segmentations for the quality predictor: outputs of early checkpoints of a supervised run."""

from __future__ import annotations

import copy
import glob
import os
import re
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn as nn
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, RandomizableTransform

from .predictor import read_state_dict

__all__ = ["RandSnapshotMaskd", "find_snapshots", "load_snapshot_networks"]


def find_snapshots(pattern: str | os.PathLike) -> list[str]:
    """
    Snapshot files matching the glob ``pattern`` (e.g. ``runs/snapshots/snapshot_model_epoch=*.pt``), sorted by the
    first number in the file name (the epoch / iteration), then by name.

    Raises:
        FileNotFoundError: nothing matches (the message gives the pattern and the workflow that writes them).
    """
    files = glob.glob(os.fspath(pattern))
    if not files:
        raise FileNotFoundError(
            f"no segmentation snapshot matches {pattern}; write them with the bundle's `run training_snapshots` "
            "workflow (configs/train_snapshots.json) or set the snapshot probability to 0."
        )

    def key(path: str):
        numbers = re.findall(r"\d+", os.path.basename(path))
        return (int(numbers[-1]) if numbers else -1, path)

    return sorted(files, key=key)


def load_snapshot_networks(network: nn.Module, paths: Sequence[str | os.PathLike]) -> list[nn.Module]:
    """
    One frozen, eval-mode copy of ``network`` per snapshot file (a plain ``state_dict`` or a checkpoint dict holding
    it under ``"model"``), on the CPU.

    Raises:
        FileNotFoundError / RuntimeError: a missing file, or weights that do not fit ``network`` (the file is named).
    """
    nets = []
    for path in paths:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"segmentation snapshot not found: {path}")
        state = read_state_dict(path)
        net = copy.deepcopy(network).cpu()
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise RuntimeError(f"the weights in {path} do not fit the segmentation network: {e}") from None
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        nets.append(net)
    return nets


class RandSnapshotMaskd(RandomizableTransform, MapTransform):
    """
    With probability ``prob``, replace ``data[output_key]`` (the mask the quality predictor will be trained on) by the
    argmax segmentation of ``data[image_key]`` by one randomly chosen snapshot network — an imperfect *real* output,
    of the kind the predictor will meet during semi-supervised training. ``data[ops_key]`` records
    ``"snapshot:<index>"``. Use it after the synthetic corruption and before the quality target is computed.

    When ``data[source_key]`` is ``"snapshot"`` the replacement always happens, when it is ``"synthetic"`` never
    (the predictor's evaluation uses this to report the two kinds of masks separately); otherwise ``prob`` decides.

    Args:
        keys: the image key(s) to segment (one key).
        networks: the snapshot networks (see :func:`load_snapshot_networks`), taking ``(1, *image.shape)``.
        output_key: where the mask goes (channel-first ``(1, *spatial)``, the dtype of an existing mask or int64).
        prob: probability of using a snapshot mask (paper: 0.05).
        ops_key: key of the record of what produced the mask.
        source_key: optional per-item switch (see above).
    """


    def __init__(
        self,
        keys: KeysCollection,
        networks: Sequence[nn.Module],
        output_key: str = "mask",
        prob: float = 0.05,
        ops_key: str = "corruption",
        source_key: str = "source",
    ) -> None:
        MapTransform.__init__(self, keys)
        RandomizableTransform.__init__(self, prob)
        if len(self.keys) != 1:
            raise ValueError(f"RandSnapshotMaskd segments one image key, got {list(self.keys)}.")
        self.networks = list(networks)
        if not self.networks and prob > 0:
            raise ValueError("RandSnapshotMaskd needs at least one snapshot network when prob > 0.")
        self.output_key, self.ops_key, self.source_key = output_key, ops_key, source_key
        self._index = 0

    def randomize(self, data=None) -> None:
        super().randomize(None)
        self._index = int(self.R.randint(len(self.networks))) if self.networks else 0

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict:
        d = dict(data)
        self.randomize()
        source = d.get(self.source_key)
        use = self._do_transform if source not in ("snapshot", "synthetic") else source == "snapshot"
        if not use:
            return d
        if not self.networks:
            raise ValueError(f"item asks for a snapshot mask ({self.source_key}='snapshot') but no snapshot is loaded.")
        key = self.keys[0]
        image = d[key]
        x = torch.as_tensor(np.asarray(image) if not isinstance(image, torch.Tensor) else image.as_tensor()
                            if isinstance(image, MetaTensor) else image).float()
        with torch.no_grad():
            seg = self.networks[self._index](x.unsqueeze(0)).argmax(1)  # (1, *spatial)
        old = d.get(self.output_key)
        if isinstance(old, MetaTensor):
            d[self.output_key] = MetaTensor(seg.to(old.dtype), meta=dict(old.meta))
        elif isinstance(old, torch.Tensor):
            d[self.output_key] = seg.to(old.dtype)
        elif isinstance(old, np.ndarray):
            d[self.output_key] = seg.numpy().astype(old.dtype)
        else:
            d[self.output_key] = seg
        d[self.ops_key] = f"snapshot:{self._index}"
        return d
