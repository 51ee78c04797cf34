"""The streaming pipeline with the real Tracker and the reference (synthetic) weights."""
from __future__ import annotations

import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

import aotvideo
from aotvideo.errors import InputDecodeError, MaskError, OutputError
from aotvideo.io import VideoReader, Yuv420Image, open_writer, read_mask, resolve_output
from aotvideo.io.testclips import scene, write_clip
from aotvideo.io.yuv import rgb_to_yuv
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
    """What the Tracker API gives for the same decoded frames (upright), frame by frame: the
    decoder's YUV planes, as the pipeline reads them."""
    out = []
    session = tracker(model)
    started = False
    with VideoReader(path, planar=True) as reader:
        quarters = reader.info.rotation // 90
        for frame in reader.frames():
            assert isinstance(frame.image, Yuv420Image)
            image = frame.image.rot90(quarters)
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
    assert report.status == "completed" and report.frames == COUNT
    assert report.objects == [1, 2, 3]
    areas = report.areas[6]["pixels"]
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


class _Timed:
    """The real tracker, with the time span of every step noted."""

    def __init__(self, session: aotvideo.Tracker, spans: list[tuple[float, float]]) -> None:
        self.session, self.spans, self.device = session, spans, session.device

    def step(self, frame, mask=None):
        start = time.perf_counter()
        try:
            return self.session.step(frame, mask=mask)
        finally:
            self.spans.append((start, time.perf_counter()))


def test_on_the_cpu_writing_waits_for_the_model(model, clip, tmp_path: Path) -> None:
    """A CPU model's steps and the writer's pictures never overlap in time in turns; the
    output is what the tracker gives."""
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0])
    steps: list[tuple[float, float]] = []
    writes: list[tuple[float, float]] = []
    masks = {0: clip[1][0]}
    spec = resolve_output(str(tmp_path / "m"), "masks")
    with VideoReader(source, planar=True) as reader:
        writer = open_writer(spec, width=WIDTH, height=HEIGHT, time_base=reader.info.time_base)
        write = writer.write

        def timed_write(*args, **kwargs):
            start = time.perf_counter()
            write(*args, **kwargs)
            writes.append((start, time.perf_counter()))

        writer.write = timed_write  # type: ignore[method-assign]
        report = Pipeline(reader, writer, _Timed(tracker(model), steps), masks, mode="masks",
                          schedule="turns").run()
    assert report.schedule == "turns"
    assert len(steps) == len(writes) == COUNT
    for start, end in writes:
        assert not any(s < end and start < e for s, e in steps)
    expected = reference_labels(model, source, masks)
    for index in range(COUNT):
        np.testing.assert_array_equal(read_mask(tmp_path / "m" / f"{index:05d}.png"), expected[index])


def test_overlay_keeps_frames_timestamps_rotation_and_audio(model, clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], pts=VFR_PTS, rotation=270, audio_seconds=0.7)
    mask = np.rot90(clip[1][0], 3)
    report = track_video(str(source), str(tmp_path / "out.mp4"), tracker(model), {0: mask})
    assert report.video.audio == "copy"
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
    assert report.video.audio == "transcode"
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
    assert report.status == "input_error" and "cut.mp4" in report.message
    assert 0 < report.frames < 24 and report.frames_written == report.frames
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert len(list(out.decode(video=0))) == report.frames


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
    assert pipeline.report.status == "interrupted"
    assert "4 frames" in pipeline.report.message
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
    assert pipeline.report.status == "output_error"


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
    assert report.status == "cancelled" and report.frames_written == 2


# -- the one run function ------------------------------------------------------------------------


class _Counting:
    """A tracker that repeats the last mask it was given and counts its steps."""

    def __init__(self) -> None:
        self.steps = 0
        self.labels: np.ndarray | None = None

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None):
        from types import SimpleNamespace

        import torch

        self.steps += 1
        if mask is not None:
            self.labels = mask
        ids = tuple(int(i) for i in np.unique(self.labels) if i)
        return SimpleNamespace(label_map=torch.from_numpy(self.labels), object_ids=ids,
                               probs=torch.zeros((1 + len(ids),) + self.labels.shape))


