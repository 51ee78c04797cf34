"""A studio workspace rendered by ``aotvideo track --workspace`` and by a batch manifest's
``workspace`` entry (real processes, a PyAV-encoded clip, the packaged model)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aotvideo.io.masks import read_mask
from aotvideo.io.testclips import scene, write_clip
from aotvideo.io.workspace import Workspace

FRAMES = 20


def aotvideo(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aotvideo", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.fixture(scope="module")
def studio_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, np.ndarray]:
    """(video, workspace with keyframes 8 and 15, true labels)."""
    folder = tmp_path_factory.mktemp("ws-clip")
    frames, labels = zip(*scene(224, 128, FRAMES, objects=2, seed=7))
    truth = np.stack(labels)
    video = folder / "clip.mp4"
    write_clip(video, list(frames), fps=10)
    workspace = Workspace.create(folder / "clip.studio", video, width=224, height=128, frames=FRAMES)
    workspace.add_object("a")
    workspace.add_object("b")
    workspace.write_keyframe(8, truth[8])
    workspace.write_keyframe(15, truth[15])
    workspace.write_propagated(9, truth[9])  # not a keyframe: track does not read it
    return video, folder / "clip.studio", truth


def test_track_renders_a_workspace(studio_clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    video, workspace, truth = studio_clip
    result = aotvideo("track", str(video), "--workspace", str(workspace), "--mode", "masks",
                      "-o", str(tmp_path / "masks"), "--report", str(tmp_path / "r.json"), "-q")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames_written"] == FRAMES and report["frames_backward"] == 8
    got = [read_mask(tmp_path / "masks" / f"{i:05d}.png") for i in range(FRAMES)]
    assert np.array_equal(got[8], truth[8]) and np.array_equal(got[15], truth[15])
    scores = [iou(got[i] == k, truth[i] == k) for i in range(FRAMES) for k in (1, 2)]
    assert np.mean(scores) > 0.8


def test_batch_manifest_with_a_workspace(studio_clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    video, workspace, truth = studio_clip
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"input": str(video), "workspace": str(workspace),
                                    "output": str(tmp_path / "out.matte.mp4"), "mode": "matte"}) + "\n")
    result = aotvideo("batch", str(manifest), "--progress", "none")
    assert result.returncode == 0, result.stderr
    from aotvideo.io.reader import VideoReader

    with VideoReader(tmp_path / "out.matte.mp4") as reader:
        mattes = [f.image[:, :, 0] > 127 for f in reader.frames()]
    assert len(mattes) == FRAMES
    assert iou(mattes[2], truth[2] > 0) > 0.7  # before the first keyframe: tracked backward


def test_workspace_errors(studio_clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    video, workspace, _ = studio_clip
    empty = Workspace.create(tmp_path / "empty", video, width=224, height=128, frames=FRAMES)
    result = aotvideo("track", str(video), "--workspace", str(empty.root), "-o", str(tmp_path / "o.mp4"))
    assert result.returncode == 3 and "no keyframe with an object" in result.stderr
    result = aotvideo("track", str(video), "--workspace", str(tmp_path), "-o", str(tmp_path / "o.mp4"))
    assert result.returncode == 3 and "not an aotvideo workspace" in result.stderr
    result = aotvideo("track", str(video), "--workspace", str(workspace), "-m", "x.png")
    assert result.returncode == 2 and "leave out --mask" in result.stderr
    manifest = tmp_path / "bad.jsonl"
    manifest.write_text(json.dumps({"input": str(video), "workspace": str(workspace), "mask": "a.png"}) + "\n")
    result = aotvideo("batch", str(manifest))
    assert result.returncode == 2 and "not both" in result.stderr
    assert not (tmp_path / "o.mp4").exists()
