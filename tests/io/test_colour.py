"""Colour descriptions: read from the input, written to picture outputs, used for conversions.

Every file here is a real encode with PyAV: a clip tagged as a camera tags it (BT.709 and
limited range, or BT.2020 with HLG, or full range) is read, written again through
:class:`~aotvideo.io.VideoWriter`, decoded, and its tags and colours are compared with the
input's. The picture is saturated colour blocks, where the BT.601 and BT.709 matrices disagree by
tens of levels, so a wrong matrix cannot pass for rounding.
"""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import Interpolation

from aotvideo.io import VideoReader, open_writer, resolve_output
from aotvideo.io.colour import Colour, graphics_white, output_colour, rgb_of
from aotvideo.io.testclips import write_clip

BT709 = Colour(matrix=1, primaries=1, transfer=1, range=1)
HLG = Colour(matrix=9, primaries=9, transfer=18, range=1)
FULL_709 = Colour(matrix=1, primaries=1, transfer=1, range=2)


def blocks(width: int = 64, height: int = 48) -> np.ndarray:
    """Flat saturated blocks (red, green, blue, yellow, cyan, magenta), 16 x 24 pixels each."""
    colours = [(220, 30, 30), (30, 200, 40), (30, 40, 220), (230, 220, 30), (30, 210, 220),
               (210, 30, 200)]
    image = np.zeros((height, width, 3), np.uint8)
    for i, colour in enumerate(colours):
        row, col = divmod(i, 4)
        image[row * 24:(row + 1) * 24, col * 16:(col + 1) * 16] = colour
    return image


def block_means(rgb: np.ndarray) -> np.ndarray:
    """Mean colour of each block's middle (away from chroma-subsampled edges), (6, 3)."""
    out = []
    for i in range(6):
        row, col = divmod(i, 4)
        out.append(rgb[row * 24 + 6:row * 24 + 18, col * 16 + 4:col * 16 + 12].mean((0, 1)))
    return np.array(out)


def assert_same_colours(shown: np.ndarray, expected: np.ndarray) -> None:
    """Block colours equal within 8-bit conversion rounding (a wrong matrix moves these blocks
    by more than 15 levels: :func:`test_the_wrong_matrix_would_show`)."""
    np.testing.assert_allclose(shown, expected, atol=4)
    assert abs(float((shown - expected).mean())) <= 1.0


def stream_colour(path: Path) -> Colour:
    with av.open(str(path)) as container:
        return Colour.of_frame(next(container.decode(video=0)))


#: FFmpeg's accurate YUV -> RGB (its default path reads about a level dark:
#: :func:`test_rgb_of_reads_yuv_as_the_matrix_says`)
ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def first_rgb(path: Path) -> np.ndarray:
    """The first frame as RGB, converted by its own tags (as a player does)."""
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24", interpolation=ACCURATE)


def copy_through_writer(source: Path, target: Path, mode: str = "overlay") -> Colour | None:
    """Read ``source`` as RGB and write every frame to ``target`` in ``mode``'s picture format,
    the reader's colour given to the writer; returns the writer's output tags."""
    spec = resolve_output(str(target), mode)
    with VideoReader(source, audio="none") as reader:
        info = reader.info
        writer = open_writer(spec, width=info.width, height=info.height, time_base=info.time_base,
                             frame_rate=info.frame_rate, colour=info.colour)
        for frame in reader.frames():
            image = frame.image
            if mode == "alpha":
                image = np.dstack([image, np.full(image.shape[:2], 255, np.uint8)])
            elif mode == "matte":
                image = np.full(image.shape[:2], 255, np.uint8)
            writer.write(image, frame.pts)
        writer.close()
    return writer.colour


@pytest.mark.parametrize("colour", [BT709, HLG, FULL_709], ids=["bt709", "hlg", "full"])
def test_the_reader_tells_the_inputs_colour(tmp_path: Path, colour: Colour) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, [blocks()] * 2, colour=colour, options={"crf": "0"})
    with VideoReader(source, audio="none") as reader:
        assert reader.info.colour == colour
        frames = [f.image for f in reader.frames()]
    # read with the input's matrix and levels: the blocks' colours come back
    assert_same_colours(block_means(frames[0]), block_means(blocks()))


