# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""
Tests of :class:`metassl_monai.engines.SemiSupervisedTrainer` built directly in Python with tiny networks and
in-memory data: the SGD update against a hand-computed oracle, the Mean Teacher EMA, CPS with one optimizer,
per-branch loss copies, loss terms and the consistency ramp, the independent cycling of the unlabeled stream,
input validation, and a 3D run.
"""

from __future__ import annotations

import copy
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from ignite.engine import Events
from monai.data import Dataset
from monai.losses import DiceCELoss
from monai.networks.nets import UNet
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

import metassl_monai
from metassl_monai.engines import SemiSupervisedTrainer
from metassl_monai.frameworks import CrossPseudoSupervision, MeanTeacher, Supervised
from metassl_monai.handlers import ConsistencyRampUp, SigmoidRampUp
from metassl_monai.lazy_floats import LazyFloats
from metassl_monai.losses import REGION_NAMES, HeterogeneousLoss, PseudoLabelCrossEntropyLoss, SoftmaxMSELoss

LR = 0.1
HW = (16, 16)


# ----------------------------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------------------------
def small_net(num_classes: int, seed: int = 0, dims: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    return nn.Sequential(conv(1, 4, 3, padding=1), nn.ReLU(), conv(4, num_classes, 1))


def tiny_unet(num_classes: int, seed: int = 0, dims: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    return UNet(dims, 1, num_classes, channels=(4, 8), strides=(2,), num_res_units=0)


class CountingDataset(Dataset):
    """A MONAI dataset counting the items it hands out."""

    def __init__(self, data: list) -> None:
        super().__init__(data)
        self.calls = 0

    def _transform(self, index: int):
        self.calls += 1
        return super()._transform(index)


def labeled_items(n: int, num_classes: int, shape=HW, seed: int = 0) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [
        {
            "image": torch.randn(1, *shape, generator=g),
            "label": torch.randint(0, num_classes, (1, *shape), generator=g).float(),
        }
        for _ in range(n)
    ]


def unlabeled_items(n: int, shape=HW, seed: int = 1) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [{"image": torch.randn(1, *shape, generator=g)} for _ in range(n)]


def loader(items: list[dict], batch_size: int = 2, **kw) -> DataLoader:
    return DataLoader(CountingDataset(items), batch_size=batch_size, shuffle=False, **kw)


def stack(items: list[dict]) -> dict:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def make_framework(kind: str, num_classes: int, net_fn=small_net, dims: int = 2, **kw):
    if kind == "supervised":
        return Supervised(net_fn(num_classes, 0, dims))
    if kind == "mt":
        kw = {"noise_std": 0.0, "ema_warmup_iterations": 0, **kw}
        return MeanTeacher(net_fn(num_classes, 0, dims), **kw)
    if kind == "cps":
        return CrossPseudoSupervision(net_fn(num_classes, 0, dims), net_fn(num_classes, 1, dims))
    raise AssertionError(kind)


def sup_loss():
    return DiceCELoss(to_onehot_y=True, softmax=True)


def make_trainer(fw, lab, unl=None, *, cons=None, lab_cons=None, weight=0.0, handlers=None, iterations=None, lr=LR,
                 **kwargs):
    params = [p for net in fw.trainable_networks() for p in net.parameters()]
    return SemiSupervisedTrainer(
        device="cpu",
        max_epochs=1,
        train_data_loader=lab,
        framework=fw,
        optimizer=torch.optim.SGD(params, lr=lr),
        supervised_loss=sup_loss(),
        unlabeled_data_loader=unl,
        consistency_loss=cons,
        labeled_consistency_loss=lab_cons,
        consistency_weight=weight,
        epoch_length=iterations,
        train_handlers=handlers,
        **kwargs,
    )


def record_branches(fw) -> list:
    """Wrap ``fw.forward`` so every list of branches it returns is kept (the trainer does not expose them)."""
    store: list = []
    original = fw.forward

    def forward(*args, **kwargs):
        branches = original(*args, **kwargs)
        store.append(branches)
        return branches

    fw.forward = forward
    return store


def record_outputs(trainer) -> list[dict]:
    store: list[dict] = []

    @trainer.on(Events.ITERATION_COMPLETED)
    def _record(engine):
        out = engine.state.output
        store.append(
            {
                "iteration": engine.state.iteration,
                "terms": dict(out["loss_terms"]),
                "loss": out["loss"].detach().clone(),
                "label": out["label"].clone(),
                "image": out["image"].clone(),
                "unlabeled_image": out["unlabeled_image"].clone() if "unlabeled_image" in out else None,
                "pred": out["pred"].detach().clone(),
                "consistency_weight": engine.state.consistency_weight,
            }
        )

    return store


def snapshot(module: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def oracle_sgd_step(fw, batch_l, batch_u, cons, lab_cons, weight, lr=LR):
    """One plain SGD step computed by hand on a deep copy of the framework: the trainer must reproduce it."""
    fw = copy.deepcopy(fw)
    x_l, y_l = batch_l["image"], batch_l["label"]
    x_u = batch_u["image"] if batch_u is not None else None
    branches = fw(x_l, x_u, with_labeled_reference=lab_cons is not None)
    sup = sup_loss()
    total = torch.zeros(())
    for b in branches:
        total = total + sup(b.pred_l, y_l).mean()
        if cons is not None:
            total = total + weight * copy.deepcopy(cons)(b.pred_u, b.ref_u)
        if lab_cons is not None:
            total = total + weight * copy.deepcopy(lab_cons)(b.pred_l, b.ref_l, y_l)
    total.backward()
    expected = [
        [p.detach() - lr * (p.grad if p.grad is not None else torch.zeros_like(p)) for p in net.parameters()]
        for net in fw.trainable_networks()
    ]
    return expected, total.item()


def expected_thresholds(source_logits: torch.Tensor, num_classes: int, init: float = 0.9, m: float = 0.5):
    """τ[k] ← m · mean(confidence | class k) + (1 − m) · τ[k] for every class present, from scratch."""
    source = source_logits.detach().float()
    cls = source.argmax(1)
    conf = torch.softmax(source, 1).gather(1, cls.unsqueeze(1)).squeeze(1)
    thr = torch.full((num_classes,), init)
    for k in range(num_classes):
        mask = cls == k
        if mask.any():
            thr[k] = m * conf[mask].mean() + (1 - m) * thr[k]
    return thr


# ----------------------------------------------------------------------------------------------------------------------
# (a) the update is one SGD step on the documented loss; a few iterations change the weights
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [2, 4])
@pytest.mark.parametrize("kind", ["supervised", "mt", "cps"])
@pytest.mark.parametrize("dims", [2, 3])
def test_one_iteration_is_one_sgd_step_on_the_documented_loss(kind, num_classes, dims):
    fw = make_framework(kind, num_classes, net_fn=tiny_unet, dims=dims)
    shape = HW if dims == 2 else (8, 8, 8)
    lab_items, unl_items = labeled_items(4, num_classes, shape), unlabeled_items(3, shape)
    ssl = kind != "supervised"
    cons = HeterogeneousLoss(num_classes) if ssl else None
    lab_cons = HeterogeneousLoss(num_classes, confidence_source="prediction") if ssl else None
    weight = 0.3
    expected, expected_loss = oracle_sgd_step(
        fw, stack(lab_items[:2]), stack(unl_items[:2]) if ssl else None, cons, lab_cons, weight
    )
    before = [snapshot(net) for net in fw.trainable_networks()]
    trainer = make_trainer(
        fw, loader(lab_items), loader(unl_items) if ssl else None, cons=cons, lab_cons=lab_cons, weight=weight,
        iterations=1,
    )
    trainer.run()
    assert trainer.state.iteration == 1
    assert trainer.state.output["loss"].item() == pytest.approx(expected_loss, rel=1e-5)
    assert trainer.state.output["loss_terms"]["loss"] == pytest.approx(expected_loss, rel=1e-5)
    for net, exp, old in zip(fw.trainable_networks(), expected, before):
        changed = 0
        for p, e, o in zip(net.parameters(), exp, old):
            torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-6)
            changed += int(not torch.equal(p, o))
        assert changed > 0
    if kind == "mt":  # the teacher is not trained by the optimizer, only by the EMA
        assert all(not p.requires_grad for p in fw.teacher.parameters())


@pytest.mark.parametrize("num_classes", [2, 4])
@pytest.mark.parametrize("kind", ["supervised", "mt", "cps"])
def test_a_few_iterations_change_every_conv_weight(kind, num_classes):
    fw = make_framework(kind, num_classes, net_fn=tiny_unet)
    ssl = kind != "supervised"
    trainer = make_trainer(
        fw, loader(labeled_items(3, num_classes)), loader(unlabeled_items(2)) if ssl else None,
        cons=SoftmaxMSELoss() if ssl else None, weight=1.0, iterations=3,
    )
    before = [dict((n, p.detach().clone()) for n, p in net.named_parameters()) for net in fw.trainable_networks()]
    trainer.run()
    assert trainer.state.iteration == 3
    for net, old in zip(fw.trainable_networks(), before):
        weights = [(n, p) for n, p in net.named_parameters() if p.dim() > 1]
        assert len(weights) >= 3
        for name, p in weights:
            assert not torch.allclose(p, old[name]), name
            assert torch.isfinite(p).all()


# ----------------------------------------------------------------------------------------------------------------------
# (b) Mean Teacher EMA
# ----------------------------------------------------------------------------------------------------------------------
def _run_mt_recording(fw, iterations, num_classes=2):
    trainer = make_trainer(
        fw, loader(labeled_items(2, num_classes)), loader(unlabeled_items(2)), cons=SoftmaxMSELoss(), weight=1.0,
        iterations=iterations,
    )
    snaps = []

    @trainer.on(Events.ITERATION_COMPLETED)  # registered after the EMA handler (attached in __init__)
    def _snap(engine):
        snaps.append((engine.state.ema_momentum, snapshot(fw.network), snapshot(fw.teacher)))

    teacher0 = snapshot(fw.teacher)
    trainer.run()
    return teacher0, snaps, trainer


@pytest.mark.parametrize("decay", [0.9, 0.99])
def test_mean_teacher_ema_follows_the_formula(decay):
    fw = make_framework("mt", 2, ema_decay=decay, ema_warmup_iterations=0)
    student0 = snapshot(fw.network)
    teacher0, snaps, trainer = _run_mt_recording(fw, 3)
    for t0, s0 in zip(teacher0, student0):
        torch.testing.assert_close(t0, s0, rtol=0, atol=0)  # the teacher starts as a copy of the student
    mu = 1.0 - decay
    previous = teacher0
    for momentum, student, teacher in snaps:
        assert momentum == pytest.approx(mu)
        for tp, t_prev, sp in zip(teacher, previous, student):
            # θ_T ← decay · θ_T + (1 − decay) · θ_S, with θ_S the student *after* the optimizer step
            torch.testing.assert_close(tp, decay * t_prev + (1 - decay) * sp, rtol=1e-5, atol=1e-7)
        previous = teacher
    # after one iteration: teacher moved, but is neither its start nor the student
    _, student1, teacher1 = snaps[0]
    for t1, t0, s1 in zip(teacher1, teacher0, student1):
        if t1.dim() > 1:
            assert not torch.allclose(t1, t0, rtol=0, atol=1e-9)
            assert not torch.allclose(t1, s1, rtol=0, atol=1e-9)


def test_mean_teacher_ema_warmup_momentum_schedule():
    decay, warmup = 0.9, 3
    fw = make_framework("mt", 2, ema_decay=decay, ema_warmup_iterations=warmup, ema_warmup_momentum=1.0)
    teacher0, snaps, _ = _run_mt_recording(fw, 4)
    momenta = [m for m, _, _ in snaps]
    # linear from 1.0 at the first iteration to 1 - decay at iteration `warmup`, then constant
    assert momenta == pytest.approx([1.0, 0.55, 0.1, 0.1])
    # momentum 1 at the first iteration: the teacher becomes exactly the updated student
    _, student1, teacher1 = snaps[0]
    for tp, sp in zip(teacher1, student1):
        torch.testing.assert_close(tp, sp, rtol=0, atol=0)
    previous = teacher1
    for momentum, student, teacher in snaps[1:]:
        for tp, t_prev, sp in zip(teacher, previous, student):
            torch.testing.assert_close(tp, (1 - momentum) * t_prev + momentum * sp, rtol=1e-5, atol=1e-7)
        previous = teacher


# ----------------------------------------------------------------------------------------------------------------------
# (c) CPS: both networks trained by one optimizer
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [2, 4])
def test_cps_one_optimizer_updates_both_networks(num_classes):
    fw = make_framework("cps", num_classes)
    lab_items, unl_items = labeled_items(2, num_classes), unlabeled_items(2)
    cons = PseudoLabelCrossEntropyLoss()
    expected, _ = oracle_sgd_step(fw, stack(lab_items), stack(unl_items), cons, None, 0.5)
    a0, b0 = snapshot(fw.network), snapshot(fw.network_b)
    trainer = make_trainer(fw, loader(lab_items), loader(unl_items), cons=cons, weight=0.5, iterations=1)
    assert len(trainer.optimizer.param_groups) == 1
    assert len(trainer.optimizer.param_groups[0]["params"]) == len(a0) + len(b0)
    trainer.run()
    for net, old, exp in zip((fw.network, fw.network_b), (a0, b0), expected):
        for p, o, e in zip(net.parameters(), old, exp):
            assert not torch.equal(p, o)
            torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-6)
    assert "sup_b" in trainer.state.output["loss_terms"]


# ----------------------------------------------------------------------------------------------------------------------
# (d) per-branch deep copies of the consistency losses
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [2, 4])
def test_cps_consistency_losses_are_per_branch_copies(num_classes):
    fw = make_framework("cps", num_classes)
    cons = HeterogeneousLoss(num_classes)
    lab_cons = HeterogeneousLoss(num_classes, confidence_source="prediction")
    trainer = make_trainer(
        fw, loader(labeled_items(4, num_classes)), loader(unlabeled_items(4)), cons=cons, lab_cons=lab_cons,
        weight=0.1, iterations=2,
    )
    branches_seen = record_branches(fw)
    for losses in (trainer.consistency_losses, trainer.labeled_consistency_losses):
        assert isinstance(losses, nn.ModuleList) and len(losses) == 2
        assert all(isinstance(m, HeterogeneousLoss) for m in losses)
        assert losses[0] is not losses[1]
        assert losses[0].thresholds.data_ptr() != losses[1].thresholds.data_ptr()
    all_losses = [*trainer.consistency_losses, *trainer.labeled_consistency_losses]
    assert len({id(m) for m in all_losses}) == 4
    assert trainer.labeled_consistency_losses[1].confidence_source == "prediction"
    assert trainer.consistency_losses[1].confidence_source == "reference"

    after_first = []

    @trainer.on(Events.ITERATION_COMPLETED(once=1))
    def _keep(engine):
        after_first.extend(m.thresholds.clone() for m in all_losses)

    trainer.run()
    br0, br1 = branches_seen[0]
    # iteration 1 from the initial 0.9: unlabeled copies from each branch's reference, labeled ones from its pred_l
    sources = [br0.ref_u, br1.ref_u, br0.pred_l, br1.pred_l]
    for thr, src in zip(after_first, sources):
        torch.testing.assert_close(thr, expected_thresholds(src, num_classes), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(after_first[0], after_first[1])
    assert not torch.allclose(after_first[2], after_first[3])
    # iteration 2 continues from each copy's own state
    br0, br1 = branches_seen[1]
    for m, thr1, src in zip(all_losses, after_first, [br0.ref_u, br1.ref_u, br0.pred_l, br1.pred_l]):
        cls = src.detach().argmax(1)
        conf = torch.softmax(src.detach().float(), 1).gather(1, cls.unsqueeze(1)).squeeze(1)
        exp = thr1.clone()
        for k in range(num_classes):
            if (cls == k).any():
                exp[k] = 0.5 * conf[cls == k].mean() + 0.5 * thr1[k]
        torch.testing.assert_close(m.thresholds, exp, rtol=1e-5, atol=1e-6)


def test_mean_teacher_has_one_copy_per_term():
    fw = make_framework("mt", 2)
    cons, lab_cons = HeterogeneousLoss(2), HeterogeneousLoss(2, confidence_source="prediction")
    trainer = make_trainer(
        fw, loader(labeled_items(2, 2)), loader(unlabeled_items(2)), cons=cons, lab_cons=lab_cons, iterations=1
    )
    assert len(trainer.consistency_losses) == 1 and len(trainer.labeled_consistency_losses) == 1
    assert trainer.consistency_losses[0] is not trainer.labeled_consistency_losses[0]
    trainer.run()
    assert not torch.equal(trainer.consistency_losses[0].thresholds, trainer.labeled_consistency_losses[0].thresholds)


def test_no_labeled_consistency_loss_gives_none():
    fw = make_framework("cps", 2)
    trainer = make_trainer(fw, loader(labeled_items(2, 2)), loader(unlabeled_items(2)), cons=SoftmaxMSELoss())
    assert trainer.labeled_consistency_losses is None
    assert len(trainer.consistency_losses) == 2


def test_same_loss_object_for_both_terms_is_still_copied_per_term():
    fw = make_framework("cps", 2)
    shared = HeterogeneousLoss(2)
    trainer = make_trainer(
        fw, loader(labeled_items(2, 2)), loader(unlabeled_items(2)), cons=shared, lab_cons=shared, iterations=1
    )
    all_losses = [*trainer.consistency_losses, *trainer.labeled_consistency_losses]
    assert len({id(m) for m in all_losses}) == 4


# ----------------------------------------------------------------------------------------------------------------------
# (e) loss terms and the consistency ramp
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_labeled", [False, True])
@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_loss_terms_and_rampup(kind, with_labeled):
    max_value, rampup = 0.5, 4
    num_classes = 3
    fw = make_framework(kind, num_classes)
    branches_seen = record_branches(fw)
    cons = SoftmaxMSELoss()
    lab_cons = PseudoLabelCrossEntropyLoss() if with_labeled else None
    trainer = make_trainer(
        fw, loader(labeled_items(5, num_classes), batch_size=1), loader(unlabeled_items(3), batch_size=2),
        cons=cons, lab_cons=lab_cons, weight=0.7, handlers=[ConsistencyRampUp(max_value, rampup)],
    )
    assert trainer.state.consistency_weight == 0.7  # the initial value, before the ramp runs
    outputs = record_outputs(trainer)
    trainer.run()
    assert [o["iteration"] for o in outputs] == [1, 2, 3, 4, 5]

    ramp = SigmoidRampUp(max_value, rampup)
    suffixes = [""] if kind == "mt" else ["", "_b"]
    names = ["sup", "cons_u"] + (["cons_l"] if with_labeled else [])
    for out, branches in zip(outputs, branches_seen):
        t = out["iteration"]
        lam = max_value * math.exp(-5.0 * (1.0 - min(t, rampup) / rampup) ** 2)
        assert ramp(t) == pytest.approx(lam)
        assert out["consistency_weight"] == pytest.approx(lam, rel=1e-12)
        terms = out["terms"]
        assert terms["consistency_weight"] == pytest.approx(lam, rel=1e-12)
        assert set(terms) == {n + s for n in names for s in suffixes} | {"loss", "consistency_weight"}
        assert len(branches) == len(suffixes)
        total = 0.0
        for s, b in zip(suffixes, branches):
            y = out["label"]
            sup = sup_loss()(b.pred_l.detach(), y).mean().item()
            cons_u = SoftmaxMSELoss()(b.pred_u.detach(), b.ref_u).item()
            assert terms["sup" + s] == pytest.approx(sup, rel=1e-5)
            assert terms["cons_u" + s] == pytest.approx(cons_u, rel=1e-5)
            branch_total = terms["sup" + s] + lam * terms["cons_u" + s]
            if with_labeled:
                cons_l = PseudoLabelCrossEntropyLoss()(b.pred_l.detach(), b.ref_l).item()
                assert terms["cons_l" + s] == pytest.approx(cons_l, rel=1e-5)
                branch_total += lam * terms["cons_l" + s]
            total += branch_total
        assert terms["loss"] == pytest.approx(total, rel=1e-5)
        assert out["loss"].ndim == 0
        assert out["loss"].item() == pytest.approx(terms["loss"], rel=1e-6)
        torch.testing.assert_close(out["pred"], branches[0].pred_l.detach(), rtol=0, atol=0)
        assert out["unlabeled_image"].shape[0] in (1, 2)


def test_supervised_loss_terms():
    fw = make_framework("supervised", 2)
    trainer = make_trainer(fw, loader(labeled_items(4, 2)), weight=5.0)
    outputs = record_outputs(trainer)
    trainer.run()
    assert len(outputs) == 2
    for out in outputs:
        terms = out["terms"]
        assert set(terms) == {"sup", "loss", "consistency_weight"}
        assert terms["loss"] == pytest.approx(terms["sup"], rel=1e-6)
        assert terms["consistency_weight"] == 5.0
        assert out["unlabeled_image"] is None


def test_consistency_rampup_attached_after_construction():
    fw = make_framework("mt", 2)
    trainer = make_trainer(
        fw, loader(labeled_items(3, 2), batch_size=1), loader(unlabeled_items(2)), cons=SoftmaxMSELoss()
    )
    ConsistencyRampUp(1.0, 3).attach(trainer)
    outputs = record_outputs(trainer)
    trainer.run()
    assert [o["terms"]["consistency_weight"] for o in outputs] == pytest.approx(
        [SigmoidRampUp(1.0, 3)(t) for t in (1, 2, 3)]
    )


# ----------------------------------------------------------------------------------------------------------------------
# (f) the unlabeled stream is cycled independently
# ----------------------------------------------------------------------------------------------------------------------
def test_unlabeled_loader_is_cycled_independently():
    lab = loader([{"image": torch.full((1, *HW), 10.0 + i), "label": torch.zeros(1, *HW)} for i in range(5)], 1)
    unl = loader([{"image": torch.full((1, *HW), float(i))} for i in range(2)], 1)
    fw = make_framework("mt", 2)
    trainer = make_trainer(fw, lab, unl, cons=SoftmaxMSELoss())
    assert trainer.state.epoch_length == 5
    outputs = record_outputs(trainer)
    trainer.run()
    assert [o["image"].unique().item() for o in outputs] == [10.0, 11.0, 12.0, 13.0, 14.0]
    assert [o["unlabeled_image"].unique().item() for o in outputs] == [0.0, 1.0, 0.0, 1.0, 0.0]
    assert unl.dataset.calls == 5  # five unlabeled batches pulled, no read-ahead
    assert lab.dataset.calls == 5
    assert trainer.unlabeled_data_loader.pass_index == 2  # passes 0, 1, 2


def test_unlabeled_loader_longer_than_labeled_is_not_restarted_each_epoch():
    lab = loader(labeled_items(2, 2), 1)
    unl = loader([{"image": torch.full((1, *HW), float(i))} for i in range(5)], 1)
    fw = make_framework("mt", 2)
    params = list(fw.network.parameters())
    trainer = SemiSupervisedTrainer(
        "cpu", 3, lab, fw, torch.optim.SGD(params, lr=LR), sup_loss(), unlabeled_data_loader=unl,
        consistency_loss=SoftmaxMSELoss(),
    )
    outputs = record_outputs(trainer)
    trainer.run()  # 3 epochs of 2 labeled batches
    assert [o["unlabeled_image"].unique().item() for o in outputs] == [0.0, 1.0, 2.0, 3.0, 4.0, 0.0]
    assert unl.dataset.calls == 6


class RecordingSampler(DistributedSampler):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)
        super().set_epoch(epoch)


def test_unlabeled_distributed_sampler_epoch_advances_per_pass():
    ds = CountingDataset(unlabeled_items(4))
    sampler = RecordingSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=0)
    unl = DataLoader(ds, batch_size=2, sampler=sampler)
    fw = make_framework("mt", 2)
    trainer = make_trainer(fw, loader(labeled_items(5, 2), 1), unl, cons=SoftmaxMSELoss())
    trainer.run()  # 5 iterations, 2 unlabeled batches per pass: passes start at iterations 1, 3, 5
    assert sampler.epochs == [0, 1, 2]
    assert ds.calls == 10


@pytest.mark.parametrize("bs_l, bs_u", [(1, 3), (3, 1)])
def test_different_batch_sizes(bs_l, bs_u):
    fw = make_framework("cps", 2)
    trainer = make_trainer(
        fw, loader(labeled_items(3, 2), bs_l), loader(unlabeled_items(3), bs_u), cons=SoftmaxMSELoss(), iterations=2
    )
    branches_seen = record_branches(fw)
    trainer.run()
    for branches in branches_seen:
        for b in branches:
            assert b.pred_l.shape == (bs_l, 2, *HW)
            assert b.pred_u.shape == b.ref_u.shape == (bs_u, 2, *HW)


# ----------------------------------------------------------------------------------------------------------------------
# (g) validation
# ----------------------------------------------------------------------------------------------------------------------
def test_supervised_never_touches_the_unlabeled_loader():
    fw = make_framework("supervised", 2)
    unl = loader(unlabeled_items(2))
    trainer = make_trainer(fw, loader(labeled_items(4, 2)), unl)
    assert trainer.unlabeled_data_loader is None
    trainer.run()
    assert trainer.state.iteration == 2
    assert unl.dataset.calls == 0
    assert "unlabeled_image" not in trainer.state.output
    assert trainer.consistency_losses is None and trainer.labeled_consistency_losses is None


def test_supervised_rejects_consistency_losses():
    lab = loader(labeled_items(2, 2))
    with pytest.raises(ValueError, match="consistency_loss to None"):
        make_trainer(make_framework("supervised", 2), lab, cons=SoftmaxMSELoss())
    with pytest.raises(ValueError, match="labeled_consistency_loss to None"):
        make_trainer(make_framework("supervised", 2), lab, lab_cons=PseudoLabelCrossEntropyLoss())


@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_ssl_needs_unlabeled_loader_and_consistency_loss(kind):
    lab = loader(labeled_items(2, 2))
    with pytest.raises(ValueError, match="needs an unlabeled_data_loader"):
        make_trainer(make_framework(kind, 2), lab, None, cons=SoftmaxMSELoss())
    with pytest.raises(ValueError, match="needs a consistency_loss"):
        make_trainer(make_framework(kind, 2), lab, loader(unlabeled_items(2)))


def test_framework_type_checked():
    with pytest.raises(TypeError, match="Framework"):
        SemiSupervisedTrainer("cpu", 1, loader(labeled_items(2, 2)), small_net(2), torch.optim.SGD(
            small_net(2).parameters(), lr=LR), sup_loss())


@pytest.mark.parametrize("unlabeled", [[], unlabeled_items(1)], ids=["empty", "fewer-than-batch-drop-last"])
def test_empty_unlabeled_loader_raises_clear_error_when_read(unlabeled):
    # the one construction-time check is metassl_monai.data.require_batches, where the loader is configured
    trainer = make_trainer(make_framework("mt", 2), loader(labeled_items(2, 2)), loader(unlabeled, drop_last=True),
                           cons=SoftmaxMSELoss())
    with pytest.raises(ValueError, match=r"^the unlabeled data loader yielded no batch\.$"):
        trainer.run()
    assert trainer.state.iteration == 1  # the labeled batch was read, the unlabeled one could not be


@pytest.mark.parametrize("stream, key", [("labeled", "batch_size"), ("unlabeled", "unlabeled_batch_size")])
def test_loaders_without_batches_are_reported_by_require_batches_naming_the_key(stream, key):
    from metassl_monai.data import require_batches

    # 1 item, batch size 2, drop_last=True: the loader has length 0
    empty = loader(labeled_items(1, 2), drop_last=True)
    with pytest.raises(ValueError, match=rf"^the {stream} data loader would yield no batch: {key}=2 but the {stream} "
                                         rf"datalist has only 1 item\(s\) and drop_last=True; set {key} <= 1\.$"):
        require_batches(empty, stream, key)


class EmptyIterable:
    """An unlabeled stream without a length that yields nothing."""

    def __iter__(self):
        return iter([])


def test_unsized_unlabeled_stream_without_batches_raises_at_run():
    trainer = make_trainer(make_framework("mt", 2), loader(labeled_items(2, 2)), EmptyIterable(), cons=SoftmaxMSELoss())
    with pytest.raises(ValueError, match="yielded no batch"):
        trainer.run()


def test_missing_label_key_raises_key_error_naming_it():
    lab = loader([{"image": torch.randn(1, *HW)} for _ in range(2)])
    trainer = make_trainer(make_framework("mt", 2), lab, loader(unlabeled_items(2)), cons=SoftmaxMSELoss())
    # the default key is MONAI's CommonKeys.LABEL, whose repr is the bare word label
    with pytest.raises(KeyError, match=r"no key '?label'? \(it has \['image'\]\)"):
        trainer.run()


def test_missing_unlabeled_image_key_raises_key_error_naming_it():
    unl = loader([{"img": torch.randn(1, *HW)} for _ in range(2)])
    trainer = make_trainer(make_framework("cps", 2), loader(labeled_items(2, 2)), unl, cons=SoftmaxMSELoss())
    with pytest.raises(KeyError, match=r"no key '?image'? \(it has \['img'\]\)"):
        trainer.run()


def test_custom_keys():
    items = [{"img": it["image"], "seg": it["label"]} for it in labeled_items(2, 2)]
    unl = [{"img": it["image"]} for it in unlabeled_items(2)]
    fw = make_framework("mt", 2)
    trainer = SemiSupervisedTrainer(
        "cpu", 1, loader(items), fw, torch.optim.SGD(fw.network.parameters(), lr=LR), sup_loss(),
        unlabeled_data_loader=loader(unl), consistency_loss=SoftmaxMSELoss(), image_key="img", label_key="seg",
    )
    trainer.run()
    torch.testing.assert_close(trainer.state.output["label"], stack(items)["seg"])


def test_prepare_batch_hook_is_called_on_both_streams():
    calls = []

    def prepare(batch, device, non_blocking, **kwargs):
        calls.append(sorted(batch.keys()))
        image = batch["image"].to(device) * 2
        return image, (batch["label"].to(device) if "label" in batch else None)

    items = labeled_items(2, 2)
    fw = make_framework("mt", 2)
    trainer = SemiSupervisedTrainer(
        "cpu", 1, loader(items), fw, torch.optim.SGD(fw.network.parameters(), lr=LR), sup_loss(),
        unlabeled_data_loader=loader(unlabeled_items(2)), consistency_loss=SoftmaxMSELoss(), prepare_batch=prepare,
    )
    trainer.run()
    assert calls[:2] == [["image", "label"], ["image"]]
    torch.testing.assert_close(trainer.state.output["image"], stack(items)["image"] * 2)


@pytest.mark.parametrize("kind", ["supervised", "mt", "cps"])
def test_trainer_reads_the_framework_inferer_and_leaves_the_framework_alone(kind):
    from monai.inferers import SimpleInferer

    fw = make_framework(kind, 2)
    own = fw.inferer
    unl = loader(unlabeled_items(2)) if kind != "supervised" else None
    cons = SoftmaxMSELoss() if kind != "supervised" else None
    trainer = make_trainer(fw, loader(labeled_items(2, 2)), unl, cons=cons)
    assert trainer.inferer is own and fw.inferer is own
    params = [p for net in fw.trainable_networks() for p in net.parameters()]
    args = ("cpu", 1, loader(labeled_items(2, 2)), fw, torch.optim.SGD(params, lr=LR), sup_loss())
    kwargs = {"unlabeled_data_loader": unl, "consistency_loss": cons}
    assert SemiSupervisedTrainer(*args, **kwargs, inferer=own).inferer is own  # the framework's own: accepted
    with pytest.raises(ValueError, match=r"is not the framework's inferer .* pass it to the framework instead"):
        SemiSupervisedTrainer(*args, **kwargs, inferer=SimpleInferer())
    assert fw.inferer is own


@pytest.mark.parametrize("kind, lab_cons", [("mt", False), ("mt", True), ("cps", False), ("cps", True)])
def test_branch_losses_given_are_the_ones_trained_and_equal_to_plain_losses(kind, lab_cons):
    from metassl_monai.losses import BranchLosses

    items, unl = labeled_items(4, 3), unlabeled_items(4)
    make = lambda: HeterogeneousLoss(3) if lab_cons else None  # noqa: E731
    fw_a, fw_b = make_framework(kind, 3), make_framework(kind, 3)
    owner = BranchLosses(fw_b.num_branches, HeterogeneousLoss(3), make())
    plain = make_trainer(fw_a, loader(items), loader(unl), cons=HeterogeneousLoss(3), lab_cons=make(), weight=0.5)
    params = [p for net in fw_b.trainable_networks() for p in net.parameters()]
    given = SemiSupervisedTrainer("cpu", 1, loader(items), fw_b, torch.optim.SGD(params, lr=LR), sup_loss(),
                                  unlabeled_data_loader=loader(unl), branch_losses=owner, consistency_weight=0.5)
    assert given.branch_losses is owner and given.consistency_losses is owner.unlabeled
    assert (given.labeled_consistency_losses is owner.labeled) if lab_cons else given.labeled_consistency_losses is None
    plain.run()
    given.run()
    assert given.state.output["loss_terms"] == plain.state.output["loss_terms"]  # the same computation, bitwise
    for a, b in zip(plain.branch_losses.state_dict().values(), owner.state_dict().values()):
        assert torch.equal(a, b)


def test_branch_losses_are_checked_against_the_framework():
    from metassl_monai.losses import BranchLosses

    fw = make_framework("cps", 2)
    params = [p for net in fw.trainable_networks() for p in net.parameters()]
    args = ("cpu", 1, loader(labeled_items(2, 2)), fw, torch.optim.SGD(params, lr=LR), sup_loss())
    unl = loader(unlabeled_items(2))
    with pytest.raises(ValueError, match=r"branch_losses has 1 branch\(es\) but CrossPseudoSupervision has 2"):
        SemiSupervisedTrainer(*args, unlabeled_data_loader=unl, branch_losses=BranchLosses(1, SoftmaxMSELoss()))
    with pytest.raises(ValueError, match="either branch_losses or consistency_loss/labeled_consistency_loss"):
        SemiSupervisedTrainer(*args, unlabeled_data_loader=unl, branch_losses=BranchLosses(2, SoftmaxMSELoss()),
                              consistency_loss=SoftmaxMSELoss())
    with pytest.raises(ValueError, match="needs a consistency_loss for the unlabeled stream"):
        SemiSupervisedTrainer(*args, unlabeled_data_loader=unl, branch_losses=BranchLosses(2))


# ----------------------------------------------------------------------------------------------------------------------
# (h) 3D
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [2, 4])
def test_3d_mean_teacher_with_heterogeneous_loss(num_classes):
    shape = (8, 8, 8)
    fw = make_framework("mt", num_classes, dims=3, noise_std=0.1, ema_decay=0.9)
    cons = HeterogeneousLoss(num_classes)
    lab_cons = HeterogeneousLoss(num_classes, confidence_source="prediction")
    trainer = make_trainer(
        fw, loader(labeled_items(2, num_classes, shape), 1), loader(unlabeled_items(2, shape), 1),
        cons=cons, lab_cons=lab_cons, handlers=[ConsistencyRampUp(0.1, 10)], iterations=2,
    )
    teacher0 = snapshot(fw.teacher)
    outputs = record_outputs(trainer)
    trainer.run()
    assert trainer.state.iteration == 2
    for m in (trainer.consistency_losses[0], trainer.labeled_consistency_losses[0]):
        thr = m.thresholds
        assert thr.shape == (num_classes,)
        assert not torch.allclose(thr, torch.full_like(thr, 0.9))
        assert (thr > 0).all() and (thr <= 1).all()
        assert m.region_map.shape == (1, *shape)
        assert m.region_fractions.sum().item() == pytest.approx(1.0)
    assert outputs[-1]["pred"].shape == (1, num_classes, *shape)
    assert all(math.isfinite(o["terms"]["loss"]) for o in outputs)
    assert any(not torch.equal(t, t0) for t, t0 in zip(snapshot(fw.teacher), teacher0))


# ----------------------------------------------------------------------------------------------------------------------
# (i) losses that need the image (quality-guided SSL)
# ----------------------------------------------------------------------------------------------------------------------
class ImageRecordingLoss(nn.Module):
    requires_image = True

    def __init__(self) -> None:
        super().__init__()
        self.images: list[torch.Tensor] = []

    def forward(self, pred, ref, target=None, image=None):
        self.images.append(image.detach().clone())
        return (pred * 0).sum()


@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_image_is_passed_to_losses_that_require_it(kind):
    fw = make_framework(kind, 2, noise_std=0.5) if kind == "mt" else make_framework(kind, 2)
    lab_items, unl_items = labeled_items(2, 2), unlabeled_items(2)
    cons, lab_cons = ImageRecordingLoss(), ImageRecordingLoss()
    trainer = make_trainer(fw, loader(lab_items), loader(unl_items), cons=cons, lab_cons=lab_cons, weight=0.1,
                           iterations=1)
    trainer.run()
    n_branches = 2 if kind == "cps" else 1
    for i in range(n_branches):
        # the clean batches (no Mean Teacher input noise), unlabeled for the unlabeled term, labeled for the other
        torch.testing.assert_close(trainer.consistency_losses[i].images[0], stack(unl_items)["image"])
        torch.testing.assert_close(trainer.labeled_consistency_losses[i].images[0], stack(lab_items)["image"])


# ----------------------------------------------------------------------------------------------------------------------
# frameworks with extra views (FixMatch's strong view)
# ----------------------------------------------------------------------------------------------------------------------
class RecordingLoss(nn.Module):
    """A consistency loss that keeps its inputs and returns their mean squared difference."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list = []

    def forward(self, pred, ref, target=None):
        self.seen.append((pred.detach().clone(), ref.detach().clone(), target))
        return ((pred - ref) ** 2).mean()


