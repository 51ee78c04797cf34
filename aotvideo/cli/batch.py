"""``aotvideo batch``: track many videos from a manifest, locally or on a Ray cluster.

The command takes every per-job option of ``aotvideo track`` (copied from ``track`` itself, so
the two never disagree) as defaults for all jobs, and checks the options of each manifest line
with the same click types. Only this module prints; the work is :mod:`aotvideo.batch`'s.
"""
from __future__ import annotations

import copy
import difflib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..batch.jobs import TrackJob, TrackOptions, absolute_weights, build_jobs
from ..batch.runner import BatchReport
from ..errors import BatchError, ExecutorError, ManifestError, WeightsError
from .console import BatchPrinter, Interrupts, fail, progress_style, say, write_report
from .exits import (EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_JOBS_FAILED, EXIT_OK, EXIT_USAGE,
                    EXIT_WEIGHTS, EXIT_WORKERS, exit_code)

#: ``track`` options that describe one run of ``track`` itself, not a job of a batch.
_NOT_PER_JOB = {
    "report": "the batch writes one report for all jobs: aotvideo batch --report FILE.json",
    "progress": "progress is shown for the whole batch: aotvideo batch --progress",
    "quiet": "use aotvideo batch --quiet",
    "box": ("a batch reads masks: make each first mask from boxes beforehand with `aotvideo mask "
            "VIDEO --box X0,Y0,X1,Y1` (it writes VIDEO's NAME.mask.png, which a folder batch finds) "
            "and give it as 'mask'"),
    "box_method": "a batch reads masks; make them from boxes beforehand with `aotvideo mask --method`",
    "save_mask": "a batch reads masks; make them from boxes beforehand with `aotvideo mask -o`",
}
#: ``track`` parameters that are fields of a job, not options.
_JOB_FIELDS = ("input", "mask", "workspace", "output")


# -- track's options as the schema of a job ----------------------------------------------------------


def manifest_name(option: click.Option) -> str:
    """An option's name in a manifest: its long name with ``-`` as ``_`` (``--out-pix-fmt`` ->
    ``out_pix_fmt``)."""
    longs = [o for o in option.opts if o.startswith("--")]
    return (longs[0] if longs else option.opts[0]).lstrip("-").replace("-", "_")


def track_options(track: click.Command) -> dict[str, click.Option]:
    """``track``'s per-job options by manifest name."""
    options: dict[str, click.Option] = {}
    for param in track.params:
        if isinstance(param, click.Option):
            name = manifest_name(param)
            if name not in _NOT_PER_JOB and name not in _JOB_FIELDS:
                options[name] = param
    return options


class TrackOptionSchema:
    """Converts per-job options with ``track``'s own click types (an
    :class:`~aotvideo.batch.jobs.OptionSchema`)."""

    def __init__(self, track: click.Command) -> None:
        self.options = track_options(track)

    def names(self) -> list[str]:
        """The per-job option names."""
        return list(self.options)

    def convert(self, name: str, value: Any) -> Any:
        """Check and convert one value; ``ValueError`` with a readable message when it is wrong."""
        if name in _NOT_PER_JOB:
            raise ValueError(f"'{name}' is not a per-job option: {_NOT_PER_JOB[name]}")
        param = self.options.get(name)
        if param is None:
            close = difflib.get_close_matches(name, list(self.options) + list(_JOB_FIELDS) + ["id"], n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"unknown option '{name}' (aotvideo track has no --{name.replace('_', '-')})"
                             f"{hint}")
        if name not in TrackOptions.names():
            raise ValueError(f"option '{name}' of aotvideo track is not supported in a batch")
        return _convert(param, name, value)


