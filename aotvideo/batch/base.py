"""The interface between the batch runner and its executors, and what workers return.

The runner (:func:`aotvideo.batch.runner.run_jobs`) owns the order of jobs, retries and the
record; an :class:`Executor` only starts workers, hands a job to a free one and reports what
happened. A worker is built once per worker process (or Ray actor) by a :data:`WorkerFactory`
and runs job after job, so what it loads (a model) is loaded once per worker, not per job.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, Union

__all__ = [
    "Executor",
    "Finished",
    "JobResult",
    "JobWorker",
    "Lost",
    "Message",
    "ProgressFn",
    "Progressed",
    "Ticket",
    "WorkerContext",
    "WorkerFactory",
]

#: ``progress(frames_done, total_frames_or_None)``, called by a worker as a job advances.
ProgressFn = Callable[[int, Union[int, None]], None]


@dataclass(frozen=True)
class JobResult:
    """What one attempt at a job came to, as the worker saw it.

    Attributes:
        ok: the job completed and its output is in place.
        frames: frames processed.
        seconds: time the attempt took in the worker.
        error: what went wrong (``None`` when ``ok``).
        kind: the kind of failure: ``mask``, ``input``, ``output``, ``weights``, ``usage``,
            ``device``, ``memory`` or ``error`` (unexpected).
        details: more about the run (objects, video size, device ...), JSON-ready.
    """

    ok: bool
    frames: int = 0
    seconds: float = 0.0
    error: str | None = None
    kind: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WorkerContext:
    """Where a worker runs: ``label`` (``host:pid``) and how many CPU threads it should use."""

    label: str
    threads: int | None = None


class JobWorker(Protocol):
    """Runs jobs one after another in one worker process; must not raise for a failed job."""

    def run(self, job: Any, progress: ProgressFn) -> JobResult: ...


#: Builds the worker of a worker process (a picklable callable, e.g. a class).
WorkerFactory = Callable[[WorkerContext], JobWorker]


@dataclass(frozen=True)
class Ticket:
    """One attempt at one job: ``number`` is unique in the batch, ``attempt`` counts from 1."""

    number: int
    job: Any
    attempt: int


@dataclass(frozen=True)
class Progressed:
    """A running ticket advanced to ``frames`` (of ``total`` when known)."""

    ticket: int
    frames: int
    total: int | None = None


@dataclass(frozen=True)
class Finished:
    """A ticket's worker returned ``result`` (which may be a failure)."""

    ticket: int
    result: JobResult


@dataclass(frozen=True)
class Lost:
    """A ticket's worker died or could not be reached before it returned (killed, out of memory)."""

    ticket: int
    reason: str


Message = Union[Progressed, Finished, Lost]


class Executor(Protocol):
    """Runs tickets on workers. All calls come from one thread (the runner's)."""

    #: ``local`` or ``ray``.
    name: str

    def open(self, factory: WorkerFactory, *, jobs: int) -> None:
        """Start the workers (at most as many as ``jobs``); each builds its worker with ``factory``."""

    def free_slots(self) -> int:
        """How many tickets can be submitted now."""

    def submit(self, ticket: Ticket) -> str:
        """Hand a ticket to a free worker; returns the worker's label (``host:pid``)."""

    def poll(self, timeout: float) -> list[Message]:
        """Wait up to ``timeout`` seconds for news of the submitted tickets."""

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers; ``cancel`` ends running tickets at once (their outputs are left
        unfinished under their temporary names)."""

    def describe(self) -> dict[str, Any]:
        """JSON-ready description (kind, workers, cluster) for reports."""
