# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""metassl_monai.host.cpu_model: the CPU named in benchmark records and bench tables."""

from __future__ import annotations

import platform

import pytest

from metassl_monai.host import cpu_model

AMD = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2\n\n" \
      "processor\t: 1\nmodel name\t: AMD EPYC\n"
ARM = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\n"  # aarch64: no "model name" line


@pytest.mark.parametrize("text, expected", [
    (AMD, "AMD EPYC"),  # the first "model name", stripped
    ("model name\t: Intel(R) Xeon(R) Processor @ 2.1GHz: v2\n", "Intel(R) Xeon(R) Processor @ 2.1GHz: v2"),
    (ARM, None),  # none there: platform.processor()
])
def test_cpu_model_reads_proc_cpuinfo(tmp_path, text, expected):
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    assert cpu_model(str(path)) == (expected if expected is not None else platform.processor() or "")


def test_cpu_model_without_proc_cpuinfo(tmp_path, monkeypatch):
    monkeypatch.setattr(platform, "processor", lambda: "arm")
    assert cpu_model(str(tmp_path / "missing")) == "arm"
    monkeypatch.setattr(platform, "processor", lambda: "")
    assert cpu_model(str(tmp_path / "missing")) == ""
