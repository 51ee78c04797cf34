"""One benchmark sequence through a tracker: the unit every way of running a benchmark shares.

:func:`track_sequence` tracks a :class:`SequenceJob` (a sequence and where each output frame
goes) with a tracker, given the annotation at the frames where objects start (the first frame
for DAVIS; the first frame of each object for YouTube-VOS), writes the palette PNGs and reports
the frames and the seconds spent in ``Tracker.step`` (:class:`SequenceTiming`).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aotvideo.evaluation.datasets import BenchmarkError, BenchmarkSequence

if TYPE_CHECKING:
    from aotvideo.tracking import Tracker

__all__ = ["SequenceJob", "SequenceTiming", "track_sequence"]


@dataclass(frozen=True)
class SequenceTiming:
    """Speed of one sequence.

    Attributes:
        sequence: its name.
        frames: frames passed through the tracker.
        seconds: time spent in ``Tracker.step`` for them.
        device: where it ran.
    """

    sequence: str
    frames: int
    seconds: float
    device: str

    @property
    def fps(self) -> float:
        """Frames per second (``nan`` when no time was measured)."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


@dataclass(frozen=True)
class SequenceJob:
    """One sequence to track and where each of its output frames goes.

    Attributes:
        sequence: frames and annotations.
        outputs: frame name (file stem) -> prediction PNG path; frames not listed are tracked
            but not written.
    """

    sequence: BenchmarkSequence
    outputs: Mapping[str, Path]


def _read_frame(path: Path) -> np.ndarray:
    """``H x W x 3`` uint8 RGB frame."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BenchmarkError(f"cannot read frame {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _annotation(seq: BenchmarkSequence, index: int, seen: set[int]) -> tuple[np.ndarray, list[int]]:
    """Label map of the objects starting at frame ``index`` (``H x W`` int64) and their ids."""
    from aotvideo.io.masks import mask_ids, read_mask, select_objects

    labels = read_mask(seq.annotations[index])
    if seq.binary:
        labels = (labels != 0).astype(np.int64)
    present = set(mask_ids(labels))
    wanted = seq.new_objects.get(index)
    ids = sorted(present & set(wanted)) if wanted is not None else sorted(present - seen)
    return select_objects(labels, ids), ids


def track_sequence(
    tracker: Tracker, job: SequenceJob, write: Callable[[Path, np.ndarray], None] | None = None
) -> tuple[int, float]:
    """Track one sequence and write its output frames.

    Args:
        tracker: a fresh or reusable :class:`aotvideo.Tracker` (reset here).
        job: the sequence and where each output frame goes.
        write: ``write(path, labels)``; the DAVIS-palette PNG writer by default.

    Returns:
        (frames tracked, seconds spent in the tracker)
    """
    if write is None:
        from aotvideo.io.masks import write_palette_png

        def write(path: Path, labels: np.ndarray) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_palette_png(path, labels)

    seq = job.sequence
    tracker.reset()
    seen: set[int] = set()
    frames = 0
    seconds = 0.0
    shape: tuple[int, int] | None = None
    first = seq.first_annotated
    for index in range(first, len(seq.frame_paths)):
        path = seq.frame_paths[index]
        frame = _read_frame(path)
        new_mask = None
        ids: list[int] = []
        if index in seq.annotations:
            new_mask, ids = _annotation(seq, index, seen)
            if new_mask.shape != frame.shape[:2]:
                raise BenchmarkError(
                    f"{seq.name}: annotation {seq.annotations[index].name} is {new_mask.shape}, "
                    f"frame {path.name} is {frame.shape[:2]} (H, W)"
                )
            if not ids:
                new_mask = None
        start = time.perf_counter()
        # With a mask, the tracker predicts the frame, lets the new objects' pixels override
        # the prediction, and stores the merged frame as a reference: the YouTube-VOS protocol
        # for objects that appear late.
        result = tracker.step(frame, mask=new_mask)
        seconds += time.perf_counter() - start
        seen.update(ids)
        frames += 1
        shape = frame.shape[:2]
        out = job.outputs.get(path.stem)
        if out is not None:
            write(out, result.label_map.numpy())
    if first > 0 and shape is not None:  # output frames before any object: empty masks
        empty = np.zeros(shape, dtype=np.uint8)
        for path in seq.frame_paths[:first]:
            out = job.outputs.get(path.stem)
            if out is not None:
                write(out, empty)
    return frames, seconds
