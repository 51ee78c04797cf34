"""The streaming pipeline: decode -> track -> render -> encode, in bounded memory.

Decoding runs in the :class:`~aotvideo.io.VideoReader`'s thread, tracking in the calling thread,
rendering and encoding in a :class:`~aotvideo.io.WriterThread`; small bounded queues link them,
so the three overlap and memory does not grow with the video's length.

Frames are given to the tracker upright (as a player shows them: the input's display rotation
applied), so masks are drawn on the picture people see. Video outputs are turned back to the
stored orientation and keep the rotation metadata; PNG outputs are upright.

Whatever stops a run (the input breaking off, the output failing, Ctrl-C), the output is
finalized with every frame processed so far, and :attr:`Pipeline.report` describes the run.
Nothing here prints; progress goes to a callback.
"""
from __future__ import annotations

import resource
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from .errors import InputDecodeError, MaskError, OutputError
from .io.colour import graphics_white
from .io.formats import OutputSpec, resolve_output
from .io.masks import label_areas, mask_ids, select_objects
from .io.reader import AudioChunk, Frame, VideoInfo, VideoReader
from .io.writer import PngSequenceWriter, VideoWriter, WriterThread, open_writer
from .io.yuv import DecodedYuvaImage, OutputPicture, Yuv420Image, Yuva420Image
from .propagation import LabelSpill, track_backward
from .render import matte, overlay, overlay_yuv420, with_alpha
from .schedule import CoreSchedule

__all__ = ["FrameResult", "Pipeline", "Progress", "RunReport", "RunRequest", "VideoSource", "VideoSummary",
           "check_masks", "check_palette_ids", "open_run", "render_frame", "run_track",
           "track_frame", "track_video"]


class _Result(Protocol):
    object_ids: tuple[int, ...]
    probs: Any
    label_map: Any


class _Tracker(Protocol):
    def step(self, frame: np.ndarray | Yuv420Image, mask: np.ndarray | None = None) -> _Result: ...


@dataclass(frozen=True)
class Progress:
    """Where a run stands: frames done, the total when known, seconds so far, speed, time left."""

    frames: int
    total: int | None
    elapsed: float
    fps: float
    eta: float | None


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class VideoSummary:
    """The input as the run saw it: upright size, stored rotation, frame count and rate (when
    the container says), what happened to its audio (``copy``, ``transcode`` or ``none``), and
    its colour description (``"BT.709 matrix, limited range, ..."`` or ``"untagged"``; picture
    outputs are tagged with it)."""

    width: int
    height: int
    rotation: int
    frames: int | None
    frame_rate: float | None
    audio: str
    colour: str = "untagged"


@dataclass
class RunReport:
    """What a run did; complete whether it finished or stopped (:meth:`Pipeline.run`).

    ``status`` is ``pending``, ``running``, ``completed``, ``cancelled``, ``interrupted``,
    ``input_error`` (the input broke off), ``output_error`` or ``failed``; ``message`` says why
    a run stopped. ``frames`` were tracked, ``frames_written`` reached the output;
    ``frames_backward`` of them were tracked backward from the first mask first. ``areas``
    (when asked for) holds, per frame, the pixels of each object id. ``model``, ``weights``,
    ``device`` and ``precision`` describe the tracker when the caller named them; ``schedule``
    how a CPU model shared the cores with decoding and writing (what ``auto`` measured).
    ``cpu_seconds`` is the CPU time the whole process used while the run went (every thread:
    decoding, the model, writing, and anything else the program did meanwhile);
    ``cpu_seconds / seconds`` is how many cores were kept busy.
    """

    input: str
    output: str
    mode: str
    soft: bool
    video: VideoSummary
    status: str = "pending"
    message: str | None = None
    frames: int = 0
    frames_written: int = 0
    frames_backward: int = 0
    seconds: float = 0.0
    fps: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_mb: dict[str, float] = field(default_factory=dict)
    objects: list[int] = field(default_factory=list)
    areas: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    weights: str | None = None
    device: str | None = None
    precision: str | None = None
    schedule: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (what ``aotvideo track --report`` writes)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class FrameResult:
    """One tracked frame: ``labels`` (H x W object ids, 0 = background; the smallest unsigned
    integer type that holds them), the ids present
    in the tracker (``object_ids``), and ``probs`` ((1 + N) x H x W float32, background first)
    when they were asked for."""

    labels: np.ndarray
    object_ids: tuple[int, ...]
    probs: np.ndarray | None = None


