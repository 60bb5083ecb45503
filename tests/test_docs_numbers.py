# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Numbers in the docs come from files: each documented figure below is the committed metrics file it reports, formatted
as the doc prints it. A doc edited without its source (or a source re-measured without the doc) fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_ROW = "| **{mean_dice:.4f}** | {RV:.4f} | {MYO:.4f} | {LV:.4f} | {mean_jaccard:.4f} | {hd95:.2f} | {asd:.2f} |"
SHIPPED_ROW_PLAIN = "| {mean_dice_bold} | {RV:.4f} | {MYO:.4f} | {LV:.4f} | {mean_jaccard:.4f} | {hd95:.2f} | {asd:.2f} |"
FLOOR_ROW = "| **{mean_dice:.4f}** | {RV:.3f} | {MYO:.3f} | {LV:.3f} | – | {hd95:.1f} | – |"
METASSL = "bundles/metassl_acdc/docs/validation_metrics.json"
QGSSL = "bundles/qgssl_acdc/docs/validation_metrics.json"
FLOOR = "docs/results/supervised_floor/ssl4misunet128.metrics.json"
FLOOR_6000 = "docs/results/supervised_floor/ssl4misunet128_6000.metrics.json"
DEMO = "docs/results/demo/metrics.json"
BENCH_DOC = "docs/benchmarks/README.md"
BENCH = "docs/benchmarks/acdc_records/{}.json#last"  # a benchmark cell's last-iteration evaluation

#: (doc, template filled from the source file's values, source file)
DOCUMENTED = [
    ("bundles/metassl_acdc/docs/README.md", "(shipped `models/model.pt`)** " + SHIPPED_ROW, METASSL),
    ("bundles/metassl_acdc/docs/README.md", "`ssl4misunet128`) " + FLOOR_ROW, FLOOR),
    ("bundles/qgssl_acdc/docs/README.md", "(metassl_acdc's shipped model) " + SHIPPED_ROW, METASSL),
    ("bundles/qgssl_acdc/docs/README.md", "(shipped `models/model.pt`)** " + SHIPPED_ROW, QGSSL),
    ("bundles/qgssl_acdc/docs/README.md", "`ssl4misunet128`) " + FLOOR_ROW, FLOOR),
    ("bundles/metassl_acdc/configs/metadata.json", '"mean_dice": {mean_dice:.4f},', METASSL),
    ("bundles/qgssl_acdc/configs/metadata.json", '"mean_dice": {mean_dice:.4f},', QGSSL),
    ("bundles/metassl_acdc/docs/README.md", "`SSL4MISUNet` reaches {mean_dice:.3f} (same CPU", FLOOR),
    ("bundles/metassl_acdc/docs/README.md", "| 3 000 → 6 000 iterations | 0.721 → **{mean_dice:.3f}** |", FLOOR_6000),
    ("bundles/metassl_acdc/docs/README.md", "supervised floor reaches validation Dice {mean_dice:.3f}** "
     "(`ssl4misunet128_6000`: RV {RV:.3f}, MYO {MYO:.3f}, LV {LV:.3f};", FLOOR_6000),
    ("docs/results/supervised_floor/README.md", "Dice **{mean_dice:.3f}** at iteration 4 750 (evaluated `model.pt`: "
     "RV {RV:.3f}, MYO {MYO:.3f}, LV {LV:.3f}, HD95 {hd95:.1f} voxels;", FLOOR_6000),
    ("README.md", "mean Dice {mean_dice:.3f} (RV {RV:.3f}, MYO {MYO:.3f}, LV {LV:.3f}) over the {num_cases} synthetic "
     "validation volumes, HD95\n{hd95:.2f} voxels", DEMO),
    (BENCH_DOC, "  MT {mean_dice:.3f}, ", BENCH.format("mt_7l_s1337")),
    (BENCH_DOC, "MT 0.720, {mean_dice:.3f} and", BENCH.format("mt_7l_s1338")),
    (BENCH_DOC, "0.687 and {mean_dice:.3f} (seeds 1337, 1338, 1339),", BENCH.format("mt_7l_s1339")),
    (BENCH_DOC, "  CPS {mean_dice:.3f}, supervised-only", BENCH.format("cps_7l_s1337")),
    (BENCH_DOC, "CPS preset) reaches {mean_dice:.3f} against", BENCH.format("cps_metassl_7l_s1337")),
    (BENCH_DOC, "against CPS's {mean_dice:.3f} on the same seed", BENCH.format("cps_7l_s1337")),
    (BENCH_DOC, "(mean HD95 {hd95:.1f} vs", BENCH.format("cps_metassl_7l_s1337")),
    (BENCH_DOC, " vs {hd95:.1f}). Before", BENCH.format("cps_7l_s1337")),
    ("bundles/metassl_acdc/docs/README.md", "CPS + MetaSSL reaches {mean_dice:.3f} against plain",
     BENCH.format("cps_metassl_7l_s1337")),
    ("bundles/metassl_acdc/docs/README.md", "against plain CPS's {mean_dice:.3f} on seed 1337",
     BENCH.format("cps_7l_s1337")),
    (BENCH_DOC, "supervised-only {mean_dice:.3f}, ", BENCH.format("supervised_7l_s1337")),
    (BENCH_DOC, "supervised-only 0.698, {mean_dice:.3f} and", BENCH.format("supervised_7l_s1338")),
    (BENCH_DOC, "0.707 and {mean_dice:.3f} (seeds 1337, 1338,", BENCH.format("supervised_7l_s1339")),
    (BENCH_DOC, "MT + MetaSSL reaches {mean_dice:.3f} against", BENCH.format("mt_metassl_7l_s1337")),
    (BENCH_DOC, "against MT's {mean_dice:.3f} on seed 1337", BENCH.format("mt_7l_s1337")),
    (BENCH_DOC, "on seed 1337, {mean_dice:.3f} against", BENCH.format("mt_metassl_7l_s1338")),
    (BENCH_DOC, "against {mean_dice:.3f} on seed 1338 and", BENCH.format("mt_7l_s1338")),
    (BENCH_DOC, "seed 1338 and {mean_dice:.3f}\n  against", BENCH.format("mt_metassl_7l_s1339")),
    (BENCH_DOC, "against {mean_dice:.3f} on seed 1339**", BENCH.format("mt_7l_s1339")),
]


