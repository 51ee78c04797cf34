"""The learnt box-to-mask head: a MobileNetV2 trunk and a small U-Net-like decoder.

The network sees one *crop*: the box enlarged by a margin on every side (clamped to the frame),
resized to a fixed square, plus a *prior* channel that is 1 inside the box and 0 outside. It
returns one mask logit per crop pixel. :mod:`aotvideo.boxmask.crops` makes the crops and pastes
the result back into the frame.

Trunk: ``torchvision.models.mobilenet_v2().features[0:18]`` made output-stride 16 (the
stride-2 block 14 keeps stride 1, blocks 15-17 use dilation 2, as DeepLabV3-MobileNetV2 does),
so torchvision-format state dicts (e.g. the DeepLab one) load by name. Its batch norms stay in
eval mode (they hold folded statistics); their affine parameters still train.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HeadConfig", "BoxMaskNet", "IMAGENET_MEAN", "IMAGENET_STD", "normalise"]

#: torchvision's input normalisation (RGB in [0, 1]).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Indices of ``features`` whose outputs feed the decoder: strides 2, 4, 8, 16, 16.
_TAPS: tuple[int, ...] = (1, 3, 6, 13, 17)
_TAP_CHANNELS: tuple[int, ...] = (16, 24, 32, 96, 320)


@dataclass(frozen=True)
class HeadConfig:
    """Shape of the head's input.

    ``crop_size``: side of the square the crop is resized to (a multiple of 16);
    ``margin``: context added to each side of the box, as a share of the box's width/height.
    """

    crop_size: int = 192
    margin: float = 0.25

    def __post_init__(self) -> None:
        if self.crop_size % 16 or self.crop_size < 32:
            raise ValueError(f"crop_size must be a multiple of 16 and >= 32, got {self.crop_size}")
        if not 0.0 <= self.margin <= 2.0:
            raise ValueError(f"margin must be in [0, 2], got {self.margin}")


def _mobilenet_trunk() -> nn.Sequential:
    """``mobilenet_v2().features[0:18]`` with output stride 16 (torchvision parameter names)."""
    from torchvision.models import mobilenet_v2

    features = mobilenet_v2(weights=None).features[:18]
    block14_depthwise = features[14].conv[1][0]
    block14_depthwise.stride = (1, 1)
    for index in (15, 16, 17):
        depthwise = features[index].conv[1][0]
        depthwise.dilation = (2, 2)
        depthwise.padding = (2, 2)
    return features


class _ConvBlock(nn.Sequential):
    """3x3 convolution, GroupNorm (8 groups), ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.GroupNorm(8, out_channels), nn.ReLU(inplace=True))


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class BoxMaskNet(nn.Module):
    """Crop + box prior -> mask logits.

    ``forward(image, prior)``: ``image`` N x 3 x S x S float (normalised RGB, see
    :data:`IMAGENET_MEAN`), ``prior`` N x 1 x S x S float in {0, 1}; returns N x 1 x S x S
    logits (object where > 0). ``S`` is a multiple of 16.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trunk = _mobilenet_trunk()
        # The box prior joins the trunk after its stem (stride 2, 32 channels), starting at zero
        # so that a pretrained trunk sees its usual input at first.
        self.prior_in = nn.Conv2d(1, 32, 3, stride=2, padding=1)
        nn.init.zeros_(self.prior_in.weight)
        nn.init.zeros_(self.prior_in.bias)
        c2, c4, c8, c16a, c16b = _TAP_CHANNELS
        self.top = nn.Sequential(nn.Conv2d(c16a + c16b, 128, 1, bias=False), nn.GroupNorm(8, 128),
                                 nn.ReLU(inplace=True))
        self.up8 = nn.Sequential(_ConvBlock(128 + c8 + 1, 64), _ConvBlock(64, 64))
        self.up4 = nn.Sequential(_ConvBlock(64 + c4 + 1, 48), _ConvBlock(48, 48))
        self.up2 = nn.Sequential(_ConvBlock(48 + c2 + 1, 32), _ConvBlock(32, 32))
        self.logit = nn.Conv2d(32, 1, 1)

    def train(self, mode: bool = True) -> BoxMaskNet:
        """Train mode for the decoder; the trunk's batch norms always stay in eval mode."""
        super().train(mode)
        for module in self.trunk.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.eval()
        return self

    def _trunk_features(self, image: torch.Tensor, prior: torch.Tensor) -> list[torch.Tensor]:
        """The tapped trunk outputs at strides 2, 4, 8, 16, 16 (see ``_TAP_CHANNELS``)."""
        x = self.trunk[0](image) + self.prior_in(prior)
        taps: list[torch.Tensor] = []
        for index in range(1, len(self.trunk)):
            x = self.trunk[index](x)
            if index in _TAPS:
                taps.append(x)
        return taps

    def forward(self, image: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
        """N x 3 x S x S image, N x 1 x S x S prior -> N x 1 x S x S logits."""
        s2, s4, s8, s16a, s16b = self._trunk_features(image, prior)
        x = self.top(torch.cat([s16a, s16b], dim=1))
        for block, skip in ((self.up8, s8), (self.up4, s4), (self.up2, s2)):
            small_prior = F.adaptive_avg_pool2d(prior, skip.shape[-2:])
            x = block(torch.cat([_resize(x, skip), skip, small_prior], dim=1))
        return F.interpolate(self.logit(x), size=image.shape[-2:], mode="bilinear",
                             align_corners=False)

    def load_trunk(self, state_dict: dict[str, torch.Tensor]) -> list[str]:
        """Load torchvision-format ``features.0`` - ``features.17`` weights into the trunk.

        Other keys (``features.18``, a classifier) are ignored. Returns the trunk parameters the
        state dict did not hold (empty for a complete MobileNetV2).
        """
        prefix = "features."
        wanted = {key[len(prefix):]: value for key, value in state_dict.items()
                  if key.startswith(prefix) and int(key[len(prefix):].split(".")[0]) < 18}
        result = self.trunk.load_state_dict(wanted, strict=False)
        if result.unexpected_keys:
            raise ValueError(f"unexpected trunk keys: {result.unexpected_keys[:5]}")
        return list(result.missing_keys)


def normalise(crops: torch.Tensor) -> torch.Tensor:
    """N x S x S x 3 uint8 RGB crops -> N x 3 x S x S float32, normalised as the trunk expects."""
    x = crops.permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
