# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""What every semi-supervised framework returns: one :class:`Branch` per trainable network."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from monai.inferers import Inferer, SimpleInferer
from torch import nn

__all__ = ["Branch", "Framework"]


@dataclass
class Branch:
    """
    The predictions one trainable network is supervised with in one iteration (all logits, (B, C, *spatial)).

    Attributes:
        pred_l: the trainable network's logits on the labeled images (gradient flows).
        pred_u: its logits on the unlabeled images (gradient flows), or None for supervised-only training.
        ref_u: the reference logits on the unlabeled images (no gradient), or None.
        ref_l: the reference logits on the labeled images (no gradient), only when asked for, else None.
        pred_l_consistency: the logits the labeled consistency term trains against ``ref_l`` when they are not
            ``pred_l`` (FixMatch: the strong view of the labeled images; the supervised loss keeps ``pred_l``, the
            weak view), else None.
    """

    pred_l: torch.Tensor
    pred_u: torch.Tensor | None = None
    ref_u: torch.Tensor | None = None
    ref_l: torch.Tensor | None = None
    pred_l_consistency: torch.Tensor | None = None

    @property
    def labeled_consistency_pred(self) -> torch.Tensor:
        """What the labeled consistency term trains: ``pred_l_consistency`` when set, else ``pred_l``."""
        return self.pred_l if self.pred_l_consistency is None else self.pred_l_consistency


