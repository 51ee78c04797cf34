"""Batch normalisation with frozen statistics and affine parameters, as used by the encoders."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

NormFactory = Callable[[int], nn.Module]
"""Builds a 2-D normalisation layer for a given number of channels."""

DEFAULT_EPSILON = 1e-5


class FrozenBatchNorm2d(nn.Module):
    """Batch normalisation whose statistics and affine parameters are fixed buffers.

    The state consists of the four buffers ``weight, bias, running_mean, running_var`` (in this
    order, each of shape ``C``) and nothing else, the layout of the published checkpoints.

    The arithmetic follows the original implementation exactly: when the input requires a
    gradient, the normalisation is folded into one scale and one shift,
    ``scale = weight * rsqrt(running_var + eps)``, ``shift = bias - running_mean * scale``, and the
    output is ``x * scale + shift`` (scale and shift cast to the input's dtype); otherwise the
    fused ``torch.nn.functional.batch_norm`` in inference mode is used.  Both agree up to float
    rounding.
    """

    weight: torch.Tensor
    bias: torch.Tensor
    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, num_features: int, epsilon: float = DEFAULT_EPSILON) -> None:
        """Create an identity normalisation for ``num_features`` channels."""
        super().__init__()
        self.num_features = num_features
        self.epsilon = epsilon
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features) - epsilon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape N x C x H x W; returns the same shape."""
        if x.requires_grad:
            scale = self.weight * (self.running_var + self.epsilon).rsqrt()
            shift = self.bias - self.running_mean * scale
            scale = scale.reshape(1, -1, 1, 1).to(x.dtype)
            shift = shift.reshape(1, -1, 1, 1).to(x.dtype)
            return x * scale + shift
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=False,
            eps=self.epsilon,
        )

    def extra_repr(self) -> str:
        """Describe the layer for ``repr``."""
        return f"{self.num_features}, epsilon={self.epsilon}"


def norm_factory(frozen_bn: bool) -> NormFactory:
    """Return the normalisation layer the encoders use: frozen or trainable batch norm."""
    if frozen_bn:
        return FrozenBatchNorm2d
    return nn.BatchNorm2d
