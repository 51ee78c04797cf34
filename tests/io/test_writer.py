"""Output formats and writers: timestamps, rotation, audio copy/transcode, alpha, PNG folders."""
from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from io_helpers import COUNT, HEIGHT, VFR_PTS, WIDTH, decode_all

from aotvideo.errors import FormatError, OutputError
from aotvideo.io.formats import default_output_path, resolve_output
from aotvideo.io.masks import read_mask
from aotvideo.io.reader import AudioChunk, Frame, VideoReader
from aotvideo.io.writer import PngSequenceWriter, VideoWriter, WriterThread, open_writer
from aotvideo.io.yuv import Yuv420Image


# -- choosing formats ---------------------------------------------------------------------------------


def test_formats_follow_the_extension() -> None:
    spec = resolve_output("out.mp4", "overlay")
    assert (spec.container, spec.codec, spec.pix_fmt, spec.image) == ("mp4", "libx264", "yuv420p", "rgb")
    assert (spec.codec_options["crf"], spec.codec_options["preset"]) == ("auto", "auto")
    assert resolve_output("out.mp4", "overlay", crf=20).codec_options["crf"] == "20"
    spec = resolve_output("cut.mov", "alpha")
    assert (spec.codec, spec.pix_fmt, spec.codec_options["vendor"]) == ("prores_aw", "yuva444p10le", "apl0")
    spec = resolve_output("cut.mov", "alpha", codec="prores_ks")
    assert (spec.codec, spec.pix_fmt, spec.codec_options["profile"]) == ("prores_ks", "yuva444p10le", "4444")
    spec = resolve_output("cut.webm", "alpha", crf=28)
    assert (spec.codec, spec.pix_fmt, spec.codec_options["crf"]) == ("libvpx-vp9", "yuva420p", "28")
    assert resolve_output("cut.mkv", "alpha").codec == "ffv1"
    assert resolve_output("m.mp4", "matte").image == "gray"
    assert resolve_output("frames/", "alpha").kind == "png"
    assert resolve_output("masks_out", "masks").kind == "png"
    assert resolve_output("x.mkv", "overlay", codec="ffv1").codec == "ffv1"


def test_standard_output_needs_a_streamable_format() -> None:
    with pytest.raises(FormatError, match="--format"):
        resolve_output("-", "overlay")
    spec = resolve_output("-", "overlay", format="mp4")
    assert "frag_keyframe" in spec.container_options["movflags"]
    assert "empty_moov" in spec.container_options["movflags"]
    assert resolve_output("-", "overlay", format="nut").container == "nut"
    raw = resolve_output("-", "matte", format="rawvideo")
    assert (raw.container, raw.pix_fmt, raw.audio) == ("rawvideo", "gray", False)
    assert resolve_output("-", "alpha", format="raw").pix_fmt == "rgba"
    with pytest.raises(FormatError):
        resolve_output("-", "masks", format="png")


@pytest.mark.parametrize("target,mode,kwargs,match", [
    ("a.mp4", "alpha", {}, "alpha"),
    ("a.ts", "alpha", {}, "alpha"),
    ("m.mp4", "masks", {}, "PNG"),
    ("a.xyz", "overlay", {}, "cannot tell"),
    ("a.mp4", "overlay", {"codec": "no-such-encoder"}, "no encoder"),
    ("a.mov", "alpha", {"crf": 20}, "ProRes"),
    ("a.mp4", "overlay", {"format": "avi3"}, "unknown --format"),
    ("a.mp4", "overlay", {"pix_fmt": "rgba"}, "cannot encode"),
    ("d/", "overlay", {"crf": 20}, "PNG"),
])
def test_impossible_combinations_are_format_errors(target, mode, kwargs, match) -> None:
    with pytest.raises(FormatError, match=match):
        resolve_output(target, mode, **kwargs)


def test_default_output_paths() -> None:
    assert default_output_path("clips/in.mp4", "overlay") == "clips/in.overlay.mp4"
    assert default_output_path("clips/in.mkv", "alpha") == "clips/in.alpha.mov"
    assert default_output_path("in.mp4", "masks") == "in.masks"
    with pytest.raises(FormatError):
        default_output_path("-", "overlay")


