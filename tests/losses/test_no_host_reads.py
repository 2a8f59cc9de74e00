"""The loss reads nothing back to the host, and gives the numbers it gave before it stopped reading.

(a) :class:`DPoSELoss` forward + backward on fixed batches, edge cases included, with every host read patched
to raise (``tests/_host_reads.py``; the whole step with the network and body is in
``tests/engine/test_step_host_reads.py``).
(b) Every term against the code before the change: reference copies of the two functions that changed
(the part cross-entropy's label check, kornia's SSIM) compared bit for bit / within 1e-6, and every term of
both presets pinned to the values the old code gave on these batches (relative 1e-6).
"""

from __future__ import annotations

import sys
from pathlib import Path

import kornia
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _host_reads import HostRead, forbid_host_reads  # noqa: E402
from _sync_cases import CASES, make_case  # noqa: E402

from hpskit.core import ShapeError  # noqa: E402
from hpskit.losses import DPoSELoss, depth_ssim_loss, part_cross_entropy  # noqa: E402
from hpskit.losses._common import _reduce, _sample_mask, _select  # noqa: E402
from hpskit.losses.depth import _fg_setup  # noqa: E402

# The old code's raw terms on make_case(name) (hpskit 4ca9c1f, before this change), per preset.
OLD = {
    "paper": {
        "full": {"depth": 0.32109618186950684, "depth_ssim": 0.4617602229118347,
                 "parts_ce": 3.6204917430877686,
                 "pose": 0.2530762553215027, "betas": 1.752903699874878, "joints3d": 0.3283814489841461,
                 "vertices": 0.45895516872406006, "kp2d": 0.11203134059906006},
        "mixed": {"depth": 0.31989800930023193, "depth_ssim": 0.4379783868789673,
                  "parts_ce": 3.6255435943603516,
                  "pose": 0.24549928307533264, "betas": 1.9076037406921387, "joints3d": 0.31207337975502014,
                  "vertices": 0.45836275815963745, "kp2d": 0.10792530328035355},
        "none_supervised": {"depth": 0.0, "depth_ssim": 0.0, "parts_ce": 0.0, "pose": 0.2530762553215027,
                            "betas": 1.752903699874878, "joints3d": 0.3283814489841461, "vertices": 0.0,
                            "kp2d": 0.0},
        "all_ignore": {"depth": 0.32109618186950684, "depth_ssim": 0.4617602229118347, "parts_ce": 0.0,
                       "pose": 0.2530762553215027, "betas": 1.752903699874878, "joints3d": 0.3283814489841461,
                       "vertices": 0.45895516872406006, "kp2d": 0.11203134059906006},
        "missing_depth": {"depth": 0.0, "depth_ssim": 0.0, "parts_ce": 3.6204917430877686,
                          "pose": 0.2530762553215027, "betas": 1.752903699874878,
                          "joints3d": 0.3283814489841461, "vertices": 0.45895516872406006,
                          "kp2d": 0.11203134059906006},
        "empty_foreground": {"depth": 0.322976678609848, "depth_ssim": 0.47199681401252747,
                             "parts_ce": 3.603532075881958, "pose": 0.2530762553215027,
                             "betas": 1.752903699874878, "joints3d": 0.3283814489841461,
                             "vertices": 0.45895516872406006, "kp2d": 0.11203134059906006},
        "soft_parts": {"depth": 0.32109618186950684, "depth_ssim": 0.4617602229118347,
                       "parts_ce": 3.6194679737091064, "pose": 0.2530762553215027, "betas": 1.752903699874878,
                       "joints3d": 0.3283814489841461, "vertices": 0.45895516872406006,
                       "kp2d": 0.11203134059906006},
    },
    "authors": {
        "full": {"depth": 0.21509923040866852, "depth_ssim": 0.848039984703064,
                 "parts_ce": 3.6204917430877686,
                 "pose": 0.2455974966287613, "betas": 1.752903699874878, "joints3d": 0.3283814489841461,
                 "vertices": 0.45895516872406006, "kp2d": 0.2620224952697754,
                 "cam_scale": 4.539993096841499e-05},
        "mixed": {"depth": 0.2059193253517151, "depth_ssim": 0.8130407333374023,
                  "parts_ce": 3.6255435943603516,
                  "pose": 0.23881173133850098, "betas": 1.9076037406921387, "joints3d": 0.31207337975502014,
                  "vertices": 0.45836275815963745, "kp2d": 0.24285125732421875,
                  "cam_scale": 4.539993096841499e-05},
        "none_supervised": {"depth": 0.0, "depth_ssim": 0.0, "parts_ce": 0.0, "pose": 0.2455974966287613,
                            "betas": 1.752903699874878, "joints3d": 0.3283814489841461, "vertices": 0.0,
                            "kp2d": 0.0, "cam_scale": 4.539993096841499e-05},
        "all_ignore": {"depth": 0.21509923040866852, "depth_ssim": 0.848039984703064, "parts_ce": 0.0,
                       "pose": 0.2455974966287613, "betas": 1.752903699874878, "joints3d": 0.3283814489841461,
                       "vertices": 0.45895516872406006, "kp2d": 0.2620224952697754,
                       "cam_scale": 4.539993096841499e-05},
        "missing_depth": {"depth": 0.0, "depth_ssim": 0.0, "parts_ce": 3.6204917430877686,
                          "pose": 0.2455974966287613, "betas": 1.752903699874878,
                          "joints3d": 0.3283814489841461, "vertices": 0.45895516872406006,
                          "kp2d": 0.2620224952697754, "cam_scale": 4.539993096841499e-05},
        "empty_foreground": {"depth": 0.24269327521324158, "depth_ssim": 0.9011154174804688,
                             "parts_ce": 3.603532075881958, "pose": 0.2455974966287613,
                             "betas": 1.752903699874878, "joints3d": 0.3283814489841461,
                             "vertices": 0.45895516872406006, "kp2d": 0.2620224952697754,
                             "cam_scale": 4.539993096841499e-05},
        "soft_parts": {"depth": 0.21509923040866852, "depth_ssim": 0.848039984703064,
                       "parts_ce": 3.6194679737091064, "pose": 0.2455974966287613, "betas": 1.752903699874878,
                       "joints3d": 0.3283814489841461, "vertices": 0.45895516872406006,
                       "kp2d": 0.2620224952697754, "cam_scale": 4.539993096841499e-05},
    },
}


