# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of :class:`metassl_monai.quality.QualityPredictor` and :func:`load_quality_predictor`."""

from __future__ import annotations

import pytest
import torch

from metassl_monai.quality import QualityPredictor, as_probabilities, load_quality_predictor


def small(spatial_dims=2, num_classes=4, **kw):
    torch.manual_seed(0)
    return QualityPredictor(spatial_dims, num_classes, backbone="resnet10", widen_factor=0.25, **kw)


@pytest.mark.parametrize("spatial_dims, shape, size", [(2, (32, 32), None), (2, (40, 24), 32), (3, (16, 16, 8), 16)])
@pytest.mark.parametrize("num_classes", [2, 4])
def test_output_shape_and_range(spatial_dims, shape, size, num_classes):
    net = small(spatial_dims, num_classes, spatial_size=size).eval()
    x = torch.randn(3, 1 + num_classes, *shape)
    q = net(x)
    assert q.shape == (3, num_classes - 1)
    assert bool(((q >= 0) & (q <= 1)).all())


def test_predict_with_indices_equals_predict_with_one_hot():
    net = small().eval()
    image = torch.randn(2, 1, 32, 32)
    labels = torch.randint(0, 4, (2, 1, 32, 32))
    onehot = torch.nn.functional.one_hot(labels[:, 0], 4).movedim(-1, 1).float()
    torch.testing.assert_close(net.predict(image, labels), net.predict(image, onehot))
    torch.testing.assert_close(net.predict(image, labels), net(torch.cat([image, onehot], 1)))


def test_gradient_flows_into_a_soft_mask_through_the_resize():
    net = small(spatial_size=16).eval()
    logits = torch.randn(2, 4, 32, 32, requires_grad=True)
    net.predict(torch.randn(2, 1, 32, 32), torch.softmax(logits, 1)).mean().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_as_probabilities():
    idx = torch.tensor([[[0, 2], [1, 0]]]).unsqueeze(1)  # (1, 1, 2, 2)
    p = as_probabilities(idx, 3)
    assert p.shape == (1, 3, 2, 2) and p.sum(1).eq(1).all() and p[0, 2, 0, 1] == 1
    soft = torch.rand(1, 3, 2, 2)
    assert torch.equal(as_probabilities(soft, 3), soft)
    with pytest.raises(ValueError, match="class indices"):
        as_probabilities(torch.rand(1, 2, 2, 2), 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"spatial_dims": 1, "num_classes": 2}, "spatial_dims"), ({"spatial_dims": 2, "num_classes": 1}, "num_classes"),
     ({"spatial_dims": 2, "num_classes": 2, "backbone": "vgg"}, "backbone"),
     ({"spatial_dims": 2, "num_classes": 2, "spatial_size": (8, 8, 8)}, "spatial_size")],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QualityPredictor(**kwargs)


def test_wrong_input_channels_named():
    with pytest.raises(ValueError, match=r"1 image \+ 4 mask channels"):
        small()(torch.randn(1, 4, 32, 32))


def test_load_freezes_and_roundtrips(tmp_path):
    trained = small().eval()
    path = tmp_path / "quality.pt"
    torch.save(trained.state_dict(), path)
    fresh = QualityPredictor(2, 4, backbone="resnet10", widen_factor=0.25)
    loaded = load_quality_predictor(fresh, path)
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.randn(2, 5, 32, 32)
    torch.testing.assert_close(loaded(x), trained(x))
    torch.save({"model": trained.state_dict()}, tmp_path / "ckpt.pt")  # a CheckpointSaver dict also loads
    load_quality_predictor(QualityPredictor(2, 4, backbone="resnet10", widen_factor=0.25), tmp_path / "ckpt.pt")


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="training_quality"):
        load_quality_predictor(small(), tmp_path / "missing.pt")
    torch.save(small(num_classes=2).state_dict(), tmp_path / "other.pt")
    with pytest.raises(RuntimeError, match="other.pt do not fit.*'num_classes': 2"):  # described: classes differ
        load_quality_predictor(small(), tmp_path / "other.pt")


