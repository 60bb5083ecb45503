# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
What the bundles' inference path costs next to a plain MONAI inferer call on the same network and volume.

- **3D** (``metassl_la``): the ``evaluator`` of ``configs/inference.json`` (a :class:`monai.engines.SupervisedEvaluator`
  with the config's ``SlidingWindowInferer``, AMP flag, postprocessing and handlers) over one pre-loaded volume,
  against ``SlidingWindowInferer(roi_size, sw_batch_size, overlap, mode)(volume, network)`` under
  :func:`monai.networks.eval_mode` (and the same autocast when the bundle uses AMP).
- **2D** (``metassl_acdc``): the same with the config's slice-wise ``SliceInferer`` against a plain
  ``SliceInferer(roi_size, spatial_dim, sw_batch_size)`` call.

Both sides run the same network object (the config's ``network_def``, random weights) on the same preprocessed
volume, which starts on the CPU for both (the evaluator's ``prepare_batch`` moves it to the device; the plain call
does ``volume.to(device)``). The file I/O that both would share is left out of the bundle path: the volume is loaded
once through the config's own ``dataset`` (its preprocessing) and replayed, the ``CheckpointLoader`` is not attached
(the weights are already in the network), the ``SaveImaged`` writer is replaced by ``Identityd``; the console
``ProgressBar`` is left out too. What remains in the bundle path and not in the plain call is what the evaluator does
around the inferer: Ignite's run/epoch/iteration events, batch preparation, decollation and the postprocessing
(softmax, ``Invertd`` back to the input space where the config inverts a resize, argmax), timed separately in the
``detail`` (``postprocessing_seconds``) so that a missed goal can be attributed.

Volumes: LA at the GPU size is ``1 × 1 × 144 × 144 × 88`` (a UA-MT crop around the atrium; 2 × 2 × 2 windows of
112 × 112 × 80 at overlap 0.5); on a CPU (not ``quick``) the CPU setting of ``train_cpu.json`` (48 × 48 × 32 windows,
overlap 0.25, 2 per batch) on ``64 × 64 × 48``, since one full-size VNet pass takes minutes there. ACDC is a
``216 × 256 × 10`` frame (the size of ``patient001_frame01``) resized to the config's ``patch_size`` (128 × 128) per
slice. ``quick``: small volumes and a tiny UNet instead of ``network_def``.

Figures: ``inference/la_sliding_window_ratio`` and ``inference/acdc_slice_ratio`` (bundle / plain medians, goal
≤ 1.05), seconds of both in ``detail``.
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from metassl_monai.bench.common import Measurement, interleaved, median, progress, time_call
from metassl_monai.bench.data import bundle_parser

__all__ = ["SIZES", "InferenceCase", "build_case", "preloaded", "run"]

#: the configs' inference settings per size: the volume written, and the overrides of inference.json
SIZES: dict[tuple[str, str], dict[str, Any]] = {
    ("la", "gpu"): {"shape": (144, 144, 88), "overrides": {}},
    ("la", "cpu"): {"shape": (64, 64, 48),
                    "overrides": {"patch_size": [48, 48, 32], "sw_overlap": 0.25, "sw_batch_size": 2}},
    ("la", "quick"): {"shape": (48, 40, 24),
                      "overrides": {"patch_size": [32, 32, 16],
                                    "network_def": {"_target_": "UNet", "spatial_dims": 3, "in_channels": 1,
                                                    "out_channels": "@num_classes", "channels": [4, 8],
                                                    "strides": [2], "num_res_units": 1}}},
    # (height, width, depth) of the h5 volume: its NIfTI is (width, height, depth) = 216 x 256 x 10 as the real file
    ("acdc", "gpu"): {"shape": (256, 216, 10), "overrides": {}},
    ("acdc", "cpu"): {"shape": (256, 216, 10), "overrides": {}},
    ("acdc", "quick"): {"shape": (48, 40, 4),
                        "overrides": {"patch_size": [32, 32],
                                      "network_def": {"_target_": "UNet", "spatial_dims": 2, "in_channels": 1,
                                                      "out_channels": "@num_classes", "channels": [4, 8],
                                                      "strides": [2], "num_res_units": 1}}},
}
_BUNDLE = {"la": "metassl_la", "acdc": "metassl_acdc"}
_LEFT_OUT_HANDLERS = ("CheckpointLoader", "ProgressBar")


def preloaded(dataset: Any, index: int = 0) -> list:
    """``[batch]``: item ``index`` of ``dataset`` (its transforms applied once) collated as the config's
    ``DataLoader`` would (batch of 1): the evaluator's data without the per-run file I/O."""
    from monai.data import list_data_collate

    dataset = getattr(dataset, "dataset", dataset)  # SkipFailedItems wraps the map-style dataset
    return [list_data_collate([dataset[index]])]


@dataclass
class InferenceCase:
    """One bundle inference path and its plain-MONAI counterpart, ready to call (see :func:`build_case`)."""

    name: str
    evaluator: Any
    network: torch.nn.Module
    plain_inferer: Any
    volume: torch.Tensor  # the preprocessed batch of 1, on the CPU, without metadata
    device: torch.device
    amp: bool
    postprocessing: Any = None  # the evaluator's postprocessing transform (the config's ``postprocessing``)
    settings: dict[str, Any] = field(default_factory=dict)
    #: the evaluator's network output of its last run, before postprocessing (kept by a FORWARD_COMPLETED handler)
    captured: dict[str, Any] = field(default_factory=dict)

    def bundle(self) -> Any:
        """One run of the bundle's evaluator over the volume; returns its postprocessed output."""
        self.evaluator.run()
        return self.evaluator.state.output

    def plain(self) -> torch.Tensor:
        """The plain MONAI call: ``inferer(volume, network)`` in eval mode, under autocast when the bundle uses AMP."""
        from monai.networks import eval_mode

        autocast = torch.autocast("cuda") if self.amp else contextlib.nullcontext()
        with eval_mode(self.network), autocast:
            return self.plain_inferer(self.volume.to(self.device), self.network)

    def bundle_prediction(self) -> torch.Tensor:
        """The network output of the evaluator's last run (what the plain call returns), before postprocessing."""
        if "pred" not in self.captured:
            raise RuntimeError("run bundle() first: no prediction captured yet.")
        return self.captured["pred"]


def _write_volume(kind: str, shape: tuple[int, int, int], root: Path) -> Path:
    """A synthetic volume of ``shape`` as the NIfTI file the inference config reads; returns its folder."""
    out = root / f"{kind}_nifti"
    if kind == "la":
        from metassl_monai.data import write_uamt_as_nifti, write_uamt_la_dataset

        data = write_uamt_la_dataset(root / "la", n_cases=2, n_test=1, shape=shape, seed=0)
        write_uamt_as_nifti(data, out, list_name="test.list", with_labels=False)
    else:
        from metassl_monai.data import make_acdc_like_dataset, read_list, write_nifti_volumes

        height, width, depth = shape
        data = make_acdc_like_dataset(root / "acdc", n_train_patients=1, n_val_patients=1, size=(height, width),
                                      size_jitter=0, depth_range=(depth, depth), seed=0)
        write_nifti_volumes(data / "data", out, names=read_list(data, "val.list")[:1], with_labels=False)
    return out


def build_case(kind: str, device: torch.device | str, size: str, work_dir: str | Path,
               dataset_dir: str | Path | None = None) -> InferenceCase:
    """
    The bundle's inference path for ``kind`` ("la": ``metassl_la``, "acdc": ``metassl_acdc``) at ``size`` (a key of
    :data:`SIZES`: "gpu", "cpu" or "quick"), on the first NIfTI volume of ``dataset_dir`` (default: a synthetic one
    written to ``work_dir``), and the plain inferer with the config's settings.
    """
    from monai.engines import IterationEvents
    from monai.inferers import SliceInferer, SlidingWindowInferer
    from monai.utils import CommonKeys

    if (kind, size) not in SIZES:
        raise ValueError(f"no inference size {(kind, size)}: choose kind from {sorted(_BUNDLE)} and size from "
                         "'gpu', 'cpu', 'quick'.")
    device = torch.device(device)
    spec = SIZES[kind, size]
    work_dir = Path(work_dir)
    folder = Path(dataset_dir) if dataset_dir is not None else _write_volume(kind, spec["shape"], work_dir)
    parser = bundle_parser(_BUNDLE[kind], ["inference.json"], dataset_dir=str(folder),
                           output_dir=str(work_dir / f"{kind}_out"), **spec["overrides"])
    parser["device"] = f"$torch.device('{device}')"
    parser["amp"] = device.type == "cuda"
    parser["imports"] = list(parser["imports"]) + ["$import metassl_monai.bench.inference"]
    parser["dataloader"] = "$metassl_monai.bench.inference.preloaded(@dataset)"
    parser["writer"] = {"_target_": "Identityd", "keys": "pred"}  # file output, shared by any way of inferring
    # the progress bar, the weights' loader (weights are the plain inferer's too) and the failed-inputs report (a
    # file written at the end, referenced as "@failed_inputs") are not part of what is timed
    parser["handlers"] = [h for h in parser["handlers"]
                          if isinstance(h, dict) and not str(h.get("_target_", "")).endswith(_LEFT_OUT_HANDLERS)]
    parser.get_parsed_content("initialize")  # what `monai.bundle run` does first (seed, cudnn flags)
    torch.manual_seed(0)
    evaluator = parser.get_parsed_content("evaluator")
    network = parser.get_parsed_content("network")
    inferer = parser.get_parsed_content("inferer")
    batch = evaluator.data_loader[0]
    volume = batch["image"].as_tensor() if hasattr(batch["image"], "as_tensor") else batch["image"]
    if isinstance(inferer, SliceInferer):
        plain = SliceInferer(roi_size=inferer.orig_roi_size, spatial_dim=inferer.spatial_dim,
                             sw_batch_size=inferer.sw_batch_size, overlap=inferer.overlap, mode=inferer.mode)
    elif isinstance(inferer, SlidingWindowInferer):
        plain = SlidingWindowInferer(roi_size=inferer.roi_size, sw_batch_size=inferer.sw_batch_size,
                                     overlap=inferer.overlap, mode=inferer.mode)
    else:
        raise TypeError(f"{_BUNDLE[kind]}'s inference.json inferer is a {type(inferer).__name__}: this benchmark "
                        "compares SliceInferer / SlidingWindowInferer paths.")
    case = InferenceCase(
        name=kind, evaluator=evaluator, network=network, plain_inferer=plain, volume=volume.detach().clone(),
        device=device, amp=bool(parser.get_parsed_content("amp")),
        postprocessing=parser.get_parsed_content("postprocessing"),
        settings={"bundle": _BUNDLE[kind], "size": size, "volume_shape": list(volume.shape),
                  "inferer": type(inferer).__name__, "roi_size": list(getattr(inferer, "orig_roi_size", None)
                                                                     or inferer.roi_size),
                  "sw_batch_size": inferer.sw_batch_size, "overlap": inferer.overlap, "mode": str(inferer.mode),
                  "network": type(network).__name__, "amp": bool(parser.get_parsed_content("amp")),
                  "postprocessing": [type(t).__name__ for t in parser.get_parsed_content("postprocessing").transforms],
                  "handlers": [type(h).__name__ for h in parser.get_parsed_content("handlers")],
                  "left_out": ["file loading (volume pre-loaded)", "CheckpointLoader", "SaveImaged (Identityd)",
                               "ProgressBar"]})

    def keep(engine) -> None:
        case.captured["pred"] = engine.state.output[CommonKeys.PRED]

    evaluator.add_event_handler(IterationEvents.FORWARD_COMPLETED, keep)
    return case


def _postprocessing_seconds(case: InferenceCase, repeats: int) -> float:
    """Median seconds of the evaluator's postprocessing alone on its last decollated output (fresh copies)."""
    from monai.data import decollate_batch
    from monai.utils import CommonKeys

    post = case.postprocessing
    if post is None:
        return 0.0
    batch = case.evaluator.data_loader[0]
    pred = case.bundle_prediction()

    def once() -> None:
        items = decollate_batch({CommonKeys.IMAGE: batch["image"], CommonKeys.PRED: pred.clone()})
        for item in items:
            post(item)

    return median([time_call(once, case.device) for _ in range(repeats)])


def measure_case(case: InferenceCase, figure: str, repeats: int, warmup: int = 1) -> Measurement:
    """``bundle / plain`` median seconds, interleaved, with the raw timings and settings in ``detail``."""
    times = interleaved({"bundle": case.bundle, "plain": case.plain}, repeats=repeats, warmup=warmup,
                        device=case.device, label=figure)
    bundle, plain = median(times["bundle"]), median(times["plain"])
    same = bool(torch.allclose(case.bundle_prediction().float().cpu(), case.plain().float().cpu(), atol=1e-4,
                               rtol=1e-4))
    post = _postprocessing_seconds(case, max(3, repeats))
    return Measurement(figure, bundle / plain, "x", goal=1.05,
                       detail={**case.settings, "bundle_seconds": bundle, "plain_seconds": plain,
                               "bundle_times": times["bundle"], "plain_times": times["plain"],
                               "postprocessing_seconds": post,
                               # what the evaluator costs around the inferer, its postprocessing taken out
                               "ratio_without_postprocessing": (bundle - post) / plain,
                               # Ignite run + events, batch transfer, decollation, handlers: per run of one volume
                               "evaluator_overhead_seconds": bundle - post - plain,
                               "same_prediction": same, "device": str(case.device)})


def run(device: torch.device | str = "cpu", quick: bool = False, dataset_dir: str | None = None,
        la_size: str | None = None, acdc_size: str | None = None, repeats: int | None = None,
        **kw: Any) -> list[Measurement]:
    """
    The 3D and 2D ratios (see the module docstring).

    Args:
        device: where both sides run.
        quick: small volumes, tiny networks, 2 repeats (tests, CI).
        dataset_dir: not used (the volumes are synthetic, written to a temporary folder; accepted for the runner).
        la_size / acdc_size: "gpu", "cpu" or "quick" (default: "quick" when ``quick``, else "gpu" on CUDA and "cpu"
            on a CPU).
        repeats: timed rounds (default 2 quick, 5 on CUDA, 3 on a CPU).
    """
    import monai

    device = torch.device(device)
    default = "quick" if quick else ("gpu" if device.type == "cuda" else "cpu")
    repeats = int(repeats or (2 if quick else (5 if device.type == "cuda" else 3)))
    out = []
    with tempfile.TemporaryDirectory(prefix="metassl_bench_inference_") as tmp:
        try:
            for kind, size, figure in (("la", la_size or default, "inference/la_sliding_window_ratio"),
                                       ("acdc", acdc_size or default, "inference/acdc_slice_ratio")):
                progress(f"{figure}: {_BUNDLE[kind]} inference.json at size '{size}'")
                case = build_case(kind, device, size, Path(tmp))
                out.append(measure_case(case, figure, repeats=repeats))
                del case
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        finally:
            monai.utils.set_determinism(None)  # `initialize` set it: restore the cudnn flags
    return out
