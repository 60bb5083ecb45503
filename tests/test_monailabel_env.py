# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
.ci/run builds the MONAI Label environment beside the test suite: scripts/setup_monailabel_env.sh marks the build
with its pid while it runs, and the MONAI Label tests wait for it (tests/monailabel_env.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from monailabel_env import BUILD_MARKER, build_in_progress, environment, wait_for_build

REPO = Path(__file__).resolve().parents[1]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.parametrize("marker, building", [
    (None, False),  # no build
    ("self", True),  # a live pid
    ("dead", False),  # a build killed without cleaning up
    ("not a pid", False),
])
def test_build_in_progress(tmp_path, marker, building):
    if marker is not None:
        pid = {"self": os.getpid(), "dead": None}.get(marker, marker)
        (tmp_path / BUILD_MARKER).write_text(f"{_dead_pid() if pid is None else pid}\n")
    assert build_in_progress(tmp_path) == (os.getpid() if building else None)


def test_environment_is_named_by_its_python(monkeypatch, tmp_path):
    monkeypatch.setenv("METASSL_MONAILABEL_PYTHON", str(tmp_path / "venv" / "bin" / "python"))
    assert environment() == tmp_path / "venv"
    monkeypatch.delenv("METASSL_MONAILABEL_PYTHON")
    assert environment() is None and build_in_progress() is None


def test_wait_for_build_returns_when_the_build_ends_and_gives_up_after_its_timeout(tmp_path):
    builder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    (tmp_path / BUILD_MARKER).write_text(f"{builder.pid}\n")
    start = time.monotonic()
    assert wait_for_build(tmp_path, timeout=0.3, poll=0.1) == (
        f"scripts/setup_monailabel_env.sh (pid {builder.pid}) was still building it after 0 s")
    builder.wait()  # reaped: its pid is gone
    assert wait_for_build(tmp_path, timeout=30, poll=0.1) is None
    assert time.monotonic() - start < 10


def test_setup_script_marks_its_build_and_clears_the_mark_when_it_fails(tmp_path):
    """A stand-in `python3` (the script's first build step, `python3 -m venv`) prints the marker and fails: the marker
    held the script's pid while it ran and is gone after it exits."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    venv = tmp_path / "venv"
    fake = bin_dir / "python3"
    fake.write_text(f"#!/bin/sh\necho \"marker=$(cat {venv / BUILD_MARKER})\"\nexit 3\n")
    fake.chmod(0o755)
    proc = subprocess.Popen(["bash", str(REPO / "scripts" / "setup_monailabel_env.sh"), str(venv)],
                            env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                                 "MONAI_VERSION": "1.6.1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3, out
    assert f"marker={proc.pid}" in out
    assert not (venv / BUILD_MARKER).exists()


def test_ci_waits_for_the_marker_the_tests_read():
    """.ci/run waits until the setup script has marked its build before starting pytest (so that collection schedules
    the MONAI Label tests last); it takes the marker's name from monailabel_env.BUILD_MARKER, which the test above
    ties to the script's, instead of writing the name a third time."""
    ci = (REPO / ".ci" / "run").read_text()
    assert "from monailabel_env import BUILD_MARKER" in ci and BUILD_MARKER not in ci
    line = next(ln for ln in ci.splitlines() if ln.startswith("ML_MARKER="))
    out = subprocess.run(["bash", "-c", f"ML_VENV=/venv; {line}; echo \"$ML_MARKER\""], cwd=REPO, capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                                                        f"{os.environ['PATH']}"}).stdout
    assert out == f"/venv/{BUILD_MARKER}\n"
