#!/usr/bin/env python
# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
One-shot device check of a metassl-monai checkout (``pip install -e .``), run by ``scripts/gpu_check.sh``: everything
it measures goes into one JSON file, and it exits non-zero when a check fails.

Steps (GPU mode: the bundles' GPU defaults; ``--cpu``: train_cpu.json, smaller images, fewer iterations):

1. ``synthetic_data``: ``python -m metassl_monai synth`` (skipped with ``--dataset-dir``, a real ACDC in the SSL4MIS
   layout).
2. ``throughput``: iterations/s of a short ``metassl_acdc`` training at the paper setting (train.json alone: 256²,
   the framework's preset batches, 12 + 12 for Mean Teacher, AMP) for Mean Teacher (default), CPS
   (``--framework @frameworks#cps``) and ``qgssl_acdc`` with its default PL-QW recipe. Each run appends a
   :class:`metassl_monai.handlers.LossTraceWriter` (``+train#handlers``) whose lines carry a device-synchronised
   time stamp every ``interval`` iterations; iterations/s = timed iterations / (last stamp - stamp at the end of
   the excluded warm-up). Validation runs once, after the last timed stamp.
3. ``training``: a 300-iteration ``metassl_acdc`` training (validation every 100) with a loss trace of every
   iteration: it passes when the trace has every iteration, every loss term is finite, and ``checkpoint_final.pt``
   (finite floating tensors, at the last iteration) and the best ``model.pt`` exist.
4. ``multi_gpu``: with >= 2 GPUs, ``torchrun --nproc_per_node 2`` of ``configs/multi_gpu_train.json`` (20
   iterations, finite losses, a final checkpoint); otherwise recorded as skipped.
5. ``bench``: ``python -m metassl_monai bench --only NAME --output ...`` for each benchmark (one process each, so a
   benchmark cut by the time budget loses only itself), in the time left of the budget (8 min GPU, 4 min CPU).
   The benchmark figures and their goals are recorded; a missed goal does not fail the check, a failing command
   does; benchmarks left out by the budget make ``"complete": false``.

Every step shows its command's output (progress bars) and has a timeout from the remaining budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BUNDLES = REPO / "bundles"
TRACE = "gpu_check_trace.jsonl"

#: what each mode runs; "budget" is the whole script's wall-clock limit in seconds
MODES: dict[str, dict[str, Any]] = {
    "gpu": {
        "budget": 480,
        "synth": {"n_train_patients": 14, "n_val_patients": 2, "size": 128},
        "configs": ["train.json"],
        "overrides": [],
        "labeled_patients": 7,
        "throughput": {"warmup": 10, "timed": 50, "interval": 10},
        "training": {"iterations": 300, "val_interval": 100},
        "multi_gpu": {"iterations": 20, "val_interval": 10},
        "bench_quick": False,
    },
    "cpu": {
        "budget": 240,
        "synth": {"n_train_patients": 6, "n_val_patients": 1, "size": 64},
        "configs": ["train.json", "train_cpu.json"],
        "overrides": ["--patch_size", "[64,64]", "--batch_size", "4", "--unlabeled_batch_size", "4"],
        "labeled_patients": 2,
        "throughput": {"warmup": 4, "timed": 8, "interval": 1},
        "training": {"iterations": 24, "val_interval": 12},
        "multi_gpu": {"iterations": 4, "val_interval": 2},
        "bench_quick": True,
    },
}


def log(message: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Budget:
    """The script's deadline: each command's timeout is what is left of it, minus a reserve for writing up."""

    def __init__(self, seconds: float, reserve: float = 10.0) -> None:
        self.start = time.monotonic()
        self.seconds = float(seconds)
        self.reserve = reserve

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def left(self) -> float:
        return max(0.0, self.seconds - self.reserve - self.elapsed())


def run_command(cmd: list[str], log_path: Path, timeout: float, env: dict | None = None, quiet: bool = False) -> dict:
    """
    Run ``cmd`` in its own process group, its output shown (unless ``quiet``) and saved to ``log_path``; killed
    (the whole group: torchrun's children too) after ``timeout`` seconds. Returns status, return code and seconds.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    if timeout <= 0:  # a check that cannot run in the budget has not passed
        return {"status": "timeout", "reason": "no time left in the budget", "seconds": 0.0, "command": cmd}
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, **(env or {})}, start_new_session=True)

        def pump() -> None:
            assert proc.stdout is not None
            for chunk in iter(lambda: proc.stdout.read1(4096), b""):
                out.write(chunk)
                if not quiet:
                    sys.stdout.buffer.write(chunk)
                    sys.stdout.flush()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            log(f"timeout after {timeout:.0f} s: stopping {cmd[2:5]}")
            _kill_group(proc)
        except KeyboardInterrupt:
            _kill_group(proc)
            raise
        reader.join(timeout=10)
    seconds = round(time.monotonic() - start, 1)
    status = "timeout" if timed_out else ("ok" if proc.returncode == 0 else "failed")
    result = {"status": status, "returncode": proc.returncode, "seconds": seconds, "command": cmd,
              "log": str(log_path)}
    if status != "ok":
        result["output_tail"] = log_path.read_text(errors="replace")[-3000:]
    return result


def _kill_group(proc: subprocess.Popen) -> None:
    """Terminate the process group this script started for ``proc`` (then kill it if it lingers)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def environment(device: str) -> dict:
    """Device name, GPU names/count, torch / MONAI / CUDA versions, CPU count and the checkout's commit."""
    import monai
    import torch

    info: dict[str, Any] = {
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else (platform.processor() or
                                                                              platform.machine()),
        "gpu_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "gpu_names": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available() else [],
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "monai": monai.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        # the commands inherit it: on a shared CPU, one OpenMP thread per core in each of several processes
        # thrashes (steps measured 10-30x slower here); OMP_NUM_THREADS=1 avoids it
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO,
                         check=False)
    info["git_commit"] = git.stdout.strip() or None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           cwd=REPO, check=False)
    info["git_dirty"] = bool(dirty.stdout.strip())
    return info


def timing_config(path: Path, interval: int) -> Path:
    """
    The extra config merged after the bundle's: a LossTraceWriter appended to ``train#handlers`` (every ``interval``
    iterations) whose lines also hold the batch sizes, image size, AMP flag and a device-synchronised time stamp
    (``gc_*`` keys; the other keys are the trainer's loss terms).
    """
    transform = (
        "$lambda out: {**out['loss_terms'], "
        "'gc_batch': out['image'].shape[0], "
        "'gc_unlabeled_batch': out['unlabeled_image'].shape[0] if 'unlabeled_image' in out else 0, "
        "'gc_height': out['image'].shape[2], 'gc_width': out['image'].shape[3], 'gc_amp': float(@amp), "
        "'gc_time': (torch.cuda.synchronize() if torch.cuda.is_available() else None, time.perf_counter())[1]}"
    )
    config = {
        "+imports": ["$import time"],
        "+train#handlers": [{"_target_": "metassl_monai.handlers.LossTraceWriter", "output_dir": "@run_dir",
                             "filename": TRACE, "interval": int(interval), "output_transform": transform}],
    }
    path.write_text(json.dumps(config, indent=1))
    return path


def read_trace(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def loss_check(trace: list[dict], expected_iterations: int | None = None) -> dict:
    """Every loss term of every traced iteration finite (and, when given, the trace reaching
    ``expected_iterations``)."""
    bad = [(r["iteration"], k, v) for r in trace for k, v in r.items()
           if k not in ("iteration", "epoch") and not k.startswith("gc_") and not math.isfinite(float(v))]
    last = trace[-1]["iteration"] if trace else 0
    out = {"traced_iterations": len(trace), "last_iteration": last, "non_finite": bad[:10],
           "final_loss": trace[-1].get("loss") if trace else None}
    problems = []
    if not trace:
        problems.append("no loss trace written")
    if bad:
        problems.append(f"{len(bad)} non-finite loss value(s), first at iteration {bad[0][0]} ({bad[0][1]})")
    if expected_iterations is not None and last != expected_iterations:
        problems.append(f"the trace ends at iteration {last}, expected {expected_iterations}")
    out["problems"] = problems
    return out


def bundle_command(bundle: str, configs: list[str | Path], dataset: Path, output: Path, iterations: int,
                   val_interval: int, extra: list[str], torchrun: bool = False) -> list[str]:
    files = [str(c) if Path(c).is_absolute() else str(BUNDLES / bundle / "configs" / c) for c in configs]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--nnodes", "1", "-m",
                "monai.bundle"] if torchrun else [sys.executable, "-m", "monai.bundle"]
    return [*launcher, "run", "training", "--config_file", "[" + ",".join(f"'{f}'" for f in files) + "]",
            "--bundle_root", str(BUNDLES / bundle), "--dataset_dir", str(dataset), "--output_dir", str(output),
            "--num_iterations", str(iterations), "--val_interval", str(val_interval), *extra]


def default_recipe(bundle: str) -> str:
    """The name of ``bundle``'s default ``ssl_loss`` (e.g. ``plqw_metassl`` for ``@ssl_losses#plqw_metassl``)."""
    value = json.loads((BUNDLES / bundle / "configs" / "train.json").read_text())["ssl_loss"]
    return str(value).rsplit("#", 1)[-1]


def step_throughput(mode: dict, work: Path, dataset: Path, split: list[str], budget: Budget, quiet: bool) -> dict:
    spec = mode["throughput"]
    total = spec["warmup"] + spec["timed"] + spec["interval"]  # the last `interval` iterations end with validation
    timing = timing_config(work / "timing_throughput.json", spec["interval"])
    recipe = default_recipe("qgssl_acdc")
    runs = [("metassl_acdc/mean_teacher", "metassl_acdc", []),
            ("metassl_acdc/cps", "metassl_acdc", ["--framework", "@frameworks#cps"]),
            (f"qgssl_acdc/{recipe}", "qgssl_acdc", [])]
    results: dict[str, Any] = {}
    for i, (name, bundle, extra) in enumerate(runs, 1):
        log(f"throughput {i}/{len(runs)}: {name}, {total} iterations ({spec['warmup']} excluded)")
        out = work / "throughput" / name.replace("/", "_")
        cmd = bundle_command(bundle, [*mode["configs"], timing], dataset, out, total, total,
                             [*mode["overrides"], *split, *extra])
        res = run_command(cmd, work / "logs" / f"throughput_{name.replace('/', '_')}.log", budget.left(),
                          quiet=quiet)
        trace = read_trace(out / TRACE)
        checked = loss_check(trace)
        stamps = {r["iteration"]: r["gc_time"] for r in trace}
        first, last = spec["warmup"], spec["warmup"] + spec["timed"]
        if res["status"] == "ok" and first in stamps and last in stamps:
            seconds = stamps[last] - stamps[first]
            res["iterations_per_s"] = spec["timed"] / seconds
            res["seconds_per_iteration"] = seconds / spec["timed"]
            gaps = [(stamps[b] - stamps[a]) / (b - a) for a, b in zip(sorted(stamps), sorted(stamps)[1:])
                    if first <= a and b <= last]
            res["seconds_per_iteration_per_interval"] = gaps
            res["iterations_per_s_median"] = 1.0 / statistics.median(gaps) if gaps else None
        elif res["status"] == "ok":
            checked["problems"].append(f"no time stamps at iterations {first} and {last} in the trace")
        if trace:
            row = trace[-1]
            res.update({"batch_size": int(row["gc_batch"]), "unlabeled_batch_size": int(row["gc_unlabeled_batch"]),
                        "image_size": [int(row["gc_height"]), int(row["gc_width"])], "amp": bool(row["gc_amp"])})
        res.update({"timed_iterations": spec["timed"], "excluded_first": spec["warmup"], "iterations": total,
                    "loss_check": checked})
        if res["status"] == "ok" and checked["problems"]:
            res["status"] = "failed"
        results[name] = res
        log(f"throughput {name}: {res['status']}"
            + (f", {res['iterations_per_s']:.2f} it/s" if "iterations_per_s" in res else ""))
    return {"status": _worst(r["status"] for r in results.values()), "runs": results}


def _finite_checkpoint(path: Path) -> list[str]:
    """Problems of a training checkpoint: missing, or a non-finite floating tensor in its framework state."""
    import torch

    if not path.is_file():
        return [f"{path.name} was not written"]
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    state = ckpt.get("framework", ckpt) if isinstance(ckpt, dict) else {}
    bad = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
           and not bool(torch.isfinite(v).all())]
    return [f"{path.name}: non-finite {', '.join(bad[:5])}"] if bad else []


def step_training(mode: dict, work: Path, dataset: Path, split: list[str], budget: Budget, quiet: bool) -> dict:
    spec = mode["training"]
    log(f"training: metassl_acdc, {spec['iterations']} iterations, validation every {spec['val_interval']}")
    timing = timing_config(work / "timing_training.json", 1)
    out = work / "training"
    cmd = bundle_command("metassl_acdc", [*mode["configs"], timing], dataset, out, spec["iterations"],
                         spec["val_interval"], [*mode["overrides"], *split])
    res = run_command(cmd, work / "logs" / "training.log", budget.left(), quiet=quiet)
    checked = loss_check(read_trace(out / TRACE), spec["iterations"])
    if res["status"] == "ok":
        checked["problems"] += _finite_checkpoint(out / "checkpoint_final.pt")
        if not (out / "model.pt").is_file():
            checked["problems"].append("the best model.pt was not written")
    res.update({"iterations": spec["iterations"], "loss_check": checked})
    if res["status"] == "ok" and checked["problems"]:
        res["status"] = "failed"
    log(f"training: {res['status']}, final loss {checked['final_loss']}"
        + (f"; problems: {checked['problems']}" if checked["problems"] else ""))
    return res


def step_multi_gpu(mode: dict, work: Path, dataset: Path, split: list[str], budget: Budget, quiet: bool,
                   gpu_count: int, cpu: bool) -> dict:
    if cpu or gpu_count < 2:
        reason = "CPU mode" if cpu else f"{gpu_count} GPU(s): the 2-process run needs 2"
        log(f"multi_gpu: skipped ({reason})")
        return {"status": "skipped", "reason": reason}
    spec = mode["multi_gpu"]
    log(f"multi_gpu: torchrun --nproc_per_node 2, metassl_acdc multi_gpu_train.json, {spec['iterations']} iterations")
    timing = timing_config(work / "timing_multi_gpu.json", 1)
    out = work / "multi_gpu"
    cmd = bundle_command("metassl_acdc", [*mode["configs"], "multi_gpu_train.json", timing], dataset, out,
                         spec["iterations"], spec["val_interval"], [*mode["overrides"], *split], torchrun=True)
    res = run_command(cmd, work / "logs" / "multi_gpu.log", budget.left(), quiet=quiet)
    checked = loss_check(read_trace(out / TRACE), spec["iterations"])
    if res["status"] == "ok":
        checked["problems"] += _finite_checkpoint(out / "checkpoint_final.pt")
    res.update({"iterations": spec["iterations"], "loss_check": checked})
    if res["status"] == "ok" and checked["problems"]:
        res["status"] = "failed"
    log(f"multi_gpu: {res['status']}")
    return res


def step_bench(mode: dict, work: Path, device: str, dataset_dir: str | None, budget: Budget, quiet: bool,
               only: list[str], quick: bool) -> dict:
    per: dict[str, Any] = {}
    measurements: list[dict] = []
    machine = None
    for i, name in enumerate(only, 1):
        left = budget.left()
        if left < 15:
            per[name] = {"status": "skipped", "reason": "time budget spent"}
            log(f"bench {i}/{len(only)} {name}: skipped (time budget spent)")
            continue
        log(f"bench {i}/{len(only)}: {name} ({'quick' if quick else 'full'}, {left:.0f} s left)")
        output = work / "bench" / f"{name}.json"
        cmd = [sys.executable, "-m", "metassl_monai", "bench", "--only", name, "--device", device, "--output",
               str(output), *(["--quick"] if quick else []), *(["--dataset_dir", dataset_dir] if dataset_dir else [])]
        res = run_command(cmd, work / "logs" / f"bench_{name}.log", left, quiet=quiet)
        if res["status"] == "ok":
            try:
                result = json.loads(output.read_text())
            except (OSError, ValueError) as e:
                res.update({"status": "failed", "error": f"no readable bench output {output}: {e}"})
            else:
                machine = machine or result.get("machine")
                measurements += result.get("measurements", [])
                res["figures"] = len(result.get("measurements", []))
        per[name] = res
    missed = [m["name"] for m in measurements if m.get("passed") is False]
    statuses = [r["status"] for r in per.values()]
    status = "failed" if "failed" in statuses else ("incomplete" if {"timeout", "skipped"} & set(statuses) else "ok")
    return {"status": status, "quick": quick, "per_benchmark": per, "machine": machine,
            "measurements": measurements, "missed_goals": missed}


def _worst(statuses) -> str:
    order = ["failed", "timeout", "skipped", "ok"]
    found = list(statuses)
    return next((s for s in order if s in found), "ok")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", nargs="?", default="gpu_check.json",
                        help="JSON file to write (default gpu_check.json)")
    parser.add_argument("--cpu", action="store_true", default=os.environ.get("GPU_CHECK_CPU") == "1",
                        help="CPU mode (also GPU_CHECK_CPU=1): train_cpu.json, 64² images, few iterations, "
                        "bench --quick")
    parser.add_argument("--bench-quick", action="store_true", help="bench --quick in GPU mode too")
    parser.add_argument("--bench-only", default=None, help="comma-separated benchmarks (default: all)")
    parser.add_argument("--budget", type=float, default=None,
                        help="wall-clock limit in seconds (default 480 GPU, 240 CPU)")
    parser.add_argument("--dataset-dir", default=None, help="a real ACDC dataset (SSL4MIS layout) instead of synthetic")
    parser.add_argument("--work-dir", default=None, help="keep runs and logs here (default: a temporary folder)")
    parser.add_argument("--quiet", action="store_true", help="step lines only, not the commands' own output")
    args = parser.parse_args(argv)

    import torch

    from metassl_monai.bench import BENCHMARKS

    cpu = bool(args.cpu)
    if not cpu and not torch.cuda.is_available():
        print("gpu_check: torch.cuda.is_available() is False: run on a GPU machine, or pass --cpu (GPU_CHECK_CPU=1) "
              "for the CPU mode.", file=sys.stderr)
        return 2
    mode = MODES["cpu" if cpu else "gpu"]
    device = "cpu" if cpu else "cuda"
    only = [n.strip() for n in (args.bench_only.split(",") if args.bench_only else BENCHMARKS) if n.strip()]
    unknown = [n for n in only if n not in BENCHMARKS]
    if unknown:
        print(f"gpu_check: unknown benchmark(s) {unknown}: choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    output = Path(args.output).resolve()
    budget = Budget(args.budget or mode["budget"])
    holder = tempfile.TemporaryDirectory(prefix="gpu_check_") if args.work_dir is None else None
    work = Path(args.work_dir or holder.name).resolve()  # type: ignore[union-attr]
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"mode": "cpu" if cpu else "gpu", "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                              "budget_s": budget.seconds, "work_dir": str(work) if args.work_dir else None}
    log(f"{report['mode']} mode, budget {budget.seconds:.0f} s, writing {output}")
    try:
        report["environment"] = environment(device)
        env = report["environment"]
        log(f"device {env['device_name']}, {env['gpu_count']} GPU(s), torch {env['torch']}, monai {env['monai']}")
        steps: dict[str, Any] = {}
        report["steps"] = steps
        if args.dataset_dir:
            dataset = Path(args.dataset_dir).resolve()
            split: list[str] = []
            steps["synthetic_data"] = {"status": "skipped", "reason": f"--dataset-dir {dataset}"}
        else:
            dataset = work / "data"
            synth = mode["synth"]
            log(f"synthetic_data: {synth['n_train_patients']} training patients, {synth['size']}²")
            cmd = [sys.executable, "-m", "metassl_monai", "synth", "--output_dir", str(dataset),
                   *[f"--{k}={v}" for k, v in synth.items()]]
            steps["synthetic_data"] = run_command(cmd, work / "logs" / "synth.log", budget.left(), quiet=args.quiet)
            split = ["--labeled_patients", str(mode["labeled_patients"])]
        if steps["synthetic_data"]["status"] in ("ok", "skipped"):
            steps["throughput"] = step_throughput(mode, work, dataset, split, budget, args.quiet)
            steps["training"] = step_training(mode, work, dataset, split, budget, args.quiet)
            steps["multi_gpu"] = step_multi_gpu(mode, work, dataset, split, budget, args.quiet, env["gpu_count"], cpu)
            steps["bench"] = step_bench(mode, work, device, args.dataset_dir, budget, args.quiet, only,
                                        quick=mode["bench_quick"] or args.bench_quick)
    finally:
        steps = report.get("steps", {})
        failed = [k for k, v in steps.items() if v.get("status") in ("failed", "timeout")]
        if "environment" not in report or "synthetic_data" not in steps or "bench" not in steps:
            failed = failed or ["interrupted"]
        report["failed_steps"] = failed
        report["passed"] = not failed
        report["complete"] = not failed and all(v.get("status") != "incomplete" for v in steps.values())
        report["seconds"] = round(budget.elapsed(), 1)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(report, indent=2, default=str) + "\n")
        if holder is not None:
            holder.cleanup()
    summary = ", ".join(f"{k}: {v.get('status')}" for k, v in report["steps"].items())
    log(f"{'PASSED' if report['passed'] else 'FAILED'} in {report['seconds']:.0f} s ({summary}); wrote {output}")
    if report["passed"] and not report["complete"]:
        log("some benchmarks did not run in the time budget (see steps.bench.per_benchmark): "
            "--bench-only / --bench-quick / --budget")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
