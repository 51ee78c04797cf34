"""Inference-time transformation of a model: same function, less work.

:func:`optimize_for_inference` returns a copy whose frozen batch norms are folded into the
convolutions before them (one memory pass less per layer; the result differs from the unfolded
arithmetic only by float rounding) and whose convolution weights use the channels-last memory
format that oneDNN/cuDNN run fastest; its linear layers send float32 CPU products to oneDNN too
(:mod:`aotvideo.models.gemm`).  The original model is left untouched, so it keeps its
checkpoint layout and can be trained or saved.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from .encoders import FrozenBatchNorm2d
from .gemm import use_onednn_linears
from .model import AOTModel


def _fold(conv: nn.Conv2d, norm: FrozenBatchNorm2d) -> nn.Conv2d:
    scale = norm.weight * (norm.running_var + norm.epsilon).rsqrt()
    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
    folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                       conv.padding, conv.dilation, conv.groups, bias=True,
                       padding_mode=conv.padding_mode, device=conv.weight.device,
                       dtype=conv.weight.dtype)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
        folded.bias.copy_((bias - norm.running_mean) * scale + norm.bias)
    return folded


def fold_frozen_batch_norms(module: nn.Module) -> int:
    """Fold every frozen batch norm that directly follows a convolution into it, in place.

    Recognised pairs: consecutive children of an ``nn.Sequential``, and sibling attributes
    ``conv<k>`` / ``bn<k>`` (ResNet-style blocks).  Returns how many were folded.
    """
    folded = 0
    for parent in module.modules():
        names = list(parent._modules)
        if isinstance(parent, nn.Sequential):
            for first, second in zip(names, names[1:]):
                conv, norm = parent._modules[first], parent._modules[second]
                if isinstance(conv, nn.Conv2d) and isinstance(norm, FrozenBatchNorm2d):
                    parent._modules[first] = _fold(conv, norm)
                    parent._modules[second] = nn.Identity()
                    folded += 1
        for name in names:
            if not name.startswith("bn"):
                continue
            conv_name = "conv" + name[2:]
            conv, norm = parent._modules.get(conv_name), parent._modules[name]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, FrozenBatchNorm2d):
                parent._modules[conv_name] = _fold(conv, norm)
                parent._modules[name] = nn.Identity()
                folded += 1
    return folded


def optimize_for_inference(model: AOTModel) -> AOTModel:
    """An eval-mode copy of ``model`` with batch norms folded, channels-last weights and
    oneDNN linear layers.

    The copy computes the same function (up to float rounding) and is marked with
    ``inference_optimized = True``; :class:`aotvideo.Tracker` makes one unless given one.
    """
    optimized = copy.deepcopy(model).eval()
    for p in optimized.parameters():
        p.requires_grad_(False)
    fold_frozen_batch_norms(optimized.encoder)
    optimized.to(memory_format=torch.channels_last)
    use_onednn_linears(optimized)
    optimized.inference_optimized = True
    return optimized
