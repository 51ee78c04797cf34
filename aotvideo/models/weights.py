"""Loading and saving weights: model-zoo checkpoints, plain state dicts and aotvideo's format.

Only ``torch.load(..., weights_only=True)`` is used: a checkpoint can never run code.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Union

import torch
from torch import nn

from ..errors import WeightsError
from .config import list_models

WeightsSource = Union[str, os.PathLike, Mapping[str, Any]]

FORMAT_KEY = "aotvideo"
FORMAT_VERSION = 1

INPUT_KEY = "input"
"""Metadata entry of aotvideo's format with how the weights track best: the network input, e.g.
``{"max_short_edge": 400, "min_short_edge": 400}``, and the identity grouping,
``{"objects_per_group": 1}``.
:func:`load_weights` puts it on the model as ``model.preferred_input`` and
:class:`aotvideo.Tracker` uses it unless told otherwise."""
_PREFERENCES = ("max_short_edge", "max_long_edge", "min_short_edge", "objects_per_group")


def read_checkpoint(source: WeightsSource) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state dict inside ``source`` and the metadata next to it.

    Accepts the model-zoo format ``{"state_dict": {...}}`` (names optionally prefixed
    ``module.``), a plain state dict, and aotvideo's own ``{"aotvideo": {...},
    "state_dict": {...}}``.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt file, pickle with code, not a torch file
            raise WeightsError(f"cannot read weights from {path}: {exc}") from exc
    else:
        obj = source
    if not isinstance(obj, Mapping):
        raise WeightsError(f"weights must be a mapping of names to tensors, got {type(obj).__name__}")
    meta: dict[str, Any] = {}
    if FORMAT_KEY in obj and isinstance(obj[FORMAT_KEY], Mapping):
        meta = dict(obj[FORMAT_KEY])
    state = obj.get("state_dict", obj) if "state_dict" in obj else obj
    if not isinstance(state, Mapping):
        raise WeightsError("the checkpoint's 'state_dict' is not a mapping")
    tensors: dict[str, torch.Tensor] = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise WeightsError(f"entry {name!r} of the checkpoint is not a tensor")
        tensors[name[len("module."):] if name.startswith("module.") else name] = value
    return tensors, meta


def _shapes(state: Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state.items() if not k.endswith("num_batches_tracked")}


def _variant_shapes(name: str) -> dict[str, tuple[int, ...]]:
    from .registry import build_model

    with torch.device("meta"):
        model = build_model(name)
    return _shapes(model.state_dict())


def matching_variants(state: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the registered variants whose parameter names and shapes equal ``state``'s.

    AOT-B/L and DeAOT-B/L share their layouts; they differ only in the long-term memory gap.
    """
    shapes = _shapes(state)
    return [name for name in list_models() if _variant_shapes(name) == shapes]


def load_weights(model: nn.Module, source: WeightsSource) -> nn.Module:
    """Load ``source`` into ``model`` strictly and return the model.

    Args:
        model: a model from :func:`aotvideo.build_model`.
        source: a path to a checkpoint, or a state dict (see :func:`read_checkpoint`).

    Raises:
        WeightsError: the file can't be read, or names/shapes differ; the message lists the
            differences and the variants the checkpoint does fit.
    """
    state, meta = read_checkpoint(source)
    expected = model.state_dict()
    state = {k: v for k, v in state.items()
             if not (k.endswith("num_batches_tracked") and k not in expected)}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
             for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        name = getattr(getattr(model, "config", None), "name", type(model).__name__)
        fits = matching_variants(state)
        lines = [f"checkpoint does not fit model {name!r}"]
        if fits:
            lines.append(f"it fits: {', '.join(fits)}")
        else:
            lines.append("it fits none of the registered variants")
        for title, items in (("missing", missing), ("unexpected", unexpected),
                             ("wrong shape", wrong)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items)} in all)" if len(items) > 8 else "")
                lines.append(f"{title}: {shown}")
        raise WeightsError("; ".join(lines))
    with torch.no_grad():
        for key, target in expected.items():
            value = state[key]
            if not value.dtype.is_floating_point and target.dtype.is_floating_point:
                raise WeightsError(f"entry {key!r} has dtype {value.dtype}, expected floating point")
            target.copy_(value.to(target.dtype))
    model.preferred_input = preferred_input(meta)
    return model


def preferred_input(meta: Mapping[str, Any]) -> dict[str, int | None]:
    """The ``max_short_edge`` / ``max_long_edge`` / ``min_short_edge`` limits and the
    ``objects_per_group`` a checkpoint's metadata asks for (empty when it names none: the
    evaluation protocol's 480 / 1040, no enlarging, and the original's grouping apply).

    Raises:
        WeightsError: the entry is not a mapping of those names to positive integers or null.
    """
    entry = meta.get(INPUT_KEY) or {}
    if not isinstance(entry, Mapping):
        raise WeightsError(f"the checkpoint's {INPUT_KEY!r} metadata is not a mapping")
    limits: dict[str, int | None] = {}
    for key, value in entry.items():
        if key not in _PREFERENCES or not (
                value is None or (isinstance(value, int) and value > 0)):
            raise WeightsError(f"bad {INPUT_KEY!r} metadata in the checkpoint: {key}={value!r}")
        limits[str(key)] = value
    return limits


def save_weights(model: nn.Module, path: str | os.PathLike, **metadata: Any) -> Path:
    """Write ``model``'s weights in aotvideo's format, atomically (temp file + rename).

    The file also loads as a model-zoo checkpoint (its tensors sit under ``state_dict``).
    """
    name = getattr(getattr(model, "config", None), "name", None)
    payload = {FORMAT_KEY: {"version": FORMAT_VERSION, "model": name, **metadata},
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return atomic_save(payload, path)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file next to ``path``, then rename it into place: a crash
    or a full disk never leaves a half-written file under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
