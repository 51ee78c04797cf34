"""Float32 CPU products through oneDNN: same results as PyTorch's BLAS path, same modules."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import aotvideo
from aotvideo.models import gemm
from aotvideo.models.inference import optimize_for_inference

pytestmark = pytest.mark.skipif(gemm._onednn_operator() is None,
                                reason="this PyTorch build has no oneDNN linear operator")


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = float(b.abs().max()) or 1.0
    return a.shape == b.shape and float((a - b).abs().max()) <= 1e-5 * scale


@pytest.mark.parametrize("shape", [(7, 33), (943, 1, 256), (5, 3, 64)])
def test_linear_equals_torch(shape):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    weight, bias = torch.randn(48, shape[-1]), torch.randn(48)
    with torch.no_grad():
        assert _close(gemm.linear(x, weight, bias), F.linear(x, weight, bias))
        assert _close(gemm.linear(x, weight), F.linear(x, weight))


def test_linear_reads_column_slices():
    """A slice of a wider tensor's channels (torch.split) has gaps between rows."""
    torch.manual_seed(0)
    wide = torch.randn(50, 1, 96)
    part = torch.split(wide, [32, 64], dim=2)[1]
    weight = torch.randn(16, 64)
    with torch.no_grad():
        assert _close(gemm.linear(part, weight), F.linear(part, weight))


@pytest.mark.parametrize("batch", [(), (1,), (1, 1), (2, 3)])
def test_matmul_equals_torch(batch):
    torch.manual_seed(0)
    a, b = torch.randn(*batch, 37, 24), torch.randn(*batch, 24, 51)
    with torch.no_grad():
        assert _close(gemm.matmul(a, b), torch.matmul(a, b))
        bt = torch.randn(*batch, 51, 24).transpose(-1, -2)  # column-major operand
        assert _close(gemm.matmul(a, bt), torch.matmul(a, bt))
        strided = torch.randn(*batch, 24, 80)[..., :51]  # rows with gaps
        assert _close(gemm.matmul(a, strided), torch.matmul(a, strided))


def test_what_stays_on_torch():
    x = torch.randn(4, 8)
    w = torch.randn(3, 8, requires_grad=True)
    assert not gemm.onednn_applies(x, w)  # a gradient to record
    with torch.no_grad():
        assert gemm.onednn_applies(x, w)
        assert not gemm.onednn_applies(x.double(), w.double())
        assert not gemm.onednn_applies(x.bfloat16(), w.bfloat16())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not gemm.onednn_applies(x, w)
            assert gemm.linear(x, w).dtype == torch.bfloat16  # autocast still applies
        with gemm.cpu_gemm("blas"):
            assert not gemm.onednn_applies(x, w)
        assert gemm.onednn_applies(x, w)


def test_gradients_flow_through_torch():
    x = torch.randn(4, 8, requires_grad=True)
    layer = gemm.OneDNNLinear(8, 3)
    layer(x).sum().backward()
    assert x.grad is not None and layer.weight.grad is not None


def test_environment_selects_the_backend(monkeypatch):
    monkeypatch.setenv(gemm.ENV_VAR, "blas")
    assert gemm.cpu_gemm_backend() == "blas"
    monkeypatch.setenv(gemm.ENV_VAR, "onednn")
    assert gemm.cpu_gemm_backend() == "onednn"
    monkeypatch.setenv(gemm.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="AOTVIDEO_CPU_GEMM"):
        gemm.cpu_gemm_backend()
    with pytest.raises(ValueError, match="backend"):
        with gemm.cpu_gemm("fast"):
            pass


def test_inference_copy_uses_onednn_linears_with_the_same_weights():
    model = aotvideo.build_model("deaott")
    fast = optimize_for_inference(model)
    plain = [m for m in model.modules() if type(m) is nn.Linear]
    turned = [m for m in fast.modules() if isinstance(m, gemm.OneDNNLinear)]
    assert plain and len(turned) == len(plain)
    assert not any(isinstance(m, gemm.OneDNNLinear) for m in model.modules())
    # the state dicts have the same keys (BN folding aside) and equal linear weights
    fast_state = fast.state_dict()
    for name, module in model.named_modules():
        if type(module) is nn.Linear:
            assert torch.equal(fast_state[f"{name}.weight"], module.weight)
    x = torch.randn(10, 1, plain[0].in_features)
    with torch.no_grad():
        assert _close(turned[0](x), plain[0](x))
