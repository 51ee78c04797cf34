"""Tracking speed and memory benchmark: ``python -m aotvideo.bench``.

Prints a table with frames/s, seconds per frame, peak resident memory and the tracker's memory
per model variant, input size and object count.  Weights are the reference rule's
deterministic ones (speed does not depend on their values); frames are a synthetic clip of
moving discs over a textured background, so no download is needed.

With ``--reference-data DIR`` (``shared/reference``) the variants that have a reference run are
also checked for equal outputs: the largest difference of the first propagated frame's logits.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import Tracker, build_model, load_weights
from .io.testclips import scene
from .models.synthetic import synthetic_state_dict

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


def synthetic_clip(frames: int, height: int, width: int, objects: int,
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
    load_weights(model, synthetic_state_dict(model))
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
    load_weights(model, synthetic_state_dict(model))
    video, first = synthetic_clip(frames + warmup + 1, height, width, objects)
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


def _device_name(device: str) -> str:
    """``, <GPU name>`` for a CUDA device, else empty."""
    if not device.startswith("cuda"):
        return ""
    return f", {torch.cuda.get_device_name(torch.device(device))}"


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aotvideo.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="deaott,aott", help="comma-separated variants")
    parser.add_argument("--sizes", default="360x640", help="frame sizes HxW, comma-separated")
    parser.add_argument("--objects", default="3", help="object counts, comma-separated")
    parser.add_argument("--frames", type=int, default=10, help="timed frames per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames after the first")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision (bfloat16 on CPUs, float16 on CUDA); else float32")
    parser.add_argument("--compile", default="none", choices=COMPILE_MODES,
                        help="torch.compile the encoder, propagation and decoder in this mode")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--reference-data", type=Path, default=None,
                        help="shared/reference folder: also report the logit error")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = []
    for name in args.models.split(","):
        for size in args.sizes.split(","):
            for objects in args.objects.split(","):
                height, width = _size(size)
                results.append(run_one(name.strip(), height, width, int(objects), args.frames,
                                       args.warmup, args.device, args.amp, args.reference_data,
                                       args.compile))
                print(f"done {results[-1].model} {size} {objects}", file=sys.stderr, flush=True)
    cpu = os.cpu_count()
    print(f"device: {args.device} ({torch.get_num_threads()} threads of {cpu} CPUs), "
          f"torch {torch.__version__}, {'mixed precision' if args.amp else 'float32'}, "
          f"compile={args.compile}{_device_name(args.device)}")
    print(format_table(results, args.device))
    return 0


if __name__ == "__main__":
    sys.exit(main())
