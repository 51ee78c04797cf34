"""Precision choice (amp) of a tracker, and the labels-only path of its results."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import aotvideo
from aotvideo.tracking.precision import (amp_from_flag, autocast_dtype, cpu_has_native_bfloat16,
                                         precision_name)
from tests.conftest import moving_shapes_clip

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _cpuinfo_flags() -> set[str] | None:
    path = Path("/proc/cpuinfo")
    return set(path.read_text().split()) if path.is_file() else None


def test_native_bfloat16_matches_the_cpu_flags():
    flags = _cpuinfo_flags()
    if flags is None:
        pytest.skip("no /proc/cpuinfo on this system to compare with")
    assert cpu_has_native_bfloat16() == bool({"avx512_bf16", "amx_bf16", "amx_tile"} & flags)


def test_autocast_dtype_per_choice_and_device():
    assert autocast_dtype(False, CPU) is None and autocast_dtype(False, CUDA) is None
    assert autocast_dtype(True, CPU) == torch.bfloat16
    assert autocast_dtype(True, CUDA) == torch.float16
    assert autocast_dtype("auto", CUDA) == torch.float16
    flags = _cpuinfo_flags()
    if flags is not None:  # the CPU's own flags, not the function under test, say what to expect
        native = bool({"avx512_bf16", "amx_bf16", "amx_tile"} & flags)
        assert autocast_dtype("auto", CPU) == (torch.bfloat16 if native else None)
    with pytest.raises(ValueError, match="amp must be"):
        autocast_dtype("fast", CPU)  # type: ignore[arg-type]
    assert precision_name(None) == "float32" and precision_name(torch.bfloat16) == "bfloat16"
    assert amp_from_flag(None) == "auto" and amp_from_flag(False) is False


def test_tracker_default_is_auto(deaott_model):
    auto = aotvideo.Tracker(deaott_model, device="cpu")
    flags = _cpuinfo_flags()
    if flags is not None:
        native = bool({"avx512_bf16", "amx_bf16", "amx_tile"} & flags)
        assert auto.precision == ("bfloat16" if native else "float32")
    assert aotvideo.Tracker(deaott_model, device="cpu", amp=False).precision == "float32"
    assert aotvideo.Tracker(deaott_model, device="cpu", amp=True).precision == "bfloat16"


def test_bfloat16_labels_agree_with_float32(tmp_path, monkeypatch):
    """The packaged model on 12 frames of the sample clip: bfloat16 autocast really runs (the
    logits move away from float32's) and keeps the labels (measured: 99.96% on real videos).
    Random-init weights would not do here: their outputs sit near ties everywhere."""
    from aotvideo.io.masks import read_mask
    from aotvideo.io.reader import VideoReader

    monkeypatch.setenv("AOTVIDEO_CACHE", str(tmp_path / "empty-cache"))
    samples = Path(__file__).resolve().parents[2] / "samples"
    with VideoReader(str(samples / "sample.mp4")) as reader:
        frames = [f.image for _, f in zip(range(12), reader.frames())]
    mask = read_mask(samples / "sample_mask.png")
    model = aotvideo.load_model()
    runs = {}
    for amp in (False, True):
        tracker = aotvideo.Tracker(model, device="cpu", amp=amp)
        assert tracker.precision == ("bfloat16" if amp else "float32")
        tracker.step(frames[0], mask=mask)
        runs[amp] = [tracker.step(frame) for frame in frames[1:]]
    moved = max((e.logits - m.logits).abs().max().item() for e, m in zip(runs[False], runs[True]))
    assert moved > 1e-3, "the mixed-precision run computed what float32 computes: amp not applied"
    for exact, mixed in zip(runs[False], runs[True]):
        assert mixed.probs.dtype == torch.float32 and mixed.logits is not None
        agreement = (exact.labels == mixed.labels).float().mean().item()
        assert agreement > 0.99, agreement
        assert (exact.probs - mixed.probs).abs().mean().item() < 0.01


def test_probabilities_are_made_on_first_use_and_match_the_labels(deaott_model):
    frames, labels = moving_shapes_clip(frames=3, objects=2)
    mask = np.where(labels[0] == 1, 3, np.where(labels[0] == 2, 9, 0))
    tracker = aotvideo.Tracker(deaott_model, device="cpu", amp=False)
    tracker.step(frames[0], mask=mask)
    result = tracker.step(frames[1])
    assert "probs" not in vars(result)  # not worked out yet
    probs = result.probs
    assert result.probs is probs  # and only once
    assert probs.shape == (3, 64, 96) and probs.dtype == torch.float32
    assert torch.allclose(probs.sum(0), torch.ones(64, 96), atol=1e-5)
    assert torch.equal(result.labels, torch.tensor([0, 3, 9])[probs.argmax(0)])
