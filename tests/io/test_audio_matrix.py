"""Audio through every container pair: input container x audio codec x output (issue 12).

Each input is a real file written by PyAV (6 frames of 64x48, 0.3 s of a 48 kHz stereo tone);
each case runs it through :func:`aotvideo.pipeline.track_video` (reader, writer thread, writer)
and decodes what comes out: the output must decode, keep the frame count, and keep the audio:
copied where the output container takes the codec, transcoded otherwise. A stand-in tracker
that repeats the first mask keeps the model out of the matrix (it is about media); a few cases
run the real ``aotvideo track`` command with a model.

The audio's duration is measured on the file's timeline, from the first picture to the end of
the last decoded sample, as a player schedules it: encoder priming that a container cannot mark
as such (MPEG-TS, NUT) lies before the first picture there, so the decoded sample count alone
would count it as audio. Tolerance: one audio frame (the longest decoded frame of either file).
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest

import aotvideo.io.writer as writer_module
from aotvideo.errors import OutputError
from aotvideo.io import Frame, VideoReader, open_writer, resolve_output, write_palette_png
from aotvideo.io.testclips import scene, write_clip
from aotvideo.pipeline import track_video

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT, COUNT = 64, 48, 6
RATE = 48000
SECONDS = 0.3

#: Input containers (file extension) and the video encoder their files are written with.
INPUT_VIDEO = {
    "mp4": "libx264",
    "mov": "libx264",
    "mkv": "libx264",
    "webm": "libvpx-vp9",
    "avi": "mpeg4",
    "ts": "libx264",
    "nut": "libx264",
}
AUDIO = ("aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_s24le", "ac3", "none")
#: Encoder options by audio codec (FFmpeg's own Vorbis encoder is marked experimental).
AUDIO_OPTIONS = {"vorbis": {"strict": "experimental"}}

_NO_TS_MAPPING = "MPEG-TS has no mapping for it: FFmpeg writes the stream, the file reads back without audio"
_WEBM_ONLY = "WebM holds Opus and Vorbis audio only"
#: Input container and audio pairs left out of the matrix, and why (checked by
#: test_left_out_pairs_really_cannot_be_held).
CANNOT_HOLD: dict[tuple[str, str], str] = {
    ("mov", "opus"): "FFmpeg's MOV muxer takes Opus in MP4 only",
    ("mov", "vorbis"): "MOV has no Vorbis mapping",
    ("mov", "flac"): "FFmpeg's MOV muxer takes FLAC in MP4 only",
    ("webm", "aac"): _WEBM_ONLY,
    ("webm", "mp3"): _WEBM_ONLY,
    ("webm", "flac"): _WEBM_ONLY,
    ("webm", "pcm_s16le"): _WEBM_ONLY,
    ("webm", "pcm_s24le"): _WEBM_ONLY,
    ("webm", "ac3"): _WEBM_ONLY,
    ("avi", "opus"): "AVI has no Opus mapping",
    ("avi", "flac"): "FFmpeg's AVI muxer refuses FLAC",
    ("avi", "vorbis"): "Vorbis in AVI gets no usable timestamps (variable-size packets in a "
                       "constant-rate index): its timeline disagrees with its samples",
    ("ts", "vorbis"): _NO_TS_MAPPING,
    ("ts", "flac"): _NO_TS_MAPPING,
    ("ts", "pcm_s16le"): _NO_TS_MAPPING,
    ("ts", "pcm_s24le"): _NO_TS_MAPPING,
    ("nut", "flac"): "FFmpeg's NUT muxer loses FLAC's stream header: the audio does not decode",
}
INPUTS = [(c, a) for c in INPUT_VIDEO for a in AUDIO if (c, a) not in CANNOT_HOLD]
#: Outputs: id -> (file name, mode).
OUTPUTS = {
    "mp4": ("out.mp4", "overlay"),
    "mov": ("out.mov", "overlay"),
    "mkv": ("out.mkv", "overlay"),
    "webm": ("out.webm", "overlay"),
    "nut": ("out.nut", "overlay"),
    "ts": ("out.ts", "overlay"),
    "alpha.mov": ("alpha.mov", "alpha"),
    "alpha.webm": ("alpha.webm", "alpha"),
}
CASES = [pytest.param(c, a, o, id=f"{c}+{a}->{o}") for c, a in INPUTS for o in OUTPUTS]


# -- measuring files ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Audio:
    """A file's first audio stream, decoded: times in seconds from the file's first picture."""

    codec: str
    samples: float  # decoded samples / sample rate
    start: float  # the first sample
    end: float  # the end of the last sample
    frame: float  # the longest decoded frame


def picture_count_and_start(path: Path) -> tuple[int, float]:
    """How many video frames a file decodes to, and the first one's time."""
    with av.open(str(path)) as container:
        times = [frame.time for frame in container.decode(video=0)]
    return len(times), (times[0] if times else 0.0)


