"""MobileNetV2 and MobileNetV3-Large encoders with output stride 16 (dilated last stage).

Parameter names follow the original AOT code (``features.<i>...`` with torchvision-style
``conv`` sub-sequences), so that model-zoo checkpoints load unchanged.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from aotvideo.models.encoders.normalization import NormFactory

OUTPUT_STRIDE = 16


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to the nearest multiple of ``divisor``, losing at most 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class HardSigmoid(nn.Module):
    """``relu6(x + 3) / 6``, computed in this order (same rounding as the original)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply elementwise; any shape."""
        return F.relu6(x + 3.0) / 6.0


class HardSwish(nn.Module):
    """``x * (relu6(x + 3) / 6)``, computed in this order (same rounding as the original)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply elementwise; any shape."""
        return x * (F.relu6(x + 3.0) / 6.0)


class ConvNormActivation(nn.Sequential):
    """``Conv2d`` (no bias, padding ``(k - 1) // 2 * dilation``), normalisation, activation.

    Children are named ``0`` (convolution), ``1`` (normalisation), ``2`` (activation).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        norm_layer: NormFactory,
        activation: nn.Module,
        groups: int = 1,
        dilation: int = 1,
    ) -> None:
        """Build the three layers."""
        super().__init__(
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride,
                padding=(kernel_size - 1) // 2 * dilation,
                dilation=dilation,
                groups=groups,
                bias=False,
            ),
            norm_layer(out_channels),
            activation,
        )


