"""The pictures the pipeline and ``aotvideo track`` write, pixel for pixel.

For every display rotation (0, 90, 180, 270 degrees) a clip is stored losslessly (FFV1) with
that rotation, and an :class:`aotvideo.Tracker` is run directly on the upright frames (the
stored frames turned as a player turns them) with the same weights. The outputs of every mode
-- overlay, matte (hard and ``soft``), alpha (hard and ``soft``) and masks -- are written in
lossless formats (FFV1 in Matroska and NUT, PNG, raw video), decoded again, turned upright by
their own rotation metadata, and compared on every frame with the package's render functions
applied to the Tracker's labels and probabilities. Frame 0 is the given mask; the later frames
are what tracking made of it, and one object is added on frame 3.

Whether ``np.rot90(stored, rotation / 90)`` really is what a player shows is checked apart,
with the ffmpeg command line (which turns frames by their display matrix on its own).
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import aotvideo
from aotvideo.io import VideoReader, read_mask, resolve_output, write_palette_png
from aotvideo.io.testclips import scene, write_clip
from aotvideo.pipeline import track_video
from aotvideo.render import matte, overlay, with_alpha

ROOT = Path(__file__).resolve().parents[1]
WIDTH, HEIGHT, COUNT = 96, 64, 6
LATER = 3  # object 3 is given on this frame
ROTATIONS = [0, 90, 180, 270]
AOTVIDEO = [sys.executable, "-m", "aotvideo"]


# -- the clip and what the Tracker API makes of it ------------------------------------------------


@dataclass
class Case:
    """One rotation: the stored clip, its upright frames and masks, the Tracker's results."""

    rotation: int
    folder: Path
    source: Path
    upright: list[np.ndarray]
    masks: dict[int, np.ndarray]
    labels: list[np.ndarray] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    ids: list[tuple[int, ...]] = field(default_factory=list)

    def expected(self, mode: str, soft: bool = False) -> list[np.ndarray]:
        """What each frame of ``mode`` must look like upright, from the render functions."""
        out = []
        for frame, labels, probs, ids in zip(self.upright, self.labels, self.probs, self.ids):
            if mode == "masks":
                out.append(labels)
            elif mode == "overlay":
                out.append(overlay(frame, labels, ids))
            else:
                alpha = matte(labels, None, probs, soft, prob_ids=ids)
                out.append(alpha if mode == "matte" else with_alpha(frame, alpha))
        return out


def _make_case(model, folder: Path, rotation: int) -> Case:
    quarters = rotation // 90
    frames, truth = zip(*scene(WIDTH, HEIGHT, COUNT, objects=3, seed=7))
    source = folder / "in.mkv"
    write_clip(source, list(frames), codec="ffv1", pix_fmt="bgr0", rotation=rotation)
    with VideoReader(source) as reader:
        assert reader.info.rotation == rotation
        decoded = [f.image for f in reader.frames()]
    for stored, original in zip(decoded, frames):  # lossless: the tracker and we see the same
        np.testing.assert_array_equal(stored, original)
    upright = [np.ascontiguousarray(np.rot90(f, quarters)) for f in frames]
    first = np.rot90(np.where(truth[0] == 3, 0, truth[0]), quarters)  # objects 1 and 2 ...
    later = np.rot90(np.where(truth[LATER] == 3, 3, 0), quarters)  # ... and 3 from frame 3
    case = Case(rotation, folder, source, upright, {0: first, LATER: later})

    tracker = aotvideo.Tracker(model, "cpu")
    for index, image in enumerate(upright):
        result = tracker.step(image, mask=case.masks.get(index))
        case.labels.append(result.labels.numpy())
        case.probs.append(result.probs.numpy())
        case.ids.append(tuple(int(i) for i in result.object_ids))

    # The comparisons below mean something only if tracking changed the picture after frame 0
    # and the soft matte is soft there.
    assert case.ids[-1] == (1, 2, 3)
    assert any((labels != case.labels[0]).sum() > 50 for labels in case.labels[1:])
    soft = case.expected("matte", soft=True)
    assert any(((m > 0) & (m < 255)).sum() > 20 for m in soft[1:])
    assert not np.array_equal(soft[-1], case.expected("matte")[-1])
    return case


@pytest.fixture(scope="module")
def cases(deaott_model, tmp_path_factory):
    """``cases(rotation)``: the :class:`Case` of a rotation (made once per module)."""
    made: dict[int, Case] = {}

    def get(rotation: int) -> Case:
        if rotation not in made:
            made[rotation] = _make_case(deaott_model, tmp_path_factory.mktemp(f"rot{rotation}"), rotation)
        return made[rotation]

    return get


