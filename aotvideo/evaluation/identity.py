"""What goes wrong with several objects: identity swaps and lost objects, frame by frame.

J&F says how well each object is segmented, not why it fails.  With several objects of the
same kind a tracker fails in two distinct ways, and they call for different remedies:

* a **swap**: the pixels of object *i* are given to another tracked object *j* (the identity
  went to the wrong object);
* a **loss**: the pixels of object *i* are given to the background (the object was dropped).

:func:`identity_events` classifies every frame in which an object is visible by where most of
its ground-truth pixels went; :func:`summarize_identity` counts the objects that suffered each
failure for a run of frames.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

OK, PARTIAL, SWAPPED, LOST = 0, 1, 2, 3
"""Frame states of an object (see :func:`identity_events`)."""

_ABSENT = -1


def identity_events(gt_labels: np.ndarray, pred_labels: np.ndarray, num_objects: int,
                    min_pixels: int = 20) -> np.ndarray:
    """The state of every object in every frame.

    Args:
        gt_labels: (T, H, W) integer ground truth, objects 1..num_objects.
        pred_labels: (T, H, W) integer prediction with the same ids.
        num_objects: objects scored.
        min_pixels: frames where an object has fewer ground-truth pixels count as absent.

    Returns:
        (num_objects, T) int8: ``OK`` when at least half of the object's pixels got its id,
        ``SWAPPED`` when more of them went to one other object than to it and to the
        background, ``LOST`` when more went to the background than to it and to any other
        object, ``PARTIAL`` otherwise, ``-1`` where the object is absent.
    """
    gt = np.asarray(gt_labels)
    pred = np.asarray(pred_labels)
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth {gt.shape} and prediction {pred.shape} differ in shape")
    frames = gt.shape[0]
    states = np.full((num_objects, frames), _ABSENT, np.int8)
    bins = num_objects + 1
    for t in range(frames):
        g = gt[t].ravel().astype(np.int64)
        p = np.clip(pred[t].ravel().astype(np.int64), 0, bins)  # unknown ids: one extra bin
        table = np.bincount(g.clip(0, num_objects) * (bins + 1) + p,
                            minlength=bins * (bins + 1)).reshape(bins, bins + 1)
        for k in range(1, bins):
            row = table[k]
            total = int(row.sum())
            if total < min_pixels:
                continue
            own = int(row[k])
            others = np.delete(row, [0, k])
            background = int(row[0])
            if own * 2 >= total:
                states[k - 1, t] = OK
            elif others.size and int(others.max()) > max(own, background):
                states[k - 1, t] = SWAPPED
            elif background > max(own, int(others.max(initial=0))):
                states[k - 1, t] = LOST
            else:
                states[k - 1, t] = PARTIAL
    return states


@dataclass(frozen=True)
class IdentitySummary:
    """Failures of the objects of one or many clips.

    Attributes:
        objects: objects scored.
        swapped: objects with a run of at least ``run`` swapped frames.
        lost: objects (not swapped) with a run of at least ``run`` lost frames.
        swapped_frames / lost_frames: fraction of the visible object-frames in each state.
    """

    objects: int
    swapped: int
    lost: int
    swapped_frames: float
    lost_frames: float

    def __add__(self, other: IdentitySummary) -> IdentitySummary:
        objects = self.objects + other.objects
        weight = (self.objects / objects, other.objects / objects) if objects else (0.0, 0.0)
        return IdentitySummary(
            objects, self.swapped + other.swapped, self.lost + other.lost,
            self.swapped_frames * weight[0] + other.swapped_frames * weight[1],
            self.lost_frames * weight[0] + other.lost_frames * weight[1])


def _longest_run(flags: np.ndarray) -> int:
    best = current = 0
    for flag in flags:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best


def summarize_identity(states: np.ndarray, run: int = 3) -> IdentitySummary:
    """Count the objects of ``states`` (from :func:`identity_events`) that were swapped or lost
    for ``run`` or more consecutive visible frames (a single bad frame is not counted)."""
    swapped = lost = 0
    swapped_frames = lost_frames = 0.0
    for row in states:
        visible = row[row != _ABSENT]
        if visible.size == 0:
            continue
        is_swapped = _longest_run(visible == SWAPPED) >= run
        swapped += is_swapped
        lost += (not is_swapped) and _longest_run(visible == LOST) >= run
        swapped_frames += float(np.mean(visible == SWAPPED))
        lost_frames += float(np.mean(visible == LOST))
    count = len(states)
    return IdentitySummary(count, swapped, lost, swapped_frames / max(count, 1),
                           lost_frames / max(count, 1))
