# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""AtomicNibabelWriter: MONAI's NIfTI file, byte for byte, but never half-written (issue 16 part 2)."""

from __future__ import annotations

import errno

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor, NibabelWriter
from monai.transforms import SaveImaged

from metassl_monai.data import AtomicNibabelWriter


def mask(seed: int = 0) -> MetaTensor:
    g = torch.Generator().manual_seed(seed)
    return MetaTensor(torch.randint(0, 4, (1, 8, 9, 3), generator=g).float(),
                      affine=torch.diag(torch.tensor([1.5, 1.5, 10.0, 1.0], dtype=torch.float64)),
                      meta={"filename_or_obj": "/in/p1.nii.gz"})


def save(writer, out, data: MetaTensor) -> None:
    SaveImaged("pred", output_dir=str(out), output_postfix="seg", output_dtype=np.uint8, resample=False,
               separate_folder=False, print_log=False, writer=writer)({"pred": data})


@pytest.mark.parametrize("seed", [0, 1])
def test_same_file_as_monai_nibabel_writer(tmp_path, seed):
    save(NibabelWriter, tmp_path / "monai", mask(seed))
    save(AtomicNibabelWriter, tmp_path / "ours", mask(seed))
    ours = tmp_path / "ours" / "p1_seg.nii.gz"
    assert ours.read_bytes() == (tmp_path / "monai" / "p1_seg.nii.gz").read_bytes()
    assert [p.name for p in (tmp_path / "ours").iterdir()] == ["p1_seg.nii.gz"]
    image = nib.load(ours)
    assert image.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(image.dataobj), mask(seed)[0].numpy().astype(np.uint8))
    np.testing.assert_allclose(image.affine, np.diag([1.5, 1.5, 10.0, 1.0]))


def test_a_full_disk_keeps_the_previous_mask_and_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "out"
    save(AtomicNibabelWriter, out, mask(0))
    before = (out / "p1_seg.nii.gz").read_bytes()

    def full_disk(image, filename):
        with open(filename, "wb") as f:
            f.write(b"\x1f\x8b half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(nib, "save", full_disk)
    # MONAI's SaveImage re-raises any writer error as "cannot find a suitable writer", the writer's traceback inside
    with pytest.raises(RuntimeError, match=rf"OSError: \[Errno 28\] could not save {out / 'p1_seg.nii.gz'}: the disk "
                                           "is full; nothing saved before was changed"):
        save(AtomicNibabelWriter, out, mask(1))
    assert [p.name for p in out.iterdir()] == ["p1_seg.nii.gz"]
    assert (out / "p1_seg.nii.gz").read_bytes() == before
