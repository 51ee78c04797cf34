"""Swin Transformer (Swin-B, window 7) encoder restricted to its first three stages.

Parameter names follow the original detection-style backbone used by AOT (``patch_embed``,
``layers.<s>.blocks.<b>``, ``layers.<s>.downsample``, output norms ``norm0..norm2``).  The
arithmetic follows it too: the image is zero-padded on the right/bottom to a multiple of the
patch size; inside each block the normalised tokens are zero-padded to a multiple of the window
size before the (shifted) window attention and cropped afterwards; shifted windows use a
-100 additive mask; patch merging pads odd sizes with zeros.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class DropPath(nn.Module):
    """Stochastic depth: in training, zero whole samples with probability ``drop_probability``."""

    def __init__(self, drop_probability: float) -> None:
        """Store the probability."""
        super().__init__()
        self.drop_probability = drop_probability

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Identity in evaluation; in training drop samples of the first axis and rescale."""
        if self.drop_probability == 0.0 or not self.training:
            return x
        keep_probability = 1.0 - self.drop_probability
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        keep = (keep_probability + torch.rand(shape, dtype=x.dtype, device=x.device)).floor_()
        return x.div(keep_probability) * keep


class Mlp(nn.Module):
    """``fc1 -> GELU -> fc2`` (dropout 0)."""

    def __init__(self, channels: int, hidden_channels: int) -> None:
        """Build the two linear layers."""
        super().__init__()
        self.fc1 = nn.Linear(channels, hidden_channels)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """... x C -> ... x C."""
        return self.fc2(self.act(self.fc1(x)))


def relative_position_index(window_size: int) -> torch.Tensor:
    """int64 (W*W) x (W*W) index into the ``(2W-1)^2`` relative position bias table.

    For tokens ``i = (hi, wi)`` and ``j = (hj, wj)`` of a window (row-major), the index is
    ``(hi - hj + W - 1) * (2W - 1) + (wi - wj + W - 1)``.
    """
    rows, columns = torch.meshgrid(
        torch.arange(window_size), torch.arange(window_size), indexing="ij"
    )
    coordinates = torch.stack([rows.flatten(), columns.flatten()])  # 2 x W*W
    relative = coordinates[:, :, None] - coordinates[:, None, :]  # 2 x W*W x W*W
    relative = relative + (window_size - 1)
    return relative[0] * (2 * window_size - 1) + relative[1]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a learned relative position bias."""

    relative_position_index: torch.Tensor

    def __init__(self, channels: int, window_size: int, num_heads: int) -> None:
        """Build the bias table (registered first, as in the original), qkv and projection."""
        super().__init__()
        self.channels = channels
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (channels // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(channels, channels * 3)
        self.proj = nn.Linear(channels, channels)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Attend within windows.

        Args:
            x: (num_windows * N) x T x C tokens, ``T = window_size ** 2``.
            mask: num_windows x T x T additive mask (0 or -100), or None.

        Returns:
            (num_windows * N) x T x C.
        """
        batch_windows, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(
            batch_windows, tokens, 3, self.num_heads, channels // self.num_heads
        )
        qkv = qkv.permute(2, 0, 3, 1, 4)
        query, key, value = qkv[0], qkv[1], qkv[2]
        query = query * self.scale
        attention = query @ key.transpose(-2, -1)
        area = self.window_size * self.window_size
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(area, area, -1).permute(2, 0, 1).contiguous()
        attention = attention + bias.unsqueeze(0)
        if mask is not None:
            num_windows = mask.shape[0]
            attention = attention.view(
                batch_windows // num_windows, num_windows, self.num_heads, tokens, tokens
            ) + mask.unsqueeze(1).unsqueeze(0)
            attention = attention.view(-1, self.num_heads, tokens, tokens)
        attention = F.softmax(attention, dim=-1)
        x = (attention @ value).transpose(1, 2).reshape(batch_windows, tokens, channels)
        return self.proj(x)


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """N x H x W x C (H, W multiples of the window) -> (N * windows) x window x window x C."""
    batch, height, width, channels = x.shape
    x = x.view(
        batch, height // window_size, window_size, width // window_size, window_size, channels
    )
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, channels)


def window_reverse(
    windows: torch.Tensor, window_size: int, height: int, width: int
) -> torch.Tensor:
    """Inverse of :func:`window_partition`: -> N x H x W x C."""
    batch = int(windows.shape[0] / (height * width / window_size / window_size))
    x = windows.view(
        batch, height // window_size, width // window_size, window_size, window_size, -1
    )
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(batch, height, width, -1)


