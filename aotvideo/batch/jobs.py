"""Tracking jobs: what one ``aotvideo track`` run of a batch does, and how jobs are built.

A :class:`TrackJob` is one video, its masks, its output and its :class:`TrackOptions` (the
per-job options of ``aotvideo track``). :func:`build_jobs` turns manifest entries
(:mod:`aotvideo.batch.manifest`) into jobs: it applies the defaults, converts and validates every
option through an :class:`OptionSchema` (the command line gives one built from ``track``'s own
options), resolves relative paths, fills in default outputs and rejects duplicate outputs.

Outputs are written under a temporary name next to the final one (:func:`partial_path`) and
renamed when complete, so a final output is always a finished one.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import FormatError, ManifestError, MaskError, OutputError
from ..io.formats import default_output_path, resolve_output
from ..io.masks import parse_mask_entry
from ..io.paths import check_spares, file_key
from ..zoo import DEFAULT_MODEL
from .manifest import ManifestEntry

if TYPE_CHECKING:
    from ..tracking.builder import TrackerSpec

__all__ = [
    "OptionSchema",
    "TrackJob",
    "TrackOptions",
    "build_jobs",
    "partial_path",
]

#: Fields of :class:`TrackOptions` that say where a job runs, not what it produces: changing
#: them does not make a finished job run again.
PLACEMENT_OPTIONS = frozenset({"device"})


@dataclass(frozen=True)
class TrackOptions:
    """The per-job options of ``aotvideo track``, by their long names (``-`` as ``_``).

    Defaults are ``track``'s. See ``aotvideo track --help`` for what each does.
    """

    mode: str = "overlay"
    soft: bool = False
    objects: tuple[int, ...] | None = None
    format: str | None = None
    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    out_pix_fmt: str | None = None
    model: str = DEFAULT_MODEL
    weights: str | None = None
    device: str | None = None
    amp: bool | None = None  # None: mixed precision where the hardware has it (track's default)
    flip: bool = False
    scales: tuple[float, ...] = (1.0,)
    max_long_term: int | None = None
    max_short_edge: int | None = None
    min_short_edge: int | None = None
    objects_per_group: int | str = "auto"
    raw: str | None = None
    pix_fmt: str | None = None
    rate: float | None = None
    input_format: str | None = None
    backward: bool | None = None  # None: frames before the first mask tracked backward (files)
    schedule: str = "auto"

    def __post_init__(self) -> None:
        if self.soft and self.mode not in ("matte", "alpha"):
            raise ValueError("soft applies to mode matte and alpha")
        if (self.pix_fmt or self.rate) and not self.raw:
            raise ValueError("pix_fmt and rate describe raw input; give raw WxH too")
        if self.raw and self.input_format:
            raise ValueError("raw and input_format exclude each other")
        if self.backward and (self.raw or self.input_format):
            raise ValueError("backward needs a video file read as such: not with raw or input_format")

    def tracker_spec(self, weights: str | Path) -> TrackerSpec:
        """The :class:`~aotvideo.tracking.builder.TrackerSpec` of these options."""
        from ..tracking.builder import TrackerSpec
        from ..tracking.precision import amp_from_flag

        spec = TrackerSpec(model=self.model, weights=str(weights), device=self.device,
                           amp=amp_from_flag(self.amp), flip=self.flip, scales=self.scales,
                           max_short_edge=self.max_short_edge,
                           min_short_edge=self.min_short_edge,
                           objects_per_group=self.objects_per_group)
        if self.max_long_term is not None:
            spec = dataclasses.replace(spec, max_long_term=self.max_long_term)
        return spec

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The option names, in ``track``'s order."""
        return tuple(f.name for f in dataclasses.fields(cls))


def partial_path(output: str | os.PathLike[str]) -> Path:
    """Where a job writes before its output is complete: a hidden name beside the output."""
    final = Path(output)
    return final.with_name(f".{final.name}.aotvideo-partial")


def _stat(path: str) -> list[int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


@dataclass(frozen=True)
class TrackJob:
    """One video of a batch: ``track INPUT -m MASK... -o OUTPUT`` with :attr:`options`.

    Attributes:
        id: a short name, unique in the batch (the manifest's ``id``, else the input's stem).
        input: the video (an absolute path).
        masks: ``(frame, mask path)`` pairs, frame 0 first.
        output: the final output file or folder (an absolute path).
        options: the tracking and output options.
        where: where the job was given, e.g. ``jobs.jsonl line 3``.
    """

    id: str
    input: str
    masks: tuple[tuple[int, str], ...]
    output: str
    options: TrackOptions = field(default_factory=TrackOptions)
    where: str = ""
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", self._fingerprint())

    def _fingerprint(self) -> str:
        """Identity of what the job produces, taken when the job is made: its paths, options
        (not the device) and the size and modification time of its input and masks. A
        finished job whose key is unchanged is not run again."""
        options = {k: v for k, v in dataclasses.asdict(self.options).items()
                   if k not in PLACEMENT_OPTIONS}
        data = {
            "input": [self.input, _stat(self.input)],
            "masks": [[frame, path, _stat(path)] for frame, path in self.masks],
            "output": self.output,
            "options": options,
        }
        text = json.dumps(data, sort_keys=True, default=list)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]

    def outputs_exist(self) -> bool:
        """Whether the final output is there (a file, or a non-empty folder)."""
        path = Path(self.output)
        if path.is_dir():
            return any(path.iterdir())
        return path.is_file()

    def discard_partial(self) -> None:
        """Remove what an unfinished attempt left under the temporary name."""
        remove_partial(partial_path(self.output))

    def describe(self) -> dict[str, Any]:
        """JSON-ready description for reports."""
        return {"id": self.id, "where": self.where, "input": self.input, "output": self.output,
                "masks": [f"{frame}:{path}" for frame, path in self.masks]}


