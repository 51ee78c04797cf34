"""Image encoders of the AOT / DeAOT models.

Every encoder maps a normalised image batch N x 3 x H x W to a list of four feature maps at
strides 4, 8, 16 and 16 (the last one is the deepest feature).  Parameter and buffer names,
shapes and order equal those of the original implementation, so the ``encoder.*`` part of a
model-zoo checkpoint loads directly.
"""
from __future__ import annotations

from torch import nn

from aotvideo.models.encoders.imagenet import load_imagenet_weights
from aotvideo.models.encoders.mobilenet import MobileNetV2Encoder, MobileNetV3LargeEncoder
from aotvideo.models.encoders.normalization import FrozenBatchNorm2d, norm_factory
from aotvideo.models.encoders.resnet import (
    RESNEST_LAYERS,
    RESNET_LAYERS,
    ResNeStEncoder,
    ResNetEncoder,
)
from aotvideo.models.encoders.swin import SwinTransformerEncoder

__all__ = [
    "ENCODER_DIMS",
    "ENCODER_NAMES",
    "ENCODER_STRIDES",
    "FrozenBatchNorm2d",
    "build_encoder",
    "freeze_encoder",
    "load_imagenet_weights",
]

ENCODER_DIMS: dict[str, tuple[int, ...]] = {
    "mobilenetv2": (24, 32, 96, 1280),
    "mobilenetv3": (24, 40, 112, 960),
    "resnet50": (256, 512, 1024, 1024),
    "resnet101": (256, 512, 1024, 1024),
    "resnest101": (256, 512, 1024, 1024),
    "swin_base": (128, 256, 512, 512),
}
"""Channels of the four feature maps returned by each encoder."""

ENCODER_STRIDES: tuple[int, ...] = (4, 8, 16, 16)
"""Strides of the four feature maps (the same for every encoder)."""

ENCODER_NAMES: tuple[str, ...] = tuple(ENCODER_DIMS)


def build_encoder(name: str, frozen_bn: bool = True, *, freeze_at: int = -1) -> nn.Module:
    """Build the encoder called ``name`` (one of :data:`ENCODER_NAMES`), randomly initialised.

    Args:
        name: ``mobilenetv2``, ``mobilenetv3`` (MobileNetV3-Large), ``resnet50``, ``resnet101``,
            ``resnest101`` or ``swin_base``.
        frozen_bn: use :class:`FrozenBatchNorm2d` (buffers only, as in the checkpoints) instead of
            trainable ``nn.BatchNorm2d``.  Swin has no batch norm and ignores it.
        freeze_at: stop gradients of the early parts, like the original's
            ``TRAIN_ENCODER_FREEZE_AT``; -1 freezes nothing.  See :func:`freeze_encoder`.

    Returns:
        The module; ``forward(x)`` maps N x 3 x H x W to four maps with ``ENCODER_DIMS[name]``
        channels at strides :data:`ENCODER_STRIDES`.

    Raises:
        ValueError: unknown name.
    """
    norm_layer = norm_factory(frozen_bn)
    encoder: nn.Module
    if name == "mobilenetv2":
        encoder = MobileNetV2Encoder(norm_layer)
    elif name == "mobilenetv3":
        encoder = MobileNetV3LargeEncoder(norm_layer)
    elif name in RESNET_LAYERS:
        encoder = ResNetEncoder(RESNET_LAYERS[name], norm_layer)
    elif name in RESNEST_LAYERS:
        encoder = ResNeStEncoder(RESNEST_LAYERS[name], norm_layer)
    elif name == "swin_base":
        encoder = SwinTransformerEncoder(
            embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), window_size=7
        )
    else:
        raise ValueError(f"unknown encoder {name!r}; expected one of {', '.join(ENCODER_NAMES)}")
    freeze_encoder(encoder, freeze_at)
    return encoder


def freeze_encoder(encoder: nn.Module, freeze_at: int) -> None:
    """Stop the gradients of an encoder's early parts, as the original's ``freeze_at`` does.

    Convolutional encoders: ``freeze_at >= 1`` freezes the stem, ``>= k`` (k >= 2) also the
    first ``k - 1`` stages.  Swin: ``>= 0`` freezes the patch embedding, ``>= 2`` also the first
    ``freeze_at - 1`` transformer stages (see :meth:`SwinTransformerEncoder.freeze`).
    """
    if isinstance(encoder, SwinTransformerEncoder):
        encoder.freeze(freeze_at)
        return
    stage_modules = getattr(encoder, "stage_modules", None)
    if stage_modules is None:
        raise TypeError(f"{type(encoder).__name__} is not an aotvideo encoder")
    for index, module in enumerate(stage_modules(), start=1):
        if freeze_at >= index:
            module.requires_grad_(False)
