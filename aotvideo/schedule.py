"""How a model on the CPU shares the cores with decoding and writing during a run.

Two ways, and neither is always the faster one:

* **turns**: the model's threads fill every core while it steps; a decoder or writer thread
  that preempts one of them stalls all of them at their next barrier. So while the model steps,
  decoding and writing wait (:meth:`CoreSchedule.wait`, called by the decoding and writing
  threads before each packet and picture); between steps the writer finishes the frame while
  the decoder reads the next one, each on a core of its own. Best when the output is light
  next to the model (an H.264 overlay at 1080p on two cores).
* **side by side**: the model steps on one thread fewer, and decoding and writing run on the
  core left, at a lower priority, without waiting. Best when the output is heavy (a ProRes 4444
  alpha clip: about 80 ms of one core a 1080p frame in FFmpeg's encoder).

``auto`` measures both on the run's own frames: after a few frames to warm up, a few frames side
by side, then a few in turns, each timed by when the writer finished them (the pace of the
whole chain, whichever stage holds it back), and the faster one is kept for the rest of the
run. :attr:`CoreSchedule.summary` says what was chosen and why, for the run's report. A model on
a GPU leaves the cores to the other stages: no schedule then.

Side by side changes torch's number of threads, which is the whole process's, for the length of
the run: a program running several videos at once in threads of one process should ask for
``turns`` and share torch's threads out itself.
"""
from __future__ import annotations

import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

__all__ = ["SCHEDULES", "CoreSchedule"]

SCHEDULES = ("auto", "turns", "side-by-side")
"""The choices: measure both and keep the faster, or one of them for the whole run."""

#: Lower priority (nice) of the decoding and writing threads side by side with the model.
_NICE = 10


