"""Make the sample clip and its first-frame mask (all drawn here: no third-party media).

    python samples/make_sample.py          # writes samples/sample.mp4 and samples/sample_mask.png

The clip is 3 s of 320x180 at 24 fps: three shapes (a disc, a square, a triangle) moving and
turning over a textured background, with a quiet 440 Hz tone as audio. The mask is a palette PNG
in the DAVIS palette with the three objects (ids 1, 2, 3) of frame 0. The output is
deterministic for a given PyAV/FFmpeg build.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from aotvideo.io.masks import write_palette_png
from aotvideo.io.testclips import scene, write_clip

HERE = Path(__file__).resolve().parent


def make(folder: Path = HERE, *, width: int = 320, height: int = 180, fps: int = 24,
         seconds: float = 3.0) -> tuple[Path, Path]:
    """Write ``sample.mp4`` and ``sample_mask.png`` into ``folder``; return their paths."""
    frames, masks = zip(*scene(width, height, int(round(seconds * fps)), objects=3, seed=0))
    video = folder / "sample.mp4"
    mask = folder / "sample_mask.png"
    write_clip(video, list(frames), fps=fps, audio_seconds=seconds,
               options={"preset": "slow", "crf": "23"})
    write_palette_png(mask, masks[0])
    return video, mask


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into")
    args = parser.parse_args()
    for path in make(args.out):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
