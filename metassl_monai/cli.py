# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Command line of metassl_monai (``python -m metassl_monai <command> --help``):

- ``demo``: synthesise a small ACDC-like dataset, train the metassl_acdc bundle on it (CPU friendly), evaluate,
  and write metrics.json, per-case CSVs and PNG overlays;
- ``synth``: only write the synthetic ACDC-like dataset (SSL4MIS layout);
- ``to_nifti``: write h5 volumes of the SSL4MIS layout as NIfTI, in the orientation of the ACDC NIfTI files;
- ``to_datalist``: write an SSL4MIS-layout ACDC dataset as NIfTI volumes and a MONAI datalist JSON (``--datalist``);
- ``synth_la``: write a synthetic left-atrium dataset in the UA-MT h5 format;
- ``convert_la``: convert the raw 2018 LA challenge release (``<case>/lgemri.nrrd``, ``laendo.nrrd``) to UA-MT h5;
- ``la_to_nifti``: write UA-MT h5 cases as NIfTI (the input of the metassl_la inference config);
- ``demo_la``: the ``demo`` of the 3D metassl_la bundle on synthetic left-atrium volumes;
- ``datalist``: write a MONAI datalist JSON (labeled / unlabeled / validation) from NIfTI folders, for ``--datalist``;
- ``qc_ranking``: how well the qgssl bundles' predicted quality (``*_quality.json``) ranks cases by their true Dice;
- ``export``: write a self-contained, zoo-style copy of a bundle (vendored ``scripts/``, no metassl_monai needed);
- ``bench``: what the MetaSSL / QG-SSL machinery costs next to the network, as ratios with their goals
  (``docs/performance.md``);
- ``benchmark run|report|status|ship``: the accuracy benchmark of a grid file (``benchmarks/acdc.yaml``): every cell
  trained and evaluated through its bundle, resumable, and its report (``docs/benchmarks/``).

Bad input (a missing or existing file, a grid or bundle the checks refuse, a flag that is not true/false) ends the
command with one line ``metassl_monai: error: ...`` naming the file or key and exit status 2, not a traceback;
``METASSL_MONAI_TRACEBACK=1`` shows the traceback too. Any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import sys
import time
from pathlib import Path

import fire

__all__ = ["demo", "demo_la", "synth", "to_nifti", "to_datalist", "synth_la", "convert_la", "la_to_nifti", "datalist",
           "qc_ranking", "export", "bench", "benchmark_run", "benchmark_report", "benchmark_status", "benchmark_ship", "main"]

_REPO_BUNDLES = Path(__file__).resolve().parents[1] / "bundles"


def _bundle_dir(bundle: str | None, name: str) -> Path:
    path = Path(bundle) if bundle else _REPO_BUNDLES / name
    if not (path / "configs" / "train.json").is_file():
        raise FileNotFoundError(
            f"bundle not found: {path} has no configs/train.json. Run from a checkout of metassl-monai "
            "(pip install -e .) or pass --bundle PATH_TO/bundles/" + name
        )
    return path


def synth(output_dir: str = "demo_data", n_train_patients: int = 10, n_val_patients: int = 3, size: int = 64,
          seed: int = 0, overwrite: bool = False) -> str:
    """Write a synthetic ACDC-like dataset (SSL4MIS layout) to ``output_dir``; refuses to overwrite unless asked."""
    from metassl_monai.data import make_acdc_like_dataset

    root = make_acdc_like_dataset(output_dir, n_train_patients=n_train_patients, n_val_patients=n_val_patients,
                                  size=(size, size), seed=seed, overwrite=overwrite)
    print(f"synthetic ACDC-like dataset written to {root}")
    return str(root)


