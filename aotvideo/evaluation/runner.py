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
import multiprocessing
import os
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aotvideo.evaluation.datasets import Benchmark, BenchmarkError, BenchmarkSequence
from aotvideo.tracking.builder import TrackerSpec, build_tracker

if TYPE_CHECKING:
    from aotvideo.tracking import Tracker


@dataclass(frozen=True)
class SequenceTiming:
    """Speed of one sequence.

    Attributes:
        sequence: its name.
        frames: frames passed through the tracker.
        seconds: time spent in ``Tracker.step`` for them.
        device: where it ran.
    """

    sequence: str
    frames: int
    seconds: float
    device: str

    @property
    def fps(self) -> float:
        """Frames per second (``nan`` when no time was measured)."""
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


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


@dataclass(frozen=True)
class SequenceJob:
    """One sequence to track and where each of its output frames goes.

    Attributes:
        sequence: frames and annotations.
        outputs: frame name (file stem) -> prediction PNG path; frames not listed are tracked
            but not written.
    """

    sequence: BenchmarkSequence
    outputs: Mapping[str, Path]


def _read_frame(path: Path) -> np.ndarray:
    """``H x W x 3`` uint8 RGB frame."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise BenchmarkError(f"cannot read frame {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _annotation(seq: BenchmarkSequence, index: int, seen: set[int]) -> tuple[np.ndarray, list[int]]:
    """Label map of the objects starting at frame ``index`` (``H x W`` int64) and their ids."""
    from aotvideo.io.masks import mask_ids, read_mask, select_objects

    labels = read_mask(seq.annotations[index])
    if seq.binary:
        labels = (labels != 0).astype(np.int64)
    present = set(mask_ids(labels))
    wanted = seq.new_objects.get(index)
    ids = sorted(present & set(wanted)) if wanted is not None else sorted(present - seen)
    return select_objects(labels, ids), ids


def track_sequence(
    tracker: Tracker, job: SequenceJob, write: Callable[[Path, np.ndarray], None] | None = None
) -> tuple[int, float]:
    """Track one sequence and write its output frames.

    Args:
        tracker: a fresh or reusable :class:`aotvideo.Tracker` (reset here).
        job: the sequence and where each output frame goes.
        write: ``write(path, labels)``; the DAVIS-palette PNG writer by default.

    Returns:
        (frames tracked, seconds spent in the tracker)
    """
    if write is None:
        from aotvideo.io.masks import write_palette_png

        def write(path: Path, labels: np.ndarray) -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_palette_png(path, labels)

    seq = job.sequence
    tracker.reset()
    seen: set[int] = set()
    frames = 0
    seconds = 0.0
    shape: tuple[int, int] | None = None
    first = seq.first_annotated
    for index in range(first, len(seq.frame_paths)):
        path = seq.frame_paths[index]
        frame = _read_frame(path)
        new_mask = None
        ids: list[int] = []
        if index in seq.annotations:
            new_mask, ids = _annotation(seq, index, seen)
            if new_mask.shape != frame.shape[:2]:
                raise BenchmarkError(
                    f"{seq.name}: annotation {seq.annotations[index].name} is {new_mask.shape}, "
                    f"frame {path.name} is {frame.shape[:2]} (H, W)"
                )
            if not ids:
                new_mask = None
        start = time.perf_counter()
        # With a mask, the tracker predicts the frame, lets the new objects' pixels override
        # the prediction, and stores the merged frame as a reference: the YouTube-VOS protocol
        # for objects that appear late.
        result = tracker.step(frame, mask=new_mask)
        seconds += time.perf_counter() - start
        seen.update(ids)
        frames += 1
        shape = frame.shape[:2]
        out = job.outputs.get(path.stem)
        if out is not None:
            write(out, result.labels.numpy())
    if first > 0 and shape is not None:  # output frames before any object: empty masks
        empty = np.zeros(shape, dtype=np.uint8)
        for path in seq.frame_paths[:first]:
            out = job.outputs.get(path.stem)
            if out is not None:
                write(out, empty)
    return frames, seconds


# --- worker processes ---------------------------------------------------------------------------

_STATE: dict[str, Any] = {}


def _worker_init(devices: Any, spec: TrackerSpec, threads: int) -> None:
    """Pool initializer: pick a device, build the model once for this worker."""
    import torch

    torch.set_num_threads(threads)
    device = devices.get()
    _STATE["device"] = device
    _STATE["tracker"] = build_tracker(spec.on(device))


def _worker_run(job: SequenceJob) -> SequenceTiming:
    tracker = _STATE["tracker"]
    frames, seconds = track_sequence(tracker, job)
    return SequenceTiming(job.sequence.name, frames, seconds,
                          _device_label(tracker, _STATE["device"]))


def _device_label(tracker: Tracker, device: str | None) -> str:
    found = getattr(tracker, "device", None)
    return str(found if found is not None else device or "auto")


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
    executor: Any = None,
) -> RunReport:
    """Run ``spec`` over ``benchmark`` and write the predictions under ``output_dir``.

    Args:
        benchmark: an opened benchmark split.
        output_dir: DAVIS: ``<out>/<seq>/<frame>.png``; YouTube-VOS: ``<out>/Annotations/...``.
        spec: model, weights and tracker options.
        sequences: subset of sequence names (default: all).
        devices: devices for the workers, round-robin (``None`` = the tracker's default).
        workers: processes; 1 runs in this process.
        make_zip: pack a submission zip (default: for YouTube-VOS).
        on_sequence: called with each sequence's timing as it finishes.
        executor: an :class:`aotvideo.batch.Executor` (e.g. ``RayExecutor("auto")``) to spread
            the sequences over (``workers`` is then the executor's; ``devices[0]`` is each
            worker's device); a failed sequence is tried once more.

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

    timings: dict[str, SequenceTiming] = {}
    if executor is not None:
        from aotvideo.batch.benchmark import run_sequence_jobs

        order = sorted(jobs, key=lambda j: -len(j.sequence.frame_paths))
        for timing in run_sequence_jobs(order, spec, executor, device=devices[0],
                                        on_sequence=on_sequence):
            timings[timing.sequence] = timing
    elif workers == 1:
        tracker = build_tracker(spec.on(devices[0]))
        label = _device_label(tracker, devices[0])
        for job in jobs:
            frames, seconds = track_sequence(tracker, job)
            timing = SequenceTiming(job.sequence.name, frames, seconds, label)
            timings[timing.sequence] = timing
            if on_sequence is not None:
                on_sequence(timing)
    else:
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        for i in range(workers):
            queue.put(devices[i % len(devices)])
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        threads = max(1, (cpus or 1) // workers)
        # Longest sequences first, handed out one at a time to whichever worker is free.
        order = sorted(jobs, key=lambda j: -len(j.sequence.frame_paths))
        init = (queue, spec, threads)
        with context.Pool(workers, initializer=_worker_init, initargs=init) as pool:
            for timing in pool.imap_unordered(_worker_run, order, chunksize=1):
                timings[timing.sequence] = timing
                if on_sequence is not None:
                    on_sequence(timing)

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
