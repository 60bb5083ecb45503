# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Shared fixtures: the synthetic datasets every bundle test trains on, made once per test session.

The session datasets are read-only for the tests: a test that damages or adds files works on ``fresh_copy(dataset)``.
Each one's content is fingerprinted when it is made and checked again at the end of the session, so a test that
writes into a shared dataset fails loudly instead of changing what later tests see.

Under ``pytest -n N`` (pytest-xdist) each worker is one process with one torch thread (the CI machine has 2 cores),
and the child processes the tests start inherit ``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Callable

import pytest
from monailabel_env import build_in_progress

MONAILABEL_TESTS = "tests/bundles/test_monailabel.py"

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def _fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        digest.update(str(p.relative_to(root)).encode())
        if p.is_file():
            digest.update(p.read_bytes())
    return digest.hexdigest()


def _shared(root: Path, request) -> Path:
    before = _fingerprint(root)

    def unchanged():
        assert _fingerprint(root) == before, f"a test changed the shared dataset {root}: use fresh_copy()"

    request.addfinalizer(unchanged)
    return root


@pytest.fixture(scope="session")
def acdc_dataset(tmp_path_factory, request) -> Path:
    """SSL4MIS-layout ACDC-like data: 3 training patients (~4-5 slices each, 32 x 32 +-4), 1 validation patient."""
    from metassl_monai.data import make_acdc_like_dataset

    root = make_acdc_like_dataset(tmp_path_factory.mktemp("acdc") / "data", n_train_patients=3, n_val_patients=1,
                                  size=(32, 32), size_jitter=4, depth_range=(4, 5), seed=3)
    return _shared(root, request)


@pytest.fixture(scope="session")
def la_dataset(tmp_path_factory, request) -> Path:
    """UA-MT-layout LA-like data: train.list of 8 cases, test.list of 2; bundle_runner.LA_SHAPE volumes."""
    from bundle_runner import LA_SHAPE

    from metassl_monai.data import write_uamt_la_dataset

    root = write_uamt_la_dataset(tmp_path_factory.mktemp("la") / "LA", n_cases=10, n_test=2, shape=LA_SHAPE, seed=5)
    return _shared(root, request)


@pytest.fixture(scope="session")
def la_small_dataset(tmp_path_factory, request) -> Path:
    """A smaller LA-like set (train.list 7 cases, test.list 1; 24 x 24 x 20) for loss traces of many iterations."""
    from metassl_monai.data import write_uamt_la_dataset

    root = write_uamt_la_dataset(tmp_path_factory.mktemp("la_small") / "LA", n_cases=8, n_test=1,
                                 shape=(24, 24, 20), seed=5)
    return _shared(root, request)


@pytest.fixture
def fresh_copy(tmp_path) -> Callable[[Path], Path]:
    """``fresh_copy(dataset)``: a private copy of a session dataset (same folder name), free to damage."""

    def copy(root: Path) -> Path:
        return Path(shutil.copytree(root, tmp_path / "copy" / root.name))

    return copy


# --- how pytest-xdist shares the suite between workers (CI: -n 2 --dist loadgroup) --------------------------------
# Every test file is one unit of work (as --dist loadfile: its module fixtures, e.g. trained runs, stay in one
# process), except files that set ``SPLIT_ACROSS_WORKERS``: ``True`` when their tests share nothing costly (they are
# spread one by one), or a function of the test item naming its unit within the file (e.g. the parameter of a
# module fixture, so that each parameter's fixture is still made once). Units start longest first (LONGEST_FIRST, in
# decreasing order of their units' length: the one-unit files, then the spread files whose tests are short, as fillers),
# so the last minutes do not wait on one long file; the files not listed follow in pytest's order.
LONGEST_FIRST = (  # worker-seconds per file, README's command alone on 2 cores (AMD EPYC), 2026-12-08 03:24
    "tests/bundles/test_multi_gpu.py",  # 403 (one unit: 14 torchrun launches)
    "tests/bundles/test_bundle_resume.py",  # 240
    "tests/benchmark/test_runner.py",  # 222 (4 cells: 4 trainings + 8 evaluations)
    MONAILABEL_TESTS,  # 198 (two units, one per served family; last while .ci/run builds its environment)
    "tests/test_export.py",  # 156
    "tests/test_gpu_check.py",  # 152 (the CPU mode of scripts/gpu_check.sh: ~120 s)
    "tests/bundles/test_behaviour_unchanged.py",  # 187 (spread: SPLIT_ACROSS_WORKERS; 3D traces up to 57 s each)
    "tests/bundles/test_bundle_metassl_la.py",  # 82
    "tests/bundles/test_bundle_datalists.py",  # 82
    "tests/bundles/test_determinism.py",  # 79
    "tests/bundles/test_frameworks_in_bundles.py",  # 137 (spread; 3D runs 12-20 s each)
    "tests/bundles/test_bad_input_exits.py",  # 161 (spread; 14 real-data child processes of ~12 s)
    "tests/bundles/test_bundle_gpu_settings.py",  # 56
    "tests/bundles/test_quality_resume.py",  # 55
    "tests/bundles/test_bundle_zoo.py",  # 54
    "tests/bundles/test_bundle_qgssl_acdc.py",  # 49
    "tests/bundles/test_bundle_metassl_acdc.py",  # 48
    "tests/test_test_grouping.py",  # 47 (five nested pytest runs)
    "tests/test_distributed.py",  # 41
    "tests/bundles/test_bundle_qgssl_la.py",  # 41
)


ML_BUILDING = "metassl_monailabel_building"  # an attribute of pytest's config and a key of xdist's workerinput


def pytest_configure(config):
    # pytest-xdist orders its work units by their number of tests unless told not to (--no-loadscope-reorder);
    # keep LONGEST_FIRST's order without asking every command line for the flag
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    # whether .ci/run is building the MONAI Label environment beside the suite (its tests then run last): decided once,
    # here or, under pytest-xdist, by the controller for every worker (workers that collected in different orders
    # because the build ended between their collections would stop the run)
    worker = getattr(config, "workerinput", None)
    building = worker[ML_BUILDING] if worker and ML_BUILDING in worker else build_in_progress() is not None
    setattr(config, ML_BUILDING, building)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # pytest-xdist's controller, before each worker starts
    node.workerinput[ML_BUILDING] = getattr(node.config, ML_BUILDING)


def _unit(item) -> str:
    path, split = item.nodeid.split("::")[0], getattr(item.module, "SPLIT_ACROSS_WORKERS", False)
    if callable(split):
        return f"{path}::{split(item)}"
    return item.nodeid if split else path


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which appends the group to the node id
def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    if getattr(config, ML_BUILDING, False):  # .ci/run builds the MONAI Label environment beside the suite: its tests last
        rank[MONAILABEL_TESTS] = len(rank) + 1
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keeps its order
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(_unit(item)))
