"""One frame of a video as it is shown, for painting a mask on (``aotvideo frame``).

The frame comes out upright (the display rotation applied) and at the exact size masks must
have, so a layer painted on it in an image editor and exported as PNG is a valid ``--mask``.
A position is a frame index (``42``) or a time (``2.5s``, ``1:02.5``, ``0:01:02.5``), counted
from the first frame; a time picks the frame on screen at that moment.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import PositionError
from .masks import encode_png
from .paths import write_atomic
from .reader import Frame, VideoReader

__all__ = ["ExportedFrame", "FramePosition", "grab_frame", "parse_position", "upright", "write_png"]


@dataclass(frozen=True)
class FramePosition:
    """A frame index, or a time in seconds from the first frame (exactly one is set)."""

    index: int | None = None
    seconds: Fraction | None = None

    def __str__(self) -> str:
        return f"frame {self.index}" if self.index is not None else f"t={float(self.seconds or 0):g}s"


@dataclass(frozen=True)
class ExportedFrame:
    """A frame as shown: ``image`` is H x W x 3 uint8 RGB, upright; ``index`` and ``time``
    (seconds from the first frame) say which frame it is; ``rotation`` is the turn that was
    applied and ``stored_size`` the (width, height) it has in the file."""

    image: np.ndarray
    index: int
    time: float
    rotation: int
    stored_size: tuple[int, int]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) as shown: the size a mask for this video must have."""
        return self.image.shape[1], self.image.shape[0]


_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")


def parse_position(text: str) -> FramePosition:
    """Parse ``"42"`` (frame index), ``"2.5s"`` (seconds), ``"1:02.5"`` or ``"0:01:02.5"``.

    Raises :class:`~aotvideo.errors.PositionError` for anything else or a negative position.
    """
    value = text.strip().lower()
    if re.fullmatch(r"\d+", value):
        return FramePosition(index=int(value))
    seconds: Fraction | None = None
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*s(?:ec(?:onds?)?)?", value)
    if match:
        seconds = Fraction(match.group(1))
    clock = _CLOCK.match(value)
    if clock:
        hours, minutes, secs = clock.groups()
        seconds = Fraction(int(hours or 0) * 3600 + int(minutes) * 60) + Fraction(secs)
    if seconds is None:
        raise PositionError(f"position {text!r}: expected a frame index (42) or a time "
                            "(2.5s, 1:02.5, 0:01:02.5)")
    return FramePosition(seconds=seconds)


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """``image`` (stored orientation) turned as a player shows it, for a counter-clockwise
    display ``rotation`` of 0, 90, 180 or 270 degrees."""
    quarters = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(image, quarters)) if quarters else image


def _exact_time(frame: Frame) -> Fraction:
    return Fraction(frame.pts) * frame.time_base


def _pick_index(reader: VideoReader, index: int) -> Frame:
    count = 0
    for frame in reader.frames():
        if frame.index == index:
            return frame
        count = frame.index + 1
    raise PositionError(f"{reader.source_name} has {count} frames (0 to {count - 1}); there is "
                        f"no frame {index}")


def _pick_time(reader: VideoReader, seconds: Fraction) -> Frame:
    """The frame on screen ``seconds`` after the first one: the last that starts by then."""
    origin = _exact_time(reader.first_frame)
    chosen: Frame | None = None
    for frame in reader.frames():
        if chosen is not None and _exact_time(frame) - origin > seconds:
            return chosen
        chosen = frame
    assert chosen is not None  # a reader always has a first frame
    return _within_duration(reader, chosen, seconds, origin)


def _within_duration(reader: VideoReader, last: Frame, seconds: Fraction, origin: Fraction) -> Frame:
    """``last`` (the video's last frame) when ``seconds`` is before its end, else an error."""
    rate = reader.info.frame_rate
    end = _exact_time(last) - origin + (1 / rate if rate else 0)
    if seconds < end:
        return last
    raise PositionError(f"{reader.source_name} ends at {float(end):.3f}s; there is no frame at "
                        f"{float(seconds):g}s")


def grab_frame(source: str | os.PathLike[str], at: FramePosition) -> ExportedFrame:
    """Decode ``source`` up to the frame at ``at`` and return it as shown.

    Raises :class:`~aotvideo.errors.PositionError` when the video has no such frame,
    :class:`~aotvideo.errors.InputError` / :class:`~aotvideo.errors.InputDecodeError` when it
    cannot be read that far.
    """
    with VideoReader(source, audio="none") as reader:
        if at.index is not None:
            frame = _pick_index(reader, at.index)
        else:
            assert at.seconds is not None
            frame = _pick_time(reader, at.seconds)
        rotation = reader.info.rotation
        stored = (reader.info.width, reader.info.height)
        origin = _exact_time(reader.first_frame)
    return ExportedFrame(image=upright(frame.image, rotation), index=frame.index,
                         time=float(_exact_time(frame) - origin), rotation=rotation,
                         stored_size=stored)


def write_png(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write an RGB image as a PNG file (replaced atomically).

    Raises :class:`~aotvideo.errors.OutputError` when it cannot be written.
    """
    write_atomic(path, encode_png(np.ascontiguousarray(image, dtype=np.uint8)))