def test_run_track_builds_the_tracker_after_the_masks_and_writes_where_asked(clip, tmp_path: Path) -> None:
    from aotvideo.pipeline import RunRequest, VideoSource, run_track

    source = tmp_path / "in.mp4"
    write_clip(source, clip[0])
    built: list[_Counting] = []

    def build() -> _Counting:
        built.append(_Counting())
        return built[-1]

    bad = RunRequest(VideoSource(str(source)), resolve_output(str(tmp_path / "m"), "masks"),
                     {0: np.zeros((HEIGHT, WIDTH), np.int64)})
    with pytest.raises(MaskError, match="empty"):
        run_track(bad, build)
    assert not built and not (tmp_path / "m").exists()  # a bad mask: no model, no output

    first = np.where(clip[1][3] > 0, 7, 0)
    request = RunRequest(VideoSource(str(source)), resolve_output(str(tmp_path / "final"), "masks"),
                         lambda reader: {3: first}, areas=True, write_to=str(tmp_path / "partial"))
    report = run_track(request, build, model="deaott", weights="w.pth")
    assert len(built) == 1 and built[0].steps == COUNT - 3  # frames before the first mask: no step
    assert not (tmp_path / "final").exists() and len(list((tmp_path / "partial").iterdir())) == COUNT
    assert report.status == "completed" and report.objects == [7]
    assert [a["pixels"] for a in report.areas[:3]] == [{}, {}, {}]
    facts = report.to_json()
    assert facts["model"] == "deaott" and facts["weights"] == "w.pth"
    assert facts["video"] == {"width": WIDTH, "height": HEIGHT, "rotation": 0, "frames": COUNT,
                              "frame_rate": facts["video"]["frame_rate"], "audio": "none",
                              "colour": "untagged"}
    assert set(facts) == {"input", "output", "mode", "soft", "video", "status", "message", "frames",
                          "frames_written", "frames_backward", "seconds", "fps", "cpu_seconds",
                          "peak_memory_mb", "objects", "areas", "model", "weights", "device",
                          "precision", "schedule"}


class _Pacing(_Counting):
    """A counting tracker that takes ``seconds`` a step, busy on the CPU or asleep."""

    def __init__(self, seconds: float, busy: bool) -> None:
        super().__init__()
        self.seconds, self.busy = seconds, busy

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None):
        end = time.perf_counter() + self.seconds
        if not self.busy:
            time.sleep(self.seconds)
        while time.perf_counter() < end:
            pass
        return super().step(frame, mask)


def test_the_report_says_how_much_cpu_the_run_used(clip, tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0])
    step = 0.1
    busy = track_video(str(source), str(tmp_path / "busy.mp4"), _Pacing(step, True), {0: clip[1][0]})
    idle = track_video(str(source), str(tmp_path / "idle.mp4"), _Pacing(step, False), {0: clip[1][0]})
    assert busy.seconds >= COUNT * step and idle.seconds >= COUNT * step
    # a step that spins is CPU time; one that sleeps is not (decoding and writing these small
    # frames take a few milliseconds each)
    assert busy.cpu_seconds >= 0.9 * COUNT * step
    assert idle.cpu_seconds < 0.5 * COUNT * step
    assert busy.to_json()["cpu_seconds"] == busy.cpu_seconds


def test_masks_mode_refuses_ids_a_palette_cannot_hold(clip, tmp_path: Path) -> None:
    from aotvideo.pipeline import RunRequest, VideoSource, run_track

    source = tmp_path / "in.mp4"
    write_clip(source, clip[0])
    request = RunRequest(VideoSource(str(source)), resolve_output(str(tmp_path / "m"), "masks"),
                         {0: np.where(clip[1][0] > 0, 300, 0)})
    with pytest.raises(MaskError, match="ids up to 255; the mask has 300"):
        run_track(request, _Counting())


def test_track_frame_and_render_frame_are_the_shared_step() -> None:
    """What the GStreamer element and the pipeline both call per frame."""
    from aotvideo.pipeline import render_frame, track_frame

    image = np.full((8, 10, 3), 90, np.uint8)
    counting = _Counting()
    before = track_frame(counting, image, None, started=False, probs=True)
    assert counting.steps == 0 and before.object_ids == () and not before.labels.any()
    assert before.probs is not None and before.probs.shape == (1, 8, 10) and before.probs.all()
    mask = np.zeros((8, 10), np.int64)
    mask[2:5, 3:7] = 4
    after = track_frame(counting, image, mask, started=False)
    assert counting.steps == 1 and after.object_ids == (4,) and after.probs is None
    assert after.labels.dtype == np.uint8  # the smallest type for the ids: queues stay small
    assert (render_frame("masks", image, after) == mask).all()
    assert (render_frame("matte", image, after) == np.where(mask > 0, 255, 0)).all()
    rgba = render_frame("alpha", image, after)
    assert rgba.shape == (8, 10, 4) and (rgba[..., 3] == np.where(mask > 0, 255, 0)).all()
    shown = render_frame("overlay", image, after)
    assert (shown[mask == 0] == 90).all() and (shown[mask > 0] != 90).any()


