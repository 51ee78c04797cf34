"""The command line end to end against the model alone, on the same clip in the same run.

    python samples/bench_end_to_end.py                      # 854x480 H.264, packaged model
    python samples/bench_end_to_end.py --size 1920x1080 --frames 60 --modes overlay,masks

Encodes a clip of moving shapes (``aotvideo.io.testclips``) with PyAV, then measures:

* **model only**: the frames decoded into memory beforehand, ``Tracker.step`` on each, the
  first-frame mask's included (the packaged model with the options ``aotvideo track`` uses by
  default), labels only;
* **CLI**: ``aotvideo track CLIP --mask FIRST.png -o OUT`` in a fresh process for each output
  mode, frames/s as its ``--report`` gives it (decoding, tracking, rendering and encoding;
  model loading excluded).

Prints a Markdown table with both and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

import aotvideo
from aotvideo.io.masks import write_palette_png
from aotvideo.io.testclips import scene, write_clip

OUTPUTS = {"overlay": "out.mp4", "matte": "matte.mp4", "alpha": "alpha.mov", "masks": "masks"}


def model_only(clip: Path, mask: np.ndarray, threads: int) -> tuple[float, str]:
    """Frames/s of the packaged model's tracker over the decoded clip, and its precision."""
    torch.set_num_threads(threads)
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    tracker = aotvideo.Tracker(aotvideo.load_model())
    start = time.perf_counter()  # from the first frame on, as the CLI's report counts
    tracker.step(frames[0], mask=mask)
    for frame in frames[1:]:
        tracker.step(frame).labels.numpy()
    return len(frames) / (time.perf_counter() - start), tracker.precision


def cli(clip: Path, mask_png: Path, spec: str, folder: Path, threads: int) -> float:
    """Frames/s of ``aotvideo track`` writing ``spec`` (``MODE`` or ``MODE@PRESET`` for an
    x264 preset), from its report."""
    mode, _, preset = spec.partition("@")
    report = folder / f"{mode}-{preset}.json"
    command = [sys.executable, "-m", "aotvideo", "track", str(clip), "--mask", str(mask_png),
               "-o", str(folder / OUTPUTS[mode]), "--mode", mode, "--report", str(report), "-q"]
    if preset:
        command += ["--preset", preset]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run(command, check=True, env=env)
    return float(json.loads(report.read_text())["fps"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="854x480", help="WxH of the clip")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--objects", type=int, default=3)
    parser.add_argument("--modes", default="overlay,overlay@veryfast,matte,alpha,masks",
                        help="output modes; MODE@PRESET adds --preset PRESET (x264)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pairs = list(scene(width, height, args.frames, objects=args.objects))
        clip = folder / "clip.mp4"
        write_clip(clip, [frame for frame, _ in pairs])
        mask_png = folder / "first.png"
        write_palette_png(mask_png, pairs[0][1].astype(np.uint8))
        fps_model, precision = model_only(clip, pairs[0][1], args.threads)
        rows = [f"| model only (Tracker.step, labels) | {fps_model:.2f} | 1.00 |"]
        for spec in args.modes.split(","):
            fps = cli(clip, mask_png, spec, folder, args.threads)
            mode, _, preset = spec.partition("@")
            option = f" --preset {preset}" if preset else ""
            rows.append(f"| `aotvideo track --mode {mode}{option}` | {fps:.2f} | "
                        f"{fps / fps_model:.2f} |")
    print(f"{width}x{height}, {args.frames} frames, {args.objects} objects, packaged model, "
          f"{precision}, {args.threads} threads, torch {torch.__version__}")
    print("| what | frames/s | of model only |")
    print("|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
