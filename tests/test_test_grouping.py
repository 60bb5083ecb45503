# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The suite's own scheduling (tests/conftest.py under the README's ``pytest -n 2 --dist loadgroup``): a test file is one
unit of work, so its module fixtures (trained runs, the gpu_check CPU mode) are built once, in one worker; units
start in LONGEST_FIRST's order, not in pytest-xdist's by-size order. pytest 9.2 silently broke the grouping
(pytest-dev/pytest-xdist#1386: the group suffix no longer reaches the scheduler) and every such fixture was built
twice; this test fails when that happens again.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from monailabel_env import BUILD_MARKER

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("xdist")

FILE_WITH_A_MODULE_FIXTURE = '''
import os, pathlib, pytest

@pytest.fixture(scope="module")
def built():
    with open(pathlib.Path(__file__).with_suffix(".built"), "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.mark.parametrize("i", range({n}))
def test_uses_it(built, i):
    with open(pathlib.Path(__file__).with_suffix(".ran"), "a") as f:
        f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")
'''


def run_suite(tmp_path: Path, files: dict[str, str], workers: int, env: dict[str, str] | None = None) -> None:
    """``pytest -n WORKERS --dist loadgroup`` (the README's scheduling) on ``files`` (paths under tests/) beside a copy
    of the suite's conftest.py."""
    tests = tmp_path / "tests"
    tests.mkdir()
    for helper in ("conftest.py", "monailabel_env.py"):
        shutil.copy(REPO / "tests" / helper, tests / helper)
    for name, text in files.items():
        (tests / name).parent.mkdir(parents=True, exist_ok=True)
        (tests / name).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), **(env or {})}
    env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", str(workers), "--dist", "loadgroup", "-q", "-p",
                           "no:cacheprovider"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_each_file_is_one_unit_and_its_module_fixture_is_built_once(tmp_path):
    sizes = {"test_few": 2, "test_many": 6, "test_some": 4}
    run_suite(tmp_path, {f"{name}.py": FILE_WITH_A_MODULE_FIXTURE.replace("{n}", str(n)) for name, n in sizes.items()},
              workers=2)
    for name, n in sizes.items():
        built = (tmp_path / "tests" / f"{name}.built").read_text().split()
        ran = (tmp_path / "tests" / f"{name}.ran").read_text().split()
        assert len(built) == 1, f"{name}: its module fixture was built {len(built)} times ({built})"
        assert len(ran) == n and set(ran) == set(built), f"{name}: its tests ran on {sorted(set(ran))}"


def test_units_keep_the_conftest_order(tmp_path):
    """xdist's default sorts units by their number of tests; the conftest turns that off (one worker: the order in
    which the files ran is the order of the units)."""
    order = tmp_path / "order.txt"
    run_suite(tmp_path, {f"{name}.py": f"import pytest\n@pytest.mark.parametrize('i', range({n}))\n"
                         f"def test_it(i):\n    open({str(order)!r}, 'a').write('{name}\\n')\n"
                         for name, n in (("test_a_few", 1), ("test_b_many", 5))}, workers=1)
    assert order.read_text().split() == ["test_a_few"] + ["test_b_many"] * 5


@pytest.mark.parametrize("building, expected", [(False, ["monailabel", "other"]), (True, ["other", "monailabel"])])
def test_monailabel_tests_run_last_while_their_environment_is_built(tmp_path, building, expected):
    """.ci/run builds the MONAI Label environment beside the suite; its setup script marks the build with its pid.
    Normally the MONAI Label file starts early (it is in LONGEST_FIRST); during a build it is scheduled last."""
    venv = tmp_path / "ml-venv"
    venv.mkdir()
    if building:  # a live pid: this test's own process stands for the setup script
        (venv / BUILD_MARKER).write_text(f"{os.getpid()}\n")
    order = tmp_path / "order.txt"
    test = "def test_it():\n    open({path!r}, 'a').write('{name}\\n')\n"
    run_suite(tmp_path, {"bundles/test_monailabel.py": test.format(path=str(order), name="monailabel"),
                         "test_other.py": test.format(path=str(order), name="other")}, workers=1,
              env={"METASSL_MONAILABEL_PYTHON": str(venv / "bin" / "python")})
    assert order.read_text().split() == expected


def test_the_controller_decides_for_every_worker_whether_the_monailabel_environment_is_being_built(tmp_path):
    """Each pytest-xdist worker collects on its own; had each looked at the build marker itself, a build ending between
    two workers' collections would give them different orders and stop the run. The controller looks once and hands
    its answer to the workers (here: a build in progress, so every worker schedules the MONAI Label file last)."""
    venv = tmp_path / "ml-venv"
    venv.mkdir()
    (venv / BUILD_MARKER).write_text(f"{os.getpid()}\n")
    seen = tmp_path / "seen.txt"
    test = ("import os\n@__import__('pytest').mark.parametrize('i', range(3))\ndef test_it(request, i):\n"
            f"    open({str(seen)!r}, 'a').write(os.environ['PYTEST_XDIST_WORKER'] + ' ' + "
            "str(request.config.workerinput['metassl_monailabel_building']) + '\\n')\n")
    run_suite(tmp_path, {"test_a.py": test, "test_b.py": test}, workers=2,
              env={"METASSL_MONAILABEL_PYTHON": str(venv / "bin" / "python")})
    lines = seen.read_text().split("\n")[:-1]
    assert len(lines) == 6 and {line.split()[1] for line in lines} == {"True"}
