"""Refine one object's mask with clicks: a positive click adds the part of the picture it
touches, a negative click takes it away (the studio's click tool).

A click changes the mask only near itself: inside a disc around it (its size follows the
object's, between 6% and 25% of the picture's short side) the pixels are uncertain, everywhere
else the current mask holds. OpenCV's GrabCut learns the object's and the background's colours
from the certain pixels of a window around the disc, with a small disc of certain object (or
background) under the click, and decides the uncertain ones. Edits stay local and predictable,
and the window is small enough (scaled to at most ``max_side`` pixels) for interactive time on
any frame size. Deterministic (OpenCV's generator is seeded before every call).
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
    """``radius``: the certain disc under a click, as a share of the picture's short side;
    ``reach``: the uncertain disc's radius as a share of the square root of the object's area,
    clamped to ``min_reach`` .. ``max_reach`` of the short side; ``window``: the GrabCut window's
    half side in reaches; ``max_side``: the window's longer side after scaling; ``iterations``
    of GrabCut."""

    radius: float = 0.01
    reach: float = 0.4
    min_reach: float = 0.06
    max_reach: float = 0.25
    window: float = 2.0
    max_side: int = 200
    iterations: int = 3
    seed: int = 0


def _disc(mask: np.ndarray, point: Point, radius: float, value: int) -> None:
    cv2.circle(mask, (int(round(point[0])), int(round(point[1]))), max(1, int(round(radius))), value, -1)


def refine_with_clicks(image: np.ndarray, mask: np.ndarray, positives: Sequence[Point],
                       negatives: Sequence[Point] = (), config: ClickConfig = ClickConfig(),
                       ) -> np.ndarray:
    """The object's mask after the clicks.

    Args:
        image: H x W x 3 uint8 RGB.
        mask: H x W bool, the object's current mask (may be empty).
        positives / negatives: ``(x, y)`` pixel positions on the object / on what is not it.

    Returns:
        H x W bool: the current mask, changed only within reach of the clicks; each positive
        click's disc is in it and each negative click's disc is not.
    """
    result = np.asarray(mask, bool).copy()
    height, width = result.shape
    short = min(height, width)
    area = float(result.sum())
    reach = float(np.clip(config.reach * np.sqrt(area), config.min_reach * short, config.max_reach * short))
    for point, positive in [(p, True) for p in positives] + [(p, False) for p in negatives]:
        _click(image, result, point, positive, reach, config)
    return result


def _click(image: np.ndarray, result: np.ndarray, point: Point, positive: bool, reach: float,
           config: ClickConfig) -> None:
    """Apply one click to ``result`` in place."""
    height, width = result.shape
    half = config.window * reach
    x0, y0 = max(0, int(point[0] - half)), max(0, int(point[1] - half))
    x1, y1 = min(width, int(point[0] + half) + 1), min(height, int(point[1] + half) + 1)
    scale = min(1.0, config.max_side / max(x1 - x0, y1 - y0))
    size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
    patch = cv2.resize(np.ascontiguousarray(image[y0:y1, x0:x1, ::-1]), size, interpolation=cv2.INTER_AREA)
    current = cv2.resize(result[y0:y1, x0:x1].astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    local = ((point[0] - x0) * scale, (point[1] - y0) * scale)
    uncertain = np.zeros(size[::-1], np.uint8)
    _disc(uncertain, local, reach * scale, 1)
    seeds = np.where(current, cv2.GC_FGD, cv2.GC_BGD).astype(np.uint8)
    seeds[uncertain > 0] = np.where(current, cv2.GC_PR_FGD, cv2.GC_PR_BGD)[uncertain > 0]
    short = min(height, width)
    _disc(seeds, local, config.radius * short * scale, cv2.GC_FGD if positive else cv2.GC_BGD)
    found = _grabcut(patch, seeds, config)
    changed = cv2.resize(found.astype(np.uint8), (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST) > 0
    near = np.zeros((y1 - y0, x1 - x0), np.uint8)
    _disc(near, (point[0] - x0, point[1] - y0), reach, 1)
    window = result[y0:y1, x0:x1]
    window[near > 0] = changed[near > 0]  # only within reach: the rest of the mask holds
    certain = np.zeros_like(near)
    _disc(certain, (point[0] - x0, point[1] - y0), config.radius * short, 1)
    window[certain > 0] = positive


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
