"""Frames by index (:class:`aotvideo.io.seek.SeekableVideo`) against the streaming reader, on
real files encoded with PyAV: with B-frames, rotated, and cut short."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aotvideo.errors import InputDecodeError, InputError
from aotvideo.io.reader import VideoReader
from aotvideo.io.seek import SeekableVideo
from aotvideo.io.testclips import scene, write_clip


def frames_of(path: Path) -> list[np.ndarray]:
    with VideoReader(path) as reader:
        return [frame.image for frame in reader.frames()]


@pytest.fixture(scope="module")
def bframes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """45 frames of x264 'medium' (B-frames, key frames every 12: seeks land mid-GOP)."""
    path = tmp_path_factory.mktemp("seek") / "b.mp4"
    frames = [f for f, _ in scene(160, 96, 45, objects=2, seed=1)]
    write_clip(path, frames, options={"preset": "medium", "g": "12", "bf": "3"})
    return path


def test_every_frame_by_index_equals_the_stream(bframes: Path) -> None:
    stream = frames_of(bframes)
    with SeekableVideo(bframes) as video:
        assert video.frames == len(stream) == 45
        assert (video.width, video.height) == (160, 96)
        for index in (0, 1, 11, 12, 13, 30, 44, 7):  # out of order on purpose
            assert np.array_equal(video.frame(index), stream[index]), index


@pytest.mark.parametrize("chunk", [1, 5, 16, 100])
def test_walking_backward_and_forward(bframes: Path, chunk: int) -> None:
    stream = frames_of(bframes)
    with SeekableVideo(bframes) as video:
        backward = list(video.frames_between(40, 3, chunk=chunk))
        forward = list(video.frames_between(3, 40, chunk=chunk))
    assert [i for i, _ in backward] == list(range(40, 2, -1))
    assert [i for i, _ in forward] == list(range(3, 41))
    assert all(np.array_equal(image, stream[i]) for i, image in backward + forward)


def test_rotated_video_comes_out_upright(tmp_path: Path) -> None:
    path = tmp_path / "portrait.mp4"
    frames = [f for f, _ in scene(96, 64, 6, objects=1, seed=2)]
    write_clip(path, frames, rotation=90)
    with SeekableVideo(path) as video, VideoReader(path) as reader:
        assert video.rotation == reader.info.rotation == 90
        assert (video.width, video.height) == (64, 96)
        stored = next(iter(reader.frames())).image
        assert np.array_equal(video.frame(0), np.rot90(stored, 1))


def test_range_outside_the_video(bframes: Path) -> None:
    with SeekableVideo(bframes) as video:
        with pytest.raises(IndexError, match="frames 0 to 44"):
            video.frame(45)
        with pytest.raises(IndexError):
            list(video.frames_between(10, -1))


def test_missing_and_broken_files(tmp_path: Path, bframes: Path) -> None:
    with pytest.raises(InputError, match="not a pipe"):
        SeekableVideo(tmp_path / "nothing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError):
        SeekableVideo(junk)
    cut = tmp_path / "cut.mkv"
    frames = [f for f, _ in scene(160, 96, 30, objects=1, seed=4)]
    write_clip(cut, frames, format="matroska")
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with SeekableVideo(cut) as video:  # the index holds what the file still has
        assert 0 < video.frames < 30
        last = video.frame(video.frames - 1)
    assert last.shape == (96, 160, 3)


def test_decode_failure_is_an_input_decode_error(bframes: Path) -> None:
    with SeekableVideo(bframes) as video:
        video._pts.append(video._pts[-1] + 10_000)  # a frame the file does not have
        with pytest.raises(InputDecodeError, match="breaks off"):
            video.frame(video.frames - 1)
