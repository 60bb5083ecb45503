# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The command line (`python -m metassl_monai <command>`, fire) as a user runs it: the same fire command line in this
process (``run_cli`` of tests/bundle_runner.py), and once as a real ``python -m metassl_monai`` process (the entry
point and its exit status).
"""

from __future__ import annotations

import h5py
import nibabel as nib
import numpy as np
import pytest
from bundle_runner import run_cli

from metassl_monai.data import write_raw_la_dataset, write_uamt_la_dataset
from metassl_monai.data.la import uamt_case_path


def test_synth_la_writes_the_uamt_layout_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "LA"
    proc = run_cli("synth_la", str(out), "--n_cases", "4", "--n_test", "1", "--size", "32", "--depth", "16")
    assert "written to" in proc.stdout
    train = (out / "train.list").read_text().split()
    assert len(train) == 3 and len((out / "test.list").read_text().split()) == 1
    with h5py.File(uamt_case_path(out, train[0]), "r") as f:
        assert f["image"].shape == (32, 32, 16)
    before = (out / "train.list").read_text()
    # a real `python -m metassl_monai` process: the entry point runs the command and a refusal exits non-zero
    proc = run_cli("synth_la", str(out), "--n_cases", "4", "--n_test", "1", check=False, subprocess=True)
    assert proc.returncode != 0 and "overwrite" in proc.stdout + proc.stderr
    assert (out / "train.list").read_text() == before


def test_convert_la_then_la_to_nifti_keeps_the_spacing(tmp_path):
    raw = write_raw_la_dataset(tmp_path / "raw", n_cases=2, shape=(40, 40, 20), spacing=(0.625, 0.625, 2.5))
    out = tmp_path / "LA"
    proc = run_cli("convert_la", str(raw), str(out))
    assert "2 case(s) converted" in proc.stdout
    cases = sorted(p.name for p in raw.iterdir() if p.is_dir())
    (out / "test.list").write_text("\n".join(cases) + "\n")
    run_cli("la_to_nifti", str(out), str(tmp_path / "nii"))
    for case in cases:
        image = nib.load(tmp_path / "nii" / f"{case}.nii.gz")
        label = nib.load(tmp_path / "nii" / f"{case}_gt.nii.gz")
        assert image.header.get_zooms() == pytest.approx((0.625, 0.625, 2.5))
        with h5py.File(uamt_case_path(out, case), "r") as f:
            np.testing.assert_array_equal(np.asarray(image.dataobj), f["image"][()])
            np.testing.assert_array_equal(np.asarray(label.dataobj), f["label"][()])
    # a second run refuses to overwrite and names the file
    proc = run_cli("la_to_nifti", str(out), str(tmp_path / "nii"), check=False)
    assert proc.returncode != 0 and f"{cases[0]}.nii.gz" in proc.stdout + proc.stderr


def test_la_to_nifti_without_spacing_uses_identity_and_can_skip_labels(tmp_path):
    root = write_uamt_la_dataset(tmp_path / "LA", n_cases=3, n_test=1, shape=(32, 32, 16))
    run_cli("la_to_nifti", str(root), str(tmp_path / "nii"), "--labels", "False")
    files = sorted(p.name for p in (tmp_path / "nii").iterdir())
    case = (root / "test.list").read_text().split()[0]
    assert files == [f"{case}.nii.gz"]
    np.testing.assert_allclose(nib.load(tmp_path / "nii" / files[0]).affine, np.eye(4))


@pytest.mark.parametrize("command, model_dir", [("demo", "train"), ("demo_la", "train")])
def test_demos_refuse_an_output_dir_that_holds_a_model(tmp_path, command, model_dir):
    model = tmp_path / model_dir / "model.pt"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"user weights")
    proc = run_cli(command, "--output_dir", str(tmp_path), check=False)
    assert proc.returncode != 0 and "model.pt exists" in proc.stdout + proc.stderr
    assert model.read_bytes() == b"user weights"
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("value, written", [("false", False), ("FALSE", False), ("no", False), ("0", False),
                                            ("true", True), ("True", True), ("yes", True)])
def test_bool_flags_take_true_or_false_in_any_case(tmp_path, value, written):
    """fire hands `--labels false` on as the string "false" (truthy): the CLI parses it as a flag."""
    root = write_uamt_la_dataset(tmp_path / "LA", n_cases=3, n_test=1, shape=(16, 16, 8))
    run_cli("la_to_nifti", str(root), str(tmp_path / "nii"), "--labels", value)
    case = (root / "test.list").read_text().split()[0]
    assert (tmp_path / "nii" / f"{case}.nii.gz").is_file()
    assert (tmp_path / "nii" / f"{case}_gt.nii.gz").is_file() is written


def test_overwrite_false_does_not_overwrite_and_a_bad_flag_is_refused(tmp_path):
    out = tmp_path / "LA"
    run_cli("synth_la", str(out), "--n_cases", "3", "--n_test", "1", "--size", "16", "--depth", "8")
    before = (out / "train.list").read_text()
    proc = run_cli("synth_la", str(out), "--n_cases", "4", "--n_test", "1", "--overwrite", "false", check=False)
    assert proc.returncode != 0 and "overwrite" in proc.stdout + proc.stderr
    assert (out / "train.list").read_text() == before
    proc = run_cli("synth_la", str(out), "--overwrite", "maybe", check=False)
    assert proc.returncode == 2 and proc.stderr == "metassl_monai: error: --overwrite takes true or false, got 'maybe'\n"
    assert (out / "train.list").read_text() == before


@pytest.mark.parametrize("labeled, kept", [("b,c", ["b", "c"]), ("0.5", ["a", "b"]), (None, ["a", "b", "c"])])
def test_datalist_command(tmp_path, labeled, kept):
    import json

    for case in "abcd":
        for folder in ("img", "lab"):
            (tmp_path / folder).mkdir(exist_ok=True)
            nib.save(nib.Nifti1Image(np.zeros((4, 4, 2), np.float32), np.eye(4)), str(tmp_path / folder / f"{case}.nii.gz"))
    args = ["datalist", str(tmp_path / "img"), str(tmp_path / "dl.json"), "--labels_dir", str(tmp_path / "lab"),
            "--val_fraction", "0.25"] + (["--labeled", labeled] if labeled else [])
    proc = run_cli(*args)
    content = json.loads((tmp_path / "dl.json").read_text())
    assert [it["label"].split("/")[-1][:1] for it in content["training"]] == kept
    assert [it["image"].split("/")[-1][:1] for it in content["validation"]] == ["d"]
    assert f"{len(kept)} labeled, {3 - len(kept)} unlabeled, 1 validation image(s)" in proc.stdout  # 0.5 of 3: 2
    again = run_cli(*args, check=False)  # an existing JSON is never overwritten
    assert again.returncode != 0 and "dl.json exists" in again.stderr


def test_to_datalist_command(acdc_dataset, tmp_path):
    proc = run_cli("to_datalist", str(acdc_dataset), str(tmp_path / "out"), "--labeled_patients", "1")
    assert (tmp_path / "out" / "datalist.json").is_file() and "train with --datalist" in proc.stdout


BAD_GRID = "name: g\niterations: 3\nmethods:\n  s: {bundle: metassl_acdc, framework: supervised, ssl_loss: none}\n" \
           "groups:\n  - {labeled: 1, seeds: [1], methods: [s]}\n"
GOOD_GRID = BAD_GRID.replace("iterations: 3\n", "")


@pytest.mark.parametrize("args, message", [
    (["benchmark", "status", "{tmp}/absent.yaml"], "absent.yaml"),
    (["benchmark", "status", "{tmp}/bad.yaml"], "bad.yaml: unknown key(s) ['iterations']"),
    (["benchmark", "report", "{tmp}/good.yaml", "--records", "{tmp}/no_records"], "no_records"),
    (["benchmark", "ship", "{tmp}/good.yaml", "--labeled", "1", "--records", "{tmp}/no_records", "--dry_run", "true"],
     "no benchmark record of bundle 'metassl_acdc' with 1 labeled"),
    (["benchmark", "ship", "{tmp}/good.yaml", "--labeled", "1", "--dry_run", "perhaps"],
     "--dry_run takes true or false, got 'perhaps'"),
    (["benchmark", "run", "{tmp}/good.yaml", "--dataset_dir", "{tmp}", "--hours", "0"],
     "--hours takes a positive number, got 0"),
    (["bench", "--device", "tpu"], "--device must be 'auto', 'cpu' or 'cuda', got 'tpu'."),
    (["bench", "--only", "losses,nope"], "--only: unknown benchmark(s) ['nope']"),
])
def test_bad_input_is_one_line_and_exit_status_2(tmp_path, monkeypatch, args, message):
    """The user's mistakes end in one line naming the file or key, not a traceback (METASSL_MONAI_TRACEBACK=1 shows
    it). In this process: the entry point's own handling (a child process per case took 9 s of interpreter start)."""
    (tmp_path / "bad.yaml").write_text(BAD_GRID)
    (tmp_path / "good.yaml").write_text(GOOD_GRID)
    (tmp_path / "no_records").mkdir()
    args = [a.format(tmp=tmp_path) for a in args]
    proc = run_cli(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("metassl_monai: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    monkeypatch.setenv("METASSL_MONAI_TRACEBACK", "1")
    shown = run_cli(*args, check=False)
    assert shown.returncode == 1 and "Traceback" in shown.stderr and message in shown.stderr


@pytest.mark.parametrize("error, expected", [
    (FileNotFoundError("x"), True), (FileExistsError("x"), True), (ValueError("x"), False),
    (RuntimeError("x"), False), (KeyError("x"), False),
])
def test_only_input_errors_lose_their_traceback(error, expected):
    from metassl_monai.benchmark.grid import GridError
    from metassl_monai.benchmark.ship import ShipError
    from metassl_monai.cli import FlagError, is_input_error
    from metassl_monai.export import ExportError

    assert is_input_error(error) is expected
    assert all(is_input_error(cls("x")) for cls in (GridError, ShipError, ExportError, FlagError))


def test_benchmark_status_prints_its_table_once(tmp_path):
    """The benchmark commands print their own summary; fire does not print the returned value again."""
    (tmp_path / "good.yaml").write_text(GOOD_GRID)
    proc = run_cli("benchmark", "status", str(tmp_path / "good.yaml"), "--out", str(tmp_path / "out"))
    assert proc.stdout == f"{'s_1l_s1':32s} pending\n0 done, 0 running, 0 trained, 0 interrupted, 1 pending\n"
