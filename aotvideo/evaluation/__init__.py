"""Benchmark evaluation: DAVIS 2016/2017 and YouTube-VOS 2018/2019.

* :mod:`~aotvideo.evaluation.metrics`: J and F exactly as the DAVIS 2017 toolkit computes them;
* :mod:`~aotvideo.evaluation.datasets`: the benchmarks' folder layouts;
* :mod:`~aotvideo.evaluation.runner`: run a model over a split, in parallel, with frames/s;
* :mod:`~aotvideo.evaluation.scoring`: J&F of a result folder, with the toolkit's CSV files;
* the ``aotvideo eval`` command group is :mod:`aotvideo.cli.evaluate`.
"""
from aotvideo.evaluation.datasets import (
    BENCHMARKS,
    Benchmark,
    BenchmarkError,
    BenchmarkSequence,
    DavisDataset,
    YouTubeVOSDataset,
    open_benchmark,
)
from aotvideo.evaluation.metrics import (
    Statistics,
    boundary_f_measure,
    boundary_map,
    region_similarity,
    sequence_scores,
    statistics,
)
from aotvideo.evaluation.runner import RunReport, SequenceTiming, run_benchmark
from aotvideo.evaluation.scoring import ScoreReport, score_davis

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "BenchmarkError",
    "BenchmarkSequence",
    "DavisDataset",
    "RunReport",
    "ScoreReport",
    "SequenceTiming",
    "Statistics",
    "YouTubeVOSDataset",
    "boundary_f_measure",
    "boundary_map",
    "open_benchmark",
    "region_similarity",
    "run_benchmark",
    "score_davis",
    "sequence_scores",
    "statistics",
]