GPU = {"backbone": "resnet18", "widen_factor": 1.0, "spatial_size": (64, 64)}  # the configured, paper-size one
CPU = {"backbone": "resnet10", "widen_factor": 0.25, "spatial_size": (32, 32)}  # the trained, smaller one


def test_checkpoint_describes_its_architecture(tmp_path):
    net = QualityPredictor(2, 4, **CPU)
    torch.save(net.state_dict(), tmp_path / "q.pt")
    state = torch.load(tmp_path / "q.pt", weights_only=True)  # plain values: weights_only loads it
    assert state["_extra_state"] == {"architecture": {
        "spatial_dims": 2, "num_classes": 4, "in_channels": 1, "spatial_size": [32, 32], "backbone": "resnet10",
        "widen_factor": 0.25, "hidden": 256, "dropout": [0.15, 0.075]}}


@pytest.mark.parametrize("configured", [None, "gpu"])
def test_a_described_checkpoint_is_built_from_the_file_whatever_is_configured(configured, tmp_path):
    torch.manual_seed(0)
    trained = QualityPredictor(2, 4, **CPU).eval()
    torch.save({"model": trained.state_dict()}, tmp_path / "q.pt")  # as the CheckpointSaver writes it
    predictor = None if configured is None else QualityPredictor(2, 4, **GPU)
    loaded = load_quality_predictor(predictor, tmp_path / "q.pt")
    assert loaded.architecture == trained.architecture and loaded is not predictor
    assert not loaded.training and not any(p.requires_grad for p in loaded.parameters())
    x = torch.randn(2, 5, 40, 40)
    torch.testing.assert_close(loaded(x), trained(x))


def test_an_older_checkpoint_without_a_description_loads_into_the_configured_network(tmp_path):
    trained = QualityPredictor(2, 4, **CPU).eval()
    old = {k: v for k, v in trained.state_dict().items() if k != "_extra_state"}
    torch.save(old, tmp_path / "old.pt")
    configured = QualityPredictor(2, 4, **CPU)
    assert load_quality_predictor(configured, tmp_path / "old.pt") is configured
    with pytest.raises(RuntimeError, match="old.pt do not fit"):
        load_quality_predictor(QualityPredictor(2, 4, **GPU), tmp_path / "old.pt")
    with pytest.raises(RuntimeError, match="old.pt does not describe"):
        load_quality_predictor(None, tmp_path / "old.pt")


def test_loading_another_predictors_weights_directly_is_refused():
    with pytest.raises(ValueError, match="another quality predictor"):
        QualityPredictor(2, 4, **CPU).load_state_dict(QualityPredictor(2, 4, **{**CPU, "spatial_size": (16, 16)})
                                                      .state_dict())


def test_training_step_with_monai_supervised_trainer_fits_a_fixed_batch():
    """The predictor's training step (SupervisedTrainer + QualityBatch + SmoothL1, as train_quality.json) learns."""
    from ignite.engine import Events
    from monai.engines import SupervisedTrainer

    from metassl_monai.quality import QualityBatch

    torch.manual_seed(0)
    net = QualityPredictor(2, 3, backbone="resnet10", widen_factor=0.25, dropout=(0.0, 0.0))
    batch = {"input": torch.randn(8, 4, 16, 16), "quality": torch.rand(8, 2)}
    losses = []
    trainer = SupervisedTrainer(
        device=torch.device("cpu"), max_epochs=60, train_data_loader=[batch], network=net,
        optimizer=torch.optim.AdamW(net.parameters(), lr=3e-3), loss_function=torch.nn.SmoothL1Loss(),
        prepare_batch=QualityBatch(), decollate=False,
    )
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output["loss"].item()))
    before = [p.detach().clone() for p in net.parameters()]
    trainer.run()
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()) if a.ndim > 1)
    assert losses[-1] < 0.2 * losses[0]
