"""Ray actors as batch workers: the same jobs spread over a Ray cluster of one or many machines.

Each worker is a Ray actor that builds its worker once (so a model is loaded once per actor,
not per job) and runs one job at a time; the runner hands a job to whichever actor is free.
Actors ask Ray for ``cpus_per_worker`` CPUs and ``gpus_per_worker`` GPUs each (Ray sets
``CUDA_VISIBLE_DEVICES`` for them). Progress comes back through a small Ray queue. An actor
whose process dies (killed, out of memory, a lost node) fails its job with
:class:`~aotvideo.batch.base.Lost`, and a new actor takes its place.

Paths in jobs are used as they are on every machine: inputs, masks, weights and outputs must be
on storage that all nodes see at the same path, and aotvideo installed on every node.
"""
from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ExecutorError
from .base import Finished, JobResult, Lost, Message, Progressed, Ticket, WorkerContext, WorkerFactory

__all__ = ["RayExecutor", "INSTALL_HINT", "import_ray"]

INSTALL_HINT = "Ray is not installed; install it with: pip install 'aotvideo[ray]'"
_START_FAILURES = 3
_PROGRESS_EVERY = 0.5


def import_ray() -> Any:
    """The ``ray`` module, or :class:`~aotvideo.errors.ExecutorError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ExecutorError(INSTALL_HINT) from None
    return ray


class _RayWorker:
    """The actor: one worker built once, running job after job (Ray wraps it at run time)."""

    def __init__(self, factory: WorkerFactory, threads: int | None, progress: Any) -> None:
        self.label = f"{socket.gethostname()}:{os.getpid()}"
        self.progress = progress
        self.worker = factory(WorkerContext(self.label, threads))

    def info(self) -> str:
        """The worker's ``host:pid`` (also tells that the actor is up)."""
        return self.label

    def run(self, ticket: int, job: Any) -> JobResult:
        """Run one job; progress goes to the queue now and then."""
        last = [0.0]

        def report(frames: int, total: int | None) -> None:
            now = time.monotonic()
            if frames > 1 and now - last[0] < _PROGRESS_EVERY:
                return
            last[0] = now
            try:
                self.progress.put_nowait((ticket, frames, total))
            except Exception:  # a full or unreachable queue only costs progress display
                pass

        try:
            return self.worker.run(job, report)
        except Exception as exc:  # a worker should not raise
            return JobResult(False, error=f"{type(exc).__name__}: {exc}", kind="error")


