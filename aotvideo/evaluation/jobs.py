"""Evaluation jobs: benchmark sequences as batch jobs, so ``aotvideo eval run --ray`` can spread
a benchmark over the batch's executors (a Ray cluster, or worker processes) with the batch's
retries.

Each worker builds the :class:`~aotvideo.tracking.builder.TrackerSpec`'s tracker once and runs
:func:`~aotvideo.evaluation.sequences.track_sequence` for each sequence it is given; the
prediction PNGs are written by the worker, so the output folder must be on storage every worker
sees.
"""
from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..batch.base import Executor, JobResult, ProgressFn, WorkerContext
from ..batch.runner import BatchEvent, run_jobs
from ..tracking.builder import TrackerSpec, build_tracker
from .datasets import BenchmarkError
from .sequences import SequenceJob, SequenceTiming, track_sequence

__all__ = ["SequenceBatchJob", "SequenceWorker", "run_sequence_jobs"]


@dataclass(frozen=True)
class SequenceBatchJob:
    """One benchmark sequence as a job of :func:`~aotvideo.batch.runner.run_jobs`."""

    job: SequenceJob

    @property
    def id(self) -> str:
        """The sequence's name."""
        return self.job.sequence.name

    @property
    def key(self) -> str:
        """The sequence and where its predictions go."""
        text = self.id + "\n" + "\n".join(sorted(str(p) for p in self.job.outputs.values()))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def outputs_exist(self) -> bool:
        """Whether every prediction PNG is there."""
        return all(os.path.exists(p) for p in self.job.outputs.values())

    def discard_partial(self) -> None:
        """Nothing to do: each prediction PNG is complete or absent, and a re-run rewrites them."""

    def describe(self) -> dict[str, Any]:
        """Name and prediction folder, for reports."""
        folders = sorted({str(os.path.dirname(p)) for p in self.job.outputs.values()})
        return {"id": self.id, "where": "sequence", "output": folders[0] if folders else None}


class SequenceWorker:
    """Tracks benchmark sequences in one worker, with the tracker built once."""

    def __init__(self, context: WorkerContext, spec: TrackerSpec, device: str | None = None) -> None:
        import torch

        if context.threads:
            torch.set_num_threads(context.threads)
        self.tracker = build_tracker(spec.on(device))
        self.device = str(getattr(self.tracker, "device", device or "auto"))

    def run(self, job: SequenceBatchJob, progress: ProgressFn) -> JobResult:
        """Track one sequence and write its predictions; never raises."""
        try:
            frames, seconds = track_sequence(self.tracker, job.job)
        except Exception as exc:  # reported as the sequence's failure
            kind = "memory" if "out of memory" in str(exc).lower() else "error"
            return JobResult(False, error=f"{type(exc).__name__}: {exc}", kind=kind)
        return JobResult(True, frames, seconds, details={"device": self.device})


def run_sequence_jobs(jobs: Sequence[SequenceJob], spec: TrackerSpec, executor: Executor, *,
                      device: str | None = None, retries: int = 1,
                      on_sequence: Callable[[SequenceTiming], None] | None = None,
                      ) -> list[SequenceTiming]:
    """Track ``jobs`` on ``executor``'s workers; returns their timings in the jobs' order.

    Raises :class:`~aotvideo.evaluation.datasets.BenchmarkError` naming the sequences that
    failed after their retries or when the executor stopped, and ``KeyboardInterrupt`` after
    Ctrl-C (the workers stopped).
    """
    def on_event(event: BatchEvent) -> None:
        if event.kind == "done" and on_sequence is not None:
            record = event.record
            on_sequence(SequenceTiming(record.job.id, record.frames, record.seconds,
                                       str(record.details.get("device", "?"))))

    factory = functools.partial(SequenceWorker, spec=spec, device=device)
    report = run_jobs([SequenceBatchJob(job) for job in jobs], executor, factory, retries=retries,
                      on_event=on_event)
    if report.stopped == "interrupted":
        raise KeyboardInterrupt
    if report.stopped is not None:
        raise BenchmarkError(f"the benchmark's workers stopped: {report.stopped}")
    failed = [f"{r.job.id}: {r.error}" for r in report.records if r.status == "failed"]
    if failed:
        raise BenchmarkError(f"{len(failed)} sequence(s) failed: " + "; ".join(failed))
    return [SequenceTiming(r.job.id, r.frames, r.seconds, str(r.details.get("device", "?")))
            for r in report.records]
