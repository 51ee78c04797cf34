"""Paths compared by the files they name: symbolic links, '..' and hard links."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from aotvideo.errors import OutputError
from aotvideo.io.paths import check_spares, file_key, inside, same_file


def test_spellings_of_one_file(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"video")
    (tmp_path / "sub").mkdir()
    os.symlink(".", tmp_path / "link")
    os.link(tmp_path / "a.mp4", tmp_path / "hard.mp4")
    a = tmp_path / "a.mp4"
    for other in (tmp_path / "link" / "a.mp4", tmp_path / "sub" / ".." / "a.mp4",
                  tmp_path / "hard.mp4", tmp_path / "link" / "link" / "a.mp4"):
        assert same_file(other, a), other
        assert file_key(other) == file_key(a), other
    assert not same_file(tmp_path / "b.mp4", a)          # not there yet: another file
    assert same_file(tmp_path / "link" / "new.mp4", tmp_path / "new.mp4")  # neither exists
    assert not same_file("-", "-")                        # standard input/output name no file
    assert inside(tmp_path / "link" / "sub" / "x.png", tmp_path / "sub")
    assert not inside(tmp_path / "subway.png", tmp_path / "sub")


def test_check_spares_names_what_would_be_lost(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"mask")
    os.symlink(".", tmp_path / "link")
    with pytest.raises(OutputError, match=r"the output would overwrite the mask a\.png"):
        check_spares(tmp_path / "link" / "a.png", {"the input": tmp_path / "a.mp4",
                                                   "the mask a.png": tmp_path / "a.png"})
    check_spares(tmp_path / "out.mp4", {"the input": tmp_path / "a.png"})


def test_a_folder_output_may_not_hold_what_is_read(tmp_path: Path) -> None:
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "00000.png").write_bytes(b"first mask")
    read = {"the mask 00000.png": tmp_path / "masks" / "00000.png"}
    with pytest.raises(OutputError, match=r"the output folder .*masks holds the mask 00000.png"):
        check_spares(tmp_path / "masks", read, folder=True)
    check_spares(tmp_path / "masks", read)                      # a file output: another file
    check_spares(tmp_path / "elsewhere", read, folder=True)
