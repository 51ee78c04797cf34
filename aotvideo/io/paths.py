"""Outputs never replace the files a command reads: paths compared by the files they name.

Two spellings can name one file: ``link/a.mp4`` where ``link -> .``, ``./x/../a.mp4``, a hard
link.  Comparing normalised strings misses all of them, so every command that writes checks its
outputs with :func:`check_spares` before it writes anything.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from ..errors import OutputError

STDIO = "-"


def write_atomic(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` so that a reader, or the file after a crash, holds either the
    old content or the new one in full: a temporary file beside it, renamed over the target.
    ``durable``: flushed to the disk before the rename, so that it also survives a power cut
    (a killed process loses nothing either way: the data is in the kernel's cache).

    Raises :class:`~aotvideo.errors.OutputError` when it cannot be written.
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.tmp{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from exc


def same_file(first: str | os.PathLike[str], second: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file: the same place once symbolic links and ``..`` are
    resolved, or (both existing) the same device and inode, so hard links count too.  ``-``
    (standard input or output) names no file."""
    if os.fspath(first) == STDIO or os.fspath(second) == STDIO:
        return False
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet): different files
        return False


def file_key(path: str | os.PathLike[str]) -> tuple[int, int] | str:
    """A key equal for every path of one file: (device, inode) of an existing file, else the
    resolved path.  For sets and dicts of many paths, where :func:`same_file` pair by pair
    would be quadratic."""
    try:
        stat = os.stat(path)
    except OSError:
        return os.path.realpath(path)
    return (stat.st_dev, stat.st_ino)


def inside(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names ``folder`` or a file below it (symbolic links resolved)."""
    if os.fspath(path) == STDIO or os.fspath(folder) == STDIO:
        return False
    real, top = os.path.realpath(path), os.path.realpath(folder)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def check_spares(output: str | os.PathLike[str], read: Mapping[str, str | os.PathLike[str]],
                 *, what: str = "the output", folder: bool = False) -> None:
    """Refuse an ``output`` that names a file the command reads.

    Args:
        output: the path about to be written.
        read: what the command reads, by description (``{"the input": "a.mp4", "the mask":
            "a.png"}``).
        what: how to call ``output`` in the message.
        folder: ``output`` is a folder the command writes files into (``--mode masks``): it may
            not hold any of ``read`` either.

    Raises:
        OutputError: ``output`` names one of them (or, a folder, holds one); the message says
            which.
    """
    for name, path in read.items():
        if same_file(output, path):
            raise OutputError(f"{what} would overwrite {name} ({os.fspath(output)} is "
                              f"{os.fspath(path)}): choose another path")
        if folder and inside(path, output):
            raise OutputError(f"the output folder {os.fspath(output)} holds {name}: its frames "
                              "would be written over it; choose another folder")


__all__ = ["check_spares", "file_key", "inside", "same_file", "write_atomic"]
