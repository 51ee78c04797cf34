"""The editor recipes of plugins/gstreamer/README.md, run as documented.

Every ``--mode ...`` recipe of the README's editor table and every ffmpeg pipe recipe is read
from the README itself and run with ``aotvideo track`` (``python -m aotvideo``) on a clip made
here; the outputs are decoded again and their alpha channel, matte or masks compared with what
:class:`aotvideo.Tracker` gives for the same frames.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

import aotvideo
from aotvideo.io import VideoReader, read_mask, write_palette_png
from aotvideo.io.testclips import scene, write_clip
from aotvideo.render import matte

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "plugins" / "gstreamer" / "README.md"
WIDTH, HEIGHT, COUNT, FPS = 96, 64, 6, 24
AOTVIDEO = [sys.executable, "-m", "aotvideo"]


# -- the README ----------------------------------------------------------------------------------


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"README section {title!r} is missing"
    return match.group(1)


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced code blocks in Markdown ``text``."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current) + "\n")
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def editor_recipes() -> list[str]:
    """The distinct ``--mode ...`` command-line options in the editor table."""
    recipes: list[str] = []
    for line in _section("Editors: which output to import").splitlines():
        if not line.startswith("|"):
            continue
        for snippet in re.findall(r"`(--mode [^`]+)`", line):
            snippet = snippet.strip()
            if snippet not in recipes:
                recipes.append(snippet)
    return recipes


def pipe_recipes() -> list[str]:
    """The shell commands of the ffmpeg pipes section that start with ffmpeg."""
    blocks = code_blocks(_section("ffmpeg pipes (in and out, audio re-muxed)"))
    return [b.replace("\\\n", " ").strip() for b in blocks if b.startswith("ffmpeg ")]


def test_the_readme_documents_every_editor() -> None:
    table = _section("Editors: which output to import")
    for editor in ("DaVinci Resolve", "Premiere", "Final Cut", "Kdenlive", "Shotcut", "Blender"):
        assert editor in table
    recipes = editor_recipes()
    assert {r.split()[1] for r in recipes} >= {"alpha", "matte", "masks"}
    assert len(pipe_recipes()) == 2


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("editors")


@pytest.fixture(scope="module")
def media(workdir: Path) -> dict[str, Path]:
    """``in.mp4`` and ``in.mov`` (H.264 with an AAC tone) and ``first.png``."""
    frames, labels = zip(*scene(WIDTH, HEIGHT, COUNT, seed=2))
    out = {"mp4": workdir / "in.mp4", "mov": workdir / "in.mov", "mask": workdir / "first.png"}
    write_clip(out["mp4"], frames, fps=FPS, audio_seconds=COUNT / FPS)
    write_clip(out["mov"], frames, fps=FPS, audio_seconds=COUNT / FPS)
    write_palette_png(out["mask"], labels[0])
    return out


def _api_labels(media: dict[str, Path], weights: Path, planar: bool) -> list[np.ndarray]:
    net = aotvideo.build_model("deaott")
    aotvideo.load_weights(net, str(weights))
    tracker = aotvideo.Tracker(net, "cpu")
    first = read_mask(media["mask"])
    if planar:
        with VideoReader(str(media["mp4"]), planar=True) as reader:
            images = [f.image for f in reader.frames()]
    else:  # FFmpeg's default conversion, as `ffmpeg -pix_fmt rgb24` makes the pipe's frames
        with av.open(str(media["mp4"])) as container:
            images = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return [tracker.step(image, mask=first if index == 0 else None).labels.numpy()
            for index, image in enumerate(images)]


@pytest.fixture(scope="module")
def expected(media: dict[str, Path], weights: Path) -> list[np.ndarray]:
    """The Tracker API's label maps for the frames aotvideo decodes from ``in.mp4`` (the
    decoder's YUV planes, as ``aotvideo track`` reads them)."""
    return _api_labels(media, weights, planar=True)


@pytest.fixture(scope="module")
def expected_rgb(media: dict[str, Path], weights: Path) -> list[np.ndarray]:
    """The same for RGB frames, as a raw ``rgb24`` pipe hands them over."""
    return _api_labels(media, weights, planar=False)


@pytest.fixture(scope="module")
def env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["XDG_CACHE_HOME"] = str(workdir / "cache")
    env.pop("AOTVIDEO_CACHE", None)
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


# -- checking outputs ----------------------------------------------------------------------------


