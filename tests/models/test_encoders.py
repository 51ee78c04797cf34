"""Tests of the image encoders: checkpoint layout, output geometry, arithmetic, ImageNet loading."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models.swin_transformer import ShiftedWindowAttention

from aotvideo.errors import WeightsError
from aotvideo.models.encoders import (
    ENCODER_DIMS,
    ENCODER_NAMES,
    ENCODER_STRIDES,
    FrozenBatchNorm2d,
    build_encoder,
    load_imagenet_weights,
)

REFERENCE_DIR = Path(__file__).parents[2].parent / "shared" / "reference"
LAYOUTS_PATH = REFERENCE_DIR / "layouts.json"
VARIANTS = (
    "aott aots aotb aotl r50_aotl r101_aotl rs101_aotl swinb_aotl "
    "deaott deaots deaotb deaotl r50_deaotl swinb_deaotl"
).split()
CONV_INPUT_SIZE = (65, 97)
SWIN_INPUT_SIZE = (64, 96)


@pytest.fixture(scope="module")
def layouts() -> dict[str, Any]:
    """The reference state-dict layouts of the 14 model variants."""
    if not LAYOUTS_PATH.is_file():
        pytest.skip(f"reference layouts not found at {LAYOUTS_PATH}")
    with LAYOUTS_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def encoders() -> Callable[[str], nn.Module]:
    """Build each encoder (frozen batch norm, eval mode) once per module."""
    built: dict[str, nn.Module] = {}

    def get(name: str) -> nn.Module:
        if name not in built:
            encoder = build_encoder(name).eval()
            _randomise_buffers(encoder)
            built[name] = encoder
        return built[name]

    return get


def _input(name: str, batch: int = 1, seed: int = 0) -> torch.Tensor:
    height, width = SWIN_INPUT_SIZE if name == "swin_base" else CONV_INPUT_SIZE
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, height, width, generator=generator)


def _randomise_buffers(module: nn.Module, seed: int = 0) -> None:
    """Give frozen batch norms non-trivial statistics so that they matter."""
    generator = torch.Generator().manual_seed(seed)
    for layer in module.modules():
        if isinstance(layer, FrozenBatchNorm2d):
            size = layer.weight.shape
            layer.weight.copy_(1 + 0.1 * torch.randn(size, generator=generator))
            layer.bias.copy_(0.02 * torch.randn(size, generator=generator))
            layer.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
            layer.running_var.copy_(1 + 0.25 * torch.rand(size, generator=generator))


# --------------------------------------------------------------------------- layout


@pytest.mark.parametrize("variant", VARIANTS)
def test_state_dict_layout_matches_reference(
    variant: str, layouts: dict[str, Any], encoders: Callable[[str], nn.Module]
) -> None:
    entry = layouts[variant]
    name = entry["config"]["MODEL_ENCODER"]
    expected = [
        (key[len("encoder.") :], list(shape), dtype)
        for key, shape, dtype in entry["params"]
        if key.startswith("encoder.")
    ]
    actual = [
        (key, list(tensor.shape), str(tensor.dtype).removeprefix("torch."))
        for key, tensor in encoders(name).state_dict().items()
    ]
    assert actual == expected
    assert tuple(entry["config"]["MODEL_ENCODER_DIM"]) == ENCODER_DIMS[name]


def test_frozen_batch_norm_has_no_counter(encoders: Callable[[str], nn.Module]) -> None:
    keys = list(encoders("mobilenetv3").state_dict())
    assert not any(key.endswith("num_batches_tracked") for key in keys)
    assert "features.0.1.running_var" in keys


def test_swin_relative_position_index_values(encoders: Callable[[str], nn.Module]) -> None:
    reference = ShiftedWindowAttention(128, [7, 7], [0, 0], 4).relative_position_index.view(49, 49)
    state = encoders("swin_base").state_dict()
    indices = [key for key in state if key.endswith("relative_position_index")]
    assert len(indices) == 22
    for key in indices:
        assert state[key].dtype == torch.int64
        assert torch.equal(state[key], reference)
    index = state[indices[0]]
    # token 0 = (0, 0), token 48 = (6, 6): offsets (-6, -6) -> 0 and (6, 6) -> 168
    assert index[0, 48].item() == 0 and index[48, 0].item() == 168 and index[0, 0].item() == 84


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_output_channels_and_strides(name: str, encoders: Callable[[str], nn.Module]) -> None:
    x = _input(name)
    with torch.no_grad():
        outputs = encoders(name)(x)
    assert len(outputs) == 4
    for output, channels, stride in zip(outputs, ENCODER_DIMS[name], ENCODER_STRIDES):
        assert output.dtype == torch.float32
        assert tuple(output.shape) == (
            1,
            channels,
            math.ceil(x.shape[2] / stride),
            math.ceil(x.shape[3] / stride),
        )
        assert torch.isfinite(output).all()
    assert torch.equal(outputs[2], outputs[3]) == (name not in ("mobilenetv2", "mobilenetv3"))


@pytest.mark.parametrize("name", ENCODER_NAMES)
def test_bfloat16_autocast(name: str, encoders: Callable[[str], nn.Module]) -> None:
    encoder = encoders(name)
    x = _input(name)
    with torch.no_grad():
        reference = encoder(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            outputs = encoder(x)
    for output, expected in zip(outputs, reference):
        assert output.shape == expected.shape
        assert output.dtype in (torch.bfloat16, torch.float32)
        output = output.float()
        assert torch.isfinite(output).all()
        scale = expected.abs().max().item() + 1e-6
        assert (output - expected).abs().max().item() < 0.1 * scale


def test_batch_items_are_independent(encoders: Callable[[str], nn.Module]) -> None:
    encoder = encoders("swin_base")
    x = _input("swin_base", batch=2)
    with torch.no_grad():
        joint = encoder(x)
        single = encoder(x[1:])
    for both, one in zip(joint, single):
        torch.testing.assert_close(both[1:], one, atol=1e-5, rtol=1e-5)


def test_unknown_encoder() -> None:
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("vgg16")


# --------------------------------------------------------------------------- arithmetic


def test_frozen_batch_norm_arithmetic() -> None:
    generator = torch.Generator().manual_seed(1)
    channels = 5
    layer = FrozenBatchNorm2d(channels)
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    weight = 1 + 0.1 * torch.randn(channels, generator=generator)
    bias = 0.1 * torch.randn(channels, generator=generator)
    mean = torch.randn(channels, generator=generator)
    variance = 0.5 + torch.rand(channels, generator=generator)
    layer.load_state_dict(
        {"weight": weight, "bias": bias, "running_mean": mean, "running_var": variance}
    )
    x = torch.randn(2, channels, 3, 4, generator=generator)

    def as_column(values: torch.Tensor) -> torch.Tensor:
        return values.double().view(1, -1, 1, 1)

    expected = (x.double() - as_column(mean)) / torch.sqrt(as_column(variance) + 1e-5)
    expected = expected * as_column(weight) + as_column(bias)
    inference = layer(x)
    with_gradient = layer(x.clone().requires_grad_(True))
    assert with_gradient.requires_grad
    torch.testing.assert_close(inference.double(), expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(with_gradient.detach().double(), expected, atol=1e-6, rtol=1e-6)
    # the default state is (almost) the identity: running_var starts at 1 - eps
    torch.testing.assert_close(FrozenBatchNorm2d(channels)(x), x)


def test_resnet_matches_torchvision_in_eval_mode() -> None:
    """Our ResNet-50 with frozen BN = torchvision's ResNet-50 (eval BN) up to layer3."""
    torch.manual_seed(0)
    reference = torchvision.models.resnet50().eval()
    generator = torch.Generator().manual_seed(3)
    for layer in reference.modules():
        if isinstance(layer, nn.BatchNorm2d):
            size = layer.num_features
            layer.running_mean.copy_(0.1 * torch.randn(size, generator=generator))
            layer.running_var.copy_(1 + 0.25 * torch.rand(size, generator=generator))
            layer.weight.data.copy_(1 + 0.1 * torch.randn(size, generator=generator))
            layer.bias.data.copy_(0.02 * torch.randn(size, generator=generator))
    encoder = build_encoder("resnet50").eval()
    load_imagenet_weights(encoder, "resnet50", reference.state_dict())
    x = _input("resnet50")
    with torch.no_grad():
        features = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
        stride4 = reference.layer1(features)
        stride8 = reference.layer2(stride4)
        stride16 = reference.layer3(stride8)
        outputs = encoder(x)
    for ours, theirs in zip(outputs, (stride4, stride8, stride16, stride16)):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- ImageNet weights


