"""part_attention / PartAttention against a hand-written loop, gradcheck, and the authors' mixer tensor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _reference import HPSKIT_BLOCK_PARAMS

from hpskit.attention import PartAttention, part_attention
from hpskit.core import ShapeError


def _loop_reference(features, logits):
    """Per (batch, part): pool logits to the feature grid cell by cell, softmax over cells, weighted sum."""
    b, c, h, w = features.shape
    _, p, hl, wl = logits.shape
    out = torch.zeros(b, p, c, dtype=features.dtype)
    for bi in range(b):
        for pi in range(p):
            pooled = torch.zeros(h, w, dtype=logits.dtype)
            for y in range(h):  # adaptive average pooling bins (torch's floor/ceil rule)
                y0, y1 = (y * hl) // h, -((-(y + 1) * hl) // h)
                for x in range(w):
                    x0, x1 = (x * wl) // w, -((-(x + 1) * wl) // w)
                    pooled[y, x] = logits[bi, pi, y0:y1, x0:x1].mean()
            e = torch.exp(pooled - pooled.max())
            weights = e / e.sum()
            for y in range(h):
                for x in range(w):
                    out[bi, pi] += weights[y, x] * features[bi, :, y, x]
    return out


@pytest.mark.parametrize(("b", "c", "h", "w", "p", "hl", "wl"), [
    (2, 5, 4, 4, 3, 16, 16),  # 4×4 pooling, as 224 → 56
    (1, 3, 3, 5, 2, 7, 11),   # odd sizes, uneven bins
    (1, 1, 1, 1, 1, 1, 1),
])
def test_matches_loop(b, c, h, w, p, hl, wl):
    feats = torch.randn(b, c, h, w, dtype=torch.float64)
    logits = torch.randn(b, p, hl, wl, dtype=torch.float64) * 3
    torch.testing.assert_close(part_attention(feats, logits), _loop_reference(feats, logits))


def test_dpose_sizes_and_exact_4x4_pooling():
    feats = torch.randn(1, 720, 56, 56)
    logits = torch.randn(1, 22, 224, 224)
    out = part_attention(feats, logits)
    assert out.shape == (1, 22, 720)
    pooled = F.avg_pool2d(logits, 4)
    weights = torch.softmax(pooled.flatten(2), -1)
    torch.testing.assert_close(out, weights @ feats.flatten(2).transpose(1, 2))


def test_weights_sum_to_one():
    feats = torch.full((2, 4, 6, 6), 3.5)
    out = part_attention(feats, torch.randn(2, 7, 12, 12) * 10)
    torch.testing.assert_close(out, torch.full((2, 7, 4), 3.5))


def test_gradcheck_function():
    feats = torch.randn(1, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(1, 2, 4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(part_attention, (feats, logits))


def test_gradcheck_module():
    att = PartAttention(3).double()
    feats = torch.randn(2, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    logits = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(att, (feats, logits))


def test_module_is_mixer_after_attention():
    att = PartAttention(6)
    feats, logits = torch.randn(2, 6, 5, 5), torch.randn(2, 4, 10, 10)
    a0 = part_attention(feats, logits)
    expected = a0 @ att.mixer.weight[:, :, 0].T + att.mixer.bias
    torch.testing.assert_close(att(feats, logits), expected)


def test_matches_reference_tensors(reference_block):
    att = PartAttention(720)
    ref = {k: s for k, s, _, _ in reference_block("model.attention.")}
    ours = {k: tuple(v.shape) for k, v in att.state_dict().items()}
    assert ours == {"mixer.weight": ref["conv1x1_pose.weight"], "mixer.bias": ref["conv1x1_pose.bias"]}
    assert sum(p.numel() for p in att.parameters()) == HPSKIT_BLOCK_PARAMS["attention"]
    # the reference attention holds a second, never-used mixer of the same size (1,038,240 in all)
    ref = sum(n for _, _, n, kind in reference_block("model.attention.") if kind == "param")
    assert ref == 2 * HPSKIT_BLOCK_PARAMS["attention"]


def test_errors():
    with pytest.raises(ShapeError, match=r"part_logits.*`B` is 2 elsewhere"):
        part_attention(torch.randn(2, 4, 5, 5), torch.randn(3, 2, 10, 10))
    with pytest.raises(ShapeError, match=r"features.*\(B, C, H, W\).*got \(4, 5, 5\)"):
        part_attention(torch.randn(4, 5, 5), torch.randn(1, 2, 10, 10))
    with pytest.raises(ShapeError, match=r"PartAttention.forward.*\(B, 8, H, W\).*got \(1, 4, 5, 5\)"):
        PartAttention(8)(torch.randn(1, 4, 5, 5), torch.randn(1, 2, 10, 10))
