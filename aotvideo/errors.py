"""Exception hierarchy of aotvideo.

Every error the library raises on purpose derives from :class:`AotVideoError`, and also from the
built-in type that fits it, so callers can catch either.  Only the command line turns them into
messages and exit codes.
"""
from __future__ import annotations


class AotVideoError(Exception):
    """Base class of all errors raised by aotvideo on purpose."""


class ModelNotFoundError(AotVideoError, KeyError):
    """An unknown model variant name was asked for."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class WeightsError(AotVideoError, ValueError):
    """A checkpoint does not fit the model (wrong names, shapes) or cannot be read."""


class MaskError(AotVideoError, ValueError):
    """A mask has the wrong size, no objects, or ids that were asked for but are absent."""


class FrameError(AotVideoError, ValueError):
    """A frame has the wrong shape or dtype."""


class MediaError(AotVideoError, OSError):
    """A video cannot be opened, decoded or encoded."""


class FormatError(AotVideoError, ValueError):
    """An output format, codec and mode do not go together (e.g. alpha into MP4)."""


class InputError(MediaError):
    """The input video cannot be opened, has no video stream, or no frame can be decoded.

    Raised before any output is written.
    """


class InputDecodeError(MediaError):
    """The input broke off part-way (corrupt or truncated data).

    The frames decoded before the break are valid; ``frames_done`` says how many there were and
    ``time`` where (in seconds of the input) the last good one was.
    """

    def __init__(self, message: str, *, frames_done: int = 0, time: float | None = None) -> None:
        super().__init__(message)
        self.frames_done = frames_done
        self.time = time


class OutputError(MediaError):
    """The output cannot be written: cannot be created, a full disk, a closed pipe."""


class DownloadError(WeightsError):
    """A checkpoint cannot be downloaded: downloads are off (``AOTVIDEO_OFFLINE=1``), there is no
    network, Google Drive refuses (quota) or sends a web page instead of the file, or the transfer
    keeps breaking off. The message says how to get the checkpoint by hand."""


class PositionError(AotVideoError, ValueError):
    """A frame position (index or time) is not in the video."""


class BatchError(AotVideoError):
    """A batch of jobs cannot be run as given (see :mod:`aotvideo.batch`)."""


class ManifestError(BatchError, ValueError):
    """A batch manifest is malformed: bad JSON/CSV, an unknown option, a missing input or mask.

    The message names the file and line of the job.
    """


class ExecutorError(BatchError, RuntimeError):
    """The workers of a batch cannot be started or reached (Ray missing or unreachable,
    worker processes that die before taking a job)."""
