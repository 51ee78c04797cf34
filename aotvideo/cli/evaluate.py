"""``aotvideo eval``: run a model over a benchmark, and score results like the DAVIS toolkit."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .console import exits_on_errors
from .exits import EXIT_CODES_HELP
from .options import ObjectsPerGroup, parse_scales

if TYPE_CHECKING:
    from aotvideo.evaluation.datasets import DavisDataset
    from aotvideo.evaluation.sequences import SequenceTiming


def _check_output_spares_dataset(output: Path, root: Path) -> None:
    """Usage error when the prediction folder lies in (or holds) the dataset's frames or ground
    truth: its palette PNGs would be written over the annotations."""
    from aotvideo.io.paths import inside

    patterns = ("Annotations", "JPEGImages", "*/Annotations", "*/JPEGImages")  # DAVIS, YouTube-VOS
    for folder in sorted({found for pattern in patterns for found in root.glob(pattern)}):
        if inside(output, folder) or inside(folder, output):
            raise click.UsageError(f"--output {output} overlaps the dataset's {folder}: the "
                                   "predictions would be written over it; choose a folder "
                                   "outside the dataset's images and annotations")


def _parse_gpus(text: str | None) -> list[str] | None:
    if text is None:
        return None
    ids = [t for t in text.replace(" ", "").split(",") if t]
    if not ids or not all(t.isdigit() for t in ids):
        raise click.BadParameter("give CUDA device indices, e.g. 0 or 0,1,2,3")
    return [f"cuda:{t}" for t in ids]


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [t for t in text.replace(" ", "").split(",") if t]


def _fmt(value: float) -> str:
    return "   nan" if math.isnan(value) else f"{value:6.3f}"


@click.group("eval", epilog=EXIT_CODES_HELP)
def eval_group() -> None:
    """Benchmark evaluation: DAVIS 2016/2017 and YouTube-VOS 2018/2019."""


@eval_group.command("run", epilog=EXIT_CODES_HELP)
@click.option("--dataset", "benchmark", required=True,
              type=click.Choice(["davis2016", "davis2017", "youtubevos2018", "youtubevos2019"],
                                case_sensitive=False),
              help="Benchmark and its folder layout.")
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Dataset root (DAVIS: holds JPEGImages/; YouTube-VOS: holds valid/).")
@click.option("--set", "--split", "split", default=None,
              help="Split: val (DAVIS default), test-dev, train; valid (YouTube-VOS default).")
@click.option("--output", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the predictions.")
@click.option("--model", "-m", default=None,
              help="Model variant, e.g. deaotl or r50_aotl [default: the packaged deaott].")
@click.option("--weights", "-w", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Checkpoint file [default: what `aotvideo track` loads for the model: the "
                   "installed checkpoint, else the packaged weights].")
@click.option("--amp/--no-amp", default=None,
              help="Mixed precision: bfloat16 on CPUs with native bfloat16, float16 on CUDA "
                   "[default: on where the hardware has it, like `aotvideo track`; --no-amp: "
                   "float32].")
@click.option("--flip/--no-flip", default=False, help="Add horizontally flipped inference.")
@click.option("--scales", default="1.0", show_default=True,
              help="Comma-separated input scales for multi-scale inference.")
@click.option("--max-long-term", type=click.IntRange(min=1), default=None,
              help="Cap of the long-term memory (frames).")
@click.option("--max-short-edge", type=click.IntRange(min=16), default=None,
              help="Network input short edge at most this [default: what the weights prefer, "
                   "else 480].")
@click.option("--min-short-edge", type=click.IntRange(min=16), default=None,
              help="Frames with a shorter short edge are enlarged to this for the network "
                   "[default: what the weights prefer, else never].")
@click.option("--objects-per-group", default="auto", show_default=True, metavar="N|auto",
              type=ObjectsPerGroup(),
              help="Objects per identity group, as `aotvideo track` (1 = each object alone; 10 = "
                   "the original's grouping).")
@click.option("--resolution", default="480p", show_default=True,
              help="DAVIS frames: 480p or Full-Resolution.")
@click.option("--all-frames/--sparse-frames", default=None,
              help="YouTube-VOS: track on all 30 fps frames of <split>_all_frames (default when "
                   "present); predictions are written for the 6 fps frames either way.")
@click.option("--sequences", default=None, help="Comma-separated subset of sequences.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes, each with its own model (default: one per GPU, else 1).")
@click.option("--gpus", default=None, help="CUDA device indices for the workers, e.g. 0,1,2,3.")
@click.option("--device", default=None, help="Device when --gpus is not given (cpu, cuda:0...).")
@click.option("--ray", "ray_address", default=None, metavar="auto|local|ADDRESS",
              help="Spread the sequences over a Ray cluster (aotvideo batch's executor): auto = "
                   "the cluster of `ray start`, or its address; --workers = actors. The root and "
                   "output must be on storage every node sees. Needs pip install 'aotvideo[ray]'.")
@click.option("--zip/--no-zip", "make_zip", default=None,
              help="Pack the predictions into <output>/submission.zip (default: for YouTube-VOS).")
@click.option("--score/--no-score", default=False,
              help="DAVIS: score the predictions against the split's ground truth afterwards.")
@click.option("--score-workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes scoring sequences with --score (0 = all CPUs).")
def run_command(benchmark: str, root: Path, split: str | None, output: Path, model: str | None,
                weights: str | None, amp: bool | None, flip: bool, scales: str,
                max_long_term: int | None, max_short_edge: int | None,
                min_short_edge: int | None, objects_per_group: int | str, resolution: str,
                all_frames: bool | None, sequences: str | None, workers: int | None,
                gpus: str | None, device: str | None, ray_address: str | None,
                make_zip: bool | None, score: bool, score_workers: int) -> None:
    """Run a model over a benchmark split and write palette-PNG predictions.

    Without --model and --weights this is the packaged default model, exactly as
    `aotvideo track` runs it.
    """
    from aotvideo import zoo
    from aotvideo.evaluation.datasets import DavisDataset, open_benchmark
    from aotvideo.evaluation.runner import run_benchmark
    from aotvideo.tracking.builder import TrackerSpec
    from aotvideo.tracking.precision import amp_from_flag

    _check_output_spares_dataset(output, root)
    devices = _parse_gpus(gpus) or [device]
    actors = workers  # --ray: None lets the cluster's resources decide
    if workers is None:
        workers = len(devices) if gpus else 1
    model = model or zoo.DEFAULT_MODEL
    with exits_on_errors():
        weights_path = zoo.resolve_weights(model, weights)
    spec = TrackerSpec(model=model, weights=str(weights_path), amp=amp_from_flag(amp),
                       flip=flip, scales=parse_scales(scales), max_short_edge=max_short_edge,
                       min_short_edge=min_short_edge, objects_per_group=objects_per_group)
    if max_long_term is not None:
        spec = dataclasses.replace(spec, max_long_term=max_long_term)
    click.echo(f"model {model}, weights {weights_path}")

    def report(timing: SequenceTiming) -> None:
        click.echo(f"{timing.sequence:<30} {timing.frames:5d} frames {timing.fps:8.2f} fps"
                   f"  [{timing.device}]")

    with exits_on_errors():
        bench = open_benchmark(benchmark, root, split, resolution=resolution,
                               all_frames=all_frames)
        if score and not isinstance(bench, DavisDataset):
            raise click.UsageError("--score needs a DAVIS benchmark (YouTube-VOS is scored by "
                                   "its server)")
        executor = _ray_executor(ray_address, actors, device) if ray_address else None
        result = run_benchmark(bench, output, spec, sequences=_names(sequences), devices=devices,
                               workers=workers, make_zip=make_zip, on_sequence=report,
                               executor=executor)
    click.echo(f"{len(result.sequences)} sequences, {result.total_frames} frames: "
               f"{result.fps:.2f} fps overall, {result.mean_sequence_fps:.2f} fps mean per "
               f"sequence, {result.wall_seconds:.1f} s wall")
    if result.zip_path is not None:
        click.echo(f"submission: {result.zip_path}")
    if score and isinstance(bench, DavisDataset):
        _score_and_print(bench, output, _names(sequences), score_workers or None)


def _ray_executor(address: str, workers: int | None, device: str | None) -> Any:
    """The batch's Ray executor for ``--ray`` (GPUs per actor: none for --device cpu)."""
    from aotvideo.batch.ray_executor import RayExecutor, import_ray
    from aotvideo.errors import ExecutorError

    try:
        import_ray()
    except ExecutorError as exc:  # Ray is not installed: say how to install it
        raise click.UsageError(str(exc)) from None
    gpus = 0.0 if device is not None and device.startswith("cpu") else "auto"
    return RayExecutor(address, workers=workers, gpus_per_worker=gpus)