@dataclass
class _Actor:
    handle: Any
    ready_ref: Any
    label: str = "starting"
    ready: bool = False
    ticket: int | None = None
    run_ref: Any = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class RayExecutor:
    """Run jobs on Ray actors.

    ``address``: ``"auto"`` (the cluster this machine belongs to, started with ``ray start``),
    ``"local"`` (a private one-machine Ray started for this batch and stopped after it), or a
    cluster address (``HOST:PORT``, ``ray://HOST:10001``). When this process is already
    connected (``ray.init`` was called), that connection is used and left open.

    ``workers``: actors (default: as many as the cluster's CPUs, or GPUs when workers use GPUs,
    allow). ``gpus_per_worker``: ``"auto"`` takes 1 when the cluster has GPUs, else 0.
    When no actor is up for ``start_timeout`` seconds (the cluster lacks the resources they ask
    for), :meth:`poll` raises :class:`~aotvideo.errors.ExecutorError`.
    """

    name = "ray"

    def __init__(self, address: str = "auto", *, workers: int | None = None,
                 cpus_per_worker: float = 1.0, gpus_per_worker: float | str = "auto",
                 init_options: Mapping[str, Any] | None = None,
                 start_timeout: float = 600.0) -> None:
        self.address = address
        self.start_timeout = start_timeout
        self._idle_since: float | None = None
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.gpus_per_worker = gpus_per_worker
        self.init_options = dict(init_options or {})
        self._ray: Any = None
        self._owns = False
        self._queue: Any = None
        self._actors: list[_Actor] = []
        self._actor_class: Any = None
        self._factory: WorkerFactory | None = None
        self._start_failures = 0
        self._resources: dict[str, float] = {}

    # -- connecting and starting ------------------------------------------------------------------

    def _connect(self) -> None:
        ray = self._ray = import_ray()
        if ray.is_initialized():
            return
        options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
        options["address"] = self.address  # "local": a new instance, never a running one
        if self.address == "local":
            options["include_dashboard"] = False
        options.update(self.init_options)
        try:
            ray.init(**options)
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError from ray.init
            where = "start a local Ray" if self.address == "local" else f"connect to Ray at {self.address}"
            raise ExecutorError(f"cannot {where}: {_first_line(exc)}") from exc
        self._owns = True

    def _gpus(self) -> float:
        if self.gpus_per_worker == "auto":
            return 1.0 if self._resources.get("GPU", 0) > 0 else 0.0
        return float(self.gpus_per_worker)

    def _count(self, jobs: int) -> int:
        if self.workers is not None:
            return max(1, min(self.workers, jobs))
        gpus = self._gpus()
        if gpus > 0:
            fit = math.floor(self._resources.get("GPU", 0) / gpus + 1e-9)
        else:
            fit = math.floor(self._resources.get("CPU", 0) / max(self.cpus_per_worker, 1e-9) + 1e-9)
        return max(1, min(fit, jobs))

    def open(self, factory: WorkerFactory, *, jobs: int) -> None:
        """Connect, then start the actors (they become free as they come up)."""
        self._connect()
        ray = self._ray
        self._factory = factory
        self._resources = dict(ray.cluster_resources())
        from ray.util.queue import Queue

        self._queue = Queue(actor_options={"num_cpus": 0})
        self._actor_class = ray.remote(_RayWorker).options(
            num_cpus=self.cpus_per_worker, num_gpus=self._gpus(), max_restarts=0, max_task_retries=0)
        count = self._count(jobs)
        self.workers = count
        self._actors = [self._start() for _ in range(count)]

    def _start(self) -> _Actor:
        threads = max(1, int(self.cpus_per_worker))
        handle = self._actor_class.remote(self._factory, threads, self._queue)
        return _Actor(handle, handle.info.remote())

    # -- running -----------------------------------------------------------------------------------

    def free_slots(self) -> int:
        """Actors that are up and without a job."""
        return sum(1 for a in self._actors if a.ready and a.ticket is None)

    def submit(self, ticket: Ticket) -> str:
        """Start the job on a free actor; returns its ``host:pid``."""
        actor = next(a for a in self._actors if a.ready and a.ticket is None)
        actor.ticket = ticket.number
        actor.run_ref = actor.handle.run.remote(ticket.number, ticket.job)
        return actor.label

    def poll(self, timeout: float) -> list[Message]:
        """Finished and lost tickets, actors that came up, and progress."""
        ray = self._ray
        refs = [a.run_ref for a in self._actors if a.ticket is not None]
        refs += [a.ready_ref for a in self._actors if not a.ready]
        messages: list[Message] = []
        if refs:
            ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
            if ready:  # collect whatever else is done too, without waiting
                ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            done = set(ready)
            for position, actor in enumerate(list(self._actors)):
                if not actor.ready and actor.ready_ref in done:
                    self._came_up(position, actor)
                elif actor.ticket is not None and actor.run_ref in done:
                    messages.extend(self._collect(position, actor))
        else:
            time.sleep(timeout)
        messages.extend(self._progress())
        self._check_started()
        return messages

    def _check_started(self) -> None:
        """Give up when no actor has come up for ``start_timeout`` seconds."""
        if any(a.ready for a in self._actors):
            self._idle_since = None
            return
        now = time.monotonic()
        self._idle_since = self._idle_since or now
        if now - self._idle_since > self.start_timeout:
            raise ExecutorError(
                f"no Ray worker started within {self.start_timeout:.0f} s: each asks for "
                f"{self.cpus_per_worker:g} CPU and {self._gpus():g} GPU, and the cluster has "
                f"{self._resources.get('CPU', 0):g} CPU and {self._resources.get('GPU', 0):g} GPU "
                "(see --cpus-per-worker, --gpus-per-worker)")

    def _came_up(self, position: int, actor: _Actor) -> None:
        try:
            actor.label = self._ray.get(actor.ready_ref)
        except self._ray.exceptions.RayError as exc:
            self._start_failures += 1
            if self._start_failures >= _START_FAILURES:
                raise ExecutorError(f"Ray workers cannot start: {_first_line(exc)}") from exc
            self._actors[position] = self._start()
            return
        actor.ready = True
        self._start_failures = 0

    def _collect(self, position: int, actor: _Actor) -> list[Message]:
        ray = self._ray
        number = actor.ticket
        assert number is not None
        actor.ticket, ref, actor.run_ref = None, actor.run_ref, None
        try:
            result = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            self._actors[position] = self._start()
            return [Lost(number, f"worker {actor.label} died: {_first_line(exc)}")]
        except ray.exceptions.RayError as exc:  # out of memory, lost objects, a failed task
            self._kill(actor)
            self._actors[position] = self._start()
            return [Lost(number, f"worker {actor.label}: {_first_line(exc)}")]
        return [Finished(number, result)]

    def _progress(self) -> list[Message]:
        from ray.util.queue import Empty

        try:
            size = self._queue.qsize()
            items = self._queue.get_nowait_batch(size) if size else []
        except (Empty, self._ray.exceptions.RayError):
            return []
        running = {a.ticket for a in self._actors if a.ticket is not None}
        return [Progressed(t, int(f), n) for t, f, n in items if t in running]

    # -- end ---------------------------------------------------------------------------------------

    def _kill(self, actor: _Actor) -> None:
        try:
            self._ray.kill(actor.handle, no_restart=True)
        except Exception:  # already gone
            pass

    def close(self, *, cancel: bool = False) -> None:
        """Kill the actors (running jobs end at once), and stop Ray if this batch started it."""
        if self._ray is None:
            return
        for actor in self._actors:
            self._kill(actor)
        self._actors = []
        if self._queue is not None:
            try:
                self._queue.shutdown(force=True)
            except Exception:  # already gone with the cluster
                pass
            self._queue = None
        if self._owns:
            self._ray.shutdown()
            self._owns = False

    def describe(self) -> dict[str, Any]:
        """Kind, address, actors and the cluster's resources."""
        return {"executor": self.name, "address": self.address, "workers": self.workers,
                "cpus_per_worker": self.cpus_per_worker, "gpus_per_worker": self.gpus_per_worker,
                "cluster": {k: v for k, v in self._resources.items() if k in ("CPU", "GPU", "memory")}}
