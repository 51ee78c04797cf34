"""Constants and helpers shared by the I/O tests (imported by name; fixtures are in conftest)."""
from __future__ import annotations

from pathlib import Path

import av

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