def remove_partial(path: Path) -> None:
    """Remove a temporary output (a file or a folder) if it is there."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


class OptionSchema(Protocol):
    """Converts and checks one per-job option given by name in a manifest or as a default.

    ``convert`` returns the value in :class:`TrackOptions`' type, or raises ``ValueError``
    with a message a user can act on (an unknown name, a value out of range ...).
    """

    def names(self) -> Collection[str]: ...

    def convert(self, name: str, value: Any) -> Any: ...


#: Manifest fields that are not options.
_JOB_FIELDS = ("input", "mask", "workspace", "output", "id")


def _absolute(path: str, base: Path) -> str:
    """``path`` made absolute against ``base``; a trailing ``/`` (a folder output) is kept."""
    expanded = Path(os.path.expanduser(str(path)))
    absolute = os.path.normpath(expanded if expanded.is_absolute() else base / expanded)
    return absolute + os.sep if str(path).endswith(("/", os.sep)) else absolute


def absolute_weights(weights: str, base: Path) -> str:
    """A weights path made absolute against ``base`` (URLs are left as they are)."""
    return weights if re.match(r"^[a-z][a-z0-9+.-]*://", weights, re.I) else _absolute(weights, base)


def _mask_entries(value: Any, entry: ManifestEntry) -> list[tuple[int, str]]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(";")] if entry.split_lists else [value]
    elif isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        items = [str(v) for v in value]
    else:
        raise ManifestError(f"{entry.where}: 'mask' is a path, FRAME:PATH, or a list of them")
    masks: dict[int, str] = {}
    for item in (i for i in items if i):
        try:
            frame, path = parse_mask_entry(item)
        except MaskError as exc:
            raise ManifestError(f"{entry.where}: {exc}") from None
        if frame in masks:
            raise ManifestError(f"{entry.where}: two masks for frame {frame}")
        masks[frame] = _absolute(path, entry.base)
    if not masks:
        raise ManifestError(f"{entry.where}: no mask: give 'mask' (a path, or FRAME:PATH entries)")
    return sorted(masks.items())


def _workspace_entries(value: Any, entry: ManifestEntry) -> list[tuple[int, str]]:
    """A studio workspace's keyframes as (frame, mask path) pairs."""
    from ..errors import WorkspaceError
    from ..io.workspace import Workspace

    if not isinstance(value, str) or not value:
        raise ManifestError(f"{entry.where}: 'workspace' is the folder of a studio workspace")
    try:
        return Workspace.open(_absolute(value, entry.base)).mask_entries()
    except WorkspaceError as exc:
        raise ManifestError(f"{entry.where}: {exc}") from None


def _job_masks(entry: ManifestEntry) -> list[tuple[int, str]]:
    """The job's masks: its 'mask' entries, or the keyframes of its 'workspace'."""
    has_mask = entry.fields.get("mask") not in (None, "")
    has_workspace = entry.fields.get("workspace") not in (None, "")
    if has_mask and has_workspace:
        raise ManifestError(f"{entry.where}: give 'mask' or 'workspace', not both")
    if has_workspace:
        return _workspace_entries(entry.fields["workspace"], entry)
    if "mask" not in entry.fields:
        raise ManifestError(f"{entry.where}: no 'mask' (the objects on the first frame) and no "
                            "'workspace' (a studio workspace's keyframes)")
    return _mask_entries(entry.fields["mask"], entry)


def _options(entry: ManifestEntry, defaults: Mapping[str, Any], schema: OptionSchema) -> TrackOptions:
    values = dict(defaults)
    for name, raw in entry.fields.items():
        if name in _JOB_FIELDS:
            continue
        if raw is None or (entry.split_lists and raw == ""):
            continue  # an empty CSV cell or a JSON null: the default
        try:
            values[name] = schema.convert(name, raw)
        except ValueError as exc:
            raise ManifestError(f"{entry.where}: {exc}") from None
        if name == "weights" and values[name] is not None:
            values[name] = absolute_weights(str(values[name]), entry.base)
    try:
        return TrackOptions(**values)
    except TypeError as exc:  # an option track has and this version of batch does not know
        raise ManifestError(f"{entry.where}: {exc}") from None
    except ValueError as exc:
        raise ManifestError(f"{entry.where}: {exc}") from None


