"""One exit-code table for every sub-command: the kinds of errors, their codes, and the help."""
from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from aotvideo import errors
from aotvideo.cli import main
from aotvideo.cli.exits import EXIT_BY_KIND, EXIT_CODES_HELP, EXIT_FAILURE, exit_code


@pytest.mark.parametrize("exc,kind,code", [
    (errors.MaskError("m"), "mask", 3),
    (errors.InputError("i"), "input", 5),
    (errors.InputDecodeError("broke", frames_done=3), "input_broken", 6),
    (errors.OutputError("o"), "output", 7),
    (errors.WeightsError("w"), "weights", 4),
    (errors.DownloadError("d"), "weights", 4),
    (errors.DeviceError("cuda"), "device", 2),
    (errors.FormatError("f"), "usage", 2),
    (errors.PositionError("p"), "usage", 2),
    (errors.ManifestError("line 2"), "usage", 2),
    (errors.BenchmarkError("b"), "usage", 2),
    (errors.DatasetError("d"), "usage", 2),
    (errors.ModelNotFoundError("nope"), "usage", 2),
    (errors.ExecutorError("ray down"), "workers", 9),
    (ValueError("bad value"), "usage", 2),
    (KeyboardInterrupt(), "interrupted", 130),
    (MemoryError(), "memory", 1),
    (RuntimeError("CUDA out of memory"), "memory", 1),
    (RuntimeError("a bug"), "error", 1),
    (KeyError("a bug"), "error", 1),
])
def test_every_error_has_one_kind_and_one_code(exc: BaseException, kind: str, code: int) -> None:
    assert errors.error_kind(exc) == kind
    assert exit_code(exc) == code


def test_the_help_lists_every_code_of_the_table() -> None:
    listed = {int(code) for code in re.findall(r"^\s+(\d+)\s", EXIT_CODES_HELP, re.MULTILINE)}
    assert set(EXIT_BY_KIND.values()) | {0, EXIT_FAILURE} <= listed
    assert listed == {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 130}


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, prefix + (name,))
        else:
            found.append(prefix + (name,))
    return found


@pytest.mark.parametrize("path", _commands(main), ids=lambda p: " ".join(p) or "aotvideo")
def test_every_command_prints_the_exit_codes_in_its_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Exit codes (every aotvideo command):" in result.output
    assert "130  interrupted" in result.output
