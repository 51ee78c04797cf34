"""ResNet-50/101 and ResNeSt-101 encoders truncated after ``layer3`` (output stride 16).

Following the original AOT code, the fourth stage is dropped: the encoders return the outputs of
``layer1`` (stride 4), ``layer2`` (stride 8) and ``layer3`` (stride 16, twice).  No dilation is
involved: with the fourth stage gone, output stride 16 needs none.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from aotvideo.models.encoders.normalization import NormFactory

RESNET_LAYERS: dict[str, tuple[int, int, int]] = {
    "resnet50": (3, 4, 6),
    "resnet101": (3, 4, 23),
}
RESNEST_LAYERS: dict[str, tuple[int, int, int]] = {
    "resnest101": (3, 4, 23),
}


class ResNetEncoder(nn.Module):
    """ResNet (v1.5: stride on the 3x3 convolution) stem plus ``layer1..layer3``.

    Parameter names are torchvision's (``conv1, bn1, layer<i>.<j>.conv<k>, ...downsample.0/1``).
    """

    CHANNELS: tuple[int, ...] = (256, 512, 1024, 1024)

    def __init__(self, blocks_per_layer: Sequence[int], norm_layer: NormFactory) -> None:
        """Build the stem and three bottleneck stages with the given block counts."""
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = norm_layer(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = 64
        layers: list[nn.Sequential] = []
        for planes, count, stride in zip((64, 128, 256), blocks_per_layer, (1, 2, 2)):
            layers.append(_bottleneck_layer(in_channels, planes, count, stride, norm_layer))
            in_channels = planes * Bottleneck.expansion
        self.layer1, self.layer2, self.layer3 = layers
        _initialise_convolutions(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N x 3 x H x W -> [N x 256 x H/4 x W/4, N x 512 x H/8, N x 1024 x H/16, same again]."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        stride4 = self.layer1(x)
        stride8 = self.layer2(stride4)
        stride16 = self.layer3(stride8)
        return [stride4, stride8, stride16, stride16]

    def stage_modules(self) -> list[nn.Module]:
        """The modules frozen by ``freeze_at`` 1 (stem), 2, 3, 4 (layers)."""
        return [nn.ModuleList([self.conv1, self.bn1]), self.layer1, self.layer2, self.layer3]


def _bottleneck_layer(
    in_channels: int, planes: int, count: int, stride: int, norm_layer: NormFactory
) -> nn.Sequential:
    """One ResNet stage of ``count`` torchvision bottlenecks; the first one downsamples."""
    out_channels = planes * Bottleneck.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
            norm_layer(out_channels),
        )
    blocks = [Bottleneck(in_channels, planes, stride, downsample, norm_layer=norm_layer)]
    blocks += [Bottleneck(out_channels, planes, norm_layer=norm_layer) for _ in range(1, count)]
    return nn.Sequential(*blocks)


class SplitAttentionConv2d(nn.Module):
    """ResNeSt split-attention 3x3 convolution (radix ``R``, cardinality ``K``).

    ``conv`` produces ``R`` splits of ``channels`` each (grouped ``K * R`` ways), followed by
    ``bn0`` and ReLU.  The splits are summed, globally average-pooled, passed through
    ``fc1 -> bn1 -> ReLU -> fc2`` (1x1 convolutions with bias, grouped ``K`` ways), and turned into
    per-split weights by a softmax over the radix (sigmoid when ``R == 1``); the output is the
    weighted sum of the splits.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int,
        norm_layer: NormFactory,
        radix: int = 2,
        cardinality: int = 1,
        reduction_factor: int = 4,
        dilation: int = 1,
    ) -> None:
        """Build the convolutions; the attention has ``max(in * R / reduction, 32)`` channels."""
        super().__init__()
        inter_channels = max(in_channels * radix // reduction_factor, 32)
        self.radix = radix
        self.cardinality = cardinality
        self.conv = nn.Conv2d(
            in_channels,
            channels * radix,
            kernel_size=3,
            stride=stride,
            padding=dilation,
            dilation=dilation,
            groups=cardinality * radix,
            bias=False,
        )
        self.bn0 = norm_layer(channels * radix)
        self.relu = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(channels, inter_channels, 1, groups=cardinality)
        self.bn1 = norm_layer(inter_channels)
        self.fc2 = nn.Conv2d(inter_channels, channels * radix, 1, groups=cardinality)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C_in x H x W -> N x channels x H' x W'."""
        x = self.relu(self.bn0(self.conv(x)))
        batch, radix_channels = x.shape[:2]
        if self.radix > 1:
            splits = torch.split(x, radix_channels // self.radix, dim=1)
            pooled = splits[0]
            for split in splits[1:]:
                pooled = pooled + split
        else:
            splits = (x,)
            pooled = x
        pooled = F.adaptive_avg_pool2d(pooled, 1)
        pooled = self.relu(self.bn1(self.fc1(pooled)))
        attention = self._radix_softmax(self.fc2(pooled)).view(batch, -1, 1, 1)
        if self.radix > 1:
            weights = torch.split(attention, radix_channels // self.radix, dim=1)
            out = weights[0] * splits[0]
            for weight, split in zip(weights[1:], splits[1:]):
                out = out + weight * split
        else:
            out = attention * x
        return out.contiguous()

    def _radix_softmax(self, logits: torch.Tensor) -> torch.Tensor:
        """N x (R * C) x 1 x 1 logits -> N x (R * C) weights, softmax across the radix."""
        batch = logits.size(0)
        if self.radix > 1:
            grouped = logits.view(batch, self.cardinality, self.radix, -1).transpose(1, 2)
            return F.softmax(grouped, dim=1).reshape(batch, -1)
        return torch.sigmoid(logits)


class ResNeStBottleneck(nn.Module):
    """ResNeSt bottleneck: 1x1 conv, split-attention 3x3 conv, [3x3 average pool], 1x1 conv.

    With ``avd`` (first block of a strided stage) the stride moves from the 3x3 convolution to an
    ``AvgPool2d(3, stride, padding=1)`` applied after it (padding counted in the average).
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int,
        downsample: nn.Module | None,
        norm_layer: NormFactory,
        radix: int,
        cardinality: int,
        bottleneck_width: int,
        avd: bool,
    ) -> None:
        """Build the block."""
        super().__init__()
        group_width = int(planes * (bottleneck_width / 64.0)) * cardinality
        self.conv1 = nn.Conv2d(in_channels, group_width, kernel_size=1, bias=False)
        self.bn1 = norm_layer(group_width)
        self.avd_layer: nn.Module | None = None
        if avd:
            self.avd_layer = nn.AvgPool2d(3, stride, padding=1)
            stride = 1
        self.conv2 = SplitAttentionConv2d(
            group_width, group_width, stride, norm_layer, radix=radix, cardinality=cardinality
        )
        self.conv3 = nn.Conv2d(group_width, planes * self.expansion, kernel_size=1, bias=False)
        self.bn3 = norm_layer(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C_in x H x W -> N x 4*planes x H' x W'."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.conv2(out)
        if self.avd_layer is not None:
            out = self.avd_layer(out)
        out = self.bn3(self.conv3(out))
        residual = x if self.downsample is None else self.downsample(x)
        out += residual
        return self.relu(out)


class ResNeStEncoder(nn.Module):
    """ResNeSt (radix 2, cardinality 1, width 64, deep stem, average-pool downsampling).

    The stem is three 3x3 convolutions (``conv1.0, conv1.3, conv1.6``; widths ``w, w, 2w``)
    followed by ``bn1``, ReLU and a 3x3/2 max pool.  Downsampling shortcuts are
    ``AvgPool2d -> 1x1 conv -> norm`` (``downsample.0/1/2``); the pool has kernel and stride equal
    to the stage stride (``ceil_mode``, padding not counted), which is a 1x1 identity pool in
    ``layer1``.  Layer 3 uses stride 2 without dilation (the original's ``dilation=2`` setting).
    """

    CHANNELS: tuple[int, ...] = (256, 512, 1024, 1024)

    def __init__(
        self,
        blocks_per_layer: Sequence[int],
        norm_layer: NormFactory,
        radix: int = 2,
        cardinality: int = 1,
        bottleneck_width: int = 64,
        stem_width: int = 64,
    ) -> None:
        """Build the deep stem and three stages."""
        super().__init__()
        self.radix = radix
        self.cardinality = cardinality
        self.bottleneck_width = bottleneck_width
        self.conv1 = nn.Sequential(
            nn.Conv2d(3, stem_width, kernel_size=3, stride=2, padding=1, bias=False),
            norm_layer(stem_width),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_width, stem_width, kernel_size=3, stride=1, padding=1, bias=False),
            norm_layer(stem_width),
            nn.ReLU(inplace=True),
            nn.Conv2d(stem_width, stem_width * 2, kernel_size=3, stride=1, padding=1, bias=False),
        )
        self.bn1 = norm_layer(stem_width * 2)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = stem_width * 2
        layers: list[nn.Sequential] = []
        for planes, count, stride, is_first in zip(
            (64, 128, 256), blocks_per_layer, (1, 2, 2), (False, True, True)
        ):
            layers.append(
                self._make_layer(in_channels, planes, count, stride, is_first, norm_layer)
            )
            in_channels = planes * ResNeStBottleneck.expansion
        self.layer1, self.layer2, self.layer3 = layers
        _initialise_convolutions(self)

    def _make_layer(
        self,
        in_channels: int,
        planes: int,
        count: int,
        stride: int,
        is_first: bool,
        norm_layer: NormFactory,
    ) -> nn.Sequential:
        """One stage; the first block gets the shortcut and (if strided or first) the avd pool."""
        out_channels = planes * ResNeStBottleneck.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.AvgPool2d(
                    kernel_size=stride, stride=stride, ceil_mode=True, count_include_pad=False
                ),
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, bias=False),
                norm_layer(out_channels),
            )
        blocks = [
            ResNeStBottleneck(
                in_channels,
                planes,
                stride,
                downsample,
                norm_layer,
                self.radix,
                self.cardinality,
                self.bottleneck_width,
                avd=stride > 1 or is_first,
            )
        ]
        for _ in range(1, count):
            blocks.append(
                ResNeStBottleneck(
                    out_channels,
                    planes,
                    1,
                    None,
                    norm_layer,
                    self.radix,
                    self.cardinality,
                    self.bottleneck_width,
                    avd=False,
                )
            )
        return nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N x 3 x H x W -> [N x 256 x H/4 x W/4, N x 512 x H/8, N x 1024 x H/16, same again]."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        stride4 = self.layer1(x)
        stride8 = self.layer2(stride4)
        stride16 = self.layer3(stride8)
        return [stride4, stride8, stride16, stride16]

    def stage_modules(self) -> list[nn.Module]:
        """The modules frozen by ``freeze_at`` 1 (stem), 2, 3, 4 (layers)."""
        return [nn.ModuleList([self.conv1, self.bn1]), self.layer1, self.layer2, self.layer3]


def _initialise_convolutions(module: nn.Module) -> None:
    """He-normal (fan-out) convolution weights, as in the original."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
