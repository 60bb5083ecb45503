# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""SkipFailedItems: the good items in order, the bad ones recorded with the clear message (issue 16 part 2)."""

from __future__ import annotations

import pytest
import torch
from monai.data import DataLoader, Dataset
from monai.transforms import Compose, Lambdad

from metassl_monai.data import FailedItem, SkipFailedItems, root_cause


def load(d: dict) -> dict:
    if d["image"].startswith("bad"):
        raise OSError(f"cannot read 'image' file {d['image']} (truncated or corrupt?): EOFError: ended early")
    if d["image"].startswith("nan"):
        raise ValueError(f"{d['image']}: image 'image' has non-finite values")
    return {"image": torch.full((1, 2, 2), float(d["image"][-1]))}


def dataset(names: list[str]) -> SkipFailedItems:
    return SkipFailedItems(Dataset([{"image": n} for n in names], Compose([Lambdad("image", lambda x: x), load])))


@pytest.mark.parametrize(
    "names, good, failed",
    [
        (["a1", "a2", "a3"], [1, 2, 3], []),
        (["a1", "bad2", "a3", "nan4", "a5"], [1, 3, 5], ["bad2", "nan4"]),
        (["bad1", "bad2"], [], ["bad1", "bad2"]),
        ([], [], []),
    ],
    ids=["all-good", "two-bad", "all-bad", "empty"],
)
def test_yields_the_good_items_in_order_and_records_the_rest(names, good, failed):
    data = dataset(names)
    values = [int(item["image"].flatten()[0]) for item in DataLoader(data, batch_size=1, num_workers=0)]
    assert values == good
    assert [f.name for f in data.failures] == failed
    assert data.attempted == len(names)
    reasons = {f.name: f.reason for f in data.failures}
    if "bad2" in reasons:  # MONAI's "applying transform" wrapper taken off; the transform's message kept whole
        assert reasons["bad2"] == ("OSError: cannot read 'image' file bad2 (truncated or corrupt?): EOFError: "
                                   "ended early")
    if "nan4" in reasons:
        assert reasons["nan4"] == "ValueError: nan4: image 'image' has non-finite values"


def test_a_second_pass_starts_a_fresh_record():
    data = dataset(["bad1", "a2"])
    list(data)
    list(data)
    assert data.failures == [FailedItem("bad1", data.failures[0].reason)] and data.attempted == 2


def test_items_without_a_file_name_are_named_by_index():
    data = SkipFailedItems(Dataset([{"x": 1}, {"x": 2}], lambda d: 1 / 0 if d["x"] == 2 else d))
    assert list(data) == [{"x": 1}]
    assert data.failures == [FailedItem("item 1", "ZeroDivisionError: division by zero")]


def test_interrupts_are_not_swallowed():
    def interrupt(d):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(SkipFailedItems(Dataset([{"image": "a"}], interrupt)))


def test_refuses_worker_processes():
    loader = DataLoader(dataset(["a1"]), batch_size=1, num_workers=1)
    with pytest.raises(RuntimeError, match="use it with a DataLoader of num_workers=0"):
        list(loader)


def test_root_cause_takes_off_only_monai_wrappers():
    inner = OSError("cannot read x.h5")
    try:
        try:
            raise inner
        except OSError as e:
            raise RuntimeError("applying transform <LoadH5d>") from e
    except RuntimeError as wrapped:
        assert root_cause(wrapped) == "OSError: cannot read x.h5"
    own = RuntimeError("the network failed")
    own.__cause__ = ValueError("detail")
    assert root_cause(own) == "RuntimeError: the network failed"
