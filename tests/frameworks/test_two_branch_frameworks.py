# Copyright (c) metassl-monai contributors
# Licensed under the Apache License, Version 2.0
"""CrossConsistencyTraining (MetaSSL's two-decoder CCT) and RDrop: which tensor is the reference, where gradient
flows, one forward pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from metassl_monai.frameworks import CrossConsistencyTraining, RDrop
from metassl_monai.networks import TwoDecoderUNet

N_L, N_U = 2, 3


def data(shape=(16, 16), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(N_L, 1, *shape, generator=g), torch.rand(N_U, 1, *shape, generator=g)


def cct(spatial_dims=2, dropout=(0.4, 0.3, 0.2, 0.1)):
    torch.manual_seed(0)
    return CrossConsistencyTraining(TwoDecoderUNet(spatial_dims, 1, 3, decoder_dropout=dropout))


@pytest.mark.parametrize("with_ref_l", [False, True])
@pytest.mark.parametrize("spatial_dims, shape", [(2, (16, 16)), (3, (16, 16, 16))])
def test_cct_each_decoder_is_the_others_reference(spatial_dims, shape, with_ref_l):
    fw = cct(spatial_dims, dropout=(0.0,) * 4).eval()  # deterministic: compare with a direct forward
    lab, unl = data(shape)
    a, b = fw.network(torch.cat([lab, unl]), all_heads=True)
    branches = fw(lab, unl, with_labeled_reference=with_ref_l)
    assert len(branches) == fw.num_branches == 2
    torch.testing.assert_close(branches[0].pred_l, a[:N_L])
    torch.testing.assert_close(branches[0].pred_u, a[N_L:])
    torch.testing.assert_close(branches[0].ref_u, b[N_L:])
    torch.testing.assert_close(branches[1].pred_u, b[N_L:])
    torch.testing.assert_close(branches[1].ref_u, a[N_L:])
    assert not branches[0].ref_u.requires_grad and not branches[1].ref_u.requires_grad
    if with_ref_l:
        torch.testing.assert_close(branches[0].ref_l, b[:N_L])
        torch.testing.assert_close(branches[1].ref_l, a[:N_L])
        assert not branches[0].ref_l.requires_grad
    else:
        assert branches[0].ref_l is None and branches[1].ref_l is None


@pytest.mark.parametrize("branch, decoder, other", [(0, "decoder_1", "decoder_2"), (1, "decoder_2", "decoder_1")])
def test_cct_gradient_of_a_branch_reaches_its_decoder_and_the_encoder_only(branch, decoder, other):
    fw = cct()
    lab, unl = data()
    out = fw(lab, unl, with_labeled_reference=True)[branch]
    (out.pred_l.sum() + out.pred_u.sum() + out.ref_u.sum() * 0).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(fw.network, decoder).parameters()
               if p.dim() > 1)
    assert all(p.grad is None for p in getattr(fw.network, other).parameters())  # the reference carries none
    assert fw.network.encoder[0][0][0].conv.weight.grad.abs().sum() > 0


def test_cct_needs_a_two_decoder_network_and_an_unlabeled_batch():
    with pytest.raises(TypeError, match="two-decoder network"):
        CrossConsistencyTraining(nn.Conv2d(1, 2, 1))
    with pytest.raises(ValueError, match="unlabeled"):
        cct()(*data()[:1], None)


class DropNet(nn.Module):
    """conv -> BatchNorm -> Dropout(p): a pass is BN(conv(x)) with a mask scaled by 1 / (1 - p)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.conv, self.bn, self.drop = nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.Dropout(p)
        self.calls: list[int] = []

    def forward(self, x):
        self.calls.append(x.shape[0])
        return self.drop(self.bn(self.conv(x)))


def test_rdrop_two_passes_differ_share_weights_and_are_each_others_reference():
    torch.manual_seed(0)
    net = DropNet(0.5)
    fw = RDrop(net)
    lab, unl = data()
    b0, b1 = fw(lab, unl, with_labeled_reference=True)
    assert net.calls == [2 * (N_L + N_U)]  # one call over cat([x, x])
    assert not torch.equal(b0.pred_u, b1.pred_u)  # different dropout masks
    torch.testing.assert_close(b0.ref_u, b1.pred_u.detach())
    torch.testing.assert_close(b1.ref_u, b0.pred_u.detach())
    torch.testing.assert_close(b0.ref_l, b1.pred_l.detach())
    assert not b0.ref_u.requires_grad and b0.pred_u.requires_grad and b1.pred_u.requires_grad
    # each pass is BN of the single batch (the repeated batch has the same statistics), masked and scaled by 2
    single = nn.BatchNorm2d(2)
    single.load_state_dict({k: v for k, v in DropNet(0.5).bn.state_dict().items()})
    expected = single.train()(net.conv(torch.cat([lab, unl]))).detach()
    for pass_ in (torch.cat([b0.pred_l, b0.pred_u]), torch.cat([b1.pred_l, b1.pred_u])):
        kept = pass_ != 0
        torch.testing.assert_close(pass_.detach()[kept], 2 * expected[kept])
    # both passes' losses reach the one set of weights
    b0.pred_u.sum().backward(retain_graph=True)
    g0 = net.conv.weight.grad.clone()
    net.conv.weight.grad = None
    b1.pred_u.sum().backward()
    assert g0.abs().sum() > 0 and net.conv.weight.grad.abs().sum() > 0 and not torch.equal(g0, net.conv.weight.grad)


