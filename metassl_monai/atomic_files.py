# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Files that are complete or absent: written beside their target, fsync-ed, then renamed over it."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["PARTIAL_SUFFIX", "atomic_path", "remove_partial_files"]

#: the temporaries are named ``.<target name>.<random>.partial`` (+ the target's extension where the writer needs it)
PARTIAL_SUFFIX = ".partial"
_PARTIAL_NAME = re.compile(r"\..+\.[A-Za-z0-9_]+" + re.escape(PARTIAL_SUFFIX) + r"(\.[A-Za-z0-9.]+)?")


def _fsync_path(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_directory(directory: str | os.PathLike) -> None:
    """Make a rename in ``directory`` durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _default_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, extension: str = "") -> Iterator[str]:
    """
    ``with atomic_path(target) as tmp: write(tmp)``: the writer writes the temporary file ``tmp`` (in the target's
    folder; its name ends with ``extension``, e.g. ``".nii.gz"`` for a writer that picks the format from the name);
    on leaving the block it is flushed to disk (``fsync``), renamed over ``target`` (``os.replace``) and the rename is
    ``fsync``-ed. A process killed at any moment, or a power loss, leaves the old file or the new one, complete (and
    at most a stray temporary, see :func:`remove_partial_files`). The new file has the usual permissions (``0o666``
    less the umask).

    Raises:
        OSError: the writer or the flush failed (a full disk: ``errno.ENOSPC``); the temporary is removed, ``target``
            is untouched, and the message names ``target``. Other errors are re-raised as they are, after the same
            clean-up.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX + extension, dir=target.parent)
    os.close(fd)
    try:
        yield tmp
        _fsync_path(tmp)
        os.chmod(tmp, _default_file_mode())
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            reason = "the disk is full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
            raise OSError(e.errno, f"could not save {target}: {reason}; nothing saved before was changed or "
                                   "removed, and no temporary file was left") from e
        raise
    _fsync_directory(target.parent)


def remove_partial_files(directory: str | os.PathLike) -> list[Path]:
    """
    Remove the temporaries that killed writes left in ``directory`` (``.<name>.<random>.partial[.ext]``, written
    only by :func:`atomic_path`; nothing else is touched). Returns what was removed.
    """
    removed = []
    folder = Path(directory)
    if folder.is_dir():
        for path in folder.iterdir():
            if _PARTIAL_NAME.fullmatch(path.name) and path.is_file():
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
