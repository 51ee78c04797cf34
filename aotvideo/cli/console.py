"""Everything the command line shows on standard error, and how it stops.

Messages (:func:`say`, :func:`fail`), the progress displays of a video run, a download and a
batch (all drawn on one :class:`RedrawnLine`), JSON reports written atomically, and
:class:`Interrupts` (Ctrl-C and SIGTERM). Standard output is left to the data (video on a pipe,
tables).
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from ..batch.runner import BatchEvent
    from ..download import DownloadProgress
    from ..pipeline import Progress

__all__ = ["BatchPrinter", "DownloadPrinter", "FramePrinter", "Interrupts", "RedrawnLine", "bar",
           "clock", "fail", "progress_style", "say", "write_report"]

_MIB = float(1 << 20)


def say(message: str) -> None:
    """One line on standard error."""
    click.echo(message, err=True)


def fail(message: str, code: int) -> NoReturn:
    """``aotvideo: error: MESSAGE`` on standard error, then exit with ``code``."""
    say(f"aotvideo: error: {message}")
    sys.exit(code)


def progress_style(style: str, quiet: bool, *, plain: str = "none") -> str:
    """The display style of a command's ``--progress``/``--quiet``: ``auto`` is a bar on a
    terminal and ``plain`` otherwise; ``quiet`` shows nothing."""
    if quiet:
        return "quiet"
    if style == "auto":
        return "bar" if sys.stderr.isatty() else plain
    return style


def write_report(path: str | os.PathLike[str] | None, data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` (when given) by an atomic rename; a failure is a
    warning, never the end of the command."""
    if not path:
        return
    from ..io.paths import write_atomic

    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=2, default=str) + "\n"
        write_atomic(target, text.encode("utf-8"), durable=False)
    except OSError as exc:  # OutputError included
        say(f"aotvideo: warning: cannot write the report {path}: {exc.strerror or exc}")


def clock(seconds: float | None) -> str:
    """``M:SS`` or ``H:MM:SS``; ``?`` when unknown."""
    if seconds is None:
        return "?"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(share: float, width: int) -> str:
    """``[####------]``: ``share`` (0..1) of ``width`` cells filled."""
    filled = int(min(max(share, 0.0), 1.0) * width)
    return f"[{'#' * filled}{'-' * (width - filled)}]"


