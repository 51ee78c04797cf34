"""Training and evaluation samples for the box head from DAVIS 2016 (one object per frame).

A sample is a frame, the box a person might draw around its object (the ground truth's box,
jittered) and the ground-truth mask, cut to the head's crop. Nothing here is shipped data: the
frames are read from the dataset folder (``--davis-root``) at training or evaluation time.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import AotVideoError
from .crops import Box, box_of_mask, crop_inputs, crop_window

__all__ = ["FrameRecord", "JitterConfig", "list_frames", "read_frame", "jitter_box",
           "make_training_sample", "stack_batch"]

#: Objects smaller than this many pixels are skipped (a box around them is a few pixels).
MIN_OBJECT_PIXELS = 64


@dataclass(frozen=True)
class FrameRecord:
    """One annotated frame: its picture, its mask file, its video and frame number."""

    video: str
    index: int
    image: Path
    mask: Path


@dataclass(frozen=True)
class JitterConfig:
    """How boxes are jittered like a person draws them.

    Each side moves by a uniform share of the box's width/height in ``[-side, side]``
    (inwards clips the object, outwards adds background); with probability ``loose_prob`` all
    sides move outwards by up to ``loose`` instead.
    """

    side: float = 0.12
    loose_prob: float = 0.2
    loose: float = 0.25


def list_frames(davis_root: str | Path, *, include: Iterable[str] | None = None,
                exclude: Iterable[str] = (), every: int = 1) -> list[FrameRecord]:
    """Annotated frames of a DAVIS 2016 layout folder (``JPEGImages/480p/<video>/*.jpg`` and
    ``Annotations/480p/<video>/*.png``), sorted by video then frame; every ``every``-th frame.

    Raises :class:`~aotvideo.errors.AotVideoError` when the folder has no such layout.
    """
    root = Path(davis_root)
    images = root / "JPEGImages" / "480p"
    masks = root / "Annotations" / "480p"
    if not images.is_dir() or not masks.is_dir():
        raise AotVideoError(f"{root} is not a DAVIS 2016 folder (no JPEGImages/480p, Annotations/480p)")
    wanted = set(include) if include is not None else None
    skipped = set(exclude)
    records: list[FrameRecord] = []
    for video_dir in sorted(p for p in images.iterdir() if p.is_dir()):
        video = video_dir.name
        if video in skipped or (wanted is not None and video not in wanted):
            continue
        for position, image in enumerate(sorted(video_dir.glob("*.jpg"))):
            mask = masks / video / f"{image.stem}.png"
            if position % every == 0 and mask.is_file():
                records.append(FrameRecord(video, int(image.stem), image, mask))
    return records


def read_frame(record: FrameRecord) -> tuple[np.ndarray, np.ndarray]:
    """``(image H x W x 3 uint8 RGB, mask H x W bool)`` of a record."""
    bgr = cv2.imread(str(record.image), cv2.IMREAD_COLOR)
    gray = cv2.imread(str(record.mask), cv2.IMREAD_GRAYSCALE)
    if bgr is None or gray is None:
        raise AotVideoError(f"cannot read {record.image} or {record.mask}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), gray > 127


def jitter_box(box: Box, width: int, height: int, rng: np.random.Generator,
               config: JitterConfig = JitterConfig()) -> tuple[float, float, float, float]:
    """``box`` with its sides moved as :class:`JitterConfig` says, kept inside the frame and
    at least 2 pixels wide and high (float coordinates)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    bw, bh = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    if rng.random() < config.loose_prob:
        moves = rng.uniform(0.0, config.loose, size=4) * np.array([-1, -1, 1, 1])
    else:
        moves = rng.uniform(-config.side, config.side, size=4)
    x0, x1 = x0 + moves[0] * bw, x1 + moves[2] * bw
    y0, y1 = y0 + moves[1] * bh, y1 + moves[3] * bh
    x0, x1 = _keep_span(x0, x1, width)
    y0, y1 = _keep_span(y0, y1, height)
    return x0, y0, x1, y1


def _keep_span(low: float, high: float, limit: int) -> tuple[float, float]:
    low, high = max(0.0, low), min(float(limit), high)
    if high - low < 2.0:
        middle = min(max((low + high) / 2, 1.0), limit - 1.0)
        low, high = middle - 1.0, middle + 1.0
    return low, high


def _colour_augment(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random brightness, contrast, saturation and a little noise; uint8 in, uint8 out."""
    x = image.astype(np.float32)
    gray = x.mean(axis=2, keepdims=True)
    x = gray + (x - gray) * rng.uniform(0.6, 1.4)  # saturation
    x = (x - x.mean()) * rng.uniform(0.7, 1.3) + x.mean() + rng.uniform(-25, 25)
    if rng.random() < 0.3:
        x = x + rng.normal(0.0, 4.0, size=x.shape).astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


def make_training_sample(image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *,
                         crop_size: int, margin: float,
                         jitter: JitterConfig = JitterConfig()) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """One augmented sample: ``(crop S x S x 3 uint8, prior S x S float32, target S x S float32)``.

    The crop's margin varies around ``margin`` (scale augmentation); the frame may be mirrored
    and its colours changed. ``None`` when the mask has fewer than
    :data:`MIN_OBJECT_PIXELS` pixels.
    """
    if int(mask.sum()) < MIN_OBJECT_PIXELS:
        return None
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    height, width = mask.shape
    tight = box_of_mask(mask)
    assert tight is not None
    box = jitter_box(tight, width, height, rng, jitter)
    window = crop_window(box, width, height, margin * math.exp(rng.uniform(-0.5, 0.4)))
    crop, prior = crop_inputs(np.ascontiguousarray(image), box, window, crop_size)
    target_crop = mask[window.y0:window.y1, window.x0:window.x1].astype(np.float32)
    target = cv2.resize(target_crop, (crop_size, crop_size), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.8:
        crop = _colour_augment(crop, rng)
    return crop, prior, target


def stack_batch(samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stack samples into ``(N x S x S x 3 uint8, N x S x S float32, N x S x S float32)``."""
    crops, priors, targets = zip(*samples)
    return np.stack(crops), np.stack(priors), np.stack(targets)