def values(source: str) -> dict[str, float]:
    """The flat values a template may name: the metrics of an evaluation's metrics.json, classes by name
    (``record.json#last`` / ``#best``: those of a benchmark cell record's last-iteration / best-validation model)."""
    path, _, which = source.partition("#")
    m = json.loads((REPO / path).read_text())
    if which:
        m = m[which]["metrics"]
    return {**{k: v for k, v in m.items() if isinstance(v, (int, float))}, **m["mean_dice_per_class"]}


@pytest.mark.parametrize("doc, template, source", DOCUMENTED, ids=[f"{d}:{s}" for d, _, s in DOCUMENTED])
def test_documented_number_is_its_source(doc, template, source):
    expected = template.format(**values(source))
    text = (REPO / doc).read_text()
    assert expected in text, f"{doc} should say {expected!r} (from {source})"


def test_the_check_fails_on_another_value():
    source = values(METASSL)
    changed = {**source, "mean_dice": source["mean_dice"] + 0.001}
    text = (REPO / "bundles/metassl_acdc/docs/README.md").read_text()
    assert SHIPPED_ROW.format(**changed) not in text


def test_benchmark_traces_in_the_docs_are_the_records():
    """The loss composition, the region fractions, the RV HD95 and the seed spread the benchmark notes quote, computed
    from the cells' records as the report computes them."""
    from metassl_monai.benchmark.report import (
        load_records, loss_composition, paired, region_fractions, seed_spread, summarize,
    )

    records = load_records(REPO / "docs/benchmarks/acdc_records")
    cells = {r["cell"]: r for r in records}
    text = (REPO / BENCH_DOC).read_text()
    parts = loss_composition(cells["mt_metassl_7l_s1337"])
    expected = "λ · labeled {labeled:.2f}, λ · unlabeled {unlabeled:.2f}, supervised {supervised:.2f}".format(**parts)
    assert expected in text, f"{BENCH_DOC} should say {expected!r}"
    cps = loss_composition(cells["cps_metassl_7l_s1337"])
    assert f": {100 * cps['labeled'] / sum(cps.values()):.0f} % labeled term." in text
    # the RV HD95 of CPS + MetaSSL against CPS, and the seed spread and the gains in spreads of "How sure"
    hd95 = {c: cells[c]["last"]["metrics"]["hd95_per_class"]["RV"] for c in ("cps_metassl_7l_s1337", "cps_7l_s1337")}
    assert f"RV HD95 is {hd95['cps_metassl_7l_s1337']:.1f} voxels\n  against CPS's {hd95['cps_7l_s1337']:.1f}" in text
    assert f"MT + MetaSSL is {seed_spread(records, 7):.3f} (last" in text
    pairs = {p["method"]: p for p in paired(records)}
    assert f"gains are {pairs['mt_metassl']['last_in_spreads']:.1f} and {pairs['cps_metassl']['last_in_spreads']:.1f} " \
           "spreads" in text
    mean, std = pairs["mt_metassl"]["last_mean_std"]
    low, high = pairs["mt_metassl"]["last_ci95"]
    interval = f"{low:+.3f} to {high:+.3f}".replace("-", "−")
    assert f"mean gain +{mean:.3f} ± {std:.3f} (last iteration), and its 95 % paired-t interval\n  is {interval}: it " \
           "excludes 0" in text and low > 0
    # the per-class gains of MT + MetaSSL over MT on the three seeds
    seeds = (1337, 1338, 1339)
    gain = {s: {k: v - cells[f"mt_7l_s{s}"]["last"]["metrics"]["mean_dice_per_class"][k] for k, v in
                cells[f"mt_metassl_7l_s{s}"]["last"]["metrics"]["mean_dice_per_class"].items()} for s in seeds}
    assert ", ".join(f"{k} {gain[1337][k]:+.3f}, {gain[1338][k]:+.3f} and {gain[1339][k]:+.3f}"
                     for k in ("RV", "MYO", "LV")) + ": the gain" in text.replace("\n  ", " ")
    assert "+{:.3f}, +{:.3f} and +{:.3f}; RV".format(*pairs["mt_metassl"]["last"]) in text
    share = {s: (lambda c: f"{100 * c['labeled'] / sum(c.values()):.0f}")(loss_composition(cells[f"mt_metassl_7l_s{s}"]))
             for s in (1338, 1339)}
    assert f"seeds 1338 and 1339 alike: {share[1338]} % and {share[1339]} % labeled term" in text
    (row,) = [r for r in summarize(records) if r["method"] == "mt_metassl" and r["labeled"] == 7]
    (mt,) = [r for r in summarize(records) if r["method"] == "mt" and r["labeled"] == 7]
    assert f"MT + MetaSSL over its three seeds: {row['last'][0]:.3f} ± {row['last'][1]:.3f}; MT over the same seeds: " \
           f"{mt['last'][0]:.3f} ± {mt['last'][1]:.3f}." in text.replace("\n  ", " ")
    regions = region_fractions(cells["mt_metassl_7l_s1337"])["unlabeled_0"]
    expected = "UC {fraction_UC:.3f}, US {fraction_US:.3f}, DC {fraction_DC:.3f}, DS {fraction_DS:.3f}.".format(**regions)
    assert expected in text, f"{BENCH_DOC} should say {expected!r}"