def to_nifti(dataset_dir: str, output_dir: str, list_name: str = "val.list", labels: bool = True) -> list[str]:
    """Write the volumes named in ``dataset_dir/list_name`` as NIfTI (``<name>.nii.gz``, ``<name>_gt.nii.gz``)."""
    from metassl_monai.data import read_list, write_nifti_volumes

    names = read_list(dataset_dir, list_name)
    paths = write_nifti_volumes(Path(dataset_dir) / "data", output_dir, names=names, with_labels=labels)
    print(f"{len(paths)} NIfTI volume(s) written to {output_dir}")
    return [str(p) for p in paths]


def to_datalist(dataset_dir: str, output_dir: str, labeled_patients: int = 7, overwrite: bool = False) -> str:
    """
    Write an SSL4MIS-layout ACDC dataset as NIfTI volumes (``output_dir/nifti``) and a MONAI datalist JSON
    (``output_dir/datalist.json``: the first ``labeled_patients`` patients labeled, the other training volumes
    unlabeled, ``val.list`` validating), the input of ``--datalist``.
    """
    from metassl_monai.data import write_acdc_datalist

    path = write_acdc_datalist(dataset_dir, output_dir, labeled_patients=labeled_patients, overwrite=overwrite)
    print(f"wrote {path} and the NIfTI volumes in {Path(output_dir) / 'nifti'}; train with --datalist {path}")
    return str(path)


def synth_la(output_dir: str = "demo_data_la", n_cases: int = 10, n_test: int = 2, size: int = 48, depth: int = 24,
             seed: int = 0, overwrite: bool = False) -> str:
    """Write a synthetic LA dataset in the UA-MT format (``2018LA_Seg_Training Set/<case>/mri_norm2.h5`` + lists)."""
    from metassl_monai.data import write_uamt_la_dataset

    root = write_uamt_la_dataset(output_dir, n_cases=n_cases, n_test=n_test, shape=(size, size, depth), seed=seed,
                                 overwrite=overwrite)
    print(f"synthetic UA-MT LA dataset written to {root}")
    return str(root)


def convert_la(raw_dir: str, output_dir: str, crop_z: bool = False, normalize: str = "volume",
               overwrite: bool = False) -> list[str]:
    """
    Convert the raw LA challenge release to the UA-MT h5 format (crop around the atrium with a margin, z-score).
    The defaults reproduce UA-MT's preprocessing; nothing existing is overwritten unless ``--overwrite``.
    """
    from metassl_monai.data import convert_raw_la_to_uamt

    paths = convert_raw_la_to_uamt(raw_dir, output_dir, crop_z=crop_z, normalize=normalize, overwrite=overwrite)
    print(f"{len(paths)} case(s) converted to {output_dir}")
    return [str(p) for p in paths]


def la_to_nifti(dataset_dir: str, output_dir: str, list_name: str = "test.list", labels: bool = True,
                overwrite: bool = False) -> list[str]:
    """Write the UA-MT cases of ``dataset_dir/list_name`` as ``<case>.nii.gz`` (+ ``<case>_gt.nii.gz``) in output_dir."""
    from metassl_monai.data import write_uamt_as_nifti

    paths = write_uamt_as_nifti(dataset_dir, output_dir, list_name=list_name, with_labels=labels, overwrite=overwrite)
    print(f"{len(paths)} NIfTI file(s) written to {output_dir}")
    return [str(p) for p in paths]


