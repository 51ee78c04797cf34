"""What bfloat16 (``amp``) does to the masks on real footage, against float32.

    python samples/measure_bf16.py                       # the packaged model, 10 DAVIS 2016 videos
    python samples/measure_bf16.py --weights CKPT --sequences bear,boat

Tracks every frame of each sequence of ``../shared/datasets/davis2016-train`` twice with the
same weights -- float32 and bfloat16 autocast (``Tracker(amp=True)``) -- and prints, per
sequence and over all: the share of label pixels on which the two agree (every frame after
the first-frame mask), J&F of each (DAVIS-toolkit-identical, first and last frames not scored)
and the frames/s of each.  The default set is the project's six held-out sequences plus four
others; nothing of the dataset is copied into the project.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aotvideo.evaluation.datasets import DavisDataset
from aotvideo.tracking.builder import TrackerSpec
from aotvideo.evaluation.scoring import track_and_score
from aotvideo.training.holdout import DAVIS2016_HOLDOUT

sys.path.insert(0, str(Path(__file__).resolve().parent))
import evaluate_real_footage as real  # noqa: E402  (a sibling script, not a package)

DEFAULT_SEQUENCES = (*DAVIS2016_HOLDOUT, "bear", "car-turn", "lucia", "stroller")


def agreement(first: Path, second: Path) -> tuple[int, int]:
    """(equal pixels, pixels) of the label PNGs of two runs, the first frame left out."""
    frames = sorted(first.glob("*.png"))[1:]
    equal = total = 0
    for path in frames:
        a = np.asarray(Image.open(path))
        b = np.asarray(Image.open(second / path.name))
        equal += int((a == b).sum())
        total += a.size
    return equal, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    real.add_common_arguments(parser, DEFAULT_SEQUENCES, "bf16-eval")
    args = parser.parse_args()
    weights, sequences = real.setup(args)
    dataset = DavisDataset(args.davis_root, 2016, "train", "480p")
    runs = {}
    for name, amp in (("float32", False), ("bfloat16", True)):
        spec = TrackerSpec("deaott", str(weights), amp=amp)
        results, report = track_and_score(dataset, args.out / name, spec, sequences=sequences)
        per_sequence = {obj.split("_")[0]: (j + f) / 2
                        for obj, j, f in report.per_sequence_results()}
        runs[name] = (results, per_sequence)
    rows, equal_all, total_all = [], 0, 0
    for sequence in sequences:
        equal, total = agreement(args.out / "float32" / sequence, args.out / "bfloat16" / sequence)
        equal_all, total_all = equal_all + equal, total_all + total
        jf32, jf16 = runs["float32"][1][sequence], runs["bfloat16"][1][sequence]
        rows.append(f"| {sequence} | {equal / total:.4%} | {jf32:.3f} | {jf16:.3f} | "
                    f"{jf16 - jf32:+.3f} |")
    (r32, _), (r16, _) = runs["float32"], runs["bfloat16"]
    print(f"weights: {weights}; {args.threads} threads; torch {torch.__version__}")
    print("| sequence | label agreement | J&F float32 | J&F bfloat16 | change |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"| **all ({int(r32['frames'])} frames)** | **{equal_all / total_all:.4%}** | "
          f"**{r32['J&F-Mean']:.4f}** | **{r16['J&F-Mean']:.4f}** | "
          f"**{r16['J&F-Mean'] - r32['J&F-Mean']:+.4f}** |")
    print(f"frames/s (tracking only): float32 {r32['fps']:.2f}, bfloat16 {r16['fps']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
