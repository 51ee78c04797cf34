"""``eval score`` end to end on tiny DAVIS folders, against the toolkit's formulas and CSV files."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from eval_datasets import make_davis, moving_objects, write_palette
from toolkit_reference import ref_sequence, ref_statistics

from aotvideo.cli.evaluate import eval_group
from aotvideo.evaluation.datasets import BenchmarkError, DavisDataset
from aotvideo.evaluation.scoring import GLOBAL_COLUMNS, SEQUENCE_COLUMNS, score_davis


def sequences() -> dict[str, np.ndarray]:
    return {
        "alpha": moving_objects(9, 40, 64, 2, seed=1),
        "beta": moving_objects(6, 40, 64, 1, seed=2),
        "gamma": moving_objects(7, 36, 48, 3, seed=3),
    }


def perturb(labels: np.ndarray, seed: int) -> np.ndarray:
    """A plausible prediction: the ground truth shifted a little, with some pixels flipped."""
    rng = np.random.default_rng(seed)
    out = np.roll(labels, shift=(1, 2), axis=(1, 2)).copy()
    noise = rng.random(labels.shape) < 0.03
    out[noise] = rng.integers(0, labels.max() + 1, size=int(noise.sum()))
    out[len(labels) // 2] = 0  # everything lost in one frame
    return out


def write_results(folder: Path, preds: dict[str, np.ndarray]) -> Path:
    for name, labels in preds.items():
        for t in range(labels.shape[0]):
            write_palette(folder / name / f"{t:05d}.png", labels[t])
    return folder


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


def expected_tables(gts: dict[str, np.ndarray], preds: dict[str, np.ndarray]):
    """The toolkit's two tables, from the plain per-frame formulas."""
    stats = {"JM": [], "JR": [], "JD": [], "FM": [], "FR": [], "FD": []}
    rows = []
    for name in gts:
        j, f = ref_sequence(gts[name], preds[name])
        for k in range(j.shape[0]):
            jm, jr, jd = ref_statistics(j[k])
            fm, fr, fd = ref_statistics(f[k])
            for key, v in zip(("JM", "JR", "JD", "FM", "FR", "FD"), (jm, jr, jd, fm, fr, fd)):
                stats[key].append(v)
            rows.append([f"{name}_{k + 1}", f"{jm:.3f}", f"{fm:.3f}"])
    jm, fm = np.mean(stats["JM"]), np.mean(stats["FM"])
    glob = [(jm + fm) / 2, jm, np.mean(stats["JR"]), np.mean(stats["JD"]), fm,
            np.mean(stats["FR"]), np.mean(stats["FD"])]
    return [f"{v:.3f}" for v in glob], rows


@pytest.fixture
def davis(tmp_path: Path):
    gts = sequences()
    root = make_davis(tmp_path / "DAVIS", gts)
    preds = {name: perturb(labels, i) for i, (name, labels) in enumerate(gts.items())}
    results = write_results(tmp_path / "results", preds)
    return root, results, gts, preds


