"""Per-module gradient norms, per-group clipping and relative update sizes (hpskit.engine.diagnostics)."""

from __future__ import annotations

import torch
from torch import nn

from hpskit.engine import ParamSnapshot, clip_grad_norm_per_group_, group_grad_norms, module_groups


def _net_with_grads():
    torch.manual_seed(0)
    net = nn.ModuleDict({"enc": nn.Linear(4, 8), "head": nn.Sequential(nn.ReLU(), nn.Linear(8, 2))})
    loss = (net["head"](net["enc"](torch.randn(5, 4))) ** 2).sum() * 100
    loss.backward()
    return net


def test_groups_and_norms_match_a_hand_computation():
    net = _net_with_grads()
    groups = module_groups(net)
    assert list(groups) == ["enc", "head"] and len(groups["head"]) == 2
    norms = group_grad_norms(groups)
    for name, params in groups.items():
        want = torch.cat([p.grad.flatten() for p in params]).norm()
        torch.testing.assert_close(norms[name], want)
    assert set(module_groups(net, depth=2)) == {"enc.weight", "enc.bias", "head.1"}


def test_per_group_clip_limits_each_group_on_its_own():
    net = _net_with_grads()
    groups = module_groups(net)
    before = group_grad_norms(groups)
    small = min(before.values()) / 2
    returned = clip_grad_norm_per_group_(groups, float(small))
    after = group_grad_norms(groups)
    for name in groups:
        torch.testing.assert_close(returned[name], before[name])
        torch.testing.assert_close(after[name], torch.tensor(float(small)), rtol=1e-4, atol=1e-6)


def test_relative_update_of_an_optimizer_step():
    net = _net_with_grads()
    groups = module_groups(net)
    snap = ParamSnapshot(groups)
    before = {k: torch.cat([p.detach().flatten().clone() for p in v]) for k, v in groups.items()}
    torch.optim.SGD(net.parameters(), lr=1e-3).step()
    rel = snap.relative_update()
    for name, params in groups.items():
        after = torch.cat([p.detach().flatten() for p in params])
        torch.testing.assert_close(rel[name], (after - before[name]).norm() / before[name].norm())
        assert float(rel[name]) > 0
