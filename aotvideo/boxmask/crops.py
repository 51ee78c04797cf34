"""Boxes, the crop around a box that the head sees, and pasting the crop's mask back.

A box is ``(x0, y0, x1, y1)`` in pixels of the picture as shown: it covers the pixels with
``x0 <= x < x1`` and ``y0 <= y < y1`` (like a slice), so its width is ``x1 - x0``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import MaskError

__all__ = ["Box", "CropWindow", "box_of_mask", "check_boxes", "crop_window", "crop_inputs",
           "paste_logits"]

Box = tuple[int, int, int, int]
"""``(x0, y0, x1, y1)``: left, top, right (exclusive), bottom (exclusive), in pixels."""


@dataclass(frozen=True)
class CropWindow:
    """The region of the frame a crop covers: ``x0 <= x < x1``, ``y0 <= y < y1`` (ints)."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Width in frame pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Height in frame pixels."""
        return self.y1 - self.y0


def check_boxes(boxes: Sequence[Sequence[int]], width: int, height: int) -> list[Box]:
    """The boxes as int tuples, checked against a ``width`` x ``height`` picture.

    Raises :class:`~aotvideo.errors.MaskError` for a box with other than four numbers, an empty
    box (``x1 <= x0`` or ``y1 <= y0``) or one reaching outside the picture; the message names the
    box by its 1-based position (its object id).
    """
    checked: list[Box] = []
    for number, box in enumerate(boxes, start=1):
        if len(box) != 4:
            raise MaskError(f"box {number}: expected 4 numbers X0,Y0,X1,Y1, got {len(box)}")
        x0, y0, x1, y1 = (int(v) for v in box)
        text = f"box {number} ({x0},{y0},{x1},{y1})"
        if x1 <= x0 or y1 <= y0:
            raise MaskError(f"{text} is empty: X1 must be greater than X0 and Y1 greater than Y0")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise MaskError(f"{text} reaches outside the {width}x{height} picture (corners go "
                            f"from 0,0 to {width},{height})")
        checked.append((x0, y0, x1, y1))
    if not checked:
        raise MaskError("no boxes given")
    return checked


def box_of_mask(mask: np.ndarray) -> Box | None:
    """The tight box around the non-zero pixels of an H x W mask, or ``None`` when it is empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def crop_window(box: Sequence[float], width: int, height: int, margin: float) -> CropWindow:
    """The box grown by ``margin`` times its width/height on each side, clamped to the frame.

    ``box`` may hold floats (training jitters boxes); the window always holds at least one pixel.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    grow_x = margin * max(x1 - x0, 1.0)
    grow_y = margin * max(y1 - y0, 1.0)
    left = int(np.clip(np.floor(x0 - grow_x), 0, width - 1))
    top = int(np.clip(np.floor(y0 - grow_y), 0, height - 1))
    right = int(np.clip(np.ceil(x1 + grow_x), left + 1, width))
    bottom = int(np.clip(np.ceil(y1 + grow_y), top + 1, height))
    return CropWindow(left, top, right, bottom)


def crop_inputs(image: np.ndarray, box: Sequence[float], window: CropWindow,
                size: int) -> tuple[np.ndarray, np.ndarray]:
    """The head's input for one box.

    ``image`` H x W x 3 uint8 RGB. Returns ``(crop, prior)``: ``crop`` size x size x 3 uint8 (the
    window resized), ``prior`` size x size float32, 1 inside the box and 0 outside (in crop
    pixels; partly covered pixels get their covered share along each axis).
    """
    patch = image[window.y0:window.y1, window.x0:window.x1]
    interpolation = cv2.INTER_AREA if min(patch.shape[:2]) > size else cv2.INTER_LINEAR
    crop = cv2.resize(patch, (size, size), interpolation=interpolation)
    scale_x = size / window.width
    scale_y = size / window.height
    x0, y0, x1, y1 = (float(v) for v in box)
    cols = _coverage((x0 - window.x0) * scale_x, (x1 - window.x0) * scale_x, size)
    rows = _coverage((y0 - window.y0) * scale_y, (y1 - window.y0) * scale_y, size)
    return crop, np.outer(rows, cols).astype(np.float32)


def _coverage(start: float, end: float, size: int) -> np.ndarray:
    """Share of each of ``size`` unit cells covered by the interval [start, end)."""
    cells = np.arange(size, dtype=np.float64)
    return np.clip(np.minimum(cells + 1, end) - np.maximum(cells, start), 0.0, 1.0)


def paste_logits(logits: np.ndarray, window: CropWindow, width: int, height: int) -> np.ndarray:
    """Resize a crop's S x S logits to its window and place them in a ``height`` x ``width``
    float32 map that is ``-inf`` (background) outside the window."""
    full = np.full((height, width), -np.inf, dtype=np.float32)
    resized = cv2.resize(logits.astype(np.float32), (window.width, window.height),
                         interpolation=cv2.INTER_LINEAR)
    full[window.y0:window.y1, window.x0:window.x1] = resized
    return full
