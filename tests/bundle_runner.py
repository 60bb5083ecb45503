# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
The shared way the tests run a bundle or the package's command line (issue #13: the bundle test files that still
carry their own subprocess helper move onto it next).

``run_bundle("run", "training", "--config_file", ...)`` is ``python -m monai.bundle run training --config_file ...``:
the same arguments, parsed by the same ``fire`` command line. By default it runs **in this process** (no interpreter
start, no re-import of torch and MONAI: seconds per run); ``subprocess=True`` runs a real ``python -m monai.bundle``
where the process itself is what is tested (its exit status, a kill, a clean environment, torchrun).

Both return a :class:`subprocess.CompletedProcess` (``returncode``, ``stdout``, ``stderr``). An in-process run that
raises returns code 1 with the traceback in ``stderr``, as the interpreter would print it; ``check=True`` (the default)
fails the test with the output's tail instead.

An in-process run is isolated from the next one: ``sys.path`` and ``sys.modules`` (a bundle's ``scripts`` package),
the working directory, logging (``run`` applies the bundle's ``logging.conf`` to the root logger), torch's thread
count and the environment are restored afterwards.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import subprocess as _subprocess
import sys
import traceback
import warnings
from pathlib import Path
from typing import Iterator, Sequence

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
BUNDLES = REPO / "bundles"
REAL_ACDC = REPO.parent / "shared" / "data" / "ACDC"
SUBPROCESS_ENV = {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}

# tiny settings of the synthetic datasets in conftest.py (2D: 32 x 32 slices; 3D: LA_SHAPE volumes). The 3D ones are
# the smallest VNet takes (16 per side: 4 halvings): a VNet iteration of 32 x 32 x 16 patches took seconds on a CI core,
# and the 3D tests were a third of the suite
ACDC_TINY = ["--patch_size", "[32,32]", "--batch_size", "2", "--unlabeled_batch_size", "2", "--labeled_patients", "1"]
LA_SHAPE = (32, 32, 16)  # conftest.py's la_dataset
LA_PATCH = "[16,16,16]"
LA_TINY = ["--patch_size", LA_PATCH, "--batch_size", "2", "--unlabeled_batch_size", "2", "--labeled_cases", "2",
           "--val_cases", "2"]


def bundle_root(bundle: str) -> Path:
    return BUNDLES / bundle


def configs(bundle: str, *names: str | Path) -> list[str]:
    """Paths of ``bundle``'s config files: ``names`` (file names in its configs/ folder, or paths of extra files);
    train.json + train_cpu.json when none is given."""
    names = names or ("train.json", "train_cpu.json")
    folder = BUNDLES / bundle / "configs"
    return [str(n) if Path(n).is_absolute() else str(folder / n) for n in names]


def config_list(files: Sequence[str | Path]) -> str:
    """``--config_file`` value for several files: MONAI merges them in order."""
    return "[" + ",".join(f"'{f}'" for f in files) + "]"


def training_args(bundle: str, dataset: Path | str, output_dir: Path | str, *extra: str,
                  config_files: Sequence[str | Path] = ()) -> list[str]:
    """``run training`` of ``bundle`` on CPU (train.json + train_cpu.json + ``config_files``) on ``dataset``."""
    return ["run", "training", "--config_file", config_list(configs(bundle, "train.json", "train_cpu.json",
                                                                     *config_files)),
            "--bundle_root", str(bundle_root(bundle)), "--dataset_dir", str(dataset), "--output_dir", str(output_dir),
            *extra]


def config_parser(bundle: str, *names: str | Path, **overrides):
    """A ``monai.bundle.ConfigParser`` of ``bundle``'s ``names`` (default: train.json + train_cpu.json) with its
    bundle_root and ``overrides`` (config ids, ``#`` written ``__``) set, as ``--key value`` would: to resolve single
    items without running anything."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(configs(bundle, *names))
    parser["bundle_root"] = str(bundle_root(bundle))
    for key, value in overrides.items():
        parser[key.replace("__", "#")] = value
    return parser


def item_with_target(parser, path: str, target: str) -> str:
    """The config id of the entry of list ``path`` whose ``_target_`` ends with ``target``."""
    ids = [f"{path}#{i}" for i, item in enumerate(parser[path])
           if isinstance(item, dict) and str(item.get("_target_", "")).endswith(target)]
    assert len(ids) == 1, f"{len(ids)} entries of {path} with _target_ {target}"
    return ids[0]


def _fail_message(what: str, proc: _subprocess.CompletedProcess) -> str:
    return f"{what} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"


class _CurrentStream:
    """Writes to whatever ``sys.stdout`` / ``sys.stderr`` is now (the run's redirected output during a run)."""

    def __init__(self, name: str):
        self.name = name

    def write(self, text: str) -> int:
        return getattr(sys, self.name).write(text)

    def flush(self) -> None:
        getattr(sys, self.name).flush()


@contextlib.contextmanager
def _isolated(threads: int) -> Iterator[None]:
    import torch

    path, modules, cwd, environ = list(sys.path), set(sys.modules), os.getcwd(), dict(os.environ)
    num_threads = torch.get_num_threads()
    manager = logging.Logger.manager
    loggers = {name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
               for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root = logging.getLogger()
    root_state = (root.handlers[:], root.level)
    # loggers made at import time (MONAI's get_logger: monai.bundle.scripts, ...) hold the sys.stdout of then: during
    # the run they write to the run's stdout / stderr, as in a child process
    standard = {id(getattr(sys, f)): n for n in ("stdout", "stderr") for f in (n, f"__{n}__")}
    streams = [(h, h.stream) for lg in [root, *map(manager.loggerDict.get, loggers)] for h in lg.handlers
               if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
               and id(h.stream) in standard]
    for h, stream in streams:
        h.stream = _CurrentStream(standard[id(stream)])
    torch.set_num_threads(threads)
    try:
        with warnings.catch_warnings():  # as SUBPROCESS_ENV's PYTHONWARNINGS=ignore
            warnings.simplefilter("ignore")
            yield
    finally:
        for h, stream in streams:
            h.stream = stream
        torch.set_num_threads(num_threads)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(environ)
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name == "scripts" or name.startswith("scripts."):  # an exported bundle's own package
                del sys.modules[name]
        root.handlers[:], root.level = root_state
        for name, lg in list(manager.loggerDict.items()):
            if not isinstance(lg, logging.Logger):
                continue
            if name in loggers:
                lg.handlers[:], lg.level, lg.propagate, lg.disabled = loggers[name]
            else:  # created by the run (e.g. ignite.engine.SemiSupervisedTrainer): drop its stream handlers
                lg.handlers[:] = []
        gc.collect()


def _in_process(module: str, args: Sequence[str], threads: int) -> _subprocess.CompletedProcess:
    if module == "monai.bundle":
        import fire
        import monai.bundle.__main__ as entry

        component = {k: v for k, v in vars(entry).items() if callable(v) and not k.startswith("_")}

        def run() -> None:
            fire.Fire(component, command=list(args), name=module)
    elif module == "metassl_monai":
        from metassl_monai.cli import main

        def run() -> None:  # the entry point itself: its handling of bad input included
            main(list(args))
    else:
        raise ValueError(f"no in-process entry point for {module}")
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with _isolated(threads), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run()
        except SystemExit as e:  # fire's usage errors, or a sys.exit in the program
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if e.code not in (None, 0) and not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
        except Exception:  # what `python -m ...` would print before exiting with status 1
            code = 1
            traceback.print_exc()
    return _subprocess.CompletedProcess([module, *args], code, out.getvalue(), err.getvalue())


def run_module(module: str, *args: str | Path, check: bool = True, subprocess: bool = False, threads: int = 1,
               timeout: int = 900, env: dict | None = None, cwd: Path | str | None = None,
               python: Path | str | None = None) -> _subprocess.CompletedProcess:
    """``python -m module ARGS`` in this process (default) or, with ``subprocess=True`` (or another ``python``,
    ``env`` or ``cwd``), in a child process with ``threads`` OpenMP threads and warnings off."""
    args = [str(a) for a in args]
    if subprocess or python is not None or env is not None or cwd is not None:
        full_env = {**os.environ, **SUBPROCESS_ENV, "OMP_NUM_THREADS": str(threads), **(env or {})}  # later wins
        proc = _subprocess.run([str(python or sys.executable), "-m", module, *args], capture_output=True, text=True,
                               timeout=timeout, env=full_env, cwd=cwd)
    else:
        proc = _in_process(module, args, threads)
    if check and proc.returncode != 0:
        pytest.fail(_fail_message(f"{module} {' '.join(args[:2])}", proc))
    return proc


def run_bundle(*args: str | Path, **kwargs) -> _subprocess.CompletedProcess:
    """``python -m monai.bundle ARGS`` (see :func:`run_module` for the keyword arguments)."""
    return run_module("monai.bundle", *args, **kwargs)


def run_cli(*args: str | Path, **kwargs) -> _subprocess.CompletedProcess:
    """``python -m metassl_monai ARGS``, the package's command line."""
    return run_module("metassl_monai", *args, **kwargs)


class TerminateAfter:
    """A trainer handler for a test's config (``{"_target_": "bundle_runner.TerminateAfter", "iterations": K}`` in a
    handler list): ends the run after iteration ``K``, every handler of that iteration run, with the schedule (poly
    learning rate, ramp-ups) of the configured ``num_iterations``: its first K iterations are bit for bit those of the
    full run, at a fraction of its time. In-process runs only (this module is on the tests' ``sys.path``)."""

    def __init__(self, iterations: int):
        self.iterations = int(iterations)

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED(once=self.iterations), lambda e: e.terminate())


def tensors(obj, prefix: str = "", numbers: bool = False) -> dict:
    """Every tensor in a (nested) checkpoint, by path (``/key/0/...``); with ``numbers``, ints and floats too (as
    float64 tensors: e.g. Python's random state, the iteration)."""
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return {prefix: torch.tensor(obj, dtype=torch.float64)} if numbers and isinstance(obj, (int, float)) else {}
    return {k: v for key, value in items for k, v in tensors(value, f"{prefix}/{key}", numbers).items()}
