# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""The generated bundle configs are their layers' composition (metassl_monai.bundle_configs, issue #13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metassl_monai.bundle_configs import BUNDLES, COMPOSITIONS, GENERATED_KEY, compose, compose_all, stale_files


def test_committed_generated_files_match_their_layers():
    stale = stale_files()
    assert not stale, f"edited by hand or layers changed without `python -m metassl_monai compose_configs`: {stale}"


@pytest.mark.parametrize("target", sorted(t for t in COMPOSITIONS if t.endswith(".json")))
def test_generated_file_says_so_first(target):
    text = (BUNDLES / target).read_text()
    first_key = next(iter(json.loads(text)))
    assert first_key == GENERATED_KEY and "compose_configs" in json.loads(text)[GENERATED_KEY]


def _hand_edited() -> dict[str, int]:
    files = [p for p in BUNDLES.rglob("configs/*") if str(p.relative_to(BUNDLES)) not in COMPOSITIONS]
    files += list((BUNDLES / "_layers").rglob("*.*"))
    return {str(p.relative_to(BUNDLES)): len(p.read_text().splitlines()) for p in files}


def test_no_hand_edited_config_over_400_lines():
    long = {name: n for name, n in _hand_edited().items() if n > 400}
    assert not long, long


def test_hand_edited_config_lines_within_budget():
    """Issue #13: at most 2,500 hand-edited config lines in all (the four flat bundles held 5,666)."""
    lines = _hand_edited()
    assert "_layers/train.json" in lines and "metassl_acdc/configs/train_cpu.json" in lines  # the scan sees them
    assert "metassl_acdc/configs/train.json" not in lines  # generated
    assert sum(lines.values()) <= 2500, sum(lines.values())


def _write(root: Path, name: str, content) -> None:
    (root / name).parent.mkdir(parents=True, exist_ok=True)
    (root / name).write_text(json.dumps(content))


@pytest.mark.parametrize(
    "layers,expected",
    [
        # a plain key replaces, "+" extends a list or a dict, "a#b" goes inside an item of an earlier layer
        ([{"a": 1, "l": [1]}, {"a": 2, "+l": [2]}], {"a": 2, "l": [1, 2]}),
        ([{"d": {"x": 1, "y": [0, 1]}}, {"d#y#1": 5, "+d": {"z": 3}}], {"d": {"x": 1, "y": [0, 5], "z": 3}}),
        # overlay keys: kept as written when no earlier layer has their first part, merged into one that has
        ([{"train#h": [1], "train#s": {"k": 1}}, {"train#s#k": 2, "+train#h": [2]}],
         {"train#h": [1, 2], "train#s": {"k": 2}}),
        ([{"x": 1}, {"+train#handlers": [3]}], {"x": 1, "+train#handlers": [3]}),
    ],
)
def test_compose_merges_like_monai(layers, expected, tmp_path):
    for i, layer in enumerate(layers):
        _write(tmp_path, f"{i}.json", layer)
    assert compose([f"{i}.json" for i in range(len(layers))], root=tmp_path) == expected


def test_compose_names_the_layer_and_key_that_cannot_merge(tmp_path):
    _write(tmp_path, "a.json", {"d": {"x": 1}})
    _write(tmp_path, "b.json", {"d#nope#x": 1})
    with pytest.raises(KeyError, match=r"b\.json: key 'd#nope#x' names 'nope'"):
        compose(["a.json", "b.json"], root=tmp_path)


def test_check_mode_reports_a_hand_edit_and_writing_repairs_it(tmp_path, monkeypatch):
    import metassl_monai.bundle_configs as bc

    _write(tmp_path, "base.json", {"a": 1})
    _write(tmp_path, "layer.json", {"b": 2})
    monkeypatch.setattr(bc, "COMPOSITIONS", {"out/configs/train.json": ("base.json", "layer.json")})
    assert compose_all(tmp_path) == ["out/configs/train.json"]
    assert json.loads((tmp_path / "out/configs/train.json").read_text()) == {
        GENERATED_KEY: json.loads((tmp_path / "out/configs/train.json").read_text())[GENERATED_KEY], "a": 1, "b": 2}
    assert compose_all(tmp_path, check=True) == []
    (tmp_path / "out/configs/train.json").write_text('{"a": 3}')
    with pytest.raises(SystemExit, match="out/configs/train.json"):
        compose_all(tmp_path, check=True)
    assert compose_all(tmp_path) == ["out/configs/train.json"] and not bc.stale_files(tmp_path)
