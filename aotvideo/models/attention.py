"""Attention modules of AOT (long/short-term attention) and DeAOT (gated propagation).

Sequence tensors are ``(L, B, C)``.  Module and parameter names follow the original
implementation so that published checkpoints load unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import gemm
from .layers import DepthwiseConvSeq, silu
from .local_attention import (local_aggregate, local_logits, masked_window_softmax,
                              window_validity)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(L, B, H*d) -> (B, H, L, d)."""
    length, batch, channels = x.shape
    return x.view(length, batch, heads, channels // heads).permute(1, 2, 0, 3)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, d) -> (L, B, H*d)."""
    batch, heads, length, d = x.shape
    return x.permute(2, 0, 1, 3).reshape(length, batch, heads * d)


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, heads: int,
            key_dim: int, dropout: float) -> torch.Tensor:
    """softmax(Q K^T / sqrt(key_dim)) V per head on (L, B, C) tensors -> (Lq, B, H*dv)."""
    q = _split_heads(query, heads)
    k = _split_heads(key, heads)
    v = _split_heads(value, heads)
    scale = 1.0 / math.sqrt(key_dim)
    if _explicit_is_faster(q, k, v, dropout):
        out = _attend_explicit(q, k, v, scale)
    else:
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scale)
    return _merge_heads(out)


def _explicit_is_faster(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                        dropout: float) -> bool:
    """Whether :func:`_attend_explicit` beats ``scaled_dot_product_attention`` here.

    On the CPU, without gradients or dropout (inference), two cases (measured with
    ``samples/profile_tracking.py``'s shapes on a 2-core AMD EPYC):

    * values wider than queries (DeAOT: 1024 channels of visual + identity values against
      128-wide keys): PyTorch's fused CPU kernel needs one width, and its "math" fallback builds
      the whole (Lq, Lk) matrix at once, 3-8x slower in bfloat16;
    * float32 products that go to oneDNN (:mod:`aotvideo.models.gemm`) with at most
      :data:`_WHOLE_HEAD_LIMIT` weights per head: the fused kernel multiplies through the BLAS,
      which on some CPUs (MKL on AMD) runs at half oneDNN's rate (AOT-T's 8-head
      self-attention at 943 positions: 6.6 -> 4.2 ms).  With more weights the fused kernel's
      streaming wins.
    """
    if q.device.type != "cpu" or dropout != 0.0 or torch.is_grad_enabled():
        return False
    if q.shape[-1] != v.shape[-1]:
        return True
    return q.shape[-2] * k.shape[-2] <= _WHOLE_HEAD_LIMIT and gemm.onednn_applies(q, k, v)


_WHOLE_HEAD_LIMIT = 1 << 20
"""Largest Lq x Lk for which equal-width attention is computed as whole matrices per head."""

_QUERY_CHUNK = 256
"""Query rows per block of :func:`_attend_explicit` when values are wider than keys: a
(256, Lk) block of weights stays in the cache for the softmax and the product with V."""


def _attend_explicit(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     scale: float) -> torch.Tensor:
    """softmax(scale * Q K^T) V head by head: q (B, H, Lq, d), k (B, H, Lk, d),
    v (B, H, Lk, dv) -> (B, H, Lq, dv).

    Values wider than keys go in blocks of :data:`_QUERY_CHUNK` query rows; equal widths
    (small heads, where the number of products costs more than the cache) in one block.
    """
    batch, heads, length = q.shape[:3]
    out = q.new_empty((batch, heads, length, v.shape[-1]))
    rows_per_block = _QUERY_CHUNK if v.shape[-1] != q.shape[-1] else length
    for b in range(batch):
        for h in range(heads):
            keys_t = gemm.dense(k[b, h]).transpose(0, 1)
            values = gemm.dense(v[b, h])
            for start in range(0, length, rows_per_block):
                rows = slice(start, start + rows_per_block)
                weights = gemm.matmul(q[b, h, rows] * scale, keys_t)
                out[b, h, rows] = gemm.matmul(weights.softmax(dim=-1), values)
    return out


