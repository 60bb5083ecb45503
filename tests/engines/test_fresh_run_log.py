# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""A fresh run does not log "Engine run resuming from iteration 0"; a real resumption still does."""

from __future__ import annotations

import logging

import pytest
import torch
from monai.engines import SupervisedEvaluator

import metassl_monai.engines  # noqa: F401  (installs the filter)


def evaluate(caplog) -> str:
    net = torch.nn.Conv2d(1, 1, 1)
    batch = {"image": torch.zeros(1, 1, 2, 2), "label": torch.zeros(1, 1, 2, 2)}
    evaluator = SupervisedEvaluator(device=torch.device("cpu"), val_data_loader=[batch], network=net)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        evaluator.run()
    return caplog.text


def test_fresh_evaluator_run_says_no_resumption(caplog, monkeypatch):
    logger = logging.getLogger("ignite.engine.engine.SupervisedEvaluator")
    monkeypatch.setattr(logger, "filters", [])  # without the filter MONAI's evaluator says it resumes
    assert "Engine run resuming from iteration 0" in evaluate(caplog)
    metassl_monai.engines.quiet_fresh_run_messages()
    assert "resuming from iteration 0" not in evaluate(caplog)


@pytest.mark.parametrize("message, kept", [
    ("Engine run resuming from iteration 0, epoch 0 until 3 epochs", False),
    ("Engine run resuming from iteration 750, epoch 3 until 12 epochs", True),  # a real resumption
    ("Engine run starting with max_epochs=3.", True),
])
def test_only_the_iteration_0_resumption_is_dropped(caplog, message, kept):
    logger = logging.getLogger("ignite.engine.engine.SemiSupervisedTrainer")
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info(message)
    assert (message in caplog.text) is kept
