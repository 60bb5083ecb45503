# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
"""The quality predictor of Quality-Guided SSL: (image, mask) → predicted Dice of the mask, per foreground class."""

from __future__ import annotations

import logging
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.nets import resnet

__all__ = ["QualityPredictor", "load_quality_predictor", "as_probabilities"]

_BACKBONES = ("resnet10", "resnet18", "resnet34", "resnet50")


def as_probabilities(mask: torch.Tensor, num_classes: int) -> torch.Tensor:
    """
    A mask as ``(B, C, *spatial)`` class probabilities: class indices ``(B, 1, *spatial)`` are one-hot encoded, a
    ``(B, C, *spatial)`` tensor is taken as probabilities / one-hot as it is.

    Raises:
        ValueError: a channel count that is neither 1 nor ``num_classes``.
    """
    if mask.ndim >= 3 and mask.shape[1] == num_classes:
        return mask.float()
    if mask.ndim < 3 or mask.shape[1] != 1:
        raise ValueError(
            f"mask must be class indices (B, 1, *spatial) or probabilities (B, {num_classes}, *spatial), got "
            f"{tuple(mask.shape)}."
        )
    return F.one_hot(mask[:, 0].long(), num_classes).movedim(-1, 1).float()


class QualityPredictor(nn.Module):
    """
    Predicts the Dice of a segmentation mask against the (unknown) ground truth, per foreground class, from the image
    and the mask — the quality predictor ``g`` of Quality-Guided SSL.

    The image (``in_channels`` channels) and the mask as ``num_classes`` channels of class probabilities (a one-hot
    hard mask, or a softmax for the quality-aware regularisation) are resized to ``spatial_size`` (bilinear /
    trilinear: differentiable in the mask), concatenated (``in_channels + num_classes`` channels), and passed through a
    MONAI ResNet backbone without its classifier, then the paper's head: Dropout(0.15) → Linear(·, 256) → ReLU →
    Dropout(0.075) → Linear(256, C − 1) → sigmoid. No pretrained weights are downloaded (the paper's timm backbone
    is ImageNet-pretrained; here the backbone is trained from scratch, for 2D and 3D alike).

    ``forward(x)`` takes the already concatenated input ``(B, in_channels + num_classes, *spatial)`` (what MONAI's
    ``SupervisedTrainer`` passes); :meth:`predict` takes the image and the mask separately.

    Args:
        spatial_dims: 2 or 3.
        num_classes: C, classes of the segmentation including background (≥ 2); the output has C − 1 values.
        in_channels: image channels.
        spatial_size: size the inputs are resized to (``None``: no resize).
        backbone: ``"resnet10"``, ``"resnet18"`` (the paper's script), ``"resnet34"`` or ``"resnet50"`` (MONAI).
        widen_factor: channel multiplier of the backbone (0.5 halves every width; a CPU setting).
        hidden: width of the head's hidden layer.
        dropout: the head's two dropout probabilities.

    Raises:
        ValueError: invalid arguments, or an input with the wrong number of channels (the message gives both).
    """

    def __init__(
        self,
        spatial_dims: int,
        num_classes: int,
        in_channels: int = 1,
        spatial_size: int | tuple[int, ...] | None = None,
        backbone: str = "resnet18",
        widen_factor: float = 1.0,
        hidden: int = 256,
        dropout: tuple[float, float] = (0.15, 0.075),
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}.")
        if int(num_classes) < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}.")
        if backbone not in _BACKBONES:
            raise ValueError(f"backbone must be one of {_BACKBONES}, got {backbone!r}.")
        self.spatial_dims, self.num_classes, self.in_channels = spatial_dims, int(num_classes), int(in_channels)
        self.backbone_name, self.widen_factor, self.hidden = backbone, float(widen_factor), int(hidden)
        self.dropout = (float(dropout[0]), float(dropout[1]))
        if isinstance(spatial_size, int):
            spatial_size = (spatial_size,) * spatial_dims
        self.spatial_size = tuple(int(s) for s in spatial_size) if spatial_size is not None else None
        if self.spatial_size is not None and len(self.spatial_size) != spatial_dims:
            raise ValueError(f"spatial_size {self.spatial_size} must have {spatial_dims} entries.")
        self.backbone = getattr(resnet, backbone)(
            spatial_dims=spatial_dims,
            n_input_channels=self.in_channels + self.num_classes,
            feed_forward=False,
            widen_factor=widen_factor,
        )
        features = self.backbone.in_planes
        self.head = nn.Sequential(
            nn.Dropout(dropout[0]),
            nn.Linear(features, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout[1]),
            nn.Linear(hidden, self.num_classes - 1),
        )

    @property
    def input_channels(self) -> int:
        return self.in_channels + self.num_classes

    @property
    def architecture(self) -> dict:
        """The constructor arguments that fix the weights' shapes and the input size: what a checkpoint stores so
        that :func:`load_quality_predictor` can rebuild this network from the file alone."""
        return {
            "spatial_dims": self.spatial_dims,
            "num_classes": self.num_classes,
            "in_channels": self.in_channels,
            "spatial_size": None if self.spatial_size is None else list(self.spatial_size),
            "backbone": self.backbone_name,
            "widen_factor": self.widen_factor,
            "hidden": self.hidden,
            "dropout": list(self.dropout),
        }

    def get_extra_state(self) -> dict:
        """Saved with the weights (``state_dict()["_extra_state"]``; plain values, ``weights_only``-loadable): the
        :attr:`architecture`, so every checkpoint of a predictor describes the network it belongs to."""
        return {"architecture": self.architecture}

    def set_extra_state(self, state: dict) -> None:
        """Checks that the stored architecture is this network's.

        Raises:
            ValueError: the checkpoint describes another predictor (names both).
        """
        stored = dict(state.get("architecture", {})) if isinstance(state, dict) else {}
        if stored and stored != self.architecture:
            raise ValueError(f"the weights are of another quality predictor: {stored}, not {self.architecture}.")

    def _resize(self, x: torch.Tensor) -> torch.Tensor:
        if self.spatial_size is None or tuple(x.shape[2:]) == self.spatial_size:
            return x
        mode = "bilinear" if self.spatial_dims == 2 else "trilinear"
        return F.interpolate(x, size=self.spatial_size, mode=mode, align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, in_channels + C, *spatial)`` image channels then mask probabilities → ``(B, C − 1)`` in [0, 1]."""
        if x.ndim != self.spatial_dims + 2 or x.shape[1] != self.input_channels:
            raise ValueError(
                f"QualityPredictor expects (B, {self.input_channels}, *{self.spatial_dims}D spatial) = "
                f"{self.in_channels} image + {self.num_classes} mask channels, got {tuple(x.shape)}."
            )
        return torch.sigmoid(self.head(self.backbone(self._resize(x.float()))))

    def predict(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predicted Dice ``(B, C − 1)`` of ``mask`` (indices ``(B, 1, *)`` or probabilities ``(B, C, *)``) on ``image``."""
        return self(torch.cat([image.float(), as_probabilities(mask, self.num_classes)], dim=1))


