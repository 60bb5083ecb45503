# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""No "Engine run resuming from iteration 0" in the log of a run that resumes nothing."""

from __future__ import annotations

import logging

__all__ = ["FreshRunResumeFilter", "quiet_fresh_run_messages", "ENGINE_CLASSES"]

#: the engines of the bundles: Ignite names each engine's logger ``ignite.engine.engine.<class name>``
ENGINE_CLASSES = ("SemiSupervisedTrainer", "SupervisedTrainer", "SupervisedEvaluator", "EnsembleEvaluator")


class FreshRunResumeFilter(logging.Filter):
    """
    Drops Ignite's "Engine run resuming from iteration 0, ..." record. MONAI's workflows create their state with
    ``max_epochs`` set, so Ignite words every fresh run (and every validation of a trainer) as a resumption from
    iteration 0; a real resumption (from a checkpoint, iteration > 0) is logged as before.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Engine run resuming from iteration 0,")


def quiet_fresh_run_messages(class_names=ENGINE_CLASSES) -> None:
    """Add :class:`FreshRunResumeFilter` to the loggers of the engines named ``class_names`` (once each)."""
    for name in class_names:
        logger = logging.getLogger(f"ignite.engine.engine.{name}")
        if not any(isinstance(f, FreshRunResumeFilter) for f in logger.filters):
            logger.addFilter(FreshRunResumeFilter())
