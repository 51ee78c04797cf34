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
    """What the model card states: the packaged model (trained on real footage) keeps the square
    and most of the circle of the synthetic sample clip, and loses the triangle."""
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
    # measured for deaott_real_v4: whole-clip mean IoU 0.658 / 0.868 / 0.174 (circle / square /
    # triangle; v3 had 0.573 / 0.861 / 0.076); the square's median IoU is 0.89 and it drops below
    # 0.6 in one frame of 71 (0.54, a dip near the end that recovers to 0.93)
    circle, square, _ = ious.mean(axis=0)
    assert square > 0.8 and circle > 0.55, ious.mean(axis=0)
    assert np.median(ious[:, 1]) > 0.85 and (ious[:, 1] > 0.6).mean() > 0.95, ious[:, 1]


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


DAVIS16 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "davis2016-train"
# J of the packaged model on two real videos of the project's held-out list (held out of the runs
# that chose its recipe; the shipped weights trained on all 30 videos), tracked at the
# weights' preferred input size and scored like DAVIS 2016 (first and last frames not scored);
# bounds are the measured value minus a margin (measured values in the model card).
REAL_FOOTAGE_J = {"dog-agility": 0.83, "horsejump-low": 0.79}  # measured: 0.894, 0.858


@pytest.mark.parametrize("sequence", sorted(REAL_FOOTAGE_J))
def test_default_model_tracks_real_footage(sequence, tmp_path, monkeypatch):
    """A worse model can never be packaged by accident: real footage keeps its J."""
    if not (DAVIS16 / "JPEGImages" / "480p" / sequence).is_dir():
        pytest.skip(f"real footage not available: {DAVIS16} (the shared DAVIS 2016 train "
                    "folder beside the project) is missing")
    from aotvideo.evaluation.datasets import DavisDataset
    from aotvideo.evaluation.runner import ModelSpec, run_benchmark
    from aotvideo.evaluation.scoring import score_davis

    monkeypatch.setenv("AOTVIDEO_CACHE", str(tmp_path / "empty-cache"))
    dataset = DavisDataset(DAVIS16, 2016, "train", "480p")
    spec = ModelSpec("deaott", str(zoo.resolve_weights("deaott", None)))
    run_benchmark(dataset, tmp_path / "out", spec, sequences=[sequence])
    report = score_davis(dataset, tmp_path / "out", sequences=[sequence], workers=1)
    j_mean = report.global_results()["J-Mean"]
    assert j_mean > REAL_FOOTAGE_J[sequence], f"{sequence}: J {j_mean:.3f}"
