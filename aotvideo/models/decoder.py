"""FPN segmentation head shared by AOT and DeAOT."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ConvGN


class FPNSegmentationHead(nn.Module):
    """Decodes propagated features into identity logits at stride 4.

    Reads the propagation output (stride 16) and the encoder's 16x, 8x and 4x features through
    1x1 adapters, upsampling bilinearly between scales.
    """

    def __init__(self, in_dim: int, out_dim: int, decode_intermediate_input: bool = True,
                 hidden_dim: int = 256, shortcut_dims: tuple[int, ...] = (24, 32, 96, 1280),
                 align_corners: bool = True) -> None:
        super().__init__()
        self.align_corners = align_corners
        self.decode_intermediate_input = decode_intermediate_input
        self.conv_in = ConvGN(in_dim, hidden_dim, 1)
        self.conv_16x = ConvGN(hidden_dim, hidden_dim, 3)
        self.conv_8x = ConvGN(hidden_dim, hidden_dim // 2, 3)
        self.conv_4x = ConvGN(hidden_dim // 2, hidden_dim // 2, 3)
        self.adapter_16x = nn.Conv2d(shortcut_dims[-2], hidden_dim, 1)
        self.adapter_8x = nn.Conv2d(shortcut_dims[-3], hidden_dim, 1)
        self.adapter_4x = nn.Conv2d(shortcut_dims[-4], hidden_dim // 2, 1)
        self.conv_out = nn.Conv2d(hidden_dim // 2, out_dim, 1)

    def forward(self, inputs: list[torch.Tensor], shortcuts: list[torch.Tensor]) -> torch.Tensor:
        """inputs: maps (B, C_i, h16, w16); shortcuts: encoder features [4x, 8x, 16x, ...]
        -> logits (B, out_dim, h4, w4)."""
        x = torch.cat(inputs, dim=1) if self.decode_intermediate_input else inputs[-1]
        x = F.relu(self.conv_in(x))
        x = F.relu(self.conv_16x(self.adapter_16x(shortcuts[-2]) + x))
        x = F.interpolate(x, size=shortcuts[-3].shape[-2:], mode="bilinear",
                          align_corners=self.align_corners)
        x = F.relu(self.conv_8x(self.adapter_8x(shortcuts[-3]) + x))
        x = F.interpolate(x, size=shortcuts[-4].shape[-2:], mode="bilinear",
                          align_corners=self.align_corners)
        x = F.relu(self.conv_4x(self.adapter_4x(shortcuts[-4]) + x))
        return self.conv_out(x)
