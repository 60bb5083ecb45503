# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The benchmark report from hand-made records: mean ± sample std over seeds, paired differences to the baseline on
the same seeds, region fractions at the end, the CSV and the plots."""

from __future__ import annotations

import csv
import json
import math

import pytest

from fake_records import record  # noqa: E402 (tests/benchmark/fake_records.py)

from metassl_monai.benchmark.report import (
    gpu_command, load_records, loss_composition, mean_std, paired, region_fractions, seed_spread, spread_sources,
    summarize, write_report,
)


RECORDS = [record("mt", 1, 0.72, 0.70), record("mt", 2, 0.82, 0.80),
           record("mt_metassl", 1, 0.76, 0.75, "mt", fractions={"UC": 0.8, "US": 0.1, "DC": 0.06, "DS": 0.04}),
           record("mt_metassl", 2, 0.90, 0.90, "mt", fractions={"UC": 0.8, "US": 0.1, "DC": 0.06, "DS": 0.04}),
           record("mt_metassl", 3, 0.99, 0.99, "mt")]  # seed 3 has no baseline run: not paired


def _timed(seed: int, alone: float, threads: int | None, **host) -> dict:
    r = record("mt", seed, 0.7, 0.7)
    r["seconds_per_iteration"]["alone"] = alone
    if threads is not None:
        r["host"] = {"threads": threads, "torch": "2.13.0+cpu", "gpu": None, **host}
        r["evaluate_seconds"] = 61.4
    return r


@pytest.mark.parametrize("threads, expected", [
    ((1, 1), 1.5),  # both cells had one thread: their mean
    ((None, 1), 2.0),  # a record that does not say (older than the field) is left out too
    ((1, 2), 1.0),  # the cell given two threads is left out of the method's s/it
    ((2, 2), None),
])
def test_method_seconds_per_iteration_are_one_thread_cells(threads, expected):
    (row,) = summarize([_timed(1, 1.0, threads[0]), _timed(2, 2.0, threads[1])])
    assert row["s_per_it_alone"] == (pytest.approx(expected) if expected is not None else None)


def test_every_cell_row_says_threads_evaluation_time_and_device(tmp_path):
    records_dir = tmp_path / "records"
    records_dir.mkdir()
    for r in (_timed(1, 1.0, 1), _timed(2, 2.0, 2, gpu="NVIDIA H100 80GB HBM3"),
              _timed(3, 3.0, 1, cpu_model="AMD EPYC")):
        (records_dir / f"{r['cell']}.json").write_text(json.dumps(r))
    paths = write_report(records_dir, tmp_path / "out", "t")
    text = open(paths["markdown"]).read()
    assert "| `mt_7l_s1` | 0.7000 (100) | 0.7000 | 0.7000 | 10.0 | 1 | 1.000 (2.1) | – | 61 | 2.13.0+cpu | CPU |" in text
    assert "| 10.0 | 2 | 2.000 (2.1) | – | 61 | 2.13.0+cpu | NVIDIA H100 80GB HBM3 |" in text
    assert ("| `mt_7l_s3` | 0.7000 (100) | 0.7000 | 0.7000 | 10.0 | 1 | 3.000 (2.1) | – | 61 | 2.13.0+cpu "
            "| CPU (AMD EPYC) |") in text
    assert "| mean_teacher | metassl | 3 | 0.700 ± 0.000 | 0.700 ± 0.000 |" in text
    assert text.count("| 2.000 | – |") == 1  # the summary: s/it alone of the one-thread cells only (mean of 1 and 3)
    rows = list(csv.DictReader(open(paths["csv"])))
    assert [(r["threads"], r["evaluate_seconds"], r["torch"], r["gpu"]) for r in rows] == [
        ("1", "61.4", "2.13.0+cpu", ""), ("2", "61.4", "2.13.0+cpu", "NVIDIA H100 80GB HBM3"),
        ("1", "61.4", "2.13.0+cpu", "")]


def test_mean_std_is_the_sample_std():
    assert mean_std([0.7, 0.8]) == (pytest.approx(0.75), pytest.approx(math.sqrt(0.005)))
    assert mean_std([0.7]) == (0.7, None)


def test_summary_over_seeds():
    rows = {r["method"]: r for r in summarize(RECORDS)}
    assert rows["mt"]["seeds"] == [1, 2]
    assert rows["mt"]["last"] == (pytest.approx(0.75), pytest.approx(0.0707107, abs=1e-6))
    assert rows["mt"]["best"][0] == pytest.approx(0.77)
    assert rows["mt"]["last_per_class"] == {"RV": pytest.approx(0.65), "MYO": pytest.approx(0.75),
                                            "LV": pytest.approx(0.85)}
    assert rows["mt_metassl"]["last"][0] == pytest.approx((0.75 + 0.90 + 0.99) / 3)


def test_paired_differences_on_the_same_seeds():
    (row,) = paired(RECORDS)
    assert row["method"] == "mt_metassl" and row["baseline"] == "mt" and row["seeds"] == [1, 2]
    assert row["last"] == [pytest.approx(0.05), pytest.approx(0.10)]
    assert row["last_mean_std"] == (pytest.approx(0.075), pytest.approx(0.0353553, abs=1e-6))
    assert row["best_mean_std"][0] == pytest.approx((0.04 + 0.08) / 2)
    # paired t, 1 degree of freedom: 0.075 +- 12.706 * 0.0353553 / sqrt(2)
    assert row["last_ci95"] == (pytest.approx(0.075 - 0.317650, abs=1e-5), pytest.approx(0.075 + 0.317650, abs=1e-5))
    # pooled seed std at 7 labeled: mt (0.70, 0.80: var 0.005, 1 dof), mt_metassl (0.75, 0.90, 0.99: var 0.0147,
    # 2 dof) -> sqrt((0.005 + 2 * 0.0147) / 3)
    assert row["spread"] == pytest.approx(math.sqrt((0.005 + 0.0294) / 3))
    assert row["last_in_spreads"] == pytest.approx(0.075 / math.sqrt((0.005 + 0.0294) / 3))


def test_seed_spread_needs_two_seeds_of_a_method():
    # best: mt 0.72, 0.82 (SS 0.005); mt_metassl 0.76, 0.90, 0.99 (SS 2.3677 - 2.65² / 3)
    assert seed_spread(RECORDS, 7, "best") == pytest.approx(math.sqrt((0.005 + 2.3677 - 2.65 ** 2 / 3) / 3))
    assert spread_sources(RECORDS, 7) == {"mt": 2, "mt_metassl": 3}
    assert seed_spread(RECORDS, 3) is None and spread_sources(RECORDS, 3) == {}
    assert seed_spread([record("mt", 1, 0.7, 0.7), record("cct", 1, 0.8, 0.8)], 7) is None


def test_region_fractions_at_the_end():
    stats = region_fractions(RECORDS[2])
    assert stats == {"unlabeled_0": {"fraction_UC": pytest.approx(0.8), "fraction_US": pytest.approx(0.1),
                                     "fraction_DC": pytest.approx(0.06), "fraction_DS": pytest.approx(0.04),
                                     "threshold_1": pytest.approx(0.81)}}
    assert region_fractions(RECORDS[0]) == {}


# two networks (CPS-like): terms of both are summed; λ(t) scales the consistency terms of each logged iteration
TWO_NETWORKS = {"sup": [1.0] * 9 + [0.4], "sup_b": [1.0] * 9 + [0.2], "cons_l": [9.0] * 9 + [30.0],
                "cons_l_b": [9.0] * 9 + [10.0], "cons_u": [9.0] * 9 + [2.0], "cons_u_b": [9.0] * 9 + [2.0],
                "consistency_weight": [0.0] * 9 + [0.1]}


@pytest.mark.parametrize("terms, tail, expected", [
    # the last 10 % of 10 logged iterations = the last one: sup 0.4 + 0.2; labeled 0.1 * (30 + 10); unlabeled 0.1 * 4
    (TWO_NETWORKS, 0.1, {"supervised": 0.6, "labeled": 4.0, "unlabeled": 0.4}),
    # the last 20 %: the mean of iterations 8 (λ 0: sup 2.0, no consistency) and 9
    (TWO_NETWORKS, 0.2, {"supervised": 1.3, "labeled": 2.0, "unlabeled": 0.2}),
    # Mean Teacher: one network, an unlabeled term only
    ({"sup": [0.5] * 10, "cons_u": [0.004] * 10, "consistency_weight": [0.1] * 10}, 0.1,
     {"supervised": 0.5, "labeled": 0.0, "unlabeled": 0.0004}),
])
def test_loss_composition_at_the_end(terms, tail, expected):
    parts = loss_composition(record("cps_metassl", 1, 0.7, 0.7, terms=terms), tail=tail)
    assert parts == {k: pytest.approx(v) for k, v in expected.items()}


def test_no_loss_composition_without_a_consistency_term():
    assert loss_composition(record("supervised", 1, 0.7, 0.7, terms={"sup": [0.3] * 10})) is None
    assert loss_composition({**RECORDS[0], "ssl_trace": {}}) is None


def test_hd95_values_left_out_are_counted_and_shown(tmp_path):
    mt_terms = {"sup": [0.5] * 10, "cons_u": [0.004] * 10, "consistency_weight": [0.1] * 10}
    cells = [record("mt", 1, 0.7, 0.7, hd95_left_out=1, terms=mt_terms), record("mt", 2, 0.7, 0.7, hd95_left_out=2),
             record("supervised", 1, 0.6, 0.6)]
    rows = {r["method"]: r for r in summarize(cells)}
    assert rows["mt"]["last_hd95_left_out"] == 3 and rows["supervised"]["last_hd95_left_out"] == 0
    records_dir = tmp_path / "records"
    records_dir.mkdir()
    for r in cells:
        (records_dir / f"{r['cell']}.json").write_text(json.dumps(r))
    text = open(write_report(records_dir, tmp_path / "out", "t")["markdown"]).read()
    assert "| 5.00 (3 left out) | 100, 100 |" in text and "| 5.00 | 100 |" in text
    # the loss composition of the one cell that traced a consistency term: 0.0004 / 0.5004 of the total
    assert "| `mt_7l_s1` | 0.5000 | 0.0000 | 0.0004 | 0.1% |" in text and "| `mt_7l_s2` | 0.5" not in text


def test_gpu_command_is_the_papers_setting():
    command = gpu_command(RECORDS[2])
    assert "--config_file bundles/metassl_acdc/configs/train.json " in command and "train_cpu" not in command
    assert command.endswith("--labeled_patients 7 --seed 1 --patch_size '[32,32]'")


def test_written_report(tmp_path):
    records_dir = tmp_path / "records"
    records_dir.mkdir()
    for r in RECORDS:
        (records_dir / f"{r['cell']}.json").write_text(json.dumps(r))
    paths = write_report(records_dir, tmp_path / "out", "t")
    rows = list(csv.DictReader(open(paths["csv"])))
    assert [r["cell"] for r in rows] == ["mt_7l_s1", "mt_7l_s2", "mt_metassl_7l_s1", "mt_metassl_7l_s2",
                                         "mt_metassl_7l_s3"]
    assert float(rows[1]["last_mean_dice"]) == 0.80 and float(rows[1]["best_dice_LV"]) == pytest.approx(0.92)
    text = open(paths["markdown"]).read()
    assert "| `mt_metassl` | `mt` | 2 (1, 2) | 0.0600 ± 0.0283 | 0.0750 ± 0.0354 | [-0.2426, +0.3926] | 0.7 |" in text
    # sqrt((0.005 + 0.0294) / 3) = 0.10708
    assert "Spread at 7 labeled: 0.1071, pooled from `mt` (2 seeds), `mt_metassl` (3 seeds)." in text
    assert "| `mt` | mean_teacher | metassl | 2 | 0.770 ± 0.071 | 0.750 ± 0.071 |" in text
    assert "| `mt_metassl_7l_s1` | unlabeled_0 | 0.800 | 0.100 | 0.060 | 0.040 | 0.81 |" in text
    # a record without host fields (older than them): threads, evaluation time, torch and device unknown
    assert "| `mt_7l_s2` | 0.8200 (100) | 0.8200 | 0.8000 | 10.0 | – | 0.500 (2.1) | – | – | – | – |" in text
    assert "Where the training loss comes from" not in text  # no record traced a consistency term
    for name in ("t_curves_7labeled.png", "t_final.png", "t_regions.png"):
        assert open(paths[name], "rb").read(8) == b"\x89PNG\r\n\x1a\n"
        assert f"![{name}]({name})" in text
    again = write_report(records_dir, tmp_path / "again", "t")
    assert open(again["markdown"]).read() == text and open(again["csv"]).read() == open(paths["csv"]).read()


def test_published_rows_and_pending_cells_from_the_grid(tmp_path):
    from metassl_monai.benchmark import load_grid

    grid_file = tmp_path / "t.yaml"
    grid_file.write_text(
        "name: t\nmethods:\n"
        "  mt: {bundle: metassl_acdc, framework: mean_teacher, ssl_loss: softmax_mse}\n"
        "  mt_metassl: {bundle: metassl_acdc, framework: mean_teacher, ssl_loss: metassl, baseline: mt}\n"
        "groups:\n  - {labeled: 7, seeds: [1, 2, 3], methods: [mt, mt_metassl]}\n"
        "  - {labeled: 3, seeds: [1], methods: [mt]}\n"
        "published: {source: anchors.md, setting: 'test set, 30k iterations', rows: [\n"
        "  {method: mt, labeled: 7, name: UA-MT, dice: 0.817, hd95: 6.9},\n"
        "  {method: mt, labeled: 3, name: UA-MT, dice: 0.46}]}\n")
    records_dir = tmp_path / "records"
    records_dir.mkdir()
    for r in RECORDS:
        (records_dir / f"{r['cell']}.json").write_text(json.dumps(r))
    text = open(write_report(records_dir, tmp_path / "out", "t", grid=load_grid(grid_file))["markdown"]).read()
    assert "Published: test set, 30k iterations. Source: anchors.md." in text
    # ours: mt over seeds 1, 2 (best 0.72 / 0.82, last 0.70 / 0.80, HD95 5.0)
    assert "| `mt` | 7 | 2 | 0.770 ± 0.071 | 0.750 ± 0.071 | 5.00 | UA-MT | 0.817 | 6.9 |" in text
    assert "| `mt` | 3 | 0 | not run yet | – | – | UA-MT | 0.460 | – |" in text
    assert "2 of the grid's 7 cells, in the order they run: `mt_7l_s3`, `mt_3l_s1`." in text
    # rows and cells in the grid's order (seed-major), not the records' file names
    every = text[text.index("## Every cell"):]
    assert every.index("| `mt_7l_s1` |") < every.index("| `mt_metassl_7l_s1` |") < every.index("| `mt_7l_s2` |")
    # without the grid, neither section
    plain = open(write_report(records_dir, tmp_path / "plain", "t")["markdown"]).read()
    assert "Next to the published results" not in plain and "Not recorded yet" not in plain


def test_not_a_record_or_no_records(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_records(tmp_path / "absent")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ValueError, match="x.json is not a benchmark cell record .no 'cell' / 'best' / 'last'"):
        load_records(tmp_path)
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ValueError, match="x.json is not a benchmark cell record .not readable JSON"):
        load_records(tmp_path)
    with pytest.raises(FileNotFoundError, match="no cell records"):
        (tmp_path / "x.json").unlink()
        write_report(tmp_path, tmp_path / "o", "t")
