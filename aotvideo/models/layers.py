"""Small building blocks shared by the AOT and DeAOT propagation modules and the decoder.

Sequence tensors follow the original layout ``(L, B, C)``: ``L = h * w`` positions in row-major
order, ``B`` the batch (identity groups at inference), ``C`` channels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def seq_to_map(x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
    """(h*w, B, C) -> (B, C, h, w) view (not contiguous)."""
    h, w = size_2d
    _, b, c = x.shape
    return x.view(h, w, b, c).permute(2, 3, 0, 1)


def map_to_seq(x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (h*w, B, C) view (not contiguous)."""
    b, c, h, w = x.shape
    return x.reshape(b, c, h * w).permute(2, 0, 1)


def silu(x: torch.Tensor) -> torch.Tensor:
    """Sigmoid-weighted linear unit, ``x * sigmoid(x)``."""
    return F.silu(x)


class DropPath(nn.Module):
    """Stochastic depth on the batch dimension ``batch_dim`` (identity at inference)."""

    def __init__(self, drop_prob: float = 0.0, batch_dim: int = 1) -> None:
        super().__init__()
        self.drop_prob = float(drop_prob)
        self.batch_dim = batch_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        shape = [1] * x.ndim
        shape[self.batch_dim] = x.shape[self.batch_dim]
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep


class GroupNormSeq(nn.Module):
    """Group normalisation of a sequence tensor (L, B, C) over channel groups and positions."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.gn = nn.GroupNorm(groups, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(x.permute(1, 2, 0)).permute(2, 0, 1)


class DepthwiseConvSeq(nn.Module):
    """5x5 depthwise convolution (no bias) of a sequence tensor laid out on its 2-D grid."""

    def __init__(self, channels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False)
        self.dropout = nn.Dropout2d(p=dropout)

    def forward(self, x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
        """(h*w, B, C) -> (h*w, B, C)."""
        y = self.dropout(self.conv(seq_to_map(x, size_2d)))
        return map_to_seq(y)


class GNGeluDepthwiseConv(nn.Module):
    """Feed-forward activation of the AOT block: GroupNorm(32) -> GELU -> 5x5 depthwise conv."""

    def __init__(self, channels: int, groups: int = 32) -> None:
        super().__init__()
        self.gn = nn.GroupNorm(groups, channels)
        self.conv = nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False)

    def forward(self, x: torch.Tensor, size_2d: tuple[int, int]) -> torch.Tensor:
        """(h*w, B, C) -> (h*w, B, C)."""
        # GroupNorm of the permuted sequence (a channels-last map) copies it twice inside the
        # CPU kernel; one explicit NCHW copy, and channels-last again for the depthwise conv,
        # give the same numbers in 60% of the time (AOT's feed-forward at 23x41x1024).
        normed = self.gn(seq_to_map(x, size_2d).contiguous())
        y = self.conv(F.gelu(normed).contiguous(memory_format=torch.channels_last))
        return map_to_seq(y)


class ConvGN(nn.Module):
    """Convolution ('same' padding, with bias) followed by GroupNorm(8)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 groups: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.gn = nn.GroupNorm(groups, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gn(self.conv(x))


def sine_position_embedding(height: int, width: int, channels: int = 256,
                            temperature: float = 10000.0, device: torch.device | None = None,
                            ) -> torch.Tensor:
    """Normalised 2-D sine position embedding of the original code (DETR style).

    Returns (channels, height, width): the first half encodes y, the second x, each as
    interleaved sin/cos of coordinates scaled to [0, 2π].
    """
    feats = channels // 2
    eps = 1e-6
    scale = 2 * torch.pi
    grid_y, grid_x = torch.meshgrid(torch.arange(height, device=device),
                                    torch.arange(width, device=device), indexing="ij")
    y = grid_y.float().unsqueeze(0)
    x = grid_x.float().unsqueeze(0)
    y = y / (y[:, -1:, :] + eps) * scale
    x = x / (x[:, :, -1:] + eps) * scale
    dim_t = torch.arange(feats, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / feats)
    pos_x = x[:, :, :, None] / dim_t
    pos_y = y[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[..., 0::2].sin(), pos_x[..., 1::2].cos()), dim=4).flatten(3)
    pos_y = torch.stack((pos_y[..., 0::2].sin(), pos_y[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)[0]