@pytest.mark.parametrize("target,mode", [("out.mp4", "overlay"), ("out.mov", "alpha")])
def test_outputs_keep_the_inputs_colour_description(model, clip, tmp_path: Path, target: str,
                                                    mode: str) -> None:
    """A camera's BT.709 clip (8-bit 4:2:0: its planes go to the encoder as they are for the
    overlay, resampled to 4:4:4 for the alpha clip): the outputs are tagged BT.709 and show the
    input's colours away from the objects."""
    from aotvideo.io.colour import Colour, rgb_of
    bt709 = Colour(matrix=1, primaries=1, transfer=1, range=1)
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], colour=bt709, options={"crf": "0"})
    out = tmp_path / target
    spec = resolve_output(str(out), mode, crf=0 if mode == "overlay" else None)  # lossless H.264
    report = track_video(str(source), spec, tracker(model), {0: clip[1][0]}, mode=mode)
    assert report.video.colour == "BT.709 matrix, limited range, BT.709 primaries, BT.709 transfer"

    def first(path: Path) -> tuple[Colour, np.ndarray]:
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0))
            return Colour.of_frame(frame), rgb_of(frame).astype(float)

    (tags_in, shown_in), (tags_out, shown_out) = first(source), first(out)
    assert tags_in == tags_out == bt709
    away = np.ones(clip[1][0].shape, bool)  # pixels 3 or more away from every object
    for dy in range(-3, 4):
        for dx in range(-3, 4):
            away &= np.roll(clip[1][0], (dy, dx), (0, 1)) == 0
    difference = np.abs(shown_out - shown_in)[away]
    assert difference.mean() < 1.5, difference.mean()


def _luma_and_alpha(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """The first frame's luma in 8-bit levels (float) and its alpha (0..255, None without),
    read from the planes a video stores, or from an RGBA PNG by the BT.709 matrix."""
    if path.suffix == ".png":
        rgba = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA)
        rgba = rgba.astype(float)
        r, g, b = rgba[..., 0], rgba[..., 1], rgba[..., 2]
        return 16.0 + 219.0 * (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255.0, rgba[..., 3]
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    alpha = frame.format.name.startswith("yuva")
    deep = frame.reformat(format="yuva444p16le" if alpha else "yuv444p16le")
    planes = [np.frombuffer(p, np.uint16).reshape(frame.height, -1)[:, :frame.width] / 256.0
              for p in deep.planes]
    return planes[0], planes[3] if alpha else None


@pytest.mark.parametrize("target", ["out.mov", "out.webm", "frames"])
def test_alpha_outputs_keep_the_inputs_values(model, clip, tmp_path: Path, target: str) -> None:
    """An 8-bit 4:2:0 clip's alpha outputs carry its own picture: ProRes 4444 and VP9 take its
    planes (chroma resampled, no RGB on the way), a PNG folder their RGB. The luma is the
    input's -- not a level darker, as FFmpeg's default YUV -> RGB made it -- and the alpha is
    the tracked matte (the mask, on the mask's frame)."""
    from aotvideo.io.colour import Colour
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0], colour=Colour(matrix=1, primaries=1, transfer=1, range=1),
               options={"crf": "0"})
    out = tmp_path / target
    track_video(str(source), resolve_output(str(out), "alpha"), tracker(model),
                {0: clip[1][0]}, mode="alpha")
    luma_in, _ = _luma_and_alpha(source)
    luma_out, alpha = _luma_and_alpha(out / "00000.png" if target == "frames" else out)
    difference = luma_out - luma_in
    assert abs(float(difference.mean())) < 0.1, difference.mean()
    lossy = 2.0 if target == "out.webm" else 0.6  # VP9 at its default quality
    assert float(np.abs(difference).mean()) < lossy, np.abs(difference).mean()
    if alpha is not None:
        np.testing.assert_array_equal(alpha.round(), np.where(clip[1][0] > 0, 255, 0))