def _old_part_cross_entropy(logits, target, mask=None, ignore_index=-100):
    """hpskit's part_cross_entropy before this change (integer labels: a host-read range check)."""
    B, P = logits.shape[:2]
    m = _sample_mask(mask, B, logits, "old")
    if target.is_floating_point():
        target = _select(m, target).to(logits.dtype)
        ce = F.cross_entropy(logits, target, reduction="none")
        count = ce.new_full((B,), float(logits.shape[2] * logits.shape[3]))
    else:
        target = _select(m, target.long())
        valid = target != ignore_index
        if valid.any():
            lo, hi = int(target[valid].min()), int(target[valid].max())
            if lo < 0 or hi >= P:
                raise ShapeError("labels out of range")
        ce = F.cross_entropy(logits, target, reduction="none", ignore_index=ignore_index)
        count = valid.flatten(1).sum(1)
        m = m & (count > 0)
        count = count.clamp(min=1).to(logits.dtype)
    return _reduce(ce.flatten(1).sum(1) / count, m, "mean")


def _old_depth_ssim_loss(pred, target, foreground=None, mask=None, window_size=11):
    """hpskit's depth_ssim_loss before this change (kornia.metrics.ssim, whose window is a host copy)."""
    m, target, fg, count = _fg_setup(pred, target, foreground, mask, "old")
    fgf = fg.to(pred.dtype)
    ssim_map = kornia.metrics.ssim(pred * fgf, target * fgf, window_size, max_val=1.0, eps=0.0)
    return _reduce(1.0 - (ssim_map * fgf).flatten(1).sum(1) / count, m, "mean")


@pytest.mark.parametrize("preset", ["paper", "authors"])
@pytest.mark.parametrize("case", CASES)
def test_loss_and_backward_read_nothing_and_keep_the_old_values(preset, case, monkeypatch):
    pred, tgt = make_case(case)
    leaves = [f for f in ("pose_rotmat", "betas", "cam", "joints3d", "vertices", "depth", "part_logits")
              if getattr(pred, f) is not None]
    for f in leaves:
        getattr(pred, f).requires_grad_(True)
    with forbid_host_reads(monkeypatch):
        total, terms = DPoSELoss(preset=preset)(pred, tgt)
        total.backward()
    raw = {k[4:]: v.detach() for k, v in terms.items() if k.startswith("raw/")}
    assert raw.keys() == OLD[preset][case].keys()
    for name, old in OLD[preset][case].items():
        assert float(raw[name]) == pytest.approx(old, rel=1e-6, abs=1e-12), name
        if old == 0.0:  # a term no sample supervises is exactly 0, as before
            assert float(raw[name]) == 0.0, name
    for f in leaves:
        assert torch.isfinite(getattr(pred, f).grad).all(), f


@pytest.mark.parametrize("case", CASES)
def test_part_cross_entropy_bit_identical_to_the_old_code(case):
    pred, tgt = make_case(case)
    for mask in (tgt.has_parts, None):
        a = pred.part_logits.detach().clone().requires_grad_(True)
        b = pred.part_logits.detach().clone().requires_grad_(True)
        new, old = part_cross_entropy(a, tgt.parts, mask), _old_part_cross_entropy(b, tgt.parts, mask)
        new.backward()
        old.backward()
        assert torch.equal(new, old) and torch.equal(a.grad, b.grad)


@pytest.mark.parametrize("case", [c for c in CASES if c != "missing_depth"])
def test_depth_ssim_within_1e6_of_kornia(case):
    """The one term that is not bit-identical: the SSIM map is now hpskit's (no host copy), kornia's before;
    float32 rounding apart, value and gradient agree."""
    pred, tgt = make_case(case)
    for window in (11, 5):
        a = pred.depth.detach().clone().requires_grad_(True)
        b = pred.depth.detach().clone().requires_grad_(True)
        new = depth_ssim_loss(a, tgt.depth, None, tgt.has_depth, window_size=window)
        old = _old_depth_ssim_loss(b, tgt.depth, None, tgt.has_depth, window_size=window)
        new.backward()
        old.backward()
        assert float(new.detach()) == pytest.approx(float(old.detach()), rel=1e-6, abs=1e-7)
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-7)


def test_the_guard_catches_each_kind_of_read(monkeypatch):
    """The guard can fail: each forbidden read raises inside it (and nothing is left patched after)."""
    x = torch.tensor([0.0, 1.0])
    reads = [lambda: bool(x.any()), lambda: x.sum().item(), lambda: int(x[1]), lambda: float(x[0]),
             lambda: x.tolist(), lambda: x.cpu(), lambda: x.numpy(), lambda: torch.nonzero(x),
             lambda: x[x > 0], lambda: torch.tensor([1.0, 2.0]), lambda: [0, 1][x.long()[1]]]
    for read in reads:
        with pytest.raises(HostRead), forbid_host_reads(monkeypatch):
            read()
    assert bool(x.any()) and x.tolist() == [0.0, 1.0]
