"""Propagation both ways from any frame (:mod:`aotvideo.propagation`) with the packaged model on
a real encoded clip: backward tracks as well as forward, keyframes are never overwritten, the
run stops where asked, and ``aotvideo track`` tracks the frames before its first mask backward."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aotvideo.errors import MaskError
from aotvideo.io.masks import read_mask, write_palette_png
from aotvideo.io.seek import SeekableVideo
from aotvideo.io.testclips import scene, write_clip
from aotvideo.propagation import LabelSpill, Propagation, propagate
from aotvideo.tracking.builder import TrackerSpec, build_tracker

FRAMES = 30


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    folder = tmp_path_factory.mktemp("propagation")
    frames, labels = zip(*scene(256, 160, FRAMES, objects=2, seed=5))
    path = folder / "clip.mp4"
    write_clip(path, list(frames), fps=12)
    return path, np.stack(labels)


def tracker():  # type: ignore[no-untyped-def]
    return build_tracker(TrackerSpec())


def mean_iou(frames, truth: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    return float(np.mean([iou(f.labels == k, truth[f.index] == k) for f in frames for k in (1, 2)]))


def test_backward_from_the_last_frame_tracks_like_forward(clip) -> None:  # type: ignore[no-untyped-def]
    path, truth = clip
    with SeekableVideo(path) as video:
        forward = list(propagate(video, tracker(), truth[0], Propagation(0, "forward"), chunk=7))
        backward = list(propagate(video, tracker(), truth[-1], Propagation(FRAMES - 1, "backward"), chunk=7))
    assert [f.index for f in forward] == list(range(1, FRAMES))
    assert [f.index for f in backward] == list(range(FRAMES - 2, -1, -1))
    assert all(f.labels.dtype == np.uint8 and f.object_ids == (1, 2) for f in backward)
    assert mean_iou(forward, truth) > 0.8
    assert mean_iou(backward, truth) > 0.8


def test_keyframes_stop_the_run_or_hold_their_labels(clip) -> None:  # type: ignore[no-untyped-def]
    path, truth = clip
    corrected = truth[15].copy()
    corrected[:10, :10] = 1  # a correction nothing would predict
    keyframes = {15: corrected}
    with SeekableVideo(path) as video:
        stopped = list(propagate(video, tracker(), truth[0], Propagation(0), keyframes))
        through = list(propagate(video, tracker(), truth[0], Propagation(0, stop_at_keyframe=False), keyframes))
        back = list(propagate(video, tracker(), truth[25], Propagation(25, "backward", stop=5), keyframes))
        window = list(propagate(video, tracker(), truth[20], Propagation(20, "forward", stop=24)))
    assert [f.index for f in stopped] == list(range(1, 15))
    at_key = [f for f in through if f.index == 15]
    assert len(at_key) == 1 and at_key[0].keyframe and np.array_equal(at_key[0].labels, corrected)
    assert [f.index for f in through] == list(range(1, FRAMES))
    assert [f.index for f in back] == list(range(24, 15, -1))  # stops before keyframe 15
    assert [f.index for f in window] == [21, 22, 23, 24]


def test_bad_starts(clip) -> None:  # type: ignore[no-untyped-def]
    path, truth = clip
    with SeekableVideo(path) as video:
        with pytest.raises(MaskError, match="no object"):
            next(propagate(video, tracker(), np.zeros_like(truth[0]), Propagation(3)))
        with pytest.raises(MaskError, match="256x160"):
            next(propagate(video, tracker(), truth[0][:, :100], Propagation(3)))
        with pytest.raises(IndexError):
            next(propagate(video, tracker(), truth[0], Propagation(FRAMES)))
    with pytest.raises(ValueError, match="direction"):
        Propagation(0, "sideways")  # type: ignore[arg-type]


def test_spill_keeps_labels_exactly(clip) -> None:  # type: ignore[no-untyped-def]
    _, truth = clip
    with LabelSpill() as spill:
        spill.put(7, truth[7], (1, 2))
        labels, ids = spill.get(7)
        assert np.array_equal(labels, truth[7]) and ids == (1, 2) and 7 in spill and spill.get(8) is None
        folder = spill._root
    assert not folder.exists()


def test_track_command_goes_both_ways_from_a_middle_mask(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, truth = clip
    write_palette_png(tmp_path / "key.png", truth[12])
    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "aotvideo", "track", str(path), "-m", f"12:{tmp_path / 'key.png'}",
               "--mode", "masks", "-o", str(tmp_path / "masks"), "--report", str(report), "--progress", "none"]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    data = json.loads(report.read_text())
    assert data["frames_written"] == FRAMES and data["frames_backward"] == 12
    scores = [iou(read_mask(tmp_path / "masks" / f"{i:05d}.png") == k, truth[i] == k)
              for i in range(FRAMES) for k in (1, 2)]
    assert np.mean(scores[:24]) > 0.8  # frames 0-11, tracked backward
    assert np.mean(scores) > 0.8

    # --no-backward: frames before the first mask stay empty, as from a pipe
    command[command.index("-o") + 1] = str(tmp_path / "forward")
    subprocess.run(command + ["--no-backward"], check=True, capture_output=True, timeout=300)
    assert not read_mask(tmp_path / "forward" / "00000.png").any()
    assert read_mask(tmp_path / "forward" / "00013.png").any()


def test_backward_needs_a_file(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, truth = clip
    write_palette_png(tmp_path / "key.png", truth[12])
    result = subprocess.run([sys.executable, "-m", "aotvideo", "track", "-", "-m", f"12:{tmp_path / 'key.png'}",
                             "--backward", "-o", str(tmp_path / "o.mp4")],
                            stdin=open(path, "rb"), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "--backward needs a video file" in result.stderr
