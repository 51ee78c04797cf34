"""VideoReader: threaded PyAV decoding, timestamps, rotation, audio, raw input, broken inputs."""
from __future__ import annotations

import io
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from io_helpers import COUNT, HEIGHT, VFR_PTS, WIDTH, assert_same_but_for_chroma_siting

from aotvideo.errors import InputDecodeError, InputError
from aotvideo.io.reader import AudioChunk, Frame, VideoReader, parse_size
from aotvideo.io.testclips import write_clip
from aotvideo.io.yuv import Yuv420Image


def test_frames_timestamps_and_info(make_clip, clip) -> None:
    path = make_clip("vfr.mp4", pts=VFR_PTS, audio_seconds=0.8)
    with VideoReader(path) as reader:
        info = reader.info
        assert (info.width, info.height, info.rotation) == (WIDTH, HEIGHT, 0)
        assert info.frames == COUNT
        assert info.audio is not None and info.audio.codec == "aac" and info.audio.channels == 2
        frames = list(reader.frames())
    assert [f.index for f in frames] == list(range(COUNT))
    times = [f.time for f in frames]
    np.testing.assert_allclose(times, [p / 24 for p in VFR_PTS], atol=1e-3)
    assert all(f.image.shape == (HEIGHT, WIDTH, 3) and f.image.dtype == np.uint8 for f in frames)
    # lossy but close to what was drawn
    assert np.abs(frames[5].image.astype(int) - clip[0][5].astype(int)).mean() < 12


def test_rotation_comes_from_the_display_matrix(make_clip) -> None:
    path = make_clip("rot.mp4", rotation=90)
    with VideoReader(path) as reader:
        assert reader.info.rotation == 90
        assert (reader.info.display_width, reader.info.display_height) == (HEIGHT, WIDTH)
        assert reader.first_frame.image.shape == (HEIGHT, WIDTH, 3)  # stored orientation


def test_audio_travels_between_frames_in_demux_order(make_clip) -> None:
    path = make_clip("a.mp4", audio_seconds=0.5)
    with VideoReader(path) as reader:
        items = list(reader.items())
    kinds = {type(i) for i in items}
    assert kinds == {Frame, AudioChunk}
    packets = [i.payload for i in items if isinstance(i, AudioChunk)]
    assert all(isinstance(p, av.Packet) and p.size > 0 for p in packets)
    with VideoReader(path) as reader:
        reader.set_audio_mode("frames")
        decoded = [i.payload for i in reader.items() if isinstance(i, AudioChunk)]
    assert decoded and all(isinstance(f, av.AudioFrame) for f in decoded)
    assert sum(f.samples for f in decoded) >= int(0.45 * 44100)


def test_file_objects_and_streamable_containers(make_clip) -> None:
    path = make_clip("s.nut", format="nut", audio_seconds=0.3)
    with VideoReader(io.BytesIO(path.read_bytes())) as reader:
        assert reader.info.container == "nut"
        assert len(list(reader.frames())) == COUNT


def test_planar_readers_keep_the_decoders_planes(make_clip, tmp_path: Path, clip) -> None:
    """8-bit 4:2:0 frames stay in their planes; their RGB is what a plain reader gives (within
    chroma siting: the decoder's frame says its chroma is left-sited, a frame made from the
    planes does not); other frames (raw RGB) are RGB either way."""
    path = make_clip(pts=VFR_PTS)
    with VideoReader(path) as plain, VideoReader(path, planar=True) as planar:
        pairs = list(zip(plain.frames(), planar.frames()))
    assert len(pairs) == COUNT
    for rgb, planes in pairs:
        assert isinstance(planes.image, Yuv420Image) and planes.image.shape == (HEIGHT, WIDTH, 3)
        assert (planes.index, planes.pts) == (rgb.index, rgb.pts)
        assert_same_but_for_chroma_siting(planes.rgb(), rgb.image)
        assert rgb.rgb() is rgb.image
    raw = tmp_path / "in.rgb"
    raw.write_bytes(b"".join(f.tobytes() for f in clip[0][:2]))
    with VideoReader(raw, raw_size=(WIDTH, HEIGHT), pix_fmt="rgb24", planar=True) as reader:
        first = next(iter(reader.frames()))
    np.testing.assert_array_equal(first.image, clip[0][0])


def test_a_gate_holds_decoding_back(make_clip) -> None:
    free = threading.Event()
    calls: list[int] = []

    def gate() -> None:
        calls.append(1)
        free.wait()

    with VideoReader(make_clip(), queue_size=2) as reader:
        reader.set_gate(gate)
        got: list[int] = []
        consumer = threading.Thread(target=lambda: got.extend(f.index for f in reader.frames()))
        consumer.start()
        time.sleep(0.3)
        # only the frame decoded when the reader opened; the decoding thread waits at the gate
        assert got == [0] and reader.frames_decoded == 1 and len(calls) == 1
        free.set()
        consumer.join(10)
    assert got == list(range(COUNT)) and len(calls) > 1  # (packets read on opening pass freely)


