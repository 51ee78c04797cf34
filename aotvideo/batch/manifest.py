"""Reading batch manifests: JSON Lines, CSV, folders, glob patterns and single videos.

Every source becomes a list of :class:`ManifestEntry`: the raw fields of one job and where it
was given (file and line), so later errors can name the line. Nothing is validated here beyond
the file's own syntax; :func:`aotvideo.batch.jobs.build_jobs` checks the fields.

* ``*.jsonl`` / ``*.ndjson`` (or ``*.json`` holding one object per line or one array):
  ``{"input": "a.mp4", "mask": "a.png", "output": "out/a.alpha.mov", "mode": "alpha"}``;
  ``mask`` may be a list of ``FRAME:PATH`` entries. Blank lines and ``#`` lines are skipped.
* ``*.csv`` / ``*.tsv``: a header row with the same column names; ``mask`` holds entries
  separated by ``;``; empty cells take the default.
* a folder, a glob pattern (``'clips/*.mp4'``) or a video file: each video ``NAME.EXT`` with
  its mask ``NAME.mask.png`` beside it (frame 0), and optionally ``NAME.mask.FRAME.png`` for
  masks at later frames. Hidden files and ``track``'s own outputs (``NAME.overlay.mp4``,
  ``NAME.matte.mp4``, ``NAME.alpha.mov``, ``NAME.masks``) are not taken as inputs.

Relative paths in a JSONL or CSV file are relative to the file's folder.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError

__all__ = ["ManifestEntry", "VIDEO_EXTENSIONS", "read_manifests", "read_manifest"]

#: File name extensions taken as videos in folders and glob patterns.
VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".nut", ".ts", ".mts", ".m2ts", ".mpg",
    ".mpeg", ".mxf", ".flv", ".wmv", ".y4m", ".3gp", ".ogv", ".dv",
})
_OUTPUT_STEMS = (".overlay", ".matte", ".alpha", ".masks")
_LATER_MASK = re.compile(r"\.mask\.(\d+)\.png$", re.IGNORECASE)


@dataclass(frozen=True)
class ManifestEntry:
    """The raw fields of one job and where they come from.

    Attributes:
        where: e.g. ``jobs.jsonl line 3`` or ``clips/a.mp4``.
        base: folder that relative paths are relative to.
        fields: field name -> value (JSON values, or strings from CSV).
        split_lists: CSV: ``mask`` lists are ``;``-separated strings and empty cells mean
            "not given".
    """

    where: str
    base: Path
    fields: Mapping[str, Any] = field(default_factory=dict)
    split_lists: bool = False


def _json_entries(path: Path, text: str) -> list[ManifestEntry]:
    base = path.parent
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path} line {exc.lineno}: not valid JSON: {exc.msg}") from None
        return [_json_entry(item, f"{path} item {number}", base)
                for number, item in enumerate(items, start=1)]
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path} line {number}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{where}: not valid JSON: {exc.msg} (column {exc.colno})") from None
        entries.append(_json_entry(item, where, base))
    return entries


def _json_entry(item: Any, where: str, base: Path) -> ManifestEntry:
    if not isinstance(item, dict):
        raise ManifestError(f"{where}: expected a JSON object like "
                            '{"input": "a.mp4", "mask": "a.png"}')
    return ManifestEntry(where, base, dict(item))


def _csv_entries(path: Path, text: str) -> list[ManifestEntry]:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(text.splitlines(), delimiter=delimiter)
    if not reader.fieldnames:
        raise ManifestError(f"{path}: empty; expected a header row such as input,mask,output")
    names = [name.strip() for name in reader.fieldnames]
    if "" in names or len(set(names)) != len(names):
        raise ManifestError(f"{path} line 1: empty or repeated column names in the header")
    entries = []
    for row in reader:
        where = f"{path} line {reader.line_num}"
        if None in row:
            raise ManifestError(f"{where}: more cells than the header has columns")
        fields = {name.strip(): (value.strip() if isinstance(value, str) else value)
                  for name, value in row.items()}
        if not any(fields.values()):
            continue
        entries.append(ManifestEntry(where, path.parent, fields, split_lists=True))
    return entries


def _is_input_video(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or path.suffix.lower() not in VIDEO_EXTENSIONS:
        return False
    return not path.stem.lower().endswith(_OUTPUT_STEMS)


def video_entry(video: Path) -> ManifestEntry:
    """The job of a video named by the convention: ``NAME.mask.png`` (+ ``NAME.mask.N.png``)."""
    stem = video.name[: -len(video.suffix)] if video.suffix else video.name
    folder = video.parent
    masks: list[str] = []
    first = folder / f"{stem}.mask.png"
    if first.is_file():
        masks.append(first.name)
    for candidate in sorted(folder.glob(f"{glob.escape(stem)}.mask.*.png")):
        found = _LATER_MASK.search(candidate.name)
        if found and candidate.name == f"{stem}.mask.{found.group(1)}.png":
            frame = int(found.group(1))
            if frame == 0 and first.is_file():
                raise ManifestError(f"{video}: both {first.name} and {candidate.name} are masks "
                                    "for frame 0")
            masks.append(f"{frame}:{candidate.name}")
    if not masks:
        raise ManifestError(f"{video}: no mask: expected {first.name} beside it "
                            f"(and {stem}.mask.FRAME.png for masks at later frames)")
    return ManifestEntry(str(video), folder, {"input": video.name, "mask": masks, "id": stem})


def _folder_entries(folder: Path) -> list[ManifestEntry]:
    videos = sorted(p for p in folder.iterdir() if p.is_file() and _is_input_video(p))
    if not videos:
        raise ManifestError(f"{folder}: no videos in this folder "
                            f"(looked for {', '.join(sorted(VIDEO_EXTENSIONS))})")
    return [video_entry(video) for video in videos]


def _glob_entries(pattern: str) -> list[ManifestEntry]:
    matches = sorted(Path(os.path.abspath(p)) for p in glob.glob(os.path.expanduser(pattern)))
    videos = [p for p in matches if p.is_file() and _is_input_video(p)]
    if not videos:
        raise ManifestError(f"{pattern}: no videos match this pattern")
    return [video_entry(video) for video in videos]


def read_manifest(source: str) -> list[ManifestEntry]:
    """Entries of one source: a JSONL/JSON or CSV/TSV file, a folder, a glob pattern or a video.

    Raises :class:`ManifestError` when it cannot be read or parsed.
    """
    path = Path(os.path.abspath(os.path.expanduser(source)))
    if path.is_dir():
        return _folder_entries(path)
    if not path.exists():
        if glob.has_magic(source):
            return _glob_entries(source)
        raise ManifestError(f"{source}: no such file, folder or matching videos")
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return [video_entry(path)]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{source}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    if suffix in (".csv", ".tsv"):
        return _csv_entries(path, text)
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _json_entries(path, text)
    raise ManifestError(f"{source}: unknown manifest type; use .jsonl (one JSON object per line), "
                        ".csv, a folder of videos with NAME.mask.png masks, or a glob pattern")


def read_manifests(sources: Iterable[str]) -> list[ManifestEntry]:
    """Entries of several sources, in order."""
    entries: list[ManifestEntry] = []
    for source in sources:
        entries.extend(read_manifest(source))
    return entries