def test_fixmatch_views_reach_the_framework_and_the_labeled_term_trains_the_strong_view():
    from metassl_monai.frameworks import FixMatch

    lab = [{**it, "image_strong": it["image"] * 0.5} for it in labeled_items(2, 2)]
    unl = [{**it, "image_strong": it["image"] + 1.0} for it in unlabeled_items(2)]
    fw = FixMatch(small_net(2))
    net0 = copy.deepcopy(fw.network)
    trainer = make_trainer(fw, loader(lab), loader(unl), cons=RecordingLoss(), lab_cons=RecordingLoss(), weight=1.0)
    trainer.run()
    x_l, x_u = stack(lab), stack(unl)
    (pred_u, ref_u, _), = trainer.branch_losses.unlabeled[0].seen
    (pred_l, ref_l, target), = trainer.branch_losses.labeled[0].seen
    with torch.no_grad():  # the network before its one step
        torch.testing.assert_close(pred_u, net0(x_u["image_strong"]))
        torch.testing.assert_close(ref_u, net0(x_u["image"]))
        torch.testing.assert_close(pred_l, net0(x_l["image_strong"]))
        torch.testing.assert_close(ref_l, net0(x_l["image"]))
        torch.testing.assert_close(trainer.state.output["pred"], net0(x_l["image"]))  # supervised: the weak view
    torch.testing.assert_close(target, x_l["label"])


