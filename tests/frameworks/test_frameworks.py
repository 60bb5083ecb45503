# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""Tests of the semi-supervised frameworks (Supervised, MeanTeacher, CrossPseudoSupervision) on tiny linear nets."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import Inferer, SimpleInferer
from torch import nn

from metassl_monai.frameworks import Branch, CrossPseudoSupervision, Framework, MeanTeacher, Supervised

N_L, N_U, H, W = 2, 3, 16, 16


class Linear1x1(nn.Module):
    """A 1x1 convolution (linear, deterministic, batch-independent) that records the batch size of every call."""

    def __init__(self, in_channels: int = 1, out_channels: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.calls: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[0])
        return self.conv(x)


class BatchNormNet(nn.Module):
    """Output depends on the whole batch (BatchNorm in train mode): tells one joint forward from two."""

    def __init__(self, out_channels: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, out_channels, 1)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def data(in_channels: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N_L, in_channels, H, W, generator=g), torch.randn(N_U, in_channels, H, W, generator=g)


def make(kind: str, num_classes: int = 2, in_channels: int = 1, **kw) -> Framework:
    torch.manual_seed(0)
    net = Linear1x1(in_channels, num_classes)
    if kind == "supervised":
        return Supervised(net)
    if kind == "mt":
        kw.setdefault("noise_std", 0.0)
        return MeanTeacher(net, **kw)
    if kind == "cps":
        torch.manual_seed(1)
        return CrossPseudoSupervision(net, Linear1x1(in_channels, num_classes))
    raise AssertionError(kind)


# ----------------------------------------------------------------------------------------------------------------------
# number of branches, shapes, detachment, ref_l
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_classes", [2, 4])
@pytest.mark.parametrize("with_ref_l", [False, True])
@pytest.mark.parametrize("kind, n_branches, uses_unlabeled", [("supervised", 1, False), ("mt", 1, True), ("cps", 2, True)])
def test_branches_shapes_and_flags(kind, n_branches, uses_unlabeled, with_ref_l, num_classes):
    fw = make(kind, num_classes)
    x_l, x_u = data()
    branches = fw(x_l, x_u, with_labeled_reference=with_ref_l)
    assert fw.num_branches == n_branches
    assert fw.uses_unlabeled is uses_unlabeled
    assert len(branches) == n_branches
    assert all(isinstance(b, Branch) for b in branches)
    for b in branches:
        assert b.pred_l.shape == (N_L, num_classes, H, W)
        assert b.pred_l.requires_grad
        if kind == "supervised":
            assert b.pred_u is None and b.ref_u is None and b.ref_l is None
            continue
        assert b.pred_u.shape == (N_U, num_classes, H, W)
        assert b.pred_u.requires_grad
        assert b.ref_u.shape == (N_U, num_classes, H, W)
        assert not b.ref_u.requires_grad and b.ref_u.grad_fn is None
        if with_ref_l:
            assert b.ref_l.shape == (N_L, num_classes, H, W)
            assert not b.ref_l.requires_grad and b.ref_l.grad_fn is None
        else:
            assert b.ref_l is None


@pytest.mark.parametrize("kind", ["supervised", "mt", "cps"])
def test_ref_l_none_by_default(kind):
    fw = make(kind)
    x_l, x_u = data()
    assert all(b.ref_l is None for b in fw(x_l, x_u))


@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_unlabeled_required(kind):
    fw = make(kind)
    x_l, _ = data()
    with pytest.raises(ValueError, match="unlabeled"):
        fw(x_l, None)


def test_supervised_reads_only_the_labeled_batch():
    fw = make("supervised")
    x_l, x_u = data()
    (b,) = fw(x_l, x_u)
    assert fw.network.calls == [N_L]
    torch.testing.assert_close(b.pred_l, fw.network.conv(x_l), rtol=0, atol=0)
    (b_none,) = fw(x_l, None)
    torch.testing.assert_close(b_none.pred_l, b.pred_l, rtol=0, atol=0)
    assert fw.trainable_networks() == [fw.network]


