"""The streaming pipeline with the real Tracker and the reference (synthetic) weights."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

import aotvideo
from aotvideo.errors import InputDecodeError, MaskError, OutputError
from aotvideo.io import VideoReader, open_writer, read_mask, resolve_output
from aotvideo.io.testclips import scene, write_clip
from aotvideo.pipeline import Pipeline, check_masks, track_video

WIDTH, HEIGHT, COUNT = 96, 64, 10
VFR_PTS = [0, 1, 3, 4, 7, 8, 9, 12, 13, 15]


@pytest.fixture
def model(deaott_model):
    """DeAOT-T with the reference synthetic weights (shared session fixture of tests/conftest.py)."""
    return deaott_model


@pytest.fixture(scope="module")
def clip():
    frames, labels = zip(*scene(WIDTH, HEIGHT, COUNT, seed=0))
    return list(frames), list(labels)


def tracker(model):
    return aotvideo.Tracker(model, "cpu")


def reference_labels(model, path: Path, masks: dict[int, np.ndarray]) -> list[np.ndarray]:
    """What the Tracker API gives for the same decoded frames (upright), frame by frame."""
    out = []
    session = tracker(model)
    started = False
    with VideoReader(path) as reader:
        quarters = reader.info.rotation // 90
        for frame in reader.frames():
            image = np.ascontiguousarray(np.rot90(frame.image, quarters))
            mask = masks.get(frame.index)
            if not started and mask is None:
                out.append(np.zeros(image.shape[:2], np.int64))
                continue
            started = True
            out.append(session.step(image, mask=mask).labels.numpy())
    return out


@pytest.mark.parametrize("rotation", [0, 90])
def test_masks_output_equals_tracker_step(model, clip, tmp_path: Path, rotation) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], pts=VFR_PTS, rotation=rotation)
    first = np.rot90(clip[1][0], rotation // 90)
    first = np.where(first == 3, 0, first)  # objects 1 and 2 from the start ...
    later = np.where(np.rot90(clip[1][4], rotation // 90) == 3, 3, 0)  # ... object 3 from frame 4
    masks = {0: first, 4: later}
    report = track_video(str(source), str(tmp_path / "masks"), tracker(model), masks, mode="masks")
    expected = reference_labels(model, source, masks)
    written = sorted((tmp_path / "masks").glob("*.png"))
    assert [p.name for p in written] == [f"{i:05d}.png" for i in range(COUNT)]
    for path, labels in zip(written, expected):
        got = read_mask(path)
        assert got.shape == (first.shape[0], first.shape[1])  # upright, as shown
        np.testing.assert_array_equal(got, labels)
    assert report["status"] == "completed" and report["frames"] == COUNT
    assert report["objects"] == [1, 2, 3]
    areas = report["areas"][6]["pixels"]
    assert areas == {str(k): int(v) for k, v in zip(*np.unique(expected[6], return_counts=True)) if k}


def test_tracking_starts_at_the_first_mask(model, clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mkv"
    write_clip(source, clip[0], format="matroska")
    masks = {3: clip[1][3]}
    track_video(str(source), str(tmp_path / "m"), tracker(model), masks, mode="masks")
    expected = reference_labels(model, source, masks)
    for index in range(COUNT):
        got = read_mask(tmp_path / "m" / f"{index:05d}.png")
        np.testing.assert_array_equal(got, expected[index])
        assert (got == 0).all() == (index < 3)


def test_overlay_keeps_frames_timestamps_rotation_and_audio(model, clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], pts=VFR_PTS, rotation=270, audio_seconds=0.7)
    mask = np.rot90(clip[1][0], 3)
    report = track_video(str(source), str(tmp_path / "out.mp4"), tracker(model), {0: mask})
    assert report["video"]["audio"] == "copy"
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert [s.type for s in out.streams] == ["video", "audio"]
        frames = list(out.decode(video=0))
    assert len(frames) == COUNT
    np.testing.assert_allclose([f.time for f in frames], np.array(VFR_PTS) / 24, atol=1e-3)
    assert frames[0].rotation in (270, -90)
    assert (frames[0].width, frames[0].height) == (WIDTH, HEIGHT)  # stored orientation kept


def test_containers_without_rotation_get_upright_frames(model, clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], rotation=90)
    mask = np.rot90(clip[1][0])
    track_video(str(source), str(tmp_path / "out.nut"), tracker(model), {0: mask}, mode="matte")
    with av.open(str(tmp_path / "out.nut")) as out:
        frames = list(out.decode(video=0))
    assert len(frames) == COUNT
    assert (frames[0].width, frames[0].height, frames[0].rotation) == (HEIGHT, WIDTH, 0)
    gray = frames[0].to_ndarray(format="gray")  # frame 0 is the mask itself
    assert gray[mask > 0].mean() > 240 and gray[mask == 0].mean() < 15


def test_soft_alpha_webm(model, clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], audio_seconds=0.5)
    target = tmp_path / "cut.webm"
    report = track_video(str(source), str(target), tracker(model), {0: clip[1][0]}, mode="alpha", soft=True)
    assert report["video"]["audio"] == "transcode"
    with av.open(str(target)) as container:
        context = av.CodecContext.create("libvpx-vp9", "r")
        frames = [f for p in container.demux(container.streams.video[0]) for f in context.decode(p)]
    assert len(frames) == COUNT and frames[0].format.name == "yuva420p"
    alpha = frames[0].to_ndarray(format="rgba")[..., 3]
    # frame 0 is the given mask: opaque objects, transparent background
    assert alpha[clip[1][0] > 0].mean() > 240 and alpha[clip[1][0] == 0].mean() < 15


def test_check_masks_errors(clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], rotation=90)
    with VideoReader(source) as reader:
        info = reader.info
    upright = np.rot90(clip[1][0])
    with pytest.raises(MaskError, match="rotated by 90"):
        check_masks({0: clip[1][0]}, info)
    with pytest.raises(MaskError, match="is 10x10 but the video is 64x96"):
        check_masks({0: np.ones((10, 10), int)}, info)
    with pytest.raises(MaskError, match="empty"):
        check_masks({0: np.zeros_like(upright)}, info)
    with pytest.raises(MaskError, match="past the end"):
        check_masks({0: upright, 99: upright}, info)
    with pytest.raises(MaskError, match="7"):
        check_masks({0: upright}, info, objects=[1, 7])
    with pytest.raises(MaskError, match="no mask"):
        check_masks({}, info)
    kept = check_masks({0: upright}, info, objects=[2])
    assert set(np.unique(kept[0]).tolist()) == {0, 2}


def _open(source: Path, target: Path, mode: str = "overlay", **spec):
    reader = VideoReader(source)
    writer = open_writer(resolve_output(str(target), mode, **spec), width=reader.info.width,
                         height=reader.info.height, time_base=reader.info.time_base,
                         frame_rate=reader.info.frame_rate, rotation=reader.info.rotation,
                         audio_stream=reader.audio_stream)
    reader.set_audio_mode(writer.audio_mode)
    return reader, writer


def test_truncated_input_leaves_a_playable_output(model, tmp_path: Path) -> None:
    frames, labels = zip(*scene(WIDTH, HEIGHT, 24, seed=1))
    source = tmp_path / "in.mp4"
    write_clip(source, list(frames), container_options={"movflags": "faststart"})
    data = source.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.7)])
    reader, writer = _open(cut, tmp_path / "out.mp4")
    pipeline = Pipeline(reader, writer, tracker(model), {0: labels[0]})
    with pytest.raises(InputDecodeError):
        pipeline.run()
    report = pipeline.report
    assert report["status"] == "input_error" and "cut.mp4" in report["message"]
    assert 0 < report["frames"] < 24 and report["frames_written"] == report["frames"]
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert len(list(out.decode(video=0))) == report["frames"]


def test_interrupt_finalizes_the_output(model, clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], audio_seconds=0.5)

    def progress(state) -> None:
        if state.frames == 4:
            raise KeyboardInterrupt

    reader, writer = _open(source, tmp_path / "out.mov", "alpha")
    pipeline = Pipeline(reader, writer, tracker(model), {0: clip[1][0]}, mode="alpha", progress=progress)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run()
    assert pipeline.report["status"] == "interrupted"
    assert "4 frames" in pipeline.report["message"]
    with av.open(str(tmp_path / "out.mov")) as out:
        decoded = list(out.decode(video=0))
    assert len(decoded) == 4 and decoded[0].format.name.startswith("yuva")


def test_output_failure_is_reported(model, clip, tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0])
    reader, writer = _open(source, Path("/dev/full"), format="nut", codec="ffv1")
    pipeline = Pipeline(reader, writer, tracker(model), {0: clip[1][0]})
    with pytest.raises(OutputError, match="/dev/full"):
        pipeline.run()
    assert pipeline.report["status"] == "output_error"


def test_cancel_stops_cleanly(model, clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0])
    reader, writer = _open(source, tmp_path / "out.mkv")
    holder: list[Pipeline] = []

    def progress(state) -> None:
        if state.frames == 2:
            holder[0].cancel()

    pipeline = Pipeline(reader, writer, tracker(model), {0: clip[1][0]}, progress=progress)
    holder.append(pipeline)
    report = pipeline.run()
    assert report["status"] == "cancelled" and report["frames_written"] == 2