def decode_audio(path: Path, picture_start: float) -> Audio | None:
    """Decode the first audio stream of a file (``None`` when it has none)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        samples, start, end, longest = 0.0, None, 0.0, 0.0
        for frame in container.decode(stream):
            seconds = frame.samples / frame.sample_rate
            start = frame.time if start is None else start
            end = frame.time + seconds
            samples += seconds
            longest = max(longest, seconds)
        assert start is not None, f"{path.name}: the audio stream decodes to nothing"
        return Audio(stream.codec_context.name, samples, start - picture_start,
                     end - picture_start, longest)


@dataclass(frozen=True)
class Input:
    path: Path
    frames: int
    audio: Audio | None


def write_input(path: Path, frames: list[np.ndarray], audio: str) -> None:
    """A clip in the container of ``path``'s extension, with ``audio`` (or none)."""
    container = path.suffix.lstrip(".")
    options: dict[str, object] = {"codec": INPUT_VIDEO[container]}
    if audio != "none":
        options.update(audio_seconds=SECONDS, audio_codec=audio, sample_rate=RATE,
                       audio_options=AUDIO_OPTIONS.get(audio))
    write_clip(path, frames, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], np.ndarray]:
    """The frames of a tiny scene and the label map of its first frame."""
    pairs = list(scene(WIDTH, HEIGHT, COUNT, seed=0))
    return [frame for frame, _ in pairs], pairs[0][1]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, clip) -> Callable[[str, str], Input]:
    """``get(container, audio)``: the input file of a pair, written once per module."""
    folder = tmp_path_factory.mktemp("audio_inputs")
    made: dict[tuple[str, str], Input] = {}

    def get(container: str, audio: str) -> Input:
        if (container, audio) not in made:
            path = folder / f"{audio}.{container}"
            write_input(path, clip[0], audio)
            frames, start = picture_count_and_start(path)
            made[container, audio] = Input(path, frames, decode_audio(path, start))
        return made[container, audio]

    return get


class RepeatMask:
    """Stands in for :class:`aotvideo.Tracker`: every frame gets the last mask given."""

    def __init__(self) -> None:
        self.labels: np.ndarray | None = None

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None) -> SimpleNamespace:
        if mask is not None:
            self.labels = mask
        assert self.labels is not None and self.labels.shape == frame.shape[:2]
        ids = tuple(int(i) for i in np.unique(self.labels) if i)
        return SimpleNamespace(label_map=self.labels, object_ids=ids, probs=None)


def check_output(source: Input, target: Path) -> Audio | None:
    """Assert that ``target`` decodes to the source's frames and keeps its audio."""
    assert target.is_file() and target.stat().st_size > 0
    frames, start = picture_count_and_start(target)
    assert frames == source.frames == COUNT
    audio = decode_audio(target, start)
    if source.audio is None:
        assert audio is None
        return None
    assert audio is not None, "the audio was lost"
    tolerance = max(source.audio.frame, audio.frame) + 1e-6
    assert abs(audio.end - source.audio.end) <= tolerance, (source.audio, audio)
    assert audio.samples >= source.audio.samples - tolerance, (source.audio, audio)
    assert audio.start <= max(source.audio.start, 0.0) + tolerance, (source.audio, audio)
    return audio


# -- the matrix -----------------------------------------------------------------------------------


@pytest.mark.parametrize("container,audio,output", CASES)
def test_audio_matrix(inputs, clip, tmp_path: Path, container: str, audio: str, output: str) -> None:
    source = inputs(container, audio)
    name, mode = OUTPUTS[output]
    target = tmp_path / name
    report = track_video(str(source.path), str(target), RepeatMask(), {0: clip[1]}, mode=mode)
    assert report.status == "completed" and report.frames_written == COUNT
    result = check_output(source, target)
    if result is None:
        assert report.video.audio == "none"
    elif report.video.audio == "copy":
        assert source.audio is not None and result.codec == source.audio.codec
    else:
        assert report.video.audio == "transcode"
        assert result.codec == ("opus" if target.suffix == ".webm" else "aac")


def test_pcm_and_flac_are_copied_where_the_container_really_takes_them(inputs, clip, tmp_path: Path) -> None:
    """The reported cases: PCM from Matroska is copied into MP4 (given channel positions);
    FLAC, which MOV lists but refuses, is transcoded there rather than failing."""
    pcm = inputs("mkv", "pcm_s16le")
    report = track_video(str(pcm.path), str(tmp_path / "pcm.mp4"), RepeatMask(), {0: clip[1]})
    assert report.video.audio == "copy"
    assert check_output(pcm, tmp_path / "pcm.mp4").codec == "pcm_s16le"  # type: ignore[union-attr]
    flac = inputs("mkv", "flac")
    for mode in ("overlay", "alpha"):
        target = tmp_path / f"flac.{mode}.mov"
        report = track_video(str(flac.path), str(target), RepeatMask(), {0: clip[1]}, mode=mode)
        assert report.video.audio == "transcode"
        assert check_output(flac, target).codec == "aac"  # type: ignore[union-attr]


