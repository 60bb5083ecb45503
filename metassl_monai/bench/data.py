# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Does the data pipeline keep up? Images per second the bundle's own training loaders deliver (alone) against images per
second its training step consumes, at the bundle's CPU setting and at its GPU default.

Everything comes from the bundle's configs, resolved with :class:`monai.bundle.ConfigParser` as ``monai.bundle run
training`` resolves them (``train.json`` + ``train_cpu.json`` for the CPU setting, ``train.json`` alone for the GPU
default), with only ``dataset_dir`` / ``output_dir`` (and, on synthetic data, the labeled split) overridden:

- **loader**: ``train#dataloader`` and ``train#unlabeled_dataloader`` (``CacheDataset`` holds the deterministic part,
  the random transforms run in the loader, in its workers when ``num_workers > 0``), each wrapped in the trainer's
  :class:`~metassl_monai.engines.streams.ResumableStream` and cycled pass after pass as
  :class:`~metassl_monai.engines.SemiSupervisedTrainer` cycles them (a new pass re-starts the workers: that cost is
  in the figure). One timed call pulls ``batches`` labeled + unlabeled batch pairs; the first call (worker start,
  first prefetch) is not timed. Measured with the config's ``num_workers`` and with 0 and 2 workers, the same
  datasets (one cache) behind every variant.
- **step**: ``train#trainer`` itself (its framework, losses, optimizer, AMP flag and handlers; the periodic
  ``ValidationHandler`` removed) run for a few iterations on batches fetched beforehand and replayed
  (:class:`ReplayBatches`), so its time is the step's alone; seconds per iteration = median gap between
  ``ITERATION_COMPLETED`` events after the warm-up iterations. A ``step_seconds`` measured elsewhere (e.g. by
  :mod:`metassl_monai.bench.trainer`) can be passed instead.

