"""Frames of a video file by index, in any order, in bounded memory.

:class:`VideoReader` streams a video from start to end (files, pipes, raw video). Going backward
from a frame in the middle, or showing any frame of a long video on request, needs random
access instead: :class:`SeekableVideo` lists the video packets' timestamps once (demuxing only,
no decoding), and reads a range of frames by seeking to the key frame before it and decoding
forward from there. Frame ``i`` is the ``i``-th frame in presentation order, as
:class:`VideoReader` numbers them, and comes out upright (the display rotation applied) as
H x W x 3 uint8 RGB.

:meth:`SeekableVideo.frames` walks a range forward or backward a chunk at a time, so going
backward through an hour of video holds one chunk of frames, never the whole video.
"""
from __future__ import annotations

import bisect
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import InputDecodeError, InputError
from .colour import rgb_of
from .frame_export import upright
from .reader import _rotation_of

__all__ = ["SeekableVideo"]

#: Frames decoded per seek when walking a range (the memory of a backward walk).
DEFAULT_CHUNK = 16


class SeekableVideo:
    """A video file opened for reading frames by index.

    Args:
        path: a video file (not a pipe: seeking needs a file).

    Attributes:
        frames: number of frames.
        width / height: the upright picture's size (masks are drawn on it).
        rotation: the display rotation applied to every frame (degrees counter-clockwise).
        frame_rate: frames per second when the container says, else ``None``.

    Raises:
        InputError: the file is missing, cannot be opened, has no video, or its packets carry
            no timestamps to seek by.

    Reading is thread-safe (one decoder, behind a lock). Use as a context manager, or call
    :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike[str], *, _index: tuple[list[int], list[int]] | None = None) -> None:
        self.path = os.fspath(path)
        if not Path(self.path).is_file():
            raise InputError(f"input {self.path}: file not found (backward tracking and the studio "
                             "need a video file, not a pipe)")
        try:
            self._container = av.open(self.path, mode="r")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise InputError(f"cannot open input {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._keys: list[int] = []  # indices of key frames (where decoding can start)
        self._cursor: Iterator[av.VideoFrame] | None = None  # decoding on from _cursor_index
        self._cursor_index = -1
        try:
            self._stream = self._video_stream()
            if _index is None:
                self._pts = self._list_timestamps()
            else:
                self._pts, self._keys = _index
            first = self._decode_range(0, 1, rotate=False)[0]
        except BaseException:
            self._container.close()
            raise
        self.rotation = self._rotation
        self.height, self.width = upright(first, self.rotation).shape[:2]
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.frame_rate: float | None = float(rate) if rate else None

    def reopen(self) -> SeekableVideo:
        """Another reader of the same file with its own decoder (the frame list is shared, not
        read again): a background walk through the video then does not disturb this one."""
        return SeekableVideo(self.path, _index=(self._pts, self._keys))

    # -- opening -------------------------------------------------------------------------------

    def _video_stream(self) -> av.video.stream.VideoStream:
        streams = [s for s in self._container.streams.video
                   if not (s.disposition & av.stream.Disposition.attached_pic)]
        if not streams:
            raise InputError(f"input {self.path} has no video stream")
        stream = streams[0]
        stream.thread_type = "AUTO"
        return stream

    def _list_timestamps(self) -> list[int]:
        """Presentation timestamps of every video frame, ascending (demuxed, not decoded)."""
        stamps: list[int] = []
        keys: set[int] = set()
        try:
            for packet in self._container.demux(self._stream):
                if packet.size == 0 or getattr(packet, "is_discard", False):
                    continue
                if packet.pts is None:
                    raise InputError(f"input {self.path}: video packets without timestamps cannot "
                                     "be read by index; remux it first (ffmpeg -i IN -c copy OUT.mkv)")
                stamps.append(int(packet.pts))
                if packet.is_keyframe:
                    keys.add(int(packet.pts))
        except av.FFmpegError as exc:
            raise InputError(f"input {self.path}: cannot read its packets: {exc}") from exc
        if not stamps:
            raise InputError(f"input {self.path} has no video frames")
        stamps.sort()
        self._keys = [i for i, pts in enumerate(stamps) if pts in keys] or [0]
        return stamps

    # -- reading -------------------------------------------------------------------------------

    @property
    def frames(self) -> int:
        """Number of frames."""
        return len(self._pts)

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start < stop <= self.frames:
            raise IndexError(f"frames {start} to {stop - 1}: the video has frames 0 to {self.frames - 1}")

    def read(self, start: int, stop: int) -> list[np.ndarray]:
        """Frames ``start`` to ``stop - 1``, upright H x W x 3 uint8 RGB each.

        Raises:
            IndexError: the range is empty or outside the video.
            InputDecodeError: the file breaks off or fails to decode inside the range.
        """
        self._check_range(start, stop)
        with self._lock:
            return self._decode_range(start, stop, rotate=True)

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (upright H x W x 3 uint8 RGB); see :meth:`read`."""
        return self.read(index, index + 1)[0]

    def frames_between(self, first: int, last: int, *, chunk: int = DEFAULT_CHUNK
                       ) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, image)`` from frame ``first`` to frame ``last`` (both included), backward
        when ``last < first``, decoding ``chunk`` frames per seek (what backward holds)."""
        step = 1 if last >= first else -1
        self._check_range(min(first, last), max(first, last) + 1)
        index = first
        while (index - last) * step <= 0:
            if step > 0:
                start, stop = index, min(index + chunk, last + 1)
                images = self.read(start, stop)
                yield from zip(range(start, stop), images)
                index = stop
            else:
                start, stop = self._backward_chunk(index, last, chunk), index + 1
                images = self.read(start, stop)
                for offset in range(len(images) - 1, -1, -1):
                    yield start + offset, images[offset]
                images.clear()
                index = start - 1

    def _backward_chunk(self, index: int, last: int, chunk: int) -> int:
        """Where the chunk ending at ``index`` starts on a backward walk: at least ``chunk``
        frames back, moved back to a key frame so that every frame decoded is used, unless that
        would hold more than four chunks (then some frames are decoded for nothing)."""
        wanted = max(index - chunk + 1, last)
        position = bisect.bisect_right(self._keys, wanted) - 1
        key = self._keys[position] if position >= 0 else 0
        return max(last, key) if index - key < 4 * chunk else wanted

    def _decode_range(self, start: int, stop: int, *, rotate: bool) -> list[np.ndarray]:
        first_pts, last_pts = self._pts[start], self._pts[stop - 1]
        images: list[np.ndarray] = []
        try:
            if self._cursor is None or self._cursor_index != start:  # else: decoding goes on
                self._container.seek(first_pts, stream=self._stream, backward=True, any_frame=False)
                self._cursor = self._decoded()
            self._cursor_index = -1
            for decoded in self._cursor:
                pts = decoded.pts
                if pts is None or pts < first_pts:
                    continue
                if start == 0 and not images:
                    self._rotation = _rotation_of(decoded)
                image = rgb_of(decoded)
                images.append(upright(image, self.rotation) if rotate else image)
                if pts >= last_pts or len(images) == stop - start:
                    self._cursor_index = stop
                    break
        except av.FFmpegError as exc:
            self._cursor = None
            raise InputDecodeError(f"{self.path}: decoding frames {start} to {stop - 1} failed: "
                                   f"{exc}") from exc
        if len(images) != stop - start:
            self._cursor = None
            raise InputDecodeError(f"{self.path}: frames {start} to {stop - 1} were asked for but "
                                   f"only {len(images)} decoded (the file breaks off)")
        return images

    def _decoded(self) -> Iterator[av.VideoFrame]:
        for packet in self._container.demux(self._stream):
            yield from packet.decode()  # the last, empty packet flushes the decoder

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file."""
        self._container.close()

    def __enter__(self) -> SeekableVideo:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
