"""Mean IoU of the box-to-mask methods (GrabCut, the learnt head) on the held-out DAVIS videos.

    python samples/evaluate_box_masks.py --davis-root ../shared/datasets/davis2016-train

Scores every 5th frame of each video of ``aotvideo.training.holdout.DAVIS2016_HOLDOUT`` (which
the shipped head never trained on) with the ground truth's tight box and with a jittered box,
and prints a Markdown table. ``--weights`` scores another head file (e.g. a training export).
"""
from __future__ import annotations

import argparse
import time

import torch

from aotvideo.boxmask import BoxSegmenter, GrabCutConfig, SegmenterConfig
from aotvideo.boxmask.evaluate import markdown_table, score_methods
from aotvideo.training.holdout import DAVIS2016_HOLDOUT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--davis-root", default="../shared/datasets/davis2016-train")
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--weights", help="head weights file (default: the packaged one)")
    parser.add_argument("--no-flip", action="store_true", help="head without the mirrored pass")
    parser.add_argument("--methods", default="grabcut,head")
    parser.add_argument("--grabcut-max-side", type=int, default=GrabCutConfig().max_side,
                        help="GrabCut's working picture size (default: as shipped)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    segmenters = {
        "grabcut": lambda: BoxSegmenter(SegmenterConfig(
            method="grabcut", grabcut=GrabCutConfig(max_side=args.grabcut_max_side))),
        "head": lambda: BoxSegmenter(SegmenterConfig(method="head", flip=not args.no_flip),
                                     weights=args.weights),
        "auto": lambda: BoxSegmenter(SegmenterConfig(method="auto", flip=not args.no_flip),
                                     weights=args.weights),
    }
    methods = {}
    for name in args.methods.split(","):
        segmenter = segmenters[name]()
        methods[name] = lambda image, box, s=segmenter: s.masks(image, [box])[0]
    started = time.monotonic()
    scores = score_methods(args.davis_root, DAVIS2016_HOLDOUT, methods, every=args.every)
    print(markdown_table(scores))
    print(f"\n({len(scores)} scores in {time.monotonic() - started:.0f} s; every {args.every}th frame "
          f"of {', '.join(DAVIS2016_HOLDOUT)})")


if __name__ == "__main__":
    main()