def demo(output_dir: str = "demo_output", iterations: int = 300, framework: str = "mean_teacher",
         ssl_loss: str = "metassl", bundle: str | None = None, size: int = 64, seed: int = 0) -> dict:
    """
    End-to-end demo on synthetic data, no download: writes ``output_dir/data`` (dataset in the SSL4MIS layout, and the
    same data as ``nifti/`` + ``datalist.json``, the ``--datalist`` example), ``output_dir/train``
    (TensorBoard logs, checkpoints, best ``model.pt``) and ``output_dir/eval`` (``metrics.json``, per-case CSVs,
    ``overlays/*.png``). ``framework``: supervised | mean_teacher | cps; ``ssl_loss``: metassl | metassl_exp |
    softmax_mse | pseudo_label_ce | none. Refuses to reuse an ``output_dir/train`` that already holds a model.
    """
    from monai.bundle import run

    from metassl_monai.data import make_acdc_like_dataset, write_acdc_datalist

    bundle_dir = _bundle_dir(bundle, "metassl_acdc")
    out = Path(output_dir).resolve()
    train_dir, eval_dir, data_dir = out / "train", out / "eval", out / "data"
    if (train_dir / "model.pt").exists():
        raise FileExistsError(f"{train_dir / 'model.pt'} exists: choose another --output_dir (nothing was changed).")
    if not (data_dir / "train_slices.list").exists():
        make_acdc_like_dataset(data_dir, n_train_patients=10, n_val_patients=3, size=(size, size), seed=seed)
    if not (data_dir / "datalist.json").exists():  # the same data as NIfTI + datalist: the README's worked example
        write_acdc_datalist(data_dir, data_dir, labeled_patients=2)
    configs = [str(bundle_dir / "configs" / f) for f in ("train.json", "train_cpu.json")]
    common = dict(bundle_root=str(bundle_dir), dataset_dir=str(data_dir), patch_size=[size, size],
                  labeled_patients=2, seed=seed, num_workers=0)
    start = time.time()
    print(f"[demo] training {framework} + {ssl_loss} for {iterations} iterations on {data_dir}")
    run("training", config_file=configs, output_dir=str(train_dir), num_iterations=int(iterations),
        val_interval=max(1, int(iterations) // 5), framework=f"@frameworks#{framework}",
        ssl_loss=f"@ssl_losses#{ssl_loss}", **common)
    train_seconds = time.time() - start
    print("[demo] evaluating the best checkpoint on the validation volumes")
    run("evaluating", config_file=configs + [str(bundle_dir / "configs" / "evaluate.json")],
        output_dir=str(eval_dir), ckpt_path=str(train_dir / "model.pt"), **common)
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    overlays = sorted(str(p) for p in (eval_dir / "overlays").glob("*.png"))
    per_class = ", ".join(f"{k} {v:.4f}" for k, v in metrics["mean_dice_per_class"].items())
    print(f"[demo] trained in {train_seconds:.0f} s. Validation: mean Dice {metrics['mean_dice']:.4f} ({per_class}), "
          f"HD95 {metrics['hd95']:.2f} and ASD {metrics['asd']:.2f} in voxels, over {metrics['num_cases']} volumes. "
          "The model is the checkpoint of the best validation Dice on these same volumes (optimistic: a held-out "
          "test set is scored with --datalist of another JSON).")
    print(f"[demo] metrics: {eval_dir / 'metrics.json'}; overlays: {len(overlays)} PNG in {eval_dir / 'overlays'}; "
          f"the same data as NIfTI + datalist: {data_dir / 'datalist.json'}")
    return {"metrics": str(eval_dir / "metrics.json"), "mean_dice": metrics["mean_dice"], "overlays": overlays}


def demo_la(output_dir: str = "demo_output_la", iterations: int = 150, framework: str = "mean_teacher",
            ssl_loss: str = "metassl", bundle: str | None = None, size: int = 64, depth: int = 48,
            patch: tuple = (48, 48, 32), seed: int = 0) -> dict:
    """
    End-to-end demo of the 3D metassl_la bundle on synthetic left-atrium volumes (UA-MT format, 12 cases: 2
    labeled, 6 unlabeled, 2 validation, 2 test), at the bundle's CPU setting: writes ``output_dir/data``,
    ``output_dir/train`` (TensorBoard logs, checkpoints, best ``model.pt``) and ``output_dir/eval`` (``metrics.json``,
    per-case CSVs, overlays). Refuses to reuse an ``output_dir/train`` that already holds a model.
    """
    from monai.bundle import run

    from metassl_monai.data import write_uamt_la_dataset

    bundle_dir = _bundle_dir(bundle, "metassl_la")
    out = Path(output_dir).resolve()
    train_dir, eval_dir, data_dir = out / "train", out / "eval", out / "data"
    if (train_dir / "model.pt").exists():
        raise FileExistsError(f"{train_dir / 'model.pt'} exists: choose another --output_dir (nothing was changed).")
    if not (data_dir / "train.list").exists():
        write_uamt_la_dataset(data_dir, n_cases=12, n_test=2, shape=(size, size, depth), seed=seed)
    configs = [str(bundle_dir / "configs" / f) for f in ("train.json", "train_cpu.json")]
    common = dict(bundle_root=str(bundle_dir), dataset_dir=str(data_dir), patch_size=[int(p) for p in patch],
                  seed=seed, num_workers=0)
    start = time.time()
    print(f"[demo_la] training {framework} + {ssl_loss} for {iterations} iterations on {data_dir}")
    run("training", config_file=configs, output_dir=str(train_dir), num_iterations=int(iterations),
        val_interval=max(1, int(iterations) // 3), labeled_cases=2, val_cases=2,
        framework=f"@frameworks#{framework}", ssl_loss=f"@ssl_losses#{ssl_loss}", **common)
    train_seconds = time.time() - start
    print("[demo_la] evaluating the best checkpoint on test.list")
    run("evaluating", config_file=configs + [str(bundle_dir / "configs" / "evaluate.json")],
        output_dir=str(eval_dir), ckpt_path=str(train_dir / "model.pt"), **common)
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    print(f"[demo_la] trained in {train_seconds:.0f} s; test Dice {metrics['mean_dice']:.4f}, "
          f"HD95 {metrics['hd95']:.2f} voxels, ASD {metrics['asd']:.2f} voxels")
    print(f"[demo_la] metrics: {eval_dir / 'metrics.json'}")
    return {"metrics": str(eval_dir / "metrics.json"), "mean_dice": metrics["mean_dice"], "train_seconds": train_seconds}


def datalist(images_dir: str, output: str, labels_dir: str | None = None, labeled: str | float | None = None,
             val_fraction: float = 0.2, unlabeled_dir: str | None = None, seed: int | None = None,
             overwrite: bool = False) -> str:
    """
    Write a MONAI datalist JSON (``training`` / ``unlabeled`` / ``validation``) from NIfTI folders, for
    ``--datalist`` of every bundle. Images pair with labels by case name (``a`` ↔ ``a`` in ``--labels_dir``,
    ``a_0000`` ↔ ``a`` as nnU-Net, ``a`` ↔ ``a_gt`` beside it); unpaired images and ``--unlabeled_dir`` are unlabeled;
    the last ``--val_fraction`` of the pairs validate (``--seed``: shuffled first); ``--labeled`` keeps the labels of
    a fraction (``0.1``) or of named cases (``"a,b,c"``) of the others, the rest become unlabeled (default: all).
    """
    from metassl_monai.data import write_datalist

    if isinstance(labeled, str):
        try:
            labeled = float(labeled)
        except ValueError:
            labeled = [name.strip() for name in labeled.split(",") if name.strip()]
    elif isinstance(labeled, tuple):  # fire reads a,b,c as a tuple
        labeled = [str(name) for name in labeled]
    content = write_datalist(images_dir, output, labels_dir=labels_dir, labeled=labeled, val_fraction=val_fraction,
                             unlabeled_dir=unlabeled_dir, seed=seed, overwrite=overwrite)
    print(f"wrote {output}: {len(content['training'])} labeled, {len(content['unlabeled'])} unlabeled, "
          f"{len(content['validation'])} validation image(s); train with --datalist {output}")
    return str(output)


def qc_ranking(quality_dir: str, dice_csv: str, output: str | None = None) -> dict:
    """
    Spearman / Pearson / MAE between the predicted mean Dice of ``quality_dir/*_quality.json`` (qgssl inference) and
    the true per-case mean Dice of ``dice_csv`` (an evaluation's ``mean_dice_raw.csv``); ``--output`` saves the JSON.
    """
    from metassl_monai.quality import qc_ranking as _qc_ranking

    result = _qc_ranking(quality_dir, dice_csv, output=output)
    print(f"{result['n']} cases: Spearman {result['spearman']}, Pearson {result['pearson']}, MAE {result['mae']:.3f}")
    return {k: v for k, v in result.items() if k != "cases"}


def export(bundle: str, output: str) -> str:
    """
    Write ``bundle`` (a name in ``bundles/``, e.g. metassl_acdc, or a bundle folder) as a self-contained MONAI Model
    Zoo style bundle to ``output`` (a new or empty folder, or a new ``.zip``): the package code its configs use is
    vendored under ``scripts/`` and the configs point at it, so it runs with only monai, torch, pytorch-ignite and
    nibabel installed (``docs/export.md`` of the export lists what each workflow needs besides).
    """
    from metassl_monai.export import export_bundle

    result = export_bundle(bundle, output)
    print(f"exported {bundle} to {result.output}: {len(result.vendored)} vendored file(s) under scripts/")
    for config, packages in result.packages_by_config.items():
        if packages:
            print(f"  configs/{config} also needs: {', '.join(packages)}")
    return str(result.output)


def compose_configs(check: bool = False) -> list[str]:
    """
    Write the bundles' generated config files from their layers (``bundles/_layers`` and the MetaSSL bundles'
    hand-edited configs; see :mod:`metassl_monai.bundle_configs`). ``--check``: write nothing, fail when one is stale.
    """
    from metassl_monai.bundle_configs import compose_all

    changed = compose_all(check=check)
    print("up to date" if not changed else "wrote " + ", ".join(changed))
    return changed


def bench(output: str | None = None, device: str = "auto", quick: bool = False, only: str | None = None,
          dataset_dir: str | None = None, markdown: str | None = None) -> None:
    """
    Measure what the MetaSSL / QG-SSL machinery costs next to the network; prints each figure with its goal.

    ``--only`` picks benchmarks (comma-separated: losses, trainer, quality, memory, data, inference; default all);
    ``--device`` cuda | cpu | auto; ``--quick`` tiny shapes and few repeats (a smoke test, not a measurement);
    ``--dataset_dir`` a real ACDC dataset (SSL4MIS layout) for the trainer and data benchmarks (default: synthetic);
    ``--output`` a new JSON file for the results, ``--markdown`` a new Markdown table of them (existing files are
    refused).
    """
    from metassl_monai.bench import run_benchmarks

    result = run_benchmarks(only=only, device=device, quick=quick, dataset_dir=dataset_dir, output=output,
                            markdown=markdown)
    missed = [m["name"] for m in result["measurements"] if m["passed"] is False]
    print(f"{len(result['measurements'])} figure(s) in {result['seconds']:.0f} s; "
          + (f"{len(missed)} missed their goal: {', '.join(missed)}" if missed else "no goal missed"))


def benchmark_run(grid: str, dataset_dir: str, out: str | None = None, cells: str | None = None, parallel: int = 1,
                  report: str | None = None, progress_seconds: float = 60.0,
                  threads: int | None = None, hours: float | None = None) -> dict:
    """
    Run (or continue) the cells of a benchmark grid file (``benchmarks/acdc.yaml``) on ``dataset_dir``: each through
    its bundle's ``training`` and ``evaluating`` workflows (every command is printed), ``--parallel`` cells side by
    side with the CPU threads split between them. Finished cells are skipped, interrupted ones resume from their last
    checkpoint: repeat the same command after a kill. ``--out`` (default ``runs/benchmark/<grid name>``) holds the
    runs, logs and ``records/``; ``--cells`` picks cells or methods (comma-separated); ``--report DIR`` rewrites the
    report there after the run; ``--threads`` the CPU threads to split (default all); ``--hours H`` starts only the
    cells that the records of the cells already run say end within H hours (for a machine that is handed back at a
    fixed time, where a cell still running then would lose its training; a kind never recorded is timed like the method
    its grid names in ``timed_like``, and left without one).
    Exits with status 1 when a cell failed.
    """
    from metassl_monai.benchmark import load_grid, run_grid, write_report

    hours = _positive_number("hours", hours)
    loaded = load_grid(grid)
    out_dir = Path(out or Path("runs") / "benchmark" / loaded.name)
    result = run_grid(loaded, dataset_dir, out_dir, cells=loaded.select(cells), parallel=parallel,
                      progress_seconds=progress_seconds, threads=threads, hours=hours)
    if report and list((out_dir / "records").glob("*.json")):
        paths = write_report(out_dir / "records", report, loaded.name, grid=loaded)
        print(f"report: {paths['markdown']}")
    if result["failed"]:
        raise SystemExit(1)
    return result


def benchmark_report(grid: str, records: str | None = None, dest: str = "docs/benchmarks") -> dict:
    """
    Regenerate a grid's report from its cells' records alone (default ``runs/benchmark/<grid name>/records``):
    ``DEST/<name>.md``, ``DEST/<name>.csv`` and the PNG plots.
    """
    from metassl_monai.benchmark import load_grid, write_report

    loaded = load_grid(grid)
    paths = write_report(records or Path("runs") / "benchmark" / loaded.name / "records", dest, loaded.name,
                         grid=loaded)
    print("wrote " + ", ".join(paths.values()))
    return paths


def benchmark_status(grid: str, out: str | None = None) -> dict:
    """Each cell of a grid: done, running (a runner works on it now), trained (evaluation missing), interrupted
    (resumes) or pending."""
    from metassl_monai.benchmark import grid_status, load_grid

    loaded = load_grid(grid)
    status = grid_status(loaded, out or Path("runs") / "benchmark" / loaded.name)
    for name, state in status.items():
        print(f"{name:32s} {state}")
    counts = {s: list(status.values()).count(s) for s in ("done", "running", "trained", "interrupted", "pending")}
    print(", ".join(f"{n} {s}" for s, n in counts.items()))
    return counts


def benchmark_ship(grid: str, labeled: int, records: str | None = None, cells_dir: str | None = None,
                   bundles: str | None = None, seed: int | None = None, dry_run: bool = False) -> list[dict]:
    """
    Ship each bundle's benchmark winner at ``--labeled`` patients: the method with the highest mean validation Dice
    over seeds (among those run on the most seeds), its cell of the bundle's default seed (or ``--seed``) copied to
    ``models/model.pt`` with ``docs/validation_metrics.json``, ``docs/shipped_model.json`` and the metadata's
    ``eval_metrics``. ``--records`` default ``runs/benchmark/<grid name>/records``, ``--cells_dir`` the runs
    (default ``runs/benchmark/<grid name>/cells``), ``--bundles`` comma-separated (default: the grid's bundles that
    ship a model), ``--dry_run`` ranks and checks only.
    """
    from metassl_monai.benchmark import load_grid
    from metassl_monai.benchmark.ship import ship

    loaded = load_grid(grid)
    base = Path("runs") / "benchmark" / loaded.name
    plans = ship(loaded, records or base / "records", cells_dir or base / "cells", labeled,
                 bundles=[b.strip() for b in bundles.split(",")] if bundles else None, seed=seed, dry_run=dry_run)
    for plan in plans:
        print(f"{plan['bundle']} ({plan['labeled']} labeled): mean best-val model Dice over seeds")
        for r in plan["ranking"]:
            spread = f" ± {r['std']:.4f}" if r["std"] is not None else ""
            print(f"  {'*' if r is plan['winner'] else ' '} {r['method']:20s} {r['mean']:.4f}{spread}  seeds "
                  f"{r['seeds']}" + ("" if r["eligible"] else "  (fewer seeds: not compared)"))
        print(f"  ships {plan['record']['cell']} (best iteration {plan['record']['best']['iteration']}) from "
              f"{plan['source']}")
        if not plan["default_training"]:
            d = plan["bundle_defaults"]
            print(f"  note: the bundle's default training is {d['framework']} + {d['ssl_loss']}, the shipped model "
                  f"{plan['record']['framework']} + {plan['record']['ssl_loss']}: change the default or give the "
                  "command in the docs")
        print("  " + ("dry run: nothing written" if dry_run else "wrote " + ", ".join(plan["written"])))
    return plans


_TRUE, _FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


class FlagError(ValueError):
    """A command-line flag with a value its command cannot take."""


def is_input_error(error: BaseException) -> bool:
    """Whether ``error`` reports bad input rather than a bug: a file that is missing or already there, or any error
    class of this package (``GridError``, ``ShipError``, ``ExportError``, :class:`FlagError`, ...), all of which name
    the file or key at fault."""
    return isinstance(error, (FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError)) or \
        type(error).__module__.split(".")[0] == "metassl_monai"


def _positive_number(name: str, value) -> float | None:
    """``--name``'s value as a positive float (None stays None), or a :class:`FlagError` naming the flag."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise FlagError(f"--{name} takes a positive number, got {value}")
    return number


def _with_bool_flags(command):
    """``command`` with its ``bool`` parameters parsed as flags. fire passes ``--overwrite false`` on as the string
    ``"false"``, which is truthy (it would overwrite); here true/false/yes/no/on/off/1/0 in any case become bools and
    any other value is refused, naming the flag."""
    signature = inspect.signature(command)
    flags = [name for name, p in signature.parameters.items() if p.annotation in (bool, "bool")]

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name in flags:
            value = bound.arguments.get(name)
            if isinstance(value, (str, int)) and not isinstance(value, bool):
                text = str(value).strip().lower()
                if text not in _TRUE | _FALSE:
                    raise FlagError(f"--{name} takes true or false, got {value!r}")
                bound.arguments[name] = text in _TRUE
        return command(*bound.args, **bound.kwargs)

    return wrapper


def _summary_printed(command):
    """``command`` for the command line: it prints its own summary, so fire gets nothing to print again (the demo's
    metrics were printed twice, the second time with every digit)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        command(*args, **kwargs)

    return wrapper


COMMANDS = {name: _with_bool_flags(command) for name, command in {
    "demo": _summary_printed(demo), "demo_la": _summary_printed(demo_la), "synth": synth, "to_nifti": to_nifti,
    "to_datalist": to_datalist, "synth_la": synth_la,
    "convert_la": convert_la, "la_to_nifti": la_to_nifti, "datalist": datalist, "qc_ranking": qc_ranking,
    "export": export,
    "compose_configs": compose_configs, "bench": bench}.items()}
COMMANDS["benchmark"] = {name: _with_bool_flags(_summary_printed(command)) for name, command in {
    "run": benchmark_run, "report": benchmark_report, "status": benchmark_status, "ship": benchmark_ship}.items()}


def main(argv: list[str] | None = None) -> None:
    """``python -m metassl_monai COMMAND ...`` (``argv``: the arguments, default ``sys.argv[1:]``). Bad input
    (:func:`is_input_error`) exits with status 2 and one line on stderr."""
    try:
        fire.Fire(COMMANDS, command=argv, name="metassl_monai")
    except Exception as error:  # noqa: BLE001 - only input errors are turned into a message, the rest re-raised
        if not is_input_error(error) or os.environ.get("METASSL_MONAI_TRACEBACK"):
            raise
        print(f"metassl_monai: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
