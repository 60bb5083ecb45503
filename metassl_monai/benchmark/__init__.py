# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""
The accuracy benchmark (``python -m metassl_monai benchmark run|report|status``): a grid of methods × labeled counts ×
seeds, each cell trained and evaluated by its bundle's own workflows, resumable, reported from the cells' records.
(:mod:`metassl_monai.bench` measures speed, not accuracy.)
"""

from metassl_monai.benchmark.grid import Cell, Grid, GridError, Method, load_grid
from metassl_monai.benchmark.report import load_records, paired, summarize, write_report
from metassl_monai.benchmark.runner import grid_status, run_grid

__all__ = ["Cell", "Grid", "GridError", "Method", "load_grid", "run_grid", "grid_status", "load_records",
           "summarize", "paired", "write_report"]
