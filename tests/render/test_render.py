"""overlay (RGB and YUV 4:2:0) / matte / with_alpha: colours, outlines, soft and hard mattes,
alpha composition."""
from __future__ import annotations

import av
import cv2
import numpy as np
import pytest
import torch

from aotvideo.io.testclips import scene as moving_scene
from aotvideo.io.yuv import Yuv420Image, rgb_to_yuv
from aotvideo.render import matte, object_colour, overlay, overlay_yuv420, with_alpha


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray]:
    frame = np.full((40, 60, 3), 100, np.uint8)
    labels = np.zeros((40, 60), np.int64)
    labels[5:25, 5:25] = 1
    labels[20:35, 30:55] = 7
    return frame, labels


def test_overlay_fills_and_outlines_each_object(scene) -> None:
    frame, labels = scene
    out = overlay(frame, labels, (1, 7))
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert out is not frame and (frame == 100).all()  # input untouched
    np.testing.assert_array_equal(out[labels == 0], frame[labels == 0])
    red = np.array(object_colour(1))
    inside = out[12, 12].astype(int)
    np.testing.assert_allclose(inside, (100 + red) / 2, atol=1)
    np.testing.assert_array_equal(out[5, 12], red)  # outline pixel: solid colour
    assert not np.array_equal(out[27, 40], out[12, 12])  # objects get different colours


def test_overlay_draws_only_the_ids_asked_for(scene) -> None:
    frame, labels = scene
    out = overlay(frame, labels, [7])
    np.testing.assert_array_equal(out[labels == 1], frame[labels == 1])
    assert (out[labels == 7] != 100).any()
    np.testing.assert_array_equal(overlay(frame, labels), overlay(frame, labels, (1, 7)))
    np.testing.assert_array_equal(overlay(frame, np.zeros_like(labels), ()), frame)


def test_overlay_takes_torch_tensors(scene) -> None:
    frame, labels = scene
    np.testing.assert_array_equal(overlay(frame, torch.from_numpy(labels), (1, 7)), overlay(frame, labels, (1, 7)))


def test_overlay_checks_shapes(scene) -> None:
    frame, labels = scene
    with pytest.raises(ValueError):
        overlay(frame, labels[:10], (1,))
    with pytest.raises(ValueError):
        overlay(frame[..., 0], labels, (1,))


def test_hard_matte(scene) -> None:
    _, labels = scene
    m = matte(labels)
    assert m.dtype == np.uint8 and m.shape == labels.shape
    np.testing.assert_array_equal(m, np.where(labels > 0, 255, 0))
    np.testing.assert_array_equal(matte(labels, [7]), np.where(labels == 7, 255, 0))


def test_soft_matte_from_probabilities(scene) -> None:
    _, labels = scene
    probs = np.zeros((3,) + labels.shape, np.float32)
    probs[0] = 0.5
    probs[1] = 0.2
    probs[2] = 0.3
    assert (matte(labels, None, probs, soft=True) == 128).all()  # 1 - background
    assert (matte(labels, [7], probs, soft=True, prob_ids=[1, 7]) == 76).all()  # 0.3 * 255
    assert (matte(labels, [1, 7], torch.from_numpy(probs), soft=True) == 128).all()
    with pytest.raises(ValueError, match="prob_ids"):
        matte(labels, [7], probs, soft=True)
    with pytest.raises(ValueError):
        matte(labels, None, None, soft=True)


def test_with_alpha(scene) -> None:
    frame, labels = scene
    rgba = with_alpha(frame, matte(labels))
    assert rgba.shape == (40, 60, 4)
    np.testing.assert_array_equal(rgba[..., :3], frame)
    np.testing.assert_array_equal(rgba[..., 3], matte(labels))
    with pytest.raises(ValueError):
        with_alpha(frame, matte(labels)[:5])


def _overlay_one_object_at_a_time(frame: np.ndarray, labels: np.ndarray, ids: list[int],
                                  opacity: float = 0.5, width: int = 2) -> np.ndarray:
    """The plain definition: per object, blend its whole region, then erode the whole frame."""
    out = frame.copy()
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * width + 1, 2 * width + 1))
    for object_id in ids:
        region = labels == object_id
        if not region.any():
            continue
        colour = np.array(object_colour(object_id), dtype=np.float32)
        pixels = out[region].astype(np.float32)
        out[region] = np.clip(pixels * (1 - opacity) + colour * opacity + 0.5, 0, 255
                              ).astype(np.uint8)
        solid = region.astype(np.uint8)
        inner = cv2.erode(solid, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        out[solid.astype(bool) & ~inner.astype(bool)] = colour.astype(np.uint8)
    return out


@pytest.mark.parametrize("seed", range(4))
def test_overlay_equals_the_per_object_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (90, 130, 3), dtype=np.uint8)
    drawing = np.zeros((90, 130), dtype=np.int32)  # OpenCV draws into int32, not int64
    ids = [1, 2, 7, 300]  # 300: the palette wraps
    for object_id in ids:  # blobs, some touching the frame border, overlapping in paint order
        cy, cx = rng.integers(0, 90), rng.integers(0, 130)
        cv2.ellipse(drawing, (int(cx), int(cy)), (int(rng.integers(5, 40)), int(rng.integers(5, 30))),
                    float(rng.uniform(0, 180)), 0, 360, object_id, -1)
    labels = drawing.astype(np.int64)
    labels[rng.random((90, 130)) < 0.01] = 7  # specks
    for width, opacity, drawn in ((2, 0.5, ids), (1, 0.3, [2, 300]), (4, 0.8, [7])):
        expected = _overlay_one_object_at_a_time(frame, labels, drawn, opacity, width)
        np.testing.assert_array_equal(overlay(frame, labels, drawn, opacity=opacity,
                                              outline=width), expected)


