"""The record of a batch: which jobs are done, so a re-run skips them.

The record is a JSON Lines journal: one line appended (and flushed to disk) each time a job
finishes or finally fails. Appending never rewrites what is there, so a crash or Ctrl-C at any
moment leaves every earlier line intact; a torn last line is ignored when read. The latest line
of a job's key wins. A lock on the file keeps two batches from sharing one record. When a run
opens a journal holding superseded (or torn) lines, it is written anew with one line per job,
to a temporary file that replaces it atomically, so reruns do not make it grow.
"""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ..errors import BatchError

__all__ = ["JobState"]


class JobState:
    """The journal of finished jobs at ``path``; open with ``with JobState(path) as state:``.

    Raises :class:`~aotvideo.errors.BatchError` when the file cannot be opened or another batch
    holds it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._records: dict[str, dict[str, Any]] = {}
        self._file: IO[str] | None = None

    def __enter__(self) -> JobState:
        self.open()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def open(self) -> None:
        """Lock the journal (creating it) and read what it holds."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            raise BatchError(f"cannot open the batch record {self.path}: {exc.strerror or exc}") from exc
        self._lock(handle)
        handle.seek(0)
        text = handle.read()
        self._records = _parse(text)
        if text.count("\n") + (not text.endswith("\n") and bool(text)) > len(self._records):
            handle = self._compact(handle)
        handle.seek(0, os.SEEK_END)
        self._file = handle

    def _compact(self, handle: IO[str]) -> IO[str]:
        """Write the journal anew, one line per job (the latest), and return the new file,
        locked; the old one is closed."""
        temporary = self.path.with_name(self.path.name + ".compact.tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as out:
                out.writelines(json.dumps(entry, default=str) + "\n"
                               for entry in self._records.values())
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
            fresh = open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            handle.close()
            raise BatchError(f"cannot rewrite the batch record {self.path}: "
                             f"{exc.strerror or exc}") from exc
        handle.close()
        self._lock(fresh)
        return fresh

    def _lock(self, handle: IO[str]) -> None:
        """Lock ``handle`` for this batch alone (closing it when another batch holds it)."""
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise BatchError(f"another batch is using the record {self.path}; wait for it to "
                             "end, or give this one its own --state file") from None

    def close(self) -> None:
        """Release the lock."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def get(self, key: str) -> dict[str, Any] | None:
        """The latest record of a job key, or ``None``."""
        return self._records.get(key)

    def is_done(self, key: str) -> bool:
        """Whether the latest record of ``key`` says the job was completed."""
        record = self._records.get(key)
        return record is not None and record.get("status") == "done"

    def record(self, key: str, status: str, details: Mapping[str, Any]) -> None:
        """Append a job's outcome (``done`` or ``failed``) and flush it to disk."""
        entry = {"key": key, "status": status, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 **details}
        self._records[key] = entry
        if self._file is None:
            raise BatchError("the batch record is not open")
        try:
            self._file.write(json.dumps(entry, default=str) + "\n")
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise BatchError(f"cannot write the batch record {self.path}: {exc.strerror or exc}") from exc


def _parse(text: str) -> dict[str, dict[str, Any]]:
    records: dict[str, dict[str, Any]] = {}
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a crash
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            records[entry["key"]] = entry
    return records
