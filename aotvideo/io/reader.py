"""Decoding videos with PyAV in a background thread.

A :class:`VideoReader` opens a file, a pipe (``"-"`` is standard input) or raw video, reads the
first frame at once (so the size, rotation and decodability are known before any work starts),
and then decodes the rest in a thread that feeds a small bounded queue: memory does not depend
on the length of the video, and decoding overlaps whatever the consumer does with the frames.

Frames come out as H x W x 3 uint8 RGB arrays in the stored (coded) orientation with their
presentation timestamps; :attr:`VideoInfo.rotation` says how a player turns them for display.
Audio travels along as demuxed packets (for stream copy) or decoded frames (for transcoding),
in demux order between the video frames.
"""
from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Literal

import av
import numpy as np

from ..errors import InputDecodeError, InputError
from .colour import Colour, rgb_of
from .yuv import Yuv420Image, as_rgb, richer_than_420

__all__ = [
    "AudioChunk",
    "AudioInfo",
    "Frame",
    "VideoInfo",
    "VideoReader",
    "parse_size",
]

AudioMode = Literal["packets", "frames", "none"]


@dataclass(frozen=True)
class AudioInfo:
    """The first audio stream of an input."""

    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str
    time_base: Fraction | None


@dataclass(frozen=True)
class VideoInfo:
    """What is known about an input video before decoding it all.

    ``width``/``height`` are the stored frame size; ``rotation`` (0, 90, 180 or 270) is the
    counter-clockwise turn a player applies for display, from the stream's display matrix, and
    ``display_width``/``display_height`` the size after it. ``frames`` is the frame count the
    container declares (``None`` when unknown, e.g. for pipes), ``duration`` in seconds likewise.
    ``colour`` is the first frame's colour description (matrix, primaries, transfer, range).
    """

    source: str
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    pix_fmt: str | None
    time_base: Fraction
    frame_rate: Fraction | None
    frames: int | None
    duration: float | None
    audio: AudioInfo | None
    colour: Colour = Colour()

    @property
    def display_width(self) -> int:
        """Width of the frames as shown (after rotation)."""
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int:
        """Height of the frames as shown (after rotation)."""
        return self.width if self.rotation in (90, 270) else self.height


@dataclass
class Frame:
    """One decoded video frame.

    ``image`` is H x W x 3 uint8 RGB in the stored orientation (with ``planar=True`` readers,
    a :class:`~aotvideo.io.yuv.Yuv420Image` when the video is 8-bit 4:2:0; ``planar="convert"``,
    when it is any YUV); ``pts`` its presentation
    timestamp in ``time_base`` units (strictly increasing along the video); ``index`` counts
    frames from 0 in presentation order. ``decoded`` is the decoded frame itself when the reader
    keeps them (:meth:`VideoReader.keep_decoded_frames`) and it holds more than 8-bit 4:2:0
    (10-bit, 4:2:2, 4:4:4): for outputs that carry it (a 10-bit source's alpha clip).
    """

    index: int
    image: np.ndarray | Yuv420Image
    pts: int
    time_base: Fraction
    decoded: av.VideoFrame | None = None

    def rgb(self) -> np.ndarray:
        """The H x W x 3 uint8 RGB picture (converted from the planes of a planar frame)."""
        return as_rgb(self.image)

    @property
    def time(self) -> float:
        """Presentation time in seconds."""
        return float(self.pts * self.time_base)


@dataclass
class AudioChunk:
    """A piece of the input's audio: a demuxed packet or a decoded frame (see ``audio=``)."""

    payload: av.Packet | av.AudioFrame


@dataclass
class _Failure:
    error: BaseException


_END = object()


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"WxH"`` (e.g. ``"640x360"``) into ``(width, height)``."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected WIDTHxHEIGHT such as 640x360, got {text!r}")
    width, height = int(parts[0]), int(parts[1])
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return width, height


def _rotation_of(frame: av.VideoFrame) -> int:
    """Counter-clockwise display rotation of a decoded frame, snapped to 0/90/180/270."""
    try:
        degrees = float(frame.rotation)
    except (AttributeError, TypeError, ValueError):
        return 0
    quarter = round(degrees / 90.0)
    if abs(quarter * 90.0 - degrees) > 1.0:
        return 0
    return (quarter % 4) * 90


def _stdin_target() -> str:
    """FFmpeg's URL for standard input: the file itself when it is a redirected regular file
    (seekable, so any container works), else the pipe."""
    try:
        regular = stat.S_ISREG(os.fstat(0).st_mode)
    except OSError:
        regular = False
    if regular and os.path.exists("/dev/stdin"):
        return "/dev/stdin"
    return "pipe:0"


def _describe(source: str | os.PathLike[str] | IO[bytes]) -> str:
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        return "standard input" if text == "-" else text
    return getattr(source, "name", None) or "<stream>"


