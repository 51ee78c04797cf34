"""Measure a model on real footage it never trained on: held-out DAVIS 2016 train sequences.

    python samples/evaluate_real_footage.py                          # the packaged model
    python samples/evaluate_real_footage.py --weights CKPT --short-edges 240,360,480

Reads the DAVIS 2016 train folder from ``../shared/datasets/davis2016-train`` (or
``--davis-root``) at run time; nothing of it is copied into the project.  Two benchmarks:

* ``holdout``: the sequences of :data:`aotvideo.training.holdout.DAVIS2016_HOLDOUT` (or
  ``--sequences``) in the DAVIS 2016 protocol: first-frame mask, every later frame tracked, J&F
  of the frames between the first and the last, as the DAVIS toolkit scores them;
* ``composite`` (multi-object): held-out sequences pasted over each other, frame by frame (the
  later one's object with its own pixels over the earlier one's frames), so one clip holds two
  or three real objects that move independently and occlude each other; scored per object as
  DAVIS 2017 does.

Each is tracked once per network input size (``--short-edges``; ``auto`` = what the weights
prefer) and the script prints Markdown tables: J&F, J, F and frames/s per size, and J per
sequence.  Figures are only honest for weights that were trained without these sequences.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from aotvideo.evaluation.datasets import DavisDataset
from aotvideo.tracking.builder import TrackerSpec
from aotvideo.evaluation.scoring import track_and_score
from aotvideo.io.masks import write_palette_png
from aotvideo.training.datasets import read_image, read_labels
from aotvideo.training.holdout import DAVIS2016_HOLDOUT
from aotvideo.zoo import resolve_weights

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = REPO.parent / "shared" / "datasets" / "davis2016-train"
COMPOSITES: tuple[tuple[str, ...], ...] = (("horsejump-low", "dance-jump"),
                                           ("drift-turn", "soccerball", "dog-agility"))
"""Held-out sequences pasted into one clip each (the first is the background)."""


def _sequence(root: Path, name: str) -> tuple[list[Path], list[Path]]:
    images = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
    masks = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
    if not images or len(images) != len(masks):
        raise SystemExit(f"{root}: sequence {name} is missing or has unmatched frames/masks")
    return images, masks


def write_composites(root: Path, out: Path, groups: tuple[tuple[str, ...], ...]) -> list[str]:
    """DAVIS 2017 layout under ``out`` with one multi-object clip per group of sequences."""
    names = []
    for group in groups:
        name = "+".join(group)
        sources = [_sequence(root, seq) for seq in group]
        length = min(len(images) for images, _ in sources)
        image_dir = out / "JPEGImages" / "480p" / name
        label_dir = out / "Annotations" / "480p" / name
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        for t in range(length):
            frame = read_image(sources[0][0][t])
            labels = (read_labels(sources[0][1][t]) > 0).astype(np.uint8)
            for object_id, (images, masks) in enumerate(sources[1:], start=2):
                pasted = read_labels(masks[t]) > 0
                frame = np.where(pasted[..., None], read_image(images[t]), frame)
                labels[pasted] = object_id
            cv2.imwrite(str(image_dir / f"{t:05d}.jpg"), frame[:, :, ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            write_palette_png(label_dir / f"{t:05d}.png", labels)
        names.append(name)
    sets = out / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("".join(f"{n}\n" for n in names))
    return names


def evaluate(dataset: DavisDataset, sequences: list[str], out: Path, spec: TrackerSpec,
             ) -> tuple[dict[str, float], list[tuple[str, float, float]]]:
    """Track and score; returns the global figures (with ``fps``) and per-object J, F."""
    results, report = track_and_score(dataset, out, spec, sequences=sequences)
    return results, report.per_sequence_results()


def add_common_arguments(parser: argparse.ArgumentParser, sequences: tuple[str, ...],
                         out: str) -> None:
    """The options every real-footage script shares: weights, data, sequences, output, threads."""
    parser.add_argument("--weights", type=Path, default=None,
                        help="deaott checkpoint (default: the installed or packaged one)")
    parser.add_argument("--davis-root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--sequences", default=",".join(sequences))
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--threads", type=int, default=2)


def setup(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """Check the data folder, set the threads; returns the weights and the sequence names."""
    if not args.davis_root.is_dir():
        raise SystemExit(f"DAVIS 2016 train folder not found: {args.davis_root}")
    torch.set_num_threads(args.threads)
    return resolve_weights("deaott", args.weights), [s for s in args.sequences.split(",") if s]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser, DAVIS2016_HOLDOUT, "real-footage-eval")
    parser.add_argument("--short-edges", default="auto",
                        help="comma-separated network input short edges, or auto")
    parser.add_argument("--no-composite", action="store_true",
                        help="skip the multi-object composite clips")
    args = parser.parse_args()
    weights, sequences = setup(args)
    edges = [None if e == "auto" else int(e) for e in args.short_edges.split(",") if e]
    holdout = DavisDataset(args.davis_root, 2016, "train", "480p")
    benchmarks: list[tuple[str, DavisDataset, list[str]]] = [("holdout", holdout, sequences)]
    if not args.no_composite:
        data = args.out / "composite-data"
        names = write_composites(args.davis_root, data, COMPOSITES)
        benchmarks.append(("composite (per object)", DavisDataset(data, 2017, "val", "480p"),
                           names))
    rows, per_sequence = [], []
    for edge in edges:
        spec = TrackerSpec("deaott", str(weights), max_short_edge=edge)
        label = "auto" if edge is None else str(edge)
        for name, dataset, names in benchmarks:
            out = args.out / f"{name.split()[0]}-{label}"
            results, objects = evaluate(dataset, names, out, spec)
            rows.append(f"| {name} | {label} | {len(names)} | {int(results['frames'])} | "
                        f"{results['J&F-Mean']:.3f} | {results['J-Mean']:.3f} | "
                        f"{results['F-Mean']:.3f} | {results['fps']:.1f} |")
            per_sequence += [f"| {label} | {obj} | {j:.3f} | {f:.3f} |" for obj, j, f in objects]
    print(f"weights: {weights}")
    print("| benchmark | input short edge | videos | frames | J&F | J | F | frames/s |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    print("| input short edge | object | J | F |")
    print("|---|---|---|---|")
    print("\n".join(per_sequence))
    return 0


if __name__ == "__main__":
    sys.exit(main())
