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
from tests.conftest import require_shared

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


def _ious(labels: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(frames, 3) IoU of the circle, square and triangle in every frame after the first."""
    return np.array([[((l == obj) & (t == obj)).sum() / ((l == obj) | (t == obj)).sum()
                      for obj in (1, 2, 3)] for l, t in zip(labels[1:], truth[1:])])


def test_default_model_tracks_every_object_of_the_sample_clip(tmp_path, monkeypatch):
    """What a new user sees first: the packaged model, with the settings its weights ask for
    (every object in its own identity group), keeps all three shapes of the sample clip."""
    monkeypatch.setenv("AOTVIDEO_CACHE", str(tmp_path / "empty-cache"))
    frames, mask, truth = _sample()
    tracker = aotvideo.Tracker(aotvideo.load_model(), device="cpu")
    assert tracker.objects_per_group == 1
    labels = [tracker.step(f, mask=mask if i == 0 else None).labels.numpy()
              for i, f in enumerate(frames)]
    ious = _ious(np.stack(labels), truth)
    # measured for the shipped weights: see the model card's sample-clip row
    assert (ious.mean(axis=0) >= 0.85).all(), ious.mean(axis=0)
    assert (np.median(ious, axis=0) >= 0.85).all(), np.median(ious, axis=0)


def test_quick_start_command_runs_without_weights_options(tmp_path):
    """The Quick start's command as written, then the same with --mode masks: every shape of
    the sample is tracked (mean IoU >= 0.85 over the clip) by the command a new user runs."""
    env = {"AOTVIDEO_CACHE": str(tmp_path / "empty-cache"), "PATH": "/usr/bin:/bin"}
    command = [sys.executable, "-m", "aotvideo", "track", str(SAMPLES / "sample.mp4"), "--mask",
               str(SAMPLES / "sample_mask.png"), "-q"]
    out = tmp_path / "sample.overlay.mp4"
    result = subprocess.run(command + ["-o", str(out)], capture_output=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 72
    masks = tmp_path / "masks"
    result = subprocess.run(command + ["--mode", "masks", "-o", str(masks)], capture_output=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr.decode()
    labels = np.stack([read_mask(p) for p in sorted(masks.glob("*.png"))])
    ious = _ious(labels, _sample()[2])
    assert (ious.mean(axis=0) >= 0.85).all(), ious.mean(axis=0)


DAVIS16 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "davis2016-train"
# J of the packaged model on two real videos of the project's held-out list (held out of the runs
# that chose its recipe; the shipped weights trained on all 30 videos), tracked at the
# weights' preferred input size and scored like DAVIS 2016 (first and last frames not scored);
# bounds are the measured value minus a margin (measured values in the model card).
REAL_FOOTAGE_J = {"dog-agility": 0.83, "horsejump-low": 0.79}  # measured: 0.894, 0.858


@pytest.mark.parametrize("sequence", sorted(REAL_FOOTAGE_J))
def test_default_model_tracks_real_footage(sequence, tmp_path, monkeypatch):
    """A worse model can never be packaged by accident: real footage keeps its J."""
    require_shared(DAVIS16 / "JPEGImages" / "480p" / sequence, "to hold the model to its J on "
                   "real footage")
    from aotvideo.evaluation.datasets import DavisDataset
    from aotvideo.evaluation.runner import run_benchmark
    from aotvideo.tracking.builder import TrackerSpec
    from aotvideo.evaluation.scoring import score_davis

    monkeypatch.setenv("AOTVIDEO_CACHE", str(tmp_path / "empty-cache"))
    dataset = DavisDataset(DAVIS16, 2016, "train", "480p")
    spec = TrackerSpec("deaott", str(zoo.resolve_weights("deaott", None)))
    run_benchmark(dataset, tmp_path / "out", spec, sequences=[sequence])
    report = score_davis(dataset, tmp_path / "out", sequences=[sequence], workers=1)
    j_mean = report.global_results()["J-Mean"]
    assert j_mean > REAL_FOOTAGE_J[sequence], f"{sequence}: J {j_mean:.3f}"