def track_frame(tracker: _Tracker, image: np.ndarray | Yuv420Image, mask: np.ndarray | None,
                started: bool, *, probs: bool = False) -> FrameResult:
    """The per-frame step every front end shares: track ``image`` (upright H x W x 3 uint8 RGB,
    or YUV 4:2:0 planes) with ``mask`` (its label map, if this frame has one).

    Before the first mask (``started`` false and no ``mask``) there are no objects: an empty
    label map (and all-background probabilities) without calling the tracker.
    """
    if not started and mask is None:
        height, width = image.shape[:2]
        background = np.ones((1, height, width), np.float32) if probs else None
        return FrameResult(np.zeros((height, width), dtype=np.uint8), (), background)
    result = tracker.step(image, mask=mask)
    ids = tuple(int(i) for i in result.object_ids)
    return FrameResult(_compact(_numpy(result.label_map), ids), ids,
                       _numpy(result.probs) if probs else None)


#: Labels known for a frame before tracking it (``(H x W labels, object ids)``, or ``None``:
#: track the frame): a studio workspace's masks when exporting, for example.
KnownLabels = Callable[[int], "tuple[np.ndarray, tuple[int, ...]] | None"]


def _one_hot(labels: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """(1 + N) x H x W float32 probabilities that are certain: what a soft matte shows of a frame
    whose labels were decided without the tracker's probabilities."""
    planes = [labels == 0] + [labels == i for i in ids]
    return np.stack(planes).astype(np.float32)


def _compact(labels: np.ndarray, ids: tuple[int, ...]) -> np.ndarray:
    """Labels in the smallest integer type that holds their ids: uint8 for up to 255 objects
    (a 4K int64 label map is 66 MB, as uint8 8 MB, and a run keeps several in its queues)."""
    biggest = max(ids, default=0)
    for dtype in (np.uint8, np.uint16):
        if biggest <= np.iinfo(dtype).max:
            return labels.astype(dtype, copy=False)
    return labels


def render_frame(mode: str, image: np.ndarray | Yuv420Image, result: FrameResult,
                 soft: bool = False, *, in_place: bool = False, white: float = 1.0
                 ) -> OutputPicture:
    """What ``mode`` shows of a tracked frame: ``overlay`` (H x W x 3 RGB, or drawn on the
    planes of a :class:`~aotvideo.io.Yuv420Image`), ``matte`` (H x W uint8, 255 = objects),
    ``alpha`` (H x W x 4 RGBA, straight; of YUV planes, the planes with the matte as their
    alpha plane, :class:`~aotvideo.io.yuv.Yuva420Image`) or ``masks`` (the label map).
    ``soft`` mattes come from the probabilities. ``in_place``: an overlay on YUV planes is drawn
    on them rather than on a copy (the caller no longer needs them as they were; an RGB frame
    is always copied: it may be a view of a decoder's buffer). ``white``: the overlay colours'
    signal level (:func:`aotvideo.io.colour.graphics_white` of the input; 1 for SDR)."""
    if mode == "masks":
        return result.labels
    if mode == "overlay":
        if isinstance(image, Yuv420Image):
            return overlay_yuv420(image, result.labels, result.object_ids, in_place=in_place,
                                  white=white)
        return overlay(image, result.labels, result.object_ids, white=white)
    alpha = matte(result.labels, None, result.probs, soft, prob_ids=result.object_ids)
    if mode == "matte":
        return alpha
    if isinstance(image, Yuv420Image):
        return image.with_alpha(alpha)
    return with_alpha(image, alpha)


def _turn(image: OutputPicture, quarters: int) -> OutputPicture:
    """``image`` turned ``quarters`` x 90 degrees counter-clockwise (a new contiguous array)."""
    if quarters % 4 == 0:
        return image
    if isinstance(image, (Yuv420Image, Yuva420Image)):
        return image.rot90(quarters)
    return np.ascontiguousarray(np.rot90(image, quarters))


@dataclass
class _Work:
    frame: Frame
    upright: np.ndarray | Yuv420Image
    result: FrameResult
    known: bool = False  # labels decided beforehand: no model step


def check_masks(
    masks: Mapping[int, np.ndarray],
    info: VideoInfo,
    objects: Sequence[int] | None = None,
    *,
    names: Mapping[int, str] | None = None,
) -> dict[int, np.ndarray]:
    """Validate masks against a video before any work, and apply an object selection.

    ``masks`` maps frame index -> label map, drawn on the upright picture
    (``info.display_width`` x ``info.display_height``). Returns the masks to give the tracker,
    restricted to ``objects`` when given. Raises :class:`~aotvideo.errors.MaskError` for a
    size mismatch, a mask with no objects, a frame past the end of the video, or selected ids
    that no mask contains.
    """
    if not masks:
        raise MaskError("no mask given: track needs at least one mask (the objects on the first frame)")
    names = names or {}
    width, height = info.display_width, info.display_height
    out: dict[int, np.ndarray] = {}
    for index in sorted(masks):
        labels = np.asarray(masks[index])
        name = names.get(index, f"mask for frame {index}")
        if index < 0:
            raise MaskError(f"{name}: frame index {index} is negative")
        if info.frames is not None and index >= info.frames:
            raise MaskError(f"{name}: frame {index} is past the end of the video ({info.frames} frames)")
        if labels.ndim != 2:
            raise MaskError(f"{name}: expected a 2-D label map, got shape {labels.shape}")
        if labels.shape != (height, width):
            hint = ""
            if info.rotation and labels.shape == (info.height, info.width):
                hint = (f"; the video is stored rotated by {info.rotation} degrees, and masks are "
                        f"drawn on the picture as shown ({width}x{height})")
            video = shlex.quote(info.source) if info.source != "standard input" else "VIDEO"
            raise MaskError(
                f"{name} is {labels.shape[1]}x{labels.shape[0]} but the video is {width}x{height}{hint}; "
                f"paint it on the frame as shown, `aotvideo frame {video} --at {index} -o frame.png`, "
                "without resizing or cropping the canvas"
            )
        if labels.min() < 0:
            raise MaskError(f"{name}: negative object ids")
        if not mask_ids(labels):
            raise MaskError(f"{name} is empty: every pixel is background (0)")
        out[index] = labels.astype(np.int64, copy=False)
    if objects is not None:
        wanted = sorted({int(i) for i in objects})
        present = set().union(*(set(mask_ids(m)) for m in out.values()))
        missing = [i for i in wanted if i not in present]
        if missing:
            raise MaskError(
                f"object id(s) {', '.join(map(str, missing))} asked for with --objects are not in the "
                f"mask(s); the masks hold {', '.join(map(str, sorted(present))) or 'no objects'}"
            )
        selected: dict[int, np.ndarray] = {}
        for index, labels in out.items():
            kept = select_objects(labels, wanted)
            if mask_ids(kept):
                selected[index] = kept
        out = selected
    return out


def _peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this program: Linux's VmHWM (it starts afresh at exec, whereas
    getrusage's maximum keeps the size of the process that started this one -- a benchmark
    holding 4K frames made every child look 5 GB big), else getrusage."""
    rss: float | None = None
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) / 1024
    except OSError:
        pass
    if rss is None:
        usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        rss = usage / (1024 * 1024) if sys.platform == "darwin" else usage / 1024
    peak = {"rss": round(rss, 1)}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        peak["cuda"] = round(torch.cuda.max_memory_allocated() / (1024 * 1024), 1)
    return peak


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


class Pipeline:
    """One tracking run from an open reader to an open writer.

    ``masks`` maps frame index -> upright label map (see :func:`check_masks`); tracking starts
    at the first of them. Earlier frames have no objects, unless ``backward_from`` names the
    input file: they are then tracked backward from the first mask (read by index, a chunk at a
    time, and kept on disk until written in order; :mod:`aotvideo.propagation`). ``known``
    gives labels decided beforehand for some frames (used instead of tracking them). ``mode`` is ``overlay``, ``matte``,
    ``alpha`` or ``masks``; ``soft`` makes mattes from probabilities. ``progress`` is called
    after every frame. ``model`` and ``weights`` name the tracker's in the report; its device and
    precision are read from the tracker. ``schedule`` says how a model on the CPU shares the
    cores with decoding and writing (:mod:`aotvideo.schedule`: ``auto`` measures both ways on the
    first frames and keeps the faster; ``turns``; ``side-by-side``).

    :meth:`run` returns the report, or raises what stopped the run
    (:class:`~aotvideo.errors.InputDecodeError`, :class:`~aotvideo.errors.OutputError`,
    ``KeyboardInterrupt`` ...) after finalizing the output; :attr:`report` is complete either way.
    """

    def __init__(
        self,
        reader: VideoReader,
        writer: VideoWriter | PngSequenceWriter,
        tracker: _Tracker,
        masks: Mapping[int, np.ndarray],
        *,
        mode: str = "overlay",
        soft: bool = False,
        queue_size: int = 4,
        progress: ProgressCallback | None = None,
        areas: bool = True,
        model: str | None = None,
        weights: str | None = None,
        backward_from: str | None = None,
        known: KnownLabels | None = None,
        schedule: str = "auto",
    ) -> None:
        if mode not in ("overlay", "matte", "alpha", "masks"):
            raise ValueError(f"unknown mode {mode!r}")
        self.reader = reader
        self.writer = writer
        self.tracker = tracker
        self.masks = dict(masks)
        self.mode = mode
        self.soft = soft
        self.queue_size = queue_size
        self.progress = progress
        self.keep_areas = areas
        self.backward_from = backward_from
        self.known = known
        self._spill: LabelSpill | None = None
        self._quarters = (reader.info.rotation // 90) % 4
        # Writers that keep the display rotation as metadata take stored-orientation images.
        self._to_stored = bool(writer.rotation) and self._quarters != 0
        self._white = graphics_white(reader.info.colour)  # HDR: overlays at graphics white
        if mode == "alpha":  # a 10-bit or 4:2:2 source's alpha clip from its own planes
            reader.keep_decoded_frames()
        self._cancel = threading.Event()
        device = getattr(tracker, "device", None)
        self._schedule = CoreSchedule(device is not None and str(device).startswith("cpu"),
                                      schedule)
        self.report = _initial_report(reader, writer, mode, soft)
        self.report.model, self.report.weights = model, weights
        self.report.device = None if device is None else str(device)
        self.report.precision = getattr(tracker, "precision", None)

    def cancel(self) -> None:
        """Ask a running :meth:`run` to stop after the current frame (from another thread)."""
        self._cancel.set()

    # -- output side (writer thread) ------------------------------------------------------------

    def _render(self, work: _Work) -> OutputPicture:
        if work.frame.decoded is not None and self.mode == "alpha":
            alpha = render_frame("matte", work.upright, work.result, self.soft)
            if self._to_stored:  # the picture as stored, the alpha turned back to it
                return DecodedYuvaImage(work.frame.decoded, _turn(alpha, -self._quarters))
            return DecodedYuvaImage(work.frame.decoded, alpha, self._quarters)
        # planes are drawn on where they lie: nothing reads them after the writer
        image = render_frame(self.mode, work.upright, work.result, self.soft, in_place=True,
                             white=self._white)
        if self.mode != "masks" and self._to_stored:
            image = _turn(image, -self._quarters)
        return image

    def _handle(self, item: object) -> None:
        if isinstance(item, AudioChunk):
            self.writer.write_audio(item)
            return
        assert isinstance(item, _Work)
        image = self._render(item)
        if isinstance(self.writer, PngSequenceWriter):
            self.writer.write(image, item.frame.pts, index=item.frame.index)
        else:
            self.writer.write(image, item.frame.pts)
        self._schedule.written(item.frame.index)

    # -- the run ---------------------------------------------------------------------------------

    def _track(self, frame: Frame, started: bool) -> _Work:
        upright = _turn(frame.image, self._quarters)
        wants_probs = self.soft and self.mode in ("matte", "alpha")
        given = self._labels_known(frame.index)
        if given is not None:
            labels, ids = given
            probs = _one_hot(labels, ids) if wants_probs else None
            return _Work(frame, upright, FrameResult(_compact(labels, ids), ids, probs), known=True)
        with self._schedule.model():
            result = track_frame(self.tracker, upright, self.masks.get(frame.index), started,
                                 probs=wants_probs)
        return _Work(frame, upright, result)

    def _labels_known(self, index: int) -> tuple[np.ndarray, tuple[int, ...]] | None:
        """Labels decided before the forward pass: the backward pass's, or ``known``'s."""
        if self._spill is not None and index in self._spill:
            return self._spill.get(index)
        return None if self.known is None else self.known(index)

    def _track_backward(self, counts: _Counts) -> None:
        """Frames before the first mask, tracked backward from it into a spill on disk."""
        first = min(self.masks)
        if self.backward_from is None or first == 0:
            return
        self._spill = LabelSpill()
        reset = getattr(self.tracker, "reset", None)

        def progress(done: int) -> None:
            counts.backward = done
            self._report_progress(counts)

        track_backward(self.backward_from, {first: self.masks[first]}, lambda: self.tracker,
                       self._spill, progress=progress, should_stop=self._cancel.is_set)
        if reset is not None:
            reset()

    def run(self) -> RunReport:
        """Process the whole input; see the class docstring for what it returns and raises."""
        self.report.status = "running"
        first_mask = min(self.masks) if self.masks else None
        counts = _Counts()
        started = False
        error: BaseException | None = None
        status = "completed"
        gate = self._schedule.wait if self._schedule.enabled else None
        sink = WriterThread(self._handle, self.writer.close, queue_size=self.queue_size, gate=gate)
        self.reader.set_gate(gate)
        self._schedule.start()
        try:
            if self.masks:
                self._track_backward(counts)
            for item in self.reader.items():
                if sink.failed or self._cancel.is_set():
                    break
                if isinstance(item, AudioChunk):
                    sink.put(item)
                    continue
                work = self._track(item, started)
                started = started or (first_mask is not None and item.index >= first_mask)
                if not sink.put(work):
                    break
                if self._schedule.waits_for_writer:  # written while the next one is decoded
                    sink.wait_idle()
                if not work.known:
                    self._schedule.tracked(item.index)
                self._record(work, counts)
            if self._cancel.is_set():
                status = "cancelled"
        except InputDecodeError as exc:
            status, error = "input_error", exc
        except KeyboardInterrupt as exc:
            status, error = "interrupted", exc
        except BaseException as exc:
            status, error = "failed", exc
        finally:
            try:
                sink.close()
            except KeyboardInterrupt as exc:  # a second Ctrl-C while finalizing
                status, error = "interrupted", error or exc
            self.reader.close()
            self._schedule.close()
            if self._spill is not None:
                self._spill.close()
        status, error, output_problem = _with_write_error(status, error, sink.error)
        self._finish_report(status, error, output_problem, counts)
        if error is not None:
            raise error
        return self.report

    def _record(self, work: _Work, counts: _Counts) -> None:
        """Count a tracked frame: objects, areas (when kept) and the progress callback."""
        counts.done += 1
        counts.objects.update(work.result.object_ids)
        if self.keep_areas:
            self.report.areas.append({
                "frame": work.frame.index,
                "time": round(work.frame.time, 6),
                "pixels": {str(v): c for v, c in label_areas(work.result.labels,
                                                              work.result.object_ids).items()},
            })
        self._report_progress(counts)

    def _report_progress(self, counts: _Counts) -> None:
        if self.progress is None:
            return
        total = self.reader.info.frames
        done = counts.done + counts.backward
        if total is not None and self._spill is not None:
            total += len(self._spill)  # the backward pass's frames are tracked, then written
        elapsed = time.monotonic() - counts.start
        fps = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / fps if total and fps > 0 and total >= done else None
        self.progress(Progress(done, total, elapsed, fps, eta))

    def _finish_report(self, status: str, error: BaseException | None,
                       output_problem: BaseException | None, counts: _Counts) -> None:
        elapsed = time.monotonic() - counts.start
        done, written = counts.done, self.writer.frames_written
        report = self.report
        report.status = status
        report.message = None if error is None else (str(error) or type(error).__name__)
        report.frames, report.frames_written = done, written
        report.frames_backward = counts.backward
        report.seconds = round(elapsed, 3)
        report.fps = round(done / elapsed, 3) if elapsed > 0 else 0.0
        report.cpu_seconds = round(time.process_time() - counts.cpu_start, 3)
        report.peak_memory_mb = _peak_memory_mb()
        report.objects = sorted(counts.objects)
        report.schedule = self._schedule.summary
        if isinstance(error, KeyboardInterrupt):
            self.report.message = (
                f"interrupted after {done} frames; the output holds the {written} frames processed"
                if output_problem is None else
                f"interrupted after {done} frames; the output could not be finalized: "
                f"{output_problem}")


@dataclass
class _Counts:
    """What a run has done so far, and when it started (wall clock and the process's CPU time,
    read together when the counts are made)."""

    start: float = field(default_factory=time.monotonic)
    cpu_start: float = field(default_factory=time.process_time)
    done: int = 0
    backward: int = 0
    objects: set[int] = field(default_factory=set)


def _with_write_error(status: str, error: BaseException | None,
                      write_error: BaseException | None,
                      ) -> tuple[str, BaseException | None, BaseException | None]:
    """Combine what stopped the run with what the writer thread ran into.

    Returns the status, the error to raise, and a write problem that only accompanies a Ctrl-C
    (it reaches a whole shell pipeline: the program reading our output pipe stops at the same
    moment, so a write error then is a consequence of the interrupt).
    """
    if write_error is None:
        return status, error, None
    if isinstance(error, KeyboardInterrupt):
        return status, error, write_error
    if not isinstance(write_error, OutputError):
        return (status, error, None) if error is not None else ("failed", write_error, None)
    combined = write_error
    if error is not None:
        combined = OutputError(f"{write_error}; before that: {error}")
        combined.__cause__ = write_error
    return "output_error", combined, None


def _initial_report(reader: VideoReader, writer: VideoWriter | PngSequenceWriter, mode: str,
                    soft: bool) -> RunReport:
    """The report of a run that has not started."""
    info = reader.info
    return RunReport(
        input=info.source,
        output="standard output" if writer.spec.to_stdout else writer.spec.target,
        mode=mode,
        soft=soft,
        video=VideoSummary(
            width=info.display_width,
            height=info.display_height,
            rotation=info.rotation,
            frames=info.frames,
            frame_rate=float(info.frame_rate) if info.frame_rate else None,
            audio={"packets": "copy", "frames": "transcode"}.get(writer.audio_mode, "none"),
            colour=info.colour.describe(),
        ),
    )


@dataclass(frozen=True)
class VideoSource:
    """Where a run's frames come from: a file or ``-`` (standard input), and how to read it
    (a forced demuxer ``format``; ``raw_size`` (width, height), ``pix_fmt`` and ``rate`` of
    headerless rawvideo). See :class:`~aotvideo.io.VideoReader`."""

    path: str
    format: str | None = None
    raw_size: tuple[int, int] | None = None
    pix_fmt: str | None = None
    rate: float | None = None

    def open(self, *, planar: bool | Literal["convert"] = False) -> VideoReader:
        """The reader (raises :class:`~aotvideo.errors.InputError` when it cannot be opened);
        ``planar`` keeps 8-bit 4:2:0 frames in their YUV planes, ``"convert"`` other YUV frames
        too (see the reader)."""
        return VideoReader(self.path, format=self.format, raw_size=self.raw_size,
                           pix_fmt=self.pix_fmt, rate=self.rate, planar=planar)


#: Label maps by frame index (upright, ``H x W`` integer ids, 0 = background).
Masks = Mapping[int, np.ndarray]


@dataclass(frozen=True)
class RunRequest:
    """One video run: what to read, which objects, what to write.

    ``masks`` are label maps by frame index, or a function that makes them from the opened
    reader (e.g. boxes on the first frame). ``objects`` keeps only these ids; ``mask_names``
    name the masks in messages. ``areas`` records each object's pixels per frame in the report.
    ``write_to`` writes the output under another name than ``output.target`` (a batch writes a
    partial file and renames it when complete). ``backward`` tracks the frames before the first
    mask backward from it (a file input only: a pipe cannot be read backward). ``known`` gives
    labels decided beforehand and ``schedule`` how a CPU model shares the cores (see
    :class:`Pipeline`).
    """

    source: VideoSource
    output: OutputSpec
    masks: Masks | Callable[[VideoReader], Masks]
    objects: Sequence[int] | None = None
    mask_names: Mapping[int, str] | None = None
    soft: bool = False
    areas: bool = False
    write_to: str | None = None
    backward: bool = False
    known: KnownLabels | None = None
    schedule: str = "auto"

    @property
    def can_go_backward(self) -> bool:
        """Whether the input can be read backward: a file, not standard input or raw video."""
        return self.source.path != "-" and self.source.raw_size is None and self.source.format is None


def check_palette_ids(masks: Masks) -> None:
    """Raise :class:`~aotvideo.errors.MaskError` for ids that palette PNGs cannot hold (> 255)."""
    biggest = max((int(m.max()) for m in masks.values()), default=0)
    if biggest > 255:
        raise MaskError(f"mode masks writes palette PNGs, which hold ids up to 255; the mask has {biggest}")


@contextmanager
def open_run(
    request: RunRequest,
    tracker: _Tracker | Callable[[], _Tracker],
    *,
    progress: ProgressCallback | None = None,
    model: str | None = None,
    weights: str | None = None,
) -> Iterator[Pipeline]:
    """Assemble a run: open the input, check the masks against it, get the tracker, open the
    output shaped like the input (size, timing, rotation, audio); yields the :class:`Pipeline`
    ready to :meth:`~Pipeline.run`, and closes the input on leaving.

    ``tracker`` is a tracker, or a function that builds one, called once the masks are known to
    be good (a bad mask is reported before a model loads). ``model`` and ``weights`` name it in
    the report. Raises :class:`~aotvideo.errors.InputError`, :class:`~aotvideo.errors.MaskError`,
    :class:`~aotvideo.errors.OutputError` (the output cannot be created) and the tracker
    builder's errors before anything is written.
    """
    # Frames come as 8-bit 4:2:0 planes (other YUV frames converted once): the tracker's input
    # is made from them at its small size and overlays are drawn on them for the encoder, with
    # no full-size RGB copy; every mode tracks from the same planes. An alpha clip of a richer
    # source (10-bit, 4:2:2) is made from the decoded frames themselves (see Pipeline).
    with request.source.open(planar="convert") as reader:
        masks = request.masks(reader) if callable(request.masks) else request.masks
        checked = check_masks(masks, reader.info, request.objects, names=request.mask_names)
        if request.output.mode == "masks":
            check_palette_ids(checked)
        session = tracker if hasattr(tracker, "step") else tracker()  # type: ignore[operator]
        spec = request.output
        if request.write_to is not None:
            spec = dataclasses.replace(spec, target=request.write_to)
        info = reader.info
        writer = open_writer(spec, width=info.width, height=info.height, time_base=info.time_base,
                             frame_rate=info.frame_rate, rotation=info.rotation,
                             audio_stream=reader.audio_stream, colour=info.colour)
        reader.set_audio_mode(writer.audio_mode)  # type: ignore[arg-type]
        backward_from = request.source.path if request.backward and request.can_go_backward else None
        yield Pipeline(reader, writer, session, checked, mode=spec.mode, soft=request.soft,
                       progress=progress, areas=request.areas, model=model, weights=weights,
                       backward_from=backward_from, known=request.known,
                       schedule=request.schedule)


def run_track(
    request: RunRequest,
    tracker: _Tracker | Callable[[], _Tracker],
    *,
    progress: ProgressCallback | None = None,
    model: str | None = None,
    weights: str | None = None,
) -> RunReport:
    """Run a video from start to end (:func:`open_run`, then :meth:`Pipeline.run`); returns the
    report, or raises what stopped the run after finalizing the output."""
    with open_run(request, tracker, progress=progress, model=model, weights=weights) as pipeline:
        return pipeline.run()


def track_video(
    input: str,
    output: str | OutputSpec,
    tracker: _Tracker,
    masks: Masks,
    *,
    mode: str = "overlay",
    soft: bool = False,
    objects: Sequence[int] | None = None,
    progress: ProgressCallback | None = None,
    **reader_options: Any,
) -> RunReport:
    """Track objects through a video file and write the result; returns the report.

    ``masks`` maps frame index -> label map (upright, as the video is shown), e.g.
    ``{0: aotvideo.io.read_mask("first.png")}``; ``output`` is a path (format from its extension)
    or an :class:`~aotvideo.io.OutputSpec`. ``reader_options`` are :class:`VideoSource`'s
    (``format``, ``raw_size``, ``pix_fmt``, ``rate``). The same as :func:`run_track` with a
    :class:`RunRequest`.
    """
    spec = output if isinstance(output, OutputSpec) else resolve_output(output, mode)
    request = RunRequest(VideoSource(input, **reader_options), spec, masks, objects=objects,
                         soft=soft, areas=True)
    return run_track(request, tracker, progress=progress)