def read_state_dict(path: str | os.PathLike) -> dict:
    """A network's weights from ``path`` (``weights_only``): a plain ``state_dict``, or a checkpoint dict (as
    MONAI's ``CheckpointSaver`` writes) holding it under ``"model"``."""
    state = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    return state


def load_quality_predictor(
    predictor: QualityPredictor | None, checkpoint: str | os.PathLike, device: str | torch.device = "cpu"
) -> QualityPredictor:
    """
    Load trained weights (a plain ``state_dict`` as written by the bundle's ``training_quality`` workflow, or a
    checkpoint dict holding it under ``"model"``) and freeze the predictor: eval mode, no gradient for its
    parameters (a gradient still flows through it into its input, which the quality-aware regularisation needs).

    A checkpoint written by this version describes its network (``_extra_state``: the predictor's
    :attr:`~QualityPredictor.architecture`, backbone, width, input size, ...): the predictor is built from that
    description (backbone, width, input size, head) rather than the configured ``predictor`` (which may be None; one
    that differs is replaced, with a log line saying so), so a bundle whose config defines the GPU-size predictor
    loads a CPU-size checkpoint. What the bundle feeds the predictor and reads from it (spatial dims, classes, image
    channels) must match the configured one.
    An older checkpoint without a description is loaded into ``predictor`` as it is.

    Raises:
        FileNotFoundError: ``checkpoint`` does not exist (the message names it and says how to create it).
        RuntimeError: the weights do not fit (the message names the file), or an older checkpoint without a
            description and no ``predictor`` to load it into.
    """
    path = os.fspath(checkpoint)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"quality predictor weights not found: {path}. Train them first with the bundle's "
            "`run training_quality` workflow (configs/train_quality.json) or pass --quality_ckpt PATH."
        )
    state = dict(read_state_dict(path))
    described = state.get("_extra_state", {}).get("architecture") if isinstance(state.get("_extra_state"), dict) else None
    if described is not None and predictor is not None:
        contract = ("spatial_dims", "num_classes", "in_channels")  # what the bundle feeds it and reads from it
        if any(described.get(k) != predictor.architecture[k] for k in contract):
            raise RuntimeError(
                f"the weights in {path} do not fit the quality predictor: they are of a predictor for "
                f"{ {k: described.get(k) for k in contract} }, the bundle's is for "
                f"{ {k: predictor.architecture[k] for k in contract} }."
            )
    if described is not None and (predictor is None or predictor.architecture != described):
        if predictor is not None:
            logging.getLogger(__name__).info(
                f"{path} holds a quality predictor {described}: built from the file instead of the configured "
                f"{predictor.architecture}."
            )
        predictor = QualityPredictor(**{k: tuple(v) if isinstance(v, list) else v for k, v in described.items()})
    if predictor is None:
        raise RuntimeError(f"{path} does not describe its quality predictor (an older checkpoint): pass the "
                           "QualityPredictor it was trained as.")
    if "_extra_state" not in state:  # an older checkpoint: the configured network is taken as its description
        state["_extra_state"] = predictor.get_extra_state()
    try:
        predictor.load_state_dict(state)
    except (RuntimeError, ValueError) as e:
        raise RuntimeError(f"the weights in {path} do not fit the quality predictor: {e}") from None
    predictor.to(device).eval()
    for p in predictor.parameters():
        p.requires_grad_(False)
    return predictor