class InvertedResidualV2(nn.Module):
    """MobileNetV2 block: [1x1 expand] -> 3x3 depthwise (dilated) -> 1x1 linear projection.

    ``conv`` holds ``[ConvNormActivation expand,] ConvNormActivation depthwise, Conv2d, norm``;
    a residual connection is added when stride is 1 and the channel count is unchanged.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        dilation: int,
        expand_ratio: int,
        norm_layer: NormFactory,
    ) -> None:
        """Build the block; ``stride`` in {1, 2}."""
        super().__init__()
        hidden_channels = int(round(in_channels * expand_ratio))
        self.use_residual = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(
                ConvNormActivation(
                    in_channels, hidden_channels, 1, 1, norm_layer, nn.ReLU6(inplace=True)
                )
            )
        layers += [
            ConvNormActivation(
                hidden_channels,
                hidden_channels,
                3,
                stride,
                norm_layer,
                nn.ReLU6(inplace=True),
                groups=hidden_channels,
                dilation=dilation,
            ),
            nn.Conv2d(hidden_channels, out_channels, 1, 1, 0, bias=False),
            norm_layer(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C_in x H x W -> N x C_out x H' x W'."""
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2Encoder(nn.Module):
    """MobileNetV2 (width 1.0) feature extractor with output stride 16.

    Once the stride reaches 16, later stride-2 stages keep stride 1 and dilate following blocks
    instead (the first block of such a stage keeps the previous rate).

    Output: features of ``features[0:4]`` (24 channels, stride 4), ``[4:7]`` (32, stride 8),
    ``[7:14]`` (96, stride 16) and ``[14:19]`` (1280, stride 16).
    """

    #: ``(expand ratio t, channels c, repeats n, stride s)`` of the inverted residual stages.
    SETTINGS: tuple[tuple[int, int, int, int], ...] = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )
    STAGE_ENDS: tuple[int, ...] = (4, 7, 14, 19)
    CHANNELS: tuple[int, ...] = (24, 32, 96, 1280)

    def __init__(self, norm_layer: NormFactory, output_stride: int = OUTPUT_STRIDE) -> None:
        """Build the network; ``norm_layer`` is frozen or trainable batch norm."""
        super().__init__()
        in_channels = make_divisible(32)
        last_channels = make_divisible(1280)
        features: list[nn.Module] = [
            ConvNormActivation(3, in_channels, 3, 2, norm_layer, nn.ReLU6(inplace=True))
        ]
        current_stride = 2
        rate = 1
        for expand_ratio, channels, repeats, stage_stride in self.SETTINGS:
            if current_stride == output_stride:
                stride, first_dilation = 1, rate
                rate *= stage_stride
            else:
                stride, first_dilation = stage_stride, 1
                current_stride *= stage_stride
            out_channels = make_divisible(channels)
            for index in range(repeats):
                features.append(
                    InvertedResidualV2(
                        in_channels,
                        out_channels,
                        stride if index == 0 else 1,
                        first_dilation if index == 0 else rate,
                        expand_ratio,
                        norm_layer,
                    )
                )
                in_channels = out_channels
        features.append(
            ConvNormActivation(in_channels, last_channels, 1, 1, norm_layer, nn.ReLU6(inplace=True))
        )
        self.features = nn.Sequential(*features)
        _initialise_convolutions(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N x 3 x H x W -> [N x 24 x H/4 x W/4, N x 32 x H/8, N x 96 x H/16, N x 1280 x H/16]."""
        return _run_stages(self.features, self.STAGE_ENDS, x)

    def stage_modules(self) -> list[nn.Module]:
        """The modules frozen by ``freeze_at`` 1 (stem convolution), 2, 3, ... (stages)."""
        return [self.features[0], *_stage_slices(self.features, self.STAGE_ENDS)]


class SqueezeExcitation(nn.Module):
    """Channel attention: global average pool, ``Linear -> ReLU -> Linear -> HardSigmoid``."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        """Build the two linear layers (``fc.0`` and ``fc.2``)."""
        super().__init__()
        squeezed = make_divisible(channels // reduction, 8)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channels, squeezed),
            nn.ReLU(inplace=True),
            nn.Linear(squeezed, channels),
            HardSigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reweight the channels of N x C x H x W; returns the same shape."""
        batch, channels = x.shape[:2]
        weights = self.avg_pool(x).view(batch, channels)
        weights = self.fc(weights).view(batch, channels, 1, 1)
        return x * weights


class InvertedResidualV3(nn.Module):
    """MobileNetV3 block, laid out like the original (``conv.<i>``).

    Without expansion: depthwise conv, norm, activation, SE (or identity), 1x1 conv, norm.
    With expansion: 1x1 conv, norm, activation, depthwise conv, norm, SE (or identity),
    activation, 1x1 conv, norm -- note that here the squeeze-excitation comes *before* the
    activation, unlike torchvision's MobileNetV3.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        use_se: bool,
        use_hard_swish: bool,
        dilation: int,
        norm_layer: NormFactory,
    ) -> None:
        """Build the block; ``stride`` in {1, 2}."""
        super().__init__()
        self.use_residual = stride == 1 and in_channels == out_channels
        self.has_expansion = in_channels != hidden_channels
        self.has_squeeze_excitation = use_se

        def activation() -> nn.Module:
            return HardSwish() if use_hard_swish else nn.ReLU(inplace=True)

        depthwise = nn.Conv2d(
            hidden_channels,
            hidden_channels,
            kernel_size,
            stride,
            (kernel_size - 1) // 2 * dilation,
            dilation=dilation,
            groups=hidden_channels,
            bias=False,
        )
        squeeze: nn.Module = SqueezeExcitation(hidden_channels) if use_se else nn.Identity()
        project = nn.Conv2d(hidden_channels, out_channels, 1, 1, 0, bias=False)
        if self.has_expansion:
            self.conv = nn.Sequential(
                nn.Conv2d(in_channels, hidden_channels, 1, 1, 0, bias=False),
                norm_layer(hidden_channels),
                activation(),
                depthwise,
                norm_layer(hidden_channels),
                squeeze,
                activation(),
                project,
                norm_layer(out_channels),
            )
        else:
            self.conv = nn.Sequential(
                depthwise,
                norm_layer(hidden_channels),
                activation(),
                squeeze,
                project,
                norm_layer(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """N x C_in x H x W -> N x C_out x H' x W'."""
        if self.use_residual:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV3LargeEncoder(nn.Module):
    """MobileNetV3-Large (width 1.0) feature extractor with output stride 16.

    Output: ``features[0:4]`` (24 channels, stride 4), ``[4:7]`` (40, stride 8), ``[7:13]``
    (112, stride 16), and ``features[13:16]`` (160 channels, dilated, stride 16) followed by
    the 1x1 ``conv`` to 960 channels.
    """

    #: ``(kernel, expansion t, channels, squeeze-excitation, hard-swish, stride)`` per block.
    SETTINGS: tuple[tuple[int, float, int, bool, bool, int], ...] = (
        (3, 1, 16, False, False, 1),
        (3, 4, 24, False, False, 2),
        (3, 3, 24, False, False, 1),
        (5, 3, 40, True, False, 2),
        (5, 3, 40, True, False, 1),
        (5, 3, 40, True, False, 1),
        (3, 6, 80, False, True, 2),
        (3, 2.5, 80, False, True, 1),
        (3, 2.3, 80, False, True, 1),
        (3, 2.3, 80, False, True, 1),
        (3, 6, 112, True, True, 1),
        (3, 6, 112, True, True, 1),
        (5, 6, 160, True, True, 2),
        (5, 6, 160, True, True, 1),
        (5, 6, 160, True, True, 1),
    )
    STAGE_ENDS: tuple[int, ...] = (4, 7, 13, 16)
    CHANNELS: tuple[int, ...] = (24, 40, 112, 960)

    def __init__(self, norm_layer: NormFactory, output_stride: int = OUTPUT_STRIDE) -> None:
        """Build the network; ``norm_layer`` is frozen or trainable batch norm."""
        super().__init__()
        in_channels = make_divisible(16)
        layers: list[nn.Module] = [
            ConvNormActivation(3, in_channels, 3, 2, norm_layer, HardSwish())
        ]
        current_stride = 2
        rate = 1
        hidden_channels = in_channels
        for kernel, expansion, channels, use_se, use_hard_swish, stride in self.SETTINGS:
            if current_stride == output_stride:
                dilation = rate
                rate *= stride
                stride = 1
            else:
                dilation = 1
                current_stride *= stride
            out_channels = make_divisible(channels)
            hidden_channels = make_divisible(in_channels * expansion)
            layers.append(
                InvertedResidualV3(
                    in_channels,
                    hidden_channels,
                    out_channels,
                    kernel,
                    stride,
                    use_se,
                    use_hard_swish,
                    dilation,
                    norm_layer,
                )
            )
            in_channels = out_channels
        self.features = nn.Sequential(*layers)
        self.conv = ConvNormActivation(in_channels, hidden_channels, 1, 1, norm_layer, HardSwish())
        _initialise_convolutions(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """N x 3 x H x W -> [N x 24 x H/4 x W/4, N x 40 x H/8, N x 112 x H/16, N x 960 x H/16]."""
        outputs = _run_stages(self.features, self.STAGE_ENDS, x)
        outputs[-1] = self.conv(outputs[-1])
        return outputs

    def stage_modules(self) -> list[nn.Module]:
        """The modules frozen by ``freeze_at`` 1 (stem convolution), 2, 3, ... (stages)."""
        return [self.features[0], *_stage_slices(self.features, self.STAGE_ENDS)]


def _stage_slices(features: nn.Sequential, stage_ends: Sequence[int]) -> list[nn.Module]:
    """Split ``features`` into consecutive stages ending (exclusive) at ``stage_ends``."""
    starts = (0, *stage_ends[:-1])
    return [features[start:end] for start, end in zip(starts, stage_ends)]


def _run_stages(
    features: nn.Sequential, stage_ends: Sequence[int], x: torch.Tensor
) -> list[torch.Tensor]:
    """Run ``features`` in order and collect the output after each stage end."""
    outputs: list[torch.Tensor] = []
    start = 0
    for end in stage_ends:
        for index in range(start, end):
            x = features[index](x)
        outputs.append(x)
        start = end
    return outputs


def _initialise_convolutions(module: nn.Module) -> None:
    """He-normal (fan-out) convolutions, small normal linear layers, zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, mode="fan_out")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, 0.01)
            nn.init.zeros_(layer.bias)
