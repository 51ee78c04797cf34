"""The CPU model's schedule with decoding and writing (aotvideo.schedule), on its own.

The pipeline's side (which frames overlap, what the report says) is in tests/test_pipeline.py.
"""
from __future__ import annotations

import os
import sys
import threading

import pytest
import torch

from aotvideo.schedule import CoreSchedule


@pytest.fixture
def two_threads():
    """torch on two threads for the test (side by side needs two), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def blocked_while_stepping(schedule: CoreSchedule) -> bool:
    """Whether a stage thread calling ``wait`` during a model step is held until it ends."""
    returned = threading.Event()
    with schedule.model():
        waiter = threading.Thread(target=lambda: (schedule.wait(), returned.set()))
        waiter.start()
        held = not returned.wait(0.2)
    waiter.join(5)
    return held and returned.is_set()


def test_turns_hold_the_stages_while_the_model_steps(two_threads) -> None:
    schedule = CoreSchedule(True, "turns")
    assert blocked_while_stepping(schedule)
    assert schedule.waits_for_writer and schedule.summary == "turns"
    assert torch.get_num_threads() == 2


def test_side_by_side_gives_the_stages_a_core(two_threads) -> None:
    schedule = CoreSchedule(True, "side-by-side")
    assert torch.get_num_threads() == 2  # nothing changes before the run starts
    schedule.start()
    assert torch.get_num_threads() == 1  # the model on one thread fewer
    assert not blocked_while_stepping(schedule)
    assert not schedule.waits_for_writer and schedule.summary == "side-by-side"
    schedule.close()
    assert torch.get_num_threads() == 2


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread priorities are Linux's")
def test_side_by_side_lowers_the_stage_threads_priority(two_threads) -> None:
    schedule = CoreSchedule(True, "side-by-side")
    schedule.start()
    seen: list[int] = []

    def stage() -> None:
        schedule.wait()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    thread = threading.Thread(target=stage)
    thread.start()
    thread.join()
    schedule.close()
    assert seen and seen[0] >= 10
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < 10  # not this thread


def test_a_gpu_model_has_no_schedule(two_threads) -> None:
    schedule = CoreSchedule(False)
    assert not blocked_while_stepping(schedule)
    assert schedule.summary is None and not schedule.waits_for_writer
    for index in range(40):
        schedule.tracked(index)
    assert torch.get_num_threads() == 2


def test_one_thread_means_turns() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert CoreSchedule(True, "auto").mode == "turns"
        assert CoreSchedule(True, "side-by-side").mode == "turns"
    finally:
        torch.set_num_threads(before)


def test_unknown_schedule() -> None:
    with pytest.raises(ValueError, match="unknown schedule"):
        CoreSchedule(True, "fast")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_auto(step: float, between: float, side_pace: float) -> tuple[CoreSchedule, list[str]]:
    """Drive an ``auto`` schedule over 40 frames: in turns each model step takes ``step`` seconds
    and decoding and writing ``between`` after it; side by side the writer finishes a frame every
    ``side_pace`` seconds. Returns the schedule and the mode of each frame."""
    clock = Clock()
    schedule = CoreSchedule(True, "auto", clock=clock)
    schedule.start()
    modes = []
    for index in range(40):
        modes.append(schedule.mode)
        side = modes[-1] == "side-by-side"
        with schedule.model():
            clock.now += side_pace if side else step
        clock.now += 0.0 if side else between
        schedule.written(index)
        schedule.tracked(index)
    schedule.close()
    assert modes[:schedule.warm_up] == ["turns"] * schedule.warm_up
    return schedule, modes


def probed(schedule: CoreSchedule, modes: list[str]) -> bool:
    first, probe = schedule.warm_up, schedule.probe
    tried = modes[first:first + probe] == ["side-by-side"] * probe
    if tried:
        assert modes[first + probe:first + 2 * probe] == ["turns"] * probe
    return tried


def test_auto_keeps_side_by_side_when_it_is_clearly_faster(two_threads) -> None:
    schedule, modes = run_auto(step=0.12, between=0.10, side_pace=0.18)
    assert probed(schedule, modes) and modes[-1] == "side-by-side"
    assert torch.get_num_threads() == 2  # closed
    assert schedule.summary == ("side by side: measured 0.180 s a frame side by side, "
                                "0.220 s in turns")


def test_auto_keeps_turns_when_side_by_side_is_slower_or_barely_faster(two_threads) -> None:
    schedule, modes = run_auto(step=0.12, between=0.08, side_pace=0.26)
    assert probed(schedule, modes) and modes[-1] == "turns"
    schedule, modes = run_auto(step=0.12, between=0.08, side_pace=0.195)  # inside the margin
    assert probed(schedule, modes) and modes[-1] == "turns"
    assert schedule.summary == "turns: measured 0.195 s a frame side by side, 0.200 s in turns"


def test_auto_does_not_try_side_by_side_when_writing_is_light(two_threads) -> None:
    """On two threads side by side costs the model about half its speed: with decoding and
    writing adding 0.02 s to a 0.12 s step there is nothing to win, so nothing is tried."""
    schedule, modes = run_auto(step=0.12, between=0.02, side_pace=0.18)
    assert modes == ["turns"] * 40
    assert schedule.summary == ("turns: decoding and writing add 0.020 s to a 0.120 s step, "
                                "too little to try side by side")


def test_auto_before_the_choice_says_so(two_threads) -> None:
    schedule = CoreSchedule(True, "auto")
    for index in range(5):
        schedule.tracked(index)
        schedule.written(index)
    schedule.close()
    assert schedule.summary == "auto: too few frames to measure both ways"
