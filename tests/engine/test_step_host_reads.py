"""The training step's forward and backward read nothing back to the host (issue 18: the step runs ahead of
the GPU, reading its numbers every ``runtime.sync_every`` steps; a read inside it would make the host wait).

:func:`hpskit.engine.forward_loss` (network in train mode, predicted and ground-truth SMPL-X bodies,
:class:`~hpskit.losses.DPoSELoss`), the backward pass and ``clip_grad_norm_`` on the smoke recipe's model
(HRNet-W18, 64×64 crops, stand-in body, a synthetic batch of 2) with every host read patched to raise
(``tests/_host_reads.py``); and the whole step that ``runtime.graph_scope=step`` replays as one CUDA graph
(:class:`hpskit.engine.TrainStep`: the above plus the bad-step flag and fused Adam with a tensor learning
rate, and the scheduler filling that tensor). The GPU twin asks CUDA itself
(``torch.cuda.set_sync_debug_mode("error")``).
"""

from __future__ import annotations

import copy

import pytest
import torch
from _host_reads import forbid_host_reads

from hpskit.data import SyntheticConfig, SyntheticHumans
from hpskit.engine import TrainStep, forward_loss, keep_lr_tensors_, make_lr_capturable_
from hpskit.losses import DPoSELoss
from hpskit.models import DPoSE, DPoSEConfig


@pytest.fixture(scope="module")
def smoke():
    torch.manual_seed(0)
    net = DPoSE(DPoSEConfig(encoder="hrnet_w18", body_model="standin")).train()
    batch = SyntheticHumans(net.body_model, SyntheticConfig(res=64), split="train").generate(2, seed=1)
    return net, batch


def _step(net, batch, preset):
    loss_fn = DPoSELoss(preset=preset)
    net.zero_grad(set_to_none=True)
    total, terms, _ = forward_loss(net, net.body_model, loss_fn, batch,
                                   gt_hands="authors" if preset == "authors" else "flat")
    total.backward()
    norm = torch.nn.utils.clip_grad_norm_(list(net.parameters()), 1.5)
    return total.detach(), terms, norm


@pytest.mark.parametrize("preset", ["paper", "authors"])
def test_forward_loss_and_backward_make_no_host_read(smoke, preset, monkeypatch):
    net, batch = smoke
    ref_total, ref_terms, ref_norm = _step(net, batch, preset)
    with forbid_host_reads(monkeypatch):
        total, terms, norm = _step(net, batch, preset)
    # The guarded step is the same step: same loss, terms and gradient norm (and they are real numbers).
    assert torch.equal(total, ref_total) and torch.equal(norm, ref_norm)
    assert terms.keys() == ref_terms.keys() and all(torch.equal(terms[k], ref_terms[k]) for k in terms)
    assert torch.isfinite(total) and float(total) > 0 and float(norm) > 0
    assert float(terms["raw/parts_ce"].detach()) > 0 and float(terms["raw/vertices"].detach()) > 0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_forward_loss_and_backward_make_no_cuda_sync(smoke):
    net, batch = smoke
    net, batch = net.cuda(), batch.to("cuda")
    try:
        _step(net, batch, "paper")  # warm-up: first-call allocations and cuDNN/cuBLAS set-up may sync
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        _step(net, batch, "paper")
    finally:
        torch.cuda.set_sync_debug_mode("default")
        net.cpu()


def _whole_step_setup(net):
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    return params, opt, sched, make_lr_capturable_(opt)


def test_the_whole_step_makes_no_host_read(smoke, monkeypatch):
    """What ``runtime.graph_scope=step`` captures — forward, bodies, loss, backward, clip, the bad-step flag
    and fused Adam with a tensor learning rate — plus the scheduler that fills that tensor after the step,
    read nothing on the host. (A bad step runs the very same ops with other values: the flag is a multiply
    inside the fused kernel, not a branch; tests/recipes/test_step_graph.py skips one.)"""
    net, batch = smoke
    net = copy.deepcopy(net)
    params, opt, sched, lrs = _whole_step_setup(net)
    step = TrainStep(net, net.body_model, DPoSELoss(preset="paper"), opt, params, grad_clip_norm=1.5,
                     autocast_cache=False)
    step(batch)  # the first Adam step makes its state (as the warm-up steps before a capture do)
    sched.step()
    before = [p.detach().clone() for p in params]
    with forbid_host_reads(monkeypatch):
        out = step(batch)
        sched.step()
        keep_lr_tensors_(opt, lrs)
    assert opt.param_groups[0]["lr"] is lrs[0] and float(lrs[0]) == pytest.approx(1e-4 / 3, rel=1e-12)
    assert step.names[0] == "loss" and step.names[-1] == "grad_norm" and "raw/vertices" in step.names
    assert out["numbers"].shape == (len(step.names),) and out["pred_vertices"].shape[:1] == (2,)
    assert float(out["bad"]) == 0.0 and torch.isfinite(out["numbers"]).all()
    moved = [not torch.equal(p, q) for p, q in zip(before, params)]
    assert sum(moved) > len(moved) // 2  # the update was made
