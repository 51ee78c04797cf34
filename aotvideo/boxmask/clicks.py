"""Refine one object's mask with clicks: positive clicks add what they touch, negative clicks
take it away (the studio's click tool).

OpenCV's GrabCut runs on a window around the object and the clicks, started from the current
mask (its pixels "probably object", the rest "probably background") with a small disc of
certain object under each positive click and of certain background under each negative one;
its colour models then decide the uncertain pixels. The window is scaled down so that GrabCut
stays within interactive time on any frame size; the result keeps the current mask outside the
window. Deterministic (OpenCV's generator is seeded before every call).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ClickConfig", "refine_with_clicks"]

Point = Sequence[float]


@dataclass(frozen=True)
class ClickConfig:
    """``radius``: the disc a click makes certain, as a share of the picture's short side;
    ``start_radius``: the disc a first positive click marks as probably object when the object
    has no mask yet; ``context``: window margin around the object and clicks (share of its size);
    ``max_side``: the window's longer side after scaling; ``iterations`` of GrabCut."""

    radius: float = 0.012
    start_radius: float = 0.08
    context: float = 0.35
    max_side: int = 320
    iterations: int = 3
    seed: int = 0


def _disc(mask: np.ndarray, point: Point, radius: int, value: int) -> None:
    cv2.circle(mask, (int(round(point[0])), int(round(point[1]))), max(1, radius), value, -1)


def _window(mask: np.ndarray, points: Sequence[Point], context: float, shape: tuple[int, int],
            ) -> tuple[int, int, int, int]:
    height, width = shape
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    rows, cols = np.nonzero(mask)
    if rows.size:
        xs += [float(cols.min()), float(cols.max())]
        ys += [float(rows.min()), float(rows.max())]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    margin = context * max(x1 - x0, y1 - y0, 0.15 * min(height, width))
    return (max(0, int(x0 - margin)), max(0, int(y0 - margin)),
            min(width, int(x1 + margin) + 1), min(height, int(y1 + margin) + 1))


def refine_with_clicks(image: np.ndarray, mask: np.ndarray, positives: Sequence[Point],
                       negatives: Sequence[Point] = (), config: ClickConfig = ClickConfig(),
                       ) -> np.ndarray:
    """The object's mask after the clicks.

    Args:
        image: H x W x 3 uint8 RGB.
        mask: H x W bool, the object's current mask (may be empty).
        positives / negatives: ``(x, y)`` pixel positions on the object / on what is not it.

    Returns:
        H x W bool. Each positive click's disc is in it and each negative click's disc is not,
        whatever GrabCut decides.
    """
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    points = [*positives, *negatives]
    if not points:
        return mask.copy()
    short = min(height, width)
    x0, y0, x1, y1 = _window(mask, points, config.context, (height, width))
    scale = min(1.0, config.max_side / max(x1 - x0, y1 - y0))
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    patch = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1, ::-1]), size, interpolation=cv2.INTER_AREA)
    current = cv2.resize(mask[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    seeds = np.where(current > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)

    def local(point: Point) -> tuple[float, float]:
        return ((point[0] - x0) * scale, (point[1] - y0) * scale)

    if not mask.any():
        for point in positives:
            _disc(seeds, local(point), round(config.start_radius * short * scale), cv2.GC_PR_FGD)
    radius = round(config.radius * short * scale)
    for point in positives:
        _disc(seeds, local(point), radius, cv2.GC_FGD)
    for point in negatives:
        _disc(seeds, local(point), radius, cv2.GC_BGD)
    found = _grabcut(patch, seeds, config)
    result = mask.copy()
    window = cv2.resize(found.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    result[y0:y1, x0:x1] = window.astype(bool)
    full_radius = max(1, round(config.radius * short))
    certain = np.zeros((height, width), np.uint8)
    for point in positives:
        _disc(certain, point, full_radius, 1)
    result |= certain.astype(bool)
    certain[:] = 0
    for point in negatives:
        _disc(certain, point, full_radius, 1)
    result &= ~certain.astype(bool)
    return result


def _grabcut(patch: np.ndarray, seeds: np.ndarray, config: ClickConfig) -> np.ndarray:
    """GrabCut from ``seeds``; where it cannot run (one class only), the seeds' own answer."""
    wanted = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD))
    has_both = wanted.any() and (~wanted).any()
    if not has_both or min(patch.shape[:2]) < 4:
        return wanted
    cv2.setRNGSeed(config.seed)
    background = np.zeros((1, 65), np.float64)
    foreground = np.zeros((1, 65), np.float64)
    work = seeds.copy()
    try:
        cv2.grabCut(patch, work, None, background, foreground, config.iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return wanted
    return np.isin(work, (cv2.GC_FGD, cv2.GC_PR_FGD))
