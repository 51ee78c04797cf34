"""Running one :class:`~aotvideo.batch.jobs.TrackJob` in a worker process.

:class:`TrackWorker` does what ``aotvideo track`` does for one video -- masks read and checked
against the video, the model built and its weights loaded, :class:`aotvideo.pipeline.Pipeline`
run from a :class:`~aotvideo.io.VideoReader` to a writer -- with two differences: the model
and tracker are kept between jobs (one load per worker), and the output is written under a
temporary name (:func:`~aotvideo.batch.jobs.partial_path`) and renamed into place only when the
whole video was processed. A failure never raises: it comes back as a
:class:`~aotvideo.batch.base.JobResult` with the error and its kind.
"""
from __future__ import annotations

import dataclasses
import os
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import (FormatError, InputDecodeError, InputError, MaskError, OutputError,
                      WeightsError)
from .base import JobResult, ProgressFn, WorkerContext
from .jobs import TrackJob, TrackOptions, partial_path, remove_partial

__all__ = ["TrackWorker", "commit_output"]

#: Trackers kept per worker (they share one inference copy of each model,
#: :func:`aotvideo.tracking.builder.shared_model`).
_KEEP_TRACKERS = 4


class _DeviceError(RuntimeError):
    """The tracker cannot be set up on the requested device."""


def _kind(exc: BaseException) -> str:
    if isinstance(exc, MaskError):
        return "mask"
    if isinstance(exc, (InputError, InputDecodeError)):
        return "input"
    if isinstance(exc, OutputError):
        return "output"
    if isinstance(exc, WeightsError):
        return "weights"
    if isinstance(exc, (FormatError, ValueError)):
        return "usage"
    if isinstance(exc, _DeviceError):
        return "device"
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return "memory"
    return "error"


def _message(exc: BaseException, kind: str) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if kind in ("error", "memory") else text


def commit_output(partial: Path, final: Path) -> None:
    """Move a finished output from its temporary name to its final one.

    A file replaces the final file atomically. A folder is renamed into place when the final
    folder is absent or empty; otherwise its files replace the ones in the final folder.
    """
    if not partial.exists():
        raise OutputError(f"nothing was written for {final}")
    if partial.is_dir():
        if final.is_dir() and any(final.iterdir()):
            for item in sorted(partial.iterdir()):
                os.replace(item, final / item.name)
            partial.rmdir()
            return
        if final.is_dir():
            final.rmdir()
    os.replace(partial, final)


class TrackWorker:
    """Runs tracking jobs one after another, keeping models and trackers loaded between them."""

    def __init__(self, context: WorkerContext | None = None) -> None:
        import torch

        self.context = context or WorkerContext("local")
        if self.context.threads:
            torch.set_num_threads(self.context.threads)
        self._trackers: OrderedDict[Any, Any] = OrderedDict()

    # -- trackers ------------------------------------------------------------------------------------

    def tracker(self, options: TrackOptions, weights: Path) -> Any:
        """A tracker for these options (reset, ready for a new video); built once and kept."""
        from ..tracking.builder import build_tracker

        spec = options.tracker_spec(weights)
        tracker = self._trackers.get(spec)
        if tracker is None:
            try:
                tracker = build_tracker(spec)
            except WeightsError:
                raise
            except (RuntimeError, ValueError, AssertionError) as exc:
                raise _DeviceError(f"cannot set up the tracker on device "
                                   f"{options.device or 'auto'}: {exc}") from exc
            self._trackers[spec] = tracker
            while len(self._trackers) > _KEEP_TRACKERS:
                self._trackers.popitem(last=False)
        self._trackers.move_to_end(spec)
        tracker.reset()
        return tracker

    # -- one job -------------------------------------------------------------------------------------

    def run(self, job: TrackJob, progress: ProgressFn) -> JobResult:
        """Track one video into its output; never raises for a failed job."""
        start = time.monotonic()
        partial = partial_path(job.output)
        report: dict[str, Any] = {}
        try:
            remove_partial(partial)  # what a killed attempt left
            report = self._track(job, partial, progress)
            commit_output(partial, Path(job.output))
        except Exception as exc:
            remove_partial(partial)
            kind = _kind(exc)
            details = {"worker": self.context.label}
            if kind == "error":
                details["traceback"] = traceback.format_exc(limit=-6)
            return JobResult(False, int(report.get("frames", 0)), round(time.monotonic() - start, 3),
                             _message(exc, kind), kind, details)
        details = {key: report[key] for key in ("frames_written", "objects", "video", "device",
                                                "model", "weights", "peak_memory_mb") if key in report}
        details["worker"] = self.context.label
        return JobResult(True, int(report["frames"]), float(report["seconds"]), details=details)

    def _track(self, job: TrackJob, partial: Path, progress: ProgressFn) -> dict[str, Any]:
        from .. import zoo
        from ..io.formats import resolve_output
        from ..io.masks import read_mask
        from ..io.reader import VideoReader, parse_size
        from ..io.writer import open_writer
        from ..pipeline import Pipeline, check_masks

        options = job.options
        weights = zoo.resolve_weights(options.model, options.weights)
        masks = {frame: read_mask(path, objects=options.objects) for frame, path in job.masks}
        names = {frame: f"mask {path}" + (f" (frame {frame})" if frame else "")
                 for frame, path in job.masks}
        spec = resolve_output(job.output, options.mode, format=options.format, codec=options.codec,
                              crf=options.crf, preset=options.preset, pix_fmt=options.out_pix_fmt)
        size = parse_size(options.raw) if options.raw else None
        with VideoReader(job.input, format=options.input_format, raw_size=size,
                         pix_fmt=options.pix_fmt, rate=options.rate) as reader:
            checked = check_masks(masks, reader.info, options.objects, names=names)
            if spec.mode == "masks":
                _check_palette_ids(checked)
            tracker = self.tracker(options, weights)
            partial.parent.mkdir(parents=True, exist_ok=True)
            writer = open_writer(dataclasses.replace(spec, target=str(partial)),
                                 width=reader.info.width, height=reader.info.height,
                                 time_base=reader.info.time_base, frame_rate=reader.info.frame_rate,
                                 rotation=reader.info.rotation, audio_stream=reader.audio_stream)
            reader.set_audio_mode(writer.audio_mode)  # type: ignore[arg-type]
            pipeline = Pipeline(
                reader, writer, tracker, checked, mode=spec.mode, soft=options.soft,
                progress=lambda p: progress(p.frames, p.total), areas=False,
                extra={"model": options.model, "weights": str(weights),
                       "device": str(tracker.device)},
            )
            return pipeline.run()


def _check_palette_ids(masks: dict[int, np.ndarray]) -> None:
    biggest = max(int(m.max()) for m in masks.values())
    if biggest > 255:
        raise MaskError(f"mode masks writes palette PNGs, which hold ids up to 255; the mask has {biggest}")
