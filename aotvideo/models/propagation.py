"""Propagation modules: AOT's Long Short-Term Transformer (LSTT) and DeAOT's dual-branch
Gated Propagation Module (GPM).

Both read two kinds of memory per layer: long-term (keys/values of every memorised frame,
concatenated along the sequence) and short-term (the previous frame, read through a local
window).  A frame whose mask is known (a reference frame) attends to itself: its identity
embedding is fused into its own keys/values first.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .attention import (GatedPropagation, LocalAttention, LocalGatedPropagation,
                        MultiheadAttention)
from .layers import DropPath, GNGeluDepthwiseConv, GroupNormSeq, silu


@dataclass(frozen=True)
class MemoryEntry:
    """Keys and values one propagation layer stores for one or more frames.

    All tensors are sequences ``(L, B, C)``: ``L = frames * h * w`` for long-term memory,
    ``h * w`` for short-term memory; ``B`` is the number of identity groups.

    Attributes:
        key: attention keys (AOT: C = 256; DeAOT: C = 128).
        value: visual values (AOT: identity already fused in, C = 256; DeAOT: C = 512).
        id_value: DeAOT's identity-branch values (C = 512); ``None`` for AOT.
        joined: DeAOT's visual and identity values side by side, (L, B, 1024), when ``value``
            and ``id_value`` are views of it (see :meth:`with_identity`): attention reads both
            branches at once, and a memory stored this way is read without a copy per frame.
    """

    key: torch.Tensor
    value: torch.Tensor
    id_value: torch.Tensor | None = None
    joined: torch.Tensor | None = field(default=None, repr=False)

    @staticmethod
    def with_identity(key: torch.Tensor, value: torch.Tensor,
                      id_value: torch.Tensor) -> MemoryEntry:
        """An entry whose visual (L, B, Cv) and identity (L, B, Ci) values share one tensor."""
        joined = torch.cat([value, id_value], dim=2)
        channels = value.shape[2]
        return MemoryEntry(key, joined[..., :channels], joined[..., channels:], joined)

    def values_with_identity(self) -> torch.Tensor:
        """(L, B, Cv + Ci): visual and identity values side by side (no copy when joined)."""
        if self.joined is not None:
            return self.joined
        assert self.id_value is not None, "an AOT entry has no identity values"
        return torch.cat([self.value, self.id_value], dim=2)

    @staticmethod
    def concat(entries: list[MemoryEntry]) -> MemoryEntry:
        """Entries of several frames joined along the sequence dimension."""
        if len(entries) == 1:
            return entries[0]
        key = torch.cat([e.key for e in entries], dim=0)
        if entries[0].id_value is None:
            return MemoryEntry(key, torch.cat([e.value for e in entries], dim=0))
        joined = torch.cat([e.values_with_identity() for e in entries], dim=0)
        channels = entries[0].value.shape[2]
        return MemoryEntry(key, joined[..., :channels], joined[..., channels:], joined)

    @property
    def nbytes(self) -> int:
        """Bytes held by the tensors."""
        values = [self.joined] if self.joined is not None else (
            [self.value] + ([self.id_value] if self.id_value is not None else []))
        return sum(t.numel() * t.element_size() for t in [self.key, *values])


@dataclass(frozen=True)
class PropagationOutput:
    """What one pass of the propagation module returns.

    Attributes:
        embeddings: per layer, the (normalised) output sequence (h*w, B, C) the decoder reads.
        current: per layer, the frame's own keys/values before identity fusion; fused with the
            frame's (predicted) mask they become its memory entry.
        fused: per layer, the frame's memory entry when an identity embedding was given
            (reference frames), else ``None``.
    """

    embeddings: list[torch.Tensor]
    current: list[MemoryEntry]
    fused: list[MemoryEntry] | None


class LSTTBlock(nn.Module):
    """One AOT layer: self-attention, long/short-term attention, feed-forward."""

    def __init__(self, d_model: int, self_heads: int, att_heads: int, feedforward_dim: int = 1024,
                 droppath: float = 0.1, lt_dropout: float = 0.0, st_dropout: float = 0.0,
                 droppath_lst: bool = False, max_dis: int = 7) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.linear_Q = nn.Linear(d_model, d_model)
        self.linear_V = nn.Linear(d_model, d_model)
        self.long_term_attn = MultiheadAttention(d_model, att_heads, use_linear=False,
                                                 dropout=lt_dropout)
        self.short_term_attn = LocalAttention(d_model, att_heads, dropout=st_dropout,
                                              max_dis=max_dis)
        self.lst_dropout = nn.Dropout(max(lt_dropout, st_dropout))
        self.droppath_lst = droppath_lst
        self.norm2 = nn.LayerNorm(d_model)
        self.self_attn = MultiheadAttention(d_model, self_heads)
        self.norm3 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, feedforward_dim)
        self.activation = GNGeluDepthwiseConv(feedforward_dim)
        self.linear2 = nn.Linear(feedforward_dim, d_model)
        self.droppath = DropPath(droppath, batch_dim=1)

    def fuse(self, current: MemoryEntry, id_emb: torch.Tensor) -> MemoryEntry:
        """Memory entry of a frame: values carry the identity embedding of its mask."""
        return MemoryEntry(current.key, self.linear_V(current.value + id_emb))

    def forward(self, x: torch.Tensor, long_term: MemoryEntry | None,
                short_term: MemoryEntry | None, id_emb: torch.Tensor | None,
                pos_emb: torch.Tensor | None, size_2d: tuple[int, int],
                ) -> tuple[torch.Tensor, MemoryEntry, MemoryEntry | None]:
        """x (h*w, B, C) -> (x, current entry, fused entry or None)."""
        normed = self.norm1(x)
        query = normed if pos_emb is None else normed + pos_emb
        x = x + self.droppath(self.self_attn(query, query, normed))

        normed = self.norm2(x)
        curr_q = self.linear_Q(normed)
        current = MemoryEntry(curr_q, normed)
        fused = None
        if id_emb is not None:
            fused = self.fuse(current, id_emb)
            long_term = short_term = fused
        assert long_term is not None and short_term is not None
        long_out = self.long_term_attn(curr_q, long_term.key, long_term.value)
        short_out = self.short_term_attn(curr_q, short_term.key, short_term.value, size_2d)
        if self.droppath_lst:
            x = x + self.droppath(long_out + short_out)
        else:
            x = x + self.lst_dropout(long_out + short_out)

        normed = self.norm3(x)
        x = x + self.droppath(self.linear2(self.activation(self.linear1(normed), size_2d)))
        return x, current, fused


class LongShortTermTransformer(nn.Module):
    """AOT's stack of LSTT blocks with LayerNorms on the outputs the decoder reads."""

    def __init__(self, num_layers: int, d_model: int, self_heads: int, att_heads: int,
                 feedforward_dim: int = 1024, emb_dropout: float = 0.0, droppath: float = 0.1,
                 lt_dropout: float = 0.0, st_dropout: float = 0.0, droppath_lst: bool = False,
                 droppath_scaling: bool = False, intermediate_norm: bool = True,
                 max_dis: int = 7) -> None:
        super().__init__()
        self.intermediate_norm = intermediate_norm
        self.mask_token = nn.Parameter(torch.randn(1, 1, d_model))  # training-only masking
        self.emb_dropout = nn.Dropout(emb_dropout)
        self.layers = nn.ModuleList(
            LSTTBlock(d_model, self_heads, att_heads, feedforward_dim,
                      _droppath_rate(droppath, idx, num_layers, droppath_scaling), lt_dropout,
                      st_dropout, droppath_lst, max_dis) for idx in range(num_layers))
        num_norms = (num_layers - 1 if intermediate_norm else 0) + 1
        self.decoder_norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(num_norms))

    def forward(self, x: torch.Tensor, long_term: list[MemoryEntry] | None,
                short_term: list[MemoryEntry] | None, id_emb: torch.Tensor | None,
                pos_emb: torch.Tensor | None, size_2d: tuple[int, int]) -> PropagationOutput:
        x = self.emb_dropout(x)
        outputs, currents, fused = [], [], []
        for idx, layer in enumerate(self.layers):
            x, current, entry = layer(x, None if long_term is None else long_term[idx],
                                      None if short_term is None else short_term[idx],
                                      id_emb, pos_emb, size_2d)
            outputs.append(x)
            currents.append(current)
            fused.append(entry)
        return PropagationOutput(_normalise_outputs(outputs, self.decoder_norms,
                                                    self.intermediate_norm),
                                 currents, None if id_emb is None else fused)


