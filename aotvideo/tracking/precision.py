"""Where and in which arithmetic a tracker runs: the default device, and float32 or mixed
precision where the hardware has it (the one place that decides both).

A device of ``None`` is CUDA when torch sees a GPU, else the CPU (:func:`resolve_device`).

``amp="auto"`` (the default of :class:`aotvideo.Tracker`) picks bfloat16 autocast on CPUs with
native bfloat16 instructions (AVX-512 BF16 or AMX), float16 autocast on CUDA, and float32
everywhere else.  ``True`` forces mixed precision (bfloat16 on CPUs, float16 on CUDA) and
``False`` float32.  The weights stay float32 in both cases; autocast runs the matrix products
and convolutions in the lower precision.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal, Union

import torch

Amp = Union[bool, Literal["auto"]]
"""Mixed-precision choice: ``True``, ``False`` or ``"auto"``."""

_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_has_native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX tiles).

    Without them bfloat16 is emulated and slower than float32, so ``"auto"`` keeps float32.
    """
    checks = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if all(callable(check) for check in checks):
        return any(check() for check in checks)  # type: ignore[misc]
    try:  # older torch: the kernel's CPU flags
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return any(flag in flags for flag in _NATIVE_BF16_FLAGS)


def resolve_device(device: torch.device | str | None) -> torch.device:
    """The device named by ``device``; ``None`` is CUDA when present, else the CPU."""
    if device is None or device == "":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast_dtype(amp: Amp, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``, or ``None`` for float32.

    Raises:
        ValueError: ``amp`` is not ``True``, ``False`` or ``"auto"``.
    """
    if amp not in (True, False, "auto"):
        raise ValueError(f"amp must be True, False or 'auto', got {amp!r}")
    if amp is False:
        return None
    if device.type == "cuda":
        return torch.float16
    if device.type == "cpu":
        return torch.bfloat16 if amp is True or cpu_has_native_bfloat16() else None
    return torch.bfloat16 if amp is True else None


def precision_name(dtype: torch.dtype | None) -> str:
    """``"float32"``, ``"bfloat16"`` or ``"float16"`` for an autocast dtype."""
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def amp_from_flag(flag: bool | None) -> Amp:
    """A ``--amp/--no-amp`` command-line flag (``None`` when not given) as a tracker's ``amp``."""
    return "auto" if flag is None else flag
