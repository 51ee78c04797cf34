"""The CUDA paths: tracking on a GPU, float16 autocast, the benchmark with torch.compile.

Every test here needs a CUDA device and skips without one (``samples/gpu_session.sh`` runs
them when a machine with a GPU is lent).
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import aotvideo
from tests.conftest import REPO, moving_shapes_clip

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="no CUDA device on this machine")


def _track(model: aotvideo.models.AOTModel, device: str, amp: bool | str) -> list:
    frames, labels = moving_shapes_clip(frames=6, objects=3)
    tracker = aotvideo.Tracker(model, device=device, amp=amp)
    tracker.step(frames[0], mask=labels[0])
    return [tracker.step(frame) for frame in frames[1:]]


def test_float32_on_cuda_equals_the_cpu(deaott_model):
    cpu = _track(deaott_model, "cpu", False)
    gpu = _track(deaott_model, "cuda", False)
    for a, b in zip(cpu, gpu):
        assert b.labels.device.type == "cpu" and b.probs.device.type == "cpu"
        assert (a.labels == b.labels).float().mean().item() > 0.999
        assert (a.probs - b.probs).abs().max().item() < 1e-3


def test_auto_precision_on_cuda_is_float16_and_agrees(deaott_model):
    tracker = aotvideo.Tracker(deaott_model, device="cuda")
    assert tracker.precision == "float16"
    exact = _track(deaott_model, "cuda", False)
    mixed = _track(deaott_model, "cuda", "auto")
    for a, b in zip(exact, mixed):
        assert b.probs.dtype == torch.float32
        assert (a.labels == b.labels).float().mean().item() > 0.98


@pytest.mark.parametrize("compile_mode", ["none", "reduce-overhead"])
def test_bench_on_cuda(compile_mode):
    run = subprocess.run([sys.executable, "-m", "aotvideo", "bench", "--models", "deaott",
                          "--sizes", "120x200", "--objects", "2", "--frames", "3",
                          "--warmup", "2", "--device", "cuda", "--amp",
                          "--compile", compile_mode],
                         cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr
    assert f"compile={compile_mode}" in run.stdout
    assert torch.cuda.get_device_name(0) in run.stdout
    assert any(line.startswith("| deaott | 120x200 | 2 |") for line in run.stdout.splitlines())
