"""``eval run`` end to end with the conformance weights, on tiny DAVIS and YouTube-VOS folders."""
from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from eval_datasets import make_davis, make_youtube, moving_objects

import aotvideo
from aotvideo.evaluation._png import read_label_png
from aotvideo.cli.evaluate import eval_group
from aotvideo.evaluation.datasets import BenchmarkError, YouTubeVOSDataset, open_benchmark
from aotvideo.models.rule_weights import rule_state_dict

MODEL = "deaott"


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few tiny frames; avoid oversubscribing shared CPUs
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    model = aotvideo.build_model(MODEL)
    path = tmp_path_factory.mktemp("weights") / f"{MODEL}.pth"
    torch.save({"state_dict": rule_state_dict(model)}, path)
    return path


@pytest.fixture(scope="module")
def tracker(weights: Path):
    model = aotvideo.build_model(MODEL)
    aotvideo.load_weights(model, str(weights))
    return aotvideo.Tracker(model, "cpu")


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def direct_run(tracker, frames: list[Path], masks: dict[int, np.ndarray]) -> list[np.ndarray]:
    """The protocol written out by hand: step every frame, giving the new objects' masks."""
    tracker.reset()
    out = []
    for t, path in enumerate(frames):
        result = tracker.step(read_rgb(path), mask=masks.get(t))
        out.append(result.labels.numpy())
    return out


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(eval_group, ["run", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def davis(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    gts = {"aa": moving_objects(5, 32, 48, 2, seed=1), "bb": moving_objects(4, 32, 40, 1, seed=2)}
    return make_davis(tmp_path / "DAVIS", gts), gts


def test_davis_run_writes_layout_and_matches_tracker(davis, weights: Path, tracker,
                                                     tmp_path: Path) -> None:
    root, gts = davis
    out = tmp_path / "pred"
    text = run_cli("--dataset", "davis2017", "--root", str(root), "--output", str(out),
                   "--model", MODEL, "--weights", str(weights), "--device", "cpu")
    assert "fps overall" in text and "aa" in text
    for name, labels in gts.items():
        files = sorted(p.name for p in (out / name).iterdir())
        assert files == [f"{t:05d}.png" for t in range(labels.shape[0])]
        frames = sorted((root / "JPEGImages" / "480p" / name).iterdir())
        expected = direct_run(tracker, frames, {0: labels[0]})
        for t in range(labels.shape[0]):
            np.testing.assert_array_equal(read_label_png(out / name / f"{t:05d}.png"), expected[t])
        # the given mask is reproduced exactly on the first frame
        np.testing.assert_array_equal(read_label_png(out / name / "00000.png"), labels[0])

    with open(out / "timing-val.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["Sequence", "Frames", "Seconds", "FPS", "Device"]
    assert [r[0] for r in rows[1:]] == ["aa", "bb"]
    assert [int(r[1]) for r in rows[1:]] == [5, 4]
    assert all(float(r[3]) > 0 for r in rows[1:]) and rows[1][4] == "cpu"
    summary = json.loads((out / "run-val.json").read_text())
    assert summary["frames"] == 9 and summary["fps"] > 0 and summary["model"]["model"] == MODEL
    assert not (out / "submission.zip").exists()

    # and the folder scores like any DAVIS result folder
    result = CliRunner().invoke(eval_group, ["score", "--gt", str(root), "--results", str(out),
                                             "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (out / "global_results-val.csv").is_file()
    seq_rows = (out / "per-sequence_results-val.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in seq_rows[1:]] == ["aa_1", "aa_2", "bb_1"]


def test_davis_run_workers_equal_single_process(davis, weights: Path, tmp_path: Path) -> None:
    root, gts = davis
    single, multi = tmp_path / "one", tmp_path / "two"
    common = ["--dataset", "davis2017", "--root", str(root), "--model", MODEL,
              "--weights", str(weights), "--device", "cpu"]
    run_cli(*common, "--output", str(single))
    text = run_cli(*common, "--output", str(multi), "--workers", "2", "--score")
    assert "J&F-Mean" in text
    assert (multi / "global_results-val.csv").is_file()
    for name, labels in gts.items():
        for t in range(labels.shape[0]):
            np.testing.assert_array_equal(read_label_png(single / name / f"{t:05d}.png"),
                                          read_label_png(multi / name / f"{t:05d}.png"))


def test_davis2016_run_is_single_object(tmp_path: Path, weights: Path, tracker) -> None:
    labels = moving_objects(4, 32, 48, 3, seed=4)
    root = make_davis(tmp_path / "DAVIS", {"cc": labels}, year="2016")
    out = tmp_path / "pred16"
    run_cli("--dataset", "davis2016", "--root", str(root), "--output", str(out),
            "--model", MODEL, "--weights", str(weights), "--device", "cpu", "--score", "--zip")
    with zipfile.ZipFile(out / "submission.zip") as archive:  # DAVIS: <seq>/<frame>.png
        assert sorted(archive.namelist()) == [f"cc/{t:05d}.png" for t in range(4)]
    frames = sorted((root / "JPEGImages" / "480p" / "cc").iterdir())
    expected = direct_run(tracker, frames, {0: (labels[0] > 0).astype(np.int64)})
    for t in range(4):
        pred = read_label_png(out / "cc" / f"{t:05d}.png")
        assert set(np.unique(pred)) <= {0, 1}
        np.testing.assert_array_equal(pred, expected[t])
    assert (out / "per-sequence_results-val.csv").read_text().splitlines()[1].startswith("cc_1,")


@pytest.fixture
def youtube(tmp_path: Path) -> tuple[Path, dict]:
    late = moving_objects(11, 32, 48, 2, seed=7)
    delayed = moving_objects(8, 32, 40, 1, seed=8)
    videos = {
        "v1": (late, {1: 0, 2: 5}),     # object 2 appears at frame 5
        "v2": (delayed, {1: 5}),        # nothing to track before frame 5
    }
    return make_youtube(tmp_path / "YTVOS", videos), videos


def test_youtube_all_frames_late_objects_and_zip(youtube, weights: Path, tracker,
                                                 tmp_path: Path) -> None:
    root, videos = youtube
    out = tmp_path / "ytb"
    run_cli("--dataset", "youtubevos2019", "--root", str(root), "--output", str(out),
            "--model", MODEL, "--weights", str(weights), "--device", "cpu")
    for name, (labels, starts) in videos.items():
        n = labels.shape[0]
        written = sorted(p.name for p in (out / "Annotations" / name).iterdir())
        assert written == [f"{t:05d}.png" for t in range(0, n, 5)]  # the 6 fps frames only
        frames = sorted((root / "valid_all_frames" / "JPEGImages" / name).iterdir())
        first = min(starts.values())
        masks = {}
        for t in sorted(set(starts.values())):
            ids = [o for o, s in starts.items() if s == t]
            masks[t - first] = np.where(np.isin(labels[t], ids), labels[t], 0)
        expected = direct_run(tracker, frames[first:], masks)
        for t in range(0, n, 5):
            pred = read_label_png(out / "Annotations" / name / f"{t:05d}.png")
            if t < first:
                assert not pred.any()  # before any object: an empty mask
            else:
                np.testing.assert_array_equal(pred, expected[t - first])
    # the late object is tracked from its first frame on
    assert 2 in np.unique(read_label_png(out / "Annotations" / "v1" / "00005.png"))

    with zipfile.ZipFile(out / "submission.zip") as archive:
        names = sorted(archive.namelist())
    assert names == sorted(
        [f"Annotations/v1/{t:05d}.png" for t in (0, 5, 10)]
        + [f"Annotations/v2/{t:05d}.png" for t in (0, 5)]
    )
    rows = (out / "timing-valid.csv").read_text().splitlines()
    assert rows[1].startswith("v1,11,") and rows[2].startswith("v2,3,")  # v2: frames 5..7


def test_youtube_sparse_frames(youtube, weights: Path, tracker, tmp_path: Path) -> None:
    root, videos = youtube
    out = tmp_path / "sparse"
    run_cli("--dataset", "youtubevos2018", "--root", str(root), "--output", str(out),
            "--model", MODEL, "--weights", str(weights), "--device", "cpu",
            "--sparse-frames", "--sequences", "v1", "--no-zip")
    labels, _ = videos["v1"]
    frames = sorted((root / "valid" / "JPEGImages" / "v1").iterdir())
    expected = direct_run(tracker, frames, {0: np.where(labels[0] == 1, 1, 0),
                                            1: np.where(labels[5] == 2, 2, 0)})
    for i, t in enumerate((0, 5, 10)):
        np.testing.assert_array_equal(
            read_label_png(out / "Annotations" / "v1" / f"{t:05d}.png"), expected[i])
    assert not (out / "submission.zip").exists()
    assert not (out / "Annotations" / "v2").exists()


def test_youtube_dataset_without_meta(youtube) -> None:
    root, _ = youtube
    (root / "valid" / "meta.json").unlink()
    bench = YouTubeVOSDataset(root, 2019)
    seq = bench.sequence("v1")
    assert sorted(seq.annotations) == [0, 5] and seq.new_objects == {}
    assert seq.output_names == ("00000", "00005", "00010")
    assert len(seq.frame_paths) == 11


def test_dataset_errors(tmp_path: Path, davis) -> None:
    root, _ = davis
    with pytest.raises(BenchmarkError, match="split list"):
        open_benchmark("davis2017", root, "test-dev")
    with pytest.raises(BenchmarkError, match="unknown benchmark"):
        open_benchmark("kitti", root)
    with pytest.raises(BenchmarkError, match="not in"):
        open_benchmark("davis2017", root).sequences(["zz"])
    with pytest.raises(BenchmarkError, match="YouTube-VOS split"):
        open_benchmark("youtubevos2019", root)
    result = CliRunner().invoke(eval_group, ["run", "--dataset", "davis2017", "--root", str(root),
                                             "--output", str(tmp_path / "x"), "--model", MODEL,
                                             "--weights", __file__, "--sequences", "zz"])
    assert result.exit_code == 2 and "zz" in result.output


def _global_row(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[lines.index(next(l for l in lines if l.startswith("--- global"))) + 2].split()


def test_run_score_in_a_fresh_process_with_scoring_workers(davis, tmp_path: Path) -> None:
    """What a user types: `aotvideo eval run ... --score` without --model/--weights (the
    packaged model, as `aotvideo track` loads it), scoring with 2 worker processes after the
    tracking has started torch's threads.  It must finish (it used to hang for ever in forked
    workers), and its numbers must be `aotvideo eval score`'s."""
    import os
    import subprocess
    import sys

    root, gts = davis
    out = tmp_path / "pred"
    env = {**os.environ, "AOTVIDEO_CACHE": str(tmp_path / "cache")}  # no installed weights
    command = [sys.executable, "-m", "aotvideo", "eval", "run", "--dataset", "davis2017",
               "--root", str(root), "--output", str(out), "--device", "cpu", "--score",
               "--score-workers", "2"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr
    assert "deaott_synthetic" in run.stdout or "deaott_real" in run.stdout
    # the packaged model, tracked exactly as a Tracker of aotvideo.load_model() does
    packaged = aotvideo.Tracker(aotvideo.load_model(), "cpu")
    for name, labels in gts.items():
        frames = sorted((root / "JPEGImages" / "480p" / name).iterdir())
        expected = direct_run(packaged, frames, {0: labels[0]})
        for t in range(labels.shape[0]):
            np.testing.assert_array_equal(read_label_png(out / name / f"{t:05d}.png"),
                                          expected[t])
    scored = subprocess.run([sys.executable, "-m", "aotvideo", "eval", "score", "--gt",
                             str(root), "--results", str(out), "--workers", "1"],
                            capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr
    assert _global_row(run.stdout) == _global_row(scored.stdout)
    assert [float(v) for v in _global_row(run.stdout)][0] > 0
    per_object = [l for l in run.stdout.splitlines() if l.startswith(("aa_", "bb_"))]
    assert per_object == [l for l in scored.stdout.splitlines() if l.startswith(("aa_", "bb_"))]
    assert len(per_object) == 3


def test_track_and_score_is_run_then_score(davis, weights: Path, tmp_path: Path) -> None:
    from aotvideo.evaluation.datasets import DavisDataset
    from aotvideo.tracking.builder import TrackerSpec
    from aotvideo.evaluation.scoring import score_davis, track_and_score

    root, gts = davis
    dataset = DavisDataset(root, 2017, "val")
    results, report = track_and_score(dataset, tmp_path / "out", TrackerSpec(MODEL, str(weights)))
    assert results["frames"] == sum(len(v) for v in gts.values()) and results["fps"] > 0
    again = score_davis(dataset, tmp_path / "out", workers=1).global_results()
    assert {k: results[k] for k in again} == again
    assert [name for name, _, _ in report.per_sequence_results()] == ["aa_1", "aa_2", "bb_1"]
    assert (tmp_path / "out" / "global_results-val.csv").is_file()


def test_predictions_never_go_over_the_ground_truth(davis, weights: Path) -> None:
    root, _ = davis
    truth = root / "Annotations" / "480p"
    before = {p: p.read_bytes() for p in truth.rglob("*.png")}
    for output in (truth, root / "Annotations", root / "JPEGImages" / "480p" / "aa"):
        result = CliRunner().invoke(eval_group, ["run", "--dataset", "davis2017", "--root",
                                                 str(root), "--output", str(output), "--model",
                                                 MODEL, "--weights", str(weights), "--device",
                                                 "cpu"])
        assert result.exit_code == 2 and "overlaps the dataset's" in result.output, result.output
    assert {p: p.read_bytes() for p in truth.rglob("*.png")} == before
