"""Loading ImageNet-pretrained weights into the encoders.

Accepted formats (the state dict itself, or a file holding it, optionally wrapped under
``state_dict`` / ``model`` and with ``module.`` prefixes):

* torchvision's ``mobilenet_v2``, ``mobilenet_v3_large``, ``resnet50``, ``resnet101`` and
  ``swin_b`` state dicts (classifier heads and the stages the encoders drop are ignored);
* the encoders' own naming, which is also that of the original releases: ResNeSt
  (``resnest101``), Swin (``patch_embed``, ``layers.<s>`` ...) and the MobileNetV3 of the
  original AOT code.

The tensors are mapped by name; any missing, unexpected or mis-shaped tensor raises
:class:`aotvideo.errors.WeightsError` listing all of them.  Swin's output norms ``norm0..norm2``
have no ImageNet counterpart and keep their values when absent; ``relative_position_index``
buffers are architectural constants and never read from the source.
"""
from __future__ import annotations

import pickle
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from aotvideo.errors import WeightsError

_WRAPPER_KEYS = ("state_dict", "model")
_MAX_LISTED = 25
_READ_ERRORS = (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile)


@dataclass(frozen=True)
class _NameMapping:
    """How the names of one source format relate to an encoder's state-dict names."""

    source_name: Callable[[str], str | None]
    """Our name -> the source's name, or None when the source never holds it."""
    ignored: Callable[[str], bool]
    """Source names that are dropped silently (heads, stages the encoder does not have)."""
    optional: Callable[[str], bool]
    """Our names that may be absent from the source (then they keep their current values)."""


def load_imagenet_weights(
    encoder: nn.Module, name: str, source: str | Path | Mapping[str, Any]
) -> None:
    """Copy ImageNet-pretrained weights into ``encoder`` (built by ``build_encoder(name)``).

    Args:
        encoder: the encoder to fill, modified in place.
        name: its encoder name (``mobilenetv2``, ``mobilenetv3``, ``resnet50``, ``resnet101``,
            ``resnest101``, ``swin_base``).
        source: a path to a ``torch.save``'d state dict (read with ``weights_only=True``) or the
            state dict itself.

    Raises:
        WeightsError: the source cannot be read, or its tensors do not fit the encoder.
        ValueError: unknown encoder name.
    """
    source_state = _read_state_dict(source)
    mapping = _name_mapping(encoder, name, source_state)
    target_state = encoder.state_dict()

    converted: dict[str, torch.Tensor] = {}
    used_sources: set[str] = set()
    missing: list[str] = []
    mismatched: list[str] = []
    for our_name, target in target_state.items():
        source_name = mapping.source_name(our_name)
        if source_name is None:
            continue
        if source_name not in source_state:
            if not mapping.optional(our_name):
                missing.append(_describe(our_name, source_name))
            continue
        used_sources.add(source_name)
        tensor = source_state[source_name]
        if tensor.shape != target.shape:
            if _is_pointwise_conv_of(tensor, target):
                tensor = tensor.reshape(target.shape)
            else:
                mismatched.append(
                    f"{_describe(our_name, source_name)}: source {tuple(tensor.shape)}, "
                    f"expected {tuple(target.shape)}"
                )
                continue
        converted[our_name] = tensor
    unexpected = [
        key for key in source_state if key not in used_sources and not mapping.ignored(key)
    ]
    if missing or unexpected or mismatched:
        raise WeightsError(
            f"ImageNet weights do not fit encoder {name!r}:"
            + _listing("missing", missing)
            + _listing("unexpected", unexpected)
            + _listing("wrong shape", mismatched)
        )
    result = encoder.load_state_dict(converted, strict=False)
    if result.unexpected_keys:  # cannot happen: every key comes from the encoder itself
        raise WeightsError(f"unexpected keys {result.unexpected_keys}")


