"""Full-size labels from stride-4 logits: the same arg-max as upsampling every channel."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aotvideo.tracking.upsample import channel_argmax, source_positions, upsampled_argmax


def _full(logits: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
    return channel_argmax(F.interpolate(logits[None], size=size, mode="bilinear",
                                        align_corners=align_corners)[0])


def _blobs(channels: int, height: int, width: int, seed: int) -> torch.Tensor:
    """Logits like a decoder's: smooth, one confident channel per region, overlapping blobs."""
    rng = np.random.default_rng(seed)
    logits = np.full((channels, height, width), -4.0, np.float32)
    logits[0] = 4.0
    for channel in range(1, channels):
        blob = np.zeros((height, width), np.uint8)
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(3, width // 2)), int(rng.integers(3, height // 2)))
        cv2.ellipse(blob, centre, axes, float(rng.uniform(0, 180)), 0, 360, 255, -1)
        logits[channel] = cv2.GaussianBlur(blob.astype(np.float32) / 32 - 4, (5, 5), 0)
    return torch.from_numpy(logits + rng.normal(0, 0.05, logits.shape).astype(np.float32))


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("low,size,channels", [
    ((45, 80), (180, 320), 2),       # the sample clip
    ((100, 178), (1080, 1920), 4),  # 1080p
    ((100, 178), (2160, 3840), 6),  # 4K, five objects
    ((60, 60), (61, 241), 3),       # barely larger, odd sizes, different factors per axis
    ((30, 40), (30, 40), 3),        # the same size
])
def test_labels_equal_upsampling_every_channel(low, size, channels, align_corners) -> None:
    for seed in range(3):
        logits = _blobs(channels, *low, seed)
        full = F.interpolate(logits[None], size=size, mode="bilinear",
                             align_corners=align_corners)[0]
        expected = channel_argmax(full)
        labels = upsampled_argmax(logits, size, align_corners)
        assert labels.dtype == torch.uint8 and labels.shape == size
        labels = labels.long()
        # only a tie to the last bits between two channels may round the other way
        differ = (labels != expected).nonzero(as_tuple=True)
        assert len(differ[0]) <= 1e-5 * expected.numel()
        if len(differ[0]):
            mine = full[labels[differ], *differ]
            theirs = full[expected[differ], *differ]
            torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("align_corners", [False, True])
def test_noise_where_every_pixel_is_an_edge(align_corners) -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 23, 31)
    expected = _full(logits, (101, 97), align_corners)
    assert torch.equal(upsampled_argmax(logits, (101, 97), align_corners).long(), expected)


def test_first_channel_wins_a_tie_as_argmax_does() -> None:
    logits = torch.zeros(3, 8, 8)
    logits[2, :, 4:] = 1.0
    labels = upsampled_argmax(logits, (32, 32), False).long()
    assert torch.equal(labels, _full(logits, (32, 32), False))
    assert labels[:, :10].eq(0).all() and labels[:, -10:].eq(2).all()


def test_smaller_frames_take_the_full_path_and_many_channels_widen() -> None:
    logits = _blobs(3, 50, 50, 1)
    assert torch.equal(upsampled_argmax(logits, (20, 70), False).long(),
                       _full(logits, (20, 70), False))
    many = torch.randn(300, 6, 6, generator=torch.Generator().manual_seed(0))
    labels = upsampled_argmax(many, (12, 12), False)
    assert labels.dtype == torch.int64 and torch.equal(labels, _full(many, (12, 12), False))


@pytest.mark.parametrize("align_corners", [False, True])
def test_source_positions_are_pytorchs(align_corners) -> None:
    """Interpolating a ramp gives back the positions: the same arithmetic as F.interpolate."""
    low, out = 37, 290
    ramp = torch.arange(low, dtype=torch.float32)[None, None, None, :]
    up = F.interpolate(ramp, size=(1, out), mode="bilinear", align_corners=align_corners)[0, 0, 0]
    lower, upper, weight = source_positions(low, out, align_corners)
    assert (upper - lower).max() <= 1 and upper.max() == low - 1
    torch.testing.assert_close(lower.float() * (1 - weight) + upper.float() * weight, up)
