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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .errors import InputDecodeError, MaskError, OutputError
from .io.formats import OutputSpec, resolve_output
from .io.masks import mask_ids, select_objects
from .io.reader import AudioChunk, Frame, VideoInfo, VideoReader
from .io.writer import PngSequenceWriter, VideoWriter, WriterThread, open_writer
from .render import matte, overlay, with_alpha

__all__ = ["Pipeline", "Progress", "check_masks", "track_video"]


class _Result(Protocol):
    object_ids: tuple[int, ...]
    probs: Any
    labels: Any


class _Tracker(Protocol):
    def step(self, frame: np.ndarray, mask: np.ndarray | None = None) -> _Result: ...


@dataclass(frozen=True)
class Progress:
    """Where a run stands: frames done, the total when known, seconds so far, speed, time left."""

    frames: int
    total: int | None
    elapsed: float
    fps: float
    eta: float | None


ProgressCallback = Callable[[Progress], None]


@dataclass
class _Work:
    frame: Frame
    upright: np.ndarray
    labels: np.ndarray
    object_ids: tuple[int, ...]
    probs: np.ndarray | None


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
    at the first of them (earlier frames have no objects). ``mode`` is ``overlay``, ``matte``,
    ``alpha`` or ``masks``; ``soft`` makes mattes from probabilities. ``progress`` is called
    after every frame. ``extra`` is merged into the report.

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
        extra: Mapping[str, Any] | None = None,
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
        self._quarters = (reader.info.rotation // 90) % 4
        # Writers that keep the display rotation as metadata take stored-orientation images.
        self._to_stored = bool(writer.rotation) and self._quarters != 0
        self._cancel = threading.Event()
        self.report: dict[str, Any] = _initial_report(reader, writer, mode, soft)
        if extra:
            self.report.update(extra)

    def cancel(self) -> None:
        """Ask a running :meth:`run` to stop after the current frame (from another thread)."""
        self._cancel.set()

    # -- output side (writer thread) ------------------------------------------------------------

    def _render(self, work: _Work) -> np.ndarray:
        if self.mode == "masks":
            return work.labels
        if self.mode == "overlay":
            image = overlay(work.upright, work.labels, work.object_ids)
        else:
            alpha = matte(work.labels, None, work.probs, self.soft, prob_ids=work.object_ids)
            image = alpha if self.mode == "matte" else with_alpha(work.upright, alpha)
        if self._to_stored:
            image = np.ascontiguousarray(np.rot90(image, -self._quarters))
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

    # -- the run ---------------------------------------------------------------------------------

    def _track(self, frame: Frame, started: bool) -> _Work:
        upright = frame.image
        if self._quarters:
            upright = np.ascontiguousarray(np.rot90(upright, self._quarters))
        mask = self.masks.get(frame.index)
        if not started and mask is None:
            labels = np.zeros(upright.shape[:2], dtype=np.int64)
            probs = None
            if self.soft:
                probs = np.concatenate([np.ones((1,) + upright.shape[:2], np.float32)])
            return _Work(frame, upright, labels, (), probs)
        result = self.tracker.step(upright, mask=mask)
        labels = _numpy(result.labels)
        probs = _numpy(result.probs) if self.soft and self.mode in ("matte", "alpha") else None
        return _Work(frame, upright, labels, tuple(int(i) for i in result.object_ids), probs)

    def run(self) -> dict[str, Any]:
        """Process the whole input; see the class docstring for what it returns and raises."""
        self.report["status"] = "running"
        first_mask = min(self.masks) if self.masks else None
        counts = _Counts(start=time.monotonic())
        started = False
        error: BaseException | None = None
        status = "completed"
        sink = WriterThread(self._handle, self.writer.close, queue_size=self.queue_size)
        try:
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
        status, error, output_problem = _with_write_error(status, error, sink.error)
        self._finish_report(status, error, output_problem, counts)
        if error is not None:
            raise error
        return self.report

    def _record(self, work: _Work, counts: _Counts) -> None:
        """Count a tracked frame: objects, areas (when kept) and the progress callback."""
        counts.done += 1
        counts.objects.update(work.object_ids)
        if self.keep_areas:
            values, pixels = np.unique(work.labels, return_counts=True)
            self.report["areas"].append({
                "frame": work.frame.index,
                "time": round(work.frame.time, 6),
                "pixels": {str(int(v)): int(c) for v, c in zip(values, pixels) if v != 0},
            })
        if self.progress is not None:
            total = self.reader.info.frames
            elapsed = time.monotonic() - counts.start
            fps = counts.done / elapsed if elapsed > 0 else 0.0
            eta = (total - counts.done) / fps if total and fps > 0 and total >= counts.done else None
            self.progress(Progress(counts.done, total, elapsed, fps, eta))

    def _finish_report(self, status: str, error: BaseException | None,
                       output_problem: BaseException | None, counts: _Counts) -> None:
        elapsed = time.monotonic() - counts.start
        done, written = counts.done, self.writer.frames_written
        self.report.update({
            "status": status,
            "message": None if error is None else (str(error) or type(error).__name__),
            "frames": done,
            "frames_written": written,
            "seconds": round(elapsed, 3),
            "fps": round(done / elapsed, 3) if elapsed > 0 else 0.0,
            "peak_memory_mb": _peak_memory_mb(),
            "objects": sorted(counts.objects),
        })
        if isinstance(error, KeyboardInterrupt):
            self.report["message"] = (
                f"interrupted after {done} frames; the output holds the {written} frames processed"
                if output_problem is None else
                f"interrupted after {done} frames; the output could not be finalized: "
                f"{output_problem}")


@dataclass
class _Counts:
    """What a run has done so far."""

    start: float
    done: int = 0
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
                    soft: bool) -> dict[str, Any]:
    """The report of a run that has not started."""
    info = reader.info
    return {
        "input": info.source,
        "output": "standard output" if writer.spec.to_stdout else writer.spec.target,
        "mode": mode,
        "soft": soft,
        "status": "pending",
        "message": None,
        "frames": 0,
        "frames_written": 0,
        "seconds": 0.0,
        "fps": 0.0,
        "peak_memory_mb": {},
        "objects": [],
        "video": {
            "width": info.display_width,
            "height": info.display_height,
            "rotation": info.rotation,
            "frames": info.frames,
            "frame_rate": float(info.frame_rate) if info.frame_rate else None,
            "audio": {"packets": "copy", "frames": "transcode"}.get(writer.audio_mode, "none"),
        },
        "areas": [],
    }


