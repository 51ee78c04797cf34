"""Per-object IoU of the Quick start's sample clip: what a new user sees first, in numbers.

    python samples/sample_iou.py                                   # the packaged model
    python samples/sample_iou.py --weights CKPT --min-short-edge none,400

Tracks ``samples/sample.mp4`` from ``samples/sample_mask.png`` with the tracker's defaults (or
the weights and network-input minimum given) and prints, for the circle, the square and the
triangle, the mean, median and lowest IoU over the frames after the first against the exact
shapes ``samples/make_sample.py`` drew, and the frames/s.  ``tests/test_default_model.py``
holds the packaged model to a mean and median of 0.85 for every shape.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import aotvideo
from aotvideo.io.masks import read_mask
from aotvideo.io.reader import VideoReader
from aotvideo.io.testclips import scene
from aotvideo.zoo import resolve_weights

HERE = Path(__file__).resolve().parent
SHAPES = ("circle", "square", "triangle")


def _minimum(text: str) -> int | None | str:
    return "auto" if text == "auto" else None if text == "none" else int(text)


def sample_ious(weights: Path, min_short_edge: int | None | str) -> tuple[np.ndarray, float]:
    """(frames - 1, 3) IoU of each shape in every frame after the first, and frames/s."""
    with VideoReader(str(HERE / "sample.mp4")) as reader:
        frames = [f.image for f in reader.frames()]
    truth = [labels for _, labels in scene(320, 180, len(frames), objects=3, seed=0)]
    model = aotvideo.load_weights(aotvideo.build_model("deaott"), weights)
    tracker = aotvideo.Tracker(model, device="cpu", min_short_edge=min_short_edge)
    mask = read_mask(HERE / "sample_mask.png")
    start = time.perf_counter()
    labels = [tracker.step(f, mask=mask if i == 0 else None).labels.numpy()
              for i, f in enumerate(frames)]
    fps = len(frames) / (time.perf_counter() - start)
    ious = [[((l == k) & (t == k)).sum() / ((l == k) | (t == k)).sum() for k in (1, 2, 3)]
            for l, t in zip(labels[1:], truth[1:])]
    return np.array(ious), fps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, action="append",
                        help="deaott weights (repeat to compare; default: the packaged model)")
    parser.add_argument("--min-short-edge", default="auto",
                        help="comma-separated minima of the network input's short edge: "
                             "auto (what the weights prefer), none or pixels [default: auto]")
    args = parser.parse_args()
    weights = args.weights or [resolve_weights("deaott", None)]
    print("| weights | min short edge | " + " | ".join(
        f"{s} mean / median / min" for s in SHAPES) + " | frames/s |")
    print("|---|---|" + "---|" * len(SHAPES) + "---|")
    for path in weights:
        for text in args.min_short_edge.split(","):
            ious, fps = sample_ious(path, _minimum(text.strip()))
            cells = [f"{ious[:, k].mean():.3f} / {np.median(ious[:, k]):.3f} / "
                     f"{ious[:, k].min():.3f}" for k in range(3)]
            print(f"| {path.name} | {text} | " + " | ".join(cells) + f" | {fps:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