class MultiheadAttention(nn.Module):
    """Multi-head dot-product attention (AOT's long-term and self-attention).

    With ``use_linear`` the inputs are projected by ``linear_Q/K/V`` first; the long-term
    attention of AOT receives already projected keys/values from memory and has none.
    """

    def __init__(self, d_model: int, num_head: int = 8, dropout: float = 0.0,
                 use_linear: bool = True) -> None:
        super().__init__()
        self.d_model = d_model
        self.num_head = num_head
        self.head_dim = d_model // num_head
        self.drop_prob = dropout
        self.use_linear = use_linear
        if use_linear:
            self.linear_Q = nn.Linear(d_model, d_model)
            self.linear_K = nn.Linear(d_model, d_model)
            self.linear_V = nn.Linear(d_model, d_model)
        self.projection = nn.Linear(d_model, d_model)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """query (Lq, B, C), key/value (Lk, B, C) -> (Lq, B, C)."""
        if self.use_linear:
            query, key, value = self.linear_Q(query), self.linear_K(key), self.linear_V(value)
        dropout = self.drop_prob if self.training else 0.0
        out = _attend(query, key, value, self.num_head, self.head_dim, dropout)
        return self.projection(out)


class _WindowMixin:
    """Shared parts of the short-term attentions: relative key terms and windowed attention."""

    max_dis: int
    num_head: int
    drop_prob: float
    relative_emb_k: nn.Conv2d

    def relative_key_logits(self, query: torch.Tensor) -> torch.Tensor:
        """Per-head 1x1 grouped conv of the queries: (B*H, h, w, d) -> (B*H, h, w, (2r+1)²)."""
        bh, h, w, d = query.shape
        heads = self.num_head
        weight = self.relative_emb_k.weight.view(heads, -1, d)  # (H, N, d)
        bias = self.relative_emb_k.bias.view(heads, 1, -1)
        q = query.reshape(bh // heads, heads, h * w, d)
        out = _per_head_matmul(q, weight.transpose(1, 2)) + bias
        return out.view(bh, h, w, -1)

    def _window_attention(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          size_2d: tuple[int, int], key_dim: int,
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax weights over each position's window and the aggregated values.

        query/key/value (h*w, B, H*d) -> (weights (B*H, h, w, (2r+1)²),
        aggregated values (B*H, h, w, dv)).
        """
        heads = self.num_head
        q = _to_channels_last(query, heads, size_2d)
        k = _to_channels_last(key, heads, size_2d)
        v = _to_channels_last(value, heads, size_2d)
        logits = local_logits(q / math.sqrt(key_dim), k, self.max_dis)
        logits = logits + self.relative_key_logits(q)
        valid = window_validity(size_2d[0], size_2d[1], self.max_dis, logits.device)
        attn = masked_window_softmax(logits, valid)
        if self.training and self.drop_prob > 0:
            attn = F.dropout(attn, self.drop_prob)
        return attn, local_aggregate(attn, v, self.max_dis)


def _per_head_matmul(x: torch.Tensor, per_head: torch.Tensor) -> torch.Tensor:
    """x (B, H, L, K) times one (K, N) matrix per head, per_head (H, K, N) -> (B, H, L, N)."""
    if x.shape[0] == 1:
        return gemm.matmul(x[0], per_head).unsqueeze(0)
    return torch.matmul(x, per_head)


def _to_channels_last(x: torch.Tensor, heads: int, size_2d: tuple[int, int]) -> torch.Tensor:
    """(h*w, B, H*d) -> (B*H, h, w, d)."""
    h, w = size_2d
    _, b, c = x.shape
    return x.view(h, w, b, heads, c // heads).permute(2, 3, 0, 1, 4).reshape(b * heads, h, w,
                                                                              c // heads)


def _from_channels_last(x: torch.Tensor, batch: int) -> torch.Tensor:
    """(B*H, h, w, d) -> (h*w, B, H*d)."""
    bh, h, w, d = x.shape
    heads = bh // batch
    return x.reshape(batch, heads, h * w, d).permute(2, 0, 1, 3).reshape(h * w, batch, heads * d)


class LocalAttention(nn.Module, _WindowMixin):
    """AOT's short-term attention: each position attends to a (2r+1)² window of the previous
    frame, with learned relative-position terms on keys (``relative_emb_k``, computed from the
    query) and values (``relative_emb_v``)."""

    def __init__(self, d_model: int, num_head: int, dropout: float = 0.0, max_dis: int = 7) -> None:
        super().__init__()
        self.num_head = num_head
        self.max_dis = max_dis
        self.window_size = 2 * max_dis + 1
        self.head_dim = d_model // num_head
        self.drop_prob = dropout
        window_area = self.window_size ** 2
        self.relative_emb_k = nn.Conv2d(d_model, num_head * window_area, kernel_size=1,
                                        groups=num_head)
        self.relative_emb_v = nn.Parameter(torch.zeros(num_head, self.head_dim, window_area))
        self.projection = nn.Linear(d_model, d_model)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                size_2d: tuple[int, int]) -> torch.Tensor:
        """query/key/value (h*w, B, C) -> (h*w, B, C)."""
        batch = query.shape[1]
        attn, out = self._window_attention(query, key, value, size_2d, self.head_dim)
        bh, h, w, n = attn.shape
        heads = self.num_head
        rel_v = self.relative_emb_v.transpose(1, 2)  # (H, N, d)
        bias = _per_head_matmul(attn.reshape(batch, heads, h * w, n), rel_v)
        out = out + bias.view(bh, h, w, -1)
        return self.projection(_from_channels_last(out, batch))


class GatedPropagation(nn.Module):
    """DeAOT's gated propagation: attention whose aggregated values are gated by ``U``, then a
    depthwise conv and a projection.  Used for long-term memory (no input projections) and as
    the self-propagation (``use_linear``: QK shared, V and U projected per branch)."""

    def __init__(self, d_qk: int, d_vu: int, num_head: int = 8, dropout: float = 0.0,
                 use_linear: bool = True, d_att: int | None = None,
                 expand_ratio: float = 2.0) -> None:
        super().__init__()
        self.expand_d_vu = int(d_vu * expand_ratio)
        self.d_vu = d_vu
        self.num_head = num_head
        self.hidden_dim = self.expand_d_vu // num_head
        self.d_att = d_qk // num_head if d_att is None else d_att
        self.drop_prob = dropout
        self.use_linear = use_linear
        if use_linear:
            middle = self.d_att * num_head
            half = self.hidden_dim * num_head // 2
            self.linear_QK = nn.Linear(d_qk, middle)
            self.linear_V1 = nn.Linear(d_vu // 2, half)
            self.linear_V2 = nn.Linear(d_vu // 2, half)
            self.linear_U1 = nn.Linear(d_vu // 2, half)
            self.linear_U2 = nn.Linear(d_vu // 2, half)
        self.dw_conv = DepthwiseConvSeq(self.expand_d_vu)
        self.projection = nn.Linear(self.expand_d_vu, d_vu)

    def _two_branch(self, x: torch.Tensor, first: nn.Linear, second: nn.Linear) -> torch.Tensor:
        """Project the two halves (visual, identity) of x separately; heads interleave them."""
        a, b = torch.split(x, self.d_vu // 2, dim=-1)
        a, b = first(a), second(b)
        if self.num_head > 1:
            length, batch, _ = a.shape
            half = self.hidden_dim // 2
            a = a.view(length, batch, self.num_head, half)
            b = b.view(length, batch, self.num_head, half)
            return silu(torch.cat([a, b], dim=-1).view(length, batch, -1))
        return silu(torch.cat([a, b], dim=-1))

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                gate: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
        """query (Lq, B, Cq), key (Lk, B, Cq), value (Lk, B, Cv), gate (Lq, B, 2*d_vu)
        -> (Lq, B, d_vu)."""
        if self.use_linear:
            query = key = self.linear_QK(query)
            value = self._two_branch(value, self.linear_V1, self.linear_V2)
            gate = self._two_branch(gate, self.linear_U1, self.linear_U2)
        dropout = self.drop_prob if self.training else 0.0
        out = _attend(query, key, value, self.num_head, self.d_att, dropout)
        out = out * gate
        return self.projection(self.dw_conv(out, size_2d))


class LocalGatedPropagation(nn.Module, _WindowMixin):
    """DeAOT's short-term gated propagation over a (2r+1)² window of the previous frame."""

    def __init__(self, d_qk: int, d_vu: int, num_head: int, dropout: float = 0.0,
                 max_dis: int = 7, d_att: int | None = None, expand_ratio: float = 2.0) -> None:
        super().__init__()
        self.expand_d_vu = int(d_vu * expand_ratio)
        self.num_head = num_head
        self.max_dis = max_dis
        self.window_size = 2 * max_dis + 1
        self.hidden_dim = self.expand_d_vu // num_head
        self.d_att = d_qk // num_head if d_att is None else d_att
        self.drop_prob = dropout
        middle = self.d_att * num_head
        self.relative_emb_k = nn.Conv2d(middle, num_head * self.window_size ** 2, kernel_size=1,
                                        groups=num_head)
        self.dw_conv = DepthwiseConvSeq(self.expand_d_vu)
        self.projection = nn.Linear(self.expand_d_vu, d_vu)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                gate: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
        """query/key (h*w, B, Cq), value (h*w, B, Cv), gate (h*w, B, Cv) -> (h*w, B, d_vu)."""
        _, out = self._window_attention(query, key, value, size_2d, self.d_att)
        out = _from_channels_last(out, query.shape[1]) * gate
        return self.projection(self.dw_conv(out, size_2d))