def test_missing_view_key_is_named():
    from metassl_monai.frameworks import FixMatch

    fw = FixMatch(small_net(2))
    trainer = make_trainer(fw, loader(labeled_items(2, 2)), loader(unlabeled_items(2)), cons=SoftmaxMSELoss())
    with pytest.raises(KeyError, match="image_strong"):
        trainer.run()


# ----------------------------------------------------------------------------------------------------------------------
# no host sync per iteration: loss_terms and ssl_stats stay tensors until a handler reads them
# ----------------------------------------------------------------------------------------------------------------------
PACKAGE_DIR = str(Path(metassl_monai.__file__).resolve().parent)
CONVERSIONS = ("item", "tolist", "__float__", "__int__", "__bool__")


class MeanImagePredictor(nn.Module):
    """A stand-in quality predictor: quality of image b = sigmoid of its mean (for the quality-guided losses)."""

    def predict(self, image, mask):
        return torch.sigmoid(image.flatten(1).mean(1, keepdim=True)).expand(-1, mask.shape[1] - 1)


def _sync_cases():
    from metassl_monai.frameworks import FixMatch
    from metassl_monai.losses import ConfidenceMaskedCrossEntropyLoss, QualityWeightedLoss

    return {
        "mt-metassl": lambda: (make_framework("mt", 3), HeterogeneousLoss(3),
                               HeterogeneousLoss(3, confidence_source="prediction")),
        "cps-metassl": lambda: (make_framework("cps", 3), HeterogeneousLoss(3),
                                HeterogeneousLoss(3, confidence_source="prediction")),
        "fixmatch": lambda: (FixMatch(small_net(3)), ConfidenceMaskedCrossEntropyLoss(threshold=0.3), None),
        "mt-plqw-metassl": lambda: (make_framework("mt", 3),
                                    QualityWeightedLoss(MeanImagePredictor(), HeterogeneousLoss(3), threshold=0.0),
                                    HeterogeneousLoss(3, confidence_source="prediction")),
        "supervised": lambda: (make_framework("supervised", 3), None, None),
    }


