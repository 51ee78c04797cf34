"""The box head's weights file, and the copy that ships in the package.

File format (read with ``torch.load(weights_only=True)`` only): a dict with ``"format"``
(``"aotvideo-boxmask-head"``), ``"version"`` (1), ``"config"`` (:class:`HeadConfig` fields),
``"meta"`` (free-form strings and numbers: what it was trained on) and ``"state_dict"``
(float16 tensors of :class:`BoxMaskNet`).

The packaged file is ``aotvideo/data/boxmask_v1.pth``; its SHA-256 is checked before it is used,
as for the packaged tracking model. ``AOTVIDEO_BOXMASK_WEIGHTS`` names another place to read
that file from (packagers that move data files, tests); the checksum is checked all the same
(:func:`aotvideo.zoo.sha256_of`, as for ``aotvideo.zoo.packaged_weights``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..errors import WeightsError
from ..zoo import sha256_of
from .network import BoxMaskNet, HeadConfig

__all__ = ["FORMAT", "PACKAGED_HEAD", "PACKAGED_HEAD_SHA256", "load_head", "packaged_head_path",
           "save_head"]

FORMAT = "aotvideo-boxmask-head"
#: File name of the packaged head in ``aotvideo/data``.
PACKAGED_HEAD = "boxmask_v1.pth"
#: Its SHA-256, checked before it is used.
PACKAGED_HEAD_SHA256 = "75b52678105476b45d54413d563f759d32e6d00e6fc941545d6ebb60b2ff7d14"
#: Environment variable naming another location of the packaged head (checksum still checked).
WEIGHTS_ENV = "AOTVIDEO_BOXMASK_WEIGHTS"


def packaged_head_path() -> Path:
    """The packaged head's file, checked.

    Raises :class:`~aotvideo.errors.WeightsError` when it is missing or its SHA-256 differs
    from :data:`PACKAGED_HEAD_SHA256` (the message says which).
    """
    override = os.environ.get(WEIGHTS_ENV)
    path = Path(override) if override else Path(__file__).resolve().parents[1] / "data" / PACKAGED_HEAD
    if not path.is_file():
        raise WeightsError(f"the box head's weights {path} are missing")
    digest = sha256_of(path)
    if digest != PACKAGED_HEAD_SHA256:
        raise WeightsError(f"the box head's weights {path} are damaged (sha256 {digest[:16]}..., "
                           f"expected {PACKAGED_HEAD_SHA256[:16]}...); reinstall aotvideo")
    return path


def save_head(net: BoxMaskNet, config: HeadConfig, path: str | os.PathLike[str],
              meta: dict[str, Any] | None = None) -> None:
    """Write ``net``'s weights as float16 in the head format (atomically)."""
    state = {key: value.detach().to(torch.float16).clone() if value.is_floating_point()
             else value.detach().clone() for key, value in net.state_dict().items()}
    payload = {"format": FORMAT, "version": 1,
               "config": {"crop_size": config.crop_size, "margin": config.margin},
               "meta": dict(meta or {}), "state_dict": state}
    target = Path(path)
    temporary = target.with_name(target.name + ".tmp")
    torch.save(payload, temporary)
    os.replace(temporary, target)


def load_head(path: str | os.PathLike[str]) -> tuple[BoxMaskNet, HeadConfig, dict[str, Any]]:
    """Read a head file: ``(network in eval mode, float32; its config; its meta)``.

    Raises :class:`~aotvideo.errors.WeightsError` when the file cannot be read or does not fit.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise WeightsError(f"cannot read the box head's weights {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(f"{path} is not a box head weights file (format {FORMAT!r})")
    try:
        config = HeadConfig(**payload["config"])
        net = BoxMaskNet()
        state = {key: value.float() if value.is_floating_point() else value
                 for key, value in payload["state_dict"].items()}
        net.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"the box head's weights {path} do not fit: {exc}") from exc
    return net.eval(), config, dict(payload.get("meta", {}))