def decode(path: Path) -> tuple[list[av.VideoFrame], list[str]]:
    """The video frames of a file (VP9 through libvpx, which keeps the alpha) and its stream types."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        kinds = [s.type for s in container.streams]
        if stream.codec_context.name == "vp9":
            context = av.CodecContext.create("libvpx-vp9", "r")
            frames = [f for packet in container.demux(stream) for f in context.decode(packet)]
        else:
            frames = list(container.decode(stream))
    return frames, kinds


def assert_matte_intact(got: np.ndarray, labels: np.ndarray, *, lossless: bool, what: str) -> None:
    """``got`` (H x W uint8) is the matte of ``labels``: exactly when lossless, else all but a few
    edge pixels within half the range."""
    wanted = matte(labels)
    if lossless:
        np.testing.assert_array_equal(got, wanted, err_msg=what)
        return
    wrong = np.abs(got.astype(np.int32) - wanted.astype(np.int32)) > 127
    assert wrong.mean() < 0.02, f"{what}: {wrong.mean():.1%} of the matte is wrong"
    inside, outside = wanted == 255, wanted == 0
    if inside.any():
        assert got[inside].mean() > 230, what
    assert got[outside].mean() < 25, what


def check_output(target: Path, mode: str, expected: list[np.ndarray]) -> None:
    if mode == "masks":
        files = sorted(target.glob("*.png"))
        assert len(files) == COUNT
        for index, (path, labels) in enumerate(zip(files, expected)):
            np.testing.assert_array_equal(read_mask(path), labels, err_msg=f"{path.name}")
        return
    if target.is_dir():
        files = sorted(target.glob("*.png"))
        assert len(files) == COUNT, f"{target}: {len(files)} PNG files"
        frames = []
        for path in files:
            with av.open(str(path)) as container:
                frames.append(next(container.decode(video=0)))
        lossless = True
    else:
        frames, _ = decode(target)
        assert len(frames) == COUNT, f"{target}: {len(frames)} frames"
        lossless = frames[0].format.name.startswith(("bgra", "rgba", "gbrap", "gray"))
    for index, (frame, labels) in enumerate(zip(frames, expected)):
        what = f"{target.name} frame {index} ({frame.format.name})"
        if mode == "alpha":
            assert len(frame.format.components) == 4, f"{what}: no alpha channel"
            got = frame.to_ndarray(format="rgba")[..., 3]
        else:
            got = frame.to_ndarray(format="rgb24").mean(axis=2).round().astype(np.uint8)
        assert_matte_intact(got, labels, lossless=lossless, what=what)


# -- the recipes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", editor_recipes())
def test_editor_recipe_output_keeps_its_alpha_or_matte(recipe: str, media, weights, expected, workdir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from aotvideo.cli import main

    folder = workdir / re.sub(r"[^A-Za-z0-9]+", "_", recipe).strip("_")
    folder.mkdir()
    args = shlex.split(recipe)
    mode = args[args.index("--mode") + 1]
    target = folder / args[args.index("-o") + 1]
    # `aotvideo track` in this process (the shell recipes below run it as a command)
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(workdir / "cache"))
    result = CliRunner().invoke(main, ["track", str(media["mp4"]), "-m", str(media["mask"]),
                                       "--weights", str(weights), "--device", "cpu", "-q", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    check_output(target, mode, expected)
    if target.is_file() and target.suffix in (".mov", ".webm", ".mkv"):
        assert "audio" in decode(target)[1], f"{target.name} lost the audio"


@pytest.mark.parametrize("index", range(2))
def test_ffmpeg_pipe_recipe_as_written(index: int, ffmpeg, media, weights, expected, expected_rgb,
                                       env, workdir: Path) -> None:
    command = pipe_recipes()[index]
    folder = workdir / f"pipe{index}"
    folder.mkdir()
    for key in ("mp4", "mov", "mask"):
        shutil.copy(media[key], folder / media[key].name)
    aotvideo_cmd = " ".join(shlex.quote(p) for p in AOTVIDEO)
    command = (command.replace("aotvideo track", f"{aotvideo_cmd} track --weights {shlex.quote(str(weights))}")
               .replace("1920x1080", f"{WIDTH}x{HEIGHT}").replace("--rate 25", f"--rate {FPS}")
               .replace("-r 25", f"-r {FPS}").replace("ffmpeg -i", "ffmpeg -v error -i")
               .replace("ffmpeg -f", "ffmpeg -v error -f"))
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=env, cwd=folder,
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    outputs = re.findall(r"(\S+\.(?:mp4|mov|mkv|webm))$", command)
    assert outputs, command
    target = folder / outputs[0]
    mode = "alpha" if "--mode alpha" in command else "matte"
    check_output(target, mode, expected_rgb if "--raw" in command else expected)
    assert decode(target)[1].count("audio") == 1, f"{target.name} has no audio: {command}"


# -- the README's GStreamer pipelines ------------------------------------------------------------


def gst_recipes() -> list[str]:
    """The shell commands of the README's code blocks that run gst-launch-1.0, but the first
    example (tests/plugins/test_gstreamer.py runs that one as written)."""
    text = README.read_text(encoding="utf-8")
    commands = []
    for block in code_blocks(text):
        command = block.replace("\\\n", " ").strip()
        if "gst-launch-1.0" in command and "\n" not in command:
            commands.append(re.sub(r"\s+", " ", command))
    return commands[1:]


def test_the_readme_has_gstreamer_recipes_for_editors() -> None:
    assert len(gst_recipes()) == 5, gst_recipes()
    joined = " ".join(gst_recipes())
    for needle in ("avenc_prores_ks profile=4444", "pngenc", "avenc_ffv1", "avenc_aac", "fdsink"):
        assert needle in joined, needle


@pytest.fixture(scope="module")
def gst_env(workdir: Path, weights: Path) -> dict[str, str]:
    """GStreamer finds aotvideotrack; the synthetic weights are installed as deaott's."""
    if shutil.which("gst-launch-1.0") is None or shutil.which("gst-inspect-1.0") is None:
        pytest.skip("gst-launch-1.0 / gst-inspect-1.0 not installed")
    from aotvideo import zoo
    from aotvideo.gst import environment

    env = environment()
    env["GST_REGISTRY_1_0"] = str(workdir / "registry.bin")
    env["AOTVIDEO_CACHE"] = str(workdir / "gst-cache")
    env.setdefault("OMP_NUM_THREADS", "2")
    if subprocess.run(["gst-inspect-1.0", "python"], env=env, capture_output=True, timeout=300).returncode != 0:
        pytest.skip("GStreamer's Python plugin loader is not installed "
                    "(apt-get install gstreamer1.0-python3-plugin-loader python3-gst-1.0)")
    saved = os.environ.get("AOTVIDEO_CACHE")
    os.environ["AOTVIDEO_CACHE"] = env["AOTVIDEO_CACHE"]
    try:
        zoo.install(weights, "deaott")
    finally:
        if saved is None:
            os.environ.pop("AOTVIDEO_CACHE", None)
        else:
            os.environ["AOTVIDEO_CACHE"] = saved
    return env


