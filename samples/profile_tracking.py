"""Where the time of one tracked frame goes: a per-stage table and the busiest operators.

    python samples/profile_tracking.py                              # deaott, 353x641, 3 objects
    python samples/profile_tracking.py --model aott --size 480x854 --amp

Tracks a synthetic clip (the benchmark's moving shapes; weights as in ``aotvideo bench``) and
times every stage of :meth:`aotvideo.Tracker.step` by wrapping the model's stage methods and
the tracker's helpers of the same session: encoder, propagation, decoder, memory fusion and
identity embedding, frame normalisation, probability upsampling + softmax, argmax, and the copy
of the result to the CPU.  Then one ``torch.profiler`` pass lists the operators that took the
most time.  Seconds are per frame, averaged over ``--frames`` frames after ``--warmup``.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from aotvideo.models import build_model, load_weights
from aotvideo.tracking import Tracker
from aotvideo.speed import shapes_clip
from aotvideo.models.rule_weights import rule_state_dict
from aotvideo.tracking import tracker as tracker_module

TIMES: dict[str, float] = defaultdict(float)


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` that adds its wall-clock time to ``TIMES[name]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            TIMES[name] += time.perf_counter() - start
    return wrapper


def instrument(tracker: Tracker) -> None:
    """Wrap the stages of this tracker's model and of the tracker module."""
    model = tracker.model
    for method, label in (("encode_image", "encoder"), ("propagate", "propagation"),
                          ("decode", "decoder"), ("fuse_memory", "memory fusion"),
                          ("identity_embedding", "identity embedding"),
                          ("identity_embedding_of_labels", "identity embedding")):
        setattr(model, method, timed(label, getattr(model, method)))
    tracker_module.normalize_frame = timed("normalise frame", tracker_module.normalize_frame)
    tracker_module.channel_argmax = timed("argmax", tracker_module.channel_argmax)
    tracker_module.resize_labels = timed("resize labels", tracker_module.resize_labels)
    original_interpolate = F.interpolate
    tracker_module.F = _FunctionalProxy(timed("upsample logits", original_interpolate))
    tracker._result = timed("result to CPU", tracker._result)


class _FunctionalProxy:
    """``torch.nn.functional`` with ``interpolate`` (and ``softmax`` callers) timed: only the
    tracker module sees it, so the model's own interpolations are not counted twice."""

    def __init__(self, interpolate: Callable[..., Any]) -> None:
        self.interpolate = interpolate

    def __getattr__(self, name: str) -> Any:
        return getattr(F, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="deaott")
    parser.add_argument("--size", default="353x641")
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--frames", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--ops", type=int, default=15, help="operators to list")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    height, width = (int(v) for v in args.size.lower().split("x"))
    model = build_model(args.model)
    load_weights(model, rule_state_dict(model))
    video, first = shapes_clip(args.frames * 2 + args.warmup + 1, height, width, args.objects)
    tracker = Tracker(model, device="cpu", amp=args.amp, max_short_edge=None,
                      max_long_edge=None)
    tracker.step(video[0], mask=first)
    for t in range(1, args.warmup + 1):
        tracker.step(video[t])
    instrument(tracker)
    start = time.perf_counter()
    timed_frames = range(args.warmup + 1, args.warmup + 1 + args.frames)
    for t in timed_frames:
        tracker.step(video[t])
    total = (time.perf_counter() - start) / args.frames
    print(f"{args.model}, {height}x{width}, {args.objects} objects, {args.threads} threads, "
          f"amp={args.amp}, torch {torch.__version__}: {total:.4f} s/frame "
          f"({1 / total:.2f} frames/s)")
    print("| stage | s/frame | share |")
    print("|---|---|---|")
    accounted = 0.0
    for name, seconds in sorted(TIMES.items(), key=lambda kv: -kv[1]):
        per_frame = seconds / args.frames
        accounted += per_frame
        print(f"| {name} | {per_frame:.4f} | {per_frame / total:.1%} |")
    print(f"| rest (tracker glue) | {total - accounted:.4f} | {(total - accounted) / total:.1%} |")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for t in range(args.warmup + 1 + args.frames, args.warmup + 1 + 2 * args.frames):
            tracker.step(video[t])
    print()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.ops))
    return 0


if __name__ == "__main__":
    sys.exit(main())
