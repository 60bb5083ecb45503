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
    unlabeled images (and the labeled ones when a labeled consistency loss asks for them) with clipped Gaussian input
    noise, as SSL4MIS does.

    The teacher is the ``ema_model`` of an Ignite :class:`~ignite.handlers.EMAHandler` created here and attached to
    the trainer by :meth:`attach`: after every iteration ``θ_T ← (1 − μ) θ_T + μ θ_S`` with ``μ`` falling linearly
    from ``ema_warmup_momentum`` to ``1 − ema_decay`` over ``ema_warmup_iterations`` (the MetaSSL code uses
    ``μ = max(1/(t+1), 1 − 0.99)``). With ``teacher_train_mode`` (the MetaSSL code's behaviour) the teacher runs in
    train mode (dropout on, batch statistics) and its buffers are not averaged (``handle_buffers="ema_train"``);
    otherwise it runs in eval mode with the student's buffers copied. The warm-up follows ``engine.state.iteration``,
    so a resumed run continues it (the teacher's weights are part of this module's ``state_dict``).

    Args:
        network: the student.
        ema_decay: final EMA decay (0.99 in the paper's code).
        ema_warmup_iterations: iterations of the momentum warm-up (0: no warm-up).
        ema_warmup_momentum: EMA momentum at the first iteration (1.0: the teacher starts as a copy of the student).
        noise_std: standard deviation of the teacher's input noise (0 disables it).
        noise_clip: the noise is clamped to ``[-noise_clip, noise_clip]``.
        teacher_train_mode: see above.
        inferer: how the student is called (see :class:`~metassl_monai.frameworks.Framework`); the teacher, which
            gets no gradient, is called directly.
    """

    def __init__(
        self,
        network: nn.Module,
        ema_decay: float = 0.99,
        ema_warmup_iterations: int = 100,
        ema_warmup_momentum: float = 1.0,
        noise_std: float = 0.1,
        noise_clip: float = 0.2,
        teacher_train_mode: bool = True,
        inferer: Inferer | None = None,
    ) -> None:
        super().__init__(network, inferer=inferer)
        if not 0.0 < ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {ema_decay}.")
        self.teacher_train_mode = bool(teacher_train_mode)
        warmup = int(ema_warmup_iterations) > 0
        self.ema = EMAHandler(
            network,
            momentum=1.0 - float(ema_decay),
            momentum_warmup=float(ema_warmup_momentum) if warmup else None,
            warmup_iters=int(ema_warmup_iterations) if warmup else None,
            handle_buffers="ema_train" if self.teacher_train_mode else "copy",
        )
        self.teacher = self.ema.ema_model
        self.noise_std = float(noise_std)
        self.noise_clip = float(noise_clip)

    def attach(self, engine: Engine) -> None:
        super().attach(engine)
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
            ref = self.teacher(teacher_in)
        ref_l, ref_u = split_batch(ref, n_l) if with_labeled_reference else (None, ref)
        return [Branch(pred_l=pred_l, pred_u=pred_u, ref_u=ref_u, ref_l=ref_l)]
