# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
``python -m metassl_monai bench``: what the MetaSSL / QG-SSL machinery costs next to the network, as ratios measured
side by side in one process, each printed with its goal (``docs/performance.md`` holds the table).

One module per question, each with ``run(device, quick, dataset_dir) -> list[Measurement]``:

- :mod:`~metassl_monai.bench.losses`: the consistency losses' forward + backward against a plain cross-entropy to the
  pseudo-label on the same tensors (2D and 3D, with and without per-image weights);
- :mod:`~metassl_monai.bench.trainer`: one training iteration of the bundle (its trainer and default handlers)
  against a hand-written PyTorch loop doing the same work, per framework;
- :mod:`~metassl_monai.bench.quality`: the quality predictor's share of a QAR / PL-QW training step;
- :mod:`~metassl_monai.bench.memory`: peak memory of a training step with and without the MetaSSL / QG losses;
- :mod:`~metassl_monai.bench.data`: images/s the loaders deliver against images/s a training step consumes;
- :mod:`~metassl_monai.bench.inference`: the bundles' slice-wise (2D) and sliding-window (3D) inference against a
  plain MONAI ``SliceInferer`` / ``SlidingWindowInferer`` call.

The hand-written reference code lives here, not in the library.
"""

from __future__ import annotations

import importlib
import json
import platform
import time
from pathlib import Path

import torch

from metassl_monai.bench.common import Measurement, progress
from metassl_monai.host import cpu_model

__all__ = ["BENCHMARKS", "run_benchmarks", "machine_info", "markdown_table", "Measurement", "BenchArgumentError"]


class BenchArgumentError(ValueError):
    """An unknown benchmark name or device (the command line prints it as one line)."""

#: the benchmark modules, in the order they run
BENCHMARKS = ("losses", "trainer", "quality", "memory", "data", "inference")


def machine_info(device: torch.device) -> dict:
    """What the figures were measured on (they are only comparable on the same machine)."""
    import monai

    info = {
        "device": str(device),
        "platform": platform.platform(),
        "processor": cpu_model() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "monai": monai.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_count"] = torch.cuda.device_count()
    try:
        import subprocess

        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip() or None
    except OSError:
        info["git_commit"] = None
    return info


def run_benchmarks(
    only: str | list[str] | tuple[str, ...] | None = None,
    device: str = "auto",
    quick: bool = False,
    dataset_dir: str | None = None,
    output: str | None = None,
    markdown: str | None = None,
) -> dict:
    """
    Run the benchmarks named in ``only`` (default: all of :data:`BENCHMARKS`) and return
    ``{"machine": ..., "settings": ..., "measurements": [...]}``, also written as JSON to ``output`` when given.

    Args:
        only: names from :data:`BENCHMARKS`, a list or a comma-separated string.
        device: ``"cuda"``, ``"cpu"`` or ``"auto"`` (CUDA when available).
        quick: tiny shapes and few repeats (tests, CI): checks the benchmarks run, the figures mean little.
        dataset_dir: a real ACDC dataset (SSL4MIS layout) for the benchmarks that read data (trainer, data); without
            it they generate a synthetic one in a temporary folder.
        output: JSON path; refused when it exists (nothing is overwritten).
        markdown: also write :func:`markdown_table` of the result there (refused when it exists).

    Raises:
        BenchArgumentError: an unknown benchmark name or device.
        FileExistsError: ``output`` exists.
    """
    names = _names(only)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise BenchArgumentError(f"--device must be 'auto', 'cpu' or 'cuda', got {device!r}.")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise BenchArgumentError(f"--device {device!r} was asked for but torch.cuda.is_available() is False.")
    for path, flag in ((output, "--output"), (markdown, "--markdown")):
        if path is not None and Path(path).exists():
            raise FileExistsError(f"{path} exists: choose another {flag} (nothing was changed).")
    if dataset_dir is not None and not Path(dataset_dir).is_dir():
        raise FileNotFoundError(f"dataset_dir {dataset_dir} is not a folder.")
    dev = torch.device(device)
    result: dict = {
        "machine": machine_info(dev),
        "settings": {"only": list(names), "quick": bool(quick), "dataset_dir": dataset_dir},
        "measurements": [],
    }
    start = time.time()
    for name in names:
        progress(f"{name} ...")
        t0 = time.time()
        module = importlib.import_module(f"metassl_monai.bench.{name}")
        measured = module.run(device=dev, quick=quick, dataset_dir=dataset_dir)
        for m in measured:
            print(m.line(), flush=True)
        result["measurements"] += [m.as_dict() for m in measured]
        progress(f"{name} done in {time.time() - t0:.0f} s")
    result["seconds"] = round(time.time() - start, 1)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(json.dumps(result, indent=2) + "\n")
        progress(f"written to {output}")
    if markdown is not None:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(markdown_table(result))
        progress(f"table written to {markdown}")
    return result


def _names(only) -> tuple[str, ...]:
    if only is None or only == "" or only == "all":
        return BENCHMARKS
    names = [n.strip() for n in (only.split(",") if isinstance(only, str) else only) if str(n).strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise BenchArgumentError(f"--only: unknown benchmark(s) {unknown}: choose from {list(BENCHMARKS)}.")
    return tuple(names)


def markdown_table(result: dict) -> str:
    """The measurements of a :func:`run_benchmarks` result as a Markdown table (figure, value, goal, verdict)."""
    machine = result.get("machine", {})
    lines = [
        f"Measured on {machine.get('device', '?')} ({machine.get('processor', '?')}, {machine.get('cpu_threads', '?')} "
        f"threads{', ' + machine['gpu'] if machine.get('gpu') else ''}), torch {machine.get('torch', '?')}, "
        f"MONAI {machine.get('monai', '?')}, commit {machine.get('git_commit') or '?'}, {machine.get('date', '?')}; "
        f"settings {result.get('settings', {})}.",
        "",
        "| figure | value | goal | met |",
        "|---|---|---|---|",
    ]
    for m in result.get("measurements", []):
        goal = "" if m.get("goal") is None else ("≥ " if m.get("higher_is_better") else "≤ ") + f"{m['goal']:g}"
        met = {True: "yes", False: "**no**", None: ""}[m.get("passed")]
        unit = m.get("unit", "")
        lines.append(f"| `{m['name']}` | {m['value']:.4g}{unit} | {goal}{unit if goal else ''} | {met} |")
    return "\n".join(lines) + "\n"