def _planes_as_stored(path: Path) -> list[np.ndarray]:
    """The first frame's planes (Y, U, V and alpha if any) as stored, in 10-bit codes (float)."""
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
    alpha = frame.format.name.startswith("yuva")
    deep = frame.reformat(format="yuva444p16le" if alpha else "yuv444p16le")
    return [np.frombuffer(p, np.uint16).reshape(frame.height, -1)[:, :frame.width] / 64.0
            for p in deep.planes]


def _ten_bit_picture(height: int, width: int) -> av.VideoFrame:
    """A yuv422p10le picture whose planes climb one 10-bit code at a time (a quarter of an 8-bit
    level): luma across, chroma down, detail 8 bits cannot hold."""
    frame = av.VideoFrame(width, height, "yuv422p10le")
    frame.colorspace, frame.color_range = 1, 1
    rows, cols = np.mgrid[0:height, 0:width]
    luma = 300 + cols * 3 + rows % 3
    chroma = 512 + (rows[:, ::2] - height // 2) * 2 + cols[:, ::2] % 2
    for plane, values in zip(frame.planes, (luma, chroma, 1024 - chroma)):
        np.frombuffer(plane, np.uint16).reshape(values.shape[0], -1)[:, :values.shape[1]] = values
    return frame


@pytest.mark.parametrize("rotation", [0, 90])
def test_a_ten_bit_sources_alpha_clip_keeps_its_ten_bits(model, tmp_path: Path,
                                                         rotation: int) -> None:
    """An editor's ProRes 422 HQ (10-bit 4:2:2) in, ProRes 4444 with alpha out: the picture is
    the source's own planes, resampled to 4:4:4 -- not 8 bits through RGB, which lose the
    quarter-level steps -- and the alpha is the matte, turned with the picture when the source
    is stored rotated (the output keeps the rotation)."""
    from aotvideo.io.colour import Colour
    stored = (HEIGHT, WIDTH) if rotation == 0 else (WIDTH, HEIGHT)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)  # drawn upright, as shown
    mask[10:40, 20:50] = 1
    source = tmp_path / "in.mov"
    write_clip(source, [_ten_bit_picture(*stored)] * 3, codec="prores_ks",
               pix_fmt="yuv422p10le", options={"profile": "3"},
               colour=Colour(matrix=1, primaries=1, transfer=1, range=1), rotation=rotation)
    out = tmp_path / "out.mov"
    track_video(str(source), resolve_output(str(out), "alpha"), tracker(model), {0: mask},
                mode="alpha")
    y_in = _planes_as_stored(source)[0]
    y_out, _, _, alpha = _planes_as_stored(out)
    difference = y_out - y_in
    # through 8-bit RGB: 0.53 of a code on average, up to 2.25 (measured)
    assert float(np.abs(difference).mean()) < 0.3 and float(np.abs(difference).max()) <= 1.0
    stored_mask = np.rot90(mask, -rotation // 90)
    np.testing.assert_array_equal(alpha > 512, stored_mask > 0)
    assert np.all((alpha < 1) | (alpha > 1022))  # opaque or clear, nothing between


def test_a_rotated_ten_bit_sources_alpha_frames_are_upright(model, tmp_path: Path) -> None:
    """PNG frames cannot keep a rotation: the alpha picture made from a rotated 10-bit source's
    decoded frames is turned upright with its matte, and shows the source's colours."""
    from aotvideo.io.colour import Colour, rgb_of
    source = tmp_path / "in.mov"
    write_clip(source, [_ten_bit_picture(WIDTH, HEIGHT)] * 2, codec="prores_ks",
               pix_fmt="yuv422p10le", options={"profile": "3"},
               colour=Colour(matrix=1, primaries=1, transfer=1, range=1), rotation=90)
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)  # as shown: the stored frame turned a quarter
    mask[10:40, 20:50] = 1
    out = tmp_path / "frames"
    track_video(str(source), resolve_output(str(out), "alpha"), tracker(model), {0: mask},
                mode="alpha")
    rgba = cv2.cvtColor(cv2.imread(str(out / "00000.png"), cv2.IMREAD_UNCHANGED),
                        cv2.COLOR_BGRA2RGBA)
    np.testing.assert_array_equal(rgba[..., 3], np.where(mask > 0, 255, 0))
    with av.open(str(source)) as container:
        upright = np.rot90(rgb_of(next(container.decode(video=0))))
    assert np.abs(rgba[..., :3].astype(int) - upright).mean() < 0.6


