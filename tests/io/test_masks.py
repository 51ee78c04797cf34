"""Mask images in (palette, grayscale, colour) and out (DAVIS palette PNG)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from aotvideo.errors import MaskError
from aotvideo.io.masks import (davis_palette, encode_png, label_areas, mask_ids, parse_mask_entry,
                               read_mask, select_objects, write_palette_png)


def _labels() -> np.ndarray:
    labels = np.zeros((12, 16), dtype=np.int64)
    labels[1:5, 2:7] = 1
    labels[6:11, 8:15] = 2
    labels[0:3, 12:16] = 5
    return labels


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_davis_palette_matches_the_dataset_colours() -> None:
    palette = davis_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert palette[:6].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0],
                                    [0, 0, 128], [128, 0, 128]]
    assert len({tuple(c) for c in palette.tolist()}) == 256


def test_palette_png_round_trip(tmp_path: Path) -> None:
    labels = _labels()
    path = tmp_path / "m.png"
    write_palette_png(path, labels)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(read_mask(path), labels)
    frame = next(av.open(str(path)).decode(video=0))
    assert frame.format.name == "pal8"


def test_palette_png_is_a_davis_style_png_for_pillow(tmp_path: Path) -> None:
    image_module = pytest.importorskip(
        "PIL.Image", reason="Pillow is not installed: this test reads the PNG back with Pillow")
    labels = _labels()
    write_palette_png(tmp_path / "m.png", labels)
    image = image_module.open(tmp_path / "m.png")
    assert image.mode == "P"
    np.testing.assert_array_equal(np.array(image), labels)
    assert image.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]


def test_palette_png_rejects_ids_over_255(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_palette_png(tmp_path / "m.png", np.full((4, 4), 300))


def test_binary_masks_are_object_one(tmp_path: Path) -> None:
    labels = _labels()
    for value in (255, 1):
        path = _write(tmp_path / f"b{value}.png", encode_png(((labels > 0) * value).astype(np.uint8)))
        np.testing.assert_array_equal(read_mask(path), (labels > 0).astype(np.int64))


def test_grayscale_levels_are_ids(tmp_path: Path) -> None:
    labels = _labels()
    path = _write(tmp_path / "g.png", encode_png(labels.astype(np.uint8)))
    np.testing.assert_array_equal(read_mask(path), labels)


def test_soft_grayscale_mask_is_thresholded(tmp_path: Path) -> None:
    ramp = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # 64 levels
    path = _write(tmp_path / "soft.png", encode_png(ramp))
    got = read_mask(path)
    assert set(np.unique(got).tolist()) == {0, 1}
    np.testing.assert_array_equal(got, (ramp.astype(int) * 2 > 252).astype(np.int64))


def test_sixteen_bit_grayscale(tmp_path: Path) -> None:
    labels = _labels()
    frame = av.VideoFrame.from_ndarray((labels * 1000).astype(np.uint16), format="gray16le")
    context = av.CodecContext.create("png", "w")
    context.width, context.height, context.pix_fmt = 16, 12, "gray16be"
    context.time_base = Fraction(1, 1)
    data = b"".join(bytes(p) for p in list(context.encode(frame)) + list(context.encode(None)))
    got = read_mask(_write(tmp_path / "g16.png", data))
    np.testing.assert_array_equal(got, labels * 1000)


def test_colour_mask_keeps_davis_ids(tmp_path: Path) -> None:
    labels = _labels()
    rgb = davis_palette()[labels]
    path = _write(tmp_path / "c.png", encode_png(rgb))
    np.testing.assert_array_equal(read_mask(path), labels)


def test_colour_mask_with_other_colours_numbers_them(tmp_path: Path) -> None:
    labels = _labels()
    colours = np.array([[0, 0, 0], [250, 10, 10], [10, 250, 10], [0, 0, 0], [0, 0, 0], [10, 10, 250]],
                       dtype=np.uint8)
    path = _write(tmp_path / "c.png", encode_png(colours[labels]))
    got = read_mask(path)
    # ids 1..3 in ascending order of the packed RGB value
    order = sorted([(10, 10, 250), (10, 250, 10), (250, 10, 10)])
    expected = np.zeros_like(labels)
    for new_id, colour in enumerate(order, start=1):
        expected[np.all(colours[labels] == colour, axis=-1)] = new_id
    np.testing.assert_array_equal(got, expected)


def test_rgba_transparent_pixels_are_background(tmp_path: Path) -> None:
    labels = _labels()
    rgba = np.zeros(labels.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = 200  # the same colour everywhere ...
    rgba[..., 3] = np.where(labels == 2, 255, 0)  # ... visible only on object 2
    rgba[labels == 2, 0] = 20
    got = read_mask(_write(tmp_path / "a.png", encode_png(rgba)))
    np.testing.assert_array_equal(got, (labels == 2).astype(np.int64))


def test_too_many_colours_is_a_clear_error(tmp_path: Path) -> None:
    rs = np.random.RandomState(0)
    noisy = rs.randint(0, 255, size=(32, 32, 3), dtype=np.uint8)
    with pytest.raises(MaskError, match="colours"):
        read_mask(_write(tmp_path / "n.png", encode_png(noisy)))


def test_unreadable_masks(tmp_path: Path) -> None:
    with pytest.raises(MaskError, match="not found"):
        read_mask(tmp_path / "missing.png")
    with pytest.raises(MaskError, match="cannot read"):
        read_mask(_write(tmp_path / "junk.png", b"this is not an image at all" * 10))


def test_ids_and_selection() -> None:
    labels = _labels()
    assert mask_ids(labels) == (1, 2, 5)
    kept = select_objects(labels, [2, 5])
    assert mask_ids(kept) == (2, 5)
    assert (kept[labels == 1] == 0).all()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_label_areas_count_every_object_whatever_the_type(dtype: type) -> None:
    rng = np.random.default_rng(3)
    labels = rng.choice([0, 0, 3, 7, 200], size=(37, 53)).astype(dtype)
    if np.iinfo(dtype).max > 255:
        labels[0, :4] = 300  # past uint8
    expected = {int(v): int((labels == v).sum()) for v in np.unique(labels) if v != 0}
    assert label_areas(labels) == expected
    assert mask_ids(labels) == tuple(sorted(expected))
    assert label_areas(np.zeros((4, 4), dtype)) == {}
    # the tracker's ids given: counted one by one, absent ones left out as before
    tracked = [3, 7, 200, 9] + ([300] if np.iinfo(dtype).max > 255 else [])
    assert label_areas(labels, tracked) == expected
    assert label_areas(labels, range(1, 301)) == expected  # many ids: the histogram


@pytest.mark.parametrize("text,entry", [
    ("first.png", (0, "first.png")),
    ("120:fix.png", (120, "fix.png")),
    (" 12 : with space.png ", (12, "with space.png")),
    ("C:/masks/a.png", (0, "C:/masks/a.png")),  # a drive letter is not a frame
    ("x12:a.png", (0, "x12:a.png")),
])
def test_mask_entries_name_a_frame_and_a_file(text: str, entry: tuple[int, str]) -> None:
    assert parse_mask_entry(text) == entry


@pytest.mark.parametrize("text", ["12:", "  ", "3:  "])
def test_a_mask_entry_without_a_file_is_a_mask_error(text: str) -> None:
    with pytest.raises(MaskError, match="names no file"):
        parse_mask_entry(text)
