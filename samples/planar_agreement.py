"""Tracking from the decoder's YUV planes against tracking from RGB frames, on real footage.

    python samples/planar_agreement.py                       # 1080p, six DAVIS sequences
    python samples/planar_agreement.py --size 3840x2160 --frames 30

``aotvideo track`` makes the network's input from a frame's YUV 4:2:0 planes (resized, then
converted at the small size: :meth:`aotvideo.io.Yuv420Image.network_input`); the Tracker API
given RGB arrays converts the whole frame first, then resizes. The two inputs differ by rounding.
This script shows what that does to the results: each DAVIS 2016 train sequence (from
``../shared``, read at run time) is scaled to the size, encoded as H.264, decoded both ways and
tracked from its first annotation with the packaged model; it prints, per sequence, the mean
IoU between the two routes' masks and each route's J&F against the annotations (scaled the same
way). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from aotvideo.evaluation.metrics import boundary_f_measure, region_similarity
from aotvideo.io.masks import read_mask
from aotvideo.io.testclips import write_clip
from aotvideo.io.yuv import Yuv420Image
from aotvideo.tracking.builder import TrackerSpec, build_tracker

DAVIS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "davis2016-train"
SEQUENCES = "bmx-bumps,dance-jump,horsejump-low,kite-walk,mallard-water,tennis"


def _footage(sequence: str, width: int, height: int, frames: int
             ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images = sorted((DAVIS / "JPEGImages" / "480p" / sequence).glob("*.jpg"))[:frames]
    rgb, truth = [], []
    for path in images:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        rgb.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC))
        mask = read_mask(DAVIS / "Annotations" / "480p" / sequence / path.with_suffix(".png").name)
        truth.append(cv2.resize((mask > 0).astype(np.uint8), (width, height),
                                interpolation=cv2.INTER_NEAREST))
    return rgb, truth


def _track(pictures: list, first: np.ndarray) -> list[np.ndarray]:
    tracker = build_tracker(TrackerSpec())
    return [tracker.step(p, mask=first if i == 0 else None).label_map.numpy() > 0
            for i, p in enumerate(pictures)]


def _j_and_f(truth: list[np.ndarray], masks: list[np.ndarray]) -> float:
    gt, pred = np.stack(truth[1:]) > 0, np.stack(masks[1:])
    return float((region_similarity(gt, pred).mean() + boundary_f_measure(gt, pred).mean()) / 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1920x1080")
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--sequences", default=SEQUENCES)
    args = parser.parse_args()
    if not DAVIS.is_dir():
        print(f"needs DAVIS 2016 train at {DAVIS}", file=sys.stderr)
        return 1
    width, height = (int(v) for v in args.size.lower().split("x"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sequence in args.sequences.split(","):
            rgb, truth = _footage(sequence, width, height, args.frames)
            clip = Path(tmp) / f"{sequence}.mp4"
            write_clip(clip, rgb, options={"preset": "veryfast", "crf": "18"})
            with av.open(str(clip)) as container:
                decoded = list(container.decode(video=0))
            first = truth[0].astype(np.int64)
            from_rgb = _track([f.to_ndarray(format="rgb24") for f in decoded], first)
            from_planes = _track([Yuv420Image.from_video_frame(f) for f in decoded], first)
            both = np.stack(from_rgb[1:]), np.stack(from_planes[1:])
            agreement = float(region_similarity(*both).mean())
            rows.append((sequence, agreement, _j_and_f(truth, from_rgb),
                         _j_and_f(truth, from_planes)))
            print(f"done {sequence}", file=sys.stderr, flush=True)
    print(f"{args.frames} frames per sequence at {width}x{height}, H.264 CRF 18, packaged model")
    print()
    print("| sequence | IoU planes vs RGB | J&F from RGB | J&F from planes |")
    print("|---|---|---|---|")
    for sequence, agreement, jf_rgb, jf_planes in rows:
        print(f"| {sequence} | {agreement:.4f} | {jf_rgb:.3f} | {jf_planes:.3f} |")
    means = np.mean([r[1:] for r in rows], axis=0)
    print(f"| **mean** | {means[0]:.4f} | {means[1]:.3f} | {means[2]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
