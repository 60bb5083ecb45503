# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The benchmark grid file: cells, commands, and a clear error naming the file and entry for each bad grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from metassl_monai.benchmark import GridError, load_grid
from metassl_monai.benchmark.grid import cli_args

REPO = Path(__file__).resolve().parents[2]

GOOD = """
name: g
overrides: {patch_size: [32, 32], num_iterations: 4}
methods:
  sup: {bundle: metassl_acdc, framework: supervised, ssl_loss: none}
  mt_metassl: {bundle: metassl_acdc, framework: mean_teacher, ssl_loss: metassl, baseline: sup,
               evaluate_overrides: {network_def: "@two_decoder_network_def"}}
groups:
  - {labeled: 7, seeds: [1, 2], methods: [sup, mt_metassl]}
  - {labeled: 3, seeds: [1], methods: [mt_metassl]}
"""


def write(tmp_path: Path, text: str, name: str = "grid.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_cells_in_group_order_with_their_names(tmp_path):
    grid = load_grid(write(tmp_path, GOOD))
    # seed-major within a group: every method of seed 1 before seed 2
    assert [c.name for c in grid.cells] == ["sup_7l_s1", "mt_metassl_7l_s1", "sup_7l_s2", "mt_metassl_7l_s2",
                                            "mt_metassl_3l_s1"]
    assert grid.methods["mt_metassl"].baseline == "sup"
    assert grid.config_files(grid.methods["sup"]) == [str(REPO / "bundles/metassl_acdc/configs/train.json"),
                                                      str(REPO / "bundles/metassl_acdc/configs/train_cpu.json")]
    assert grid.config_files(grid.methods["sup"], evaluate=True)[-1].endswith("configs/evaluate.json")
    assert [c.name for c in grid.select("mt_metassl_3l_s1,sup")] == ["sup_7l_s1", "sup_7l_s2", "mt_metassl_3l_s1"]
    with pytest.raises(GridError, match="no cell or method named \\['nope'\\]"):
        grid.select("nope")


def test_the_committed_acdc_grid_loads():
    grid = load_grid(REPO / "benchmarks" / "acdc.yaml")
    names = [c.name for c in grid.cells]
    assert len(names) == len(set(names)) == 8 * 3 + 1 + 4 * 3 + 6
    assert {grid.methods[m].baseline for m in ("mt_metassl", "cps_metassl", "plqw_metassl")} == {
        "mt", "cps", "mt_metassl"}
    assert grid.methods["cct"].evaluate_overrides == {"network_def": "@two_decoder_network_def"}
    # the central comparison (MT / CPS, plain and MetaSSL) on its 3 seeds runs before anything else
    assert names[:15] == [f"{m}_7l_s{s}" for s in (1337, 1338, 1339)
                          for m in ("supervised", "mt", "mt_metassl", "cps", "cps_metassl")]
    # then the ablation of MetaSSL's labeled term, paired with plain MT on the first seed
    assert names[15] == "mt_metassl_labeled_only_7l_s1337" and grid.methods[
        "mt_metassl_labeled_only"].baseline == "mt"
    # every method without a recorded kind of its own is timed like one that has (benchmark run --hours)
    likes = {name: (m.timed_like.name, m.timed_like_factor) for name, m in grid.methods.items() if m.timed_like}
    assert likes == {"mt_metassl_labeled_only": ("mt_metassl", 1.0), "qar": ("mt_metassl", 1.4),
                     "plqw": ("mt_metassl", 1.4), "plqw_metassl": ("mt_metassl", 1.4), "cct": ("cps", 1.0),
                     "cct_metassl": ("cps_metassl", 1.0), "fixmatch": ("mt_metassl", 1.0),
                     "fixmatch_metassl": ("mt_metassl", 1.0), "rdrop": ("cps", 1.0), "rdrop_metassl": ("cps_metassl", 1.0)}
    rows = {(r["method"], r["labeled"]): r for r in grid.published["rows"]}
    assert rows[("supervised", 3)]["dice"] == 0.478 and rows[("supervised", 7)]["hd95"] == 9.4
    assert all(0 < r["dice"] < 1 and r["method"] in grid.methods for r in grid.published["rows"])


def test_the_committed_investigations_grid_loads_and_its_overrides_reach_the_command(tmp_path):
    from metassl_monai.benchmark.cell import CellFiles, training_command

    grid = load_grid(REPO / "benchmarks" / "acdc_investigations.yaml")
    assert [c.name for c in grid.cells] == [f"{m}_7l_s1337" for m in (
        "mt_metassl", "cps_metassl", "mt_metassl_exp", "mt_metassl_lambda001", "cps_metassl_lambda001")]
    cell = next(c for c in grid.cells if c.method.name == "cps_metassl_lambda001")
    command = training_command(grid, cell, "/data", CellFiles(tmp_path, cell), tmp_path / "h.json", resume=False)
    assert command[command.index("--consistency") + 1] == "0.01" and cell.method.baseline == "cps_metassl"


def test_json_grid_and_relative_config_paths(tmp_path):
    (tmp_path / "extra.json").write_text("{}")
    path = write(tmp_path, '{"configs": ["train.json", "./extra.json"], "methods": {"s": {"bundle": "metassl_acdc", '
                           '"framework": "supervised", "ssl_loss": "none"}}, "groups": [{"labeled": 1, "seeds": 3, '
                           '"methods": ["s"]}]}', "grid.json")
    grid = load_grid(path)
    assert grid.name == "grid" and [c.name for c in grid.cells] == ["s_1l_s3"]
    assert grid.config_files(grid.methods["s"])[1] == str(tmp_path / "extra.json")


def test_cli_args_are_what_monai_bundle_parses():
    assert cli_args({"patch_size": [32, 32], "resume": True, "network_def": "@x", "lr": 0.01}) == [
        "--patch_size", "[32,32]", "--resume", "True", "--network_def", "@x", "--lr", "0.01"]


M = "  s: {bundle: metassl_acdc, framework: supervised, ssl_loss: none}\n"
G = "groups:\n  - {labeled: 1, seeds: [1], methods: [s]}\n"
BAD = {
    "unknown_top_key": ("iterations: 3\nmethods:\n" + M + G, r"unknown key\(s\) \['iterations'\]"),
    "no_groups": ("methods:\n" + M, "'groups' is missing"),
    "unknown_bundle": ("methods:\n  s: {bundle: nope, framework: supervised, ssl_loss: none}\n" + G,
                       "bundle 'nope' not found"),
    "unknown_framework": ("methods:\n  s: {bundle: metassl_acdc, framework: mt, ssl_loss: none}\n" + G,
                          "method 's': metassl_acdc has no frameworks#mt"),
    "unknown_loss_in_bundle": ("methods:\n  s: {bundle: metassl_acdc, framework: supervised, ssl_loss: plqw}\n" + G,
                               "has no ssl_losses#plqw"),
    "missing_ssl_loss": ("methods:\n  s: {bundle: metassl_acdc, framework: supervised}\n" + G,
                         r"method 's' has no \['ssl_loss'\]"),
    "baseline_not_a_method": ("methods:\n  s: {bundle: metassl_acdc, framework: supervised, ssl_loss: none, "
                              "baseline: mt}\n" + G, "baseline 'mt', which is not a method"),
    "group_unknown_method": ("methods:\n" + M + "groups:\n  - {labeled: 1, seeds: [1], methods: [s, t]}\n",
                             r"groups\[0\] names methods \['t'\]"),
    "group_without_seeds": ("methods:\n" + M + "groups:\n  - {labeled: 1, methods: [s]}\n",
                            r"groups\[0\] has no 'seeds'"),
    "labeled_not_int": ("methods:\n" + M + "groups:\n  - {labeled: seven, seeds: [1], methods: [s]}\n",
                        "'labeled' must be a positive integer"),
    "duplicate_cells": ("methods:\n" + M + G + "  - {labeled: 1, seeds: [1], methods: [s]}\n",
                        r"cells \['s_1l_s1'\] appear in more than one group"),
    "not_yaml": ("methods: [unclosed\n", "is not valid YAML"),
    "published_without_rows": ("methods:\n" + M + G + "published: {source: s, setting: t}\n",
                               "published has no 'rows'"),
    "published_unknown_method": ("methods:\n" + M + G + "published: {source: s, setting: t, rows: "
                                 "[{method: ua_mt, labeled: 7, name: UA-MT, dice: 0.817}]}\n",
                                 r"published.rows\[0\] names method 'ua_mt', which is not a method"),
    "published_dice_in_percent": ("methods:\n" + M + G + "published: {source: s, setting: t, rows: "
                                  "[{method: s, labeled: 7, name: U-Net, dice: 79.4}]}\n",
                                  r"published.rows\[0\]: 'dice' must be a number in \[0, 1\] \(a fraction, not %\)"),
    "published_row_without_dice": ("methods:\n" + M + G + "published: {source: s, setting: t, rows: "
                                   "[{method: s, labeled: 7, name: U-Net}]}\n",
                                   r"published.rows\[0\] has no \['dice'\]"),
    "not_a_mapping": ("- 1\n- 2\n", "must be a mapping"),
    "timed_like_unknown": ("methods:\n  s: {bundle: metassl_acdc, framework: supervised, ssl_loss: none, "
                           "timed_like: mt}\n" + G, "method 's': timed_like names 'mt', which is not another method"),
    "timed_like_itself": ("methods:\n  s: {bundle: metassl_acdc, framework: supervised, ssl_loss: none, "
                          "timed_like: s}\n" + G, "timed_like names 's', which is not another method"),
    "timed_like_bad_factor": ("methods:\n" + M + "  t: {bundle: metassl_acdc, framework: supervised, ssl_loss: none, "
                              "timed_like: {method: s, factor: 0}}\n" + G, "timed_like: factor must be a positive"),
    "timed_like_unknown_key": ("methods:\n" + M + "  t: {bundle: metassl_acdc, framework: supervised, ssl_loss: "
                               "none, timed_like: {method: s, slower: 2}}\n" + G,
                               "timed_like must be a method name or"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_grid_names_file_and_entry(tmp_path, case):
    text, message = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(GridError, match=message) as raised:
        load_grid(path)
    assert str(path) in str(raised.value)


def test_missing_grid_file(tmp_path):
    with pytest.raises(GridError, match="grid file not found: .*absent.yaml"):
        load_grid(tmp_path / "absent.yaml")