class SwinTransformerBlock(nn.Module):
    """Pre-norm (shifted) window attention and MLP, each with a residual connection."""

    def __init__(
        self,
        channels: int,
        num_heads: int,
        window_size: int,
        shift_size: int,
        drop_path: float,
        mlp_ratio: float = 4.0,
    ) -> None:
        """Build the block; ``shift_size`` is 0 (regular) or ``window_size // 2`` (shifted)."""
        super().__init__()
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = nn.LayerNorm(channels)
        self.attn = WindowAttention(channels, window_size, num_heads)
        self.drop_path: nn.Module = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(channels)
        self.mlp = Mlp(channels, int(channels * mlp_ratio))

    def forward(
        self, x: torch.Tensor, height: int, width: int, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """N x (H*W) x C -> N x (H*W) x C; ``attention_mask`` is used by shifted blocks only."""
        batch, length, channels = x.shape
        if length != height * width:
            raise ValueError(f"expected {height}x{width} tokens, got {length}")
        shortcut = x
        x = self.norm1(x).view(batch, height, width, channels)
        pad_right = (self.window_size - width % self.window_size) % self.window_size
        pad_bottom = (self.window_size - height % self.window_size) % self.window_size
        x = F.pad(x, (0, 0, 0, pad_right, 0, pad_bottom))
        padded_height, padded_width = x.shape[1], x.shape[2]
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
            mask: torch.Tensor | None = attention_mask
        else:
            mask = None
        windows = window_partition(x, self.window_size).view(
            -1, self.window_size * self.window_size, channels
        )
        windows = self.attn(windows, mask).view(-1, self.window_size, self.window_size, channels)
        x = window_reverse(windows, self.window_size, padded_height, padded_width)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        if pad_right > 0 or pad_bottom > 0:
            x = x[:, :height, :width, :].contiguous()
        x = x.view(batch, height * width, channels)
        x = shortcut + self.drop_path(x)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbourhood concatenation (order (0,0), (1,0), (0,1), (1,1)), norm, 4C -> 2C."""

    def __init__(self, channels: int) -> None:
        """Build the reduction (registered first) and the norm."""
        super().__init__()
        self.reduction = nn.Linear(4 * channels, 2 * channels, bias=False)
        self.norm = nn.LayerNorm(4 * channels)

    def forward(self, x: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """N x (H*W) x C -> N x (ceil(H/2)*ceil(W/2)) x 2C (odd sizes zero-padded)."""
        batch, length, channels = x.shape
        if length != height * width:
            raise ValueError(f"expected {height}x{width} tokens, got {length}")
        x = x.view(batch, height, width, channels)
        if height % 2 == 1 or width % 2 == 1:
            x = F.pad(x, (0, 0, 0, width % 2, 0, height % 2))
        x = torch.cat(
            [x[:, 0::2, 0::2, :], x[:, 1::2, 0::2, :], x[:, 0::2, 1::2, :], x[:, 1::2, 1::2, :]],
            -1,
        )
        x = x.view(batch, -1, 4 * channels)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    """Alternating regular / shifted blocks, optionally followed by patch merging."""

    def __init__(
        self,
        channels: int,
        depth: int,
        num_heads: int,
        window_size: int,
        drop_paths: Sequence[float],
        downsample: bool,
    ) -> None:
        """Build ``depth`` blocks (odd ones shifted by half a window)."""
        super().__init__()
        self.window_size = window_size
        self.shift_size = window_size // 2
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                channels,
                num_heads,
                window_size,
                0 if index % 2 == 0 else window_size // 2,
                drop_paths[index],
            )
            for index in range(depth)
        )
        self.downsample: PatchMerging | None = PatchMerging(channels) if downsample else None

    def shifted_window_mask(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """float32 windows x T x T mask: 0 within a region, -100 across the cyclic-shift seams."""
        padded_height = int(math.ceil(height / self.window_size)) * self.window_size
        padded_width = int(math.ceil(width / self.window_size)) * self.window_size
        regions = torch.zeros((1, padded_height, padded_width, 1), device=device)
        bounds = (
            slice(0, -self.window_size),
            slice(-self.window_size, -self.shift_size),
            slice(-self.shift_size, None),
        )
        label = 0
        for rows in bounds:
            for columns in bounds:
                regions[:, rows, columns, :] = label
                label += 1
        region_windows = window_partition(regions, self.window_size).view(
            -1, self.window_size * self.window_size
        )
        difference = region_windows.unsqueeze(1) - region_windows.unsqueeze(2)
        return difference.masked_fill(difference != 0, -100.0).masked_fill(difference == 0, 0.0)

    def forward(
        self, x: torch.Tensor, height: int, width: int
    ) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """N x (H*W) x C -> (stage output N x (H*W) x C, next input, next H, next W)."""
        mask = self.shifted_window_mask(height, width, x.device)
        for block in self.blocks:
            x = block(x, height, width, mask)
        if self.downsample is None:
            return x, x, height, width
        return x, self.downsample(x, height, width), (height + 1) // 2, (width + 1) // 2


class PatchEmbedding(nn.Module):
    """4x4/4 convolution (input zero-padded to a multiple of 4) and LayerNorm over channels."""

    def __init__(self, channels: int, patch_size: int = 4) -> None:
        """Build ``proj`` and ``norm``."""
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(3, channels, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """N x 3 x H x W -> (N x (h*w) x C tokens, h, w) with ``h = ceil(H/4)``."""
        height, width = x.shape[2], x.shape[3]
        if width % self.patch_size != 0:
            x = F.pad(x, (0, self.patch_size - width % self.patch_size))
        if height % self.patch_size != 0:
            x = F.pad(x, (0, 0, 0, self.patch_size - height % self.patch_size))
        x = self.proj(x)
        patch_height, patch_width = x.shape[2], x.shape[3]
        tokens = self.norm(x.flatten(2).transpose(1, 2))
        return tokens, patch_height, patch_width


class SwinTransformerEncoder(nn.Module):
    """First three stages of a Swin Transformer; outputs at strides 4, 8, 16 (and 16 again).

    Each stage output goes through its own LayerNorm (``norm0..norm2``) before being reshaped
    to N x C x h x w.
    """

    def __init__(
        self,
        embed_dim: int = 128,
        depths: Sequence[int] = (2, 2, 18, 2),
        num_heads: Sequence[int] = (4, 8, 16, 32),
        window_size: int = 7,
        drop_path_rate: float = 0.3,
        num_stages: int = 3,
    ) -> None:
        """Build ``num_stages`` of the full architecture given by ``depths``/``num_heads``.

        The stochastic depth rates rise linearly over the blocks of *all* ``depths`` stages
        (including the dropped ones), as in the original.
        """
        super().__init__()
        self.num_stages = num_stages
        self.channels = tuple(embed_dim * 2**index for index in range(num_stages))
        self.patch_embed = PatchEmbedding(embed_dim)
        total = sum(depths)
        rates = [drop_path_rate * i / (total - 1) if total > 1 else 0.0 for i in range(total)]
        self.layers = nn.ModuleList()
        for index in range(num_stages):
            first = sum(depths[:index])
            self.layers.append(
                SwinStage(
                    self.channels[index],
                    depths[index],
                    num_heads[index],
                    window_size,
                    rates[first : first + depths[index]],
                    downsample=index < num_stages - 1,
                )
            )
        for index in range(num_stages):
            self.add_module(f"norm{index}", nn.LayerNorm(self.channels[index]))
        self.apply(_initialise_weights)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N x 3 x H x W -> [N x C x H/4 x W/4, N x 2C x H/8, N x 4C x H/16, same again]."""
        tokens, height, width = self.patch_embed(x)
        outputs: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            stage_output, tokens, next_height, next_width = layer(tokens, height, width)
            normalised = getattr(self, f"norm{index}")(stage_output)
            outputs.append(
                normalised.view(-1, height, width, self.channels[index])
                .permute(0, 3, 1, 2)
                .contiguous()
            )
            height, width = next_height, next_width
        outputs.append(outputs[-1])
        return outputs

    def freeze(self, freeze_at: int) -> None:
        """Freeze like the original: >= 0 patch embedding, >= 2 also the first stages.

        With ``freeze_at >= 2`` the stages ``0 .. freeze_at - 2`` lose their parameters' gradients
        and their stochastic depth; the patch merging of the last frozen stage stays trainable
        (a quirk of the original that trained checkpoints reflect).
        """
        if freeze_at >= 0:
            self.patch_embed.requires_grad_(False)
        if freeze_at >= 2:
            last_frozen: SwinStage | None = None
            for index in range(0, min(freeze_at - 1, self.num_stages)):
                stage = self.layers[index]
                assert isinstance(stage, SwinStage)
                for block in stage.blocks:
                    assert isinstance(block, SwinTransformerBlock)
                    block.drop_path = nn.Identity()
                stage.requires_grad_(False)
                last_frozen = stage
            if last_frozen is not None and last_frozen.downsample is not None:
                last_frozen.downsample.requires_grad_(True)


def _initialise_weights(module: nn.Module) -> None:
    """Truncated-normal linear weights (std 0.02), zero biases, unit LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
