# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The quality predictor's share of a QG-SSL training step (qgssl_acdc with its shipped predictor), per recipe.

During a run of the bundle's trainer, hooks on the predictor count its calls per iteration and record whether each
needed a gradient (QAR: yes, into the soft prediction; PL-QW: no) and its input shape. The predictor's cost is then
timed alone on inputs of those shapes — forward, plus backward into its input where the gradient is needed — and
divided by the measured training iteration: ``share = calls/iteration × cost/call ÷ s/iteration``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from metassl_monai.bench.common import Measurement, interleaved, median, progress
from metassl_monai.bench.trainer import QUICK_OVERRIDES, bundle_parser, synthetic_acdc, time_trainer

__all__ = ["RECIPES", "run"]

#: qgssl_acdc recipes (``--ssl_loss @ssl_losses#<name>``): the published QAR and PL-QW, and the bundle's default
RECIPES = ("qar", "plqw", "plqw_metassl")


def _predictors(trainer) -> list:
    found = []
    for module in trainer.branch_losses.modules():
        predictor = getattr(module, "predictor", None)
        if predictor is not None and all(predictor is not p for p in found):
            found.append(predictor)
    return found


def run(device="cpu", quick: bool = False, dataset_dir: str | None = None, recipes=None,
        iterations: int | None = None) -> list[Measurement]:
    """qgssl_acdc at the CPU setting on CPU, its GPU default on CUDA (``quick``: 32², 2 + 2, 3 iterations)."""
    device = torch.device(device)
    recipes = recipes or (("plqw_metassl",) if quick else RECIPES)
    iterations = iterations or (3 if quick else 20)
    out: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="metassl_bench_") as tmp:
        source = "synthetic" if dataset_dir is None else str(dataset_dir)
        dataset_dir = dataset_dir or synthetic_acdc(Path(tmp) / "data", quick)
        for recipe in recipes:
            progress(f"quality {recipe}: building qgssl_acdc")
            parser = bundle_parser("qgssl_acdc", dataset_dir, Path(tmp) / f"run_{recipe}", device,
                                   cpu_setting=device.type == "cpu", ssl_loss=f"@ssl_losses#{recipe}",
                                   **(QUICK_OVERRIDES if quick else {}))
            trainer = parser.get_parsed_content("train#trainer")
            calls: list[tuple[tuple[int, ...], bool]] = []
            hooks = [p.register_forward_pre_hook(lambda _m, args: calls.append(
                (tuple(args[0].shape), torch.is_grad_enabled() and args[0].requires_grad)))
                for p in _predictors(trainer)]
            if not hooks:
                raise RuntimeError(f"qgssl_acdc's ssl_loss {recipe!r} holds no quality predictor.")
            progress(f"quality {recipe}: {iterations} training iterations")
            step = time_trainer(trainer, iterations, warmup=1)
            for h in hooks:
                h.remove()
            predictor = _predictors(trainer)[0]
            per_iteration = len(calls) / (iterations + 1)  # time_trainer runs one untimed iteration first
            shape, needs_grad = calls[-1]
            x = torch.rand(shape, device=device)

            def predictor_call():
                if needs_grad:
                    xi = x.clone().requires_grad_(True)
                    predictor(xi).mean().backward()
                else:
                    with torch.no_grad():
                        predictor(x)

            cost = median(interleaved({"predictor": predictor_call}, repeats=3 if quick else 9, device=device,
                                      label=f"quality {recipe} predictor")["predictor"])
            step_s = median(step)
            detail = {"bundle": "qgssl_acdc", "ssl_loss": recipe, "data": source, "iterations": iterations,
                      "step_median_s": round(step_s, 4), "predictor_call_s": round(cost, 5),
                      "predictor_calls_per_iteration": per_iteration, "predictor_input_shape": list(shape),
                      "gradient_through_predictor": needs_grad,
                      "predictor_input_size": list(getattr(predictor, "spatial_size", None) or [])}
            out.append(Measurement(f"quality/{recipe}/predictor_share_of_step", per_iteration * cost / step_s, "",
                                   None, detail=detail))
    return out
