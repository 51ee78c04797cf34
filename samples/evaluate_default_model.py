"""Measure a model honestly: J&F on a held-out synthetic benchmark and on the sample clip.

    python samples/evaluate_default_model.py                  # the packaged default model
    python samples/evaluate_default_model.py --weights CKPT   # any deaott checkpoint

Two benchmarks in the DAVIS layout are generated under ``--out`` (nothing is downloaded):

* ``synthetic-heldout``: procedural videos (:func:`aotvideo.training.synthetic.render_video`)
  drawn from seeds that training never uses (training streams are seeded by a single integer;
  these by the sequence ``[HELDOUT_KEY, video]``), from the training distribution: textures
  procedural or cut from scikit-image's pictures (new crops, but the same 21 pictures that
  training saw);
* ``synthetic-heldout-procedural``: the same seeds with procedural textures only (no picture
  that training saw);
* ``sample``: the project's sample clip as decoded from ``samples/sample.mp4``, with its exact
  ground truth (the shapes ``samples/make_sample.py`` drew).

Each is tracked from its first-frame annotation with ``aotvideo eval run``'s runner and scored
with the DAVIS-toolkit-identical scorer; the script prints a Markdown table with J&F, J, F and the
CPU frames/s.
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
from aotvideo.io.reader import VideoReader
from aotvideo.io.testclips import scene
from aotvideo.training.photos import PhotoBank, skimage_photos
from aotvideo.training.synthetic import render_video
from aotvideo.zoo import resolve_weights

HERE = Path(__file__).resolve().parent
HELDOUT_KEY = 20261125


def _write_davis(root: Path, sequences: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    for name, (frames, labels) in sequences.items():
        images = root / "JPEGImages" / "480p" / name
        annotations = root / "Annotations" / "480p" / name
        images.mkdir(parents=True, exist_ok=True)
        annotations.mkdir(parents=True, exist_ok=True)
        for t, (frame, label) in enumerate(zip(frames, labels)):
            cv2.imwrite(str(images / f"{t:05d}.jpg"), frame[:, :, ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            write_palette_png(annotations / f"{t:05d}.png", label.astype(np.uint8))
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("".join(f"{name}\n" for name in sequences))
    return root


def heldout_sequences(videos: int, frames: int, size: tuple[int, int],
                      photos: PhotoBank | None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for index in range(videos):
        rgb, labels = render_video(np.random.default_rng([HELDOUT_KEY, index]), frames, size,
                                   photos=photos)
        if labels[0].max() > 0:
            out[f"heldout{index:02d}"] = (rgb, labels)
    return out


def sample_sequence() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    with VideoReader(str(HERE / "sample.mp4")) as reader:
        frames = np.stack([f.image for f in reader.frames()])
    labels = np.stack([l for _, l in scene(320, 180, len(frames), objects=3, seed=0)])
    return {"sample": (frames, labels)}


def evaluate(name: str, root: Path, out: Path, weights: Path) -> dict[str, float]:
    dataset = DavisDataset(root, 2017, "val", "480p")
    results, _ = track_and_score(dataset, out, TrackerSpec("deaott", str(weights)))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None,
                        help="deaott checkpoint (default: the installed or packaged one)")
    parser.add_argument("--out", type=Path, default=Path("default-model-eval"))
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--frames", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    weights = resolve_weights("deaott", args.weights)
    rows = []
    benchmarks = {
        "synthetic-heldout": lambda: heldout_sequences(args.videos, args.frames, (180, 320),
                                                       skimage_photos()),
        "synthetic-heldout-procedural": lambda: heldout_sequences(args.videos, args.frames,
                                                                  (180, 320), None),
        "sample": sample_sequence,
    }
    for name, make in benchmarks.items():
        sequences = make()
        root = _write_davis(args.out / name / "data", sequences)
        results = evaluate(name, root, args.out / name / "results", weights)
        frames = sum(len(f) for f, _ in sequences.values())
        rows.append(f"| {name} | {len(sequences)} | {frames} | {results['J&F-Mean']:.3f} | "
                    f"{results['J-Mean']:.3f} | {results['F-Mean']:.3f} | {results['fps']:.1f} |")
    print(f"weights: {weights}")
    print("| benchmark | videos | frames | J&F | J | F | frames/s (CPU) |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
