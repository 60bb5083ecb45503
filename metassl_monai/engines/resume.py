# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""Where a training run writes, what it resumes from, and the validation state a resumed run must keep."""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

__all__ = ["latest_checkpoint", "prepare_output_dir", "backup_file", "ValidationState"]

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint_(?:epoch|iteration)=(\d+)\.pt$")
#: files that mark a directory as holding a trained run
RUN_FILES = ("model.pt", "checkpoint_final.pt")


def _checkpoints(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in directory.glob("checkpoint_*.pt"):
        match = _CHECKPOINT.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(directory: str | os.PathLike) -> str:
    """
    The checkpoint a run in ``directory`` resumes from: the interval checkpoint with the highest epoch (or
    iteration) count (``checkpoint_epoch=N.pt`` / ``checkpoint_iteration=N.pt`` of ``monai.handlers.CheckpointSaver``),
    else ``checkpoint_final.pt`` (a finished run: resuming it trains no further unless ``max_epochs`` grew).

    Raises:
        FileNotFoundError: when ``directory`` does not exist or holds no checkpoint (the message names it).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot resume: the output directory {directory} does not exist.")
    found = _checkpoints(directory)
    if found:
        return str(found[-1][1])
    final = directory / "checkpoint_final.pt"
    if final.is_file():
        return str(final)
    raise FileNotFoundError(
        f"cannot resume: {directory} holds no checkpoint (checkpoint_epoch=N.pt or checkpoint_final.pt); "
        "start a new run without --resume."
    )


def backup_file(path: str | os.PathLike) -> str | None:
    """
    Copy ``path`` (if it exists) to ``<stem>_<its modification time>.pt`` beside it and return the copy's path;
    the original stays in place (a MONAI Label server keeps serving it until the new model replaces it).
    """
    path = Path(path)
    if not path.is_file():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
    target = path.with_name(f"{path.stem}_{stamp}{path.suffix}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.stem}_{stamp}_{n}{path.suffix}")
    shutil.copy2(path, target)
    logger.info(f"kept the previous {path.name} as {target}")
    return str(target)


def prepare_output_dir(output_dir: str | os.PathLike, resume: bool = False, on_existing: str = "refuse") -> str:
    """
    Check a training run's output directory; returns the directory the run writes to (created by the first
    handler that writes there, so a run that fails on bad input leaves nothing behind; a versioned directory is
    created at once).

    - ``resume=True``: ``output_dir`` must hold a checkpoint to resume (see :func:`latest_checkpoint`); it is
      returned unchanged and the run continues in it.
    - otherwise, when ``output_dir`` already holds a trained run (``model.pt``, ``checkpoint_final.pt`` or
      interval checkpoints), ``on_existing`` decides: ``"refuse"`` raises (nothing is changed on disk),
      ``"version"`` returns the first free ``<output_dir>_2``, ``<output_dir>_3``, ....

    Args:
        output_dir: the configured output directory.
        resume: continue the run in ``output_dir``.
        on_existing: ``"refuse"`` or ``"version"``.

    Raises:
        FileExistsError: ``on_existing="refuse"`` and ``output_dir`` holds a trained run.
        FileNotFoundError: ``resume=True`` and there is nothing to resume.
        ValueError: unknown ``on_existing``.
    """
    if on_existing not in ("refuse", "version"):
        raise ValueError(f"on_existing must be 'refuse' or 'version', got {on_existing!r}.")
    output_dir = Path(output_dir)
    if resume:
        latest_checkpoint(output_dir)
        return str(output_dir)

    def trained(d: Path) -> list[str]:
        names = [name for name in RUN_FILES if (d / name).is_file()]
        return names + [p.name for _, p in _checkpoints(d)] if d.is_dir() else []

    held = trained(output_dir)
    if held:
        if on_existing == "refuse":
            raise FileExistsError(
                f"the output directory {output_dir} already holds a trained run ({', '.join(held)}); nothing was "
                "overwritten. Continue that run with --resume true, or start a new one with another --output_dir."
            )
        n = 2
        while trained(output_dir.with_name(f"{output_dir.name}_{n}")):
            n += 1
        versioned = output_dir.with_name(f"{output_dir.name}_{n}")
        logger.warning(f"{output_dir} already holds a trained run ({', '.join(held)}): this run writes to {versioned}")
        versioned.mkdir(parents=True, exist_ok=True)  # claimed now, so a concurrent run picks the next one
        return str(versioned)
    # not created here: the first handler that writes creates it, so a run failing on bad input leaves nothing
    return str(output_dir)


class ValidationState:
    """
    The validation state a resumed run must keep, as one checkpointable object (``state_dict`` /
    ``load_state_dict``): the evaluator's best metric and its epoch, and the ranking of the best-model
    :class:`monai.handlers.CheckpointSaver` (``save_key_metric=True``), so that a resumed run replaces
    ``model.pt`` only with a *better* model, never with the first one it validates.

    Args:
        evaluator: the validation engine (``monai.engines.SupervisedEvaluator``).
        best_model_saver: the ``CheckpointSaver`` writing the best model (or None).
    """

    def __init__(self, evaluator: Any, best_model_saver: Any = None) -> None:
        self.evaluator = evaluator
        self.best_model_saver = best_model_saver

    def _ranking(self) -> Any:
        return getattr(self.best_model_saver, "_key_metric_checkpoint", None)

    def state_dict(self) -> dict:
        state = self.evaluator.state
        ranking = self._ranking()
        return {
            "best_metric": float(getattr(state, "best_metric", -1.0)),
            "best_metric_epoch": int(getattr(state, "best_metric_epoch", -1)),
            "ranking": [[float(p), str(f)] for p, f in ranking.state_dict()["_saved"]] if ranking is not None else [],
        }

    def load_state_dict(self, state: dict) -> None:
        """
        Raises:
            KeyError: when ``state`` misses a key.
        """
        for key in ("best_metric", "best_metric_epoch", "ranking"):
            if key not in state:
                raise KeyError(f"the validation state has no '{key}' (it has {sorted(state)}).")
        self.evaluator.state.best_metric = float(state["best_metric"])
        self.evaluator.state.best_metric_epoch = int(state["best_metric_epoch"])
        ranking = self._ranking()
        if ranking is not None:
            ranking.load_state_dict({"_saved": [(p, f) for p, f in state["ranking"]]})