QP = "docs/results/quality_predictor_ssl4misunet/{}_predictor.{}.json"
QP_ROW = ("| {mae_all:.3f} | {sp_all:.3f} | {mae_syn:.3f} | {sp_syn:.3f} | {mae_real:.3f} | {sp_real:.3f} | "
          "{qc_sp:.3f} | {qc_pearson:.3f} | {qc_mae:.3f} |")


@pytest.mark.parametrize("predictor", ["shipped", "retrained"])
def test_quality_predictor_comparison_is_its_reports(predictor):
    """The retrained-predictor table and the bundle's sentence about it quote the committed evaluation reports."""
    m = json.loads((REPO / QP.format(predictor, "quality_metrics")).read_text())
    qc = json.loads((REPO / QP.format(predictor, "qc_ranking")).read_text())
    row = QP_ROW.format(mae_all=m["all"]["mae"], sp_all=m["all"]["spearman"], mae_syn=m["synthetic"]["mae"],
                        sp_syn=m["synthetic"]["spearman"], mae_real=m["real"]["mae"], sp_real=m["real"]["spearman"],
                        qc_sp=qc["spearman"], qc_pearson=qc["pearson"], qc_mae=qc["mae"])
    assert row in (REPO / "docs/results/quality_predictor_ssl4misunet/README.md").read_text()
    text = (REPO / "bundles/qgssl_acdc/docs/README.md").read_text()
    if predictor == "retrained":
        assert f"(Spearman {m['real']['spearman']:.3f} vs" in text and f"(Spearman {qc['spearman']:.3f} vs" in text
        assert f"MAE {m['real']['mae']:.3f} vs" in text and f"MAE {qc['mae']:.3f} vs" in text
    else:
        assert f"vs {m['real']['spearman']:.3f}, MAE" in text and f"vs {qc['spearman']:.3f}; MAE" in text
        assert f"vs {qc['mae']:.3f})" in text
        assert f"**Spearman {qc['spearman']:.3f}**" in text  # the QC paragraph above it: the same shipped pair
