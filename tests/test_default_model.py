"""The model that ships in the package: present, verified, and tracking the sample clip."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import aotvideo
from aotvideo import zoo
from aotvideo.io.masks import read_mask
from aotvideo.io.reader import VideoReader
from aotvideo.io.testclips import scene

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def _sample() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    with VideoReader(str(SAMPLES / "sample.mp4")) as reader:
        frames = [f.image for f in reader.frames()]
    truth = np.stack([labels for _, labels in scene(320, 180, len(frames), objects=3, seed=0)])
    return frames, read_mask(SAMPLES / "sample_mask.png"), truth


def test_packaged_weights_are_found_and_verified(tmp_path, monkeypatch):
    monkeypatch.setenv("AOTVIDEO_CACHE", str(tmp_path / "empty-cache"))
    path = zoo.packaged_weights("deaott")
    assert path is not None and path.stat().st_size < 25 * 2**20
    assert zoo.resolve_weights("deaott", None) == path
    assert zoo.packaged_weights("aotl") is None
    model = aotvideo.load_model()
    assert model.config.name == "deaott"
    corrupt = tmp_path / "copy.pth"
    corrupt.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    monkeypatch.setitem(zoo.PACKAGED_WEIGHTS, "deaott", str(corrupt))
    with pytest.raises(aotvideo.WeightsError, match="sha256"):
        zoo.packaged_weights("deaott")


def test_default_model_tracks_the_sample_clip(tmp_path, monkeypatch):
    """What the model card states: the packaged model keeps all three shapes through the clip,
    with its one weakness where the triangle crosses the square in the last frames."""
    monkeypatch.setenv("AOTVIDEO_CACHE", str(tmp_path / "empty-cache"))
    frames, mask, truth = _sample()
    tracker = aotvideo.Tracker(aotvideo.load_model(), device="cpu")
    tracker.step(frames[0], mask=mask)
    ious = []
    for index in range(1, len(frames)):
        labels = tracker.step(frames[index]).labels.numpy()
        ious.append([((labels == obj) & (truth[index] == obj)).sum()
                     / ((labels == obj) | (truth[index] == obj)).sum() for obj in (1, 2, 3)])
    ious = np.array(ious)
    # measured for deaott_synthetic_v2: frames 1-55 every IoU >= 0.79 (means 0.97 / 0.92 /
    # 0.88); whole clip means 0.96 / 0.90 / 0.81 (circle / square / triangle)
    assert ious[:55].min() > 0.7, ious[:55].min(axis=0)
    assert (ious.mean(axis=0) > 0.7).all(), ious.mean(axis=0)


def test_quick_start_command_runs_without_weights_options(tmp_path):
    out = tmp_path / "sample.overlay.mp4"
    env = {"AOTVIDEO_CACHE": str(tmp_path / "empty-cache"), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "aotvideo", "track",
                             str(SAMPLES / "sample.mp4"), "--mask",
                             str(SAMPLES / "sample_mask.png"), "-o", str(out), "-q"],
                            capture_output=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 72