class Framework(nn.Module):
    """
    A semi-supervised framework: given a labeled and an unlabeled batch, produce (prediction, reference) pairs.
    It knows nothing about losses. Subclasses set :attr:`num_branches` and :attr:`uses_unlabeled` and implement
    :meth:`forward`. :attr:`network` is the network used for validation, inference and the exported model.
    A framework that needs more than one view of each image (FixMatch's strong view) names the batch keys of the
    extra views in :attr:`view_keys`; the trainer then moves them to the device with the images and calls
    ``forward(labeled, unlabeled, with_labeled_reference, views={key: (labeled_view, unlabeled_view)})``.

    Args:
        network: the network validated, exported and (for most frameworks) trained.
        inferer: how :meth:`run` calls a trainable network during training (the bundle property ``train#inferer``);
            default :class:`monai.inferers.SimpleInferer`, a plain forward pass. The trainer reads it from here.
    """

    num_branches: int = 1
    uses_unlabeled: bool = True
    #: batch keys of the extra image views the framework reads (both streams), e.g. ``("image_strong",)``
    view_keys: tuple[str, ...] = ()

    def __init__(self, network: nn.Module, inferer: Inferer | None = None) -> None:
        super().__init__()
        self.network = network
        self._ddp: dict[int, nn.Module] = {}  # plain dict: the wrappers are not submodules (state_dict unchanged)
        self._compile_options: dict | None = None  # set by compile_networks()
        self._compiled: dict[int, nn.Module] = {}  # torch.compile wrappers, made on first use; not submodules either
        #: how :meth:`run` calls a network (an Inferer is not an ``nn.Module``: the state_dict is unchanged)
        self.inferer: Inferer = SimpleInferer() if inferer is None else inferer

    def distribute(self, **ddp_kwargs) -> Framework:
        """
        Prepare this framework for multi-process training; call it on every rank after
        ``torch.distributed.init_process_group`` (:func:`metassl_monai.distributed.init_distributed`) and before
        the trainer is built. Returns ``self``.

        - Every parameter and buffer (networks, EMA teacher) is broadcast from rank 0, so all ranks start
          identical whatever their seeds.
        - The forward pass of each trainable network goes through a
          :class:`~torch.nn.parallel.DistributedDataParallel` wrapper (gradients averaged across ranks). The
          wrappers are not registered as submodules: :meth:`state_dict` keys, the optimizer's parameters and the
          checkpoints are those of a single-process run, so checkpoints move between single- and multi-GPU runs.
        - :meth:`attach` then averages the floating-point buffers (BatchNorm statistics, a train-mode teacher's)
          across ranks after every iteration, which DDP alone leaves rank-local.

        Args:
            ddp_kwargs: passed to ``DistributedDataParallel`` (e.g. ``device_ids=[device]`` on GPUs).

        Raises:
            RuntimeError: when no process group is initialised.
        """
        from metassl_monai.distributed import broadcast_state, is_distributed

        if not is_distributed():
            raise RuntimeError(
                f"{type(self).__name__}.distribute() needs an initialised torch.distributed process group "
                "(metassl_monai.distributed.init_distributed())."
            )
        broadcast_state(self)
        self._ddp = {id(net): nn.parallel.DistributedDataParallel(net, **ddp_kwargs) for net in self.trainable_networks()}
        self._compiled = {}  # compiled again around the DDP wrappers
        return self

    def compile_networks(self, **options) -> Framework:
        """
        From now on, call the networks (the trainable ones through :meth:`run`, a teacher through :meth:`wrapped`)
        through ``torch.compile(network, **options)`` (e.g. ``backend``, ``mode``, ``dynamic``; the trainer's
        ``compile``/``compile_kwargs``, the bundles' ``compile``/``compile_options`` items). Returns ``self``.

        The compiled wrappers (around the DDP wrappers after :meth:`distribute`) are made on first use and kept
        outside the module tree, as the DDP wrappers are: the networks stay plain modules, so :meth:`state_dict`,
        the optimizer, the checkpoints and the exported ``model.pt`` have the keys of an uncompiled run (never
        ``_orig_mod.``) and load into an uncompiled network. Deep copies of the networks (an EMA teacher, CPS's
        second network) are plain too.
        """
        self._compile_options = dict(options)
        self._compiled = {}
        return self

    @property
    def is_compiled(self) -> bool:
        """True once :meth:`compile_networks` was called."""
        return self._compile_options is not None

    def wrapped(self, network: nn.Module) -> nn.Module:
        """
        What calls ``network`` in training: its DDP wrapper after :meth:`distribute`, compiled after
        :meth:`compile_networks`, else ``network`` itself.
        """
        target = self._ddp.get(id(network), network)
        if self._compile_options is None:
            return target
        compiled = self._compiled.get(id(network))
        if compiled is None:
            compiled = self._compiled[id(network)] = torch.compile(target, **self._compile_options)
        return compiled

    @property
    def is_distributed(self) -> bool:
        """True once :meth:`distribute` was called."""
        return bool(self._ddp)

    def run(self, network: nn.Module, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """
        ``inferer(x, network, **kwargs)`` (through :meth:`wrapped`: the network's DDP wrapper after
        :meth:`distribute`, compiled after :meth:`compile_networks`; ``kwargs`` go to the network's forward, e.g.
        ``all_heads=True``); frameworks call their trainable networks this way.
        """
        return self.inferer(x, self.wrapped(network), **kwargs)

    def trainable_networks(self) -> list[nn.Module]:
        """The networks the optimizer updates (put in train mode each iteration)."""
        return [self.network]

    def configure_teacher(self, **settings) -> Framework:
        """
        Apply a consistency-loss recipe's teacher settings (the ``"teacher"`` entry of a bundle's ``ssl_losses``
        recipe: SSL4MIS's Mean Teacher feeds its teacher noisy input, MetaSSL's the clean batch, QG-SSL's PL-QW runs
        an eval-mode teacher on its own EMA schedule). Frameworks without a teacher ignore them; a framework with one
        (:class:`~metassl_monai.frameworks.MeanTeacher`) overrides this. Called before the trainer attaches the
        framework; returns ``self``.
        """
        return self

    def attach(self, engine) -> None:
        """
        Register what the framework needs on the trainer's events; called by the trainer. Subclasses that add
        their own (e.g. the EMA update) call ``super().attach(engine)``. After :meth:`distribute`, the buffers are
        averaged across ranks at the end of every iteration.
        """
        if self.is_distributed:
            from ignite.engine import Events

            from metassl_monai.distributed import average_buffers

            engine.add_event_handler(Events.ITERATION_COMPLETED, lambda _: average_buffers(self))

    def forward(
        self, labeled: torch.Tensor, unlabeled: torch.Tensor | None, with_labeled_reference: bool = False
    ) -> list[Branch]:
        raise NotImplementedError


def split_batch(logits: torch.Tensor, n_labeled: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a forward pass over ``cat([labeled, unlabeled])`` back into its two halves."""
    return logits[:n_labeled], logits[n_labeled:]


def cross_branches(
    out_a: torch.Tensor, out_b: torch.Tensor, n_labeled: int, with_labeled_reference: bool
) -> list[Branch]:
    """
    Two branches, each the other's detached reference (CPS, CCT, R-Drop), from two predictions of
    ``cat([labeled, unlabeled])``: branch 0 trains ``out_a`` against ``out_b``, branch 1 ``out_b`` against ``out_a``.
    """
    a_l, a_u = split_batch(out_a, n_labeled)
    b_l, b_u = split_batch(out_b, n_labeled)
    return [
        Branch(pred_l=a_l, pred_u=a_u, ref_u=b_u.detach(), ref_l=b_l.detach() if with_labeled_reference else None),
        Branch(pred_l=b_l, pred_u=b_u, ref_u=a_u.detach(), ref_l=a_l.detach() if with_labeled_reference else None),
    ]
