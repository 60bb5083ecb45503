# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""FailedInputsReport: the report file, the one summary and the exit status of an inference over a folder."""

from __future__ import annotations

import json

import pytest
from ignite.engine import Engine
from monai.data import DataLoader, Dataset

from metassl_monai.data import SkipFailedItems
from metassl_monai.handlers import FailedInputsReport


def load(d: dict) -> dict:
    if "bad" in d["image"]:
        raise OSError(f"cannot read {d['image']}")
    return d


def run(tmp_path, names: list[str]) -> FailedInputsReport:
    data = SkipFailedItems(Dataset([{"image": f"/in/{n}"} for n in names], load))
    report = FailedInputsReport(data, tmp_path / "out")
    engine = Engine(lambda e, batch: None)
    report.attach(engine)
    engine.run(DataLoader(data, batch_size=1, num_workers=0))
    return report


def test_nothing_failed_nothing_written_exit_is_a_no_op(tmp_path):
    report = run(tmp_path, ["a.nii.gz", "b.nii.gz"])
    assert report.summary() == "" and not report.path.exists()
    report.exit_if_any()  # returns


def test_failures_give_one_summary_a_report_and_exit_status_1(tmp_path):
    report = run(tmp_path, ["a.nii.gz", "bad1.nii.gz", "c.nii.gz", "bad2.nii.gz"])
    out = tmp_path / "out"
    assert report.summary() == (
        f"2 of 4 input(s) failed; no mask was written for them (the other 2 mask(s) are in {out}):\n"
        "  /in/bad1.nii.gz: OSError: cannot read /in/bad1.nii.gz\n"
        "  /in/bad2.nii.gz: OSError: cannot read /in/bad2.nii.gz\n"
        f"The list is in {out / 'failed_inputs.json'}.")
    assert json.loads(report.path.read_text()) == {
        "attempted": 4, "written": 2,
        "failed": [{"file": "/in/bad1.nii.gz", "reason": "OSError: cannot read /in/bad1.nii.gz"},
                   {"file": "/in/bad2.nii.gz", "reason": "OSError: cannot read /in/bad2.nii.gz"}]}
    with pytest.raises(SystemExit) as e:
        report.exit_if_any()
    assert e.value.code == report.summary()  # the interpreter prints it on stderr and exits with status 1


def test_all_failed(tmp_path):
    report = run(tmp_path, ["bad.nii.gz"])
    assert report.summary().startswith("1 of 1 input(s) failed; no mask was written for them (no mask was written "
                                       "at all):")


def test_start_removes_the_previous_report_and_killed_writes_only(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name in ["failed_inputs.json", ".p1_seg.nii.gz.abc123.partial.nii.gz", "p0_seg.nii.gz", "notes.txt"]:
        (out / name).write_text("old")
    report = run(tmp_path, ["a.nii.gz"])
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "p0_seg.nii.gz"]
    assert report.summary() == ""


def test_refuses_another_dataset(tmp_path):
    with pytest.raises(TypeError, match="SkipFailedItems dataset, got Dataset"):
        FailedInputsReport(Dataset([]), tmp_path)
