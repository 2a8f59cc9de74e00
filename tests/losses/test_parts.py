"""Part cross-entropy: integer label maps and one-hot / soft targets."""

import math

import pytest
import torch
import torch.nn.functional as F

from hpskit.core import ShapeError
from hpskit.losses import PartCrossEntropyLoss, check_part_labels, part_cross_entropy


def test_hand_value_integer_labels():
    logits = torch.zeros(1, 23, 2, 2, dtype=torch.float64)
    logits[0, 3, 0, 0] = 2.0
    labels = torch.tensor([[[3, 0], [5, 22]]])
    z = math.log(math.exp(2.0) + 22)  # log-sum-exp of pixel (0, 0); the others: log 23
    expected = ((-2.0 + z) + 3 * math.log(23)) / 4
    assert part_cross_entropy(logits, labels).item() == pytest.approx(expected, rel=1e-12)
    labels[0, 0, 0] = 0
    expected = (z + 3 * math.log(23)) / 4
    assert part_cross_entropy(logits, labels).item() == pytest.approx(expected, rel=1e-12)


def test_one_hot_equals_labels_and_soft_targets():
    logits = torch.randn(2, 23, 5, 6, dtype=torch.float64)
    labels = torch.randint(0, 23, (2, 5, 6))
    one_hot = F.one_hot(labels, 23).permute(0, 3, 1, 2).to(torch.float64)
    a = part_cross_entropy(logits, labels)
    b = part_cross_entropy(logits, one_hot)
    assert a.item() == pytest.approx(b.item(), rel=1e-12)
    uniform = torch.full_like(one_hot, 1 / 23)
    ce_uniform = part_cross_entropy(torch.zeros_like(logits), uniform)
    assert ce_uniform.item() == pytest.approx(math.log(23), rel=1e-12)
    assert PartCrossEntropyLoss()(logits, labels).item() == pytest.approx(a.item(), rel=1e-12)


def test_ignore_index_and_mask():
    logits = torch.randn(3, 23, 4, 4, dtype=torch.float64)
    labels = torch.randint(0, 23, (3, 4, 4))
    lab2 = labels.clone()
    lab2[0, :2] = -100
    ce = F.cross_entropy(logits[:1], labels[:1], reduction="none")[0, 2:].mean()
    per = part_cross_entropy(logits, lab2, reduction="none")
    assert per[0].item() == pytest.approx(ce.item(), rel=1e-12)
    m = torch.tensor([True, False, True])
    lab3 = labels.clone()
    lab3[1] = 7  # changes an unsupervised sample only
    assert part_cross_entropy(logits, lab3, m).item() == pytest.approx(
        part_cross_entropy(logits, labels, m).item(), rel=1e-12)
    x = logits.clone().requires_grad_()
    z = part_cross_entropy(x, labels, torch.zeros(3, dtype=torch.bool))
    z.backward()
    assert z.item() == 0 and torch.isfinite(x.grad).all() and (x.grad == 0).all()


def test_gradcheck():
    logits = torch.randn(1, 23, 2, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, 23, (1, 2, 3))
    assert torch.autograd.gradcheck(lambda x: part_cross_entropy(x, labels), (logits,))


def test_errors():
    with pytest.raises(ShapeError, match=r"labels must lie in \[0, 23\)"):
        part_cross_entropy(torch.zeros(1, 23, 2, 2), torch.full((1, 2, 2), 23), check_labels=True)
    with pytest.raises(ShapeError, match=r"labels must lie in \[0, 23\).*\[-3, 5\]"):
        check_part_labels(torch.tensor([[[5, -3, -100]]]), 23)
    check_part_labels(torch.tensor([[[0, 22, -100]]]), 23)
    # Unchecked (the training step's default: no host read), a bad label still fails loudly, never silently.
    with pytest.raises(IndexError, match="out of bounds"):
        part_cross_entropy(torch.zeros(1, 23, 2, 2), torch.full((1, 2, 2), 23))
    with pytest.raises(ShapeError, match=r"target.*\(B, H, W\)"):
        part_cross_entropy(torch.zeros(1, 23, 2, 2), torch.zeros(1, 2, 3, dtype=torch.long))
    with pytest.raises(ShapeError, match=r"target.*\(B, P, H, W\)"):
        part_cross_entropy(torch.zeros(1, 23, 2, 2), torch.zeros(1, 22, 2, 2))
