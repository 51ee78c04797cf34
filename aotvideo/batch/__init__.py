"""Batch processing: many videos, on this machine's worker processes or on a Ray cluster.

A batch is a list of :class:`TrackJob` (one ``aotvideo track`` run each), usually read from a
manifest (:func:`read_manifests` + :func:`build_jobs`), run by :func:`run_jobs` through an
executor -- :class:`LocalExecutor` (spawned worker processes) or :class:`RayExecutor` (Ray
actors) -- with :class:`TrackWorker` doing the work in each worker. The runner keeps a record
(:class:`JobState`) so a re-run skips what is done, retries failed attempts, and reports every
job (:class:`BatchReport`).

Example::

    from aotvideo.batch import JobState, LocalExecutor, TrackJob, TrackWorker, run_jobs

    jobs = [TrackJob("a", "/data/a.mp4", ((0, "/data/a.png"),), "/out/a.masks")]
    with JobState("/out/batch-state.jsonl") as state:
        report = run_jobs(jobs, LocalExecutor(workers=2), TrackWorker, state=state)
    summary = report.summary()   # a text: one line per job and the totals
"""
from __future__ import annotations

from .base import Executor, JobResult, WorkerContext
from .jobs import OptionSchema, TrackJob, TrackOptions, build_jobs, partial_path
from .local import InProcessExecutor, LocalExecutor
from .manifest import ManifestEntry, read_manifest, read_manifests
from .ray_executor import RayExecutor
from .runner import BatchEvent, BatchReport, JobRecord, Totals, run_jobs
from .state import JobState
from .worker import TrackWorker

__all__ = [
    "BatchEvent",
    "BatchReport",
    "Executor",
    "InProcessExecutor",
    "JobRecord",
    "JobResult",
    "JobState",
    "LocalExecutor",
    "ManifestEntry",
    "OptionSchema",
    "RayExecutor",
    "Totals",
    "TrackJob",
    "TrackOptions",
    "TrackWorker",
    "WorkerContext",
    "build_jobs",
    "partial_path",
    "read_manifest",
    "read_manifests",
    "run_jobs",
]
