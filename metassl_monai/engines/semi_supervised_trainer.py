# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""A MONAI/Ignite trainer that consumes a labeled and an unlabeled stream per iteration."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from monai.data import MetaTensor
from monai.engines import Trainer
from monai.engines.utils import IterationEvents, default_prepare_batch
from monai.inferers import Inferer
from monai.utils.enums import CommonKeys as Keys
from torch import nn
from torch.optim.optimizer import Optimizer
from ignite.engine import Events
from torch.utils.data import DataLoader

from metassl_monai.engines.random_state import get_random_states, set_random_states, this_rank_part, with_every_rank
from metassl_monai.engines.streams import ResumableStream
from metassl_monai.frameworks.base import Framework
from metassl_monai.lazy_floats import LazyFloats
from metassl_monai.losses.branch import BranchLosses
from metassl_monai.engines.fresh_run_log import quiet_fresh_run_messages

__all__ = ["SemiSupervisedTrainer"]

quiet_fresh_run_messages()  # every bundle engine's fresh run logs as one (metassl_monai.engines.fresh_run_log)

_RESUME_KEYS = ("streams", "random_states", "rank", "rank_states")


def _call(loss: nn.Module, pred: torch.Tensor, ref: torch.Tensor, target, image: torch.Tensor) -> torch.Tensor:
    """A consistency loss call; losses with ``requires_image = True`` (quality-guided ones) also get the image."""
    if getattr(loss, "requires_image", False):
        return loss(pred, ref, target, image=image)
    return loss(pred, ref) if target is None else loss(pred, ref, target)


