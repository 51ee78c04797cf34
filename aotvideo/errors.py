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


class BenchmarkError(AotVideoError, ValueError):
    """An evaluation dataset or result folder lacks the expected layout or content."""


class DatasetError(AotVideoError, FileNotFoundError):
    """A training dataset folder is missing, empty or laid out unexpectedly."""


class DeviceError(AotVideoError, RuntimeError):
    """A tracker or model cannot be set up on the device asked for (no such device, no CUDA)."""


#: The kinds of failure :func:`error_kind` tells apart, most specific first.
class WorkspaceError(AotVideoError, ValueError):
    """A studio workspace that cannot be opened or used: not a workspace, made for another
    video, an unknown object or frame, a damaged file."""


ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (KeyboardInterrupt, "interrupted"),
    (MaskError, "mask"),
    (WorkspaceError, "mask"),
    (InputDecodeError, "input_broken"),
    (InputError, "input"),
    (PositionError, "usage"),
    (OutputError, "output"),
    (WeightsError, "weights"),
    (DeviceError, "device"),
    (ExecutorError, "workers"),
    (BatchError, "usage"),
    (FormatError, "usage"),
    (BenchmarkError, "usage"),
    (DatasetError, "usage"),
    (MemoryError, "memory"),
    (ModelNotFoundError, "usage"),
    (ValueError, "usage"),
)


def error_kind(exc: BaseException) -> str:
    """What kind of failure ``exc`` is, in one word.

    ``mask``, ``input`` (cannot be opened or decoded), ``input_broken`` (broke off part-way),
    ``output``, ``weights``, ``device``, ``workers`` (batch workers that cannot start or were
    lost), ``usage`` (options that do not go together or out of range, a
    position outside the video, an unknown variant), ``memory``, ``interrupted`` or ``error`` (anything else: a bug). The
    command line turns kinds into exit codes; batch reports record them per job.
    """
    for kind_type, kind in ERROR_KINDS:
        if isinstance(exc, kind_type):
            return kind
    if "out of memory" in str(exc).lower():
        return "memory"
    return "error"
