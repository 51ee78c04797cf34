"""Constants and helpers shared by the I/O tests (imported by name; fixtures are in conftest)."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, COUNT = 96, 64, 12
#: Variable frame rate timestamps in 1/24 s units (gaps of 1, 2 and 3 frames).
VFR_PTS = [0, 1, 3, 4, 7, 8, 9, 12, 13, 15, 16, 18]


def decode_all(path: str | Path, decoder: str | None = None) -> list[av.VideoFrame]:
    """Every video frame of a file (optionally with a named decoder, e.g. libvpx-vp9)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if decoder is None:
            return list(container.decode(stream))
        context = av.CodecContext.create(decoder, "r")
        frames = []
        for packet in container.demux(stream):
            frames.extend(context.decode(packet))
        return frames


def assert_same_but_for_chroma_siting(shown: np.ndarray, expected: np.ndarray) -> None:
    """Two RGB pictures of the same 4:2:0 planes, one converted from the decoder's frame (its
    chroma sited left, as H.264 says) and one from a frame made of the planes (siting unknown):
    equal on average; apart at sharp colour edges, which the small test clips are full of."""
    difference = shown.astype(np.int32) - expected
    assert np.all(np.abs(difference.reshape(-1, 3).mean(axis=0)) < 0.5), difference.mean()
    assert np.abs(difference).mean() < 2.0 and np.abs(difference).max() <= 64
