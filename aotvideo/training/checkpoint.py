"""Training checkpoints: atomic writes, the last N kept, resume and export.

A checkpoint ``<output>/checkpoints/step_<step>.pt`` is one ``torch.save`` file:

* ``aotvideo``: metadata (format version, model name and overrides, stage, step, and the
  whole training configuration) -- the same header :func:`aotvideo.save_weights` writes;
* ``state_dict``: the weights to use -- the EMA weights when the EMA is on, else the trained
  weights -- so the file loads as is with :func:`aotvideo.load_weights` and
  ``aotvideo track --weights``;
* ``model``, ``optimizer``, ``scaler``, ``ema_updates``, ``step``: the training state.

Everything in it loads with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from ..models.weights import FORMAT_KEY, FORMAT_VERSION, atomic_save

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step_(\d+)\.pt$")


def checkpoint_path(output: str | os.PathLike, step: int) -> Path:
    return Path(output) / CHECKPOINT_DIR / f"step_{step:08d}.pt"


def list_checkpoints(output: str | os.PathLike) -> list[tuple[int, Path]]:
    """(step, path) of the run's checkpoints, oldest first."""
    folder = Path(output) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(output: str | os.PathLike) -> Path | None:
    """The run's newest checkpoint, or ``None``."""
    found = list_checkpoints(output)
    return found[-1][1] if found else None


def prune_checkpoints(output: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints (``keep <= 0`` keeps all)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(output)[:-keep]:
        path.unlink(missing_ok=True)


def save_checkpoint(output: str | os.PathLike, step: int, *, metadata: Mapping[str, Any],
                    weights: Mapping[str, torch.Tensor], model: Mapping[str, torch.Tensor],
                    optimizer: Mapping[str, Any], scaler: Mapping[str, Any] | None,
                    ema_updates: int, keep: int) -> Path:
    """Write the checkpoint of ``step`` atomically and prune old ones."""
    payload = {
        FORMAT_KEY: {"version": FORMAT_VERSION, **metadata, "step": step},
        "state_dict": dict(weights),
        "model": dict(model),
        "optimizer": _to_cpu(optimizer),
        "scaler": dict(scaler) if scaler is not None else None,
        "ema_updates": int(ema_updates),
        "step": int(step),
    }
    path = atomic_save(payload, checkpoint_path(output, step))
    prune_checkpoints(output, keep)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint (weights only, no code).

    Raises:
        WeightsError: unreadable, or not a training checkpoint.
    """
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt file, not a torch file
        raise WeightsError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, Mapping) or "model" not in payload or "step" not in payload:
        raise WeightsError(f"{path} is not an aotvideo training checkpoint")
    return dict(payload)


def export_weights(checkpoint: str | os.PathLike, output: str | os.PathLike, *,
                   which: str = "ema", reference: bool = True) -> Path:
    """Write a checkpoint's weights as a standalone file.

    Args:
        checkpoint: a training checkpoint (or any file :func:`aotvideo.load_weights` reads).
        output: destination.
        which: ``"ema"`` (the averaged weights; the trained ones when the run had no EMA) or
            ``"raw"`` (the trained weights).
        reference: write the original code's format ``{"state_dict": ...}`` (loads in
            ``aot-benchmark``); else aotvideo's format with its metadata header.

    Raises:
        WeightsError: unreadable checkpoint, or ``raw`` asked of a file without training state.
        ValueError: unknown ``which``.
    """
    if which not in ("ema", "raw"):
        raise ValueError("which must be 'ema' or 'raw'")
    try:
        payload = torch.load(Path(checkpoint), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(f"cannot read checkpoint {checkpoint}: {exc}") from exc
    if not isinstance(payload, Mapping):
        raise WeightsError(f"{checkpoint}: not a checkpoint")
    if which == "raw":
        if "model" not in payload:
            raise WeightsError(f"{checkpoint} has no training state ('raw' weights)")
        state = payload["model"]
    else:
        state = payload.get("state_dict", payload)
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    if reference:
        out: dict[str, Any] = {"state_dict": state}
    else:
        meta = dict(payload.get(FORMAT_KEY, {}))
        meta.update(version=FORMAT_VERSION, weights=which)
        out = {FORMAT_KEY: meta, "state_dict": state}
    return atomic_save(out, output)


def _to_cpu(obj: Any) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, Mapping):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
