# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
Peak memory of a training step with and without the MetaSSL / QG-SSL losses: Mean Teacher with the softmax-MSE
consistency (no MetaSSL) against Mean Teacher + MetaSSL (metassl_acdc) and the quality-guided recipes (qgssl_acdc).

On CUDA the figure is ``torch.cuda.max_memory_allocated`` over a few iterations, measured in this process. On CPU it
is the peak resident set size, which a process can only grow: each configuration runs in its own Python process
(``python -m metassl_monai.bench.memory ...``), and two figures are kept: the peak of the whole process (interpreter,
torch, the cached dataset, the training) and how much the training iterations raised it above the peak reached once
the trainer and its cached dataset were built (``step_increment_mib``). The dataset is always a small synthetic one
(also when ``dataset_dir`` is given): with real ACDC the cache's own peak (~2.4 GB) hides the step.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from metassl_monai.bench.common import Measurement, peak_memory, peak_memory_reset, progress

__all__ = ["CONFIGURATIONS", "measure", "run"]

#: (bundle, ssl_loss): the first is the baseline without MetaSSL / QG losses
CONFIGURATIONS = (
    ("metassl_acdc", "softmax_mse"),
    ("metassl_acdc", "metassl"),
    ("qgssl_acdc", "plqw_metassl"),
    ("qgssl_acdc", "qar"),
)


def measure(bundle: str, ssl_loss: str, device: str, dataset_dir: str, output_dir: str, quick: bool,
            iterations: int = 3) -> tuple[int, int]:
    """
    Peak bytes of ``iterations`` training iterations of ``bundle`` with ``--ssl_loss @ssl_losses#<ssl_loss>``, and
    the peak before them (CUDA: 0, the peak counter is reset; CPU: the process's peak once the trainer is built).
    """
    from metassl_monai.bench.trainer import QUICK_OVERRIDES, bundle_parser, time_trainer

    dev = torch.device(device)
    parser = bundle_parser(bundle, dataset_dir, output_dir, dev, cpu_setting=dev.type == "cpu",
                           ssl_loss=f"@ssl_losses#{ssl_loss}", **(QUICK_OVERRIDES if quick else {}))
    trainer = parser.get_parsed_content("train#trainer")
    peak_memory_reset(dev)
    before = 0 if dev.type == "cuda" else peak_memory(dev)
    time_trainer(trainer, iterations, warmup=1)
    return peak_memory(dev), before


def run(device="cpu", quick: bool = False, dataset_dir: str | None = None,
        configurations=None) -> list[Measurement]:
    """Each of ``configurations`` (default :data:`CONFIGURATIONS`; ``quick``: the first two, 32², 2 + 2)."""
    from metassl_monai.bench.trainer import synthetic_acdc

    device = torch.device(device)
    configurations = configurations or (CONFIGURATIONS[:2] if quick else CONFIGURATIONS)
    peaks: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="metassl_bench_") as tmp:
        source = "synthetic (10 patients, 256×224)" if not quick else "synthetic (quick)"
        dataset_dir = str(synthetic_acdc(Path(tmp) / "data", quick))
        for bundle, ssl_loss in configurations:
            progress(f"memory {bundle} {ssl_loss}")
            out_dir = str(Path(tmp) / f"{bundle}_{ssl_loss}")
            if device.type == "cuda":
                peaks[f"{bundle}/{ssl_loss}"] = measure(bundle, ssl_loss, str(device), dataset_dir, out_dir, quick)
                continue
            args = [sys.executable, "-m", "metassl_monai.bench.memory", bundle, ssl_loss, str(device), dataset_dir,
                    out_dir, "1" if quick else "0"]
            done = subprocess.run(args, capture_output=True, text=True, check=False)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            if done.returncode != 0 or not lines:
                raise RuntimeError(f"memory measurement of {bundle} {ssl_loss} failed:\n{done.stderr[-2000:]}")
            found = json.loads(lines[-1])
            peaks[f"{bundle}/{ssl_loss}"] = (found["peak_bytes"], found["before_bytes"])
    base_key = "/".join(configurations[0])
    kind = "max_memory_allocated" if device.type == "cuda" else "peak RSS of its own process"
    out = []
    mib = 2**20
    for key, (peak, before) in peaks.items():
        detail = {"what": kind, "data": source, "baseline": base_key,
                  "difference_to_baseline_mib": round((peak - peaks[base_key][0]) / mib, 1)}
        out.append(Measurement(f"memory/{key}/peak_mib", peak / mib, " MiB", None, detail=detail))
        if device.type != "cuda":
            out.append(Measurement(f"memory/{key}/step_increment_mib", (peak - before) / mib, " MiB", None,
                                   detail={"what": "peak RSS after the iterations − peak RSS before them"}))
    return out


if __name__ == "__main__":  # one configuration in its own process (CPU peak RSS)
    bundle_, loss_, device_, data_, out_, quick_ = sys.argv[1:7]
    peak_, before_ = measure(bundle_, loss_, device_, data_, out_, quick_ == "1")
    print(json.dumps({"peak_bytes": peak_, "before_bytes": before_}))
