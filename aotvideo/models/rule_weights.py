"""Deterministic weights by the rule of the reference conformance data.

The reference runs in ``shared/reference`` were computed with weights that anyone can regenerate
from a parameter's name alone, so no checkpoint has to be shipped to check conformance, and tests
and benchmarks get weights whose outputs are well defined.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable

import numpy as np
import torch


def rule_tensor(name: str, shape: Iterable[int], dtype: torch.dtype) -> torch.Tensor | None:
    """Value of one entry under the reference rule, or ``None`` for integer buffers the
    architecture defines itself (e.g. Swin's ``relative_position_index``)."""
    shape = tuple(int(s) for s in shape)
    if name.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.int64)
    if not dtype.is_floating_point:
        return None
    rs = np.random.RandomState(zlib.crc32(name.encode()) & 0xFFFFFFFF)
    if name.endswith("running_var"):
        value = 1 + 0.25 * rs.random_sample(shape)
    elif name.endswith("running_mean"):
        value = 0.1 * rs.standard_normal(shape)
    elif len(shape) == 1 and name.endswith(".weight"):
        value = 1 + 0.1 * rs.standard_normal(shape)
    elif name.endswith(".bias"):
        value = 0.02 * rs.standard_normal(shape)
    else:
        fan_in = int(np.prod(shape[1:])) if len(shape) >= 2 else shape[0]
        value = rs.standard_normal(shape) / np.sqrt(fan_in)
    return torch.from_numpy(np.asarray(value, dtype=np.float64).astype(np.float32)).to(dtype)


def rule_state_dict(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A full state dict for ``module`` with every tensor drawn by the reference rule.

    Integer buffers that the rule does not draw keep the module's own values.
    """
    out: dict[str, torch.Tensor] = {}
    for name, tensor in module.state_dict().items():
        value = rule_tensor(name, tensor.shape, tensor.dtype)
        out[name] = tensor.detach().clone() if value is None else value
    return out