# -- writing ---------------------------------------------------------------------------------------------


def _transcode(source: Path, target: Path, mode: str, render=None, **spec_options) -> VideoWriter:
    """Copy ``source`` through a writer, rendering each frame with ``render(frame)``."""
    spec = resolve_output(str(target), mode, **spec_options)
    with VideoReader(source) as reader:
        writer = open_writer(spec, width=reader.info.width, height=reader.info.height,
                             time_base=reader.info.time_base, frame_rate=reader.info.frame_rate,
                             rotation=reader.info.rotation, audio_stream=reader.audio_stream)
        reader.set_audio_mode(writer.audio_mode)
        for item in reader.items():
            if isinstance(item, Frame):
                image = render(item) if render else item.image
                if reader.info.rotation and not writer.rotation:  # the container cannot rotate
                    image = np.ascontiguousarray(np.rot90(image, reader.info.rotation // 90))
                if isinstance(writer, PngSequenceWriter):
                    writer.write(image, index=item.index)
                else:
                    writer.write(image, item.pts)
            else:
                writer.write_audio(item)
        writer.close()
    return writer


@pytest.mark.parametrize("extension", [".mp4", ".mkv", ".mov", ".nut"])
def test_vfr_timestamps_rotation_and_audio_copy(make_clip, tmp_path: Path, extension) -> None:
    source = make_clip("in.mp4", pts=VFR_PTS, audio_seconds=0.8, rotation=90)
    target = tmp_path / f"out{extension}"
    writer = _transcode(source, target, "overlay")
    assert writer.audio_mode == "packets"
    frames = decode_all(target)
    assert len(frames) == COUNT
    times = np.array([f.time for f in frames])
    expected = np.array(VFR_PTS) / 24
    if extension in (".mkv", ".nut"):
        # these muxers shift every stream by a constant to avoid negative timestamps
        # (AAC priming, B-frame delay); the timing between frames is what must survive
        assert 0 <= times[0] < 0.2
        times = times - times[0]
    np.testing.assert_allclose(times, expected, atol=1e-3)
    if extension == ".nut":  # no rotation metadata in NUT: written upright
        assert (frames[0].width, frames[0].height, frames[0].rotation) == (HEIGHT, WIDTH, 0)
    else:
        assert (frames[0].width, frames[0].height, frames[0].rotation) == (WIDTH, HEIGHT, 90)
    with av.open(str(target)) as container:
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        samples = sum(f.samples for f in container.decode(audio))
    assert samples >= int(0.75 * 44100)


def test_audio_is_transcoded_where_it_cannot_be_copied(make_clip, tmp_path: Path) -> None:
    source = make_clip("in.mp4", audio_seconds=0.8)
    target = tmp_path / "out.webm"
    writer = _transcode(source, target, "overlay")
    assert writer.audio_mode == "frames"
    with av.open(str(target)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
        samples = sum(f.samples for f in container.decode(container.streams.audio[0]))
    assert abs(samples / 48000 - 0.8) < 0.1
    assert len(decode_all(target)) == COUNT


def _alpha_render(frame: Frame) -> np.ndarray:
    rgba = np.empty(frame.image.shape[:2] + (4,), np.uint8)
    rgba[..., :3] = frame.image
    rgba[..., 3] = 0
    rgba[:, : WIDTH // 2, 3] = 255
    return rgba


@pytest.mark.parametrize("name,decoder,pix", [
    ("cut.mov", None, "yuva444p"),
    ("cut.webm", "libvpx-vp9", "yuva420p"),
    ("cut.mkv", None, "bgra"),
])
def test_alpha_is_really_in_the_file(make_clip, tmp_path: Path, name, decoder, pix) -> None:
    source = make_clip("in.mp4", pts=VFR_PTS)
    target = tmp_path / name
    _transcode(source, target, "alpha", render=_alpha_render)
    frames = decode_all(target, decoder)
    assert len(frames) == COUNT
    assert frames[0].format.name.startswith(pix)
    alpha = frames[4].to_ndarray(format="rgba")[..., 3]
    assert alpha[:, : WIDTH // 2 - 4].min() >= 250
    assert alpha[:, WIDTH // 2 + 4:].max() <= 5
    np.testing.assert_allclose([f.time for f in frames], [p / 24 for p in VFR_PTS], atol=1e-3)


def test_matte_white_decodes_white(make_clip, tmp_path: Path) -> None:
    source = make_clip("in.mp4")

    def render(frame: Frame) -> np.ndarray:
        matte = np.zeros(frame.image.shape[:2], np.uint8)
        matte[HEIGHT // 2:] = 255
        return matte

    target = tmp_path / "matte.mp4"
    _transcode(source, target, "matte", render=render)
    gray = decode_all(target)[3].to_ndarray(format="gray")
    assert gray[HEIGHT // 2 + 4:].min() >= 250 and gray[: HEIGHT // 2 - 4].max() <= 5


def test_images_of_the_wrong_size_are_refused(tmp_path: Path) -> None:
    spec = resolve_output(str(tmp_path / "o.mkv"), "overlay")
    writer = VideoWriter(spec, width=WIDTH, height=HEIGHT, time_base=Fraction(1, 25))
    with pytest.raises(ValueError, match="output 96x64"):
        writer.write(np.zeros((HEIGHT, WIDTH + 2, 3), np.uint8))
    writer.close()


def test_yuv_planes_are_encoded_as_they_are(make_clip, tmp_path: Path) -> None:
    """A planar picture goes to a yuv420p encoder without conversion: lossless x264 gives the
    planes back bit for bit, whatever matrix they are in."""
    with VideoReader(make_clip(), planar=True) as reader:
        pictures = [f.image for f in reader.frames()][:4]
    tagged = [Yuv420Image(p.data, colorspace=1, color_range=0) for p in pictures]
    spec = resolve_output(str(tmp_path / "planes.mkv"), "overlay", crf=0)
    writer = VideoWriter(spec, width=WIDTH, height=HEIGHT, time_base=Fraction(1, 25))
    for i, picture in enumerate(tagged):
        writer.write(picture, i)
    writer.close()
    frames = decode_all(tmp_path / "planes.mkv")
    assert len(frames) == 4
    for frame, picture in zip(frames, tagged):
        np.testing.assert_array_equal(frame.to_ndarray(format="yuv420p"), picture.data)
    with pytest.raises(ValueError, match="the output 98x64"):
        VideoWriter(spec, width=WIDTH + 2, height=HEIGHT, time_base=Fraction(1, 25)).write(tagged[0])


def test_odd_sizes_encode_without_cropping(tmp_path: Path) -> None:
    spec = resolve_output(str(tmp_path / "odd.mp4"), "overlay")
    writer = VideoWriter(spec, width=33, height=17, time_base=Fraction(1, 10), frame_rate=Fraction(10))
    for i in range(3):
        writer.write(np.full((17, 33, 3), 40 * i, np.uint8), i)
    writer.close()
    writer.close()  # idempotent
    frames = decode_all(tmp_path / "odd.mp4")
    assert [(f.width, f.height) for f in frames] == [(33, 17)] * 3


def test_png_folder_and_palette_masks(tmp_path: Path) -> None:
    labels = np.zeros((HEIGHT, WIDTH), np.int64)
    labels[10:20, 10:30] = 3
    masks = PngSequenceWriter(resolve_output(str(tmp_path / "masks"), "masks"))
    masks.write(labels, index=7)
    np.testing.assert_array_equal(read_mask(tmp_path / "masks" / "00007.png"), labels)
    with pytest.raises(OutputError):
        masks.write(np.full((4, 4), 300), index=8)
    rgba = PngSequenceWriter(resolve_output(str(tmp_path / "rgba/"), "alpha"))
    image = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    image[..., 3] = 128
    rgba.write(image, index=0)
    frame = next(av.open(str(tmp_path / "rgba" / "00000.png")).decode(video=0))
    assert frame.format.name == "rgba"
    assert (frame.to_ndarray()[..., 3] == 128).all()


def test_raw_output(tmp_path: Path) -> None:
    spec = resolve_output(str(tmp_path / "out.raw"), "overlay")
    assert spec.container == "rawvideo"
    writer = VideoWriter(spec, width=8, height=4, time_base=Fraction(1, 25))
    images = [np.full((4, 8, 3), 10 * i, np.uint8) for i in range(5)]
    for image in images:
        writer.write(image)
    writer.close()
    assert (tmp_path / "out.raw").read_bytes() == b"".join(i.tobytes() for i in images)


def test_a_full_disk_is_an_output_error(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    spec = resolve_output("/dev/full", "overlay", format="nut")
    with pytest.raises(OutputError):
        writer = VideoWriter(spec, width=WIDTH, height=HEIGHT, time_base=Fraction(1, 25))
        for i in range(30):
            writer.write(np.random.RandomState(i).randint(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8))
        writer.close()


def test_a_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    spec = resolve_output(str(tmp_path / "no" / "such" / "out.mp4"), "overlay")
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(spec, width=WIDTH, height=HEIGHT, time_base=Fraction(1, 25))


def test_writer_thread_reports_the_first_error_and_still_finishes() -> None:
    seen: list[object] = []
    finished = threading.Event()

    def handle(item: object) -> None:
        if item == 3:
            raise OutputError("disk full")
        seen.append(item)

    thread = WriterThread(handle, finished.set, queue_size=2)
    accepted = [thread.put(i) for i in range(50)]
    thread.close()
    assert finished.is_set()
    assert isinstance(thread.error, OutputError)
    assert seen == [0, 1, 2]
    assert accepted[0] and not accepted[-1]


def test_writer_thread_gate_holds_items_back_and_wait_idle_waits_for_them() -> None:
    seen: list[object] = []
    free = threading.Event()
    thread = WriterThread(seen.append, lambda: None, queue_size=4, gate=free.wait)
    for i in range(3):
        assert thread.put(i)
    time.sleep(0.1)
    assert seen == []  # held at the gate
    free.set()
    thread.wait_idle()
    assert seen == [0, 1, 2]
    thread.close()
    thread.wait_idle()  # returns once the thread has ended, too


def test_audio_chunks_are_ignored_by_png_writers(tmp_path: Path) -> None:
    writer = PngSequenceWriter(resolve_output(str(tmp_path / "p"), "overlay"))
    writer.write_audio(AudioChunk(av.Packet(b"")))
    writer.close()
    assert writer.frames_written == 0


def test_codec_hw_uses_a_hardware_encoder_where_one_answers(tmp_path: Path) -> None:
    """``--codec hw`` on a machine with NVENC (or Quick Sync, AMF ...): H.264 made by it."""
    from aotvideo.io.formats import HARDWARE_H264, hardware_encoders

    found = hardware_encoders()
    if not found:
        pytest.skip(f"no hardware H.264 encoder opens on this machine (tried {', '.join(HARDWARE_H264)})")
    spec = resolve_output(str(tmp_path / "hw.mp4"), "overlay", codec="hw")
    assert spec.codec == found[0]
    frames = [np.full((HEIGHT, WIDTH, 3), 40 * i, np.uint8) for i in range(COUNT)]
    writer = open_writer(spec, width=WIDTH, height=HEIGHT, time_base=Fraction(1, 24))
    for index, frame in enumerate(frames):
        writer.write(frame, index)
    writer.close()
    assert len(decode_all(tmp_path / "hw.mp4")) == COUNT


def test_codec_hw_without_hardware_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no hardware encoder answers, ``--codec hw`` is a usage error that says what was
    tried (the same message the command line prints with exit code 2)."""
    from aotvideo.io import formats

    if formats.hardware_encoders():
        pytest.skip(f"this machine has {formats.hardware_encoders()[0]}: the other test uses it")
    with pytest.raises(FormatError, match="no hardware H.264 encoder can be used.*h264_nvenc"):
        resolve_output("x.mp4", "overlay", codec="hw")
    monkeypatch.setattr(formats, "hardware_encoders", lambda: ("h264_nvenc",))
    with pytest.raises(FormatError, match="no alpha"):
        resolve_output("x.mov", "alpha", codec="hw")
