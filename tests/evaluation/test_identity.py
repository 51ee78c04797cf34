"""Identity swaps and lost objects, told apart frame by frame."""
from __future__ import annotations

import numpy as np

from aotvideo.evaluation.identity import (LOST, OK, PARTIAL, SWAPPED, identity_events,
                                          summarize_identity)


def _truth(frames: int = 6) -> np.ndarray:
    gt = np.zeros((frames, 20, 30), np.uint8)
    gt[:, 2:10, 2:10] = 1
    gt[:, 10:18, 15:25] = 2
    return gt


def test_each_failure_is_named():
    gt = _truth(4)
    pred = gt.copy()
    pred[1][gt[1] == 1] = 2            # frame 1: object 1's pixels went to object 2
    pred[2][gt[2] == 2] = 0            # frame 2: object 2 dropped to the background
    pred[3][2:10, 2:5] = 0             # frame 3: object 1 only partly found (3 of 8 columns lost)
    pred[3][2:10, 5:7] = 2             # ... 2 columns to object 2: neither side holds most
    states = identity_events(gt, pred, 2)
    assert states[:, 0].tolist() == [OK, OK]
    assert states[0, 1] == SWAPPED and states[1, 1] == OK
    assert states[1, 2] == LOST and states[0, 2] == OK
    assert states[0, 3] == PARTIAL


def test_absent_objects_are_not_scored_and_runs_count():
    gt = _truth(8)
    gt[5:, gt[0] == 2] = 0             # object 2 leaves the picture after frame 4
    pred = gt.copy()
    for t in (2, 3, 4):                # a 3-frame swap of object 1
        pred[t][gt[t] == 1] = 2
    pred[6][gt[6] == 1] = 0            # one lost frame: not a loss
    states = identity_events(gt, pred, 2)
    assert (states[1, 5:] == -1).all()
    summary = summarize_identity(states)
    assert (summary.objects, summary.swapped, summary.lost) == (2, 1, 0)
    assert np.isclose(summary.swapped_frames, (3 / 8) / 2)
    assert np.isclose(summary.lost_frames, (1 / 8) / 2)
    total = summary + summarize_identity(identity_events(gt, gt, 2))
    assert (total.objects, total.swapped) == (4, 1)
    assert np.isclose(total.swapped_frames, (3 / 8) / 4)
