"""What tracking each object alone costs: frames/s by objects per identity group and object count.

    python samples/bench_identity_groups.py                  # packaged model, 854x480, 1-8 objects
    python samples/bench_identity_groups.py --objects 1,3,5 --frames 30 --groups 10,2,1

Objects are copies of the project's procedural shapes (:func:`aotvideo.io.testclips.scene`, up
to five per scene; more objects are the shapes of a second scene placed beside them), tracked
with the packaged model at its preferred input size and precision.  Every configuration tracks
the same frames in this one process, so the ratios are comparable; the first frame (the mask)
is not timed.  Prints a Markdown table: frames/s per (objects, group size) and the cost of each
grouping relative to the original's 10 per group.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

import aotvideo
from aotvideo.io.testclips import scene
from aotvideo.models.inference import optimize_for_inference


def clip(objects: int, frames: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames (T, H, W, 3) with ``objects`` tracked shapes: two scenes side by side when more
    than five are asked for."""
    left = min(objects, 5)
    parts = [(left, 0)] + ([(objects - left, 1)] if objects > left else [])
    half = width // len(parts)
    images, labels = [], []
    for count, seed in parts:
        pairs = list(scene(half, height, frames, objects=count, seed=seed))
        images.append(np.stack([f for f, _ in pairs]))
        offset = 0 if seed == 0 else left
        labels.append(np.stack([np.where(l > 0, l + offset, 0) for _, l in pairs]))
    return np.concatenate(images, axis=2), np.concatenate(labels, axis=2)


def frames_per_second(model: aotvideo.models.AOTModel, frames: np.ndarray, first: np.ndarray,
                      per_group: int) -> float:
    tracker = aotvideo.Tracker(model, "cpu", objects_per_group=per_group)
    tracker.step(frames[0], mask=first)
    start = time.perf_counter()
    for frame in frames[1:]:
        tracker.step(frame)
    return (len(frames) - 1) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", default="1,2,4,8")
    parser.add_argument("--groups", default="10,1")
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--size", default="854x480")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    groups = [int(g) for g in args.groups.split(",")]
    model = optimize_for_inference(aotvideo.load_model())
    rows = []
    for count in (int(n) for n in args.objects.split(",")):
        frames, labels = clip(count, args.frames + 1, width, height)
        speeds = {g: frames_per_second(model, frames, labels[0], g) for g in groups}
        base = speeds.get(10, speeds[groups[0]])
        cells = " | ".join(f"{speeds[g]:.2f} ({speeds[g] / base:.2f}x)" for g in groups)
        rows.append(f"| {count} | {cells} |")
        print(rows[-1], file=sys.stderr, flush=True)
    print(f"{width}x{height}, {args.frames} timed frames, {args.threads} threads, packaged model")
    print("| objects | " + " | ".join(f"{g} per group: frames/s (vs 10)" for g in groups) + " |")
    print("|---|" + "---|" * len(groups))
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