def _read_state_dict(source: str | Path | Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Read and unwrap a state dict: tensors only, ``module.`` prefixes removed."""
    if isinstance(source, Mapping):
        loaded: Any = source
    else:
        path = Path(source)
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except _READ_ERRORS as error:
            raise WeightsError(f"cannot read ImageNet weights {path}: {error}") from error
    for _ in range(len(_WRAPPER_KEYS)):
        if not isinstance(loaded, Mapping):
            break
        wrapper = next((key for key in _WRAPPER_KEYS if isinstance(loaded.get(key), Mapping)), None)
        if wrapper is None or any(isinstance(value, torch.Tensor) for value in loaded.values()):
            break
        loaded = loaded[wrapper]
    if not isinstance(loaded, Mapping):
        raise WeightsError(f"ImageNet weights must be a state dict, got {type(loaded).__name__}")
    state: dict[str, torch.Tensor] = {}
    for key, value in loaded.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"ImageNet weights entry {key!r} is not a tensor")
        state[key[len("module.") :] if key.startswith("module.") else key] = value
    return state


def _name_mapping(
    encoder: nn.Module, name: str, source_state: Mapping[str, torch.Tensor]
) -> _NameMapping:
    """Pick the name mapping for ``name`` and the format the source's names reveal."""
    if name == "mobilenetv2":
        return _identity_mapping(ignored_prefixes=("classifier.",))
    if name == "mobilenetv3":
        if any(".block." in key for key in source_state):
            return _torchvision_mobilenet_v3_mapping(encoder)
        return _identity_mapping(ignored_prefixes=("classifier.",))
    if name in ("resnet50", "resnet101", "resnest101"):
        return _identity_mapping(ignored_prefixes=("layer4.", "fc."))
    if name == "swin_base":
        if "features.0.0.weight" in source_state:
            return _torchvision_swin_mapping()
        return _native_swin_mapping()
    raise ValueError(f"unknown encoder {name!r}")


def _is_batch_norm_counter(key: str) -> bool:
    return key.endswith("num_batches_tracked")


def _identity_mapping(ignored_prefixes: tuple[str, ...]) -> _NameMapping:
    """Same names; batch-norm counters are optional on our side and ignorable on theirs."""
    return _NameMapping(
        source_name=lambda key: key,
        ignored=lambda key: key.startswith(ignored_prefixes) or _is_batch_norm_counter(key),
        optional=_is_batch_norm_counter,
    )


_SWIN_BLOCK = re.compile(r"^layers\.(\d+)\.blocks\.(\d+)\.(.+)$")
_SWIN_DOWNSAMPLE = re.compile(r"^layers\.(\d+)\.downsample\.(.+)$")
_SWIN_OUTPUT_NORM = re.compile(r"^norm\d+\.")


def _torchvision_swin_mapping() -> _NameMapping:
    """torchvision ``swin_b``: ``features.<2s+1>`` blocks, ``features.<2s+2>`` merging."""

    def source_name(key: str) -> str | None:
        if key.endswith("relative_position_index") or _SWIN_OUTPUT_NORM.match(key):
            return None
        if key.startswith("patch_embed.proj."):
            return "features.0.0." + key[len("patch_embed.proj.") :]
        if key.startswith("patch_embed.norm."):
            return "features.0.2." + key[len("patch_embed.norm.") :]
        block = _SWIN_BLOCK.match(key)
        if block:
            stage, index, rest = int(block.group(1)), block.group(2), block.group(3)
            rest = rest.replace("mlp.fc1.", "mlp.0.").replace("mlp.fc2.", "mlp.3.")
            return f"features.{2 * stage + 1}.{index}.{rest}"
        downsample = _SWIN_DOWNSAMPLE.match(key)
        if downsample:
            return f"features.{2 * int(downsample.group(1)) + 2}.{downsample.group(2)}"
        return key

    return _NameMapping(
        source_name=source_name,
        ignored=lambda key: key.startswith(("features.6.", "features.7.", "norm.", "head."))
        or key.endswith("relative_position_index"),
        optional=lambda key: False,
    )


def _native_swin_mapping() -> _NameMapping:
    """Original Swin release naming (four stages, final ``norm`` and ``head``)."""

    def source_name(key: str) -> str | None:
        return None if key.endswith("relative_position_index") else key

    return _NameMapping(
        source_name=source_name,
        ignored=lambda key: key.startswith(("layers.3.", "layers.2.downsample.", "norm.", "head."))
        or key.endswith(("relative_position_index", "attn_mask")),
        optional=lambda key: bool(_SWIN_OUTPUT_NORM.match(key)),
    )


_MOBILENET_V3_BLOCK = re.compile(r"^features\.(\d+)\.conv\.(\d+)\.(.+)$")


def _torchvision_mobilenet_v3_mapping(encoder: nn.Module) -> _NameMapping:
    """torchvision ``mobilenet_v3_large``: ``features.<i>.block.<j>`` and ``features.16``.

    Our block layout (``conv.<j>``) depends on whether the block expands and has a
    squeeze-excitation; the torchvision index is derived from the same two facts.
    """
    features = getattr(encoder, "features", None)
    if not isinstance(features, nn.Sequential):
        raise ValueError("encoder is not a MobileNetV3-Large encoder")
    last_index = len(features)

    def source_name(key: str) -> str | None:
        if key.startswith("conv."):
            return f"features.{last_index}." + key[len("conv.") :]
        match = _MOBILENET_V3_BLOCK.match(key)
        if match is None:
            return key
        block_index, layer_index, rest = int(match.group(1)), int(match.group(2)), match.group(3)
        block = features[block_index]
        has_se = bool(getattr(block, "has_squeeze_excitation"))
        if getattr(block, "has_expansion"):
            project = 3 if has_se else 2
            table = {
                0: "0.0", 1: "0.1", 3: "1.0", 4: "1.1", 5: "2", 7: f"{project}.0", 8: f"{project}.1"
            }
        else:
            project = 2 if has_se else 1
            table = {0: "0.0", 1: "0.1", 3: "1", 4: f"{project}.0", 5: f"{project}.1"}
        rest = rest.replace("fc.0.", "fc1.").replace("fc.2.", "fc2.")
        return f"features.{block_index}.block.{table[layer_index]}.{rest}"

    return _NameMapping(
        source_name=source_name,
        ignored=lambda key: key.startswith("classifier.") or _is_batch_norm_counter(key),
        optional=_is_batch_norm_counter,
    )


def _is_pointwise_conv_of(tensor: torch.Tensor, target: torch.Tensor) -> bool:
    """A 1x1 convolution weight (O x I x 1 x 1) standing for a linear weight (O x I)."""
    return tensor.dim() == 4 and tensor.shape[2:] == (1, 1) and tensor.shape[:2] == target.shape


def _describe(our_name: str, source_name: str) -> str:
    return our_name if our_name == source_name else f"{our_name} (source {source_name})"


def _listing(title: str, entries: list[str]) -> str:
    if not entries:
        return ""
    shown = entries[:_MAX_LISTED]
    more = f"\n    ... and {len(entries) - _MAX_LISTED} more" if len(entries) > _MAX_LISTED else ""
    return f"\n  {title} ({len(entries)}):\n    " + "\n    ".join(shown) + more