# -- decoding outputs ------------------------------------------------------------------------------


def decode_upright(path: Path, fmt: str) -> tuple[list[np.ndarray], int]:
    """Decode a video file in ``fmt`` (rgb24, gray, rgba) and turn each frame upright by the
    file's own display rotation; returns the frames and that rotation."""
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    rotation = (round(float(frames[0].rotation or 0) / 90) % 4) * 90
    return [np.rot90(f.to_ndarray(format=fmt), rotation // 90) for f in frames], rotation


def read_png_folder(folder: Path, fmt: str) -> list[np.ndarray]:
    images = []
    for path in sorted(folder.glob("*.png")):
        if fmt == "labels":
            images.append(read_mask(path))
            continue
        with av.open(str(path)) as container:
            images.append(next(container.decode(video=0)).to_ndarray(format=fmt))
    return images


def assert_frames_equal(got: list[np.ndarray], expected: list[np.ndarray], what: str) -> None:
    assert len(got) == len(expected), f"{what}: {len(got)} frames, expected {len(expected)}"
    for index, (image, wanted) in enumerate(zip(got, expected)):
        assert image.shape == wanted.shape, f"{what}, frame {index}: {image.shape} != {wanted.shape}"
        differ = np.any(image != wanted, axis=-1) if image.ndim == 3 else image != wanted
        assert not differ.any(), (f"{what}, frame {index}: {int(differ.sum())} of {differ.size} "
                                  f"pixels differ from the render of the Tracker's result")


# -- the pipeline, in this process -----------------------------------------------------------------

#: name -> (mode, soft, output file or folder, extra output options): lossless outputs all.
OUTPUTS = {
    "overlay_mkv": ("overlay", False, "overlay.mkv", {"codec": "ffv1", "pix_fmt": "bgr0"}),
    "overlay_nut": ("overlay", False, "overlay.nut", {"codec": "ffv1", "pix_fmt": "bgr0"}),
    "matte_mkv": ("matte", False, "matte.mkv", {"codec": "ffv1", "pix_fmt": "gray"}),
    "soft_matte_nut": ("matte", True, "soft_matte.nut", {"codec": "ffv1", "pix_fmt": "gray"}),
    "soft_alpha_mkv": ("alpha", True, "soft_alpha.mkv", {}),  # FFV1 bgra by default
    "alpha_png": ("alpha", False, "alpha", {}),
    "masks_png": ("masks", False, "masks", {}),
}


@pytest.fixture(scope="module")
def written(cases, deaott_model):
    """``written(rotation)``: folder where every :data:`OUTPUTS` entry was written by
    :func:`~aotvideo.pipeline.track_video` for that rotation's clip."""
    done: dict[int, Path] = {}

    def get(rotation: int) -> Path:
        if rotation not in done:
            case = cases(rotation)
            folder = case.folder / "pipeline"
            folder.mkdir()
            for mode, soft, name, options in OUTPUTS.values():
                spec = resolve_output(str(folder / name), mode, **options)
                report = track_video(str(case.source), spec, aotvideo.Tracker(deaott_model, "cpu"),
                                     case.masks, mode=mode, soft=soft)
                assert report.status == "completed" and report.frames_written == COUNT
            done[rotation] = folder
        return done[rotation]

    return get


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_overlay_pixels(rotation: int, cases, written) -> None:
    case, folder = cases(rotation), written(rotation)
    expected = case.expected("overlay")
    frames, stored_rotation = decode_upright(folder / "overlay.mkv", "rgb24")
    assert stored_rotation == rotation  # Matroska keeps the rotation: frames stay as stored
    assert_frames_equal(frames, expected, f"overlay.mkv, rotation {rotation}")
    frames, stored_rotation = decode_upright(folder / "overlay.nut", "rgb24")
    assert stored_rotation == 0  # NUT cannot store a rotation: frames are written upright
    assert_frames_equal(frames, expected, f"overlay.nut, rotation {rotation}")
    # the overlay shows the objects, not just the video
    assert not np.array_equal(expected[-1], case.upright[-1])


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_matte_pixels(rotation: int, cases, written) -> None:
    case, folder = cases(rotation), written(rotation)
    frames, stored_rotation = decode_upright(folder / "matte.mkv", "gray")
    assert stored_rotation == rotation
    assert_frames_equal(frames, case.expected("matte"), f"matte.mkv, rotation {rotation}")
    frames, stored_rotation = decode_upright(folder / "soft_matte.nut", "gray")
    assert stored_rotation == 0
    assert_frames_equal(frames, case.expected("matte", soft=True), f"soft matte, rotation {rotation}")


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_alpha_pixels(rotation: int, cases, written) -> None:
    case, folder = cases(rotation), written(rotation)
    frames, stored_rotation = decode_upright(folder / "soft_alpha.mkv", "rgba")
    assert stored_rotation == rotation
    assert_frames_equal(frames, case.expected("alpha", soft=True), f"soft alpha, rotation {rotation}")
    assert_frames_equal(read_png_folder(folder / "alpha", "rgba"), case.expected("alpha"),
                        f"alpha PNGs, rotation {rotation}")


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_masks_pixels(rotation: int, cases, written) -> None:
    case, folder = cases(rotation), written(rotation)
    assert_frames_equal(read_png_folder(folder / "masks", "labels"), case.expected("masks"),
                        f"mask PNGs, rotation {rotation}")


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_player_shows_what_was_tracked(rotation: int, ffmpeg: str, cases, written) -> None:
    """ffmpeg turns frames by the display matrix itself: what it shows of the input is what
    the Tracker was given, and what it shows of the output is the expected overlay."""
    case, folder = cases(rotation), written(rotation)

    def shown(path: Path) -> list[np.ndarray]:
        height, width = case.upright[0].shape[:2]
        raw = subprocess.run([ffmpeg, "-v", "error", "-i", str(path), "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True,
                             timeout=300).stdout
        return list(np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3))

    assert_frames_equal(shown(case.source), case.upright, f"input as ffmpeg shows it, rotation {rotation}")
    assert_frames_equal(shown(folder / "overlay.mkv"), case.expected("overlay"),
                        f"overlay.mkv as ffmpeg shows it, rotation {rotation}")


# -- the command line ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, deaott_model) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))
    env.pop("AOTVIDEO_CACHE", None)
    # the same number of threads as the Tracker of this process: the same arithmetic
    env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
    return env


#: (rotation, mode, --soft, output, extra arguments, how to read the output): the default mode
#: (overlay) for every rotation, through a file with rotation metadata, a PNG-coded MOV and
#: standard output (raw frames and NUT, both upright); the other modes once each.
CLI_CASES = [
    (0, "overlay", False, "overlay.mov", ["--codec", "png"], "rgb24"),
    (90, "overlay", False, "overlay.mkv", ["--codec", "ffv1", "--out-pix-fmt", "bgr0"], "rgb24"),
    (180, "overlay", False, "-", ["-f", "rawvideo"], "raw:rgb24"),
    (270, "overlay", False, "-", ["-f", "nut", "--codec", "ffv1", "--out-pix-fmt", "bgr0"], "nut:rgb24"),
    (270, "matte", True, "matte.mkv", ["--codec", "ffv1", "--out-pix-fmt", "gray"], "gray"),
    (90, "alpha", True, "alpha.mkv", [], "rgba"),
    (180, "masks", False, "masks", [], "labels"),
]


@pytest.mark.parametrize("rotation,mode,soft,output,extra,read", CLI_CASES,
                         ids=[f"{c[1]}{'-soft' if c[2] else ''}-{c[0]}-{c[5]}" for c in CLI_CASES])
def test_command_line_pixels(rotation, mode, soft, output, extra, read, cases, weights, cli_env) -> None:
    case = cases(rotation)
    folder = case.folder / f"cli-{mode}-{read.replace(':', '-')}"
    folder.mkdir()
    first, later = folder / "first.png", folder / "later.png"
    write_palette_png(first, case.masks[0])
    write_palette_png(later, case.masks[LATER])
    target = "-" if output == "-" else str(folder / output)
    args = ["track", str(case.source), "-m", str(first), "-m", f"{LATER}:{later}", "-o", target,
            "--weights", str(weights), "-q"] + extra
    if mode != "overlay":
        args += ["--mode", mode]
    if soft:
        args.append("--soft")
    result = subprocess.run(AOTVIDEO + args, env=cli_env, capture_output=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    what = f"aotvideo track --mode {mode}{' --soft' if soft else ''} -o {output} {' '.join(extra)} " \
           f"(rotation {rotation})"

    height, width = case.upright[0].shape[:2]
    if read == "labels":
        got = read_png_folder(folder / output, "labels")
    elif read.startswith("raw:"):
        got = list(np.frombuffer(result.stdout, np.uint8).reshape(-1, height, width, 3))
    elif read.startswith("nut:"):
        stream = folder / "stdout.nut"
        stream.write_bytes(result.stdout)
        got, stored_rotation = decode_upright(stream, read[4:])
        assert stored_rotation == 0
    else:
        got, stored_rotation = decode_upright(folder / output, read)
        assert stored_rotation == rotation
    assert_frames_equal(got, case.expected(mode, soft), what)


# -- 1080p: the default output's pixels and the encoder preset ------------------------------------


def _psnr(got: list[np.ndarray], expected: list[np.ndarray]) -> float:
    error = np.mean([np.mean((g.astype(np.float64) - e.astype(np.float64)) ** 2)
                     for g, e in zip(got, expected)])
    return float(10 * np.log10(255.0 ** 2 / max(error, 1e-12)))


@pytest.fixture(scope="module")
def hd_case(deaott_model, tmp_path_factory):
    """A 1920x1080 clip stored losslessly, its mask, and the overlay frames the render functions
    make of the Tracker's labels (what every output must show)."""
    folder = tmp_path_factory.mktemp("hd")
    pairs = list(scene(1920, 1080, 4, objects=2, seed=5))
    frames = [f for f, _ in pairs]
    source = folder / "hd.mkv"
    write_clip(source, frames, codec="ffv1", pix_fmt="bgr0", format="matroska")
    tracker = aotvideo.Tracker(deaott_model, "cpu")
    expected = []
    for index, frame in enumerate(frames):
        result = tracker.step(frame, mask=pairs[0][1] if index == 0 else None)
        expected.append(overlay(frame, result.labels.numpy(), result.object_ids))
    return folder, source, {0: pairs[0][1]}, expected


def test_1080p_overlay_pixels_are_the_render_functions(hd_case, deaott_model) -> None:
    folder, source, masks, expected = hd_case
    spec = resolve_output(str(folder / "lossless.mkv"), "overlay", codec="ffv1", pix_fmt="bgr0")
    track_video(str(source), spec, aotvideo.Tracker(deaott_model, "cpu"), masks)
    frames, _ = decode_upright(folder / "lossless.mkv", "rgb24")
    assert_frames_equal(frames, expected, "1080p overlay.mkv")


def test_1080p_default_encoding_keeps_the_picture(hd_case, deaott_model) -> None:
    """The default H.264 output (``--preset auto``: ultrafast at CRF 16 on 2 cores) against
    ``--preset medium`` at CRF 18 (the default before): the picture within a fraction of a dB,
    bought with bits, not CPU time -- the file may grow, at most 2.5x."""
    from aotvideo.io.formats import auto_encoding

    folder, source, masks, expected = hd_case
    quality, size = {}, {}
    for preset in ("auto", "medium"):
        target = folder / f"{preset}.mp4"
        track_video(str(source), resolve_output(str(target), "overlay", preset=preset),
                    aotvideo.Tracker(deaott_model, "cpu"), masks)
        frames, _ = decode_upright(target, "rgb24")
        quality[preset], size[preset] = _psnr(frames, expected), target.stat().st_size
    chosen = auto_encoding(1920, 1080)
    assert quality["medium"] > 35.0, quality  # 4:2:0 chroma of saturated outlines caps it
    assert quality["auto"] > quality["medium"] - 0.5, (chosen, quality)
    assert size["auto"] < 2.5 * size["medium"], (chosen, size)


@pytest.mark.parametrize("size,cpus,preset,crf", [
    ((854, 480), 2, "medium", 18), ((1920, 1080), 8, "medium", 18),
    ((1280, 720), 2, "superfast", 18), ((1920, 1080), 4, "superfast", 18),
    ((1920, 1080), 2, "ultrafast", 16), ((3840, 2160), 8, "ultrafast", 16),
    ((3840, 2160), 2, "ultrafast", 16),
])
def test_auto_encoding_follows_the_pixels_per_core(size, cpus, preset, crf) -> None:
    from aotvideo.io.formats import auto_encoding, auto_preset, encoder_options

    assert auto_encoding(*size, cpus=cpus) == (preset, crf)
    assert auto_preset(*size, cpus=cpus) == preset
    spec = resolve_output("x.mp4", "overlay")
    assert spec.codec_options["preset"] == spec.codec_options["crf"] == "auto"
    here = auto_encoding(1920, 1080)
    assert encoder_options(spec, 1920, 1080) == {"preset": here[0], "crf": str(here[1])}
    # an explicit CRF stays; an explicit preset without a CRF takes the usual 18
    assert encoder_options(resolve_output("x.mp4", "overlay", crf=23), 1920, 1080)["crf"] == "23"
    explicit = encoder_options(resolve_output("x.mp4", "overlay", preset="slow"), 1920, 1080)
    assert explicit == {"preset": "slow", "crf": "18"}
    assert "deadline" not in resolve_output("x.webm", "overlay", preset="auto").codec_options
