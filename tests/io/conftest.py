"""Fixtures for the I/O tests: small synthetic clips (96x64, a dozen frames: cheap on two cores)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from io_helpers import COUNT, HEIGHT, WIDTH

from aotvideo.io.testclips import scene, write_clip


@pytest.fixture(scope="session")
def clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames and label maps of a small scene."""
    frames, labels = zip(*scene(WIDTH, HEIGHT, COUNT, seed=0))
    return list(frames), list(labels)


@pytest.fixture
def make_clip(tmp_path: Path, clip: tuple[list[np.ndarray], list[np.ndarray]]) -> Callable[..., Path]:
    """Write the clip with :func:`aotvideo.io.testclips.write_clip` options; returns the path."""

    def make(name: str = "in.mp4", **options: object) -> Path:
        path = tmp_path / name
        write_clip(path, clip[0], **options)  # type: ignore[arg-type]
        return path

    return make
