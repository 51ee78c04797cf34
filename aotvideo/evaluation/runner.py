"""Run a model over a benchmark split and write its predictions in the benchmark's layout.

Each sequence is tracked with :class:`aotvideo.Tracker`, given the annotation at the frames where
objects start (the first frame for DAVIS; the first frame of each object for YouTube-VOS), and the
label map of every output frame is written as a palette PNG.  Sequences are spread over worker
processes, each with its own model on its own device (``devices`` round-robin), and each reports
its frames and the seconds spent in ``Tracker.step`` (frames/s leave out file reading and writing).
"""
from __future__ import annotations

import csv
import json
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aotvideo.evaluation.datasets import Benchmark
from aotvideo.evaluation.jobs import run_sequence_jobs
from aotvideo.evaluation.sequences import SequenceJob, SequenceTiming

if TYPE_CHECKING:
    from aotvideo.batch.base import Executor
    from aotvideo.tracking.builder import TrackerSpec


@dataclass
class RunReport:
    """Outcome of :func:`run_benchmark`.

    Attributes:
        benchmark: e.g. ``davis2017``.
        split: e.g. ``val``.
        output_dir: folder of the predictions.
        sequences: timing per sequence, in the benchmark's order.
        wall_seconds: duration of the whole run, start-up included.
        zip_path: the submission archive (YouTube-VOS), else ``None``.
    """

    benchmark: str
    split: str
    output_dir: Path
    sequences: list[SequenceTiming] = field(default_factory=list)
    wall_seconds: float = 0.0
    zip_path: Path | None = None

    @property
    def total_frames(self) -> int:
        """Frames tracked over all sequences."""
        return sum(s.frames for s in self.sequences)

    @property
    def total_seconds(self) -> float:
        """Tracking time summed over all sequences (and workers)."""
        return sum(s.seconds for s in self.sequences)

    @property
    def fps(self) -> float:
        """Overall frames/s of one worker: all frames over all tracking time."""
        total = self.total_seconds
        return self.total_frames / total if total > 0 else float("nan")

    @property
    def mean_sequence_fps(self) -> float:
        """Mean of the per-sequence frames/s."""
        values = [s.fps for s in self.sequences if s.seconds > 0]
        return float(np.mean(values)) if values else float("nan")

    def write_timing(self, path: str | Path) -> Path:
        """Write ``Sequence, Frames, Seconds, FPS, Device`` per sequence as CSV."""
        path = Path(path)
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(["Sequence", "Frames", "Seconds", "FPS", "Device"])
            for s in self.sequences:
                writer.writerow([s.sequence, s.frames, f"{s.seconds:.4f}", f"{s.fps:.2f}", s.device])
        return path

    def summary(self) -> dict[str, Any]:
        """Totals as a JSON-ready dict."""
        return {
            "benchmark": self.benchmark,
            "split": self.split,
            "sequences": len(self.sequences),
            "frames": self.total_frames,
            "tracking_seconds": round(self.total_seconds, 4),
            "fps": round(self.fps, 3),
            "mean_sequence_fps": round(self.mean_sequence_fps, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "zip": str(self.zip_path) if self.zip_path else None,
        }


def _executor_for(executor: Executor | None, workers: int, devices: Sequence[str | None],
                  ) -> tuple[Executor, str | None]:
    """The executor that runs the sequences and the device its workers build trackers on.

    Without an ``executor``: one worker runs in this process; several are local worker
    processes, CUDA devices handed out one per worker (``cuda:1`` -> ``CUDA_VISIBLE_DEVICES=1``).
    """
    from aotvideo.batch.local import InProcessExecutor, LocalExecutor

    if executor is not None:
        return executor, devices[0]
    if workers == 1:
        return InProcessExecutor(), devices[0]
    cuda = [d for d in devices if d is not None and d.startswith("cuda")]
    if not cuda:
        return LocalExecutor(workers), devices[0]
    gpus = [d.partition(":")[2] or "0" for d in cuda]
    return LocalExecutor(workers, gpus=gpus), "cuda"


def write_submission_zip(output_dir: Path, files: Sequence[Path], zip_path: Path) -> Path:
    """Pack prediction ``files`` into ``zip_path``, named by their path relative to ``output_dir``.

    YouTube-VOS entries read ``Annotations/<seq>/<frame>.png``; DAVIS ones ``<seq>/<frame>.png``.
    """
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(files):
            archive.write(file, file.relative_to(output_dir).as_posix())
    return zip_path


def run_benchmark(
    benchmark: Benchmark,
    output_dir: str | Path,
    spec: TrackerSpec,
    *,
    sequences: Sequence[str] | None = None,
    devices: Sequence[str | None] = (None,),
    workers: int = 1,
    make_zip: bool | None = None,
    on_sequence: Callable[[SequenceTiming], None] | None = None,
    executor: Executor | None = None,
) -> RunReport:
    """Run ``spec`` over ``benchmark`` and write the predictions under ``output_dir``.

    Args:
        benchmark: an opened benchmark split.
        output_dir: DAVIS: ``<out>/<seq>/<frame>.png``; YouTube-VOS: ``<out>/Annotations/...``.
        spec: model, weights and tracker options.
        sequences: subset of sequence names (default: all).
        devices: devices for the workers, round-robin (``None`` = the tracker's default).
        workers: worker processes (:class:`aotvideo.batch.LocalExecutor`); 1 runs in this
            process (:class:`aotvideo.batch.InProcessExecutor`).
        make_zip: pack a submission zip (default: for YouTube-VOS).
        on_sequence: called with each sequence's timing as it finishes.
        executor: an :class:`aotvideo.batch.Executor` (e.g. ``RayExecutor("auto")``) to spread
            the sequences over (``workers`` is then the executor's; ``devices[0]`` is each
            worker's device). Whatever runs them, a failed sequence is tried once more.

    Returns:
        The timings; ``timing-<split>.csv`` and ``run-<split>.json`` are written to ``output_dir``
        too, and ``<out>/submission.zip`` when zipping.
    """
    began = time.perf_counter()
    output_dir = Path(output_dir)
    seqs = benchmark.sequences(list(sequences) if sequences is not None else None)
    jobs = [
        SequenceJob(s, {n: benchmark.prediction_path(output_dir, s.name, n) for n in s.output_names})
        for s in seqs
    ]
    output_dir.mkdir(parents=True, exist_ok=True)
    devices = list(devices) or [None]
    workers = max(1, min(workers, len(jobs))) if jobs else 1

    order = sorted(jobs, key=lambda j: -len(j.sequence.frame_paths))  # longest first
    executor, device = _executor_for(executor, workers, devices)
    timings = {t.sequence: t for t in run_sequence_jobs(order, spec, executor, device=device,
                                                         on_sequence=on_sequence)}

    report = RunReport(
        benchmark=benchmark.name,
        split=benchmark.split,
        output_dir=output_dir,
        sequences=[timings[j.sequence.name] for j in jobs],
    )
    if make_zip is None:
        make_zip = benchmark.zipped
    if make_zip:
        files = [path for job in jobs for path in job.outputs.values()]
        report.zip_path = write_submission_zip(output_dir, files, output_dir / "submission.zip")
    report.wall_seconds = time.perf_counter() - began
    report.write_timing(output_dir / f"timing-{benchmark.split}.csv")
    summary = report.summary()
    summary["model"] = asdict(spec)
    (output_dir / f"run-{benchmark.split}.json").write_text(json.dumps(summary, indent=2) + "\n")
    return report