@pytest.mark.parametrize("container,audio", sorted(CANNOT_HOLD), ids=lambda v: str(v))
def test_left_out_pairs_really_cannot_be_held(tmp_path: Path, clip, container: str, audio: str) -> None:
    """Each pair of CANNOT_HOLD fails as its reason says: writing it fails, or the file reads
    back without audio, or its audio does not decode, or its timeline disagrees with it."""
    path = tmp_path / f"{audio}.{container}"
    try:
        write_input(path, clip[0], audio)
    except (av.FFmpegError, ValueError):
        return
    try:
        decoded = decode_audio(path, picture_count_and_start(path)[1])
    except (av.FFmpegError, AssertionError):
        return
    if decoded is None:
        return
    assert abs((decoded.end - decoded.start) - decoded.samples) > decoded.frame, \
        f"{container} holds {audio} after all: {CANNOT_HOLD[container, audio]!r} is out of date"


# -- what the writer leaves behind ----------------------------------------------------------------


def test_a_copy_refused_at_the_header_falls_back_to_a_transcode(inputs, monkeypatch, tmp_path: Path) -> None:
    """With the trial in memory switched off, the real MOV muxer refuses FLAC when the writer
    writes the header: the writer starts the file again with the audio transcoded."""
    monkeypatch.setattr(writer_module, "audio_copy_problem", lambda *args, **kwargs: None)
    source = inputs("mkv", "flac")
    target = tmp_path / "fallback.mov"
    with VideoReader(source.path) as reader:
        writer = open_writer(resolve_output(str(target), "overlay"), width=WIDTH, height=HEIGHT,
                             time_base=reader.info.time_base, frame_rate=reader.info.frame_rate,
                             audio_stream=reader.audio_stream)
        assert writer.audio_mode == "frames"
        reader.set_audio_mode("frames")
        for item in reader.items():
            if isinstance(item, Frame):
                writer.write(item.image, item.pts)
            else:
                writer.write_audio(item)
        writer.close()
    assert check_output(source, target).codec == "aac"  # type: ignore[union-attr]


def test_an_output_that_cannot_start_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "broken.mp4"
    spec = resolve_output(str(target), "overlay")
    spec = dataclasses.replace(spec, codec_options={**spec.codec_options, "profile": "no-such-profile"})
    with pytest.raises(OutputError, match="broken.mp4"):
        open_writer(spec, width=WIDTH, height=HEIGHT, time_base=Fraction(1, 24))
    assert not target.exists()


def test_an_output_without_frames_is_removed(tmp_path: Path) -> None:
    target = tmp_path / "nothing.mkv"
    writer = open_writer(resolve_output(str(target), "overlay"), width=WIDTH, height=HEIGHT,
                         time_base=Fraction(1, 24))
    assert target.exists()  # the file is made when the writer opens (the header is written)
    writer.close()
    assert not target.exists()


def test_only_files_the_writer_wrote_are_removed(tmp_path: Path) -> None:
    """A file the writer failed to open is left as it was; one it (re)wrote goes."""
    kept = tmp_path / "kept.mp4"
    kept.write_bytes(b"user data")
    before = writer_module._FileState.of(str(kept))
    writer_module._remove_output(str(kept), before)
    assert kept.read_bytes() == b"user data"
    kept.write_bytes(b"half a header")
    writer_module._remove_output(str(kept), before)
    assert not kept.exists()
    writer_module._remove_output(os.devnull)  # never a device
    assert Path(os.devnull).exists()


# -- the command line, end to end -----------------------------------------------------------------


@pytest.mark.parametrize("video,audio,output,mode,kept_as", [
    pytest.param("ffv1", "pcm_s16le", "out.mp4", "overlay", "pcm_s16le", id="mkv(ffv1+pcm_s16le)->mp4"),
    pytest.param("libx264", "flac", "out.mov", "overlay", "aac", id="mkv(h264+flac)->mov"),
    pytest.param("libx264", "flac", "cut.mov", "alpha", "aac", id="mkv(h264+flac)->alpha.mov"),
])
def test_the_command_line(weights, clip, tmp_path: Path, video: str, audio: str, output: str,
                          mode: str, kept_as: str) -> None:
    """``aotvideo track in.mkv --mask m.png -o OUTPUT`` as reported: it used to exit 7."""
    source = tmp_path / "in.mkv"
    write_clip(source, clip[0], codec=video, audio_seconds=SECONDS, audio_codec=audio, sample_rate=RATE)
    mask = tmp_path / "m.png"
    write_palette_png(mask, clip[1])
    target = tmp_path / output
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               XDG_CACHE_HOME=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    env.pop("AOTVIDEO_CACHE", None)
    result = subprocess.run(
        [sys.executable, "-m", "aotvideo", "track", str(source), "--mask", str(mask), "-o", str(target),
         "--mode", mode, "--weights", str(weights), "-q"],
        env=env, capture_output=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    frames, start = picture_count_and_start(source)
    reference = Input(source, frames, decode_audio(source, start))
    assert check_output(reference, target).codec == kept_as  # type: ignore[union-attr]