def _first_overlay_planes(model, source: Path) -> Yuv420Image:
    """The first frame of a lossless H.264 overlay of ``source`` (one object: the rectangle
    rows 10-29, columns 20-39), as its planes."""
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[10:30, 20:40] = 1
    out = source.with_name("overlay.mp4")
    track_video(str(source), resolve_output(str(out), "overlay", crf=0), tracker(model),
                {0: mask}, mode="overlay")
    with av.open(str(out)) as container:
        planes = Yuv420Image.from_video_frame(next(container.decode(video=0)))
    assert planes is not None
    return planes


def test_a_ten_bit_sources_overlay_is_drawn_on_its_420_planes(model, tmp_path: Path) -> None:
    """An H.264 overlay (8-bit 4:2:0) of a 10-bit 4:2:2 source: the frames are brought to 8-bit
    4:2:0 planes once (no RGB on the way), so away from the objects the lossless output holds
    exactly the scaler's 4:2:0 of the source."""
    from aotvideo.io.colour import Colour
    source = tmp_path / "in.mov"
    write_clip(source, [_ten_bit_picture(HEIGHT, WIDTH)] * 3, codec="prores_ks",
               pix_fmt="yuv422p10le", options={"profile": "3"},
               colour=Colour(matrix=1, primaries=1, transfer=1, range=1))
    got = _first_overlay_planes(model, source)
    with av.open(str(source)) as container:
        expected = Yuv420Image.from_video_frame(next(container.decode(video=0)), convert=True)
    assert expected is not None
    away = np.ones((HEIGHT, WIDTH), bool)
    away[5:35, 15:45] = False
    np.testing.assert_array_equal(got.y[away], expected.y[away])
    assert not np.array_equal(got.y[~away], expected.y[~away])  # the object is drawn


@pytest.mark.parametrize("transfer,white", [(1, 1.0), (18, 0.75), (16, 0.58)])
def test_overlays_on_hdr_footage_are_drawn_at_graphics_white(model, clip, tmp_path: Path,
                                                             transfer: int, white: float) -> None:
    """An overlay on HLG or PQ footage (BT.2020) is drawn at BT.2408's graphics white, not at
    full code values that would glare; on SDR footage at full colour."""
    from aotvideo.io.colour import Colour
    from aotvideo.render import object_colour
    source = tmp_path / "in.mp4"
    write_clip(source, clip[0][:2], colour=Colour(matrix=9, primaries=9, transfer=transfer,
                                                  range=1), options={"crf": "0"})
    drawn = _first_overlay_planes(model, source)
    outline = tuple(c * white for c in object_colour(1))
    assert drawn.y[10, 30] == round(rgb_to_yuv(outline, drawn)[0])


@pytest.mark.parametrize("schedule", ["side-by-side", "auto"])
def test_other_schedules_give_the_same_output(model, clip, tmp_path: Path, schedule: str) -> None:
    """Side by side (the model on one thread fewer, decoding and writing beside it) and auto
    (both measured on the first frames, the faster kept: a 24-frame clip gets past the choice)
    write what the tracker gives; the model's threads are back afterwards and the report says
    what was done."""
    frames = clip[0] + clip[0][::-1] + clip[0][:24 - 2 * COUNT]
    source = tmp_path / "in.mp4"
    write_clip(source, frames)
    masks = {0: clip[1][0]}
    threads = torch.get_num_threads()
    spec = resolve_output(str(tmp_path / "m"), "masks")
    with VideoReader(source, planar=True) as reader:
        writer = open_writer(spec, width=WIDTH, height=HEIGHT, time_base=reader.info.time_base)
        report = Pipeline(reader, writer, tracker(model), masks, mode="masks",
                          schedule=schedule).run()
    assert torch.get_num_threads() == threads
    if threads < 2:
        assert report.schedule == "turns"
    elif schedule == "side-by-side":
        assert report.schedule == "side-by-side"
    else:
        assert report.schedule.startswith(("turns: ", "side by side: measured"))
    expected = reference_labels(model, source, masks)
    assert report.frames == len(expected) == 24
    for index in range(24):
        np.testing.assert_array_equal(read_mask(tmp_path / "m" / f"{index:05d}.png"), expected[index])