def track_video(
    input: str,
    output: str | OutputSpec,
    tracker: _Tracker,
    masks: Mapping[int, np.ndarray],
    *,
    mode: str = "overlay",
    soft: bool = False,
    objects: Sequence[int] | None = None,
    progress: ProgressCallback | None = None,
    **reader_options: Any,
) -> dict[str, Any]:
    """Track objects through a video file and write the result; returns the report.

    ``masks`` maps frame index -> label map (upright, as the video is shown), e.g.
    ``{0: aotvideo.io.read_mask("first.png")}``; ``output`` is a path (format from its extension)
    or an :class:`~aotvideo.io.OutputSpec`. ``reader_options`` go to
    :class:`~aotvideo.io.VideoReader`.
    """
    spec = output if isinstance(output, OutputSpec) else resolve_output(output, mode)
    with VideoReader(input, **reader_options) as reader:
        checked = check_masks(masks, reader.info, objects)
        writer = open_writer(
            spec,
            width=reader.info.width,
            height=reader.info.height,
            time_base=reader.info.time_base,
            frame_rate=reader.info.frame_rate,
            rotation=reader.info.rotation,
            audio_stream=reader.audio_stream,
        )
        reader.set_audio_mode(writer.audio_mode)  # type: ignore[arg-type]
        return Pipeline(reader, writer, tracker, checked, mode=spec.mode, soft=soft,
                        progress=progress).run()
