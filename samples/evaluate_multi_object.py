"""Multi-object validation: same-kind objects that cross and occlude, from held-out data only.

    python samples/evaluate_multi_object.py                        # packaged model, default modes
    python samples/evaluate_multi_object.py --weights CKPT --groups 10,1 --short-edges auto,480
    python samples/evaluate_multi_object.py --groups 1 --min-short-edges none,auto

Three sets, all built at run time from ``../shared/datasets`` (nothing is copied into the
project; the held-out names are fixed in :mod:`aotvideo.training.holdout`):

* ``coco-same-kind``: the 24 COCO128 images of ``COCO128_HOLDOUT``; 2-6 instances of each
  (mostly of one kind: people, animals, vehicles, food), some with a mirrored twin, moving
  independently over another held-out image, crossing and occluding each other
  (:func:`aotvideo.training.instances.animate_instances`), 640x360, 30 frames;
* ``ecssd-single``: 20 of the held-out ECSSD images, one object moving over another held-out
  image: the single-object check;
* ``davis-twins``: the six held-out DAVIS 2016 sequences (``DAVIS2016_HOLDOUT``, first 40
  frames), each with a same-kind distractor that is tracked too: the sequence's own object,
  mirrored and a third of the clip later in time, pasted over it.

Every set is tracked once per mode (identity-group size x input short edge x smallest input
short edge -- the 640x360 clips are enlarged where the weights ask for 400 -- x long-term gap) and
scored per object (DAVIS-toolkit-identical J&F, first and last frames not scored), with identity
swaps and lost objects counted by :mod:`aotvideo.evaluation.identity` (a run of 3 or more
frames).  Prints Markdown tables.  Figures are only honest for weights trained without the
held-out images and sequences (the packaged v4 saw the DAVIS sequences, not the still images).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

import aotvideo
from aotvideo.evaluation.identity import IdentitySummary, identity_events, summarize_identity
from aotvideo.evaluation.metrics import sequence_scores
from aotvideo.models.inference import optimize_for_inference
from aotvideo.models.model import AOTModel
from aotvideo.training.datasets import read_image, read_labels
from aotvideo.training.holdout import COCO128_HOLDOUT, DAVIS2016_HOLDOUT, ECSSD_HOLDOUT
from aotvideo.training.instances import InstanceMotion, animate_instances

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"
SETS = ("coco-same-kind", "ecssd-single", "davis-twins")
CANVAS = (360, 640)
FRAMES = 30
DAVIS_FRAMES = 40


@dataclass(frozen=True)
class ValClip:
    """One validation clip: frames (T, H, W, 3) uint8, labels (T, H, W) uint8."""

    name: str
    frames: np.ndarray
    labels: np.ndarray
    num_objects: int


def _still(root: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    return (read_image(root / "JPEGImages" / f"{name}.jpg"),
            read_labels(root / "Annotations" / f"{name}.png"))


def still_clips(root: Path, names: tuple[str, ...], motion: InstanceMotion, *, seed: int,
                background_step: int, single: bool = False) -> Iterator[ValClip]:
    """One clip per picture of ``names``: its instances (all as one object when ``single``)
    animated over the picture ``background_step`` names further on, drawn from ``(seed, i)``."""
    for i, name in enumerate(names):
        image, labels = _still(root, name)
        if single:
            labels = (labels > 0).astype(np.uint8)
        background, _ = _still(root, names[(i + background_step) % len(names)])
        clip = animate_instances(image, labels, background, np.random.default_rng([seed, i]),
                                 frames=FRAMES, size=CANVAS, motion=motion)
        yield ValClip(f"{root.name}-{name}", clip.frames, clip.labels, clip.num_objects)


def coco_clips(root: Path) -> Iterator[ValClip]:
    motion = InstanceMotion(min_objects=2, max_objects=6, travel=(0.2, 0.6),
                            object_scale=(0.3, 0.6))
    return still_clips(root, COCO128_HOLDOUT, motion, seed=0xC0C0, background_step=7)


def ecssd_clips(root: Path) -> Iterator[ValClip]:
    motion = InstanceMotion(min_objects=1, max_objects=1, twin_prob=0.0, travel=(0.2, 0.5),
                            object_scale=(0.4, 0.7))
    return still_clips(root, ECSSD_HOLDOUT[::5], motion, seed=0xEC55, background_step=3,
                       single=True)


def davis_twin_clips(root: Path) -> Iterator[ValClip]:
    for name in DAVIS2016_HOLDOUT:
        images = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))[:DAVIS_FRAMES]
        masks = sorted((root / "Annotations" / "480p" / name).glob("*.png"))[:DAVIS_FRAMES]
        frames = np.stack([read_image(p) for p in images])
        objects = np.stack([read_labels(p) > 0 for p in masks])
        shift = len(frames) // 3
        out_frames, out_labels = frames.copy(), objects.astype(np.uint8)
        for t in range(len(frames)):
            s = min(t + shift, len(frames) - 1)
            twin = objects[s, :, ::-1]
            out_frames[t][twin] = frames[s, :, ::-1][twin]
            out_labels[t][twin] = 2
        yield ValClip(f"davis-{name}", out_frames, out_labels,
                      int(out_labels[0].max(initial=0)))


@dataclass(frozen=True)
class Mode:
    """Tracker options of one run."""

    objects_per_group: int
    short_edge: int | None
    long_term_gap: int | None
    min_short_edge: int | None | str = "auto"

    @property
    def label(self) -> str:
        edge = "auto" if self.short_edge is None else str(self.short_edge)
        gap = "model" if self.long_term_gap is None else str(self.long_term_gap)
        least = "none" if self.min_short_edge is None else str(self.min_short_edge)
        return f"{self.objects_per_group} | {edge} | {least} | {gap}"


@dataclass
class SetResult:
    j: list[float]
    f: list[float]
    identity: IdentitySummary
    frames: int = 0
    seconds: float = 0.0


def track_clip(model: AOTModel, clip: ValClip, mode: Mode) -> tuple[np.ndarray, float]:
    """Predicted labels (T, H, W) of ``clip`` and the tracking time in seconds."""
    options: dict = {"objects_per_group": mode.objects_per_group,
                     "min_short_edge": mode.min_short_edge}
    if mode.short_edge is not None:
        options["max_short_edge"] = mode.short_edge
    if mode.long_term_gap is not None:
        options["long_term_gap"] = mode.long_term_gap
    tracker = aotvideo.Tracker(model, "cpu", **options)
    predictions = np.zeros_like(clip.labels)
    start = time.perf_counter()
    for t, frame in enumerate(clip.frames):
        result = tracker.step(frame, mask=clip.labels[0] if t == 0 else None)
        predictions[t] = result.labels.numpy()
    return predictions, time.perf_counter() - start


def score_clip(clip: ValClip, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                  IdentitySummary]:
    """Per-object mean J and F over frames 1..T-2, and the identity summary of the clip."""
    inner = slice(1, len(clip.labels) - 1)
    j, f = sequence_scores(clip.labels[inner], predictions[inner], clip.num_objects)
    states = identity_events(clip.labels[1:], predictions[1:], clip.num_objects)
    return j.mean(axis=1), f.mean(axis=1), summarize_identity(states)


def clips_of(name: str, datasets: Path) -> Iterator[ValClip]:
    static = datasets / "static-images"
    if name == "coco-same-kind":
        return coco_clips(static / "coco128")
    if name == "ecssd-single":
        return ecssd_clips(static / "ecssd")
    return davis_twin_clips(datasets / "davis2016-train")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None,
                        help="deaott checkpoint (default: the installed or packaged one)")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--groups", default="10,1",
                        help="objects per identity group, comma-separated")
    parser.add_argument("--short-edges", default="auto",
                        help="network input short edges, comma-separated, or auto")
    parser.add_argument("--min-short-edges", default="auto",
                        help="smallest network input short edges (smaller clips are enlarged), "
                             "comma-separated: auto (what the weights prefer), none or pixels")
    parser.add_argument("--gaps", default="model",
                        help="long-term memory gaps, comma-separated, or model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--per-clip", action="store_true", help="print a row per clip too")
    args = parser.parse_args()
    if not args.datasets.is_dir():
        raise SystemExit(f"datasets folder not found: {args.datasets}")
    torch.set_num_threads(args.threads)
    model = optimize_for_inference(aotvideo.load_model("deaott", args.weights))
    modes = [Mode(int(g), None if e == "auto" else int(e), None if p == "model" else int(p),
                  "auto" if m == "auto" else None if m == "none" else int(m))
             for g, e, p, m in itertools.product(args.groups.split(","),
                                                args.short_edges.split(","),
                                                args.gaps.split(","),
                                                args.min_short_edges.split(","))]
    rows, clip_rows = [], []
    for set_name in [s for s in args.sets.split(",") if s]:
        for mode in modes:
            result = SetResult([], [], IdentitySummary(0, 0, 0, 0.0, 0.0))
            for clip in clips_of(set_name, args.datasets):
                if clip.num_objects == 0:
                    continue
                predictions, seconds = track_clip(model, clip, mode)
                j, f, identity = score_clip(clip, predictions)
                result.j += j.tolist()
                result.f += f.tolist()
                result.identity = result.identity + identity
                result.frames += len(clip.frames)
                result.seconds += seconds
                clip_rows.append(f"| {set_name} | {mode.label} | {clip.name} | "
                                 f"{clip.num_objects} | {np.mean((j + f) / 2):.3f} | "
                                 f"{identity.swapped} | {identity.lost} |")
            j, f = np.mean(result.j), np.mean(result.f)
            rows.append(f"| {set_name} | {mode.label} | {result.identity.objects} | "
                        f"{(j + f) / 2:.3f} | {j:.3f} | {f:.3f} | "
                        f"{result.identity.swapped} | {result.identity.lost} | "
                        f"{result.identity.swapped_frames:.3f} | "
                        f"{result.identity.lost_frames:.3f} | "
                        f"{result.frames / result.seconds:.2f} |")
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"weights: {args.weights or 'packaged/installed deaott'}")
    print("| set | objects per group | input short edge | min short edge | long-term gap | objects "
          "| J&F | J | F "
          "| swapped objects | lost objects | swapped frames | lost frames | frames/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.per_clip:
        print()
        print("| set | objects per group | input short edge | min short edge | long-term gap "
              "| clip | objects | J&F | swapped | lost |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(clip_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
