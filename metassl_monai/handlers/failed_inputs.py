# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""The end of an inference over a folder: which inputs failed and why, in one summary, and a non-zero exit."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ignite.engine import Engine, Events

from ..atomic_files import atomic_path, remove_partial_files
from ..data.skip_failed import SkipFailedItems

__all__ = ["FailedInputsReport"]


class FailedInputsReport:
    """
    Reports the inputs a :class:`metassl_monai.data.SkipFailedItems` dataset skipped during an inference run.

    - When the run starts: the report a previous run left in ``output_dir`` (``filename``, written only by this
      handler) is removed, and so are the temporaries of masks a killed run was writing
      (:func:`metassl_monai.atomic_files.remove_partial_files`); no mask is touched.
    - When it completes with failures: ``output_dir/filename`` lists them (JSON: ``failed`` — file and reason —,
      ``attempted``, ``written``; each failure was logged as it was skipped).
    - :meth:`exit_if_any` (the bundle's last ``run`` step) then ends the process with status 1 and the summary on
      stderr: every other input has its mask, the failed ones have none (never a half-written one).

    Args:
        dataset: the inference dataset.
        output_dir: the folder the masks are written to.
        filename: name of the report.
    """

    def __init__(self, dataset: SkipFailedItems, output_dir: str | os.PathLike,
                 filename: str = "failed_inputs.json") -> None:
        if not isinstance(dataset, SkipFailedItems):
            raise TypeError(f"FailedInputsReport reports a metassl_monai.data.SkipFailedItems dataset, got "
                            f"{type(dataset).__name__}.")
        self.dataset = dataset
        self.output_dir = Path(output_dir)
        self.filename = filename

    @property
    def path(self) -> Path:
        return self.output_dir / self.filename

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self.started)
        engine.add_event_handler(Events.COMPLETED, self.completed)

    def started(self, engine: Engine | None = None) -> None:
        self.path.unlink(missing_ok=True)
        for path in remove_partial_files(self.output_dir):
            logging.getLogger(__name__).warning(f"removed {path}, left by a run that did not finish writing it")

    def summary(self) -> str:
        """The summary of the last pass over the dataset ("" when nothing failed)."""
        failures, attempted = self.dataset.failures, self.dataset.attempted
        if not failures:
            return ""
        written = attempted - len(failures)
        where = f"the other {written} mask(s) are in {self.output_dir}" if written else "no mask was written at all"
        lines = [f"{len(failures)} of {attempted} input(s) failed; no mask was written for them ({where}):"]
        lines += [f"  {f.name}: {f.reason}" for f in failures]
        lines.append(f"The list is in {self.path}.")
        return "\n".join(lines)

    def completed(self, engine: Engine | None = None) -> None:
        failures = self.dataset.failures
        if not failures:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        report = {"attempted": self.dataset.attempted, "written": self.dataset.attempted - len(failures),
                  "failed": [{"file": f.name, "reason": f.reason} for f in failures]}
        with atomic_path(self.path) as tmp, open(tmp, "w") as f:
            json.dump(report, f, indent=2)
        logging.getLogger(__name__).error(f"{len(failures)} of {self.dataset.attempted} input(s) failed; the list is "
                                          f"in {self.path}")

    def exit_if_any(self) -> None:
        """End the process (``SystemExit``: status 1, the summary on stderr) if an input failed; else return."""
        summary = self.summary()
        if summary:
            raise SystemExit(summary)