def test_imagenet_mobilenet_v2_from_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v2().eval()
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(reference.state_dict(), path)
    encoder = build_encoder("mobilenetv2").eval()
    load_imagenet_weights(encoder, "mobilenetv2", path)
    state = encoder.state_dict()
    source = reference.state_dict()
    for key in ("features.0.0.weight", "features.7.conv.1.0.weight", "features.18.1.running_var"):
        assert torch.equal(state[key], source[key])
    x = _input("mobilenetv2")
    with torch.no_grad():  # the first three stages are not dilated: same as torchvision
        torch.testing.assert_close(encoder(x)[1], reference.features[:7](x), atol=1e-5, rtol=1e-5)


def test_imagenet_mobilenet_v3_large() -> None:
    torch.manual_seed(0)
    source = torchvision.models.mobilenet_v3_large().state_dict()
    encoder = build_encoder("mobilenetv3")
    load_imagenet_weights(encoder, "mobilenetv3", {"state_dict": source})
    state = encoder.state_dict()
    pairs = {
        "features.0.0.weight": "features.0.0.weight",
        "features.1.conv.0.weight": "features.1.block.0.0.weight",
        "features.1.conv.4.weight": "features.1.block.1.0.weight",
        "features.2.conv.3.weight": "features.2.block.1.0.weight",
        "features.2.conv.8.running_mean": "features.2.block.2.1.running_mean",
        "features.4.conv.5.fc.2.bias": "features.4.block.2.fc2.bias",
        "features.4.conv.7.weight": "features.4.block.3.0.weight",
        "features.15.conv.4.bias": "features.15.block.1.1.bias",
        "conv.0.weight": "features.16.0.weight",
    }
    for ours, theirs in pairs.items():
        assert torch.equal(state[ours], source[theirs]), ours
    se_weight = source["features.4.block.2.fc1.weight"]
    assert se_weight.shape[2:] == (1, 1)
    assert torch.equal(state["features.4.conv.5.fc.0.weight"], se_weight.flatten(1))
    # the encoder's own (original AOT) naming loads as well
    copy = build_encoder("mobilenetv3")
    load_imagenet_weights(copy, "mobilenetv3", encoder.state_dict())
    assert torch.equal(copy.state_dict()["conv.1.weight"], state["conv.1.weight"])