def _numbers(name: str, text: str, kind: type, example: str) -> tuple[Any, ...]:
    """``1,3`` -> ``(1, 3)``: positive numbers of ``kind``, as ``track`` takes them."""
    try:
        values = tuple(kind(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        raise ValueError(f"'{name}': expected numbers like {example}, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise ValueError(f"'{name}': expected positive numbers like {example}, got {text!r}")
    return values


_TRUE = ("1", "true", "yes", "y", "on")
_FALSE = ("0", "false", "no", "n", "off", "")


def _flag(name: str, value: Any) -> bool:
    """A flag's value: true/false (JSON), 1/0, or yes/no, true/false ... (CSV)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"'{name}' is a flag: true or false, got {value!r}")


def _convert(param: click.Option, name: str, value: Any) -> Any:
    if isinstance(value, list) and name in ("objects", "scales"):
        value = ",".join(str(v) for v in value)
    if isinstance(value, (list, dict)):
        raise ValueError(f"'{name}' takes one value, not {type(value).__name__}")
    if isinstance(value, bool) and not param.is_flag:
        raise ValueError(f"'{name}' takes a value, not true/false")
    if param.is_flag:
        return _flag(name, value)
    try:
        converted = param.type.convert(value, param, None)
    except click.ClickException as exc:
        raise ValueError(f"'{name}': {exc.message}") from None
    if name == "objects":
        return _numbers(name, str(converted), int, "1,3")
    if name == "scales":
        return _numbers(name, str(converted), float, "1.0,1.3")
    return converted


def _given_defaults(ctx: click.Context, schema: TrackOptionSchema,
                    values: dict[str, Any]) -> dict[str, Any]:
    """The per-job options given on the command line (the defaults of every job)."""
    defaults: dict[str, Any] = {}
    for name, param in schema.options.items():
        source = ctx.get_parameter_source(param.name or name)
        if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            try:
                defaults[name] = schema.convert(name, values[param.name or name])
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=param.opts[-1]) from None
    if defaults.get("weights") is not None:
        defaults["weights"] = absolute_weights(defaults["weights"], Path.cwd())
    try:
        TrackOptions(**defaults)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return defaults


# -- progress --------------------------------------------------------------------------------------------


# -- the command ----------------------------------------------------------------------------------------


def _state_path(given: str | None, sources: Sequence[str], output_dir: str | None,
                jobs: Sequence[TrackJob]) -> Path:
    """Where the record lives: --state; beside a single manifest file; in --output-dir; or in
    the first video's folder."""
    if given:
        return Path(given)
    if len(sources) == 1 and Path(sources[0]).suffix.lower() in (".jsonl", ".ndjson", ".json",
                                                                 ".csv", ".tsv"):
        source = Path(sources[0])
        return source.with_name(f"{source.stem}.batch-state.jsonl")
    folder = Path(output_dir) if output_dir else Path(jobs[0].input).parent
    return folder / "aotvideo-batch-state.jsonl"


def _check_weights(jobs: Sequence[TrackJob]) -> None:
    """Resolve every (model, weights) pair once, before any worker starts."""
    from .. import zoo

    seen: set[tuple[str, str | None]] = set()
    for job in jobs:
        pair = (job.options.model, job.options.weights)
        if pair in seen:
            continue
        seen.add(pair)
        try:
            zoo.resolve_weights(*pair)
        except WeightsError as exc:
            fail(f"{job.where}: {exc}", EXIT_WEIGHTS)


def _gpus_per_worker(jobs: Sequence[TrackJob], given: float | None) -> float | str:
    """Ray GPUs per actor: as given; 0 when every job runs on the CPU; 1 when a job asks for
    CUDA; else 1 if the cluster has GPUs (``auto``)."""
    if given is not None:
        return given
    devices = {job.options.device for job in jobs}
    if devices and all(d is not None and d.startswith("cpu") for d in devices):
        return 0.0
    if any(d is not None and d.startswith("cuda") for d in devices):
        return 1.0
    return "auto"


def _executor(ray_address: str | None, workers: int | None, gpus: str | None,
              cpus_per_worker: float, gpus_per_worker: float | None,
              jobs: Sequence[TrackJob]) -> Any:
    from ..batch.local import LocalExecutor
    from ..batch.ray_executor import RayExecutor, import_ray

    gpu_list = tuple(g.strip() for g in gpus.split(",") if g.strip()) if gpus else ()
    if gpus is not None and not gpu_list:
        raise click.BadParameter("expected GPU numbers like 0,1", param_hint="--gpus")
    if ray_address is None:
        return LocalExecutor(workers or max(1, len(gpu_list)), gpus=gpu_list)
    if gpu_list:
        raise click.UsageError("--gpus is for local workers; on Ray, GPUs are Ray's to hand out "
                               "(see --gpus-per-worker)")
    try:
        import_ray()
    except ExecutorError as exc:
        fail(str(exc), EXIT_USAGE)
    return RayExecutor(ray_address, workers=workers, cpus_per_worker=cpus_per_worker,
                       gpus_per_worker=_gpus_per_worker(jobs, gpus_per_worker))


def _summary(report: BatchReport, state: Path) -> None:
    s = report.summary()
    skipped = f", {s['skipped']} skipped (done before)" if s["skipped"] else ""
    failed = f", {s['failed']} failed" if s["failed"] else ""
    say(f"aotvideo: batch: {s['jobs']} jobs: {s['done']} done{skipped}{failed}; "
         f"{s['frames']} frames in {s['seconds']:.1f} s ({s['fps']:.1f} frames/s)")
    for record in report.records:
        if record.status == "failed":
            say(f"aotvideo: failed: {record.job.id} ({record.job.where}): {record.error}")
    if report.stopped is not None:
        left = s["interrupted"] + s["pending"]
        say(f"aotvideo: stopped ({report.stopped}); {left} job(s) left to do: run the same "
             f"command again to go on (record: {state})")


def _exit_code(report: BatchReport) -> int:
    if report.stopped == "interrupted":
        return EXIT_INTERRUPTED
    if report.stopped is not None:
        return EXIT_WORKERS
    return EXIT_OK if report.ok else EXIT_JOBS_FAILED


def _copied_track_options(track: click.Command) -> list[click.Option]:
    """``track``'s per-job options for ``batch``'s command line, where they set every job's
    default."""
    copies = []
    for name, option in track_options(track).items():
        clone = copy.copy(option)
        clone.help = f"[per job] {option.help or ''}"
        copies.append(clone)
    return copies


def make_batch_command(track: click.Command) -> click.Command:
    """The ``batch`` command, with ``track``'s per-job options (registered by ``aotvideo.cli``)."""

    @click.command("batch", epilog=EXIT_CODES_HELP)
    @click.argument("sources", nargs=-1, required=True, metavar="JOBS...")
    @click.option("--output-dir", metavar="DIR",
                  help="Folder for the outputs of jobs that name none (default: beside each input).")
    @click.option("--workers", type=click.IntRange(min=1), metavar="N",
                  help="Worker processes (default 1, or one per --gpus entry); with --ray, Ray "
                       "actors (default: as many as the cluster's CPUs or GPUs allow).")
    @click.option("--gpus", metavar="0,1,...",
                  help="Local workers: GPUs to use, one per worker (CUDA_VISIBLE_DEVICES).")
    @click.option("--ray", "ray_address", metavar="auto|local|ADDRESS",
                  help="Run on Ray: auto = the cluster of `ray start`, local = a private "
                       "one-machine Ray, or a cluster address (HOST:PORT). Needs "
                       "pip install 'aotvideo[ray]'.")
    @click.option("--cpus-per-worker", type=click.FloatRange(min=0.1), default=1.0,
                  show_default=True, metavar="N",
                  help="Ray: CPUs each actor asks for (and its torch threads).")
    @click.option("--gpus-per-worker", type=click.FloatRange(min=0.0), default=None, metavar="N",
                  help="Ray: GPUs each actor asks for (fractions share a GPU; default: 1 when "
                       "jobs use CUDA or the cluster has GPUs, else 0).")
    @click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
                  metavar="N", help="Try a failed job (error, dead worker) up to N more times.")
    @click.option("--retry-failed", is_flag=True,
                  help="Run again the jobs an earlier run recorded as failed (by default they are "
                       "reported failed without running, unless their input or masks changed).")
    @click.option("--state", "state_path", metavar="FILE",
                  help="The record of finished jobs (default: NAME.batch-state.jsonl beside a "
                       "manifest file NAME.jsonl/.csv, else aotvideo-batch-state.jsonl in "
                       "--output-dir or the first video's folder).")
    @click.option("--report", "report_path", metavar="FILE.json",
                  help="Write a JSON report: every job's status, frames, seconds, fps, error, "
                       "attempts.")
    @click.option("--progress", "progress_style",
                  type=click.Choice(["auto", "bar", "lines", "none"]), default="auto",
                  show_default=True,
                  help="Progress on standard error: a bar for the batch, or a line per job "
                       "event; auto = a bar on a terminal.")
    @click.option("-q", "--quiet", is_flag=True, help="No progress or summary; errors only.")
    @click.pass_context
    def batch(ctx: click.Context, **values: Any) -> None:
        _run(ctx, track, values)

    batch.help = _HELP
    batch.params.extend(_copied_track_options(track))
    return batch


_HELP = """Track many videos: each job of JOBS is one `aotvideo track` run.

JOBS are manifest files -- JSON Lines (one job per line, e.g. {"input": "a.mp4",
"mask": "a.png", "output": "out/a.alpha.mov", "mode": "alpha"}) or CSV with the same
columns --, folders, glob patterns or videos, where each video NAME.EXT has its mask
NAME.mask.png beside it (and NAME.mask.FRAME.png for later frames). Any option of
`aotvideo track` can be set per job by its long name (out_pix_fmt for --out-pix-fmt); given
here, it is the default of every job.

Finished jobs are recorded (--state); running the same command again skips them and does
the rest. Outputs appear only when complete.

\b
Examples:
  aotvideo batch jobs.jsonl --mode masks --workers 2 --report run.json
  aotvideo batch clips/ --output-dir out/ --mode alpha --gpus 0,1
  aotvideo batch jobs.csv --ray auto
"""


_OWN_OPTIONS = ("sources", "output_dir", "workers", "gpus", "ray_address", "cpus_per_worker",
                "gpus_per_worker", "retries", "retry_failed", "state_path", "report_path", "progress_style", "quiet")


def _run(ctx: click.Context, track: click.Command, values: dict[str, Any]) -> None:
    """The body of ``aotvideo batch``: build the jobs, run them, report, exit."""
    from ..batch.manifest import read_manifests
    from ..batch.runner import run_jobs
    from ..batch.state import JobState
    from ..batch.worker import TrackWorker

    own = {name: values.pop(name) for name in _OWN_OPTIONS}
    sources, output_dir = own["sources"], own["output_dir"]
    schema = TrackOptionSchema(track)
    defaults = _given_defaults(ctx, schema, values)
    try:
        jobs = build_jobs(read_manifests(sources), defaults=defaults, schema=schema,
                          output_dir=os.path.abspath(output_dir) if output_dir else None)
    except ManifestError as exc:
        fail(str(exc), EXIT_USAGE)
    if not jobs:
        fail("no jobs: the manifest is empty", EXIT_USAGE)
    _check_weights(jobs)
    executor = _executor(own["ray_address"], own["workers"], own["gpus"], own["cpus_per_worker"],
                         own["gpus_per_worker"], jobs)
    state = _state_path(own["state_path"], sources, output_dir, jobs)
    printer = BatchPrinter(progress_style(own["progress_style"], own["quiet"]))
    try:
        with JobState(state) as record, Interrupts().handled():
            try:
                report = run_jobs(jobs, executor, TrackWorker, state=record, retries=own["retries"],
                                  retry_failed=own["retry_failed"], on_event=printer)
            finally:
                printer.finish()
    except KeyboardInterrupt:
        fail("interrupted before the batch started", EXIT_INTERRUPTED)
    except BatchError as exc:
        fail(str(exc), exit_code(exc))
    data = report.to_json()
    data["state"] = str(state)
    write_report(own["report_path"], data)
    if not own["quiet"]:
        _summary(report, state)
    sys.exit(_exit_code(report))
