"""The speed benchmark: tracking speed and memory per variant (``aotvideo bench``).

Prints a table with frames/s, seconds per frame, peak resident memory and the tracker's memory
per model variant, input size and object count.  Weights are the reference rule's
deterministic ones (speed does not depend on their values); frames are a synthetic clip of
moving discs over a textured background, so no download is needed.

With ``reference`` (``--reference-data DIR``, ``shared/reference``) the variants that have a reference run are
also checked for equal outputs: the largest difference of the first propagated frame's logits.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .io.testclips import scene
from .models import build_model, load_weights
from .models.rule_weights import rule_state_dict
from .tracking import Tracker


@dataclass(frozen=True)
class BenchResult:
    model: str
    height: int
    width: int
    objects: int
    frames: int
    seconds_per_frame: float
    peak_rss_mib: float
    tracker_mib: float
    max_logit_error: float | None

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds_per_frame


def shapes_clip(frames: int, height: int, width: int, objects: int,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) uint8 of moving shapes and the first frame's label map."""
    pairs = list(scene(width, height, frames, objects=objects, seed=seed))
    return np.stack([f for f, _ in pairs]), pairs[0][1]


def _peak_rss_reset() -> None:
    try:  # Linux: writing 5 resets the peak resident set size (VmHWM)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def _peak_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _logit_error(name: str, reference: Path, device: str, amp: bool) -> float | None:
    """Largest logit difference to the original on the reference clip's first propagated
    frame, in the precision being benchmarked."""
    path = reference / f"ref_{name}_demo1001.npz"
    if not path.is_file():
        return None
    clip = np.load(reference / "clip_demo1001.npz")
    ref = np.load(path)
    model = build_model(name)
    load_weights(model, rule_state_dict(model))
    tracker = Tracker(model, device=device, amp=amp)
    tracker.step(clip["frames"][0], mask=ref["label"])
    logits = tracker.step(clip["frames"][1]).logits
    used = int(ref["obj_num"]) + 1
    return float(np.abs(logits.numpy()[:used] - ref["logits_1"][:used]).max())


COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")
"""``--compile`` choices: ``torch.compile`` modes (``reduce-overhead`` adds CUDA graphs)."""


def compile_stages(tracker: Tracker, mode: str) -> None:
    """Replace the encoder, propagation and decoder of the tracker's model (its own optimised
    copy) by ``torch.compile``'d versions; ``"none"`` leaves them."""
    if mode == "none":
        return
    model = tracker.model
    for name in ("encoder", "LSTT", "decoder"):
        setattr(model, name, torch.compile(getattr(model, name), mode=mode))


def run_one(name: str, height: int, width: int, objects: int, frames: int, warmup: int,
            device: str, amp: bool, reference: Path | None,
            compile_mode: str = "none") -> BenchResult:
    """Time ``frames`` tracked frames after ``warmup`` untimed ones (compilation, if any,
    happens in the warm-up)."""
    model = build_model(name)
    load_weights(model, rule_state_dict(model))
    video, first = shapes_clip(frames + warmup + 1, height, width, objects)
    tracker = Tracker(model, device=device, amp=amp)
    compile_stages(tracker, compile_mode)
    _peak_rss_reset()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    tracker.step(video[0], mask=first)
    for t in range(1, warmup + 1):
        tracker.step(video[t])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for t in range(warmup + 1, warmup + 1 + frames):
        tracker.step(video[t])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else _peak_rss_mib())
    error = _logit_error(name, reference, device, amp) if reference is not None else None
    return BenchResult(name, height, width, objects, frames, elapsed / frames, peak,
                       tracker.memory_bytes / 2**20, error)


def format_table(results: list[BenchResult], device: str) -> str:
    """Markdown table of the results: only what this run measured.

    (The original implementation cannot run here, so no speed-up against it is printed: a
    figure measured on another day is not comparable; see the README for side-by-side runs.)
    """
    peak = "peak GPU MiB" if device.startswith("cuda") else "peak RSS MiB"
    lines = [f"| model | frame | objects | frames/s | s/frame | {peak} | memory MiB | "
             "max logit error |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r.model} | {r.height}x{r.width} | {r.objects} | {r.fps:.2f} | "
            f"{r.seconds_per_frame:.4f} | {r.peak_rss_mib:.0f} | {r.tracker_mib:.1f} | "
            f"{'' if r.max_logit_error is None else f'{r.max_logit_error:.1e}'} |")
    return "\n".join(lines)


def device_line(device: str, amp: bool, compile: str) -> str:
    """What the table was measured on: device, threads, torch, precision, compilation."""
    return (f"device: {device} ({torch.get_num_threads()} threads of {os.cpu_count()} CPUs), "
            f"torch {torch.__version__}, {'mixed precision' if amp else 'float32'}, "
            f"compile={compile}{_device_name(device)}")


def _device_name(device: str) -> str:
    """``, <GPU name>`` for a CUDA device, else empty."""
    if not device.startswith("cuda"):
        return ""
    return f", {torch.cuda.get_device_name(torch.device(device))}"
