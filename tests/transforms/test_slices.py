# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""VolumeSliced: slice k of the prepared volume, each volume prepared once for its consecutive slices."""

from __future__ import annotations

import pytest
import torch

from metassl_monai.transforms import VolumeSliced


class Prepare:
    """A stand-in for loading: (1, D, H, W) volumes whose voxel values encode (volume, slice)."""

    def __init__(self):
        self.calls = []

    def __call__(self, item):
        self.calls.append(item["image"])
        base = 100.0 * int(item["image"][-1])
        volume = (base + torch.arange(3.0)).reshape(1, 3, 1, 1).expand(1, 3, 2, 2).clone()
        out = {**item, "image": volume}
        if "label" in item:
            out["label"] = (volume > base).to(torch.uint8)
        return out


def test_slices_and_reads_each_volume_once():
    prepare = Prepare()
    t = VolumeSliced(["image", "label"], prepare, allow_missing_keys=True)
    items = [{"image": "v1", "label": "l1", "slice": k} for k in range(3)] + [{"image": "v2", "slice": 1}]
    out = [t(it) for it in items]
    assert prepare.calls == ["v1", "v2"]
    assert [float(o["image"][0, 0, 0]) for o in out] == [100.0, 101.0, 102.0, 201.0]
    assert tuple(out[0]["image"].shape) == (1, 2, 2) and "slice" not in out[0]
    assert [int(o["label"][0, 0, 0]) for o in out[:3]] == [0, 1, 1] and "label" not in out[3]
    out[0]["image"] += 1000  # the cached volume is not a view of what was returned
    assert float(t(items[0])["image"][0, 0, 0]) == 100.0
    assert prepare.calls == ["v1", "v2"]  # still cached (2 volumes kept)


def test_cache_size_bounds_the_volumes_kept():
    prepare = Prepare()
    t = VolumeSliced("image", prepare, cache_size=1)
    for name in ("v1", "v2", "v1"):
        t({"image": name, "slice": 0})
    assert prepare.calls == ["v1", "v2", "v1"]  # v1 left the cache when v2 came


def test_bad_index_and_missing_key():
    t = VolumeSliced("image", Prepare())
    with pytest.raises(IndexError, match="slice 3 is outside v1 \\(3 slices\\)"):
        t({"image": "v1", "slice": 3})
    with pytest.raises(KeyError, match="the item has no 'slice' index: v1"):
        t({"image": "v1"})