class RedrawnLine:
    """A line of standard error that a progress bar redraws in place (``\\r``).

    Subclasses build the text; :meth:`draw` writes it and :meth:`finish` ends the line before
    other text goes to standard error.
    """

    _drawn: bool = False

    def draw(self, text: str) -> None:
        """Write ``text`` (which starts with ``\\r`` to go back over the previous one)."""
        sys.stderr.write(text)
        sys.stderr.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the redrawn line, if one is shown."""
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False

    def line(self, text: str) -> None:
        """A whole line of its own (below a bar that is shown)."""
        self.finish()
        sys.stderr.write(text + "\n")
        sys.stderr.flush()


class FramePrinter(RedrawnLine):
    """A video run's progress (:class:`aotvideo.pipeline.Progress`): a redrawn bar (``bar``) or
    a line a second (``lines``)."""

    def __init__(self, style: str) -> None:
        self.style = style
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        final = progress.total is not None and progress.frames >= progress.total
        if not (final or progress.frames == 1 or now - self._last >= (1.0 if self.style == "lines" else 0.2)):
            return
        self._last = now
        if self.style == "lines":
            total = f"/{progress.total}" if progress.total else ""
            self.line(f"frame {progress.frames}{total} {progress.fps:.1f} fps")
            return
        eta = f" ETA {clock(progress.eta)}" if progress.eta is not None else ""
        if progress.total:
            share = progress.frames / progress.total
            text = (f"\r{bar(share, 30)} {progress.frames}/{progress.total} "
                    f"{progress.fps:5.1f} fps{eta} ")
        else:
            text = f"\r{progress.frames} frames {progress.fps:5.1f} fps {clock(progress.elapsed)} "
        self.draw(text)


def frame_printer(style: str, quiet: bool) -> FramePrinter | None:
    """The progress display of ``--progress``/``--quiet`` for a video run, if any."""
    resolved = progress_style(style, quiet)
    return FramePrinter(resolved) if resolved in ("bar", "lines") else None


def _mib(count: int) -> str:
    return f"{count / _MIB:.1f}"


class DownloadPrinter(RedrawnLine):
    """Shows a download (:class:`aotvideo.download.DownloadProgress`).

    Styles: ``bar`` (a redrawn bar, for terminals), ``lines`` (a line every 10 %), ``none`` (no
    progress, but a line when a download starts, is retried, checked and done) and ``quiet``
    (nothing at all).
    """

    def __init__(self, style: str) -> None:
        self.style = style
        self._last = 0.0
        self._started = time.monotonic()
        self._next_tenth = 1

    def __call__(self, progress: DownloadProgress) -> None:
        if self.style == "quiet":
            return
        if progress.phase == "data":
            self._data(progress)
            return
        if progress.phase == "start":
            self._started = time.monotonic()
            self._next_tenth = 1
            resumed = f", resuming after {_mib(progress.resumed_from)} MiB" if progress.resumed_from else ""
            self.line(f"aotvideo: downloading {progress.label} from {progress.url}{resumed}")
        elif progress.message:
            self.line(f"aotvideo: {progress.message}")
        else:
            self.finish()

    def _data(self, progress: DownloadProgress) -> None:
        if self.style == "bar":
            self._bar(progress)
        elif self.style == "lines" and progress.total:
            while progress.done * 10 >= self._next_tenth * progress.total and self._next_tenth <= 10:
                self.line(f"aotvideo: {self._next_tenth * 10}% ({_mib(progress.done)} of "
                          f"{_mib(progress.total)} MiB)")
                self._next_tenth += 1

    def _bar(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        final = progress.total is not None and progress.done >= progress.total
        if not final and now - self._last < 0.2:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-6)
        speed = f"{(progress.done - progress.resumed_from) / elapsed / _MIB:5.1f} MiB/s"
        if progress.total:
            share = min(1.0, progress.done / progress.total)
            text = (f"\r{bar(share, 30)} {share * 100:3.0f}% "
                    f"{_mib(progress.done)}/{_mib(progress.total)} MiB {speed} ")
        else:
            text = f"\r{_mib(progress.done)} MiB {speed} "
        self.draw(text)


class BatchPrinter(RedrawnLine):
    """A batch's progress (:class:`aotvideo.batch.BatchEvent`): one redrawn bar with failures
    above it, or a line per job event."""

    def __init__(self, style: str) -> None:
        self.style = style
        self._last_draw = 0.0
        self._last_line: dict[str, float] = {}

    def __call__(self, event: BatchEvent) -> None:
        if self.style == "lines":
            self._line(event)
        elif self.style == "bar":
            if event.kind in ("failed", "retry", "interrupted"):
                sys.stderr.write("\r\x1b[K" + batch_event_text(event) + "\n")
                self._drawn = False
            self._bar(event, force=event.kind != "progress")

    def _line(self, event: BatchEvent) -> None:
        if event.kind == "progress":
            now = time.monotonic()
            if now - self._last_line.get(event.record.job.id, 0.0) < 2.0:
                return
            self._last_line[event.record.job.id] = now
        self.line(batch_event_text(event))

    def _bar(self, event: BatchEvent, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.2:
            return
        self._last_draw = now
        t = event.totals
        share = t.finished / t.jobs if t.jobs else 1.0
        failed = f" {t.failed} failed" if t.failed else ""
        text = (f"\r{bar(share, 24)} {t.finished}/{t.jobs} jobs{failed} "
                f"{t.running} running  {t.frames} frames {t.fps:6.1f} frames/s {clock(t.elapsed)} ")
        self.draw(text)


def batch_event_text(event: BatchEvent) -> str:
    """One line about a batch event, prefixed ``aotvideo: [finished/jobs] JOB:``."""
    record, t = event.record, event.totals
    head = f"aotvideo: [{t.finished}/{t.jobs}] {record.job.id}:"
    if event.kind == "started":
        return f"{head} started (attempt {record.attempts}) on {record.worker}"
    if event.kind == "progress":
        total = f"/{event.total}" if event.total else ""
        return f"{head} frame {event.frames}{total}"
    if event.kind == "done":
        return f"{head} done: {record.frames} frames in {record.seconds:.1f} s ({record.fps:.1f} fps)"
    if event.kind == "skipped":
        return f"{head} skipped (done in an earlier run)"
    if event.kind == "retry":
        return f"{head} attempt {record.attempts} failed, trying again: {event.message}"
    if event.kind == "failed" and record.earlier:
        return f"{head} {event.message} (--retry-failed runs it again)"
    if event.kind == "failed":
        return f"{head} FAILED after {record.attempts} attempt(s): {event.message}"
    return f"{head} {event.kind}" + (f": {event.message}" if event.message else "")


class Interrupts:
    """SIGINT (Ctrl-C) and SIGTERM: remembered, and raised as ``KeyboardInterrupt`` inside
    :meth:`raising` (so a run stops and finalizes its output, a batch records its jobs).

    A Ctrl-C in a terminal reaches the whole shell pipeline (``ffmpeg ... | aotvideo track ...
    | ffplay -``): the neighbours stop at the same moment, so the error a command meets first
    may be a closed output pipe or a cut-off input rather than the ``KeyboardInterrupt``.
    Because the signal is remembered (:attr:`received`), the command exits 130 all the same.
    Outside :meth:`raising` signals are only remembered, never raised.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._raise = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
        if self._raise:
            raise KeyboardInterrupt

    def install(self) -> None:
        """Take over SIGINT and SIGTERM (only possible in the main thread)."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handler)
            except ValueError:  # not the main thread (e.g. an embedding application)
                pass

    def restore(self) -> None:
        """Give SIGINT and SIGTERM back to their earlier handlers."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    @contextmanager
    def raising(self) -> Iterator[None]:
        """Signals raise ``KeyboardInterrupt`` inside the block."""
        self._raise = True
        try:
            yield
        finally:
            self._raise = False

    @contextmanager
    def handled(self) -> Iterator[Interrupts]:
        """Installed for the block, raising inside it, restored after it."""
        self.install()
        try:
            with self.raising():
                yield self
        finally:
            self.restore()


@contextmanager
def exits_on_errors(what: str = "") -> Iterator[None]:
    """Inside the block, the library's errors (and ``ValueError``/``OSError`` from what it calls)
    end the command with their message and exit code (:func:`aotvideo.cli.exits.exit_code`),
    Ctrl-C with 130; ``what`` prefixes the message."""
    from ..errors import AotVideoError
    from .exits import EXIT_INTERRUPTED, exit_code

    try:
        yield
    except (AotVideoError, ValueError, OSError) as exc:
        fail(f"{what}{exc}", exit_code(exc))
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
