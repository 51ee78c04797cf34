"""`aotvideo frame`: the frame as shown (rotation applied, exact size), and the editor round trip:
paint a layer on the exported frame, export it, and use it as the mask of that video."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from io_helpers import COUNT, HEIGHT, WIDTH
from PIL import Image, ImageDraw

from aotvideo.cli import main
from aotvideo.errors import MaskError, PositionError
from aotvideo.io import VideoReader, read_mask
from aotvideo.io.frame_export import FramePosition, grab_frame, parse_position
from aotvideo.pipeline import check_masks


@pytest.mark.parametrize("text,expected", [
    ("42", FramePosition(index=42)),
    ("2.5s", FramePosition(seconds=Fraction(5, 2))),
    (" .5 sec ", FramePosition(seconds=Fraction(1, 2))),
    ("1:02.5", FramePosition(seconds=Fraction(125, 2))),
    ("0:01:02.5", FramePosition(seconds=Fraction(125, 2))),
])
def test_positions_are_indices_or_times(text: str, expected: FramePosition) -> None:
    assert parse_position(text) == expected


@pytest.mark.parametrize("text", ["abc", "-1", "2.5x", "1:2:3:4", ""])
def test_bad_positions_say_what_is_expected(text: str) -> None:
    with pytest.raises(PositionError, match="frame index .* or a time"):
        parse_position(text)


@pytest.fixture
def rotated(make_clip) -> Path:
    """The I/O clip (96x64 stored, 12 frames at 24 fps) with a 90 degree display rotation."""
    return make_clip("rot.mp4", rotation=90)


def test_the_frame_comes_out_as_shown(rotated: Path, tmp_path: Path) -> None:
    with VideoReader(str(rotated)) as reader:
        stored = [frame.image for frame in reader.frames()]
    exported = grab_frame(rotated, parse_position("0.25s"))  # 0.25 s at 24 fps: frame 6
    assert (exported.index, exported.time, exported.rotation) == (6, 0.25, 90)
    assert exported.size == (HEIGHT, WIDTH) and exported.stored_size == (WIDTH, HEIGHT)
    np.testing.assert_array_equal(exported.image, np.rot90(stored[6]))

    out = tmp_path / "frame.png"
    result = CliRunner().invoke(main, ["frame", str(rotated), "--at", "6", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote frame 6 (t=0.250s)" in result.stderr and "64x96 as shown" in result.stderr
    assert "--mask 6:PAINTED.png" in result.stderr
    with Image.open(out) as image:
        assert (image.size, image.mode) == ((HEIGHT, WIDTH), "RGB")
        np.testing.assert_array_equal(np.asarray(image), exported.image)

    for late, words in (("12", f"has {COUNT} frames"), ("0.5s", "ends at 0.500s")):
        result = CliRunner().invoke(main, ["frame", str(rotated), "--at", late, "-o", str(out)])
        assert result.exit_code == 2 and words in result.stderr


def test_a_layer_painted_on_the_exported_frame_is_a_mask(rotated: Path, tmp_path: Path) -> None:
    exported = grab_frame(rotated, FramePosition(index=0))
    frame = Image.fromarray(exported.image)
    layer = Image.new("RGBA", frame.size, (0, 0, 0, 0))  # a new transparent layer above it
    draw = ImageDraw.Draw(layer)
    draw.rectangle([8, 10, 40, 50], fill=(230, 40, 40, 255))
    draw.ellipse([20, 60, 55, 90], fill=(40, 90, 230, 255))
    with VideoReader(str(rotated)) as reader:
        info = reader.info

    layer.save(tmp_path / "painted.png")  # the frame layer hidden: only the paint, with alpha
    labels = read_mask(tmp_path / "painted.png")
    assert set(np.unique(labels)) == {0, 1, 2}
    assert set(check_masks({0: labels}, info)) == {0}

    flattened = frame.copy()  # the frame layer left visible
    flattened.paste(layer, mask=layer.getchannel("A"))
    flattened.save(tmp_path / "flattened.png")
    with pytest.raises(MaskError, match="looks like a picture.*frame layer"):
        read_mask(tmp_path / "flattened.png")

    layer.resize((2 * layer.width, 2 * layer.height), Image.NEAREST).save(tmp_path / "resized.png")
    with pytest.raises(MaskError, match=f"is 128x192 but the video is 64x96.*aotvideo frame {rotated}"):
        check_masks({0: read_mask(tmp_path / "resized.png")}, info)
