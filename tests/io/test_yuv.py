"""Yuv420Image: the decoder's planes, their RGB, the network input made from them, colours."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from io_helpers import assert_same_but_for_chroma_siting, decode_all

from aotvideo.io.colour import rgb_of
from aotvideo.io.yuv import (DecodedYuvaImage, Yuv420Image, Yuva420Image, rgb_to_yuv,
                             richer_than_420)

COLOURS = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (30, 140, 200),
           (250, 200, 10)]


def _flat(colour: tuple[int, int, int], colorspace: int = 2, color_range: int = 0,
          size: tuple[int, int] = (8, 12)) -> Yuv420Image:
    """A picture of one colour, its planes made with :func:`rgb_to_yuv`."""
    probe = Yuv420Image(np.zeros((3, 2), np.uint8), colorspace, color_range)
    y, u, v = (int(round(c)) for c in rgb_to_yuv(colour, probe))
    h, w = size
    planes = [np.full((h, w), y, np.uint8), np.full((h // 2, w // 2), u, np.uint8),
              np.full((h // 2, w // 2), v, np.uint8)]
    return Yuv420Image.from_planes(*planes, colorspace=colorspace, color_range=color_range)


def test_planes_of_a_decoded_frame_give_the_decoded_frames_rgb(make_clip) -> None:
    """The RGB of the planes is the decoded frame's (:func:`~aotvideo.io.colour.rgb_of`) but for
    chroma siting, which the decoder's frame knows and a frame made of the planes does not."""
    frames = decode_all(make_clip())
    for frame in frames[:3]:
        image = Yuv420Image.from_video_frame(frame)
        assert image is not None and image.shape == (frame.height, frame.width, 3)
        assert_same_but_for_chroma_siting(image.to_rgb(), rgb_of(frame))
        planes = frame.to_ndarray(format="yuv420p")
        np.testing.assert_array_equal(image.y, planes[:frame.height])


def test_only_even_8bit_420_frames_are_kept_as_planes(tmp_path: Path, clip) -> None:
    rgb = av.VideoFrame.from_ndarray(clip[0][0], format="rgb24")
    assert Yuv420Image.from_video_frame(rgb) is None
    assert Yuv420Image.from_video_frame(rgb.reformat(format="yuv444p")) is None
    odd = av.VideoFrame.from_ndarray(np.zeros((31, 40, 3), np.uint8), format="rgb24")
    assert Yuv420Image.from_video_frame(odd.reformat(format="yuv420p")) is None
    jpeg = Yuv420Image.from_video_frame(rgb.reformat(format="yuvj420p"))
    assert jpeg is not None and jpeg.full_range
    with pytest.raises(ValueError, match="I420"):
        Yuv420Image(np.zeros((10, 8), np.uint8))


@pytest.mark.parametrize("colorspace,color_range", [(2, 0), (1, 0), (9, 0), (2, 2)],
                         ids=["bt601", "bt709", "bt2020", "bt601-full"])
def test_network_input_gives_back_the_colour_in_each_matrix_and_range(colorspace, color_range) -> None:
    for colour in COLOURS:
        image = _flat(colour, colorspace, color_range)
        made = image.network_input((5, 7))
        assert made.shape == (5, 7, 3) and made.dtype == np.float32
        # 8-bit planes round each component: within 2 of 255 after the matrix
        np.testing.assert_allclose(made.reshape(-1, 3), np.tile(colour, (35, 1)), atol=2.0)


def test_network_input_matches_the_rgb_route(make_clip) -> None:
    """Resize-then-convert against the tracker's convert-then-resize (float32 bicubic)."""
    frame = decode_all(make_clip())[4]
    image = Yuv420Image.from_video_frame(frame)
    rgb = rgb_of(frame).astype(np.float32)
    for size in ((33, 49), (64, 96), (97, 145)):
        expected = cv2.resize(rgb, size[::-1], interpolation=cv2.INTER_CUBIC)
        difference = image.network_input(size) - expected
        # chroma is upsampled another way at the shapes' sharp colour edges
        assert np.abs(difference).mean() < 3.0, size
        assert np.all(np.abs(difference.mean(axis=(0, 1))) < 0.5), size


def test_rgb_to_yuv_matches_ffmpeg(clip) -> None:
    colours = np.array(COLOURS, np.uint8)
    picture = np.repeat(np.repeat(colours[None], 16, axis=0), 16, axis=1)  # 16 x 112 blocks
    converted = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture),
                                           format="rgb24").reformat(format="yuv420p").to_ndarray()
    image = Yuv420Image(converted)
    for i, colour in enumerate(COLOURS):
        y, u, v = rgb_to_yuv(colour, image)
        block = slice(16 * i + 4, 16 * i + 12)
        assert abs(float(image.y[8, block].mean()) - y) <= 1.0
        assert abs(float(image.u[4, slice(8 * i + 2, 8 * i + 6)].mean()) - u) <= 1.0
        assert abs(float(image.v[4, slice(8 * i + 2, 8 * i + 6)].mean()) - v) <= 1.0


def test_turning_turns_every_plane() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 256, (8, 12), dtype=np.uint8)
    u = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    v = rng.integers(0, 256, (4, 6), dtype=np.uint8)
    image = Yuv420Image.from_planes(y, u, v, colorspace=1)
    turned = image.rot90(1)
    assert turned.shape == (12, 8, 3) and turned.colorspace == 1
    for got, plane in zip((turned.y, turned.u, turned.v), (y, u, v)):
        np.testing.assert_array_equal(got, np.rot90(plane))
    np.testing.assert_array_equal(image.rot90(2).rot90(2).data, image.data)
    assert image.rot90(4) is image


