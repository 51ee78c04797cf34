"""Measuring box-to-mask methods on held-out DAVIS 2016 frames (mean IoU).

Each scored frame gets two boxes: the ground truth's tight box, and that box jittered as a person
draws it (:func:`~aotvideo.boxmask.data.jitter_box`, seeded per frame, rounded to whole pixels).
Frames whose object has fewer than :data:`~aotvideo.boxmask.data.MIN_OBJECT_PIXELS` pixels (gone
from the picture) are not scored.
"""
from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .crops import Box, box_of_mask
from .data import MIN_OBJECT_PIXELS, FrameRecord, JitterConfig, jitter_box, list_frames, read_frame

__all__ = ["BOX_KINDS", "Score", "iou", "rounded_box", "score_methods", "markdown_table"]

#: The two ways a frame's box is drawn: the ground truth's tight box, and a jittered one.
BOX_KINDS: tuple[str, ...] = ("tight", "jittered")

Method = Callable[[np.ndarray, Box], np.ndarray]
"""``(image H x W x 3 uint8 RGB, box) -> H x W bool mask``."""


@dataclass(frozen=True)
class Score:
    """The IoU of one method on one frame with one kind of box."""

    video: str
    index: int
    method: str
    box_kind: str
    iou: float


def iou(prediction: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two H x W bool masks (1.0 when both are empty)."""
    union = np.logical_or(prediction, truth).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(prediction, truth).sum() / union)


def rounded_box(box: Sequence[float], width: int, height: int) -> Box:
    """A float box rounded to whole pixels inside a ``width`` x ``height`` picture (non-empty)."""
    x0 = int(np.clip(round(box[0]), 0, width - 1))
    y0 = int(np.clip(round(box[1]), 0, height - 1))
    x1 = int(np.clip(round(box[2]), x0 + 1, width))
    y1 = int(np.clip(round(box[3]), y0 + 1, height))
    return x0, y0, x1, y1


def _boxes(record: FrameRecord, mask: np.ndarray, seed: int,
           jitter: JitterConfig) -> dict[str, Box]:
    height, width = mask.shape
    tight = box_of_mask(mask)
    assert tight is not None
    rng = np.random.default_rng([seed, zlib.crc32(record.video.encode()), record.index])
    return {"tight": tight, "jittered": rounded_box(jitter_box(tight, width, height, rng, jitter),
                                                    width, height)}


def score_methods(davis_root: str | Path, videos: Iterable[str], methods: Mapping[str, Method], *,
                  every: int = 5, seed: int = 0,
                  jitter: JitterConfig = JitterConfig()) -> list[Score]:
    """Score every method on every ``every``-th frame of ``videos`` with both kinds of box."""
    scores: list[Score] = []
    for record in list_frames(davis_root, include=list(videos), every=every):
        image, mask = read_frame(record)
        if int(mask.sum()) < MIN_OBJECT_PIXELS:
            continue
        for kind, box in _boxes(record, mask, seed, jitter).items():
            for name, method in methods.items():
                scores.append(Score(record.video, record.index, name, kind, iou(method(image, box), mask)))
    return scores


def _mean(scores: Iterable[Score]) -> float:
    values = [s.iou for s in scores]
    return float(np.mean(values)) if values else float("nan")


def markdown_table(scores: Sequence[Score]) -> str:
    """Mean IoU per video and over all frames: one column per (method, box kind)."""
    methods = list(dict.fromkeys(s.method for s in scores))
    videos = list(dict.fromkeys(s.video for s in scores))
    columns = [(m, k) for k in BOX_KINDS for m in methods]
    header = "| video | frames | " + " | ".join(f"{m}, {k} box" for m, k in columns) + " |"
    lines = [header, "|" + "---|" * (len(columns) + 2)]

    def row(name: str, subset: list[Score]) -> str:
        frames = len({(s.video, s.index) for s in subset})
        cells = [f"{_mean(s for s in subset if s.method == m and s.box_kind == k):.3f}"
                 for m, k in columns]
        return f"| {name} | {frames} | " + " | ".join(cells) + " |"

    for video in videos:
        lines.append(row(video, [s for s in scores if s.video == video]))
    lines.append(row("**all frames**", list(scores)))
    return "\n".join(lines)
