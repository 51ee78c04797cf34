"""Worker processes on this machine: the batch's default executor.

Each worker is a process started with the ``spawn`` method (never ``fork``: a forked copy of a
process whose torch or OpenCV thread pools are running can hang), builds its worker once (a
model loaded at its first job stays loaded), and takes one job at a time over its own pipe. A
worker that dies (killed, out of memory, a crash in native code) is noticed through its process
sentinel: its job is reported :class:`~aotvideo.batch.base.Lost` and a new worker takes its place.
Workers ignore Ctrl-C; the runner decides what stops.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from ..errors import ExecutorError
from ..io.formats import available_cpus
from .base import Finished, JobResult, Lost, Message, Progressed, Ticket, WorkerContext, WorkerFactory

__all__ = ["InProcessExecutor", "LocalExecutor", "available_cpus"]

#: Workers that die before they are ready, in a row, before the executor gives up.
_START_FAILURES = 3
#: Seconds between two progress messages of a worker.
_PROGRESS_EVERY = 0.25


class _Reporter:
    """The progress callback of a job in a worker process: throttled messages to the runner."""

    def __init__(self, conn: Connection, ticket: int) -> None:
        self.conn = conn
        self.ticket = ticket
        self.last = 0.0

    def __call__(self, frames: int, total: int | None) -> None:
        now = time.monotonic()
        if frames > 1 and now - self.last < _PROGRESS_EVERY:
            return
        self.last = now
        self.conn.send(("progress", self.ticket, frames, total))


def _worker_main(conn: Connection, factory: WorkerFactory, env: dict[str, str],
                 threads: int | None) -> None:
    """Body of a worker process: build the worker, then run jobs until told to stop."""
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    label = f"{socket.gethostname()}:{os.getpid()}"
    try:
        worker = factory(WorkerContext(label, threads))
    except Exception as exc:  # reported to the runner, which gives up after a few
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", label))
    while True:
        try:
            item = conn.recv()
        except EOFError:  # the runner is gone
            return
        if item is None:
            return
        number, job = item
        try:
            result = worker.run(job, _Reporter(conn, number))
        except Exception as exc:  # a worker should not raise; keep the process serving
            result = JobResult(False, error=f"{type(exc).__name__}: {exc}", kind="error")
        conn.send(("result", number, result))


@dataclass
class _Slot:
    """One worker process and the ticket it holds."""

    index: int
    process: BaseProcess
    conn: Connection
    label: str
    ticket: int | None = None
    ready: bool = False
    fatal: str | None = None


def _death_reason(slot: _Slot) -> str:
    code = slot.process.exitcode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        extra = " (by someone, or by the system when memory ran out)" if -code == signal.SIGKILL else ""
        return f"worker {slot.label} was killed by {name}{extra}"
    return f"worker {slot.label} ended unexpectedly (exit code {code})"


class LocalExecutor:
    """Run jobs in ``workers`` processes on this machine.

    ``gpus`` (e.g. ``("0", "1")``) are handed to the workers round-robin, one each, through
    ``CUDA_VISIBLE_DEVICES``; ``threads`` is the CPU threads of each worker (default: this
    machine's CPUs shared out among the workers).
    """

    name = "local"

    def __init__(self, workers: int = 1, *, gpus: Sequence[str] = (), threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.gpus = tuple(gpus)
        self.threads = threads
        self._slots: list[_Slot] = []
        self._factory: WorkerFactory | None = None
        self._context = multiprocessing.get_context("spawn")
        self._start_failures = 0
        self._closed = False

    # -- workers ---------------------------------------------------------------------------------

    def open(self, factory: WorkerFactory, *, jobs: int) -> None:
        """Start ``min(workers, jobs)`` worker processes."""
        self._factory = factory
        count = max(1, min(self.workers, jobs))
        if self.threads is None:
            self.threads = max(1, available_cpus() // count)
        self._slots = [self._start(index) for index in range(count)]

    def _start(self, index: int) -> _Slot:
        env: dict[str, str] = {}
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[index % len(self.gpus)]
        parent, child = self._context.Pipe()
        process = self._context.Process(target=_worker_main, name=f"aotvideo-batch-{index}",
                                        args=(child, self._factory, env, self.threads), daemon=True)
        process.start()
        child.close()
        return _Slot(index, process, parent, f"{socket.gethostname()}:{process.pid}")

    def free_slots(self) -> int:
        """Workers without a job (a starting worker counts: its job waits in its pipe)."""
        return sum(1 for s in self._slots if s.ticket is None and s.process.exitcode is None)

    def submit(self, ticket: Ticket) -> str:
        """Send the ticket to a free worker; returns its label."""
        slot = next(s for s in self._slots if s.ticket is None and s.process.exitcode is None)
        slot.ticket = ticket.number
        try:
            slot.conn.send((ticket.number, ticket.job))
        except OSError:  # it died meanwhile: poll() reports the ticket lost
            pass
        return slot.label

    # -- news --------------------------------------------------------------------------------------

    def poll(self, timeout: float) -> list[Message]:
        """Messages from the workers; dead workers' tickets come back as :class:`Lost`."""
        watched: list[Any] = [s.conn for s in self._slots] + [s.process.sentinel for s in self._slots]
        wait(watched, timeout)
        messages: list[Message] = []
        for position, slot in enumerate(list(self._slots)):
            messages.extend(self._drain(slot))
            if slot.process.exitcode is not None:
                messages.extend(self._replace(position, slot))
        return messages

    def _drain(self, slot: _Slot) -> list[Message]:
        messages: list[Message] = []
        try:
            while slot.conn.poll():
                messages.extend(self._handle(slot, slot.conn.recv()))
        except (EOFError, OSError):
            slot.process.join(timeout=5)  # the pipe closed: the process is ending
        return messages

    def _handle(self, slot: _Slot, message: tuple[Any, ...]) -> list[Message]:
        kind = message[0]
        if kind == "ready":
            slot.ready = True
            self._start_failures = 0
        elif kind == "fatal":
            slot.fatal = str(message[1])
        elif kind == "progress" and message[1] == slot.ticket:
            return [Progressed(message[1], int(message[2]), message[3])]
        elif kind == "result" and message[1] == slot.ticket:
            slot.ticket = None
            return [Finished(message[1], message[2])]
        return []

    def _replace(self, position: int, slot: _Slot) -> list[Message]:
        slot.conn.close()
        lost = [Lost(slot.ticket, _death_reason(slot))] if slot.ticket is not None else []
        if not slot.ready:
            self._start_failures += 1
            if self._start_failures >= _START_FAILURES:
                why = slot.fatal or _death_reason(slot)
                raise ExecutorError(f"batch worker processes cannot start: {why}")
        if not self._closed:
            self._slots[position] = self._start(slot.index)
        return lost

    # -- end -----------------------------------------------------------------------------------------

    def close(self, *, cancel: bool = False) -> None:
        """Stop the workers: at once with ``cancel``, else after their current message."""
        self._closed = True
        for slot in self._slots:
            if cancel:
                slot.process.terminate()
            else:
                try:
                    slot.conn.send(None)
                except OSError:
                    pass
        for slot in self._slots:
            slot.process.join(timeout=10)
            if slot.process.exitcode is None:
                slot.process.kill()
                slot.process.join(timeout=5)
            slot.conn.close()
        self._slots = []

    def describe(self) -> dict[str, Any]:
        """Kind, worker count, GPUs and threads."""
        return {"executor": self.name, "workers": self.workers, "gpus": list(self.gpus),
                "threads_per_worker": self.threads}


class InProcessExecutor:
    """Run jobs one at a time in this process, without worker processes.

    For debugging, tests of the runner, and callers that already are a worker. A crash in a job
    takes this process down with it, so :class:`LocalExecutor` is the safer default.
    """

    name = "in-process"

    def __init__(self, *, threads: int | None = None) -> None:
        self.threads = threads
        self._worker: Any = None
        self._ticket: Ticket | None = None
        self.label = f"{socket.gethostname()}:{os.getpid()}"

    def open(self, factory: WorkerFactory, *, jobs: int) -> None:
        """Build the one worker."""
        self._worker = factory(WorkerContext(self.label, self.threads))

    def free_slots(self) -> int:
        """1 when no job is waiting to run."""
        return 0 if self._ticket is not None else 1

    def submit(self, ticket: Ticket) -> str:
        """Keep the ticket; :meth:`poll` runs it."""
        self._ticket = ticket
        return self.label

    def poll(self, timeout: float) -> list[Message]:
        """Run the waiting job to its end; its progress messages come before its result."""
        ticket, self._ticket = self._ticket, None
        if ticket is None:
            time.sleep(timeout)
            return []
        messages: list[Message] = []

        def progress(frames: int, total: int | None) -> None:
            messages.append(Progressed(ticket.number, frames, total))

        messages.append(Finished(ticket.number, self._worker.run(ticket.job, progress)))
        return messages

    def close(self, *, cancel: bool = False) -> None:
        """Drop the worker."""
        self._worker = None

    def describe(self) -> dict[str, Any]:
        """Kind and label."""
        return {"executor": self.name, "workers": 1, "worker": self.label}