def test_rdrop_without_dropout_is_refused_and_eval_mode_passes_agree():
    with pytest.raises(ValueError, match="no dropout layer"):
        RDrop(nn.Conv2d(1, 2, 1))
    with pytest.raises(ValueError, match="no dropout layer"):
        RDrop(nn.Sequential(nn.Conv2d(1, 2, 1), nn.Dropout(0.0)))
    fw = RDrop(DropNet(0.5)).eval()  # dropout off: the two passes are the same network on the same images
    b0, b1 = fw(*data())
    torch.testing.assert_close(b0.pred_u, b1.pred_u)


# ----------------------------------------------------------------------------------------------------------------------
# FixMatch: one branch, weak view = reference, strong view = prediction, one forward call
# ----------------------------------------------------------------------------------------------------------------------
class Recorder(nn.Module):
    """A 1x1 convolution recording every call's batch (linear and per-pixel: outputs are easy to predict)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 1)
        self.calls: list[torch.Tensor] = []

    def forward(self, x):
        self.calls.append(x)
        return self.conv(x)


@pytest.mark.parametrize("with_ref_l", [False, True])
def test_fixmatch_weak_view_is_the_reference_strong_view_is_trained(with_ref_l):
    from metassl_monai.frameworks import FixMatch

    torch.manual_seed(0)
    net = Recorder()
    fw = FixMatch(net)
    assert fw.view_keys == ("image_strong",) and fw.num_branches == 1
    lab, unl = data()
    strong_l, strong_u = lab * 0.5 + 0.1, unl * 2.0 - 0.3  # photometric change, same pixel grid
    (b,) = fw(lab, unl, with_labeled_reference=with_ref_l, views={"image_strong": (strong_l, strong_u)})
    assert len(net.calls) == 1  # one forward call over every view
    expected = [lab, unl, strong_u] + ([strong_l] if with_ref_l else [])
    torch.testing.assert_close(net.calls[0], torch.cat(expected))
    with torch.no_grad():
        torch.testing.assert_close(b.pred_l, net.conv(lab))  # supervised loss: the weak labeled view
        torch.testing.assert_close(b.ref_u, net.conv(unl))  # reference: the weak unlabeled view
        torch.testing.assert_close(b.pred_u, net.conv(strong_u))  # trained: the strong unlabeled view
    assert b.pred_u.requires_grad and b.pred_l.requires_grad and not b.ref_u.requires_grad
    if with_ref_l:
        with torch.no_grad():
            torch.testing.assert_close(b.pred_l_consistency, net.conv(strong_l))
            torch.testing.assert_close(b.ref_l, net.conv(lab))
        assert b.labeled_consistency_pred is b.pred_l_consistency and not b.ref_l.requires_grad
    else:
        assert b.ref_l is None and b.pred_l_consistency is None and b.labeled_consistency_pred is b.pred_l


def test_fixmatch_views_stay_pixel_aligned_through_the_network():
    """With an identity 'strong' view the prediction equals its reference pixel for pixel (same geometry)."""
    from metassl_monai.frameworks import FixMatch

    fw = FixMatch(Recorder()).eval()
    lab, unl = data()
    (b,) = fw(lab, unl, views={"image_strong": (lab.clone(), unl.clone())})
    torch.testing.assert_close(b.pred_u, b.ref_u)


def test_fixmatch_without_strong_view_names_the_key():
    from metassl_monai.frameworks import FixMatch

    fw = FixMatch(Recorder(), strong_key="strong")
    with pytest.raises(ValueError, match="strong view 'strong'"):
        fw(*data())
    with pytest.raises(ValueError, match="strong view 'strong'"):
        fw(*data(), views={"image_strong": data()})
    with pytest.raises(ValueError, match="unlabeled"):
        fw(data()[0], None, views={"strong": data()})