@pytest.fixture(scope="module")
def gst_expected(gst_env: dict[str, str], media: dict[str, Path], weights: Path, workdir: Path) -> list[np.ndarray]:
    """The Tracker API's label maps for the frames GStreamer decodes from ``in.mp4`` (its H.264
    decoder and colour conversion differ a little from FFmpeg's, and so does the tracking)."""
    folder = workdir / "gst-decoded"
    folder.mkdir()
    pipeline = (f"filesrc location={media['mp4']} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! "
                f"pngenc ! multifilesink location={folder}/%05d.png")
    result = subprocess.run(["gst-launch-1.0", *shlex.split(pipeline)], env=gst_env, capture_output=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    net = aotvideo.build_model("deaott")
    aotvideo.load_weights(net, str(weights))
    tracker = aotvideo.Tracker(net, "cpu")
    first = read_mask(media["mask"])
    labels = []
    for index, path in enumerate(sorted(folder.glob("*.png"))):
        with av.open(str(path)) as container:
            frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
        labels.append(tracker.step(frame, mask=first if index == 0 else None).labels.numpy())
    assert len(labels) == COUNT
    return labels


@pytest.mark.parametrize("index", range(5))
def test_gstreamer_recipe_as_written(index: int, ffmpeg, gst_env, media, gst_expected, workdir: Path) -> None:
    command = gst_recipes()[index]
    folder = workdir / f"gst{index}"
    folder.mkdir()
    shutil.copy(media["mp4"], folder / "in.mp4")
    shutil.copy(media["mask"], folder / "first.png")
    shutil.copy(media["mask"], folder / "fix.png")  # frame 120 is past this clip's end: a warning
    command = command.replace("device=cuda amp=true", "device=cpu").replace(" -i - ", " -v error -i - ")
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], env=gst_env, cwd=folder,
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    if "pngenc" in command:
        check_output(folder / "cut", "alpha", gst_expected)
        return
    target = folder / (command.split()[-1] if "fdsink" in command else re.findall(r"location=(\S+)", command)[-1])
    mode = "alpha" if "mode=alpha" in command else "matte" if "mode=matte" in command else "overlay"
    if mode == "overlay":
        frames, kinds = decode(target)
        assert len(frames) == COUNT and kinds.count("audio") == 1, kinds
        return
    check_output(target, mode, gst_expected)