# ----------------------------------------------------------------------------------------------------------------------
# one joint forward of cat([x_l, x_u])
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_predictions_are_slices_of_one_joint_forward(kind):
    fw = make(kind, num_classes=3)
    x_l, x_u = data()
    branches = fw(x_l, x_u)
    students = fw.trainable_networks()
    for net, b in zip(students, branches):
        assert net.calls == [N_L + N_U]  # exactly one forward, over the concatenation
        with torch.no_grad():
            full = net.conv(torch.cat([x_l, x_u]))
        torch.testing.assert_close(b.pred_l, full[:N_L], rtol=0, atol=0)
        torch.testing.assert_close(b.pred_u, full[N_L:], rtol=0, atol=0)
        # the linear map by hand: logits[b, o] = sum_i W[o, i] x[b, i] + bias[o]
        w, bias = net.conv.weight[:, :, 0, 0], net.conv.bias
        by_hand = torch.einsum("oi,bihw->bohw", w, x_l) + bias[None, :, None, None]
        torch.testing.assert_close(b.pred_l, by_hand, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["mt", "cps"])
def test_joint_forward_shares_batch_statistics(kind):
    """With BatchNorm in train mode the labeled logits depend on the unlabeled images: one pass over the concat."""
    torch.manual_seed(0)
    net = BatchNormNet()
    if kind == "mt":
        fw = MeanTeacher(net, noise_std=0.0)
    else:
        torch.manual_seed(1)
        fw = CrossPseudoSupervision(net, BatchNormNet())
    x_l, x_u = data()
    x_u = x_u * 5 + 3  # very different statistics from the labeled images
    branches = fw(x_l, x_u)
    for model, b in zip(fw.trainable_networks(), branches):
        with torch.no_grad():
            model_copy = type(model)()
            model_copy.load_state_dict(model.state_dict())  # running stats do not matter in train mode
            model_copy.train()
            joint = model_copy(torch.cat([x_l, x_u]))
            alone = model_copy(x_l)
        torch.testing.assert_close(b.pred_l, joint[:N_L], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(b.pred_u, joint[N_L:], rtol=1e-5, atol=1e-5)
        assert not torch.allclose(b.pred_l, alone, atol=1e-2)


# ----------------------------------------------------------------------------------------------------------------------
# Mean Teacher
# ----------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("with_ref_l", [False, True])
def test_mean_teacher_reference_without_noise_is_teacher_output(with_ref_l):
    fw = make("mt", num_classes=3, noise_std=0.0)
    # make teacher and student differ so that "ref == teacher(x)" is not trivially "ref == student(x)"
    with torch.no_grad():
        for p in fw.teacher.parameters():
            p.add_(0.5)
    x_l, x_u = data()
    (b,) = fw(x_l, x_u, with_labeled_reference=with_ref_l)
    with torch.no_grad():
        t_u = fw.teacher.conv(x_u)
        t_l = fw.teacher.conv(x_l)
        s_u = fw.network.conv(x_u)
    torch.testing.assert_close(b.ref_u, t_u, rtol=0, atol=0)
    assert not torch.allclose(b.ref_u, s_u)
    if with_ref_l:
        torch.testing.assert_close(b.ref_l, t_l, rtol=0, atol=0)
        assert fw.teacher.calls == [N_L + N_U]  # one teacher pass over the concatenation
    else:
        assert fw.teacher.calls == [N_U]
    assert fw.network.calls == [N_L + N_U]


@pytest.mark.parametrize("noise_std, noise_clip", [(0.1, 0.2), (1.0, 0.05), (5.0, 0.3)])
@pytest.mark.parametrize("with_ref_l", [False, True])
def test_mean_teacher_noise_bounded_through_linear_conv(noise_std, noise_clip, with_ref_l):
    """ref - teacher(x) = W·n with |n_i| <= clip, so |diff[o]| <= clip · Σ_i |W[o, i]| (the bias cancels)."""
    in_ch = 3
    fw = make("mt", num_classes=2, in_channels=in_ch, noise_std=noise_std, noise_clip=noise_clip)
    x_l, x_u = data(in_channels=in_ch)
    torch.manual_seed(123)
    (b,) = fw(x_l, x_u, with_labeled_reference=with_ref_l)
    w = fw.teacher.conv.weight[:, :, 0, 0].detach()
    bound = (noise_clip * w.abs().sum(1))[None, :, None, None]
    pairs = [(b.ref_u, x_u)] + ([(b.ref_l, x_l)] if with_ref_l else [])
    for ref, x in pairs:
        with torch.no_grad():
            diff = ref - fw.teacher.conv(x)
        assert diff.abs().max() > 0  # the noise is there
        assert (diff.abs() <= bound + 1e-5).all()
        assert diff.abs().max() <= bound.max() + 1e-5


def test_mean_teacher_noise_is_clipped_exactly():
    """One input channel, huge std: nearly every noise value is clamped to ±clip, so |diff| == clip·|W| there."""
    clip = 0.2
    fw = make("mt", num_classes=2, in_channels=1, noise_std=1000.0, noise_clip=clip)
    x_l, x_u = data()
    torch.manual_seed(0)
    (b,) = fw(x_l, x_u)
    w = fw.teacher.conv.weight[:, 0, 0, 0].detach()
    with torch.no_grad():
        ratio = (b.ref_u - fw.teacher.conv(x_u)) / w[None, :, None, None]  # = the clamped noise per pixel
    assert ratio.abs().max() <= clip + 1e-5
    # both output channels see the same noise sample
    torch.testing.assert_close(ratio[:, 0], ratio[:, 1], rtol=1e-4, atol=1e-5)
    frac_clipped = (ratio.abs() - clip).abs().lt(1e-4).float().mean()
    assert frac_clipped > 0.99
    # both signs occur
    assert (ratio > 0).any() and (ratio < 0).any()


def test_mean_teacher_noise_differs_between_calls():
    fw = make("mt", noise_std=0.1, noise_clip=0.2)
    x_l, x_u = data()
    (b1,) = fw(x_l, x_u)
    (b2,) = fw(x_l, x_u)
    assert not torch.equal(b1.ref_u, b2.ref_u)
    torch.testing.assert_close(b1.pred_u, b2.pred_u, rtol=0, atol=0)  # the student sees no noise


def test_mean_teacher_teacher_is_a_separate_copy_of_the_student():
    fw = make("mt", num_classes=4)
    student, teacher = fw.network, fw.teacher
    assert teacher is not student
    assert fw.trainable_networks() == [student]
    s_params, t_params = list(student.parameters()), list(teacher.parameters())
    assert len(s_params) == len(t_params) == 2
    student_ptrs = {p.data_ptr() for p in s_params}
    for sp, tp in zip(s_params, t_params):
        assert tp is not sp
        assert tp.data_ptr() not in student_ptrs
        torch.testing.assert_close(tp, sp, rtol=0, atol=0)
        assert not tp.requires_grad
        assert sp.requires_grad
    # changing the student does not change the teacher
    with torch.no_grad():
        student.conv.weight.add_(1.0)
    assert not torch.allclose(student.conv.weight, teacher.conv.weight)
    # the teacher is a registered submodule (saved with the framework's state_dict)
    assert any(m is teacher for m in fw.modules())
    assert any(k.startswith("teacher.") for k in fw.state_dict())


@pytest.mark.parametrize("train_mode", [True, False])
def test_mean_teacher_teacher_mode(train_mode):
    fw = make("mt", teacher_train_mode=train_mode)
    fw.teacher.train(not train_mode)
    x_l, x_u = data()
    fw(x_l, x_u)
    assert fw.teacher.training is train_mode
    assert fw.ema.handle_buffers == ("ema_train" if train_mode else "copy")


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.1, 1.5])
def test_mean_teacher_invalid_ema_decay(decay):
    with pytest.raises(ValueError, match="ema_decay"):
        MeanTeacher(Linear1x1(), ema_decay=decay)


