"""Tiny benchmark datasets in the DAVIS and YouTube-VOS layouts, built inside each test
(a helper module, not a conftest, so that its name is unique across the test folders)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from aotvideo.io.masks import davis_palette


def write_palette(path: Path, labels: np.ndarray) -> None:
    """Palette PNG as the benchmarks ship them (PIL, independent of the package's writer)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.ascontiguousarray(labels, dtype=np.uint8)
    image = Image.frombytes("P", (data.shape[1], data.shape[0]), data.tobytes())
    image.putpalette(davis_palette().tobytes())
    image.save(path)


def write_frame(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def moving_objects(frames: int, height: int, width: int, objects: int, seed: int) -> np.ndarray:
    """``frames x H x W`` uint8 label maps of rectangles drifting over the frame."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((frames, height, width), dtype=np.uint8)
    for k in range(1, objects + 1):
        h, w = rng.integers(height // 5, height // 2), rng.integers(width // 5, width // 2)
        y, x = rng.integers(0, height - h), rng.integers(0, width - w)
        dy, dx = rng.integers(-2, 3), rng.integers(-2, 3)
        for t in range(frames):
            yy = int(np.clip(y + dy * t, 0, height - h))
            xx = int(np.clip(x + dx * t, 0, width - w))
            labels[t, yy:yy + h, xx:xx + w] = k
    return labels


def frames_for(labels: np.ndarray, seed: int) -> np.ndarray:
    """RGB frames in which each object has its own colour, plus noise."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(0, 256, size=(256, 3))
    colours[0] = (40, 40, 40)
    noise = rng.integers(-10, 11, size=labels.shape + (3,))
    return np.clip(colours[labels] + noise, 0, 255).astype(np.uint8)


def make_davis(root: Path, sequences: dict[str, np.ndarray], split: str = "val",
               year: str = "2017") -> Path:
    """DAVIS layout with ``JPEGImages/480p``, ``Annotations/480p`` and ``ImageSets/<year>``."""
    for i, (name, labels) in enumerate(sequences.items()):
        rgb = frames_for(labels, seed=i)
        for t in range(labels.shape[0]):
            write_frame(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", rgb[t])
            write_palette(root / "Annotations" / "480p" / name / f"{t:05d}.png", labels[t])
    sets = root / "ImageSets" / year
    sets.mkdir(parents=True, exist_ok=True)
    (sets / f"{split}.txt").write_text("".join(f"{n}\n" for n in sequences))
    return root


def make_youtube(root: Path, videos: dict[str, tuple[np.ndarray, dict[int, int]]],
                 split: str = "valid") -> Path:
    """YouTube-VOS layout.

    ``videos[name] = (labels T x H x W, {object id: first frame index, a multiple of 5})``; all
    frames go to
    ``<split>_all_frames``, every 5th to ``<split>``; each object's first-frame annotation goes to
    ``<split>/Annotations`` (holding only the objects that start there), and ``meta.json`` lists
    the objects with their 6 fps frames.
    """
    meta: dict[str, dict] = {"videos": {}}
    for i, (name, (labels, starts)) in enumerate(videos.items()):
        rgb = frames_for(labels, seed=10 + i)
        for t in range(labels.shape[0]):
            stem = f"{t:05d}"
            write_frame(root / f"{split}_all_frames" / "JPEGImages" / name / f"{stem}.jpg", rgb[t])
            if t % 5 == 0:
                write_frame(root / split / "JPEGImages" / name / f"{stem}.jpg", rgb[t])
        by_frame: dict[int, list[int]] = {}
        for oid, t in starts.items():
            by_frame.setdefault(t, []).append(oid)
        for t, ids in by_frame.items():
            ann = np.where(np.isin(labels[t], ids), labels[t], 0)
            write_palette(root / split / "Annotations" / name / f"{t:05d}.png", ann)
        meta["videos"][name] = {"objects": {
            str(oid): {"category": "thing",
                       "frames": [f"{t:05d}" for t in range(start, labels.shape[0]) if t % 5 == 0]}
            for oid, start in starts.items()
        }}
    (root / split / "meta.json").write_text(json.dumps(meta))
    return root
