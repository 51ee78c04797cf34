"""J&F of a result folder against DAVIS ground truth, like the official DAVIS 2017 toolkit.

For every sequence of the split, the frames scored are all annotated frames but the first and the
last.  The objects are ``1..K`` with ``K`` the largest id of the first annotation (label 255 of the
ground truth counts as background); a prediction holding an id above ``K`` is an error, objects
missing from the prediction score as empty masks.  Each object ``<seq>_<k>`` gets Mean, Recall and
Decay of J and F; the global numbers average over objects, and ``J&F-Mean`` is the mean of
``J-Mean`` and ``F-Mean``.

DAVIS 2016 (``year=2016``) scores a single object: every non-zero label, of the ground truth and of
the prediction, is that object.

Sequences are scored in parallel worker processes; each scores all frames of all its objects with
array operations.
"""
from __future__ import annotations

import csv
import math
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aotvideo.errors import MaskError
from aotvideo.evaluation._png import read_label_png
from aotvideo.evaluation.datasets import BenchmarkError, DavisDataset
from aotvideo.evaluation.metrics import (
    BOUNDARY_THRESHOLD,
    Statistics,
    mean_or_nan,
    sequence_scores,
    statistics,
)

if TYPE_CHECKING:
    from aotvideo.tracking.builder import TrackerSpec

#: Columns of ``global_results-<set>.csv``, as the toolkit writes them.
GLOBAL_COLUMNS = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")
#: Columns of ``per-sequence_results-<set>.csv``.
SEQUENCE_COLUMNS = ("Sequence", "J-Mean", "F-Mean")

_VOID = 255


@dataclass(frozen=True)
class ObjectScore:
    """Scores of one object of one sequence.

    Attributes:
        name: ``<sequence>_<k>``.
        j: ``(T,)`` per-frame J of the scored frames.
        f: ``(T,)`` per-frame F.
        j_stats, f_stats: Mean / Recall / Decay of ``j`` and ``f``.
    """

    name: str
    j: np.ndarray
    f: np.ndarray
    j_stats: Statistics
    f_stats: Statistics


