"""Masks as image editors (GIMP, Krita) export them, written here with Pillow: what reads, and
the message for each thing that goes wrong (anti-aliased edges, a flattened image)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aotvideo.errors import MaskError
from aotvideo.io import read_mask

SIZE = (96, 64)
RED, GREEN = (220, 30, 30), (30, 200, 60)


def paint(mode: str = "RGBA", scale: int = 1, background: tuple[int, ...] = (0, 0, 0, 0)) -> Image.Image:
    """Two objects in flat colours (red ellipse = id 2, green rectangle = id 1 by RGB order)."""
    width, height = SIZE
    image = Image.new(mode, (width * scale, height * scale), background)
    draw = ImageDraw.Draw(image)
    alpha = (255,) if mode == "RGBA" else ()
    draw.ellipse([8 * scale, 8 * scale, 40 * scale, 56 * scale], fill=RED + alpha)
    draw.rectangle([52 * scale, 12 * scale, 88 * scale, 50 * scale], fill=GREEN + alpha)
    return image


def expected() -> np.ndarray:
    rgb = np.asarray(paint("RGB", background=(0, 0, 0)))
    labels = np.zeros(rgb.shape[:2], dtype=np.int64)
    labels[(rgb == GREEN).all(axis=-1)] = 1
    labels[(rgb == RED).all(axis=-1)] = 2
    return labels


def test_rgba_layer_with_transparency(tmp_path: Path) -> None:
    pixels = np.array(paint())
    pixels[0, :, :3] = 77  # colour kept under fully transparent pixels
    pixels[30, 45] = (*RED, 40)  # a faint stroke: mostly transparent is background
    Image.fromarray(pixels, "RGBA").save(tmp_path / "layer.png")
    np.testing.assert_array_equal(read_mask(tmp_path / "layer.png"), expected())


def test_palette_png(tmp_path: Path) -> None:
    image = Image.new("P", SIZE, 0)
    image.putpalette([0, 0, 0, *GREEN, *RED, 255, 255, 255] + [0] * (252 * 3))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 95, 5], fill=3)  # index 3: the transparent colour
    draw.ellipse([8, 8, 40, 56], fill=2)
    draw.rectangle([52, 12, 88, 50], fill=1)
    image.save(tmp_path / "palette.png", transparency=3)
    np.testing.assert_array_equal(read_mask(tmp_path / "palette.png"), expected())


def test_antialiased_brush_edges(tmp_path: Path) -> None:
    supersampled = paint("RGB", scale=4, background=(0, 0, 0))
    supersampled.resize(SIZE, Image.LANCZOS).save(tmp_path / "soft.png")
    with pytest.raises(MaskError, match="anti-aliasing.*Pencil.*--objects.* #1ec83c is 1, #dc1e1e is 2$"):
        read_mask(tmp_path / "soft.png")
    labels = read_mask(tmp_path / "soft.png", objects=[1, 2])  # each edge colour joins the nearest flat one
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (labels == expected()).mean() > 0.97


def test_layer_flattened_onto_white(tmp_path: Path) -> None:
    layer = paint()
    flattened = Image.new("RGB", SIZE, (255, 255, 255))
    flattened.paste(layer, mask=layer.getchannel("A"))
    flattened.save(tmp_path / "flat.png")
    with pytest.raises(MaskError, match="no background.*#ffffff.*flattened.*with alpha"):
        read_mask(tmp_path / "flat.png")