@pytest.mark.parametrize("decay", [0.5, 0.99, 0.999])
def test_mean_teacher_valid_ema_decay_sets_momentum(decay):
    fw = MeanTeacher(Linear1x1(), ema_decay=decay, ema_warmup_iterations=0)
    assert fw.ema.momentum == pytest.approx(1.0 - decay)


# ----------------------------------------------------------------------------------------------------------------------
# Cross Pseudo Supervision
# ----------------------------------------------------------------------------------------------------------------------
def test_cps_requires_two_distinct_networks():
    net = Linear1x1()
    with pytest.raises(ValueError, match="two distinct networks"):
        CrossPseudoSupervision(net, net)


@pytest.mark.parametrize("with_ref_l", [False, True])
@pytest.mark.parametrize("num_classes", [2, 4])
def test_cps_references_are_the_other_network(with_ref_l, num_classes):
    fw = make("cps", num_classes=num_classes)
    a, b = fw.network, fw.network_b
    assert fw.trainable_networks() == [a, b]
    assert not torch.allclose(a.conv.weight, b.conv.weight)
    x_l, x_u = data()
    br0, br1 = fw(x_l, x_u, with_labeled_reference=with_ref_l)
    assert a.calls == [N_L + N_U] and b.calls == [N_L + N_U]
    with torch.no_grad():
        a_u, b_u, a_l, b_l = a.conv(x_u), b.conv(x_u), a.conv(x_l), b.conv(x_l)
    # branch 0 trains network against network_b, branch 1 the other way round
    torch.testing.assert_close(br0.pred_u, a_u, rtol=0, atol=0)
    torch.testing.assert_close(br0.ref_u, b_u, rtol=0, atol=0)
    torch.testing.assert_close(br1.pred_u, b_u, rtol=0, atol=0)
    torch.testing.assert_close(br1.ref_u, a_u, rtol=0, atol=0)
    torch.testing.assert_close(br0.pred_l, a_l, rtol=0, atol=0)
    torch.testing.assert_close(br1.pred_l, b_l, rtol=0, atol=0)
    if with_ref_l:
        torch.testing.assert_close(br0.ref_l, b_l, rtol=0, atol=0)
        torch.testing.assert_close(br1.ref_l, a_l, rtol=0, atol=0)
    # no gradient path from a branch's loss into the reference network
    (br0.pred_u.sum() + br0.ref_u.sum()).backward()
    assert a.conv.weight.grad is not None and b.conv.weight.grad is None