@pytest.mark.parametrize("name", ["resnet50", "resnet101"])
def test_imagenet_resnet(name: str) -> None:
    torch.manual_seed(0)
    source = getattr(torchvision.models, name)().state_dict()
    encoder = build_encoder(name)
    load_imagenet_weights(encoder, name, source)
    state = encoder.state_dict()
    for key in ("conv1.weight", "layer1.0.downsample.0.weight", "layer3.5.bn2.running_var"):
        assert torch.equal(state[key], source[key])


def test_imagenet_swin_b() -> None:
    torch.manual_seed(0)
    source = torchvision.models.swin_b().state_dict()
    encoder = build_encoder("swin_base")
    load_imagenet_weights(encoder, "swin_base", source)
    state = encoder.state_dict()
    pairs = {
        "patch_embed.proj.weight": "features.0.0.weight",
        "patch_embed.norm.bias": "features.0.2.bias",
        "layers.0.blocks.1.attn.relative_position_bias_table":
            "features.1.1.attn.relative_position_bias_table",
        "layers.1.blocks.0.mlp.fc2.weight": "features.3.0.mlp.3.weight",
        "layers.1.downsample.reduction.weight": "features.4.reduction.weight",
        "layers.2.blocks.17.attn.qkv.bias": "features.5.17.attn.qkv.bias",
    }
    for ours, theirs in pairs.items():
        assert torch.equal(state[ours], source[theirs]), ours
    assert torch.equal(state["norm2.weight"], torch.ones(512))  # no ImageNet counterpart


