"""Float32 matrix products of CPU inference through oneDNN.

PyTorch sends float32 ``linear``/``matmul`` on the CPU to its BLAS (MKL in the official
wheels), while convolutions go to oneDNN.  On CPUs where that BLAS does not take its widest
vector path (MKL on AMD processors runs its AVX2 kernels) oneDNN's inner-product primitive is
about twice as fast for the shapes of the propagation module (``samples/profile_tracking.py``;
both compute the same sums in float32, in a different order).  This module routes the products
of inference there:

* :class:`OneDNNLinear` is an ``nn.Linear`` (same parameters, same state dict) whose forward
  uses oneDNN when :func:`onednn_applies`; :func:`use_onednn_linears` swaps it into a model.
* :func:`matmul` is ``torch.matmul`` for the attention products, through oneDNN under the same
  conditions.

Anything else (gradients, autocast, half precision, CUDA, a PyTorch without the operator, or
``AOTVIDEO_CPU_GEMM=blas`` in the environment) takes PyTorch's own path unchanged.
"""
from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

ENV_VAR = "AOTVIDEO_CPU_GEMM"
"""``onednn`` (default) or ``blas``: which library multiplies float32 matrices on the CPU."""

_BACKENDS = ("onednn", "blas")
_override: list[str] = []


def cpu_gemm_backend() -> str:
    """The backend in force: the innermost :func:`cpu_gemm` context, else ``$AOTVIDEO_CPU_GEMM``,
    else ``onednn`` (when this PyTorch has it).

    Raises:
        ValueError: the environment variable names neither backend.
    """
    if _override:
        return _override[-1]
    value = os.environ.get(ENV_VAR, "onednn").strip().lower() or "onednn"
    if value not in _BACKENDS:
        raise ValueError(f"{ENV_VAR}={value!r}: expected one of {', '.join(_BACKENDS)}")
    return value if value == "blas" or _onednn_operator() is not None else "blas"


@contextlib.contextmanager
def cpu_gemm(backend: str) -> Iterator[None]:
    """Within the block, float32 CPU products use ``backend`` (``onednn`` or ``blas``)."""
    if backend not in _BACKENDS:
        raise ValueError(f"unknown CPU matrix-product backend {backend!r}")
    _override.append(backend)
    try:
        yield
    finally:
        _override.pop()


@functools.lru_cache(maxsize=1)
def _onednn_operator():  # noqa: ANN202 - an OpOverloadPacket or None
    """PyTorch's oneDNN linear operator, if this build has one that works."""
    try:
        operator = torch.ops.mkldnn._linear_pointwise
        probe = operator(torch.ones(2, 3), torch.ones(4, 3), torch.zeros(4), "none", [], "")
    except (AttributeError, RuntimeError):
        return None
    if not torch.equal(probe, torch.full((2, 4), 3.0)):
        return None
    return operator


def onednn_applies(*tensors: torch.Tensor) -> bool:
    """Whether a product of these tensors goes to oneDNN: all float32 on the CPU, no autocast,
    no gradient to record, and the backend in force is ``onednn``."""
    if torch.is_autocast_enabled("cpu"):
        return False
    for t in tensors:
        if t.device.type != "cpu" or t.dtype != torch.float32:
            return False
        if t.requires_grad and torch.is_grad_enabled():
            return False
    return cpu_gemm_backend() == "onednn"


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           ) -> torch.Tensor:
    """``F.linear``: x (..., K), weight (N, K), bias (N,) or None -> (..., N)."""
    if not onednn_applies(x, weight):
        return F.linear(x, weight, bias)
    operator = _onednn_operator()
    return operator(x.contiguous(), weight.contiguous(), bias, "none", [], "")


def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``torch.matmul`` for a (..., M, K) and b (..., K, N) with equal leading dimensions
    -> (..., M, N); oneDNN runs one product per leading index."""
    if a.dim() < 2 or a.shape[:-2] != b.shape[:-2] or not onednn_applies(a, b):
        return torch.matmul(a, b)
    operator = _onednn_operator()
    lead = a.shape[:-2]
    a2 = a.reshape(-1, *a.shape[-2:])
    b2 = b.reshape(-1, *b.shape[-2:])
    if a2.shape[0] == 1:
        out = operator(dense(a2[0]), dense(b2[0].transpose(0, 1)), None, "none", [], "")
        return out.view(*lead, *out.shape)
    out = a.new_empty((a2.shape[0], a.shape[-2], b.shape[-1]))
    for index in range(a2.shape[0]):
        out[index] = operator(dense(a2[index]), dense(b2[index].transpose(0, 1)), None,
                              "none", [], "")
    return out.view(*lead, *out.shape[-2:])


def dense(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix`` (R, C) if it is row- or column-major without gaps, else a row-major copy:
    oneDNN multiplies padded strides (rows of a wider tensor) with a slow reference kernel."""
    if matrix.is_contiguous() or matrix.t().is_contiguous():
        return matrix
    return matrix.contiguous()


class OneDNNLinear(nn.Linear):
    """``nn.Linear`` whose float32 CPU inference runs through oneDNN (see :func:`linear`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


def use_onednn_linears(module: nn.Module) -> int:
    """Turn every plain ``nn.Linear`` in ``module`` into an :class:`OneDNNLinear`, in place,
    keeping its parameters (and so its state dict).  Returns how many were turned."""
    turned = 0
    for sub in module.modules():
        if type(sub) is nn.Linear:
            sub.__class__ = OneDNNLinear
            turned += 1
    return turned