def _planes_of(rgb: np.ndarray) -> Yuv420Image:
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    return Yuv420Image(frame.reformat(format="yuv420p").to_ndarray())


def test_overlay_on_yuv_planes_looks_like_the_rgb_overlay_converted() -> None:
    """Drawn on the encoder's planes vs drawn in RGB and then converted as the encoder would."""
    image, labels = next(iter(moving_scene(192, 128, 1, objects=3, seed=2)))
    planes = _planes_of(image)
    before = planes.data.copy()
    drawn = overlay_yuv420(planes, labels, (1, 2, 3))
    np.testing.assert_array_equal(planes.data, before)  # input untouched
    converted = _planes_of(overlay(planes.to_rgb(), labels, (1, 2, 3)))
    rows = planes.height

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        error = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
        return float(10 * np.log10(255.0 ** 2 / max(error, 1e-12)))

    # the RGB route itself loses ~1 level per conversion; the two drawings agree above 40 dB
    assert psnr(drawn.data[:rows], converted.data[:rows]) > 40.0
    assert psnr(drawn.data[rows:], converted.data[rows:]) > 38.0
    # away from the objects (and their chroma blocks) the planes are the input's, bit for bit
    far = cv2.dilate((labels > 0).astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    np.testing.assert_array_equal(drawn.y[far], planes.y[far])
    far_chroma = far[::2, ::2] & far[1::2, 1::2]
    np.testing.assert_array_equal(drawn.u[far_chroma], planes.u[far_chroma])
    np.testing.assert_array_equal(drawn.v[far_chroma], planes.v[far_chroma])


def test_overlay_on_yuv_planes_in_place_draws_the_same_on_the_input() -> None:
    image, labels = next(iter(moving_scene(192, 128, 1, objects=3, seed=4)))
    planes = _planes_of(image)
    copied = overlay_yuv420(planes, labels, (1, 2, 3))
    assert copied is not planes
    drawn = overlay_yuv420(planes, labels, (1, 2, 3), in_place=True)
    assert drawn is planes
    np.testing.assert_array_equal(planes.data, copied.data)


def test_overlay_on_yuv_planes_fills_with_the_objects_colour(scene) -> None:
    frame, labels = scene
    planes = _planes_of(frame)
    drawn = overlay_yuv420(planes, labels, (1, 7), outline=0)
    y, u, v = rgb_to_yuv(object_colour(1), planes)
    assert abs(int(drawn.y[12, 12]) - (int(planes.y[12, 12]) + y) / 2) <= 1
    assert abs(int(drawn.u[6, 6]) - (int(planes.u[6, 6]) + u) / 2) <= 1
    assert abs(int(drawn.v[6, 6]) - (int(planes.v[6, 6]) + v) / 2) <= 1
    outlined = overlay_yuv420(planes, labels, (1,))
    assert abs(int(outlined.y[5, 12]) - y) <= 1  # outline pixel: the solid colour
    with pytest.raises(ValueError, match="do not match"):
        overlay_yuv420(planes, labels[:-2], (1,))


def test_overlays_on_hdr_video_draw_at_graphics_white(scene) -> None:
    """``white`` scales the colours' code values (HDR video's graphics white, so an overlay
    does not glare), on RGB and on YUV planes alike; the picture around is untouched."""
    frame, labels = scene
    red = np.array(object_colour(1), np.float64)
    out = overlay(frame, labels, (1, 7), white=0.75)
    np.testing.assert_array_equal(out[5, 12], np.round(red * 0.75))  # outline
    np.testing.assert_allclose(out[12, 12], (100 + red * 0.75) / 2, atol=1)  # fill
    np.testing.assert_array_equal(out[labels == 0], frame[labels == 0])
    planes = Yuv420Image.from_planes(np.full((40, 60), 100, np.uint8),
                                     np.full((20, 30), 128, np.uint8),
                                     np.full((20, 30), 128, np.uint8), colorspace=9,
                                     color_range=1)
    drawn = overlay_yuv420(planes, labels, (1, 7), white=0.75)
    luma, _, _ = rgb_to_yuv(tuple(red * 0.75), planes)
    assert drawn.y[5, 12] == round(luma)
    assert drawn.y[5, 12] < round(rgb_to_yuv(tuple(red), planes)[0])  # dimmer than SDR's
