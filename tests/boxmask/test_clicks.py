"""Refining a mask with clicks (:mod:`aotvideo.boxmask.clicks`): a positive click brings back a
missing part, a negative click removes what is not the object, and nothing changes out of a
click's reach."""
from __future__ import annotations

import numpy as np

from aotvideo.boxmask.clicks import refine_with_clicks
from aotvideo.io.testclips import scene


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def picture() -> tuple[np.ndarray, np.ndarray]:
    image, labels = next(iter(scene(320, 192, 1, objects=2, seed=11)))
    return image, labels == 1


def test_positive_click_brings_back_a_missing_part() -> None:
    image, truth = picture()
    ys, xs = np.nonzero(truth)
    cut = int(np.percentile(xs, 35))
    partial = truth & (np.arange(truth.shape[1])[None, :] >= cut)
    missing = np.argwhere(truth & ~partial)
    y, x = missing[len(missing) // 2]
    fixed = refine_with_clicks(image, partial, [(float(x), float(y))])
    assert iou(fixed, truth) > iou(partial, truth) + 0.1
    assert fixed[y, x]


def test_negative_click_removes_a_blob_and_keeps_the_rest() -> None:
    image, truth = picture()
    ys, xs = np.nonzero(truth)
    blob = np.zeros_like(truth)
    cy, cx = 20, 20 if xs.min() > 60 else 300
    blob[cy - 10:cy + 10, cx - 10:cx + 10] = True
    wrong = truth | blob
    fixed = refine_with_clicks(image, wrong, [], [(float(cx), float(cy))])
    assert not fixed[cy, cx]
    assert iou(fixed, truth) > iou(wrong, truth)
    assert (fixed & truth).sum() >= 0.97 * truth.sum()  # the object itself is kept


def test_out_of_reach_nothing_changes_and_no_click_is_no_change() -> None:
    image, truth = picture()
    assert np.array_equal(refine_with_clicks(image, truth, []), truth)
    ys, xs = np.nonzero(truth)
    far = (float(xs.max() + 60 if xs.max() < 240 else xs.min() - 60), float(ys.mean()))
    fixed = refine_with_clicks(image, truth, [], [far])
    changed = fixed ^ truth
    if changed.any():
        cy, cx = np.argwhere(changed).mean(axis=0)
        assert np.hypot(cx - far[0], cy - far[1]) < 0.25 * 192 + 2
    assert (fixed & truth).sum() == truth.sum()