def _output(entry: ManifestEntry, input: str, options: TrackOptions, output_dir: str | None,
            job_id: str) -> str:
    """The job's ``output``, else ``ID.MODE.EXT`` (as ``track`` names it, with the job's id for
    the input's stem) in ``output_dir`` or beside the input."""
    given = entry.fields.get("output")
    if given not in (None, ""):
        if not isinstance(given, str):
            raise ManifestError(f"{entry.where}: 'output' is a path")
        if given == "-":
            raise ManifestError(f"{entry.where}: a batch job cannot write to standard output")
        return _absolute(given, entry.base)
    folder = os.path.abspath(output_dir) if output_dir is not None else os.path.dirname(input)
    return default_output_path(os.path.join(folder, job_id + Path(input).suffix), options.mode)


def _check_output(entry: ManifestEntry, input: str, output: str, options: TrackOptions,
                  masks: Sequence[tuple[int, str]]) -> None:
    try:
        resolve_output(output, options.mode, format=options.format, codec=options.codec,
                       crf=options.crf, preset=options.preset, pix_fmt=options.out_pix_fmt)
    except FormatError as exc:
        raise ManifestError(f"{entry.where}: {exc}") from None
    read = {"the input": input} | {f"the mask {path}": path for _, path in masks}
    try:
        check_spares(output, read, folder=options.mode == "masks")
    except OutputError as exc:
        raise ManifestError(f"{entry.where}: {exc}") from None


def _unique_id(wanted: str, taken: set[str]) -> str:
    name, number = wanted, 2
    while name in taken:
        name, number = f"{wanted}-{number}", number + 1
    return name


def build_job(entry: ManifestEntry, *, defaults: Mapping[str, Any], schema: OptionSchema,
              output_dir: str | None = None, taken: set[str] | None = None) -> TrackJob:
    """One :class:`TrackJob` from a manifest entry; raises :class:`ManifestError` naming the line."""
    raw_input = entry.fields.get("input")
    if not isinstance(raw_input, str) or not raw_input:
        raise ManifestError(f"{entry.where}: no 'input' (the video to track)")
    if raw_input == "-":
        raise ManifestError(f"{entry.where}: a batch job cannot read standard input")
    input = _absolute(raw_input, entry.base)
    options = _options(entry, defaults, schema)  # first: an unsupported 'box' says what to do
    masks = _job_masks(entry)
    raw_id = entry.fields.get("id")
    wanted = str(raw_id) if raw_id not in (None, "") else Path(input).stem
    if "/" in wanted or os.sep in wanted or wanted.startswith("."):
        raise ManifestError(f"{entry.where}: 'id' names outputs: no '/' and no leading '.'")
    taken = taken if taken is not None else set()
    job_id = _unique_id(wanted, taken)
    output = _output(entry, input, options, output_dir, job_id)
    _check_output(entry, input, output, options, masks)
    taken.add(job_id)
    return TrackJob(job_id, input, tuple(masks), output, options, entry.where)


def build_jobs(entries: Iterable[ManifestEntry], *, defaults: Mapping[str, Any] | None = None,
               schema: OptionSchema, output_dir: str | None = None) -> list[TrackJob]:
    """Jobs from manifest entries, in order.

    ``defaults`` (already converted, by :class:`TrackOptions` name) apply to every job unless its
    entry gives the option; ``output_dir`` holds the outputs of entries without ``output``
    (default: beside each input), named as ``track`` names them with the job's id as the name:
    ``ID.MODE.mp4``, ``ID.alpha.mov``, ``ID.masks``. Raises :class:`ManifestError`
    for the first bad entry, or when two jobs would write the same output.
    """
    jobs: list[TrackJob] = []
    taken: set[str] = set()
    outputs: dict[Any, TrackJob] = {}
    reads: dict[Any, tuple[str, TrackJob]] = {}
    for entry in entries:
        job = build_job(entry, defaults=defaults or {}, schema=schema, output_dir=output_dir,
                        taken=taken)
        key = file_key(job.output)  # one file, however the manifest spells it
        other = outputs.get(key)
        if other is not None:
            raise ManifestError(f"{entry.where}: writes {job.output}, as {other.where} does; "
                                "give each job its own output")
        outputs[key] = job
        for path in [job.input] + [p for _, p in job.masks]:
            reads.setdefault(file_key(path), (path, job))
        jobs.append(job)
    for key, job in outputs.items():  # no job may write what another job reads
        if key in reads:
            path, reader = reads[key]
            raise ManifestError(f"{job.where}: writes {job.output}, which {reader.where} reads "
                                f"({path}); give the job another output")
    return jobs
