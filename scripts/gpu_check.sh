#!/usr/bin/env bash
# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
#
# Device check of a metassl-monai checkout (pip install -e .): bench figures, training throughput at the paper
# setting (MT, CPS, QG-SSL PL-QW), a 300-iteration training with finite losses, a 2-GPU torchrun run when 2 GPUs
# are present; one JSON with each step's status, seconds and the machine (device, GPU name/count, torch/MONAI).
# GPU mode finishes within 8 minutes; exits non-zero when a check fails. See scripts/gpu_check.py for the steps.
#
#   scripts/gpu_check.sh [OUTPUT.json] [--cpu] [--bench-quick] [--bench-only losses,data] [--budget SECONDS]
#                        [--dataset-dir ACDC_DIR] [--work-dir DIR] [--quiet]
#
#   scripts/gpu_check.sh gpu_check.json            # on a GPU machine (8 min budget)
#   GPU_CHECK_CPU=1 scripts/gpu_check.sh cpu.json  # CPU mode (train_cpu.json, 64² images, bench --quick; ~4 min)
#
# PYTHON selects the interpreter (default: python on PATH, the environment metassl-monai is installed in).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec "${PYTHON:-python}" scripts/gpu_check.py "$@"