class VideoReader:
    """Decode a video in a background thread, frame by frame, in bounded memory.

    ``source`` is a path, ``"-"`` for standard input, or a binary file object. ``format`` forces
    a demuxer (e.g. ``"nut"``); ``raw_size=(w, h)`` reads headerless ``rawvideo`` in ``pix_fmt``
    (default ``rgb24``) at ``rate`` frames per second (default 25). ``planar`` keeps 8-bit 4:2:0
    frames in their planes (:class:`~aotvideo.io.yuv.Yuv420Image`, no colour conversion); other
    frames are RGB, unless ``planar="convert"``: then YUV frames of other layouts and depths
    (10-bit, 4:2:2, 4:4:4) are brought to 8-bit 4:2:0 planes too, for uses that need no more.

    The container is opened and the first frame decoded in the constructor, so errors in the
    input show up there as :class:`~aotvideo.errors.InputError`. Iterate with :meth:`frames`
    (video only) or :meth:`items` (video frames and audio chunks in demux order). A break in
    the input part-way raises :class:`~aotvideo.errors.InputDecodeError` from the iterator after
    the good frames. Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        source: str | os.PathLike[str] | IO[bytes],
        *,
        format: str | None = None,
        raw_size: tuple[int, int] | None = None,
        pix_fmt: str | None = None,
        rate: float | Fraction | None = None,
        audio: AudioMode = "packets",
        queue_size: int = 4,
        planar: bool | Literal["convert"] = False,
    ) -> None:
        self.source_name = _describe(source)
        self._planar = planar
        self._keep_decoded = False
        self._first_decoded: av.VideoFrame | None = None  # the first frame as decoded
        self._audio_mode: AudioMode = audio
        self._gate: Callable[[], object] | None = None
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._container_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pending: list[object] = []
        self._closed = False
        self._iterating = False
        self.frames_decoded = 0
        self._last_end = 0.0
        self._video_end = 0.0

        options: dict[str, str] = {}
        if raw_size is not None:
            format = "rawvideo"
            options = {
                "video_size": f"{raw_size[0]}x{raw_size[1]}",
                "pixel_format": pix_fmt or "rgb24",
                "framerate": str(rate or 25),
            }
        elif pix_fmt is not None:
            raise ValueError("pix_fmt is for raw video input; give raw_size too")
        target: str | IO[bytes]
        if isinstance(source, (str, os.PathLike)):
            text = os.fspath(source)
            target = _stdin_target() if text == "-" else text
            if text != "-" and not Path(text).exists():
                raise InputError(f"input {text}: file not found")
        else:
            target = source
        try:
            self._container = av.open(target, mode="r", format=format, options=options)
        except av.FFmpegError as exc:
            hint = ""
            if self.source_name == "standard input" and format is None:
                hint = (" (from a pipe, use a streamable container such as nut, matroska or "
                        "mpegts, or an MP4 with its index first: ffmpeg -movflags faststart)")
            raise InputError(
                f"cannot open input {self.source_name}: {exc.strerror or exc}{hint}") from exc
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot open input {self.source_name}: {exc}") from exc
        try:
            self._setup()
        except BaseException:
            self._container.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    def _setup(self) -> None:
        container = self._container
        videos = [
            s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
        ]
        if not videos:
            raise InputError(f"input {self.source_name} has no video stream")
        self._video = videos[0]
        self._video.thread_type = "AUTO"
        self._audio = container.streams.audio[0] if container.streams.audio else None
        tb = self._video.time_base
        rate = self._video.average_rate or self._video.guessed_rate or self._video.base_rate
        self._rate: Fraction | None = Fraction(rate) if rate else None
        self._time_base: Fraction = Fraction(tb) if tb else Fraction(1, int(self._rate or 25))
        if self._rate:
            step = 1 / (self._rate * self._time_base)
            self._default_step = max(1, round(step))
        else:
            self._default_step = 1
        self._next_index = 0
        self._last_pts: int | None = None
        self._generator = self._demux()

        # Read ahead to the first video frame, keeping any audio met on the way.
        first: Frame | None = None
        try:
            for item in self._generator:
                self._pending.append(item)
                if isinstance(item, Frame):
                    first = item
                    break
        except InputDecodeError as exc:
            hint = ""
            if self.source_name == "standard input":
                hint = (" (from a pipe, use a streamable container such as nut, matroska or "
                        "mpegts, or an MP4 with its index first: ffmpeg -movflags faststart)")
            raise InputError(f"{exc}{hint}") from exc
        if first is None:
            raise InputError(f"input {self.source_name} has no decodable video frames")
        self._first = first

        frames = int(self._video.frames or 0) or None
        duration: float | None = None
        if self._video.duration is not None and self._video.time_base:
            duration = float(self._video.duration * self._video.time_base)
        elif self._container.duration:
            duration = self._container.duration / 1_000_000
        audio_info = None
        if self._audio is not None:
            ctx = self._audio.codec_context
            layout = getattr(ctx, "layout", None)
            audio_info = AudioInfo(
                index=self._audio.index,
                codec=ctx.name,
                sample_rate=int(ctx.sample_rate or 0),
                channels=int(getattr(ctx, "channels", 0) or (layout.nb_channels if layout else 0)),
                layout=layout.name if layout else "",
                time_base=Fraction(self._audio.time_base) if self._audio.time_base else None,
            )
        self.info = VideoInfo(
            source=self.source_name,
            container=self._container.format.name,
            codec=self._video.codec_context.name,
            width=first.image.shape[1],
            height=first.image.shape[0],
            rotation=self._first_rotation,
            pix_fmt=self._video.codec_context.pix_fmt,
            time_base=self._time_base,
            frame_rate=self._rate,
            frames=frames,
            duration=duration,
            audio=audio_info,
            colour=self._first_colour,
        )

    @property
    def audio_stream(self) -> av.audio.stream.AudioStream | None:
        """The input's audio stream (a template for stream copy), or ``None``."""
        return self._audio

    @property
    def first_frame(self) -> Frame:
        """The first video frame (read when the input was opened)."""
        return self._first

    def first_rgb(self) -> np.ndarray:
        """The first frame's H x W x 3 uint8 RGB (stored orientation) as a plain reader gives
        it, from the decoded frame whatever this reader's ``planar``: the picture masks are made
        on (``aotvideo mask`` and ``track --box`` see the same one)."""
        assert self._first_decoded is not None
        return rgb_of(self._first_decoded)

    def set_audio_mode(self, mode: AudioMode) -> None:
        """Choose how audio is delivered by :meth:`items`: ``"packets"`` (for stream copy),
        ``"frames"`` (decoded, for transcoding) or ``"none"``. Must be called before iterating.

        Packets already read ahead with the first frame are decoded as needed.
        """
        if self._iterating:
            raise RuntimeError("set_audio_mode must be called before iterating")
        self._audio_mode = mode

    def keep_decoded_frames(self, keep: bool = True) -> None:
        """Keep each decoded frame that holds more than 8-bit 4:2:0 in :attr:`Frame.decoded`
        (beside the ``image``). Must be called before iterating."""
        if self._iterating:
            raise RuntimeError("keep_decoded_frames must be called before iterating")
        self._keep_decoded = keep
        self._first.decoded = self._kept(self._first_decoded)  # read ahead for ``info``

    def _kept(self, decoded: av.VideoFrame | None) -> av.VideoFrame | None:
        """``decoded`` when this reader keeps decoded frames and it holds more than 8-bit 4:2:0."""
        keep = self._keep_decoded and decoded is not None and richer_than_420(decoded)
        return decoded if keep else None

    def set_gate(self, gate: Callable[[], object] | None) -> None:
        """Call ``gate()`` in the decoding thread before each packet is decoded; it may block
        (a pipeline holds decoding back while its model runs on the same cores)."""
        self._gate = gate

    # -- decoding (runs in the worker thread after the first frame) ---------------------------

    def _timestamp(self, frame: av.VideoFrame) -> int:
        pts = frame.pts
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._default_step
        if frame.time_base and self._time_base and Fraction(frame.time_base) != self._time_base:
            pts = round(pts * Fraction(frame.time_base) / self._time_base)
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        self._last_pts = pts
        return int(pts)

    def _to_frame(self, decoded: av.VideoFrame) -> Frame:
        if self._next_index == 0:
            self._first_rotation = _rotation_of(decoded)
            self._first_colour = Colour.of_frame(decoded)
            self._first_decoded = decoded
        image = (Yuv420Image.from_video_frame(decoded, convert=self._planar == "convert")
                 if self._planar else None)
        if image is None:
            image = rgb_of(decoded)
        frame = Frame(self._next_index, image, self._timestamp(decoded), self._time_base,
                      self._kept(decoded))
        self._next_index += 1
        self.frames_decoded = self._next_index
        end = frame.time + (float(1 / self._rate) if self._rate else 0.0)
        self._last_end = max(self._last_end, end)
        self._video_end = max(self._video_end, end)
        return frame

    def _audio_items(self, packet: av.Packet) -> Iterator[AudioChunk]:
        if self._audio_mode == "packets":
            if packet.size and packet.dts is not None:
                yield AudioChunk(packet)
        elif self._audio_mode == "frames":
            for audio_frame in packet.decode():
                yield AudioChunk(audio_frame)

    def _demux(self) -> Iterator[Frame | AudioChunk | av.Packet]:
        streams = [self._video] + ([self._audio] if self._audio is not None else [])
        try:
            for packet in self._container.demux(streams):
                if self._gate is not None:
                    self._gate()
                if packet.stream.type == "video":
                    for decoded in packet.decode():
                        yield self._to_frame(decoded)
                else:
                    if packet.pts is not None and packet.time_base and packet.size:
                        end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                        self._last_end = max(self._last_end, end)
                    if self._iterating:
                        yield from self._audio_items(packet)
                    elif packet.size:
                        # read ahead before the audio mode is final: keep the raw packet
                        yield packet
        except (av.FFmpegError, OSError, ValueError, RuntimeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            # Frames the decoder holds back (reordering) are good: get them out first.
            yield from self._drain()
            raise InputDecodeError(self._break_message(reason),
                                   frames_done=self._next_index, time=self._last_time()) from exc
        self._check_complete()

    def _drain(self) -> Iterator[Frame]:
        try:
            for decoded in self._video.decode(None):
                yield self._to_frame(decoded)
        except (av.FFmpegError, OSError, ValueError, RuntimeError):
            return

    def _last_time(self) -> float | None:
        if self._last_pts is None:
            return None
        return float(self._last_pts * self._time_base)

    def _break_message(self, reason: str) -> str:
        where = (
            f"after frame {self._next_index - 1} (t={self._last_time():.3f}s)"
            if self._next_index
            else "before the first frame"
        )
        return f"input {self.source_name} is corrupt {where}: {reason}"

    def _reached_stream_end(self) -> bool:
        """Whether the last decoded frame ends where the video stream says it ends (within half
        a frame). AVI counts the empty chunks that stand for repeated frames (FFmpeg writes them
        to fill timestamp gaps, e.g. when audio priming shifts the start) as frames, so a
        complete AVI can hold fewer pictures than its frame count."""
        stream = self._video
        if stream.duration is None or not stream.time_base or not self._rate:
            return False
        end = float(((stream.start_time or 0) + stream.duration) * stream.time_base)
        return self._video_end >= end - 0.5 / float(self._rate)

    def _check_complete(self) -> None:
        """Tell a truncated input from one that ended normally, where the container says how
        long it should have been."""
        expected = int(self._video.frames or 0)
        if expected and self._next_index < expected and not self._reached_stream_end():
            raise InputDecodeError(
                f"input {self.source_name} ended early (truncated?): {self._next_index} of "
                f"{expected} frames, last at t={self._last_time():.3f}s",
                frames_done=self._next_index,
                time=self._last_time(),
            )
        if expected or self._container.duration is None or self._container.duration <= 0:
            return
        start = (self._container.start_time or 0) / 1_000_000
        duration = self._container.duration / 1_000_000
        reached = self._last_end - start
        frame_time = float(1 / self._rate) if self._rate else 0.04
        if reached < duration - max(3 * frame_time, 0.02 * duration):
            raise InputDecodeError(
                f"input {self.source_name} ended early (truncated?) at t={reached:.3f}s of "
                f"{duration:.3f}s after {self._next_index} frames",
                frames_done=self._next_index,
                time=self._last_time(),
            )

    def _worker(self) -> None:
        try:
            while True:
                # the container is touched under the lock, never after close() has run: a
                # Ctrl-C can land while this thread is being started, before close() can see it
                with self._container_lock:
                    if self._stop.is_set():
                        return
                    item = next(self._generator, _END)
                if item is _END:
                    break
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._put_final(_END)
        except BaseException as exc:  # handed over to the consuming thread
            self._put_final(_Failure(exc))

    def _put_final(self, item: object) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    # -- consuming ---------------------------------------------------------------------------

    def _convert_pending(self, item: object) -> Iterator[Frame | AudioChunk]:
        if isinstance(item, av.Packet):
            yield from self._audio_items(item)
        elif isinstance(item, (Frame, AudioChunk)):
            yield item

    def items(self) -> Iterator[Frame | AudioChunk]:
        """Video frames and audio chunks in demux order, decoded in a background thread."""
        if self._closed:
            raise RuntimeError("reader is closed")
        if self._iterating:
            raise RuntimeError("a VideoReader can be iterated once")
        self._iterating = True
        pending, self._pending = self._pending, []
        for item in pending:
            yield from self._convert_pending(item)
        self._thread = threading.Thread(target=self._worker, name="aotvideo-decode", daemon=True)
        self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]

    def frames(self) -> Iterator[Frame]:
        """The video frames only (audio is skipped)."""
        if not self._iterating:
            self._audio_mode = "none"
        for item in self.items():
            if isinstance(item, Frame):
                yield item

    __iter__ = frames

    def close(self) -> None:
        """Stop the decoding thread and close the input. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:
                    while True:
                        self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.1)
        with self._container_lock:
            try:
                self._container.close()
            except (av.FFmpegError, OSError):
                pass

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
