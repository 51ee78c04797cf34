"""Running one :class:`~aotvideo.batch.jobs.TrackJob` in a worker process.

:class:`TrackWorker` does what ``aotvideo track`` does for one video -- the same
:func:`aotvideo.pipeline.run_track` from its options -- with two differences: the model
and tracker are kept between jobs (one load per worker), and the output is written under a
temporary name (:func:`~aotvideo.batch.jobs.partial_path`) and renamed into place only when the
whole video was processed. A failure never raises: it comes back as a
:class:`~aotvideo.batch.base.JobResult` with the error and its kind (:func:`aotvideo.errors.error_kind`).
"""
from __future__ import annotations

import os
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import OutputError, error_kind
from .base import JobResult, ProgressFn, WorkerContext
from .jobs import TrackJob, TrackOptions, partial_path, remove_partial

if TYPE_CHECKING:
    from ..pipeline import RunReport

__all__ = ["TrackWorker", "commit_output"]

#: Trackers kept per worker (they share one inference copy of each model,
#: :func:`aotvideo.tracking.builder.shared_model`).
_KEEP_TRACKERS = 4


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
            tracker = build_tracker(spec)
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
        report: RunReport | None = None
        try:
            remove_partial(partial)  # what a killed attempt left
            report = self._track(job, partial, progress)
            commit_output(partial, Path(job.output))
        except Exception as exc:
            remove_partial(partial)
            kind = error_kind(exc)
            details = {"worker": self.context.label}
            if kind == "error":
                details["traceback"] = traceback.format_exc(limit=-6)
            return JobResult(False, report.frames if report else 0, round(time.monotonic() - start, 3),
                             _message(exc, kind), kind, details)
        facts = report.to_json()
        details = {key: facts[key] for key in ("frames_written", "objects", "video", "device",
                                               "model", "weights", "peak_memory_mb")}
        details["worker"] = self.context.label
        return JobResult(True, report.frames, report.seconds, details=details)

    def _track(self, job: TrackJob, partial: Path, progress: ProgressFn) -> RunReport:
        from .. import zoo
        from ..io.formats import resolve_output
        from ..io.masks import read_mask
        from ..io.reader import parse_size
        from ..pipeline import RunRequest, VideoSource, run_track

        options = job.options
        weights = zoo.resolve_weights(options.model, options.weights)
        masks = {frame: read_mask(path, objects=options.objects) for frame, path in job.masks}
        names = {frame: f"mask {path}" + (f" (frame {frame})" if frame else "")
                 for frame, path in job.masks}
        spec = resolve_output(job.output, options.mode, format=options.format, codec=options.codec,
                              crf=options.crf, preset=options.preset, pix_fmt=options.out_pix_fmt)
        source = VideoSource(job.input, format=options.input_format,
                             raw_size=parse_size(options.raw) if options.raw else None,
                             pix_fmt=options.pix_fmt, rate=options.rate)
        partial.parent.mkdir(parents=True, exist_ok=True)
        request = RunRequest(source, spec, masks, objects=options.objects, mask_names=names,
                             soft=options.soft, write_to=str(partial),
                             backward=options.backward is not False, schedule=options.schedule)
        return run_track(request, lambda: self.tracker(options, weights),
                         progress=lambda p: progress(p.frames, p.total),
                         model=options.model, weights=str(weights))
