"""OpenCV's GrabCut from a box: the method used when the learnt head is not available.

Deterministic: OpenCV's random generator (GrabCut seeds its colour models with k-means) is
re-seeded before every call, and the iteration count is fixed.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from .crops import Box, CropWindow, crop_window

__all__ = ["GrabCutConfig", "ellipse_in_box", "grabcut_mask"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GrabCutConfig:
    """``iterations`` of GrabCut; it runs on the box grown by ``context`` times its size on each
    side (clamped to the frame), which holds the background colour model's pixels, scaled down
    so that its longer side is at most ``max_side`` pixels (GrabCut's time grows with the pixel
    count: seconds per box on a 480p frame, minutes on 4K); the mask is scaled back up."""

    iterations: int = 5
    context: float = 0.5
    max_side: int = 512
    seed: int = 0


def grabcut_mask(image: np.ndarray, box: Box, config: GrabCutConfig = GrabCutConfig()) -> np.ndarray:
    """The object in ``box`` by GrabCut: H x W bool (False outside the box).

    ``image`` is H x W x 3 uint8 RGB. When GrabCut cannot run (a box covering the whole
    picture leaves no background to learn from, a box 1 pixel wide) or finds nothing, the
    ellipse inscribed in the box is returned instead.
    """
    height, width = image.shape[:2]
    window = crop_window(box, width, height, config.context)
    scale = min(1.0, config.max_side / max(window.width, window.height))
    patch = np.ascontiguousarray(image[window.y0:window.y1, window.x0:window.x1, ::-1])
    small = (max(1, round(window.width * scale)), max(1, round(window.height * scale)))
    if scale < 1.0:
        patch = cv2.resize(patch, small, interpolation=cv2.INTER_AREA)
    found = _run_grabcut(patch, box, window, scale, config)
    if found is None or not found.any():
        return ellipse_in_box(box, width, height)
    if scale < 1.0:
        found = cv2.resize(found.astype(np.uint8), (window.width, window.height),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
    full = np.zeros((height, width), bool)
    full[window.y0:window.y1, window.x0:window.x1] = found
    full[:, :box[0]] = full[:, box[2]:] = False
    full[:box[1]] = full[box[3]:] = False
    return full


def _run_grabcut(patch: np.ndarray, box: Box, window: CropWindow, scale: float,
                 config: GrabCutConfig) -> np.ndarray | None:
    """GrabCut on ``patch`` (the window, BGR, scaled by ``scale``): foreground as bool, or
    ``None`` when it cannot run."""
    x0, y0, x1, y1 = box
    left = int(round((x0 - window.x0) * scale))
    top = int(round((y0 - window.y0) * scale))
    right = max(left + 1, int(round((x1 - window.x0) * scale)))
    bottom = max(top + 1, int(round((y1 - window.y0) * scale)))
    rect = (left, top, right - left, bottom - top)
    if not _has_background(rect, patch.shape[:2]) or min(rect[2], rect[3]) < 2:
        return None
    labels = np.zeros(patch.shape[:2], np.uint8)
    cv2.setRNGSeed(config.seed)
    try:
        cv2.grabCut(patch, labels, rect, np.zeros((1, 65), np.float64),
                    np.zeros((1, 65), np.float64), config.iterations, cv2.GC_INIT_WITH_RECT)
    except cv2.error as exc:  # e.g. too few pixels of one side for its colour model
        log.debug("GrabCut failed on box %s: %s", box, exc)
        return None
    return (labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)


def _has_background(rect: tuple[int, int, int, int], shape: tuple[int, int]) -> bool:
    x, y, w, h = rect
    return x > 0 or y > 0 or x + w < shape[1] or y + h < shape[0]


def ellipse_in_box(box: Box, width: int, height: int) -> np.ndarray:
    """The filled ellipse inscribed in ``box``: H x W bool (never empty)."""
    x0, y0, x1, y1 = box
    out = np.zeros((height, width), np.uint8)
    centre = ((x0 + x1 - 1) // 2, (y0 + y1 - 1) // 2)
    axes = (max(0, (x1 - x0 - 1) // 2), max(0, (y1 - y0 - 1) // 2))
    cv2.ellipse(out, centre, axes, 0, 0, 360, 1, thickness=-1)
    return out.astype(bool)