Figures per setting (``acdc_cpu``, ``acdc_gpu``, ``la_cpu`` and, on CUDA, ``la_gpu``): ``data/<setting>/
loader_images_per_s`` (config's workers), ``loader_images_per_s_workers<n>``, ``step_images_per_s`` and
``loader_to_step_ratio`` (goal ≥ 1: the loader alone is faster than the step).

With ``num_workers = 0`` (the CPU settings) loading is not overlapped with the step: the training loop then runs at
``1 / (1/loader + 1/step)`` whatever the ratio; the ratio says which of the two dominates.
"""

from __future__ import annotations

import copy
import gc
import itertools
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from metassl_monai.bench.common import Measurement, interleaved, median, progress, synchronize

__all__ = ["SETTINGS", "Setting", "ReplayBatches", "bundle_parser", "loader_rate", "step_rate", "measure_setting",
           "run"]

_BUNDLES = Path(__file__).resolve().parents[2] / "bundles"


@dataclass(frozen=True)
class Setting:
    """One bundle setting: the config files (in ``bundles/<bundle>/configs``) merged in order, and its dataset kind."""

    bundle: str
    config_files: tuple[str, ...]
    dataset: str  # "acdc" (SSL4MIS layout) or "la" (UA-MT layout)
    #: overrides for the tiny ``quick`` run (config ids, values as a ``--key value`` would give them)
    quick: dict[str, Any] = field(default_factory=dict)


_ACDC_QUICK = {"patch_size": [32, 32], "batch_size": 2, "unlabeled_batch_size": 2}
_LA_QUICK = {"patch_size": [32, 32, 16], "batch_size": 1, "unlabeled_batch_size": 1}

#: the settings measured: the bundle's CPU setting (``train_cpu.json``) and its GPU default (``train.json`` alone)
SETTINGS: dict[str, Setting] = {
    "acdc_cpu": Setting("metassl_acdc", ("train.json", "train_cpu.json"), "acdc", _ACDC_QUICK),
    "acdc_gpu": Setting("metassl_acdc", ("train.json",), "acdc", _ACDC_QUICK),
    "la_cpu": Setting("metassl_la", ("train.json", "train_cpu.json"), "la", _LA_QUICK),
    "la_gpu": Setting("metassl_la", ("train.json",), "la", _LA_QUICK),
}

#: the synthetic datasets: ACDC-like ~7 patients labeled (~130 slices, as the real 7-patient split) + ~7 unlabeled;
#: LA-like volumes of UA-MT crop size (the cache holds them whole, the loader crops the patch)
_SYNTHETIC = {
    ("acdc", False): dict(n_train_patients=14, n_val_patients=1, size=(64, 64), depth_range=(8, 11), seed=0),
    ("acdc", True): dict(n_train_patients=3, n_val_patients=1, size=(32, 32), size_jitter=4, depth_range=(4, 5),
                         seed=3),
    ("la", False): dict(n_cases=12, n_test=1, shape=(128, 128, 88), seed=0),
    ("la", True): dict(n_cases=6, n_test=1, shape=(40, 40, 24), seed=5),
}
_SYNTHETIC_SPLIT = {
    ("acdc", False): {"labeled_patients": 7},
    ("acdc", True): {"labeled_patients": 1},
    ("la", False): {"labeled_cases": 4, "val_cases": 1},
    ("la", True): {"labeled_cases": 2, "val_cases": 1},
}


def synthetic_dataset(kind: str, root: str | Path, quick: bool = False) -> tuple[Path, dict[str, Any]]:
    """
    Write the synthetic dataset of ``kind`` ("acdc" or "la") under ``root`` with the package's generators; returns its
    folder and the split overrides it needs (the configs' default split wants the real datasets' case counts).
    """
    if kind == "acdc":
        from metassl_monai.data import make_acdc_like_dataset

        path = make_acdc_like_dataset(Path(root) / "acdc", **_SYNTHETIC[kind, quick])
    elif kind == "la":
        from metassl_monai.data import write_uamt_la_dataset

        path = write_uamt_la_dataset(Path(root) / "la", **_SYNTHETIC[kind, quick])
    else:
        raise ValueError(f"dataset kind must be 'acdc' or 'la', got {kind!r}.")
    return path, dict(_SYNTHETIC_SPLIT[kind, quick])


def bundle_parser(bundle: str, config_files: Sequence[str], **overrides: Any):
    """
    A :class:`monai.bundle.ConfigParser` of ``bundles/<bundle>/configs/<config_files>`` (merged in order) with its
    ``bundle_root`` and ``overrides`` set (config ids; ``#`` may be written ``__``), as ``monai.bundle run`` would.
    """
    from monai.bundle import ConfigParser

    folder = _BUNDLES / bundle / "configs"
    missing = [f for f in config_files if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{bundle}: no config file {missing} in {folder} "
                                "(run from a checkout: pip install -e .)")
    parser = ConfigParser()
    parser.read_config([str(folder / f) for f in config_files])
    parser["bundle_root"] = str(_BUNDLES / bundle)
    for key, value in overrides.items():
        parser[key.replace("__", "#")] = value
    return parser


class ReplayBatches:
    """
    ``batches`` batches of ``loader``, fetched once when made, then yielded round-robin without end: a data source that
    costs nothing per batch, so that a trainer fed from it measures its step alone.
    """

    def __init__(self, loader: Any, batches: int = 2) -> None:
        if int(batches) < 1:
            raise ValueError(f"ReplayBatches needs batches >= 1, got {batches}.")
        self.batches = list(itertools.islice(iter(loader), int(batches)))
        if len(self.batches) < int(batches):
            raise ValueError(f"the data loader yielded {len(self.batches)} batch(es), fewer than the {batches} to "
                             "replay (dataset smaller than a batch with drop_last?).")

    def __iter__(self) -> Iterator:
        return itertools.cycle(self.batches)


def _cycle(stream: Any) -> Iterator:
    """Pass after pass over ``stream``, as the trainer cycles its loaders (each pass a new ``iter()``)."""
    while True:
        empty = True
        for batch in stream:
            empty = False
            yield batch
        if empty:
            raise ValueError("the data loader yielded no batch (dataset smaller than a batch with drop_last).")


def _batch_size(batch: dict, key: str = "image") -> int:
    return int(batch[key].shape[0])


def loader_rate(
    labeled: Any, unlabeled: Any | None, batches: int, repeats: int, warmup: int = 1, label: str = ""
) -> tuple[float, dict[str, Any]]:
    """
    Images per second the two training loaders deliver alone: ``labeled`` (and ``unlabeled`` when not None) wrapped
    in :class:`~metassl_monai.engines.streams.ResumableStream` and cycled as the trainer does; each timed call pulls
    ``batches`` batch pairs, ``warmup`` calls untimed first. Returns the median rate and the raw timings.
    """
    from metassl_monai.engines.streams import ResumableStream

    streams = [_cycle(ResumableStream(labeled, name="labeled"))]
    if unlabeled is not None:
        streams.append(_cycle(ResumableStream(unlabeled, name="unlabeled")))
    images = [0]

    def pull() -> None:
        n = 0
        for _ in range(batches):
            for s in streams:
                n += _batch_size(next(s))
        images[0] = n

    times = interleaved({"loader": pull}, repeats=repeats, warmup=warmup, label=label)["loader"]
    seconds = median(times)
    return images[0] / seconds, {"images_per_call": images[0], "seconds_per_call": times,
                                 "batch_pairs_per_call": batches}


def step_rate(parser, device: torch.device | str, warmup: int, iterations: int,
              replay: int = 2) -> tuple[float, dict[str, Any]]:
    """
    Seconds per iteration of the config's ``train#trainer`` fed with replayed batches (:class:`ReplayBatches` of
    ``train#dataloader`` / ``train#unlabeled_dataloader``), its ``ValidationHandler`` removed: the median gap between
    ``ITERATION_COMPLETED`` events after ``warmup`` iterations. Modifies ``parser``: pass a fresh one (nothing
    resolved from it yet).
    """
    from ignite.engine import Events

    handlers = [h for h in parser["train#handlers"]
                if not str(h.get("_target_", "") if isinstance(h, dict) else "").endswith("ValidationHandler")]
    parser["train#handlers"] = handlers
    parser["train#trainer#train_data_loader"] = f"$metassl_monai.bench.data.ReplayBatches(@train#dataloader, {replay})"
    parser["train#trainer#unlabeled_data_loader"] = (
        f"$metassl_monai.bench.data.ReplayBatches(@train#unlabeled_dataloader, {replay}) "
        "if @framework.uses_unlabeled else None")
    parser["train#trainer#max_epochs"] = 1
    parser["train#trainer#epoch_length"] = int(warmup + iterations)
    parser["imports"] = list(parser["imports"]) + ["$import metassl_monai.bench.data"]
    parser.get_parsed_content("initialize")  # what `run training` does first (seed, cudnn flags, run directory)
    trainer = parser.get_parsed_content("train#trainer")
    stamps: list[float] = []

    def stamp(_engine) -> None:
        synchronize(device)
        stamps.append(time.perf_counter())

    trainer.add_event_handler(Events.ITERATION_COMPLETED, stamp)  # after the config's own handlers
    trainer.run()
    gaps = [b - a for a, b in zip(stamps[warmup - 1:], stamps[warmup:])] if warmup >= 1 else []
    if not gaps:
        raise ValueError(f"step_rate needs warmup >= 1 and iterations >= 1, got {warmup} and {iterations}.")
    framework = parser.get_parsed_content("framework")
    images = int(parser.get_parsed_content("batch_size"))
    if framework.uses_unlabeled:
        images += int(parser.get_parsed_content("unlabeled_batch_size"))
    return median(gaps), {"step_seconds": gaps, "images_per_step": images, "framework": type(framework).__name__,
                          "amp": bool(parser.get_parsed_content("amp")), "warmup_iterations": warmup}


def _add_loader_variants(parser, worker_counts: Sequence[int]) -> None:
    """``bench#loaders#w<n>#labeled|unlabeled``: the config's two loaders with ``num_workers = n``, over the same
    ``@train#dataset`` / ``@train#unlabeled_dataset`` (one cache for all; add them before resolving anything)."""
    variants = {}
    for n in worker_counts:
        variants[f"w{n}"] = {}
        for stream, key in (("labeled", "train#dataloader"), ("unlabeled", "train#unlabeled_dataloader")):
            cfg = copy.deepcopy(parser[key])
            cfg["num_workers"] = int(n)
            variants[f"w{n}"][stream] = cfg
    parser["bench"] = {"loaders": variants}


def measure_setting(
    name: str,
    setting: Setting,
    device: torch.device | str,
    quick: bool,
    dataset_dir: str | Path,
    work_dir: str | Path,
    overrides: dict[str, Any] | None = None,
    step_seconds: float | None = None,
) -> list[Measurement]:
    """
    The four figures of one setting (see the module docstring) on ``dataset_dir``; ``work_dir`` receives the trainer's
    output (TensorBoard logs). ``step_seconds``: a step time measured elsewhere, used instead of measuring it.
    """
    device = torch.device(device)
    common = {"dataset_dir": str(dataset_dir), "output_dir": str(Path(work_dir) / name), **(overrides or {}),
              **(setting.quick if quick else {})}
    parser = bundle_parser(setting.bundle, setting.config_files, **common)
    config_workers = int(parser.get_parsed_content("num_workers"))
    counts = sorted({config_workers, 0, 2})
    _add_loader_variants(parser, counts)
    framework = parser.get_parsed_content("framework")
    uses_unlabeled = bool(framework.uses_unlabeled)
    batches, repeats = (3, 2) if quick else (20, 5)
    rates: dict[int, tuple[float, dict]] = {}
    for n in counts:
        labeled = parser.get_parsed_content(f"bench#loaders#w{n}#labeled")
        unlabeled = parser.get_parsed_content(f"bench#loaders#w{n}#unlabeled") if uses_unlabeled else None
        rates[n] = loader_rate(labeled, unlabeled, batches=batches, repeats=repeats,
                               label=f"data/{name} loader, {n} worker(s)")
        del labeled, unlabeled
        gc.collect()
    sizes = {"labeled_items": len(parser.get_parsed_content("train#dataset")),
             "unlabeled_items": len(parser.get_parsed_content("train#unlabeled_dataset")) if uses_unlabeled else 0}
    settings = {"bundle": setting.bundle, "configs": list(setting.config_files),
                "patch_size": list(parser.get_parsed_content("patch_size")),
                "batch_size": int(parser.get_parsed_content("batch_size")),
                "unlabeled_batch_size": int(parser.get_parsed_content("unlabeled_batch_size")) if uses_unlabeled else 0,
                "num_workers": config_workers, "dataset_dir": str(dataset_dir), **sizes,
                "torch_threads": torch.get_num_threads()}
    del framework, parser  # the loaders' caches and networks: the step parser makes its own
    gc.collect()
    if step_seconds is None:
        progress(f"data/{name}: training step")
        step_parser = bundle_parser(setting.bundle, setting.config_files, **common)
        step_parser["device"] = f"$torch.device('{device}')"
        step_parser["amp"] = device.type == "cuda"
        warmup, iterations = (1, 2) if quick else (1, 4)
        step, step_detail = step_rate(step_parser, device, warmup=warmup, iterations=iterations)
        images_per_step = step_detail["images_per_step"]
        del step_parser
        gc.collect()
    else:
        step, step_detail = float(step_seconds), {"step_seconds": "given (step_seconds argument)"}
        images_per_step = settings["batch_size"] + settings["unlabeled_batch_size"]
    step_images = images_per_step / step
    loader_images, loader_detail = rates[config_workers]
    prefix = f"data/{name}"
    out = [Measurement(f"{prefix}/loader_images_per_s", loader_images, "images/s",
                       detail={**settings, **loader_detail, "num_workers": config_workers})]
    out += [Measurement(f"{prefix}/loader_images_per_s_workers{n}", rates[n][0], "images/s",
                        detail={**rates[n][1], "num_workers": n}) for n in counts]
    out.append(Measurement(f"{prefix}/step_images_per_s", step_images, "images/s",
                           detail={**settings, **step_detail, "seconds_per_step": step, "device": str(device)}))
    out.append(Measurement(f"{prefix}/loader_to_step_ratio", loader_images / step_images, "x", goal=1.0,
                           higher_is_better=True,
                           detail={"loader_images_per_s": loader_images, "step_images_per_s": step_images,
                                   "num_workers": config_workers, "device": str(device),
                                   "overlapped": config_workers > 0}))
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def run(
    device: torch.device | str = "cpu",
    quick: bool = False,
    dataset_dir: str | None = None,
    la_dataset_dir: str | None = None,
    settings: Sequence[str] | None = None,
    step_seconds: dict[str, float] | None = None,
    overrides: dict[str, dict[str, Any]] | None = None,
    **kw: Any,
) -> list[Measurement]:
    """
    Loader against step throughput, per setting.

    Args:
        device: where the training step runs (the loaders run on the CPU).
        quick: tiny patches and batches, few repeats (tests, CI): the plumbing, not a measurement.
        dataset_dir: a real ACDC dataset (SSL4MIS layout), else a synthetic one in a temporary folder (its labeled
            split: 7 patients, as the papers'; the cache holds the slices at the patch size either way).
        la_dataset_dir: a real LA dataset (UA-MT layout), else synthetic 128 × 128 × 88 volumes.
        settings: names from :data:`SETTINGS`; default ``acdc_cpu``, ``acdc_gpu``, ``la_cpu`` and, on CUDA (not
            ``quick``), ``la_gpu`` (the VNet step at 112 × 112 × 80 takes minutes on a CPU).
        step_seconds: ``{setting: seconds per training iteration}`` measured elsewhere (e.g. the trainer benchmark);
            those settings' steps are not measured again.
        overrides: ``{"acdc" | "la": {config id: value}}`` for the bundles of that dataset kind, e.g. the labeled
            split of a small given dataset (``{"acdc": {"labeled_patients": 1}}``).
    """
    device = torch.device(device)
    if settings is None:
        settings = ["acdc_cpu", "acdc_gpu", "la_cpu"] + (["la_gpu"] if device.type == "cuda" and not quick else [])
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        raise ValueError(f"unknown data setting(s) {unknown}: choose from {list(SETTINGS)}.")
    given = {"acdc": dataset_dir, "la": la_dataset_dir}
    out: list[Measurement] = []
    import monai

    with tempfile.TemporaryDirectory(prefix="metassl_bench_data_") as tmp:
        datasets: dict[str, tuple[Path, dict]] = {}
        try:
            for name in settings:
                setting = SETTINGS[name]
                if setting.dataset not in datasets:
                    if given[setting.dataset] is not None:
                        datasets[setting.dataset] = (Path(given[setting.dataset]), {})
                    else:
                        progress(f"data: writing a synthetic {setting.dataset} dataset")
                        datasets[setting.dataset] = synthetic_dataset(setting.dataset, Path(tmp) / "data", quick)
                path, split = datasets[setting.dataset]
                split = {**split, **(overrides or {}).get(setting.dataset, {})}
                progress(f"data/{name}: loaders of {setting.bundle} ({' + '.join(setting.config_files)})")
                out += measure_setting(name, setting, device, quick, path, Path(tmp) / "runs", overrides=split,
                                       step_seconds=(step_seconds or {}).get(name))
        finally:
            monai.utils.set_determinism(None)  # the configs' `initialize` set it: restore the cudnn flags
    return out
