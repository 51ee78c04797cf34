"""Fixtures of the box-mask tests: the sample clip's first frame and its objects' boxes, and
the held-out DAVIS 2016 folder beside the checkout (tests that need it skip without it)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from aotvideo.boxmask import box_of_mask
from aotvideo.io import VideoReader, read_mask
from tests.conftest import require_shared

REPO = Path(__file__).resolve().parents[2]
SAMPLE_VIDEO = REPO / "samples" / "sample.mp4"
SAMPLE_MASK = REPO / "samples" / "sample_mask.png"
DAVIS_ROOT = REPO.parent / "shared" / "datasets" / "davis2016-train"


@pytest.fixture(scope="session")
def sample_frame() -> np.ndarray:
    """Frame 0 of the sample clip: 180 x 320 x 3 uint8 RGB."""
    with VideoReader(str(SAMPLE_VIDEO)) as reader:
        return reader.first_frame.image


@pytest.fixture(scope="session")
def sample_truth() -> np.ndarray:
    """The sample clip's first-frame labels (ids 1, 2, 3: circle, square, triangle)."""
    return read_mask(SAMPLE_MASK)


@pytest.fixture(scope="session")
def sample_boxes(sample_truth: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The tight box of each object of the sample, in id order."""
    return [box_of_mask(sample_truth == i) for i in (1, 2, 3)]  # type: ignore[misc]


@pytest.fixture(scope="session")
def davis_root() -> Path:
    """``../shared/datasets/davis2016-train``; skips when it is absent."""
    require_shared(DAVIS_ROOT / "JPEGImages" / "480p", "by the real-footage tests")
    return DAVIS_ROOT


@pytest.fixture
def two_threads() -> Iterator[None]:
    """Two torch threads for the test (the head's measured setting), the old count after."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)
