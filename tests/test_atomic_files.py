# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""metassl_monai.atomic_files: a file is complete or absent; a failed write names the file and leaves nothing."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from metassl_monai.atomic_files import atomic_path, remove_partial_files


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


@pytest.mark.parametrize("extension", ["", ".nii.gz", ".json"])
def test_the_target_appears_complete_with_the_usual_permissions(tmp_path, extension):
    target = tmp_path / f"mask{extension}"
    with atomic_path(target, extension=extension) as tmp:
        assert os.path.dirname(tmp) == str(tmp_path) and tmp.endswith(".partial" + extension)
        assert os.path.basename(tmp).startswith(f".{target.name}.")
        _write(tmp, b"new")
        assert not target.exists()  # nothing is visible under the target's name before the block ends
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("error, reason", [(OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
                                           (OSError(errno.EIO, "Input/output error"), "Input/output error")])
def test_a_failed_write_keeps_the_old_file_names_it_and_leaves_no_temporary(tmp_path, error, reason):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match=rf"could not save {target}: {reason}; nothing saved before was changed") as e:
        with atomic_path(target) as tmp:
            _write(tmp, b"half")
            raise error
    assert e.value.errno == error.errno
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_other_errors_pass_through_after_the_same_clean_up(tmp_path):
    target = tmp_path / "a.json"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            _write(tmp, b"x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_remove_partial_files_removes_only_the_temporaries(tmp_path):
    partial = [".model.pt.k2j4_x.partial", ".patient001_frame01_seg.nii.gz.ab12cd34.partial.nii.gz",
               ".failed_inputs.json.zz9.partial"]
    kept = ["model.pt", "tmp1234", "notes.partial", ".hidden", "patient001_frame01_seg.nii.gz", ".x.partial.txt~"]
    for name in partial + kept:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / ".dir.abc.partial").mkdir()  # a folder of that name is not ours
    removed = remove_partial_files(tmp_path)
    assert sorted(p.name for p in removed) == sorted(partial)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept + [".dir.abc.partial"])
    assert remove_partial_files(tmp_path / "absent") == []