class GatedPropagationBlock(nn.Module):
    """One DeAOT layer: a visual and an identity branch propagated with shared attention maps."""

    def __init__(self, d_model: int, self_heads: int, att_heads: int, droppath: float = 0.1,
                 lt_dropout: float = 0.0, st_dropout: float = 0.0, droppath_lst: bool = False,
                 max_dis: int = 7, layer_index: int = 0, expand_ratio: float = 2.0) -> None:
        super().__init__()
        expand = int(d_model * expand_ratio)
        self.d_model = d_model
        self.expand_d_model = expand
        self.d_att = d_model // 2 if att_heads == 1 else d_model // att_heads
        self.att_heads = att_heads
        self.layer_index = layer_index
        self.norm1 = nn.LayerNorm(d_model)
        self.linear_QV = nn.Linear(d_model, self.d_att * att_heads + expand)
        self.linear_U = nn.Linear(d_model, expand)
        if layer_index == 0:
            self.linear_ID_V = nn.Linear(d_model, expand)
        else:
            self.id_norm1 = nn.LayerNorm(d_model)
            self.linear_ID_V = nn.Linear(d_model * 2, expand)
            self.linear_ID_U = nn.Linear(d_model, expand)
        self.long_term_attn = GatedPropagation(d_model, d_model * 2, att_heads, lt_dropout,
                                               use_linear=False, d_att=self.d_att,
                                               expand_ratio=expand_ratio)
        self.short_term_attn = LocalGatedPropagation(d_model, d_model * 2, att_heads, st_dropout,
                                                     max_dis=max_dis, d_att=self.d_att,
                                                     expand_ratio=expand_ratio)
        self.lst_dropout = nn.Dropout(max(lt_dropout, st_dropout))
        self.droppath_lst = droppath_lst
        self.norm2 = nn.LayerNorm(d_model)
        self.id_norm2 = nn.LayerNorm(d_model)
        self.self_attn = GatedPropagation(d_model * 2, d_model * 2, self_heads, d_att=self.d_att)
        self.droppath = DropPath(droppath, batch_dim=1)

    def fuse(self, current: MemoryEntry, id_emb: torch.Tensor) -> MemoryEntry:
        """Memory entry of a frame: identity-branch values from its mask's identity embedding."""
        if current.id_value is None:
            id_value = silu(self.linear_ID_V(id_emb))
        else:
            id_value = silu(self.linear_ID_V(torch.cat([current.id_value, id_emb], dim=2)))
        return MemoryEntry.with_identity(current.key, current.value, id_value)

    def _lst_residual(self, x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return x + (self.droppath(a + b) if self.droppath_lst else self.lst_dropout(a + b))

    def forward(self, x: torch.Tensor, x_id: torch.Tensor | None,
                long_term: MemoryEntry | None, short_term: MemoryEntry | None,
                id_emb: torch.Tensor | None, size_2d: tuple[int, int],
                ) -> tuple[torch.Tensor, torch.Tensor, MemoryEntry, MemoryEntry | None]:
        """x (h*w, B, C), x_id (h*w, B, C) or None for the first layer
        -> (x, x_id, current entry, fused entry or None)."""
        normed = self.norm1(x)
        query, value = torch.split(self.linear_QV(normed),
                                   [self.d_att * self.att_heads, self.expand_d_model], dim=2)
        value = silu(value)
        gate_visual = self.linear_U(normed)
        if x_id is None:
            gate = torch.cat([silu(gate_visual), torch.ones_like(gate_visual)], dim=-1)
            current = MemoryEntry(query, value, None)
        else:
            normed_id = self.id_norm1(x_id)
            gate = silu(torch.cat([gate_visual, self.linear_ID_U(normed_id)], dim=-1))
            current = MemoryEntry(query, value, normed_id)
        fused = None
        if id_emb is not None:
            fused = self.fuse(current, id_emb)
            long_term = short_term = fused
        assert long_term is not None and short_term is not None
        long_out = self.long_term_attn(query, long_term.key, long_term.values_with_identity(),
                                       gate, size_2d)
        short_out = self.short_term_attn(query, short_term.key,
                                         short_term.values_with_identity(), gate, size_2d)
        long_v, long_id = torch.split(long_out, self.d_model, dim=-1)
        short_v, short_id = torch.split(short_out, self.d_model, dim=-1)
        x = self._lst_residual(x, long_v, short_v)
        x_id = self._lst_residual(0 if x_id is None else x_id, long_id, short_id)  # type: ignore[arg-type]

        both = torch.cat([self.norm2(x), self.id_norm2(x_id)], dim=-1)
        self_v, self_id = torch.split(self.self_attn(both, both, both, both, size_2d),
                                      self.d_model, dim=-1)
        x = x + self.droppath(self_v)
        x_id = x_id + self.droppath(self_id)
        return x, x_id, current, fused


class DualBranchGPM(nn.Module):
    """DeAOT's stack of gated propagation blocks; the decoder reads [visual, identity]."""

    def __init__(self, num_layers: int, d_model: int, self_heads: int, att_heads: int,
                 emb_dropout: float = 0.0, droppath: float = 0.1, lt_dropout: float = 0.0,
                 st_dropout: float = 0.0, droppath_lst: bool = False,
                 droppath_scaling: bool = False, intermediate_norm: bool = False,
                 max_dis: int = 7) -> None:
        super().__init__()
        self.intermediate_norm = intermediate_norm
        self.emb_dropout = nn.Dropout(emb_dropout)
        self.layers = nn.ModuleList(
            GatedPropagationBlock(d_model, self_heads, att_heads,
                                  _droppath_rate(droppath, idx, num_layers, droppath_scaling),
                                  lt_dropout, st_dropout, droppath_lst, max_dis, layer_index=idx)
            for idx in range(num_layers))
        num_norms = (num_layers - 1 if intermediate_norm else 0) + 1
        self.decoder_norms = nn.ModuleList(GroupNormSeq(d_model * 2, groups=2)
                                           for _ in range(num_norms))

    def forward(self, x: torch.Tensor, long_term: list[MemoryEntry] | None,
                short_term: list[MemoryEntry] | None, id_emb: torch.Tensor | None,
                pos_emb: torch.Tensor | None, size_2d: tuple[int, int]) -> PropagationOutput:
        del pos_emb  # gated propagation uses no position embedding
        x = self.emb_dropout(x)
        x_id: torch.Tensor | None = None
        outputs, currents, fused = [], [], []
        for idx, layer in enumerate(self.layers):
            x, x_id, current, entry = layer(x, x_id,
                                            None if long_term is None else long_term[idx],
                                            None if short_term is None else short_term[idx],
                                            id_emb, size_2d)
            outputs.append(torch.cat([x, x_id], dim=2))
            currents.append(current)
            fused.append(entry)
        return PropagationOutput(_normalise_outputs(outputs, self.decoder_norms,
                                                    self.intermediate_norm),
                                 currents, None if id_emb is None else fused)


def _droppath_rate(rate: float, idx: int, num_layers: int, scaling: bool) -> float:
    if not scaling:
        return rate
    return 0.0 if num_layers == 1 else rate * idx / (num_layers - 1)


def _normalise_outputs(outputs: list[torch.Tensor], norms: nn.ModuleList,
                       intermediate: bool) -> list[torch.Tensor]:
    """Final output through the last norm; earlier outputs through theirs when ``intermediate``."""
    result = list(outputs)
    result[-1] = norms[-1](outputs[-1])
    if intermediate:
        for idx in range(len(outputs) - 1):
            result[idx] = norms[idx](outputs[idx])
    return result