@dataclass
class ScoreReport:
    """Result of :func:`score_davis`.

    Attributes:
        split: the scored split (``val``...).
        objects: per object, in sequence order then id order.
    """

    split: str
    objects: list[ObjectScore] = field(default_factory=list)

    def global_results(self) -> dict[str, float]:
        """The seven global numbers keyed by :data:`GLOBAL_COLUMNS`."""
        jm = mean_or_nan([o.j_stats.mean for o in self.objects])
        fm = mean_or_nan([o.f_stats.mean for o in self.objects])
        return {
            "J&F-Mean": (jm + fm) / 2.0,
            "J-Mean": jm,
            "J-Recall": mean_or_nan([o.j_stats.recall for o in self.objects]),
            "J-Decay": mean_or_nan([o.j_stats.decay for o in self.objects]),
            "F-Mean": fm,
            "F-Recall": mean_or_nan([o.f_stats.recall for o in self.objects]),
            "F-Decay": mean_or_nan([o.f_stats.decay for o in self.objects]),
        }

    def per_sequence_results(self) -> list[tuple[str, float, float]]:
        """``(<seq>_<k>, J-Mean, F-Mean)`` per object."""
        return [(o.name, o.j_stats.mean, o.f_stats.mean) for o in self.objects]

    def write_csv(self, folder: str | Path) -> tuple[Path, Path]:
        """Write ``global_results-<split>.csv`` and ``per-sequence_results-<split>.csv``.

        Numbers have three decimals and NaN is an empty field, as in the toolkit's files.

        Returns:
            The two paths.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        global_path = folder / f"global_results-{self.split}.csv"
        sequence_path = folder / f"per-sequence_results-{self.split}.csv"
        values = self.global_results()
        with open(global_path, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(GLOBAL_COLUMNS)
            writer.writerow([format_number(values[c]) for c in GLOBAL_COLUMNS])
        with open(sequence_path, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(SEQUENCE_COLUMNS)
            for name, jm, fm in self.per_sequence_results():
                writer.writerow([name, format_number(jm), format_number(fm)])
        return global_path, sequence_path


def format_number(value: float) -> str:
    """Three decimals, empty for NaN (the toolkit's ``float_format='%.3f'``)."""
    return "" if math.isnan(value) else f"{value:.3f}"


@dataclass(frozen=True)
class _SequenceTask:
    name: str
    gt_paths: tuple[str, ...]
    results_dir: str
    binary: bool
    bound_th: float


def _read_stack(paths: Sequence[Path], what: str) -> np.ndarray:
    """``(T, H, W)`` label maps of ``paths``, all of one size."""
    maps = [read_label_png(p) for p in paths]
    shapes = {m.shape for m in maps}
    if len(shapes) > 1:
        raise BenchmarkError(f"{what}: frames of different sizes {sorted(shapes)}")
    return np.stack(maps) if maps else np.zeros((0, 0, 0), dtype=np.uint8)


def _score_sequence(task: _SequenceTask) -> tuple[str, np.ndarray, np.ndarray]:
    """Per-frame J and F, each ``(K, T)``, of one sequence (runs in a worker process)."""
    gt_paths = [Path(p) for p in task.gt_paths]
    if not gt_paths:
        raise BenchmarkError(f"{task.name}: no ground-truth annotations")
    first = read_label_png(gt_paths[0])
    if task.binary:
        num_objects = 1
    else:
        num_objects = int(np.max(np.where(first == _VOID, 0, first), initial=0))
    scored = gt_paths[1:-1]
    gt = _read_stack(scored, f"{task.name} ground truth")
    res_paths = [Path(task.results_dir) / task.name / p.name for p in scored]
    missing = [str(p) for p in res_paths if not p.is_file()]
    if missing:
        raise BenchmarkError(
            f"{task.name}: {len(missing)} result frame(s) missing, e.g. {missing[0]}; results must "
            "be indexed PNGs named like the annotations, in <results>/<sequence>/"
        )
    try:
        res = _read_stack(res_paths, f"{task.name} results")
    except MaskError as err:
        raise BenchmarkError(str(err)) from err
    if res.shape != gt.shape:
        raise BenchmarkError(
            f"{task.name}: results are {res.shape[1:]} (H, W), ground truth {gt.shape[1:]}"
        )
    if task.binary:
        gt = (gt != 0).astype(np.uint8)
        res = (res != 0).astype(np.uint8)
    else:
        gt[gt == _VOID] = 0
        top = int(res.max(initial=0))
        if top > num_objects:
            raise BenchmarkError(
                f"{task.name}: results hold object id {top} but the sequence has {num_objects} "
                "object(s)"
            )
    j, f = sequence_scores(gt, res, num_objects, bound_th=task.bound_th)
    return task.name, j, f


def _init_scoring_worker() -> None:
    import cv2

    cv2.setNumThreads(1)


def default_workers() -> int:
    """Worker processes used when none are asked for: the CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def score_davis(
    dataset: DavisDataset,
    results_dir: str | Path,
    *,
    sequences: list[str] | None = None,
    workers: int | None = None,
    bound_th: float = BOUNDARY_THRESHOLD,
    on_sequence: Callable[[str], None] | None = None,
) -> ScoreReport:
    """Score a folder of predictions ``<results_dir>/<seq>/<frame>.png`` against DAVIS.

    Args:
        dataset: the ground truth (split, year, resolution).
        results_dir: folder with one subfolder of palette PNGs per sequence.
        sequences: subset of the split to score (default: all).
        workers: processes scoring sequences in parallel (default: all CPUs; 1 = in this process).
        bound_th: boundary tolerance of F.
        on_sequence: called with each sequence name once scored.

    Returns:
        The per-object scores; ``report.write_csv(results_dir)`` writes the toolkit's CSV files.

    Raises:
        BenchmarkError: missing or malformed results or ground truth.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise BenchmarkError(f"results folder not found: {results_dir}")
    names = dataset.sequence_names() if sequences is None else list(sequences)
    unknown = sorted(set(names) - set(dataset.sequence_names()))
    if unknown:
        raise BenchmarkError(f"not in DAVIS {dataset.split}: {', '.join(unknown)}")
    tasks = []
    for name in names:
        gt_paths = dataset.annotation_paths(name)
        if len(gt_paths) < 2:
            raise BenchmarkError(
                f"{name}: no ground truth beyond the first frame in {dataset.annotation_dir / name}"
                f" (the {dataset.split} split may have first-frame annotations only)"
            )
        tasks.append(
            _SequenceTask(name, tuple(str(p) for p in gt_paths), str(results_dir), dataset.binary,
                          bound_th)
        )
    workers = default_workers() if workers is None or workers <= 0 else workers
    workers = min(workers, len(tasks)) or 1

    per_sequence: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if workers == 1:
        for task in tasks:
            name, j, f = _score_sequence(task)
            per_sequence[name] = (j, f)
            if on_sequence is not None:
                on_sequence(name)
    else:
        # Never fork: the caller may have started torch's or OpenCV's thread pools (eval run
        # --score tracks first), and a child forked from such a process can hang for ever.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods
                                              else "spawn")
        # Longest sequences first, so no worker is left with a long one at the end.
        order = sorted(tasks, key=lambda t: -len(t.gt_paths))
        with ProcessPoolExecutor(workers, mp_context=context,
                                 initializer=_init_scoring_worker) as pool:
            for name, j, f in pool.map(_score_sequence, order):
                per_sequence[name] = (j, f)
                if on_sequence is not None:
                    on_sequence(name)

    report = ScoreReport(split=dataset.split)
    for name in names:
        j, f = per_sequence[name]
        for k in range(j.shape[0]):
            report.objects.append(
                ObjectScore(f"{name}_{k + 1}", j[k], f[k], statistics(j[k]), statistics(f[k]))
            )
    return report


def track_and_score(dataset: DavisDataset, out: str | Path, spec: TrackerSpec, *,
                    sequences: list[str] | None = None) -> tuple[dict[str, float], ScoreReport]:
    """Track ``spec`` over ``dataset`` (:func:`aotvideo.evaluation.runner.run_benchmark`, one
    process), score the predictions in ``out`` and write the toolkit's CSV files there.

    Returns:
        The global figures (``J&F-Mean``, ...) with ``fps`` and ``frames`` of the tracking added,
        and the full report (per object: ``report.per_sequence_results()``).
    """
    from aotvideo.evaluation.runner import run_benchmark

    run = run_benchmark(dataset, out, spec, sequences=sequences)
    report = score_davis(dataset, out, sequences=sequences, workers=1)
    report.write_csv(out)
    results = report.global_results()
    results["fps"] = run.fps
    results["frames"] = run.total_frames
    return results, report
