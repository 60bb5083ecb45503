# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""What machine a timing was measured on."""

from __future__ import annotations

import platform

__all__ = ["cpu_model"]


def cpu_model(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (``/proc/cpuinfo``'s first "model name", e.g. "AMD EPYC"), else ``platform.processor()``,
    else "". Seconds per iteration of the same command differ by 2-3x between the CPUs this project has run on, and
    ``platform.processor()`` is empty on most Linux systems."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""
