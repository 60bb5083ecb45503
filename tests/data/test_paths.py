# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""metassl_monai.data.paths: the shared folder and empty-stream checks."""

from __future__ import annotations

import pytest
from torch.utils.data import DataLoader

from metassl_monai.data import require_batches, require_dir


def test_require_dir_names_the_setting_and_path(tmp_path):
    assert require_dir(tmp_path) == tmp_path
    with pytest.raises(FileNotFoundError, match=rf"raw_dir does not exist or is not a folder: {tmp_path / 'x'}$"):
        require_dir(tmp_path / "x", "raw_dir")


def test_require_batches_returns_a_loader_with_batches():
    loader = DataLoader(list(range(5)), batch_size=2, drop_last=True)
    assert require_batches(loader, "unlabeled", "unlabeled_batch_size") is loader


@pytest.mark.parametrize(
    "items, batch_size, message",
    [
        (3, 4, r"unlabeled_batch_size=4 but the unlabeled datalist has only 3 item\(s\) and drop_last=True; "
               r"set unlabeled_batch_size <= 3, or lower labeled_patients\.$"),
        (0, 2, r"the unlabeled datalist is empty; lower labeled_patients\.$"),
    ],
)
def test_require_batches_names_the_setting(items, batch_size, message):
    loader = DataLoader(list(range(items)), batch_size=batch_size, drop_last=True)
    with pytest.raises(ValueError, match=r"^the unlabeled data loader would yield no batch: " + message):
        require_batches(loader, "unlabeled", "unlabeled_batch_size", "lower labeled_patients")
