"""Frame normalisation: the reference arithmetic, bit for bit, in the encoders' layout."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aotvideo.tracking.preprocess import (IMAGENET_MEAN, IMAGENET_STD, Picture,
                                          network_input_size, normalize_frame, resize_labels)


def _reference(frame: np.ndarray, size: tuple[int, int], flip: bool) -> torch.Tensor:
    """The original evaluation's preprocessing, spelled out with NumPy."""
    image = frame.astype(np.float32)
    if image.shape[:2] != size:
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    if flip:
        image = image[:, ::-1]
    image = image / 255.0
    image -= np.asarray(IMAGENET_MEAN, dtype=np.float32)
    image /= np.asarray(IMAGENET_STD, dtype=np.float32)
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).unsqueeze(0)


@pytest.mark.parametrize("size", [(65, 97), (49, 81)])
@pytest.mark.parametrize("flip", [False, True])
def test_normalize_frame_equals_the_reference(size, flip):
    frame = np.random.default_rng(0).integers(0, 256, (65, 97, 3), dtype=np.uint8)
    out = normalize_frame(frame, size, flip=flip)
    assert out.shape == (1, 3, *size) and out.dtype == torch.float32
    assert torch.equal(out, _reference(frame, size, flip))
    assert out.is_contiguous(memory_format=torch.channels_last)


class _Flat:
    """A Picture of one colour that makes its own network input (as a decoder's planes do)."""

    shape = (64, 96, 3)

    def __init__(self) -> None:
        self.asked: list[tuple[int, int]] = []

    def network_input(self, size: tuple[int, int]) -> np.ndarray:
        self.asked.append(size)
        return np.full((*size, 3), (30.0, 140.0, 200.0), np.float32)


@pytest.mark.parametrize("flip", [False, True])
def test_a_picture_makes_its_own_input_and_is_normalised_alike(flip):
    picture = _Flat()
    assert isinstance(picture, Picture)
    out = normalize_frame(picture, (33, 49), flip=flip)
    assert picture.asked == [(33, 49)]
    expected = _reference(np.full((33, 49, 3), (30, 140, 200), np.uint8), (33, 49), flip)
    assert out.shape == (1, 3, 33, 49) and torch.allclose(out, expected)
    assert out.is_contiguous(memory_format=torch.channels_last)


def test_normalize_frame_leaves_the_frame_alone():
    frame = np.full((17, 33, 3), 200, dtype=np.uint8)
    normalize_frame(frame, (17, 33))
    assert int(frame.min()) == 200 and int(frame.max()) == 200


def test_network_input_size_snaps_to_the_grid():
    # 479 / 16 = 29.9 -> 30 * 16 + 1; 853 / 16 = 53.3 -> 53 * 16 + 1
    assert network_input_size(480, 854) == (481, 849)
    # 854 * 2/3 = 569.3 -> 569; (569 - 1) / 16 = 35.5 rounds half to even -> 36 * 16 + 1
    assert network_input_size(480, 854, max_short_edge=320) == (321, 577)


def test_network_input_size_enlarges_small_frames_to_the_minimum():
    # 320x180 -> short edge 400: 711.1 x 400, snapped to (401, 705)
    assert network_input_size(180, 320, min_short_edge=400) == (401, 705)
    # a frame already large enough is only limited from above
    assert network_input_size(480, 854, min_short_edge=400) == network_input_size(480, 854)
    assert network_input_size(1080, 1920, min_short_edge=400, max_short_edge=400) == (401, 705)
    # the upper limits win where the two disagree (the long edge caps an extreme aspect)
    assert network_input_size(100, 600, min_short_edge=400, max_long_edge=1040) == (177, 1041)
    assert network_input_size(180, 320, min_short_edge=600, max_short_edge=480) == (481, 849)


@pytest.mark.parametrize("source,size", [
    ((2160, 3840), (401, 721)),   # 4K to the network input
    ((180, 320), (401, 705)),     # a small frame enlarged
    ((37, 91), (13, 200)),        # down one way, up the other
    ((100, 100), (200, 200)),     # exactly twice
    ((61, 61), (61, 61)),         # unchanged
])
def test_resize_labels_picks_the_pixels_interpolate_picks(source, size):
    labels = torch.randint(0, 7, source, generator=torch.Generator().manual_seed(1))
    expected = F.interpolate(labels[None, None].float(), size=size, mode="nearest")[0, 0].long()
    assert torch.equal(resize_labels(labels, size), expected)