def test_imagenet_resnest_release_naming(encoders: Callable[[str], nn.Module]) -> None:
    own_state = encoders("resnest101").state_dict()
    source = {key: torch.randn_like(value) for key, value in own_state.items()}
    source["layer4.0.conv1.weight"] = torch.zeros(512, 1024, 1, 1)
    source["fc.weight"] = torch.zeros(1000, 2048)
    source["fc.bias"] = torch.zeros(1000)
    encoder = build_encoder("resnest101")
    wrapped = {f"module.{key}": value for key, value in source.items()}
    load_imagenet_weights(encoder, "resnest101", wrapped)
    state = encoder.state_dict()
    for key in ("conv1.6.weight", "layer2.0.conv2.fc1.bias", "layer3.22.bn3.running_mean"):
        assert torch.equal(state[key], source[key])


def test_imagenet_errors_list_mismatches(tmp_path: Path) -> None:
    torch.manual_seed(0)
    source = torchvision.models.mobilenet_v2().state_dict()
    del source["features.3.conv.1.0.weight"]
    source["features.5.conv.2.weight"] = torch.zeros(7, 7, 1, 1)
    source["extra.weight"] = torch.zeros(3)
    encoder = build_encoder("mobilenetv2")
    before = encoder.state_dict()["features.0.0.weight"].clone()
    with pytest.raises(WeightsError) as caught:
        load_imagenet_weights(encoder, "mobilenetv2", source)
    message = str(caught.value)
    assert "features.3.conv.1.0.weight" in message
    assert "features.5.conv.2.weight" in message
    assert "extra.weight" in message
    assert torch.equal(encoder.state_dict()["features.0.0.weight"], before)  # nothing loaded

    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError):
        load_imagenet_weights(encoder, "mobilenetv2", broken)
    with pytest.raises(WeightsError):
        load_imagenet_weights(encoder, "mobilenetv2", tmp_path / "missing.pth")


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("frozen_bn", [False, True])
def test_mobilenet_v3_trains(frozen_bn: bool) -> None:
    torch.manual_seed(0)
    encoder = build_encoder("mobilenetv3", frozen_bn=frozen_bn).train()
    outputs = encoder(torch.randn(2, 3, 48, 64))
    loss = sum(output.square().mean() for output in outputs)
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    parameters = dict(encoder.named_parameters())
    assert parameters, "the encoder has trainable parameters"
    for key, parameter in parameters.items():
        assert parameter.grad is not None, key
        assert torch.isfinite(parameter.grad).all(), key
    assert parameters["features.0.0.weight"].grad.abs().sum() > 0
    assert parameters["conv.0.weight"].grad.abs().sum() > 0
    if not frozen_bn:
        assert "features.0.1.num_batches_tracked" in encoder.state_dict()


def test_freeze_at() -> None:
    encoder = build_encoder("resnet50", freeze_at=2)
    assert not encoder.conv1.weight.requires_grad
    assert not any(parameter.requires_grad for parameter in encoder.layer1.parameters())
    assert all(parameter.requires_grad for parameter in encoder.layer2.parameters())
    mobile = build_encoder("mobilenetv2", freeze_at=1)
    assert not mobile.features[0][0].weight.requires_grad
    assert mobile.features[1].conv[0][0].weight.requires_grad
