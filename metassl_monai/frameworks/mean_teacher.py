# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Mean Teacher (Tarvainen & Valpola 2017): an EMA copy of the student is the reference."""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events
from ignite.handlers import EMAHandler
from monai.inferers import Inferer
from torch import nn

from metassl_monai.handlers.iteration import follow_iteration

from .base import Branch, Framework, split_batch

__all__ = ["MeanTeacher"]


class MeanTeacher(Framework):
    """
    The student ``network`` sees ``cat([labeled, unlabeled])`` in one pass; the ``teacher`` (no gradient) sees the
    unlabeled images (and the labeled ones when a labeled consistency loss asks for them). By default it sees them
    clean, as in the MetaSSL code (which computes SSL4MIS's input noise and does not use it); ``noise_std > 0`` adds
    SSL4MIS's clipped Gaussian input noise (its Mean Teacher baseline: ``noise_std=0.1, noise_clip=0.2``).

    The teacher is the ``ema_model`` of an Ignite :class:`~ignite.handlers.EMAHandler` created here and attached to
    the trainer by :meth:`attach`: after every iteration ``θ_T ← (1 − μ) θ_T + μ θ_S`` with ``μ`` falling linearly
    from ``ema_warmup_momentum`` to ``1 − ema_decay`` over ``ema_warmup_iterations`` (the MetaSSL code uses
    ``μ = max(1/(t+1), 1 − 0.99)``; QG-SSL's PL-QW teacher ``ema_decay=0.999, ema_warmup_momentum=0.5,
    ema_warmup_iterations=1000``: the decay rises linearly 0.5 → 0.999). With ``teacher_train_mode`` (the MetaSSL
    code's behaviour) the teacher runs in train mode (dropout on, batch statistics) and its buffers are not averaged
    (``handle_buffers="ema_train"``); otherwise it runs in eval mode with the student's buffers copied (QG-SSL). The
    warm-up follows ``engine.state.iteration``, so a resumed run continues it (the teacher's weights are part of this
    module's ``state_dict``). A bundle's consistency-loss recipe may change these settings through
    :meth:`configure_teacher` (its ``"teacher"`` entry).

    Args:
        network: the student.
        ema_decay: final EMA decay (0.99 in the MetaSSL code).
        ema_warmup_iterations: iterations of the momentum warm-up (0: no warm-up).
        ema_warmup_momentum: EMA momentum at the first iteration (1.0: the teacher starts as a copy of the student).
        noise_std: standard deviation of the teacher's input noise (0, the default, disables it).
        noise_clip: the noise is clamped to ``[-noise_clip, noise_clip]``.
        teacher_train_mode: see above.
        inferer: how the student is called (see :class:`~metassl_monai.frameworks.Framework`); the teacher, which
            gets no gradient, is called directly (through ``torch.compile`` after
            :meth:`~metassl_monai.frameworks.Framework.compile_networks`).

    Raises:
        ValueError: ``ema_decay`` outside (0, 1), or a negative noise setting.
    """

    def __init__(
        self,
        network: nn.Module,
        ema_decay: float = 0.99,
        ema_warmup_iterations: int = 100,
        ema_warmup_momentum: float = 1.0,
        noise_std: float = 0.0,
        noise_clip: float = 0.2,
        teacher_train_mode: bool = True,
        inferer: Inferer | None = None,
    ) -> None:
        super().__init__(network, inferer=inferer)
        self._attached = False
        self._settings: dict = {}
        self.configure_teacher(
            ema_decay=ema_decay,
            ema_warmup_iterations=ema_warmup_iterations,
            ema_warmup_momentum=ema_warmup_momentum,
            noise_std=noise_std,
            noise_clip=noise_clip,
            teacher_train_mode=teacher_train_mode,
        )

    def configure_teacher(self, **settings) -> MeanTeacher:
        """
        Change any of the constructor's teacher settings (``ema_decay``, ``ema_warmup_iterations``,
        ``ema_warmup_momentum``, ``noise_std``, ``noise_clip``, ``teacher_train_mode``); the teacher is rebuilt as
        a copy of the student's current weights. Returns ``self``.

        Raises:
            ValueError: an unknown setting or a value out of range.
            RuntimeError: called after the framework was attached to a trainer.
        """
        known = ("ema_decay", "ema_warmup_iterations", "ema_warmup_momentum", "noise_std", "noise_clip",
                 "teacher_train_mode")
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise ValueError(f"unknown teacher setting(s) {unknown}; known: {list(known)}.")
        if not settings:
            return self
        if self._attached:
            raise RuntimeError("configure_teacher() must be called before the framework is attached to a trainer.")
        s = {**self._settings, **settings}
        if not 0.0 < float(s["ema_decay"]) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {s['ema_decay']}.")
        if float(s["noise_std"]) < 0 or float(s["noise_clip"]) < 0:
            raise ValueError(f"noise_std and noise_clip must be >= 0, got {s['noise_std']}, {s['noise_clip']}.")
        if not 0.0 < float(s["ema_warmup_momentum"]) <= 1.0:
            raise ValueError(f"ema_warmup_momentum must be in (0, 1], got {s['ema_warmup_momentum']}.")
        self._settings = s
        self.teacher_train_mode = bool(s["teacher_train_mode"])
        warmup = int(s["ema_warmup_iterations"]) > 0
        self.ema = EMAHandler(
            self.network,
            momentum=1.0 - float(s["ema_decay"]),
            momentum_warmup=float(s["ema_warmup_momentum"]) if warmup else None,
            warmup_iters=int(s["ema_warmup_iterations"]) if warmup else None,
            handle_buffers="ema_train" if self.teacher_train_mode else "copy",
        )
        self.teacher = self.ema.ema_model
        self._compiled = {}  # a new teacher: compiled again on first use
        self.noise_std = float(s["noise_std"])
        self.noise_clip = float(s["noise_clip"])
        return self

    @property
    def teacher_settings(self) -> dict:
        """The teacher settings in use (the constructor's, updated by :meth:`configure_teacher`)."""
        return dict(self._settings)

    def attach(self, engine: Engine) -> None:
        super().attach(engine)
        self._attached = True
        if self.ema._momentum_lambda_obj is not None:
            # registered before the EMA handler's momentum scheduler, so it runs first: the warm-up follows the
            # engine's iteration (restored from a checkpoint on resume); restarting it after a resume would reset
            # the teacher to the student
            engine.add_event_handler(Events.ITERATION_COMPLETED, self._sync_ema_warmup)
        self.ema.attach(engine, name="ema_momentum", event=Events.ITERATION_COMPLETED, warn_if_exists=False)

    def _sync_ema_warmup(self, engine: Engine) -> None:
        scheduler = getattr(self.ema, "momentum_scheduler", None)  # created by self.ema.attach
        if scheduler is not None:
            follow_iteration(scheduler, engine)

    def forward(
        self, labeled: torch.Tensor, unlabeled: torch.Tensor | None, with_labeled_reference: bool = False
    ) -> list[Branch]:
        if unlabeled is None:
            raise ValueError("MeanTeacher needs an unlabeled batch.")
        n_l = labeled.shape[0]
        pred_l, pred_u = split_batch(self.run(self.network, torch.cat([labeled, unlabeled])), n_l)
        teacher_in = torch.cat([labeled, unlabeled]) if with_labeled_reference else unlabeled
        if self.noise_std > 0:
            noise = torch.randn_like(teacher_in) * self.noise_std
            teacher_in = teacher_in + noise.clamp(-self.noise_clip, self.noise_clip)
        self.teacher.train(self.teacher_train_mode)
        with torch.no_grad():
            ref = self.wrapped(self.teacher)(teacher_in)  # compiled too after compile_networks()
        ref_l, ref_u = split_batch(ref, n_l) if with_labeled_reference else (None, ref)
        return [Branch(pred_l=pred_l, pred_u=pred_u, ref_u=ref_u, ref_l=ref_l)]