def test_an_untagged_input_reads_as_untagged(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, [blocks()] * 2)
    with VideoReader(source, audio="none") as reader:
        assert reader.info.colour == Colour() and not reader.info.colour.tagged
        assert reader.info.colour.describe() == "untagged"


@pytest.mark.parametrize("colour,target,mode", [
    (BT709, "out.mp4", "overlay"),   # H.264 yuv420p
    (HLG, "out.mp4", "overlay"),
    (FULL_709, "out.mkv", "overlay"),
    (BT709, "out.mov", "alpha"),     # ProRes 4444 with alpha
    (FULL_709, "out.mov", "alpha"),  # ProRes stores limited levels: converted to them
], ids=["h264-709", "h264-hlg", "h264-full", "prores-709", "prores-full"])
def test_picture_outputs_keep_the_inputs_colours(tmp_path: Path, colour: Colour, target: str,
                                                 mode: str) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, [blocks()] * 3, colour=colour, options={"crf": "0"})
    out = tmp_path / target
    tags = copy_through_writer(source, out, mode)
    written = stream_colour(out)
    expected = output_colour(colour, "yuva444p10le" if mode == "alpha" else "yuv420p",
                             "prores_aw" if mode == "alpha" else "libx264")
    assert tags == expected and written == expected
    assert (written.matrix, written.primaries, written.transfer) == \
        (colour.matrix, colour.primaries, colour.transfer)
    # what a player shows of the output is what it shows of the input
    assert_same_colours(block_means(first_rgb(out)), block_means(first_rgb(source)))


def test_the_wrong_matrix_would_show(tmp_path: Path) -> None:
    """The blocks are chosen so that reading BT.709 values as BT.601 moves them visibly: the
    comparisons above could not pass with the encoder's default conversion."""
    source = tmp_path / "in.mp4"
    write_clip(source, [blocks()] * 2, colour=BT709, options={"crf": "0"})
    with av.open(str(source)) as container:
        frame = next(container.decode(video=0))
    as_601 = frame.reformat(format="rgb24", src_colorspace=5).to_ndarray()
    assert np.abs(block_means(as_601) - block_means(blocks())).max() > 15


def test_an_untagged_input_gives_an_untagged_output_as_before(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, [blocks()] * 2, options={"crf": "0"})
    out = tmp_path / "out.mp4"
    assert copy_through_writer(source, out) is None
    assert stream_colour(out) == Colour()
    assert_same_colours(block_means(first_rgb(out)), block_means(first_rgb(source)))


def test_mattes_are_not_tagged(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, [blocks()] * 2, colour=HLG)
    out = tmp_path / "matte.mp4"
    assert copy_through_writer(source, out, "matte") is None
    assert stream_colour(out) == Colour()


def test_ten_bit_prores_input_gives_tagged_outputs(tmp_path: Path) -> None:
    """An editor's ProRes 422 HQ (10-bit 4:2:2) clip, BT.709: read as RGB, written as an H.264
    overlay and a ProRes 4444 alpha clip, both tagged BT.709 and showing the input's colours."""
    source = tmp_path / "in.mov"
    write_clip(source, [blocks()] * 2, codec="prores_ks", pix_fmt="yuv422p10le",
               options={"profile": "3"}, colour=BT709)
    with VideoReader(source, audio="none") as reader:
        assert reader.info.pix_fmt == "yuv422p10le" and reader.info.colour == BT709
    for target, mode in (("o.mp4", "overlay"), ("a.mov", "alpha")):
        out = tmp_path / target
        copy_through_writer(source, out, mode)
        assert stream_colour(out) == BT709
        assert_same_colours(block_means(first_rgb(out)), block_means(first_rgb(source)))


def test_output_colour_rules() -> None:
    # RGB outputs: primaries and transfer kept, matrix says RGB, no range
    assert output_colour(HLG, "gbrp", "libx264rgb") == Colour(0, 9, 18, 0)
    # a matrix FFmpeg's converter does not know stays unspecified (read as BT.601 both ways)
    assert output_colour(Colour(10, 9, 14, 1), "yuv420p", "libx264") == Colour(2, 9, 14, 1)
    # ProRes and DNxHD store limited levels; yuvj formats are full range
    assert output_colour(FULL_709, "yuv422p10le", "prores_ks").range == 1
    assert output_colour(BT709, "yuvj420p", "mjpeg").range == 2
    # an untagged input stays untagged
    assert output_colour(Colour(), "yuva444p10le", "prores_aw") == Colour()