# ----------------------------------------------------------------------------------------------------------------------
# inferer: given to the framework (the bundles pass @train#inferer), used for every trainable network
# ----------------------------------------------------------------------------------------------------------------------
class ScalingInferer(Inferer):
    """Calls the network and multiplies its logits by ``factor``; records which networks it was given."""

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.networks: list[nn.Module] = []

    def __call__(self, inputs: torch.Tensor, network, *args, **kwargs) -> torch.Tensor:
        self.networks.append(network)
        return network(inputs, *args, **kwargs) * self.factor


def framework_with_inferer(kind: str, inferer) -> Framework:
    torch.manual_seed(0)
    net = Linear1x1(1, 2)
    if kind == "supervised":
        return Supervised(net, inferer=inferer)
    if kind == "mt":
        return MeanTeacher(net, noise_std=0.0, inferer=inferer)
    torch.manual_seed(1)
    return CrossPseudoSupervision(net, Linear1x1(1, 2), inferer=inferer)


@pytest.mark.parametrize("kind", ["supervised", "mt", "cps"])
def test_default_inferer_is_a_plain_forward_pass(kind):
    fw = framework_with_inferer(kind, None)
    assert isinstance(fw.inferer, SimpleInferer)
    x_l, x_u = data()
    branch = fw(x_l, x_u)[0]
    with torch.no_grad():
        torch.testing.assert_close(branch.pred_l, fw.network.conv(x_l), rtol=0, atol=0)