@pytest.fixture
def package_conversions(monkeypatch) -> SimpleNamespace:
    """Records every tensor -> Python conversion (``.item()``, ``.tolist()``, ``float/int/bool(tensor)``) made by the
    package's own code while ``.active`` is set, as ``"file:line name"`` in ``.calls``: on a GPU each is a host-device
    sync."""
    record = SimpleNamespace(calls=[], active=False)
    for name in CONVERSIONS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            caller = sys._getframe(1)
            if record.active and caller.f_code.co_filename.startswith(PACKAGE_DIR):
                record.calls.append(f"{caller.f_code.co_filename}:{caller.f_lineno} {_name}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return record


@pytest.mark.parametrize("case", list(_sync_cases()))
def test_an_iteration_converts_no_tensor_to_a_python_number(case, package_conversions):
    """Without logging handlers, ``trainer.run`` makes no ``.item()``/``.tolist()``/``float(t)`` in the package (the
    trainer, frameworks, EMA teacher, consistency ramp, losses and their statistics): nothing waits for the device.
    (PyTorch's DataLoader draws its CPU seed with ``.item()`` once per pass and MONAI's Dice loss lists a CPU
    ``arange``: neither touches a device tensor.) The values are converted when read, and only then."""
    fw, cons, lab_cons = _sync_cases()[case]()
    lab = [{**it, "image_strong": it["image"] * 0.5} for it in labeled_items(4, 3)]
    unl = [{**it, "image_strong": it["image"] + 1.0} for it in unlabeled_items(4)]
    trainer = make_trainer(fw, loader(lab), loader(unl) if cons is not None else None, cons=cons, lab_cons=lab_cons,
                           handlers=[ConsistencyRampUp(0.1, 2)], iterations=3)
    package_conversions.active = True  # the run only: building the losses may convert (their settings, on the CPU)
    trainer.run()
    assert trainer.state.iteration == 3
    assert package_conversions.calls == []
    out = trainer.state.output
    assert isinstance(out["loss_terms"], LazyFloats) and isinstance(out["ssl_stats"], LazyFloats)
    assert not out["loss_terms"].converted and not out["ssl_stats"].converted
    assert len(out["ssl_stats"]) == (0 if cons is None else len(trainer.branch_losses.stats()))
    # reading converts, in the mapping (one .tolist() per dtype), and gives Python floats
    assert out["loss_terms"]["loss"] == out["loss"].item()
    assert package_conversions.calls and all(c.endswith("tolist") for c in package_conversions.calls)
    assert all(type(v) is float for v in {**out["loss_terms"], **out["ssl_stats"]}.values())


@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_lazy_terms_and_stats_read_later_are_those_of_their_iteration(kind):
    """The mappings of every iteration, read only after the run (the thresholds were updated in place since), equal
    the floats ``.item()`` gave during that iteration, bit for bit."""
    def run(read_now: bool) -> tuple[list, list]:
        fw = make_framework(kind, 3)
        trainer = make_trainer(fw, loader(labeled_items(6, 3)), loader(unlabeled_items(6)), cons=HeterogeneousLoss(3),
                               lab_cons=HeterogeneousLoss(3, confidence_source="prediction"), weight=0.3)
        kept, eager = [], []

        @trainer.on(Events.ITERATION_COMPLETED)
        def _keep(engine):
            out = engine.state.output
            kept.append((out["loss_terms"], out["ssl_stats"]))
            if read_now:  # what the code before LazyFloats computed in the iteration
                losses = engine.branch_losses
                stats = {}
                for name, loss in losses.heterogeneous_losses():
                    stats.update({f"{name}/threshold_{k}": t.item() for k, t in enumerate(loss.thresholds)})
                    stats.update({f"{name}/fraction_{r}": f.item()
                                  for r, f in zip(REGION_NAMES, loss.region_fractions)})
                    stats.update({f"{name}/term_{r}": t.item() for r, t in zip(REGION_NAMES, loss.region_terms)})
                eager.append(({"loss": out["loss"].item()}, stats))

        trainer.run()
        return kept, eager

    kept, _ = run(read_now=False)
    kept_read_at_once, eager = run(read_now=True)
    assert len(kept) == len(eager) == 3
    for (terms, stats), (terms_b, stats_b), (eager_terms, eager_stats) in zip(kept, kept_read_at_once, eager):
        assert not terms.converted and not stats.converted  # nothing read them during the run
        assert dict(terms) == dict(terms_b)  # read late or read at once: the same floats
        assert terms["loss"] == eager_terms["loss"]
        assert dict(stats) == eager_stats and dict(stats_b) == eager_stats
    # the thresholds did move between the iterations (the snapshot matters)
    first, last = kept[0][1], kept[-1][1]
    assert any(first[k] != last[k] for k in first if "/threshold_" in k)


# ----------------------------------------------------------------------------------------------------------------------
# GPU paths that run on the CPU too: torch.compile, channels-last batches
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_compile_trains_as_the_plain_networks_and_keeps_plain_state_dicts(kind, tmp_path):
    """``compile=True`` (Dynamo's eager backend: the captured graphs run as they are) gives the losses and weights of
    the uncompiled run, the networks stay plain modules and a saved state_dict has no ``_orig_mod.`` key."""
    from monai.data import MetaTensor

    torch._dynamo.reset()
    lab = [{k: MetaTensor(v) for k, v in it.items()} for it in labeled_items(4, 3)]  # as MONAI's loaders give them
    unl = [{k: MetaTensor(v) for k, v in it.items()} for it in unlabeled_items(4)]

    def run(compile: bool):
        fw = make_framework(kind, 3, net_fn=tiny_unet)
        trainer = make_trainer(fw, loader(lab), loader(unl), cons=HeterogeneousLoss(3), weight=0.5, compile=compile,
                               compile_kwargs={"backend": "eager"})
        outputs = record_outputs(trainer)
        trainer.run()
        return fw, trainer, outputs

    fw_plain, _, out_plain = run(False)
    fw, trainer, out = run(True)
    assert fw.is_compiled and trainer.compile and not fw_plain.is_compiled
    for a, b in zip(out_plain, out):
        assert b["terms"] == pytest.approx(a["terms"], rel=1e-5)
    assert list(fw.state_dict()) == list(fw_plain.state_dict())
    for (key, a), b in zip(fw_plain.state_dict().items(), fw.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=key)
    torch.save(fw.network.state_dict(), tmp_path / "model.pt")
    saved = torch.load(tmp_path / "model.pt", weights_only=True)
    assert not any("_orig_mod" in k for k in saved)
    tiny_unet(3).load_state_dict(saved)  # strict: the keys of a plain network
    # the compiled networks got plain tensors (MONAI's SupervisedTrainer does the same with compile=True)
    assert type(trainer.state.output["image"]) is torch.Tensor and type(out_plain[0]["image"]) is MetaTensor


@pytest.mark.parametrize("dims", [2, 3])
def test_channels_last_batches_and_networks_give_the_default_layout_losses(dims):
    """``to_kwargs={"memory_format": ...}`` (the bundles' ``channels_last``) moves both streams' batches in that layout;
    with the networks converted too, one run gives the losses and weights of the default layout."""
    from metassl_monai.engines import memory_format

    fmt = memory_format(True, dims)
    shape = (8,) * dims
    lab, unl = labeled_items(4, 3, shape=shape), unlabeled_items(4, shape=shape)

    def run(channels_last: bool):
        fw = make_framework("mt", 3, net_fn=tiny_unet, dims=dims)
        if channels_last:
            fw.network.to("cpu", memory_format=fmt)
            fw.configure_teacher(ema_decay=0.99)  # the teacher a copy of the converted student
        seen = []
        trainer = make_trainer(fw, loader(lab), loader(unl), cons=HeterogeneousLoss(3), weight=0.5,
                               to_kwargs={"memory_format": fmt} if channels_last else None)
        trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.append(
            {k: e.state.output[k] for k in ("image", "unlabeled_image", "pred")}))
        outputs = record_outputs(trainer)
        trainer.run()
        return fw, outputs, seen

    fw_plain, out_plain, _ = run(False)
    fw, out, seen = run(True)
    assert fw.network.model[0].conv.weight.is_contiguous(memory_format=fmt)
    # the 1-channel images are both layouts at once; the logits (3 channels) show the layout
    assert all(s["pred"].is_contiguous(memory_format=fmt) and not s["pred"].is_contiguous() for s in seen)
    for a, b in zip(out_plain, out):
        assert b["terms"] == pytest.approx(a["terms"], rel=1e-5)
    for (key, a), b in zip(fw_plain.state_dict().items(), fw.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=key)
