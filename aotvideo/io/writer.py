"""Encoding the output with PyAV: video containers, raw video, PNG folders.

A :class:`VideoWriter` keeps the input's timestamps (so variable frame rate survives), writes the
input's display rotation into the output, and carries the input's audio: stream copy when the
output container accepts the codec, otherwise a transcode to the container's usual codec (AAC,
Opus for WebM). Whether a copy works is not taken from the muxer's codec list alone (MOV lists
FLAC and Opus but refuses them, MP4 takes PCM only with known channel positions): the copy is
tried first in memory (:func:`audio_copy_problem`), and the file's header is written by the
constructor, so a muxer that refuses the stream there makes the writer fall back to a transcode
before any frame is encoded. MP4 and MOV written to a pipe are fragmented so they can be played
while they are written. :meth:`VideoWriter.close` always finalizes the file (flushes the
encoders and writes the trailer), so a run that stops early leaves a playable file with the
frames written so far; an output that could not be started, or that holds no frame, is removed
rather than left empty.

:class:`WriterThread` runs the encoding in a background thread behind a small bounded queue.
"""
from __future__ import annotations

import io
import os
import queue
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import OutputError
from .colour import Colour, tag_encoder, to_encoder
from .formats import OutputSpec, encoder_options
from .masks import davis_palette, encode_png
from .reader import AudioChunk
from .yuv import PLANAR_PICTURES, OutputPicture, as_rgb

__all__ = [
    "VideoWriter",
    "PngSequenceWriter",
    "WriterThread",
    "open_writer",
    "can_copy_audio",
    "audio_copy_problem",
    "known_layout",
]

#: mpegts does not answer FFmpeg's codec query; these are the audio codecs it carries.
_MPEGTS_AUDIO = {"aac", "mp3", "mp2", "ac3", "eac3", "opus"}
_SUBSAMPLED = ("yuv420", "yuva420", "nv12", "nv21", "yuvj420", "yuv422", "yuva422")
_IMAGE_FORMATS = {"rgb": "rgb24", "gray": "gray", "rgba": "rgba"}
#: Containers that store a display rotation (a display matrix); others get upright frames.
ROTATING_CONTAINERS = ("mp4", "mov", "matroska", "webm")
#: PCM codec names and their bits per coded sample (pcm_s16le: 16, pcm_s24le: 24, pcm_f32be ...).
_PCM_CODEC = re.compile(r"pcm_[suf](8|16|24|32|64)(le|be)?(_planar)?")
#: Samples per channel in the packet of silence the copy trial muxes for PCM.
_TRIAL_SAMPLES = 1024


class _HeaderError(OutputError):
    """The muxer refused the streams when the header was written."""


def _output_message(target: str, exc: BaseException) -> str:
    where = "standard output" if target == "-" else target
    if isinstance(exc, BrokenPipeError):
        return f"cannot write to {where}: the reading end of the pipe was closed"
    reason = getattr(exc, "strerror", None) or str(exc)
    return f"cannot write to {where}: {reason}"


def can_copy_audio(container: str, codec: str, supported: set[str]) -> bool:
    """Whether audio in ``codec`` can be stream-copied into ``container``."""
    if container == "mpegts":
        return codec in _MPEGTS_AUDIO
    if container in ("webm",):
        return codec in ("opus", "vorbis")
    return codec in supported


def known_layout(layout: av.AudioLayout | None) -> av.AudioLayout | None:
    """The default layout for the channel count of ``layout`` when ``layout`` gives only a
    count without channel positions (``"2 channels"``: Matroska, AVI and NUT store PCM so),
    else ``None`` (the layout is known, absent, or too large to have a default).

    A stream copy keeps such a layout, and MP4 refuses it for PCM when it writes the file's
    index (its ``chnl`` box names every channel's position).
    """
    if layout is None or layout.nb_channels <= 0:
        return None
    if not any(channel.name == "NONE" for channel in layout.channels):
        return None
    try:
        return av.AudioLayout(f"{layout.nb_channels}c")
    except (ValueError, av.FFmpegError):
        return None


