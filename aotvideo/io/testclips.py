"""Procedural test clips: moving shapes over a textured background, with exact masks.

Used to make the project's sample clip (``samples/make_sample.py``) and by the tests, so no
third-party media is needed. :func:`scene` draws frames and their label maps;
:func:`write_clip` encodes frames with PyAV, optionally with a tone as audio, variable frame
rate timestamps or a display rotation.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction

import av
import cv2
import numpy as np

from .colour import Colour, tag_encoder, to_encoder

__all__ = ["background", "scene", "write_clip"]


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A textured H x W x 3 uint8 background: colour gradients, soft waves and fine grain."""
    rs = np.random.RandomState(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    phase = rs.uniform(0, 2 * math.pi, size=3)
    image = np.stack(
        [
            90 + 60 * u + 25 * np.sin(2 * math.pi * (3 * v + u) + phase[0]),
            110 + 50 * v + 25 * np.sin(2 * math.pi * (4 * u - 2 * v) + phase[1]),
            140 - 40 * u + 20 * np.sin(2 * math.pi * (5 * u * v + v) + phase[2]),
        ],
        axis=-1,
    )
    grain = rs.normal(0, 6, size=(height, width, 1)).astype(np.float32)
    checker = ((x // 16 + y // 16) % 2)[..., None] * 12
    return np.clip(image + grain + checker, 0, 255).astype(np.uint8)


def _shape_points(kind: str, cx: float, cy: float, size: float, angle: float) -> np.ndarray:
    if kind == "triangle":
        corners = [angle + k * 2 * math.pi / 3 for k in range(3)]
    elif kind == "square":
        corners = [angle + math.pi / 4 + k * math.pi / 2 for k in range(4)]
    else:  # a many-sided polygon stands in for a circle
        corners = [k * 2 * math.pi / 32 for k in range(32)]
    return np.array([[cx + size * math.cos(a), cy + size * math.sin(a)] for a in corners], dtype=np.int32)


def scene(
    width: int = 320,
    height: int = 180,
    frames: int = 72,
    *,
    objects: int = 3,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(frame, labels)`` pairs: H x W x 3 uint8 RGB and H x W int64 object ids.

    Up to five shapes (a disc, a square, a triangle, ...) move along smooth paths, turn, and pass
    over each other; later ids are drawn on top. Shapes are drawn without anti-aliasing so the
    label maps match the pictures exactly.
    """
    base = background(width, height, seed)
    kinds = ["circle", "square", "triangle", "square", "circle"][:max(0, min(objects, 5))]
    colours = [(230, 60, 50), (40, 110, 230), (250, 210, 40), (60, 200, 90), (200, 80, 220)]
    rs = np.random.RandomState(seed + 1)
    params = [(rs.uniform(0.2, 0.8), rs.uniform(0.25, 0.75), rs.uniform(0.6, 1.4), rs.uniform(0, 2 * math.pi))
              for _ in kinds]
    scale = min(width, height)
    for t in range(frames):
        frame = base.copy()
        labels = np.zeros((height, width), dtype=np.int64)
        s = t / max(frames - 1, 1)
        for index, (kind, (px, py, speed, phase)) in enumerate(zip(kinds, params)):
            cx = width * (px + 0.25 * math.sin(2 * math.pi * speed * s + phase))
            cy = height * (py + 0.2 * math.cos(2 * math.pi * speed * s * 0.7 + phase))
            size = scale * (0.12 + 0.03 * math.sin(2 * math.pi * s + index))
            points = _shape_points(kind, cx, cy, size, phase + 2 * math.pi * s * speed)
            region = np.zeros((height, width), dtype=np.uint8)
            cv2.fillPoly(region, [points], 1, lineType=cv2.LINE_8)
            inside = region.astype(bool)
            stripes = ((np.arange(width)[None, :] + np.arange(height)[:, None] + t) // 6 % 2) * 30
            shade = np.clip(np.array(colours[index], dtype=np.int32)[None, None, :] - stripes[..., None], 0, 255)
            frame[inside] = shade[inside].astype(np.uint8)
            labels[inside] = index + 1
        yield frame, labels


def write_clip(
    path: str | os.PathLike[str],
    frames: Sequence[np.ndarray | av.VideoFrame],
    *,
    fps: int = 24,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    format: str | None = None,
    audio_seconds: float | None = None,
    audio_codec: str = "aac",
    sample_rate: int = 44100,
    audio_options: dict[str, str] | None = None,
    rotation: int = 0,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
    colour: Colour | None = None,
) -> None:
    """Encode RGB frames (H x W x 3 uint8), or video frames made elsewhere (e.g. 10-bit YUV
    planes), into a video file with PyAV.

    ``pts`` (in ``time_base``, default ``1/fps``) gives variable frame rate timestamps;
    ``audio_seconds`` adds a stereo tone of that length in ``audio_codec`` (encoder options in
    ``audio_options``, e.g. ``{"strict": "experimental"}`` for FFmpeg's Vorbis encoder);
    ``rotation`` stores a counter-clockwise display rotation. ``colour`` tags the video (as
    cameras do: e.g. BT.709, limited range) and converts the frames with its matrix and levels;
    without it the video is untagged (FFmpeg's BT.601 conversion).
    """
    time_base = time_base or Fraction(1, fps)
    stamps = list(pts) if pts is not None else [round(i / fps / time_base) for i in range(len(frames))]
    first = frames[0]
    height, width = (first.height, first.width) if isinstance(first, av.VideoFrame) else \
        first.shape[:2]
    codec_options = {"preset": "veryfast", "crf": "20"} if codec == "libx264" else {}
    codec_options.update(options or {})
    with av.open(os.fspath(path), mode="w", format=format, options=container_options or {}) as out:
        video = out.add_stream(codec, rate=fps, options=codec_options)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = time_base
        video.time_base = time_base
        if rotation:
            video.set_display_rotation(rotation)
        tags = None if colour is None else tag_encoder(video.codec_context, colour, pix_fmt)
        audio = None
        if audio_seconds:
            audio = out.add_stream(audio_codec, rate=sample_rate, options=dict(audio_options or {}))
            audio.layout = "stereo"
        for image, stamp in zip(frames, stamps):
            if not isinstance(image, av.VideoFrame):
                image = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame = to_encoder(image, pix_fmt, tags)
            frame.pts = int(stamp)
            frame.time_base = time_base
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            total = int(audio_seconds * sample_rate)
            chunk = 1024
            for start in range(0, total, chunk):
                n = min(chunk, total - start)
                t = (start + np.arange(n)) / sample_rate
                tone = (0.2 * np.sin(2 * math.pi * 440 * t)).astype(np.float32)
                samples = np.stack([tone, tone])
                audio_frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
                audio_frame.sample_rate = sample_rate
                audio_frame.pts = start
                audio_frame.time_base = Fraction(1, sample_rate)
                out.mux(audio.encode(audio_frame))
            out.mux(audio.encode(None))