class CoreSchedule:
    """The schedule of one run; ``cpu`` says whether the model runs on the CPU (else nothing
    waits and nothing changes). ``choice`` is one of :data:`SCHEDULES`.

    The pipeline calls :meth:`start` when the run starts, :meth:`model` around each step,
    :meth:`tracked` after each frame, the decoding and writing threads :meth:`wait` before each
    packet and picture, the writer :meth:`written` after each picture, and :meth:`close` at the
    end, which puts the model's threads back.
    """

    warm_up = 6
    """Frames tracked in turns first; the last four of them time the model's steps and the
    gaps between them (what decoding and writing add)."""
    probe = 10
    """Frames measured each way (the first three of each are not timed: the pipeline settles,
    the model's kernels are set up for the new number of threads)."""
    worth = 0.5
    """Side by side takes about one thread's share of the model's speed, ``1 / (threads - 1)``
    of its step; it is tried only when decoding and writing add at least this part of that
    share between steps in turns (on two cores: half a step; the overlay at 1080p adds 0.15)."""
    margin = 0.95
    """Side by side is kept only when its pace is at most this share of the turns' (turns are
    the safe default: measurements on a busy machine vary by several percent)."""

    def __init__(self, cpu: bool, choice: str = "auto", *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if choice not in SCHEDULES:
            raise ValueError(f"unknown schedule {choice!r}; use one of {', '.join(SCHEDULES)}")
        self.enabled = cpu
        self._clock = clock
        self._threads = torch.get_num_threads()
        if choice != "turns" and self._threads < 2:
            choice = "turns"  # one thread: nothing to share
        self.choice = choice
        self.mode = "side-by-side" if choice == "side-by-side" else "turns"
        self._free = threading.Event()
        self._free.set()
        self._niced: set[int] = set()
        self._done = 0
        self._windows: dict[str, list[int]] = {"side-by-side": [], "turns": []}
        self._finished: dict[int, float] = {}
        self._steps: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._chosen = choice != "auto"
        self._summary = self.mode

    @property
    def summary(self) -> str | None:
        """For the run's report: the schedule and, for ``auto``, what was measured; ``None``
        for a model on a GPU."""
        if not self.enabled:
            return None
        return self._summary if self._chosen else "auto: too few frames to measure both ways"

    # -- the stages' side ------------------------------------------------------------------------

    def wait(self) -> None:
        """Called by the decoding and writing threads: blocks while the model steps in turns;
        side by side, lowers the calling thread's priority (once)."""
        if self.mode == "turns":
            self._free.wait()
        else:
            self._lower_priority()

    def written(self, index: int) -> None:
        """The writer finished frame ``index``."""
        if self.enabled and not self._chosen:
            with self._lock:
                self._finished[index] = self._clock()

    # -- the model's side ------------------------------------------------------------------------

    @property
    def waits_for_writer(self) -> bool:
        """Whether the pipeline lets the writer finish each frame before the next step."""
        return self.enabled and self.mode == "turns"

    @contextmanager
    def model(self) -> Iterator[None]:
        """The model's step: in turns, the other stages hold back until it ends."""
        turns = self.enabled and self.mode == "turns"
        if turns:
            self._free.clear()
        start = self._clock()
        try:
            yield
        finally:
            self._free.set()
            if self.enabled and not self._chosen and len(self._steps) < self.warm_up:
                self._steps.append((start, self._clock()))

    def tracked(self, index: int) -> None:
        """The model has tracked frame ``index``: move on through warm-up, the two probes and
        the choice (``auto``)."""
        if not self.enabled or self._chosen:
            return
        self._done += 1
        first_probe = self.warm_up
        second_probe = first_probe + self.probe
        if self._done <= first_probe:
            if self._done == first_probe and self._worth_trying():
                self._enter("side-by-side")
            return
        if self._done <= second_probe + self.probe:
            window = "side-by-side" if self._done <= second_probe else "turns"
            self._windows[window].append(index)
            if self._done == second_probe:
                self._enter("turns")
            elif self._done == second_probe + self.probe:
                self._choose()

    def start(self) -> None:
        """The run starts: side by side (when chosen), the model gets one thread fewer."""
        if self.enabled and self.mode == "side-by-side":
            self._enter("side-by-side")

    def close(self) -> None:
        """Give the model all its threads again (the process keeps running after the run)."""
        if self.enabled:
            torch.set_num_threads(self._threads)

    # -- inside ------------------------------------------------------------------------------------

    def _enter(self, mode: str) -> None:
        self.mode = mode
        torch.set_num_threads(self._threads - 1 if mode == "side-by-side" else self._threads)
        if mode == "side-by-side":
            self._free.set()

    def _worth_trying(self) -> bool:
        """After the warm-up: whether decoding and writing take enough time between the model's
        steps for side by side to have a chance; if not, turns are chosen now."""
        steps = self._steps[2:]  # the first frames' steps (the given mask, warming up) are not typical
        if len(steps) < 2:
            return True  # not timed: measure both ways
        step = statistics.median(end - start for start, end in steps)
        gaps = [b[0] - a[1] for a, b in zip(steps, steps[1:])]
        between = statistics.median(gaps)
        if between >= self.worth * step / (self._threads - 1):
            return True
        self._chosen = True
        self._summary = (f"turns: decoding and writing add {between:.3f} s to a {step:.3f} s "
                         f"step, too little to try side by side")
        return False

    def _pace(self, window: str) -> float | None:
        """Median seconds between the writer finishing consecutive frames of ``window``."""
        with self._lock:
            times = [self._finished.get(i) for i in self._windows[window][3:]]
        known = [t for t in times if t is not None]
        gaps = [b - a for a, b in zip(known, known[1:])]
        return statistics.median(gaps) if gaps else None

    def _choose(self) -> None:
        # the turns window's frames are all written by now (turns wait for the writer); the
        # side-by-side window's were written before it
        self._chosen = True
        side, turns = self._pace("side-by-side"), self._pace("turns")
        if side is None or turns is None:
            self._summary = "turns (the writer's pace could not be measured)"
            self._enter("turns")
            return
        mode = "side-by-side" if side <= self.margin * turns else "turns"
        self._enter(mode)
        self._summary = (f"{mode.replace('-', ' ')}: measured {side:.3f} s a frame side by side, "
                        f"{turns:.3f} s in turns")

    def _lower_priority(self) -> None:
        """Linux schedules threads one by one: lower this one's priority so that the model's
        thread keeps its core (elsewhere a thread id is no process id: nothing is done)."""
        if not sys.platform.startswith("linux"):
            return
        tid = threading.get_native_id()
        if tid in self._niced:
            return
        self._niced.add(tid)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, max(_NICE, os.getpriority(os.PRIO_PROCESS, tid)))
        except OSError:
            pass
