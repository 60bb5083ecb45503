# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Where the MONAI Label environment of ``tests/bundles/test_monailabel.py`` is, and whether it is still being built.

``.ci/run`` builds that environment (``scripts/setup_monailabel_env.sh``, ~12 min from scratch) *beside* the test
suite rather than before it: while the script runs it keeps ``VENV/.metassl_monailabel_building`` holding its pid.
``tests/conftest.py`` then schedules the MONAI Label tests last, and they wait for the build (:func:`wait_for_build`)
instead of failing on a half-built environment.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV_VAR = "METASSL_MONAILABEL_PYTHON"
SETUP = "scripts/setup_monailabel_env.sh"
#: written by SETUP in the environment's directory while it runs (its pid), removed when it exits
BUILD_MARKER = ".metassl_monailabel_building"
#: how long a test waits for a build in progress (a build from scratch takes ~12 min on 2 busy cores)
BUILD_WAIT_SECONDS = 40 * 60


def environment() -> Path | None:
    """The environment's directory named by ``$METASSL_MONAILABEL_PYTHON`` (``VENV/bin/python``), or None."""
    value = os.environ.get(ENV_VAR, "")
    return Path(value).parent.parent if value else None


def build_in_progress(venv: Path | None = None) -> int | None:
    """The pid of the setup script building ``venv`` now, or None (no marker, or a marker left by a killed build)."""
    venv = environment() if venv is None else venv
    if venv is None:
        return None
    try:
        pid = int((venv / BUILD_MARKER).read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return pid


def wait_for_build(venv: Path | None = None, timeout: float = BUILD_WAIT_SECONDS, poll: float = 5.0) -> str | None:
    """Wait while the setup script builds the environment; None when no build runs (any more), else why it gave up."""
    start = time.monotonic()
    while (pid := build_in_progress(venv)) is not None:
        if time.monotonic() - start > timeout:
            return f"{SETUP} (pid {pid}) was still building it after {timeout:.0f} s"
        time.sleep(poll)
    return None