def _pcm_silence(source: av.audio.stream.AudioStream) -> av.Packet | None:
    """A packet of zero bytes (silence for signed and float PCM; muxers do not look inside)
    of 1024 samples in the codec of ``source`` when it is PCM, else ``None``."""
    ctx = source.codec_context
    match = _PCM_CODEC.fullmatch(ctx.name)
    channels = ctx.layout.nb_channels if ctx.layout else 0
    rate = int(ctx.sample_rate or 0)
    if match is None or channels <= 0 or rate <= 0:
        return None
    packet = av.Packet(bytes(int(match.group(1)) // 8 * channels * _TRIAL_SAMPLES))
    packet.time_base = Fraction(1, rate)
    packet.pts = packet.dts = 0
    packet.duration = _TRIAL_SAMPLES
    return packet


def _prepare_copy(stream: av.audio.stream.AudioStream, source: av.audio.stream.AudioStream) -> None:
    """Give a stream-copied audio stream channel positions where the input has only a count."""
    layout = known_layout(source.codec_context.layout)
    if layout is not None:
        stream.codec_context.layout = layout


def audio_copy_problem(
    container: str,
    source: av.audio.stream.AudioStream,
    options: Mapping[str, str] | None = None,
) -> str | None:
    """Why stream-copying ``source`` into ``container`` fails, or ``None`` when it works.

    The copy is tried in memory, as the writer would do it (same muxer and ``options``): the
    header, for PCM one packet of silence, and the trailer. Muxers refuse some codecs only
    there even though they list them (MOV: FLAC and Opus; MP4: PCM without channel
    positions, when the trailer is written).
    """
    buffer = io.BytesIO()
    try:
        trial = av.open(buffer, mode="w", format=container, options=dict(options or {}))
    except (av.FFmpegError, OSError, ValueError) as exc:
        return str(exc)
    problem: str | None = None
    try:
        stream = trial.add_stream_from_template(source)
        _prepare_copy(stream, source)
        trial.start_encoding()
        packet = _pcm_silence(source)
        if packet is not None:
            packet.stream = stream
            trial.mux(packet)
    except (av.FFmpegError, OSError, ValueError) as exc:
        problem = str(exc)
    try:
        trial.close()
    except (av.FFmpegError, OSError, ValueError) as exc:
        problem = problem or str(exc)
    return problem


@dataclass(frozen=True)
class _FileState:
    """What a target path was before the writer opened it (to tell our file from the user's)."""

    existed: bool
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: str) -> _FileState:
        try:
            info = os.stat(path)
        except OSError:
            return cls(False, 0, 0)
        return cls(True, info.st_size, info.st_mtime_ns)


def _packet_start(packet: av.Packet) -> int:
    """A packet's presentation time (its decoding time when it has none), in its time base."""
    return int(packet.pts if packet.pts is not None else (packet.dts or 0))


def _is_empty(path: str) -> bool:
    """Whether ``path`` is a regular file of 0 bytes."""
    return os.path.isfile(path) and os.path.getsize(path) == 0


def _remove_output(path: str, before: _FileState | None = None) -> None:
    """Remove ``path`` if it is a regular file that the writer created or rewrote (never a
    device, a pipe, or a file the writer failed to open, which ``before`` recognises)."""
    try:
        info = os.stat(path)
    except OSError:
        return
    if not os.path.isfile(path):
        return
    if before is not None and before.existed and info.st_size == before.size \
            and info.st_mtime_ns == before.mtime_ns and info.st_size > 0:
        return
    try:
        os.unlink(path)
    except OSError:
        pass


class VideoWriter:
    """Encode frames into a container (a file, a pipe, or ``"-"`` for standard output).

    ``width``/``height`` is the stored (unrotated) size of the video and ``time_base`` the unit
    of the ``pts`` given to :meth:`write`. ``rotation`` (counter-clockwise degrees) is the input's
    display rotation: containers that can store it get it as their display matrix and
    :attr:`rotation` keeps it, so :meth:`write` takes images in the stored orientation; other
    containers (NUT, MPEG-TS, raw video) cannot, so :attr:`rotation` is 0 and :meth:`write` takes
    upright images (width and height swapped for 90/270). ``audio_stream`` is the input's audio
    stream: after construction
    :attr:`audio_mode` says whether :meth:`write_audio` wants demuxed packets (``"packets"``,
    stream copy), decoded frames (``"frames"``, transcode) or nothing (``"none"``).

    ``colour`` is the input's colour description (:class:`~aotvideo.io.colour.Colour`): a picture
    output (RGB, RGBA or YUV planes; not a gray matte) is tagged with it and RGB pictures are
    turned into YUV with its matrix and levels, so the output shows the input's colours;
    :attr:`colour` is then the output's tags (``None`` when the input was untagged: FFmpeg's
    defaults both ways, as before).
    """

    def __init__(
        self,
        spec: OutputSpec,
        *,
        width: int,
        height: int,
        time_base: Fraction,
        frame_rate: Fraction | None = None,
        rotation: int = 0,
        audio_stream: av.audio.stream.AudioStream | None = None,
        colour: Colour | None = None,
    ) -> None:
        if spec.kind != "video":
            raise ValueError("VideoWriter writes video containers; use PngSequenceWriter for PNG")
        self.spec = spec
        self.frames_written = 0
        self.audio_mode = "none"
        self._closed = False
        rotation = rotation % 360
        if rotation and spec.container not in ROTATING_CONTAINERS:
            if rotation in (90, 270):
                width, height = height, width
            rotation = 0
        self.rotation = rotation
        self.width, self.height = width, height
        self._image_format = _IMAGE_FORMATS[spec.image]
        # a matte is data, not a picture: no colour tags
        self._source_colour = colour if spec.image != "gray" else None
        self.colour: Colour | None = None
        self._time_base = Fraction(time_base)
        self._last_pts: int | None = None
        self._audio_out: av.audio.stream.AudioStream | None = None
        self._resampler: av.AudioResampler | None = None
        self._audio_next: int | None = None
        self._held_audio: av.Packet | None = None  # a copied packet waiting for its duration
        self._audio_step: int | None = None  # the last copied packet's duration
        self._before: _FileState | None = None
        if not spec.to_stdout:
            parent = Path(spec.target).parent
            if not parent.is_dir():
                raise OutputError(f"cannot write to {spec.target}: folder {parent} does not exist")
            self._before = _FileState.of(spec.target)
        try:
            self._start(width, height, frame_rate, rotation, audio_stream, copy_audio=True)
        except _HeaderError:
            # The muxer refused the copied audio only when writing the header: transcode it.
            # (A pipe may have received part of a header already; files are started afresh.)
            if self.audio_mode != "packets" or spec.to_stdout:
                raise
            self._start(width, height, frame_rate, rotation, audio_stream, copy_audio=False)

    # -- set-up --------------------------------------------------------------------------------

    def _start(
        self,
        width: int,
        height: int,
        frame_rate: Fraction | None,
        rotation: int,
        audio_stream: av.audio.stream.AudioStream | None,
        *,
        copy_audio: bool,
    ) -> None:
        """Open the container, add the streams and write the header (so that a muxer refusing
        a stream does so here, before any frame is encoded).

        Raises :class:`~aotvideo.errors.OutputError` (:class:`_HeaderError` when writing the
        header failed); the output file is then removed.
        """
        spec = self.spec
        self._closed = False
        self.audio_mode = "none"
        self._audio_out = None
        self._resampler = None
        try:
            self._container = av.open("pipe:1" if spec.to_stdout else spec.target, mode="w",
                                      format=spec.container, options=dict(spec.container_options))
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise OutputError(_output_message(spec.target, exc)) from exc
        try:
            self._add_video(width, height, frame_rate, rotation)
            if audio_stream is not None and spec.audio:
                self._add_audio(audio_stream, copy=copy_audio)
            try:
                self._container.start_encoding()
            except (av.FFmpegError, OSError, ValueError) as exc:
                raise _HeaderError(_output_message(spec.target, exc)) from exc
        except BaseException:
            # PyAV leaves the file handle of a failed header open; the file can go all the same.
            self._abandon()
            if not spec.to_stdout:
                _remove_output(spec.target, self._before)
            raise

    def _add_video(self, width: int, height: int, frame_rate: Fraction | None, rotation: int) -> None:
        spec = self.spec
        rate = frame_rate if frame_rate and frame_rate > 0 else Fraction(25)
        rate = rate.limit_denominator(1001 * 1000)
        try:
            stream = self._container.add_stream(spec.codec or "rawvideo", rate=rate,
                                                options=encoder_options(spec, width, height))
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot set up encoder {spec.codec}: {exc}") from exc
        pix_fmt = spec.pix_fmt or "yuv420p"
        odd = width % 2 or height % 2
        if odd and pix_fmt.startswith(_SUBSAMPLED) and spec.codec in ("libx264", "h264", "libx265"):
            # 4:2:0 needs even sizes; keep every pixel rather than crop.
            pix_fmt = "yuv444p"
        stream.width = width
        stream.height = height
        stream.pix_fmt = pix_fmt
        if self._source_colour is not None:
            self.colour = tag_encoder(stream.codec_context, self._source_colour, pix_fmt)
        stream.codec_context.time_base = self._time_base
        stream.time_base = self._time_base
        if rotation:
            stream.set_display_rotation(rotation)
        self._video = stream

    def _add_audio(self, source: av.audio.stream.AudioStream, *, copy: bool = True) -> None:
        """Add the output's audio stream: a stream copy of ``source`` when ``copy`` and the
        container takes it (its codec list, then a trial in memory), else a transcode."""
        spec = self.spec
        assert spec.container is not None
        # the codec's own name: the decoder's may differ (mp3float decodes mp3)
        codec = getattr(source.codec_context.codec, "canonical_name", source.codec_context.name)
        if copy and can_copy_audio(spec.container, codec, self._container.supported_codecs) \
                and audio_copy_problem(spec.container, source, spec.container_options) is None:
            try:
                self._audio_out = self._container.add_stream_from_template(source)
                _prepare_copy(self._audio_out, source)
                self.audio_mode = "packets"
                return
            except (av.FFmpegError, ValueError):
                self._audio_out = None
        target_codec = "libopus" if spec.container == "webm" else "aac"
        encoder = av.Codec(target_codec, "w")
        in_ctx = source.codec_context
        rate = int(in_ctx.sample_rate or 48000)
        rates = list(encoder.audio_rates or [])
        if rates and rate not in rates:
            rate = 48000 if 48000 in rates else rates[0]
        channels = in_ctx.layout.nb_channels if in_ctx.layout else 2
        layout = "mono" if channels == 1 else "stereo"
        formats = [f.name for f in (encoder.audio_formats or [])]
        sample_fmt = "fltp" if "fltp" in formats else ("flt" if "flt" in formats else formats[0])
        try:
            stream = self._container.add_stream(target_codec, rate=rate)
            stream.layout = layout
            stream.format = sample_fmt
            stream.codec_context.time_base = Fraction(1, rate)
        except (av.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot set up audio encoder {target_codec}: {exc}") from exc
        self._audio_out = stream
        self._resampler = av.AudioResampler(format=sample_fmt, layout=layout, rate=rate)
        self._audio_rate = rate
        self.audio_mode = "frames"

    # -- writing ---------------------------------------------------------------------------------

    def write(self, image: OutputPicture, pts: int | None = None) -> None:
        """Encode one image (H x W x 3 RGB, H x W gray or H x W x 4 RGBA, as the spec says, or
        YUV planes, with alpha for an alpha output: taken as they are by an encoder of their
        layout and resampled for others of the same matrix, so the output keeps the input's
        own values; see :func:`~aotvideo.io.colour.to_encoder`).

        ``pts`` is in the ``time_base`` given at construction; ``None`` continues after the last.
        """
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"image is {image.shape[1]}x{image.shape[0]}, the output "
                             f"{self.width}x{self.height}")
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + 1
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        if isinstance(image, PLANAR_PICTURES):
            frame = to_encoder(image.to_video_frame(), self._video.pix_fmt, self.colour)
        else:
            frame = to_encoder(_wrap_image(image, self._image_format), self._video.pix_fmt,
                               self.colour)
        frame.pts = int(pts)
        frame.time_base = self._time_base
        try:
            packets = self._video.encode(frame)
            self._container.mux(packets)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(_output_message(self.spec.target, exc)) from exc
        self._last_pts = int(pts)
        self.frames_written += 1

    def write_audio(self, chunk: AudioChunk) -> None:
        """Copy or transcode a piece of the input's audio (see :attr:`audio_mode`)."""
        if self._audio_out is None:
            return
        payload = chunk.payload
        try:
            if self.audio_mode == "packets" and isinstance(payload, av.Packet):
                self._copy_audio(payload)
            elif self.audio_mode == "frames" and isinstance(payload, av.AudioFrame):
                assert self._resampler is not None
                if self._audio_next is None:
                    start = payload.time if payload.pts is not None and payload.time_base else 0.0
                    self._audio_next = max(0, round((start or 0.0) * self._audio_rate))
                payload.pts = None
                for resampled in self._resampler.resample(payload):
                    self._encode_audio(resampled)
        except (av.FFmpegError, OSError) as exc:
            raise OutputError(_output_message(self.spec.target, exc)) from exc

    def _copy_audio(self, packet: av.Packet) -> None:
        """Mux a stream-copied packet. One without a duration (NUT stores none) waits for the
        next, whose start gives it one: MP4 and MOV would give it none, and their edit list
        would then cut the last packet's audio off."""
        assert self._audio_out is not None
        if self._held_audio is not None:
            held, self._held_audio = self._held_audio, None
            gap = _packet_start(packet) - _packet_start(held)
            if gap > 0:
                self._audio_step = gap
            self._mux_copied(held, self._audio_step)
        if packet.duration:
            self._audio_step = packet.duration
            self._mux_copied(packet, None)
        else:
            self._held_audio = packet

    def _mux_copied(self, packet: av.Packet, duration: int | None) -> None:
        if duration and not packet.duration:
            packet.duration = duration
        packet.stream = self._audio_out
        self._container.mux(packet)

    def _encode_audio(self, frame: av.AudioFrame | None) -> None:
        assert self._audio_out is not None
        if frame is not None:
            frame.pts = self._audio_next
            frame.time_base = Fraction(1, self._audio_rate)
            self._audio_next = (self._audio_next or 0) + frame.samples
        self._container.mux(self._audio_out.encode(frame))

    # -- finishing ---------------------------------------------------------------------------------

    def close(self) -> None:
        """Flush the encoders and finalize the container. Safe to call more than once.

        The container is closed even when flushing fails (a closed pipe, a full disk); the
        first error is raised afterwards as :class:`~aotvideo.errors.OutputError`.
        """
        if self._closed:
            return
        self._closed = True
        error: BaseException | None = None
        try:
            self._container.mux(self._video.encode(None))
        except (av.FFmpegError, OSError, ValueError) as exc:
            error = exc
        if self._held_audio is not None and error is None:
            held, self._held_audio = self._held_audio, None
            try:  # the last copied packet lasts as long as the one before it
                self._mux_copied(held, self._audio_step)
            except (av.FFmpegError, OSError, ValueError) as exc:
                error = exc
        if self._resampler is not None and self._audio_out is not None and error is None:
            try:
                for resampled in self._resampler.resample(None):
                    self._encode_audio(resampled)
                self._encode_audio(None)
            except (av.FFmpegError, OSError, ValueError) as exc:
                error = exc
        try:
            self._container.close()
        except (av.FFmpegError, OSError, ValueError) as exc:
            error = error or exc
        if not self.spec.to_stdout and (self.frames_written == 0 or _is_empty(self.spec.target)):
            # no picture (or not a byte) to keep: leave no empty file behind
            _remove_output(self.spec.target, self._before)
        if error is not None:
            raise OutputError(_output_message(self.spec.target, error)) from error

    def _abandon(self) -> None:
        self._closed = True
        try:
            self._container.close()
        except (av.FFmpegError, OSError, ValueError):
            pass


class PngSequenceWriter:
    """Write one PNG per frame into a folder, named by frame index (``00000.png`` ...).

    ``labels`` images are written as palette PNGs in the DAVIS palette; ``rgb``, ``gray`` and
    ``rgba`` images as they are.
    """

    def __init__(self, spec: OutputSpec, *, digits: int = 5) -> None:
        if spec.kind != "png":
            raise ValueError("PngSequenceWriter needs a PNG output spec")
        self.spec = spec
        self.directory = Path(spec.target)
        self.frames_written = 0
        self.audio_mode = "none"
        self.rotation = 0  # PNG files are written upright
        self._digits = digits
        self._palette = davis_palette()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create folder {self.directory}: {exc.strerror or exc}") from exc

    def path_for(self, index: int) -> Path:
        """The file a frame index is written to."""
        return self.directory / f"{index:0{self._digits}d}.png"

    def write(self, image: OutputPicture, pts: int | None = None, *,
              index: int | None = None) -> None:
        """Write one frame's image (YUV planes as their RGB(A)); ``index`` names the file
        (default: the count so far)."""
        number = self.frames_written if index is None else index
        if self.spec.image == "labels":
            labels = np.asarray(image)
            if labels.size and (labels.min() < 0 or labels.max() > 255):
                raise OutputError("palette PNG masks hold object ids 0..255 only")
            data = encode_png(labels.astype(np.uint8), palette=self._palette)
        else:
            data = encode_png(np.asarray(as_rgb(image), dtype=np.uint8))
        path = self.path_for(number)
        temporary = path.with_name(path.name + ".tmp")
        try:
            with open(temporary, "wb") as handle:
                handle.write(data)
            os.replace(temporary, path)
        except OSError as exc:
            try:
                temporary.unlink()
            except OSError:
                pass
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
        self.frames_written += 1

    def write_audio(self, chunk: AudioChunk) -> None:
        """PNG folders carry no audio; ignored."""

    def close(self) -> None:
        """Nothing to finalize: every PNG is complete once written."""


def open_writer(
    spec: OutputSpec,
    *,
    width: int,
    height: int,
    time_base: Fraction,
    frame_rate: Fraction | None = None,
    rotation: int = 0,
    audio_stream: av.audio.stream.AudioStream | None = None,
    colour: Colour | None = None,
) -> VideoWriter | PngSequenceWriter:
    """A writer for ``spec``: :class:`PngSequenceWriter` for PNG folders, else
    :class:`VideoWriter`."""
    if spec.kind == "png":
        return PngSequenceWriter(spec)
    return VideoWriter(spec, width=width, height=height, time_base=time_base,
                       frame_rate=frame_rate, rotation=rotation, audio_stream=audio_stream,
                       colour=colour)


_STOP = object()


class WriterThread:
    """Run ``handle(item)`` for each queued item in a background thread, then ``finish()``.
    ``gate()``, when given, is called before each item and may block (see :meth:`wait_idle`).

    The queue holds at most ``queue_size`` items, so a slow encoder slows the producer instead of
    filling memory. The first exception raised by ``handle`` or ``finish`` is kept in
    :attr:`error`; after it, queued items are dropped and :meth:`put` returns ``False``.
    ``finish`` runs in every case (it finalizes the output).
    """

    def __init__(self, handle: Callable[[object], None], finish: Callable[[], None],
                 *, queue_size: int = 4, name: str = "aotvideo-encode",
                 gate: Callable[[], object] | None = None) -> None:
        self._handle = handle
        self._gate = gate
        self._finish = finish
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, queue_size))
        self.error: BaseException | None = None
        self._failed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    break
                if self._failed.is_set():
                    continue
                if self._gate is not None:
                    self._gate()
                self._handle(item)
            except BaseException as exc:  # handed to the producer through .error
                self.error = exc
                self._failed.set()
            finally:
                self._queue.task_done()
        try:
            self._finish()
        except BaseException as exc:
            if self.error is None:
                self.error = exc
            self._failed.set()

    @property
    def failed(self) -> bool:
        """Whether writing has failed (see :attr:`error`)."""
        return self._failed.is_set()

    def put(self, item: object) -> bool:
        """Queue an item, waiting while the queue is full; ``False`` once writing has failed."""
        while not self._failed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if not self._thread.is_alive():
                    return False
        return False

    def wait_idle(self) -> None:
        """Wait until every item queued so far has been handled (or writing has stopped)."""
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks and self._thread.is_alive():
                self._queue.all_tasks_done.wait(0.1)

    def close(self) -> None:
        """Let the queued items be written, finalize, and wait for the thread."""
        if self._closed:
            return
        self._closed = True
        while self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()


def _wrap_image(image: np.ndarray, image_format: str) -> av.VideoFrame:
    """A video frame over ``image``'s own memory (no copy: a 4K RGB picture is 25 MB); the
    encoder converts it to its pixel format right away.  Layouts PyAV cannot wrap are copied."""
    image = np.ascontiguousarray(image)
    try:
        return av.VideoFrame.from_numpy_buffer(image, format=image_format)
    except (ValueError, TypeError):
        return av.VideoFrame.from_ndarray(image, format=image_format)