def test_score_cli_writes_toolkit_csv(davis) -> None:
    root, results, gts, preds = davis
    out = CliRunner().invoke(eval_group, ["score", "--gt", str(root), "--results", str(results),
                                          "--set", "val", "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert "J&F-Mean" in out.output
    glob = read_csv(results / "global_results-val.csv")
    seq = read_csv(results / "per-sequence_results-val.csv")
    assert tuple(glob[0]) == GLOBAL_COLUMNS
    assert tuple(seq[0]) == SEQUENCE_COLUMNS
    expected_glob, expected_rows = expected_tables(gts, preds)
    assert glob[1] == expected_glob
    assert seq[1:] == expected_rows
    assert [r[0] for r in seq[1:]] == ["alpha_1", "alpha_2", "beta_1", "gamma_1", "gamma_2",
                                       "gamma_3"]
    text = (results / "global_results-val.csv").read_text()
    assert text.startswith("J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n")


def test_score_values_match_toolkit_unrounded(davis) -> None:
    root, results, gts, preds = davis
    report = score_davis(DavisDataset(root), results, workers=1)
    for obj in report.objects:
        name, k = obj.name.rsplit("_", 1)
        j, f = ref_sequence(gts[name], preds[name])
        np.testing.assert_array_equal(obj.j, j[int(k) - 1])
        np.testing.assert_array_equal(obj.f, f[int(k) - 1])
        assert (obj.j_stats.mean, obj.j_stats.recall) == ref_statistics(j[int(k) - 1])[:2]


def test_score_parallel_equals_serial(davis) -> None:
    root, results, _, _ = davis
    serial = score_davis(DavisDataset(root), results, workers=1)
    parallel = score_davis(DavisDataset(root), results, workers=2)
    assert [o.name for o in serial.objects] == [o.name for o in parallel.objects]
    for a, b in zip(serial.objects, parallel.objects):
        np.testing.assert_array_equal(a.j, b.j)
        np.testing.assert_array_equal(a.f, b.f)
    assert serial.global_results() == parallel.global_results()


def test_perfect_results_score_one(tmp_path: Path) -> None:
    gts = sequences()
    root = make_davis(tmp_path / "DAVIS", gts)
    results = write_results(tmp_path / "res", gts)
    report = score_davis(DavisDataset(root), results, workers=1)
    values = report.global_results()
    assert values["J&F-Mean"] == values["J-Mean"] == values["F-Mean"] == 1.0
    assert values["J-Recall"] == values["F-Recall"] == 1.0
    assert values["J-Decay"] == values["F-Decay"] == 0.0
    report.write_csv(results)
    assert read_csv(results / "global_results-val.csv")[1] == ["1.000"] * 3 + ["0.000"] + \
        ["1.000"] * 2 + ["0.000"]


def test_missing_object_scores_as_empty(tmp_path: Path) -> None:
    gts = {"alpha": moving_objects(6, 40, 64, 2, seed=1)}
    root = make_davis(tmp_path / "DAVIS", gts)
    pred = np.where(gts["alpha"] == 2, 0, gts["alpha"])  # object 2 never predicted
    results = write_results(tmp_path / "res", {"alpha": pred})
    report = score_davis(DavisDataset(root), results, workers=1)
    assert [o.name for o in report.objects] == ["alpha_1", "alpha_2"]
    assert report.objects[0].j_stats.mean == 1.0
    assert report.objects[1].j_stats.mean == 0.0 and report.objects[1].f_stats.mean == 0.0


def test_errors_extra_object_missing_frame_wrong_size(tmp_path: Path) -> None:
    gts = {"alpha": moving_objects(6, 40, 64, 2, seed=1)}
    root = make_davis(tmp_path / "DAVIS", gts)
    extra = gts["alpha"].copy()
    extra[2, 0, 0] = 3
    results = write_results(tmp_path / "extra", {"alpha": extra})
    with pytest.raises(BenchmarkError, match="object id 3"):
        score_davis(DavisDataset(root), results, workers=1)
    out = CliRunner().invoke(eval_group, ["score", "--gt", str(root), "--results", str(results)])
    assert out.exit_code == 2 and "object id 3" in out.output

    results = write_results(tmp_path / "missing", {"alpha": gts["alpha"]})
    (results / "alpha" / "00003.png").unlink()
    with pytest.raises(BenchmarkError, match="missing"):
        score_davis(DavisDataset(root), results, workers=1)

    results = write_results(tmp_path / "small", {"alpha": gts["alpha"][:, :20, :32]})
    with pytest.raises(BenchmarkError, match="ground truth"):
        score_davis(DavisDataset(root), results, workers=1)


def test_davis2016_original_layout_binary(tmp_path: Path) -> None:
    # The DAVIS 2016 release: 0/255 grayscale masks and ImageSets/480p/<split>.txt frame pairs.
    from PIL import Image

    root = tmp_path / "DAVIS2016"
    labels = (moving_objects(6, 40, 64, 1, seed=5) > 0).astype(np.uint8) * 255
    for t in range(6):
        path = root / "Annotations" / "480p" / "blob" / f"{t:05d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(labels[t], mode=None).save(path)
        (root / "JPEGImages" / "480p" / "blob").mkdir(parents=True, exist_ok=True)
    sets = root / "ImageSets" / "480p"
    sets.mkdir(parents=True)
    sets.joinpath("val.txt").write_text("".join(
        f"/JPEGImages/480p/blob/{t:05d}.jpg /Annotations/480p/blob/{t:05d}.png\n" for t in range(6)))
    pred = (labels > 0).astype(np.uint8)  # ids 0/1
    pred[3] = np.roll(pred[3], 3, axis=1)
    results = write_results(tmp_path / "res", {"blob": pred})
    dataset = DavisDataset(root, year=2016)
    assert dataset.sequence_names() == ["blob"]
    report = score_davis(dataset, results, workers=1)
    assert [o.name for o in report.objects] == ["blob_1"]
    j, f = ref_sequence((labels > 0).astype(np.uint8), pred)
    np.testing.assert_array_equal(report.objects[0].j, j[0])
    np.testing.assert_array_equal(report.objects[0].f, f[0])
    out = CliRunner().invoke(eval_group, ["score", "--gt", str(root), "--results", str(results),
                                          "--year", "2016", "--workers", "1"])
    assert out.exit_code == 0, out.output
    assert (results / "per-sequence_results-val.csv").read_text().startswith(
        "Sequence,J-Mean,F-Mean\nblob_1,")


def test_sequence_subset_and_unknown(davis) -> None:
    root, results, _, _ = davis
    report = score_davis(DavisDataset(root), results, sequences=["beta"], workers=1)
    assert [o.name for o in report.objects] == ["beta_1"]
    with pytest.raises(BenchmarkError, match="nope"):
        score_davis(DavisDataset(root), results, sequences=["nope"], workers=1)