@pytest.mark.parametrize("factor", [3.0, -0.5])
@pytest.mark.parametrize("kind", ["supervised", "mt", "cps"])
def test_framework_calls_its_trainable_networks_through_the_given_inferer(kind, factor):
    inferer = ScalingInferer(factor)
    fw = framework_with_inferer(kind, inferer)
    assert fw.inferer is inferer
    x_l, x_u = data()
    branches = fw(x_l, x_u)
    assert inferer.networks == fw.trainable_networks()  # one call per trainable network, the teacher not included
    with torch.no_grad():
        expected_l = [net.conv(x_l) * factor for net in fw.trainable_networks()]
        for branch, exp in zip(branches, expected_l):
            torch.testing.assert_close(branch.pred_l, exp, rtol=1e-6, atol=1e-6)
        if kind == "mt":  # the teacher (no gradient) is called directly, not through the inferer
            torch.testing.assert_close(branches[0].ref_u, fw.teacher.conv(x_u), rtol=0, atol=0)
        if kind == "cps":  # each reference is the other network's output through the inferer
            torch.testing.assert_close(branches[0].ref_u, fw.network_b.conv(x_u) * factor, rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------------------------------------------------
# MeanTeacher teacher settings: the clean MetaSSL default, configure_teacher (a consistency-loss recipe's "teacher")
# ----------------------------------------------------------------------------------------------------------------------
def test_mean_teacher_default_teacher_sees_the_clean_batch():
    # the MetaSSL code's teacher: no input noise; the reference is exactly teacher(x_u)
    torch.manual_seed(0)
    fw = MeanTeacher(Linear1x1())
    assert fw.teacher_settings == {"ema_decay": 0.99, "ema_warmup_iterations": 100, "ema_warmup_momentum": 1.0,
                                   "noise_std": 0.0, "noise_clip": 0.2, "teacher_train_mode": True}
    x_l, x_u = data()
    (branch,) = fw(x_l, x_u)
    torch.testing.assert_close(branch.ref_u, fw.teacher(x_u), rtol=0, atol=0)


def test_configure_teacher_adds_ssl4mis_noise_and_returns_the_framework():
    fw = make("mt")
    assert fw.configure_teacher(noise_std=0.1, noise_clip=0.2) is fw
    assert (fw.noise_std, fw.noise_clip) == (0.1, 0.2)
    x_l, x_u = data()
    (branch,) = fw(x_l, x_u)
    diff = branch.ref_u - fw.teacher(x_u)
    # a 1x1 conv of noise bounded by 0.2: |Δ| ≤ 0.2 Σ|w|; and not zero
    bound = 0.2 * fw.teacher.conv.weight.abs().sum(dim=(1, 2, 3)).max()
    assert 0 < diff.abs().max() <= bound + 1e-6


def test_configure_teacher_rebuilds_the_teacher_from_the_current_student():
    fw = make("mt")
    with torch.no_grad():
        fw.network.conv.weight.fill_(3.0)
    assert not torch.equal(fw.teacher.conv.weight, fw.network.conv.weight)  # the teacher was copied at construction
    fw.configure_teacher(ema_decay=0.999)
    torch.testing.assert_close(fw.teacher.conv.weight, fw.network.conv.weight, rtol=0, atol=0)
    assert fw.teacher.conv.weight.data_ptr() != fw.network.conv.weight.data_ptr()
    assert fw.ema.ema_model is fw.teacher
    assert not any(p.requires_grad for p in fw.teacher.parameters())


def test_configure_teacher_without_settings_changes_nothing():
    fw = make("mt")
    ema, teacher = fw.ema, fw.teacher
    assert fw.configure_teacher() is fw
    assert fw.ema is ema and fw.teacher is teacher


@pytest.mark.parametrize(
    "settings, error, match",
    [
        ({"decay": 0.9}, ValueError, r"unknown teacher setting\(s\) \['decay'\]; known: \['ema_decay'"),
        ({"ema_decay": 1.0}, ValueError, r"ema_decay must be in \(0, 1\), got 1.0"),
        ({"ema_decay": 0.0}, ValueError, r"ema_decay must be in \(0, 1\)"),
        ({"noise_std": -0.1}, ValueError, "noise_std and noise_clip must be >= 0"),
        ({"noise_clip": -1}, ValueError, "noise_std and noise_clip must be >= 0"),
        ({"ema_warmup_momentum": 0.0}, ValueError, r"ema_warmup_momentum must be in \(0, 1\]"),
    ],
)
def test_configure_teacher_rejects_bad_settings_and_keeps_the_old_ones(settings, error, match):
    fw = make("mt")
    before = fw.teacher_settings
    with pytest.raises(error, match=match):
        fw.configure_teacher(**settings)
    assert fw.teacher_settings == before


def test_configure_teacher_after_attach_raises():
    from ignite.engine import Engine

    fw = make("mt")
    fw.attach(Engine(lambda e, b: None))
    with pytest.raises(RuntimeError, match="before the framework is attached"):
        fw.configure_teacher(noise_std=0.1)


@pytest.mark.parametrize("kind", ["supervised", "cps"])
def test_frameworks_without_a_teacher_ignore_teacher_settings(kind):
    fw = make(kind)
    state = {k: v.clone() for k, v in fw.state_dict().items()}
    assert fw.configure_teacher(noise_std=0.1, teacher_train_mode=False) is fw
    assert all(torch.equal(v, fw.state_dict()[k]) for k, v in state.items())


def test_qgssl_teacher_eval_mode_and_decay_rising_from_half_to_0999():
    # QG-SSL's PL-QW teacher: eval mode, student's buffers copied, decay 0.5 -> 0.999 linearly over 1000 updates
    from ignite.engine import Engine, Events

    torch.manual_seed(0)
    fw = MeanTeacher(BatchNormNet()).configure_teacher(
        teacher_train_mode=False, ema_decay=0.999, ema_warmup_iterations=1000, ema_warmup_momentum=0.5
    )
    engine = Engine(lambda e, b: None)
    fw.attach(engine)
    seen: dict[int, float] = {}
    engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: seen.__setitem__(e.state.iteration, e.state.ema_momentum))
    engine.run(range(1200), max_epochs=1)
    # momentum μ = 1 - decay: 0.5 at the first update, 0.001 from update 1000 on, linear in between (Ignite's warm-up)
    by_hand = {1: 0.5, 500: 0.5 + (0.001 - 0.5) * 499 / 999, 1000: 0.001, 1200: 0.001}
    assert {t: seen[t] for t in by_hand} == pytest.approx(by_hand, rel=1e-9)
    x_l, x_u = data()
    fw.network.train()
    fw(x_l, x_u)
    assert not fw.teacher.training  # eval mode: running statistics, no dropout
    fw.network.bn.running_mean.fill_(0.7)
    engine.run(range(1), max_epochs=2)  # one more update copies the student's buffers
    torch.testing.assert_close(fw.teacher.bn.running_mean, fw.network.bn.running_mean, rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------------------------------
# compile_networks: the networks are called through torch.compile, and stay plain modules
# ----------------------------------------------------------------------------------------------------------------------
class CountingBackend:
    """A ``torch.compile`` backend that runs the captured graphs as they are and counts how often they run (networks
    of one architecture may share a graph)."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, gm, example_inputs):
        def run(*args):
            self.runs += 1
            return gm.forward(*args)

        return run


def plain_conv(seed: int, num_classes: int = 2) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, num_classes, 1))


def make_plain(kind: str) -> Framework:
    if kind == "supervised":
        return Supervised(plain_conv(0))
    if kind == "mt":
        return MeanTeacher(plain_conv(0), noise_std=0.0)
    return CrossPseudoSupervision(plain_conv(0), plain_conv(1))


@pytest.mark.parametrize("kind, networks_called", [("supervised", 1), ("mt", 2), ("cps", 2)])
def test_compiled_networks_give_the_same_branches_and_the_same_state_dict(kind, networks_called):
    from torch._dynamo.eval_frame import OptimizedModule

    torch._dynamo.reset()
    plain, compiled = make_plain(kind), make_plain(kind)
    backend = CountingBackend()
    assert compiled.compile_networks(backend=backend) is compiled and compiled.is_compiled and not plain.is_compiled
    x_l, x_u = data()
    expected, got = plain(x_l, x_u, True), compiled(x_l, x_u, True)
    assert backend.runs == networks_called  # every network (the Mean Teacher's teacher too) went through it
    for a, b in zip(expected, got):
        for field in ("pred_l", "pred_u", "ref_u", "ref_l"):
            if getattr(a, field) is None:
                assert getattr(b, field) is None
            else:
                torch.testing.assert_close(getattr(b, field), getattr(a, field), rtol=1e-6, atol=1e-7)
    # the wrappers are outside the module tree: the keys of an uncompiled framework, no _orig_mod. anywhere
    assert list(compiled.state_dict()) == list(plain.state_dict())
    assert not any("_orig_mod" in k for k in compiled.state_dict())
    nets = compiled.trainable_networks() + ([compiled.teacher] if kind == "mt" else [])
    assert all(isinstance(compiled.wrapped(n), OptimizedModule) and compiled.wrapped(n)._orig_mod is n for n in nets)
    assert not any(isinstance(m, OptimizedModule) for m in compiled.modules())
    # and the networks themselves are not compiled: a plain call does not reach the backend
    compiled.network(x_l)
    assert backend.runs == networks_called


def test_wrapped_is_the_network_itself_without_compile_networks():
    fw = make_plain("cps")
    assert fw.wrapped(fw.network) is fw.network and fw.wrapped(fw.network_b) is fw.network_b


def test_a_teacher_configured_after_compile_networks_is_compiled_anew():
    torch._dynamo.reset()
    fw = MeanTeacher(plain_conv(0), noise_std=0.0).compile_networks(backend=CountingBackend())
    x_l, x_u = data()
    fw(x_l, x_u)
    old = fw.wrapped(fw.teacher)
    fw.configure_teacher(ema_decay=0.9)  # rebuilds the teacher (a deep copy of the student: a plain module)
    assert fw.wrapped(fw.teacher) is not old and fw.wrapped(fw.teacher)._orig_mod is fw.teacher
    (branch,) = fw(x_l, x_u)
    with torch.no_grad():
        torch.testing.assert_close(branch.ref_u, fw.teacher(x_u))