def test_describe() -> None:
    assert BT709.describe() == "BT.709 matrix, limited range, BT.709 primaries, BT.709 transfer"
    assert HLG.describe() == "BT.2020 matrix, limited range, BT.2020 primaries, HLG transfer"
    assert Colour(range=2).describe() == "full range"


def test_of_frame_reads_full_range_from_yuvj_formats() -> None:
    frame = av.VideoFrame(16, 16, "yuvj420p")
    assert Colour.of_frame(frame).range == 2
    frame = av.VideoFrame(16, 16, "yuv420p")
    frame.colorspace, frame.color_range = 1, 1
    assert Colour.of_frame(frame) == Colour(1, 2, 2, 1)


def test_writer_time_base_unaffected_by_tags(tmp_path: Path) -> None:
    """Tagging happens with the stream's other settings: timing is kept."""
    source = tmp_path / "in.mp4"
    write_clip(source, [blocks()] * 4, colour=BT709, pts=[0, 1, 3, 4])
    out = tmp_path / "out.mp4"
    copy_through_writer(source, out)
    with av.open(str(out)) as container:
        times = [f.time for f in container.decode(video=0)]
    np.testing.assert_allclose(times, np.array([0, 1, 3, 4]) / 24, atol=1e-3)


def ramp(width: int = 256, height: int = 64) -> np.ndarray:
    """Every grey level and soft colours across the picture: where rounding shows on average."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :].repeat(height, 0)
    y = np.linspace(40, 215, height, dtype=np.float32)[:, None].repeat(width, 1)
    return np.stack([x, (x + y) / 2, 255 - x * 0.5], axis=2).round().astype(np.uint8)


def luma_by_matrix(frame: av.VideoFrame) -> np.ndarray:
    """The decoded frame's luma in 8-bit levels, straight from its Y plane (limited range)."""
    planes = frame.reformat(format="yuv444p16le")
    y = np.frombuffer(planes.planes[0], np.uint16).reshape(frame.height, -1)[:, :frame.width]
    return y / 256.0


def luma_of_rgb(rgb: np.ndarray) -> np.ndarray:
    """BT.709 limited-range luma of an RGB picture, in float."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return 16.0 + 219.0 * (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0


@pytest.mark.parametrize("codec,pix_fmt,options", [
    ("libx264", "yuv420p", {"crf": "12"}),
    ("prores_ks", "yuv422p10le", {"profile": "3"}),
])
def test_rgb_of_reads_yuv_as_the_matrix_says(tmp_path: Path, codec: str, pix_fmt: str,
                                             options: dict[str, str]) -> None:
    """The RGB the reader hands on has the luma the file stores (within rounding), where
    FFmpeg's default conversion reads it about a level dark: an alpha clip made from it was
    darker than the clip it is laid over."""
    source = tmp_path / ("in.mp4" if codec == "libx264" else "in.mov")
    write_clip(source, [ramp()] * 2, codec=codec, pix_fmt=pix_fmt, options=options, colour=BT709)
    with av.open(str(source)) as container:
        frame = next(container.decode(video=0))
    stored = luma_by_matrix(frame)
    ours = float((luma_of_rgb(rgb_of(frame)) - stored).mean())
    default = float((luma_of_rgb(frame.to_ndarray(format="rgb24")) - stored).mean())
    assert abs(ours) < 0.1, ours
    assert default < -0.8, default  # the control: FFmpeg's default path is dark
    with VideoReader(source, audio="none") as reader:
        np.testing.assert_array_equal(next(iter(reader)).image, rgb_of(frame))


def test_graphics_white_is_bt2408s_for_hdr() -> None:
    assert graphics_white(HLG) == 0.75
    assert graphics_white(Colour(matrix=9, primaries=9, transfer=16, range=1)) == 0.58
    assert graphics_white(BT709) == graphics_white(Colour()) == 1.0