class SemiSupervisedTrainer(Trainer):
    """
    Semi-supervised training with SSL4MIS-style two-stream batches. One iteration:

    1. next labeled batch (the engine's data loader) and next unlabeled batch (``unlabeled_data_loader``, cycled
       independently, its ``DistributedSampler`` epoch advanced on every new pass);
    2. ``framework(x_l, x_u)`` → one :class:`~metassl_monai.frameworks.Branch` per trainable network (a
       framework with :attr:`~metassl_monai.frameworks.Framework.view_keys` also gets those views of both batches,
       ``views={key: (labeled, unlabeled)}``);
    3. per branch: ``supervised_loss(pred_l, y_l) + λ · [consistency_loss(pred_u, ref_u)
       + labeled_consistency_loss(pred_l, ref_l, y_l)]`` (``pred_l_consistency`` instead of ``pred_l`` in the
       labeled term when the branch sets it), summed over branches (a loss with
       ``requires_image = True``, e.g. the quality-guided ones, is also given ``image=`` the clean input batch);
    4. backward and optimizer step (with ``torch.autocast``/GradScaler when ``amp``).

    ``λ`` is ``engine.state.consistency_weight``, set each iteration by a parameter scheduler such as
    :class:`metassl_monai.handlers.ConsistencyRampUp` (``consistency_weight`` below is only its initial value).

    Consistency losses take ``(pred_logits, ref_logits, target=None)``. Each branch gets its *own deep copy* of
    them (the objects passed in are left untouched), so stateful losses (the adaptive thresholds of
    :class:`~metassl_monai.losses.HeterogeneousLoss`) are kept
    per network, and separately for the labeled and unlabeled terms, as the MetaSSL code does. Those copies are
    owned by a :class:`~metassl_monai.losses.BranchLosses` module, :attr:`branch_losses`: pass one (the bundles
    create it in ``train#branch_losses`` and checkpoint its ``unlabeled``/``labeled`` lists), or pass the plain
    losses and the trainer creates it.

    **Resuming.** Both streams are read through :class:`~metassl_monai.engines.streams.ResumableStream` (when
    they are ``DataLoader`` s), which owns their shuffling and worker seeds. :meth:`state_dict` adds to Ignite's
    ``iteration``/``epoch_length``/``max_epochs`` the position of each stream in its current pass, the consistency
    weight and every random state (torch/CUDA/numpy/Python global RNGs and the random states of the datasets'
    transforms). After :meth:`load_state_dict` (e.g. by ``monai.handlers.CheckpointLoader``), the first batch
    request replays the streams to their saved positions and then restores the random states, so a run resumed
    from a checkpoint continues exactly as the uninterrupted run would have. In a multi-process run the checkpoint
    holds every rank's stream positions and random states (``rank_states``, gathered when the saver runs: attach it
    on every rank, only rank 0 writes) and each rank restores its own; resumed with a different number of
    processes, rank 0 restores rank 0's and the others keep their own seeds (with a warning). Together with the
    framework, optimizer, LR scheduler and the consistency losses (adaptive thresholds) in the checkpoint, this is
    everything the run needs.

    ``engine.state.output`` holds ``image``, ``label``, ``pred`` (labeled logits of the first branch), ``loss``
    (a 0-dim tensor), ``loss_terms`` (a dict of floats when read: ``loss``, ``sup``, ``cons_u``, ``cons_l``,
    suffixed ``_b`` for the second branch, and ``consistency_weight``) and ``ssl_stats`` (a dict of floats when read:
    what the consistency losses computed, e.g. adaptive thresholds, region fractions, predicted quality; see
    :meth:`~metassl_monai.losses.BranchLosses.stats`; empty without such losses), plus ``unlabeled_image`` when the
    unlabeled stream is used. Log them with MONAI's handlers, e.g.
    ``StatsHandler(output_transform=lambda x: {**x["loss_terms"], **x["ssl_stats"]})``.

    ``loss_terms`` and ``ssl_stats`` are :class:`~metassl_monai.lazy_floats.LazyFloats`: read-only mappings that keep
    the detached loss tensors and turn them into Python floats only when a handler reads them (bitwise the floats of
    ``tensor.item()``), so the trainer, the frameworks and the loss statistics make no host-device sync in an
    iteration: on a GPU, a run that logs every 10 or 50 iterations (the bundles) waits for the device only then (with
    ``amp``, PyTorch's ``GradScaler`` still checks the gradients for inf/NaN on the host each step). Use ``dict(...)``
    where a real ``dict`` is needed (e.g. ``json.dumps``).

    Args:
        device: device to train on.
        max_epochs: number of epochs (an epoch is ``epoch_length`` iterations).
        train_data_loader: the labeled stream; items ``{"image", "label"}``. Loaders are not checked for batches
            here: check them where they are configured, with :func:`metassl_monai.data.require_batches` (the bundles
            do, so the message names the setting to change). An unlabeled stream that yields no batch raises a
            ValueError when it is first read.
        framework: a :class:`~metassl_monai.frameworks.Framework` (Supervised, MeanTeacher, CPS, ...).
        optimizer: optimizer over the parameters of ``framework.trainable_networks()``.
        supervised_loss: loss of the labeled logits against the label, e.g. ``monai.losses.DiceCELoss``.
        unlabeled_data_loader: the unlabeled stream; items ``{"image"}``; required when the framework uses it.
        consistency_loss: loss between ``pred_u`` and ``ref_u`` (None: no unlabeled term).
        labeled_consistency_loss: loss between ``pred_l`` and ``ref_l`` with the label as target (None: no term).
        branch_losses: instead of the two losses above, their per-branch copies, already made (its
            ``num_branches`` must be the framework's).
        consistency_weight: initial ``engine.state.consistency_weight``.
        epoch_length: iterations per epoch (default: length of the labeled loader).
        image_key, label_key: keys of the batch dictionaries.
        amp: mixed precision (CUDA only).
        compile: call the networks through ``torch.compile``
            (:meth:`~metassl_monai.frameworks.Framework.compile_networks` with ``compile_kwargs``), as ``compile`` of
            :class:`monai.engines.SupervisedTrainer`: the batches enter as
            plain tensors (MetaTensor metadata dropped). The framework's networks stay uncompiled modules, so the
            checkpoints and ``model.pt`` hold their plain ``state_dict`` (no ``_orig_mod.`` prefix).
        compile_kwargs: keyword arguments of ``torch.compile`` (e.g. ``{"backend": "inductor", "mode": "default"}``).
        optim_set_to_none: ``zero_grad(set_to_none=...)``.
        train_handlers, key_train_metric, additional_metrics, postprocessing, non_blocking, amp_kwargs, to_kwargs,
        event_names, event_to_attr, decollate: as in :class:`monai.engines.SupervisedTrainer` (e.g.
            ``non_blocking=True`` with pinned-memory loaders, ``to_kwargs={"memory_format": torch.channels_last}``
            for channels-last batches: both are given to ``prepare_batch``).
        prepare_batch: ``prepare_batch(batch, device, non_blocking, **to_kwargs)`` → ``(image, label)``, called as
            in :class:`monai.engines.SupervisedTrainer` on the labeled batch and on the unlabeled batch (whose label,
            ``None`` for :func:`monai.engines.utils.default_prepare_batch`, is ignored). ``image_key``/``label_key``
            other than ``"image"``/``"label"`` are copied to those keys before the call.
        inferer: optional, only checked: how the framework calls its networks is the framework's ``inferer``
            (given to the framework, e.g. ``"inferer": "@train#inferer"`` in the bundle configs); :attr:`inferer`
            is that object. When given, it must be the framework's own.

    Raises:
        ValueError: ``inferer`` is not the framework's inferer (the trainer does not change the framework).
    """

    def __init__(
        self,
        device: str | torch.device,
        max_epochs: int,
        train_data_loader: Iterable | DataLoader,
        framework: Framework,
        optimizer: Optimizer,
        supervised_loss: Callable,
        unlabeled_data_loader: Iterable | DataLoader | None = None,
        consistency_loss: nn.Module | None = None,
        labeled_consistency_loss: nn.Module | None = None,
        consistency_weight: float = 0.0,
        epoch_length: int | None = None,
        image_key: str = Keys.IMAGE,
        label_key: str = Keys.LABEL,
        non_blocking: bool = False,
        postprocessing: Callable | None = None,
        key_train_metric: dict | None = None,
        additional_metrics: dict | None = None,
        train_handlers: Sequence | None = None,
        amp: bool = False,
        event_names: list | None = None,
        event_to_attr: dict | None = None,
        decollate: bool = False,
        optim_set_to_none: bool = False,
        to_kwargs: dict | None = None,
        amp_kwargs: dict | None = None,
        inferer: Inferer | None = None,
        prepare_batch: Callable = default_prepare_batch,
        branch_losses: BranchLosses | None = None,
        compile: bool = False,
        compile_kwargs: dict | None = None,
    ) -> None:
        if not isinstance(framework, Framework):
            raise TypeError(f"framework must be a metassl_monai.frameworks.Framework, got {type(framework).__name__}.")
        if branch_losses is None:
            branch_losses = BranchLosses(framework.num_branches, consistency_loss, labeled_consistency_loss)
        elif consistency_loss is not None or labeled_consistency_loss is not None:
            raise ValueError("pass either branch_losses or consistency_loss/labeled_consistency_loss, not both.")
        elif branch_losses.num_branches != framework.num_branches:
            raise ValueError(
                f"branch_losses has {branch_losses.num_branches} branch(es) but {type(framework).__name__} has "
                f"{framework.num_branches}."
            )
        name = type(framework).__name__
        if framework.uses_unlabeled and unlabeled_data_loader is None:
            raise ValueError(f"{name} needs an unlabeled_data_loader.")
        if not framework.uses_unlabeled and branch_losses.has_unlabeled:
            raise ValueError(f"{name} has no unlabeled stream: set consistency_loss to None.")
        if framework.uses_unlabeled and not branch_losses.has_unlabeled:
            raise ValueError(f"{name} needs a consistency_loss for the unlabeled stream.")
        if branch_losses.has_labeled and not framework.uses_unlabeled:
            raise ValueError(f"{name} has no reference: set labeled_consistency_loss to None.")
        if inferer is not None and inferer is not framework.inferer:
            raise ValueError(
                f"inferer ({type(inferer).__name__}) is not the framework's inferer ({type(framework.inferer).__name__}):"
                f" pass it to the framework instead, e.g. {type(framework).__name__}(..., inferer=...)."
            )
        if isinstance(train_data_loader, DataLoader):
            train_data_loader = ResumableStream(train_data_loader, name="labeled")
        if framework.uses_unlabeled and isinstance(unlabeled_data_loader, DataLoader):
            unlabeled_data_loader = ResumableStream(unlabeled_data_loader, name="unlabeled")
        super().__init__(
            device=device,
            max_epochs=max_epochs,
            data_loader=train_data_loader,
            epoch_length=epoch_length,
            non_blocking=non_blocking,
            prepare_batch=prepare_batch,
            iteration_update=None,
            postprocessing=postprocessing,
            key_metric=key_train_metric,
            additional_metrics=additional_metrics,
            handlers=train_handlers,
            amp=amp,
            event_names=event_names,
            event_to_attr=event_to_attr,
            decollate=decollate,
            to_kwargs=to_kwargs,
            amp_kwargs=amp_kwargs,
        )
        self.framework = framework
        self.inferer = framework.inferer
        self.network = framework.network
        self.optimizer = optimizer
        self.supervised_loss = supervised_loss
        self.unlabeled_data_loader = unlabeled_data_loader if framework.uses_unlabeled else None
        self.branch_losses = branch_losses
        self.image_key = image_key
        self.label_key = label_key
        self.optim_set_to_none = optim_set_to_none
        self.compile = bool(compile)
        if self.compile:
            framework.compile_networks(**(compile_kwargs or {}))
        self.state.consistency_weight = float(consistency_weight)
        self._unlabeled_iter: Any = None
        self._pending_resume: dict | None = None
        self.add_event_handler(Events.GET_BATCH_STARTED, self._resume_streams)
        framework.attach(self)

    def _random_state_roots(self) -> list:
        return [getattr(s, "loader", s) for s in (self.data_loader, self.unlabeled_data_loader) if s is not None]

    def state_dict(self):
        """
        Ignite's engine state plus what an exact resume needs: ``consistency_weight``, ``streams`` (the position of
        each :class:`~metassl_monai.engines.streams.ResumableStream`), ``random_states``, the ``rank`` they
        belong to and, with several processes, ``rank_states`` (every rank's streams and random states: collective,
        every rank calls this at the same point). Only tensors and plain Python values: loadable with
        ``torch.load(..., weights_only=True)``.
        """
        state = super().state_dict()
        state["consistency_weight"] = float(getattr(self.state, "consistency_weight", 0.0) or 0.0)
        if self._pending_resume:  # loaded but no batch read since (e.g. a finished run resumed): keep what was loaded
            pending = self._pending_resume
            state.update({k: pending[k] for k in _RESUME_KEYS if k in pending})
            return state
        streams = {
            name: stream.state_dict()
            for name, stream in (("labeled", self.data_loader), ("unlabeled", self.unlabeled_data_loader))
            if isinstance(stream, ResumableStream)
        }
        state.update(with_every_rank({"streams": streams,
                                      "random_states": get_random_states(*self._random_state_roots())}))
        return state

    def load_state_dict(self, state_dict) -> None:
        """
        Restore Ignite's engine state now, and the streams and random states at the next batch request (see the
        class docstring). A state without ``streams``/``random_states`` (a plain Ignite engine state) restores the
        iteration counters only.
        """
        state = dict(state_dict)
        extra = {k: state.pop(k) for k in ("consistency_weight", *_RESUME_KEYS) if k in state}
        super().load_state_dict(state)
        if "consistency_weight" in extra:
            self.state.consistency_weight = float(extra["consistency_weight"])
        self._pending_resume = extra
        self._unlabeled_iter = None

    def _resume_streams(self, _engine=None) -> None:
        pending, self._pending_resume = self._pending_resume, None
        if not pending:
            return
        own = this_rank_part(pending, self.logger) if "random_states" in pending else None
        for name, stream in (("labeled", self.data_loader), ("unlabeled", self.unlabeled_data_loader)):
            if not isinstance(stream, ResumableStream):
                continue
            saved = (own or pending).get("streams", {}).get(name)
            if saved is None:
                self.logger.warning(f"the checkpoint has no position of the {name} stream: it restarts a pass.")
                continue
            if not stream.is_reproducible:
                self.logger.warning(
                    f"the {name} data loader's order is not reproducible (its sampler draws from the global RNG or "
                    "persistent_workers=True): the resumed run reads different batches than the interrupted one."
                )
            stream.load_state_dict(saved)
            stream.prepare()
        if own is not None:
            set_random_states(own["random_states"], *self._random_state_roots())

    @property
    def consistency_losses(self) -> nn.ModuleList | None:
        """``branch_losses.unlabeled`` (the per-branch copies of ``consistency_loss``), or None without it."""
        return self.branch_losses.unlabeled if self.branch_losses.has_unlabeled else None

    @property
    def labeled_consistency_losses(self) -> nn.ModuleList | None:
        """``branch_losses.labeled`` (the per-branch copies of ``labeled_consistency_loss``), or None without it."""
        return self.branch_losses.labeled if self.branch_losses.has_labeled else None

    def _next_unlabeled(self) -> dict:
        if self._unlabeled_iter is None:
            self._start_unlabeled_pass()
        try:
            return next(self._unlabeled_iter)
        except StopIteration:
            self._start_unlabeled_pass()
            try:
                return next(self._unlabeled_iter)
            except StopIteration:
                raise ValueError("the unlabeled data loader yielded no batch.") from None

    def _start_unlabeled_pass(self) -> None:
        self._unlabeled_iter = iter(self.unlabeled_data_loader)  # type: ignore[arg-type]

    def _prepare(self, batch: dict, keys: tuple[str, ...]) -> tuple:
        """``self.prepare_batch`` on ``batch`` after checking it holds ``keys`` (image key, then label key).

        Raises:
            KeyError: when ``batch`` is not a dict holding every key of ``keys``; the message names the key.
        """
        for key in keys:
            if not isinstance(batch, dict) or key not in batch:
                got = sorted(batch.keys()) if isinstance(batch, dict) else type(batch).__name__
                raise KeyError(f"batch has no key '{key}' (it has {got}).")
        common = (Keys.IMAGE, Keys.LABEL)[: len(keys)]
        if tuple(keys) != common:
            batch = {**batch, **{c: batch[k] for c, k in zip(common, keys)}}
        prepared = self.prepare_batch(batch, self.state.device, self.non_blocking, **self.to_kwargs)
        if self.compile:  # as MONAI's SupervisedTrainer: plain tensors into the compiled networks (no MetaTensor)
            prepared = tuple(x.as_tensor() if isinstance(x, MetaTensor) else x for x in prepared)
        return prepared

    def _iteration(self, engine: SemiSupervisedTrainer, batchdata: dict) -> dict:  # type: ignore[override]
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        x_l, y_l = engine._prepare(batchdata, (engine.image_key, engine.label_key))
        x_u, unlabeled_batch = None, None
        if engine.unlabeled_data_loader is not None:
            unlabeled_batch = engine._next_unlabeled()
            x_u = engine._prepare(unlabeled_batch, (engine.image_key,))[0]
        # extra views a framework reads (FixMatch's strong view), moved like the images
        views = {
            key: (engine._prepare(batchdata, (key,))[0],
                  None if unlabeled_batch is None else engine._prepare(unlabeled_batch, (key,))[0])
            for key in engine.framework.view_keys
        }
        engine.state.output = {Keys.IMAGE: x_l, Keys.LABEL: y_l}
        if x_u is not None:
            engine.state.output["unlabeled_image"] = x_u

        losses = engine.branch_losses
        for net in engine.framework.trainable_networks():
            net.train()
        losses.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)

        def _forward_and_loss() -> None:
            extra = {"views": views} if views else {}
            branches = engine.framework(x_l, x_u, with_labeled_reference=losses.has_labeled, **extra)
            engine.state.output[Keys.PRED] = branches[0].pred_l
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            weight = float(getattr(engine.state, "consistency_weight", 0.0) or 0.0)
            total = torch.zeros((), device=x_l.device)
            # detached 0-dim tensors, converted to floats only when a handler reads them: no host sync per iteration
            terms: dict[str, torch.Tensor | float] = {}
            for i, branch in enumerate(branches):
                suffix = "" if i == 0 else "_b" if i == 1 else f"_{i}"
                sup = engine.supervised_loss(branch.pred_l, y_l).mean()
                terms["sup" + suffix] = sup.detach()
                total = total + sup
                if losses.has_unlabeled:
                    cons_u = _call(losses.unlabeled[i], branch.pred_u, branch.ref_u, None, x_u)
                    terms["cons_u" + suffix] = cons_u.detach()
                    total = total + weight * cons_u
                if losses.has_labeled:
                    cons_l = _call(losses.labeled[i], branch.labeled_consistency_pred, branch.ref_l, y_l, x_l)
                    terms["cons_l" + suffix] = cons_l.detach()
                    total = total + weight * cons_l
            terms["loss"] = total.detach()
            terms["consistency_weight"] = weight
            engine.state.output[Keys.LOSS] = total
            engine.state.output["loss_terms"] = LazyFloats(terms)
            engine.fire_event(IterationEvents.LOSS_COMPLETED)

        if engine.amp and engine.scaler is not None:
            with torch.autocast("cuda", **engine.amp_kwargs):
                _forward_and_loss()
            engine.scaler.scale(engine.state.output[Keys.LOSS]).backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.scaler.step(engine.optimizer)
            engine.scaler.update()
        else:
            _forward_and_loss()
            engine.state.output[Keys.LOSS].backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.optimizer.step()
        engine.state.output["ssl_stats"] = losses.stats()
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output
