"""The batch runner: jobs through an executor, with retries, a record, and a report.

:func:`run_jobs` takes a list of jobs and an :class:`~aotvideo.batch.base.Executor` (worker
processes here, or Ray actors on a cluster) and owns everything that makes a batch safe to
stop and run again:

* a job whose record (:class:`~aotvideo.batch.state.JobState`) says done and whose output exists
  is skipped; one recorded as failed is reported failed again without running, unless
  ``retry_failed`` (a job whose input or mask files changed is a new job and runs);
* an attempt that fails (an error in the job, or its worker dying) is tried again, up to
  ``retries`` more times, after the jobs not yet tried; then the job is recorded as failed and
  the others go on;
* Ctrl-C (``KeyboardInterrupt``) stops the workers at once; running jobs leave only their
  temporary outputs, which are removed, and a later run does them.

Jobs are anything with ``id``, ``key``, ``outputs_exist()``, ``discard_partial()`` and
``describe()`` (:class:`~aotvideo.batch.jobs.TrackJob` is one); the worker that runs them comes
from ``factory``. Nothing here prints: events go to ``on_event``.
"""
from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import ExecutorError
from .base import Executor, Finished, JobResult, Lost, Progressed, Ticket, WorkerFactory
from .state import JobState

__all__ = ["BatchEvent", "BatchJob", "BatchReport", "JobRecord", "Totals", "run_jobs"]

#: Seconds the runner waits for news before looking again.
_POLL_SECONDS = 0.2