def _score_and_print(dataset: DavisDataset, results: Path, sequences: list[str] | None,
                     workers: int | None) -> None:
    """Score ``results``, write the CSV files there and print the tables."""
    from aotvideo.evaluation.scoring import GLOBAL_COLUMNS, score_davis

    with exits_on_errors():
        report = score_davis(dataset, results, sequences=sequences, workers=workers)
    global_path, sequence_path = report.write_csv(results)
    values = report.global_results()
    click.echo(f"--- global results for {dataset.name} {dataset.split} ---")
    click.echo(" ".join(f"{c:>9}" for c in GLOBAL_COLUMNS))
    click.echo(" ".join(f"{_fmt(values[c]):>9}" for c in GLOBAL_COLUMNS))
    click.echo(f"--- per object ({len(report.objects)}) ---")
    for name, jm, fm in report.per_sequence_results():
        click.echo(f"{name:<30} J {_fmt(jm)}  F {_fmt(fm)}")
    click.echo(f"wrote {global_path} and {sequence_path}")


@eval_group.command("score", epilog=EXIT_CODES_HELP)
@click.option("--gt", "gt_root", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="DAVIS root with Annotations/ and ImageSets/.")
@click.option("--results", required=True,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with <sequence>/<frame>.png predictions; the CSV files go here too.")
@click.option("--set", "--split", "split", default="val", show_default=True,
              help="Split to score (train or val).")
@click.option("--year", type=click.Choice(["2016", "2017"]), default="2017", show_default=True,
              help="2016: one object per sequence (all non-zero labels).")
@click.option("--resolution", default="480p", show_default=True,
              help="Annotation folder: 480p or Full-Resolution.")
@click.option("--sequences", default=None, help="Comma-separated subset of sequences.")
@click.option("--workers", type=click.IntRange(min=0), default=0, show_default=True,
              help="Processes scoring sequences in parallel (0 = all CPUs).")
def score_command(gt_root: Path, results: Path, split: str, year: str, resolution: str,
                  sequences: str | None, workers: int) -> None:
    """J&F of a result folder, as the DAVIS 2017 toolkit computes it."""
    from aotvideo.evaluation.datasets import DavisDataset

    with exits_on_errors():
        dataset = DavisDataset(gt_root, int(year), split, resolution)
    _score_and_print(dataset, results, _names(sequences), workers or None)
