# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The bench runner and command: names, devices, the JSON it writes, what it refuses. The figures are not asserted
(the machines are noisy), what the benchmarks output is."""

import json
import math

import pytest

from metassl_monai.bench import BENCHMARKS, BenchArgumentError, run_benchmarks
from metassl_monai.bench.common import Measurement, interleaved
from metassl_monai.cli import main

SPLIT_ACROSS_WORKERS = True


@pytest.mark.parametrize(
    "value, goal, higher, passed",
    [(1.1, 1.2, False, True), (1.3, 1.2, False, False), (1.2, 1.2, False, True), (2.0, 1.0, True, True),
     (0.5, 1.0, True, False), (3.0, None, False, None)],
)
def test_measurement_verdict(value, goal, higher, passed):
    m = Measurement("x", value, "x", goal, higher_is_better=higher)
    assert m.passed is passed
    assert m.as_dict()["passed"] is passed
    assert ("MISSED" in m.line()) is (passed is False)


def test_interleaved_times_every_candidate_in_turn():
    order = []
    times = interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, repeats=3, warmup=1)
    assert order == ["a", "b"] * 4  # one warm-up round, then 3 interleaved rounds
    assert {k: len(v) for k, v in times.items()} == {"a": 3, "b": 3}
    assert all(t >= 0 for v in times.values() for t in v)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [({"only": "losses,nope"}, BenchArgumentError, "nope"), ({"device": "tpu"}, BenchArgumentError, "device"),
     ({"dataset_dir": "/no/such/folder"}, FileNotFoundError, "/no/such/folder")],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        run_benchmarks(**kwargs)


def test_losses_json_and_existing_output_refused(tmp_path, capsys):
    out, table = tmp_path / "bench.json", tmp_path / "bench.md"
    main(["bench", "--only", "losses", "--quick", "--device", "cpu", "--output", str(out), "--markdown", str(table)])
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["settings"] == {"only": ["losses"], "quick": True, "dataset_dir": None}
    assert result["machine"]["device"] == "cpu" and result["machine"]["torch"]
    names = [m["name"] for m in result["measurements"]]
    for dims in ("2d", "3d"):
        for loss in ("heterogeneous", "heterogeneous_weighted", "heterogeneous_labeled"):
            assert f"losses/{dims}/{loss}_vs_ce" in names
    for m in result["measurements"]:
        assert math.isfinite(m["value"]) and m["value"] > 0, m
        assert m["name"] in printed
        if "heterogeneous" in m["name"]:
            assert m["goal"] == 1.2 and m["passed"] is (m["value"] <= 1.2)
    rows = [ln for ln in table.read_text().splitlines() if ln.startswith("| `")]
    assert len(rows) == len(result["measurements"])
    assert "| `losses/2d/heterogeneous_vs_ce` |" in rows[0] and "≤ 1.2x" in rows[0]
    before = out.read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # the command line's answer to bad input: one line, status 2
        main(["bench", "--only", "losses", "--quick", "--output", str(out)])
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"metassl_monai: error: {out} exists: choose another --output (nothing was changed).\n"
    assert out.read_text() == before  # nothing overwritten


def test_every_benchmark_module_has_run():
    import importlib

    for name in BENCHMARKS:
        assert callable(importlib.import_module(f"metassl_monai.bench.{name}").run), name
