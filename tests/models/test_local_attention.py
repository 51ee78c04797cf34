"""The windowed attention kernels against a dense re-statement, with gradients."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from aotvideo.models.local_attention import (local_aggregate, local_logits, masked_window_softmax,
                                             window_validity)


def _dense(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, r: int):
    """Window logits and aggregation spelled out offset by offset (zero padding outside)."""
    h, w = q.shape[1:3]
    kp = F.pad(k, (0, 0, r, r, r, r))
    vp = F.pad(v, (0, 0, r, r, r, r))
    offsets = [(dy, dx) for dy in range(2 * r + 1) for dx in range(2 * r + 1)]
    logits = torch.stack([(q * kp[:, dy:dy + h, dx:dx + w]).sum(-1) for dy, dx in offsets], -1)
    attn = masked_window_softmax(logits, window_validity(h, w, r, q.device))
    out = sum(attn[..., i:i + 1] * vp[:, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets))
    return logits, attn, out


@pytest.mark.parametrize("shape", [(2, 5, 9, 4, 6), (1, 23, 41, 16, 40), (3, 3, 40, 8, 8),
                                   (1, 17, 17, 4, 4), (1, 1, 1, 2, 3)])
def test_kernels_equal_the_dense_definition(shape):
    torch.manual_seed(0)
    b, h, w, c, cv = shape
    q, k, v = torch.randn(b, h, w, c), torch.randn(b, h, w, c), torch.randn(b, h, w, cv)
    logits, attn, out = _dense(q, k, v, 7)
    valid = window_validity(h, w, 7, q.device)
    assert torch.allclose(local_logits(q, k, 7).masked_fill(~valid, 0),
                          logits.masked_fill(~valid, 0), atol=1e-5)
    assert torch.allclose(local_aggregate(attn, v, 7), out, atol=1e-5)


def test_window_validity_counts():
    valid = window_validity(4, 5, 1, torch.device("cpu"))
    assert valid.shape == (4, 5, 9)
    assert valid[0, 0].tolist() == [False, False, False, False, True, True, False, True, True]
    assert int(valid[1:3, 1:4].sum()) == 6 * 9


def test_gradients():
    torch.manual_seed(0)
    r = 2
    q = torch.randn(2, 5, 7, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 5, 7, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 5, 7, (2 * r + 1) ** 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: local_logits(a, b, r), (q, k))
    assert torch.autograd.gradcheck(lambda a, b: local_aggregate(a, b, r), (w, k))


def test_several_images_side_by_side_equal_one_at_a_time():
    """Images (batch x heads) are multiplied side by side in one batch of tiles; the result
    is exactly that of each image alone."""
    torch.manual_seed(0)
    q, k = torch.randn(8, 23, 41, 32), torch.randn(8, 23, 41, 32)
    v = torch.randn(8, 23, 41, 32)
    attn = torch.randn(8, 23, 41, 225).softmax(-1)
    logits = local_logits(q, k, 7)
    out = local_aggregate(attn, v, 7)
    for i in range(8):
        assert torch.equal(logits[i], local_logits(q[i:i + 1], k[i:i + 1], 7)[0])
        assert torch.equal(out[i], local_aggregate(attn[i:i + 1], v[i:i + 1], 7)[0])
    with torch.no_grad():  # the reused band matrix gives the same sums
        assert torch.equal(local_aggregate(attn, v, 7), out)
