"""The training step's forward and backward read nothing back to the host (issue 18: the step runs ahead of
the GPU, reading its numbers every ``runtime.sync_every`` steps; a read inside it would make the host wait).

:func:`hpskit.engine.forward_loss` (network in train mode, predicted and ground-truth SMPL-X bodies,
:class:`~hpskit.losses.DPoSELoss`), the backward pass and ``clip_grad_norm_`` on the smoke recipe's model
(HRNet-W18, 64×64 crops, stand-in body, a synthetic batch of 2) with every host read patched to raise
(``tests/_host_reads.py``). The GPU twin asks CUDA itself (``torch.cuda.set_sync_debug_mode("error")``).
"""

from __future__ import annotations

import pytest
import torch
from _host_reads import forbid_host_reads

from hpskit.data import SyntheticConfig, SyntheticHumans
from hpskit.engine import forward_loss
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
