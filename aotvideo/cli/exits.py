"""Exit codes of every ``aotvideo`` sub-command, and the one mapping from errors to them.

The library raises typed exceptions (:mod:`aotvideo.errors`) and names the kind of a failure
(:func:`aotvideo.errors.error_kind`); this table is the only place that turns a kind into an exit
code. ``--help`` of every command and the README print :data:`EXIT_CODES_HELP`.
"""
from __future__ import annotations

from ..errors import error_kind

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MASK = 3
EXIT_WEIGHTS = 4
EXIT_INPUT = 5
EXIT_INPUT_BROKEN = 6
EXIT_OUTPUT = 7
EXIT_JOBS_FAILED = 8
EXIT_WORKERS = 9
EXIT_INTERRUPTED = 130

#: Error kind (:func:`aotvideo.errors.error_kind`) -> exit code; kinds not named exit 1.
EXIT_BY_KIND: dict[str, int] = {
    "usage": EXIT_USAGE,
    "device": EXIT_USAGE,
    "mask": EXIT_MASK,
    "weights": EXIT_WEIGHTS,
    "input": EXIT_INPUT,
    "input_broken": EXIT_INPUT_BROKEN,
    "output": EXIT_OUTPUT,
    "workers": EXIT_WORKERS,
    "interrupted": EXIT_INTERRUPTED,
}

EXIT_CODES_HELP = """\b
Exit codes (every aotvideo command):
  0    success
  1    unexpected error (a bug: please report it with the message)
  2    bad usage: unknown option, impossible format/mode/codec combination,
       a --box that is malformed, empty or outside the picture, a frame
       past the end, an output that would overwrite an input, a device
       that cannot be used, a dataset or manifest that cannot be read
  3    mask problem: unreadable, empty, wrong size, --objects ids absent
  4    weights problem: none installed or given, or they do not fit --model
  5    input cannot be opened or decoded (nothing was written)
  6    input broke off (corrupt or truncated): the output is finalized
       and playable with every frame up to the break
  7    output cannot be written (full disk, closed pipe, no permission):
       the output is finalized as far as possible
  8    batch: some jobs failed (the others are done; rerun to retry them)
  9    batch: the workers cannot be started or were lost
  130  interrupted (Ctrl-C or SIGTERM): outputs are finalized and
       playable with the frames processed so far
"""


def exit_code(exc: BaseException) -> int:
    """The exit code of a command that stopped on ``exc``."""
    return EXIT_BY_KIND.get(error_kind(exc), EXIT_FAILURE)