def test_raw_video_input(tmp_path: Path, clip) -> None:
    raw = tmp_path / "in.rgb"
    raw.write_bytes(b"".join(f.tobytes() for f in clip[0]))
    with VideoReader(raw, raw_size=(WIDTH, HEIGHT), pix_fmt="rgb24", rate=12) as reader:
        assert reader.info.frame_rate == 12
        frames = list(reader.frames())
    assert len(frames) == COUNT
    np.testing.assert_array_equal(frames[3].image, clip[0][3])
    np.testing.assert_allclose([f.time for f in frames], np.arange(COUNT) / 12)
    assert parse_size("640x360") == (640, 360)
    with pytest.raises(ValueError):
        parse_size("640by360")


def test_decoding_runs_ahead_only_as_far_as_the_queue(make_clip) -> None:
    path = make_clip("long.mkv", format="matroska")
    with VideoReader(path, queue_size=2) as reader:
        iterator = reader.frames()
        next(iterator)
        time.sleep(0.5)
        # one frame taken, two queued, at most one more held by the blocked thread
        assert reader.frames_decoded <= 5
        assert len(list(iterator)) == COUNT - 1


def test_inputs_that_cannot_be_opened(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        VideoReader(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x01garbage" * 500)
    with pytest.raises(InputError):
        VideoReader(junk)
    audio_only = tmp_path / "tone.m4a"
    with av.open(str(audio_only), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(5):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 44100, i * 1024, Fraction(1, 44100)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(InputError, match="no video"):
        VideoReader(audio_only)


@pytest.mark.parametrize("name,options", [
    ("t.mp4", {"container_options": {"movflags": "faststart"}}),
    ("t.mkv", {"format": "matroska"}),
])
def test_truncated_input_breaks_off_with_the_frames_before(make_clip, tmp_path: Path, name, options) -> None:
    source = make_clip(name, **options)
    data = source.read_bytes()
    cut = tmp_path / f"cut_{name}"
    cut.write_bytes(data[: int(len(data) * 0.85)])
    with VideoReader(cut) as reader:
        frames: list[Frame] = []
        with pytest.raises(InputDecodeError) as caught:
            for frame in reader.frames():
                frames.append(frame)
    assert 0 < len(frames) < COUNT
    assert caught.value.frames_done == len(frames)
    assert str(cut) in str(caught.value)


def test_decoded_frames_are_kept_when_asked(tmp_path: Path, clip) -> None:
    """Frames that hold more than 8-bit 4:2:0 (10-bit 4:2:2 ProRes, 8-bit 4:2:2 H.264) ride
    along in ``Frame.decoded`` once asked (the first one too, read ahead for ``info``); 8-bit
    4:2:0 frames never; asking after iterating is an error."""
    prores, h264_422, h264_420 = tmp_path / "in.mov", tmp_path / "422.mp4", tmp_path / "420.mp4"
    write_clip(prores, clip[0][:3], codec="prores_ks", pix_fmt="yuv422p10le")
    write_clip(h264_422, clip[0][:3], pix_fmt="yuv422p")
    write_clip(h264_420, clip[0][:3])
    for path, kept in ((prores, "yuv422p10le"), (h264_422, "yuv422p")):
        with VideoReader(path, planar="convert") as reader:
            reader.keep_decoded_frames()
            frames = list(reader.frames())
        assert len(frames) == 3
        assert all(f.decoded is not None and f.decoded.format.name == kept for f in frames)
        assert all(isinstance(f.image, Yuv420Image) for f in frames)  # the planes beside it
    with VideoReader(prores) as reader:
        assert all(f.decoded is None for f in reader.frames())
        with pytest.raises(RuntimeError, match="before iterating"):
            reader.keep_decoded_frames()
    with VideoReader(h264_420, planar=True) as reader:
        reader.keep_decoded_frames()
        assert all(f.decoded is None for f in reader.frames())


def test_first_rgb_is_what_a_plain_reader_gives(tmp_path: Path, clip) -> None:
    """Whatever the reader's ``planar``, ``first_rgb`` is the first frame a plain RGB reader
    gives (masks made from boxes on it are the same from ``aotvideo mask`` and ``track --box``)."""
    prores, h264 = tmp_path / "in.mov", tmp_path / "in.mp4"
    write_clip(prores, clip[0][:2], codec="prores_ks", pix_fmt="yuv422p10le")
    write_clip(h264, clip[0][:2])
    for path in (prores, h264):
        with VideoReader(path) as plain:
            expected = next(iter(plain.frames())).image
        for planar in (False, True, "convert"):
            with VideoReader(path, planar=planar) as reader:
                np.testing.assert_array_equal(reader.first_rgb(), expected)


def test_a_decoding_thread_that_starts_late_leaves_a_closed_input_alone(make_clip) -> None:
    """A Ctrl-C can land in ``items()`` while the decoding thread is being started, so that
    ``close()`` does not see it alive and closes the input; the thread then runs its loop
    (called here directly, as it would run) and must not touch the closed container: it
    crashed the process with a segmentation fault (exit -11 instead of 130, 1 run in 5 on a
    loaded machine)."""
    reader = VideoReader(make_clip())
    reader.close()
    reader._worker()  # the thread's body, started after close(): returns without decoding
    assert reader.frames_decoded == 1  # only the frame read ahead when opening