def test_video_frame_shares_the_buffer_and_keeps_the_colour_tags() -> None:
    image = _flat((30, 140, 200), colorspace=1, color_range=2)
    frame = image.to_video_frame()
    assert frame.format.name == "yuv420p" and (frame.width, frame.height) == (12, 8)
    assert int(frame.colorspace) == 1 and int(frame.color_range) == 2
    np.testing.assert_array_equal(frame.to_ndarray(format="yuv420p"), image.data)
    copy = image.copy()
    copy.data[0, 0] ^= 0xFF
    assert copy.data[0, 0] != image.data[0, 0]


def test_planes_with_alpha_keep_their_values() -> None:
    """An alpha output's picture made on the planes: a ``yuva420p`` frame holding the same
    values (rows padded in the frame: 20 pixels wide), turned like the planes, RGBA on demand."""
    rng = np.random.default_rng(1)
    y = rng.integers(16, 236, (8, 20), dtype=np.uint8)
    u, v = (rng.integers(16, 241, (4, 10), dtype=np.uint8) for _ in range(2))
    alpha = rng.integers(0, 256, (8, 20), dtype=np.uint8)
    picture = Yuv420Image.from_planes(y, u, v, colorspace=1, color_range=1)
    both = picture.with_alpha(alpha)
    assert isinstance(both, Yuva420Image) and both.shape == (8, 20, 4)
    frame = both.to_video_frame()
    assert frame.format.name == "yuva420p" and (frame.width, frame.height) == (20, 8)
    assert int(frame.colorspace) == 1 and int(frame.color_range) == 1
    for plane, expected in zip(frame.planes, (y, u, v, alpha)):
        rows, cols = expected.shape
        stored = np.frombuffer(plane, np.uint8).reshape(rows, plane.line_size)[:, :cols]
        np.testing.assert_array_equal(stored, expected)
    turned = both.rot90(1)
    np.testing.assert_array_equal(turned.picture.y, np.rot90(y))
    np.testing.assert_array_equal(turned.alpha, np.rot90(alpha))
    assert both.rot90(4) is both
    rgba = both.to_rgba()
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    np.testing.assert_array_equal(rgba[..., :3], picture.to_rgb())
    with pytest.raises(ValueError, match="alpha plane"):
        picture.with_alpha(alpha[:, :10])


def test_a_decoded_frame_with_alpha_keeps_its_codes() -> None:
    """A 10-bit 4:2:2 frame with an alpha plane becomes ``yuva444p16le`` holding the same luma
    codes (widened: code << 6 and up), its chroma resampled, its alpha 0..65535; turned, every
    plane turns alike."""
    frame = av.VideoFrame(20, 8, "yuv422p10le")
    frame.colorspace, frame.color_range = 1, 1
    rng = np.random.default_rng(2)
    luma = rng.integers(64, 941, (8, 20), dtype=np.uint16)
    chroma = np.full((8, 10), 600, np.uint16)
    for plane, values in zip(frame.planes, (luma, chroma, chroma)):
        np.frombuffer(plane, np.uint16).reshape(8, -1)[:, :values.shape[1]] = values
    alpha = np.zeros((8, 20), np.uint8)
    alpha[2:6, 5:15] = 255
    image = DecodedYuvaImage(frame, alpha)
    assert image.shape == (8, 20, 4) and richer_than_420(frame)
    out = image.to_video_frame()
    assert out.format.name == "yuva444p16le" and int(out.colorspace) == 1
    assert int(out.color_range) == 1
    y, u, _, a = (np.frombuffer(p, np.uint16).reshape(8, -1)[:, :20] for p in out.planes)
    np.testing.assert_array_equal(y >> 6, luma)
    np.testing.assert_array_equal(u >> 6, 600)
    np.testing.assert_array_equal(a, alpha.astype(np.uint16) * 257)
    np.testing.assert_array_equal(image.to_rgba()[..., 3], alpha)
    turned = DecodedYuvaImage(frame, np.ascontiguousarray(np.rot90(alpha)), 1)
    assert turned.shape == (20, 8, 4)
    out = turned.to_video_frame()
    y = np.frombuffer(out.planes[0], np.uint16).reshape(20, -1)[:, :8]
    np.testing.assert_array_equal(y >> 6, np.rot90(luma))
    with pytest.raises(ValueError, match="alpha plane"):
        DecodedYuvaImage(frame, alpha, 1)  # the alpha must be turned too
    assert not richer_than_420(av.VideoFrame(20, 8, "yuv420p"))
    assert richer_than_420(av.VideoFrame(20, 8, "yuv422p"))


@pytest.mark.parametrize("color_range,code,level", [(1, 400, 100), (2, 1020, 255)])
def test_other_yuv_frames_become_420_planes_when_asked(color_range: int, code: int,
                                                       level: int) -> None:
    """A 10-bit 4:2:2 frame is not 8-bit 4:2:0: no planes unless converting, and converted it
    keeps its matrix and levels (full range is not squeezed into 16-235)."""
    frame = av.VideoFrame(20, 8, "yuv422p10le")
    frame.colorspace, frame.color_range = 1, color_range
    for plane, value in zip(frame.planes, (code, 512, 600)):
        np.frombuffer(plane, np.uint16)[:] = value
    assert Yuv420Image.from_video_frame(frame) is None
    image = Yuv420Image.from_video_frame(frame, convert=True)
    assert image is not None and image.shape == (8, 20, 3)
    assert image.colorspace == 1 and image.full_range == (color_range == 2)
    for plane, value in ((image.y, level), (image.u, 128), (image.v, 150)):  # dithered
        assert np.abs(plane.astype(int) - value).max() <= 1 and abs(plane.mean() - value) < 0.2
    rgb = av.VideoFrame(20, 8, "rgb24")
    assert Yuv420Image.from_video_frame(rgb, convert=True) is None