class BatchJob(Protocol):
    """What the runner needs of a job."""

    @property
    def id(self) -> str: ...

    @property
    def key(self) -> str: ...

    def outputs_exist(self) -> bool: ...

    def discard_partial(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass
class JobRecord:
    """Where one job of the batch stands.

    ``status``: ``pending``, ``running``, ``done``, ``skipped`` (done in an earlier run),
    ``failed`` (after all its attempts) or ``interrupted``.
    """

    job: Any
    status: str = "pending"
    attempts: int = 0
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    kind: str | None = None
    worker: str | None = None
    errors: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    earlier: bool = False

    @property
    def fps(self) -> float:
        """Frames per second of the attempt that completed (0 when none)."""
        return round(self.frames / self.seconds, 3) if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready: the job's description with its status, frames, seconds, fps, error, attempts."""
        entry = dict(self.job.describe())
        entry.update({"status": self.status, "frames": self.frames, "seconds": round(self.seconds, 3),
                      "fps": self.fps, "error": self.error, "error_kind": self.kind,
                      "attempts": self.attempts, "worker": self.worker})
        if self.earlier:
            entry["earlier_run"] = True
        if self.errors:
            entry["attempt_errors"] = list(self.errors)
        if self.details:
            entry["details"] = dict(self.details)
        return entry


@dataclass(frozen=True)
class Totals:
    """Counts of the batch at one moment, for progress displays."""

    jobs: int
    done: int
    skipped: int
    failed: int
    running: int
    frames: int
    elapsed: float

    @property
    def finished(self) -> int:
        """Jobs that need nothing more (done, skipped or failed)."""
        return self.done + self.skipped + self.failed

    @property
    def fps(self) -> float:
        """Frames per second over the whole batch so far (all workers together)."""
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0


@dataclass(frozen=True)
class BatchEvent:
    """Something that happened to a job.

    ``kind``: ``skipped``, ``started``, ``progress``, ``done``, ``retry`` (an attempt failed,
    another follows), ``failed`` (no attempts left) or ``interrupted``.
    """

    kind: str
    record: JobRecord
    totals: Totals
    message: str | None = None
    frames: int = 0
    total: int | None = None


EventCallback = Callable[[BatchEvent], None]


@dataclass
class BatchReport:
    """The outcome of :func:`run_jobs`.

    ``stopped``: ``None`` when every job was dealt with, ``"interrupted"`` after Ctrl-C, or the
    executor's error when the workers could not go on.
    """

    records: list[JobRecord]
    seconds: float = 0.0
    executor: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None

    def count(self, status: str) -> int:
        """Jobs with this status."""
        return sum(1 for r in self.records if r.status == status)

    @property
    def ok(self) -> bool:
        """Every job is done (now or in an earlier run)."""
        return self.stopped is None and all(r.status in ("done", "skipped") for r in self.records)

    @property
    def frames(self) -> int:
        """Frames processed in this run."""
        return sum(r.frames for r in self.records if r.status == "done")

    def summary(self) -> dict[str, Any]:
        """Counts and speed, JSON-ready."""
        return {
            "jobs": len(self.records),
            **{status: self.count(status) for status in
               ("done", "skipped", "failed", "interrupted", "pending")},
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": round(self.frames / self.seconds, 3) if self.seconds > 0 else 0.0,
            "stopped": self.stopped,
        }

    def to_json(self) -> dict[str, Any]:
        """The whole report: summary, executor and every job."""
        return {"ok": self.ok, "summary": self.summary(), "executor": self.executor,
                "jobs": [r.to_json() for r in self.records]}


class _Run:
    """The state of one :func:`run_jobs` call."""

    def __init__(self, jobs: Sequence[BatchJob], executor: Executor, state: JobState | None,
                 retries: int, retry_failed: bool, on_event: EventCallback | None) -> None:
        self.records = [JobRecord(job) for job in jobs]
        self.executor = executor
        self.state = state
        self.retries = retries
        self.retry_failed = retry_failed
        self.on_event = on_event
        self.queue: deque[JobRecord] = deque()
        self.running: dict[int, JobRecord] = {}
        self.live_frames: dict[int, int] = {}
        self.tickets = 0
        self.start = time.monotonic()
        # kept up to date at every change, so an event costs the same with 10 or 10,000 jobs
        self.counts: Counter[str] = Counter(r.status for r in self.records)
        self.done_frames = 0
        self.live_total = 0

    # -- counts and events ---------------------------------------------------------------------

    def set_status(self, record: JobRecord, status: str) -> None:
        """Change a record's status, keeping the counts (done frames included) current."""
        self.counts[record.status] -= 1
        if record.status == "done":
            self.done_frames -= record.frames
        record.status = status
        self.counts[status] += 1
        if status == "done":
            self.done_frames += record.frames

    def set_live(self, ticket: int, frames: int | None) -> None:
        """A running attempt's frames so far (``None``: the attempt ended)."""
        self.live_total -= self.live_frames.pop(ticket, 0)
        if frames is not None:
            self.live_frames[ticket] = frames
            self.live_total += frames

    def totals(self) -> Totals:
        return Totals(len(self.records), self.counts["done"], self.counts["skipped"],
                      self.counts["failed"], len(self.running), self.done_frames + self.live_total,
                      time.monotonic() - self.start)

    def emit(self, kind: str, record: JobRecord, message: str | None = None, frames: int = 0,
             total: int | None = None) -> None:
        if self.on_event is not None:
            self.on_event(BatchEvent(kind, record, self.totals(), message, frames, total))

    # -- the steps -------------------------------------------------------------------------------

    def sort_out(self) -> None:
        """Skip what is done (and what failed, unless retrying failures); queue the rest."""
        for record in self.records:
            job = record.job
            previous = self.state.get(job.key) if self.state is not None else None
            status = (previous or {}).get("status")
            if previous and status == "done" and job.outputs_exist():
                self.set_status(record, "skipped")
                record.earlier = True
                record.frames = int(previous.get("frames", 0))
                record.seconds = float(previous.get("seconds", 0.0))
                self.emit("skipped", record)
            elif previous and status == "failed" and not self.retry_failed:
                self.set_status(record, "failed")
                record.earlier = True
                record.error, record.kind = previous.get("error"), previous.get("kind")
                record.attempts = int(previous.get("attempts", 0))
                self.emit("failed", record, f"failed in an earlier run: {record.error}")
            else:
                self.queue.append(record)

    def fill(self) -> None:
        while self.queue and self.executor.free_slots() > 0:
            record = self.queue.popleft()
            record.attempts += 1
            self.set_status(record, "running")
            self.tickets += 1
            ticket = Ticket(self.tickets, record.job, record.attempts)
            self.running[ticket.number] = record
            self.set_live(ticket.number, 0)
            record.worker = self.executor.submit(ticket)
            self.emit("started", record)

    def handle(self, message: Any) -> None:
        record = self.running.get(message.ticket)
        if record is None:
            return
        if isinstance(message, Progressed):
            self.set_live(message.ticket, message.frames)
            self.emit("progress", record, frames=message.frames, total=message.total)
            return
        del self.running[message.ticket]
        self.set_live(message.ticket, None)
        if isinstance(message, Finished):
            self.finish(record, message.result)
        elif isinstance(message, Lost):
            record.job.discard_partial()
            self.finish(record, JobResult(False, error=message.reason, kind="worker"))

    def finish(self, record: JobRecord, result: JobResult) -> None:
        record.frames, record.seconds = result.frames, result.seconds
        record.details = dict(result.details)
        if result.ok:
            self.set_status(record, "done")
            record.error, record.kind = None, None
            self.remember(record, "done")
            self.emit("done", record)
            return
        record.errors.append(f"attempt {record.attempts}: {result.error}")
        record.error, record.kind = result.error, result.kind
        if record.attempts <= self.retries:
            self.set_status(record, "pending")
            self.queue.append(record)  # after the jobs not tried yet
            self.emit("retry", record, result.error)
            return
        self.set_status(record, "failed")
        self.remember(record, "failed")
        self.emit("failed", record, result.error)

    def remember(self, record: JobRecord, status: str) -> None:
        if self.state is None:
            return
        job = record.job
        self.state.record(job.key, status, {
            "id": job.id, "output": job.describe().get("output"), "frames": record.frames,
            "seconds": round(record.seconds, 3), "attempts": record.attempts, "error": record.error,
            "kind": record.kind})

    def stop(self, why: str) -> None:
        """End running jobs (their temporary outputs are removed); they and the queue stay to do."""
        self.executor.close(cancel=True)
        for ticket, record in self.running.items():
            record.job.discard_partial()
            self.set_status(record, "interrupted")
            self.set_live(ticket, None)
            self.emit("interrupted", record, why)
        self.running.clear()
        for record in self.queue:
            self.set_status(record, "pending")

    def loop(self) -> None:
        while self.queue or self.running:
            self.fill()
            for message in self.executor.poll(_POLL_SECONDS):
                self.handle(message)


def run_jobs(jobs: Sequence[BatchJob], executor: Executor, factory: WorkerFactory, *,
             state: JobState | None = None, retries: int = 2, retry_failed: bool = False,
             on_event: EventCallback | None = None) -> BatchReport:
    """Run ``jobs`` on ``executor``'s workers (built with ``factory``); see the module docstring.

    ``state`` is the record of finished jobs (open); ``None`` runs everything and records
    nothing. ``retries``: further attempts after a failed one; ``retry_failed``: run jobs
    recorded as failed by an earlier run again (else they are reported failed as recorded). Returns the report; ``report.stopped`` tells when the batch ended early (Ctrl-C,
    or an :class:`~aotvideo.errors.ExecutorError` whose message it holds).
    """
    if retries < 0:
        raise ValueError("retries must be 0 or more")
    run = _Run(jobs, executor, state, retries, retry_failed, on_event)
    run.sort_out()
    stopped: str | None = None
    opened = False
    try:
        if run.queue:
            executor.open(factory, jobs=len(run.queue))
            opened = True
            run.loop()
    except KeyboardInterrupt:
        stopped = "interrupted"
        run.stop("interrupted")
    except ExecutorError as exc:
        stopped = str(exc)
        run.stop(stopped)
    except BaseException:
        run.stop("error")
        raise
    else:
        if opened:
            executor.close()
    return BatchReport(run.records, time.monotonic() - run.start, executor.describe(), stopped)
