"""Turning tracking results into pictures: coloured overlays, mattes, RGBA frames."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from ..io.masks import davis_palette

__all__ = ["overlay", "matte", "with_alpha", "object_colour"]

_PALETTE = davis_palette()
#: Brighter colours for overlays: the DAVIS palette's dark tones lifted so they show on video.
_BRIGHT = np.clip(_PALETTE.astype(np.int32) * 2, 0, 255).astype(np.uint8)
_BRIGHT[_PALETTE.sum(axis=1) == 0] = 0


def object_colour(object_id: int) -> tuple[int, int, int]:
    """The RGB colour overlays use for an object id (the DAVIS palette colour, brightened)."""
    colour = _BRIGHT[int(object_id) % 256]
    if int(object_id) % 256 == 0:
        colour = np.array([255, 255, 255], dtype=np.uint8)
    return int(colour[0]), int(colour[1]), int(colour[2])


def _as_numpy(array: object) -> np.ndarray:
    if hasattr(array, "detach"):
        array = array.detach().cpu().numpy()  # type: ignore[attr-defined]
    return np.asarray(array)


def overlay(
    frame: np.ndarray,
    labels: np.ndarray,
    object_ids: Iterable[int] | None = None,
    *,
    opacity: float = 0.5,
    outline: int | None = None,
) -> np.ndarray:
    """Draw each object over the frame: a translucent fill in its colour and a solid outline.

    ``frame`` is H x W x 3 uint8 RGB, ``labels`` an H x W integer label map, ``object_ids`` the
    ids to draw (default: every non-zero id in ``labels``). ``outline`` is the outline width in
    pixels (default: about 0.4% of the shorter side, at least 1; 0 for none). Returns a new
    H x W x 3 uint8 array.
    """
    frame = _as_numpy(frame)
    labels = _as_numpy(labels)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame must be H x W x 3 uint8, got {frame.shape} {frame.dtype}")
    if labels.shape != frame.shape[:2]:
        raise ValueError(f"labels {labels.shape} do not match the frame {frame.shape[:2]}")
    ids = sorted({int(i) for i in np.unique(labels) if i != 0} if object_ids is None
                 else {int(i) for i in object_ids if int(i) != 0})
    out = frame.copy()
    if not ids:
        return out
    width = outline if outline is not None else max(1, round(min(labels.shape) * 0.004))
    alpha = float(np.clip(opacity, 0.0, 1.0))
    drawn = np.asarray(ids, dtype=np.int64)
    selected = np.isin(labels, drawn)
    if not selected.any():
        return out
    colours = np.array([object_colour(i) for i in ids], dtype=np.float32)
    owners = labels[selected]  # the id of each selected pixel, in row-major order
    slot = np.searchsorted(drawn, owners)
    pixels = out[selected].astype(np.float32)
    out[selected] = np.clip(pixels * (1 - alpha) + colours[slot] * alpha + 0.5, 0, 255
                            ).astype(np.uint8)
    if width:
        _draw_outlines(out, labels, selected, owners, ids, colours.astype(np.uint8), width)
    return out


def _draw_outlines(out: np.ndarray, labels: np.ndarray, selected: np.ndarray,
                   owners: np.ndarray, ids: list[int], colours: np.ndarray, width: int) -> None:
    """Paint each object's inner border ``width`` pixels wide in its colour, in place
    (``owners``: ``labels[selected]``).

    Each object is eroded inside its bounding box grown by the kernel's reach, which equals
    eroding the whole frame (outside the box there is nothing of the object) at a fraction of
    the cost.
    """
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    height, frame_width = labels.shape
    ys, xs = np.nonzero(selected)
    for colour, object_id in zip(colours, ids):
        mine = owners == object_id
        if not mine.any():
            continue
        y0, y1 = int(ys[mine].min()), int(ys[mine].max()) + 1
        x0, x1 = int(xs[mine].min()), int(xs[mine].max()) + 1
        y0, x0 = max(0, y0 - width - 1), max(0, x0 - width - 1)
        y1, x1 = min(height, y1 + width + 1), min(frame_width, x1 + width + 1)
        solid = (labels[y0:y1, x0:x1] == object_id).astype(np.uint8)
        inner = cv2.erode(solid, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out[y0:y1, x0:x1][(solid > inner)] = colour


def matte(
    labels: np.ndarray,
    object_ids: Sequence[int] | None = None,
    probs: np.ndarray | None = None,
    soft: bool = False,
    *,
    prob_ids: Sequence[int] | None = None,
) -> np.ndarray:
    """A luma matte: H x W uint8, 255 where the selected objects are, 0 elsewhere.

    ``object_ids`` selects objects (default: all). With ``soft=True`` the matte is the summed
    probability of the selected objects, from ``probs`` ((1+N) x H x W, channel 0 background,
    channel i the object ``prob_ids[i-1]``), which gives soft edges. ``prob_ids`` defaults to
    ``object_ids``; when no objects are selected the soft matte is ``1 - probs[0]``.
    """
    labels = _as_numpy(labels)
    if not soft:
        if object_ids is None:
            selected = labels != 0
        else:
            selected = np.isin(labels, np.asarray([int(i) for i in object_ids], dtype=np.int64))
        return np.where(selected, 255, 0).astype(np.uint8)
    if probs is None:
        raise ValueError("a soft matte needs the probabilities (probs)")
    probs = _as_numpy(probs).astype(np.float32, copy=False)
    if probs.ndim != 3 or probs.shape[1:] != labels.shape:
        raise ValueError(f"probs {probs.shape} do not match labels {labels.shape}")
    if object_ids is None:
        value = 1.0 - probs[0]
    else:
        channels = list(prob_ids) if prob_ids is not None else list(object_ids)
        if len(channels) != probs.shape[0] - 1:
            raise ValueError(
                f"probs have {probs.shape[0] - 1} object channels but {len(channels)} ids name them; "
                "pass prob_ids"
            )
        wanted = {int(i) for i in object_ids}
        picks = [c + 1 for c, i in enumerate(channels) if int(i) in wanted]
        value = probs[picks].sum(axis=0) if picks else np.zeros(labels.shape, np.float32)
    return np.clip(np.rint(value * 255.0), 0, 255).astype(np.uint8)


def with_alpha(frame: np.ndarray, matte: np.ndarray) -> np.ndarray:
    """The frame with the matte as its alpha channel: H x W x 4 uint8 RGBA (straight alpha)."""
    frame = _as_numpy(frame)
    matte = _as_numpy(matte)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"frame must be H x W x 3, got {frame.shape}")
    if matte.shape != frame.shape[:2]:
        raise ValueError(f"matte {matte.shape} does not match the frame {frame.shape[:2]}")
    out = np.empty(frame.shape[:2] + (4,), dtype=np.uint8)
    out[..., :3] = frame
    out[..., 3] = matte
    return out
