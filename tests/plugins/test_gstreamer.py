"""The GStreamer element ``aotvideotrack``, run for real.

``gst-launch-1.0`` pipelines (the README's example included, as written) and in-process
pipelines with ``appsrc`` / ``appsink`` run on clips made here; their output frames are compared
with :class:`aotvideo.Tracker` + :mod:`aotvideo.render` on the same frames -- exactly, where the
data path is lossless (FFV1 in, PNG out, or raw buffers in process).

The tests skip, saying why, when ``gst-launch-1.0`` or GStreamer's Python loader is missing; CI
installs both (``.ci/run``). Every run uses its own plugin registry file, since GStreamer caches a
failed plugin load in the registry.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from click.testing import CliRunner

import aotvideo
from aotvideo import zoo
from aotvideo.cli.gst import gst_path
from aotvideo.errors import MaskError
from aotvideo.gst import (ELEMENT_NAME, RUNNER, WRAPPED_PROGRAMS, FrameProcessor, LoaderPython,
                          ProcessorConfig, environment, loader_python, parse_amp,
                          parse_masks, plugin_dir,
                          python_path, registry_file, setup_problems, shell_environment, wrapper_dir)
from aotvideo.io.masks import write_palette_png
from aotvideo.io.testclips import scene, write_clip
from aotvideo.render import matte, overlay, with_alpha

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "plugins" / "gstreamer" / "README.md"
WIDTH, HEIGHT, COUNT = 96, 64, 6
GST_LAUNCH = shutil.which("gst-launch-1.0")
GST_INSPECT = shutil.which("gst-inspect-1.0")
#: Noise that the Python loader of GStreamer 1.22 with PyGObject 3.42 prints for every Python
#: element it creates (a known, harmless PyGObject issue); ignored when reading stderr.
FLOATING_NOISE = "The created element should be floating"


# -- fixtures: data ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gst")


@pytest.fixture(scope="module")
def clip() -> tuple[list[np.ndarray], list[np.ndarray]]:
    frames, labels = zip(*scene(WIDTH, HEIGHT, COUNT, seed=0))
    return list(frames), list(labels)


@pytest.fixture(scope="module")
def media(workdir: Path, clip: tuple[list[np.ndarray], list[np.ndarray]]) -> dict[str, Path]:
    """A lossless FFV1 clip, an H.264 MP4 of it, a first-frame mask with objects 1 and 2, and a
    frame-5 mask that adds object 3."""
    frames, labels = clip
    out = {
        "ffv1": workdir / "in.mkv",
        "mp4": workdir / "in.mp4",
        "first": workdir / "first.png",
        "late": workdir / "late.png",
        "small": workdir / "small.png",
    }
    write_clip(out["ffv1"], frames, codec="ffv1", pix_fmt="bgr0", format="matroska")
    write_clip(out["mp4"], frames, audio_seconds=COUNT / 24)  # audio too, as real inputs have
    write_palette_png(out["first"], np.where(np.isin(labels[0], [1, 2]), labels[0], 0))
    write_palette_png(out["late"], np.where(labels[5] == 3, 3, 0))
    write_palette_png(out["small"], np.ones((10, 12), np.int64))
    return out


def clip_masks(clip: tuple[list[np.ndarray], list[np.ndarray]]) -> dict[int, np.ndarray]:
    """The label maps of ``media['first']`` (frame 0) and ``media['late']`` (frame 5)."""
    labels = clip[1]
    return {0: np.where(np.isin(labels[0], [1, 2]), labels[0], 0), 5: np.where(labels[5] == 3, 3, 0)}


def reference(frames: Sequence[np.ndarray], masks: Mapping[int, np.ndarray], weights: Path,
              mode: str, *, soft: bool = False, channels: int | None = None,
              indices: Sequence[int] | None = None,
              objects_per_group: int | str = "auto") -> list[np.ndarray]:
    """What the element must put out, from the Tracker API and aotvideo.render directly.

    ``indices`` are the frames' indices in the stream (default 0, 1, ...); tracking starts at the
    first frame with a mask. ``channels`` is the element's output channel count (default 3, or 4
    in alpha mode).
    """
    net = aotvideo.build_model("deaott")
    aotvideo.load_weights(net, str(weights))
    tracker = aotvideo.Tracker(net, "cpu", objects_per_group=objects_per_group)
    started = False
    out = []
    for frame, index in zip(frames, indices if indices is not None else range(len(frames))):
        rgb = np.ascontiguousarray(frame[..., :3])
        mask = masks.get(index)
        if mask is None and not started:
            labels = np.zeros(rgb.shape[:2], np.int64)
            ids: tuple[int, ...] = ()
            probs = np.ones((1,) + rgb.shape[:2], np.float32)
        else:
            started = True
            result = tracker.step(rgb, mask=mask)
            labels, ids, probs = result.labels.numpy(), result.object_ids, result.probs.numpy()
        if mode == "overlay":
            image = overlay(rgb, labels, ids)
        elif mode == "matte":
            image = np.repeat(matte(labels, None, probs, soft, prob_ids=ids)[..., None], 3, axis=2)
        else:
            image = with_alpha(rgb, matte(labels, None, probs, soft, prob_ids=ids))
        wanted = channels or (4 if mode == "alpha" else frame.shape[2])
        if wanted == 4 and image.shape[2] == 3:
            alpha = frame[..., 3:] if mode == "overlay" and frame.shape[2] == 4 else np.full(
                rgb.shape[:2] + (1,), 255, np.uint8)
            image = np.concatenate([image, alpha], axis=2)
        out.append(image)
    return out


def read_png(path: Path, fmt: str = "rgba") -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format=fmt)


# -- fixtures: GStreamer -------------------------------------------------------------------------


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    text = result.stderr.decode(errors="replace")
    return "\n".join(line for line in text.splitlines() if FLOATING_NOISE not in line)


@pytest.fixture(scope="module")
def gst_env(workdir: Path) -> dict[str, str]:
    """Environment for GStreamer programs: the element's directory, aotvideo's Python path, a
    private registry; skips when GStreamer or its Python loader is not installed."""
    if GST_LAUNCH is None or GST_INSPECT is None:
        pytest.skip("gst-launch-1.0 / gst-inspect-1.0 not installed "
                    "(apt-get install gstreamer1.0-tools gstreamer1.0-plugins-base ...)")
    env = environment()
    env["GST_REGISTRY_1_0"] = str(workdir / "registry.bin")
    env.setdefault("OMP_NUM_THREADS", "2")
    env.pop("AOTVIDEO_CACHE", None)
    env["XDG_CACHE_HOME"] = str(workdir / "cache-empty")
    loader = subprocess.run([GST_INSPECT, "python"], env=env, capture_output=True, timeout=300)
    if loader.returncode != 0:
        pytest.skip("GStreamer's Python plugin loader is not installed "
                    "(apt-get install gstreamer1.0-python3-plugin-loader python3-gst-1.0)")
    return env


def launch(pipeline: str, env: Mapping[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """Run ``gst-launch-1.0`` with a pipeline written as on a shell command line."""
    assert GST_LAUNCH is not None
    return subprocess.run([GST_LAUNCH, *shlex.split(pipeline)], env=dict(env), cwd=cwd,
                          capture_output=True, timeout=300)


# -- no GStreamer needed -------------------------------------------------------------------------


def test_plugin_dir_and_gst_path_command() -> None:
    folder = plugin_dir()
    element = folder / "python" / f"{ELEMENT_NAME}.py"
    assert element.is_file()
    # the documented location in the repository is the same file
    assert (ROOT / "plugins" / "gstreamer" / "python" / f"{ELEMENT_NAME}.py").resolve() == element.resolve()

    result = CliRunner().invoke(gst_path, [])
    assert result.exit_code == 0 and result.output.strip() == str(folder)
    result = CliRunner().invoke(gst_path, ["--env"])
    assert result.exit_code == 0
    assert f"export GST_PLUGIN_PATH={shlex.quote(str(folder))}" in result.output
    assert "export AOTVIDEO_PYTHONPATH=" in result.output
    assert f"export AOTVIDEO_GST_REGISTRY={shlex.quote(str(registry_file()))}" in result.output
    assert f"export PATH={shlex.quote(str(wrapper_dir()))}" in result.output
    # nothing that would change what `python` in the same shell does
    assert "PYTHONHOME" not in result.output and "PYTHONPATH=" not in result.output.replace("AOTVIDEO_PYTHONPATH=", "")
    from aotvideo.cli import main

    if "gst-path" in main.commands:  # attached to the aotvideo command
        result = CliRunner().invoke(main, ["gst-path"])
        assert result.exit_code == 0 and result.output.strip() == str(folder)
    paths = python_path()
    assert str(ROOT) in paths or any(Path(p, "aotvideo").is_dir() for p in paths)
    assert any(Path(p, "torch").is_dir() for p in paths)


def test_the_wrappers_are_one_script(tmp_path: Path) -> None:
    runner = wrapper_dir() / RUNNER
    assert runner.is_file() and os.access(runner, os.X_OK)
    for name in WRAPPED_PROGRAMS:  # links in a checkout, copies in an installed package
        wrapper = wrapper_dir() / name
        assert os.access(wrapper, os.X_OK), name
        assert wrapper.read_bytes() == runner.read_bytes(), name
    assert not (wrapper_dir() / "python3").exists() and not (wrapper_dir() / "python").exists()


def _fake_program(folder: Path, name: str) -> Path:
    """A program that prints its arguments, the first entry of its PATH and its registry."""
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text('#!/bin/sh\nprintf "%s|" "$@"; echo; echo "path=${PATH%%:*}"; '
                       'echo "registry=${GST_REGISTRY_1_0:-}"\n')
    program.chmod(0o755)
    return program


def test_a_wrapper_runs_the_next_program_of_its_name(tmp_path: Path) -> None:
    _fake_program(tmp_path / "fake", "gst-launch-1.0")
    _fake_program(tmp_path / "fake", "ges-launch-1.0")
    base = {"PATH": f"{wrapper_dir()}:{tmp_path / 'fake'}:/usr/bin:/bin", "HOME": str(tmp_path),
            "AOTVIDEO_GST_PYTHON": "/opt/loader/bin/python3", "AOTVIDEO_GST_REGISTRY": "/tmp/r.bin"}

    def run(args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env={**base, **extra}, capture_output=True, text=True, timeout=60)

    # by name through PATH, as a shell runs it; arguments pass through untouched
    result = run(["sh", "-c", 'gst-launch-1.0 "a b" "*" ""'])
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["a b|*||", "path=/opt/loader/bin", "registry=/tmp/r.bin"]
    # a registry set by the user stays
    result = run(["sh", "-c", "gst-launch-1.0 x"], GST_REGISTRY_1_0="/mine.bin")
    assert result.stdout.splitlines()[1:] == ["path=/opt/loader/bin", "registry=/mine.bin"]
    # any other program through aotvideo-gst-run
    result = run([str(wrapper_dir() / RUNNER), "ges-launch-1.0", "y"])
    assert result.returncode == 0 and result.stdout.splitlines()[0] == "y|", result.stderr
    # no real program: a clear error, not a loop
    result = run([str(wrapper_dir() / RUNNER), "no-such-gst-program-1.0", "x"])
    assert result.returncode == 127
    assert "no-such-gst-program-1.0: not found on PATH" in result.stderr and "gstreamer1.0-tools" in result.stderr
    result = run([str(wrapper_dir() / "gst-typefind-1.0")], PATH=f"{wrapper_dir()}:{tmp_path / 'fake'}")
    assert result.returncode == 127 and "gst-typefind-1.0: not found on PATH" in result.stderr  # not itself
    result = run([str(wrapper_dir() / RUNNER)])
    assert result.returncode == 2 and "usage: aotvideo-gst-run PROGRAM" in result.stderr


def test_loader_python_is_found_as_python_finds_its_home(tmp_path: Path) -> None:
    prefix = tmp_path / "usr"
    plugins = prefix / "lib" / "x86_64-linux-gnu" / "gstreamer-1.0"
    plugins.mkdir(parents=True)
    (plugins / "libgstpython.so").write_bytes(b"\x7fELF\0...libpython3.11.so.1.0\0...")
    found = loader_python(plugin_dirs=[plugins])
    assert found is not None and found.version == (3, 11)
    # no Python 3.11 installed above the library: only /usr or /usr/local can be its home
    assert found.python is None or found.python.parent.parent in (Path("/usr"), Path("/usr/local"))
    (prefix / "lib" / "python3.11").mkdir(parents=True)
    (prefix / "lib" / "python3.11" / "os.py").write_text("")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "python3").write_text("")
    found = loader_python(plugin_dirs=[tmp_path / "nothing", plugins])
    assert found == LoaderPython(plugins / "libgstpython.so", (3, 11), prefix / "bin" / "python3")
    assert loader_python(plugin_dirs=[tmp_path / "nothing"]) is None


def test_setup_problems_say_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here = sys.version_info[:2]
    other = (here[0], here[1] + 1)
    library = tmp_path / "libgstpython.so"
    with monkeypatch.context() as patch:
        patch.setattr("aotvideo.gst.loader_python", lambda *args, **kwargs: None)
        problems = setup_problems()
        assert len(problems) == 1 and "apt-get install gstreamer1.0-python3-plugin-loader" in problems[0]
        try:
            runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]
        except TypeError:  # click >= 8.2 keeps stderr apart anyway
            runner = CliRunner()
        result = runner.invoke(gst_path, ["--env"])
        assert result.exit_code == 0 and "aotvideo gst-path: GStreamer's Python plugin loader" in result.stderr
        assert "AOTVIDEO_GST_PYTHON" not in result.stdout and "export GST_PLUGIN_PATH=" in result.stdout
    problems = setup_problems(LoaderPython(library, other, Path("/usr/bin/python3")), check_gi=False)
    assert len(problems) == 1
    assert f"runs Python {other[0]}.{other[1]}" in problems[0]
    assert f"installed for Python {here[0]}.{here[1]}" in problems[0]
    assert f"python{other[0]}.{other[1]} -m venv" in problems[0]
    problems = setup_problems(LoaderPython(library, here, None), check_gi=False)
    assert len(problems) == 1 and "export AOTVIDEO_GST_PYTHON=" in problems[0]
    fake = tmp_path / "bin" / "python3"  # a "python3" that cannot import gi
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    problems = setup_problems(LoaderPython(library, here, fake))
    assert len(problems) == 1 and "cannot import gi" in problems[0] and "python3-gi" in problems[0]
    assert setup_problems(LoaderPython(library, here, Path(sys.executable)), check_gi=False) == []


def test_environments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = {"PATH": "/venv/bin:/usr/bin:/bin", "HOME": str(tmp_path), "VIRTUAL_ENV": "/venv",
            "XDG_CACHE_HOME": str(tmp_path / "cache")}
    loader = LoaderPython(tmp_path / "libgstpython.so", sys.version_info[:2], Path("/opt/loader/bin/python3"))
    monkeypatch.setattr("aotvideo.gst.loader_python", lambda *args, **kwargs: loader)
    shell = shell_environment(base)
    # the shell: wrappers first on PATH, the rest as it was; nothing a Python program reads
    assert shell["PATH"] == f"{wrapper_dir()}:/venv/bin:/usr/bin:/bin"
    assert shell["AOTVIDEO_GST_PYTHON"] == "/opt/loader/bin/python3"
    assert shell["AOTVIDEO_GST_REGISTRY"] == str(tmp_path / "cache" / "aotvideo" / "gstreamer-1.0" /
                                                 Path(registry_file(base)).name)
    assert shell["GST_PLUGIN_PATH"] == str(plugin_dir()) and "AOTVIDEO_PYTHONPATH" in shell
    assert not {"PYTHONHOME", "PYTHONPATH", "GST_REGISTRY_1_0"} & set(shell)
    # a GStreamer program: as the wrappers run it
    env = environment(base)
    assert env["PATH"] == f"/opt/loader/bin:{wrapper_dir()}:/venv/bin:/usr/bin:/bin"
    assert env["GST_REGISTRY_1_0"] == shell["AOTVIDEO_GST_REGISTRY"]
    assert environment({**base, "GST_REGISTRY_1_0": "/mine.bin"})["GST_REGISTRY_1_0"] == "/mine.bin"
    assert registry_file({**base, "AOTVIDEO_CACHE": "/c"}).parent == Path("/c/gstreamer-1.0")


def test_parse_masks() -> None:
    assert parse_masks("first.png") == {0: "first.png"}
    assert parse_masks(" a.png ; 12:b.png,30:dir/c d.png;") == {0: "a.png", 12: "b.png", 30: "dir/c d.png"}
    assert parse_masks("0:a.png;7:/abs/b.png") == {0: "a.png", 7: "/abs/b.png"}
    for bad, message in [("", "no mask given"), ("a.png;0:b.png", "two masks for frame 0"), ("5:", "names no file")]:
        with pytest.raises(MaskError, match=message):
            parse_masks(bad)


def test_parse_amp() -> None:
    assert parse_amp("auto") == "auto" and parse_amp(" Auto ") == "auto"
    assert all(parse_amp(word) is True for word in ("true", "on", "yes", "1", "TRUE"))
    assert all(parse_amp(word) is False for word in ("false", "off", "no", "0"))
    with pytest.raises(ValueError, match="amp must be auto, true or false"):
        parse_amp("fast")


def test_frame_processor_equals_tracker_and_render(media: dict[str, Path], weights: Path, clip) -> None:
    frames = clip[0][:3]
    masks = {0: clip_masks(clip)[0], 2: clip_masks(clip)[5]}
    mask = f"{media['first']};2:{media['late']}"
    previous = None
    for mode, soft, channels in [("overlay", False, 4), ("matte", True, 3), ("alpha", False, 3)]:
        processor = FrameProcessor(ProcessorConfig(mask=mask, weights=str(weights), mode=mode,
                                                   device="cpu", soft=soft))
        processor.load(previous=previous)  # the same model settings: the tracker is reused, reset
        assert previous is None or processor.tracker is previous.tracker
        previous = processor
        inputs = [np.dstack([f, np.full(f.shape[:2], 200, np.uint8)]) if channels == 4 else f for f in frames]
        got = [processor.process(image, index) for index, image in enumerate(inputs)]
        expected = reference(inputs, masks, weights, mode, soft=soft)
        for index, (a, b) in enumerate(zip(got, expected)):
            np.testing.assert_array_equal(a, b, err_msg=f"{mode} frame {index}")
        assert processor.unused() == []
    with pytest.raises(ValueError, match="unknown mode"):
        FrameProcessor(ProcessorConfig(mask=str(media["first"]), mode="masks"))


def test_frame_processor_errors(media: dict[str, Path], weights: Path, workdir: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    processor = FrameProcessor(ProcessorConfig(mask=str(media["small"]), weights=str(weights), device="cpu"))
    processor.load()
    with pytest.raises(MaskError, match="is 12x10 but the video is 96x64"):
        processor.check_size(WIDTH, HEIGHT)
    with pytest.raises(MaskError, match="file not found"):
        FrameProcessor(ProcessorConfig(mask=str(workdir / "missing.png"), weights=str(weights))).load()
    monkeypatch.setenv("AOTVIDEO_CACHE", str(workdir / "no-cache"))
    with pytest.raises(aotvideo.WeightsError, match="weights=FILE property"):
        FrameProcessor(ProcessorConfig(mask=str(media["first"]), model="aott")).load()


def test_scanning_the_plugin_file_imports_neither_aotvideo_nor_torch(gst_env: dict[str, str]) -> None:
    system_python = Path("/usr/bin/python3")
    if not system_python.exists():
        pytest.skip("no /usr/bin/python3 (the Python of Debian's GStreamer loader)")
    code = (
        "import sys, gi; gi.require_version('Gst', '1.0'); from gi.repository import Gst; Gst.init(None); "
        "sys.path.insert(0, sys.argv[1]); import aotvideotrack; "
        "assert aotvideotrack.__gstelementfactory__[0] == 'aotvideotrack'; "
        "print(sorted(m for m in ('torch', 'aotvideo', 'numpy', 'cv2', 'av') if m in sys.modules))"
    )
    result = subprocess.run([str(system_python), "-c", code, str(plugin_dir() / "python")], env=gst_env,
                            capture_output=True, timeout=300)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == "[]"


# -- gst-inspect / gst-launch --------------------------------------------------------------------


def test_gst_inspect_finds_the_element(gst_env: dict[str, str]) -> None:
    assert GST_INSPECT is not None
    result = subprocess.run([GST_INSPECT, ELEMENT_NAME], env=gst_env, capture_output=True, timeout=300)
    assert result.returncode == 0, _stderr(result)
    text = result.stdout.decode()
    for name in ("mask", "model", "weights", "mode", "device", "amp", "soft"):
        assert re.search(rf"^\s+{name}\s+:", text, re.MULTILINE), name
    assert "GstBaseTransform" in text and "RGBA" in text and "Filter/Effect/Video" in text


# -- the README's set-up in a shell, as a user runs it --------------------------------------------

MAIN_README = ROOT / "README.md"


def _readme_setup() -> tuple[list[str], str]:
    """The main README's set-up of the element: the commands after ``apt-get install`` in its code
    block (activate, eval, gst-inspect), and its ``eval`` for an environment not activated."""
    text = MAIN_README.read_text(encoding="utf-8")
    section = text[text.index("## GStreamer element and editor workflows"):]
    section = section[:section.index("\n## ", 1)]
    block = next(b for b in re.findall(r"^```\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
                 if "aotvideo gst-path --env" in b)
    lines = [line for line in block.splitlines() if line and not line.startswith(("sudo ", " "))]
    assert lines[0].startswith("source .venv/bin/activate"), lines
    assert lines[1].startswith('eval "$(aotvideo gst-path --env)"'), lines
    assert lines[2:] == [f"gst-inspect-1.0 {ELEMENT_NAME}"], lines
    match = re.search(r'`(eval "\$\(\.venv/bin/aotvideo gst-path --env\)")`', section)
    assert match is not None, "the README lost the set-up without activating the environment"
    return lines, match.group(1)


@pytest.fixture(scope="module")
def user_venv(workdir: Path) -> Path:
    """The virtual environment aotvideo is installed in: the one running the tests or, when they
    run outside one, a new one that sees this Python's packages and has an ``aotvideo`` command."""
    if sys.prefix != sys.base_prefix and (Path(sys.prefix) / "bin" / "activate").is_file():
        return Path(sys.prefix)
    import venv

    folder = workdir / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=True).create(folder)
    command = folder / "bin" / "aotvideo"
    source = Path(aotvideo.__file__).resolve().parent.parent
    command.write_text(f"#!{folder / 'bin' / 'python'}\nimport sys\nsys.path.insert(0, {str(source)!r})\n"
                       "from aotvideo.cli import main\nsys.exit(main())\n")
    command.chmod(0o755)
    return folder


def _new_shell_environment(venv: Path, home: Path) -> dict[str, str]:
    """The environment of a new shell: this process's, without an activated virtual environment
    or any GStreamer / aotvideo set-up, and with a cache folder of its own (so also GStreamer's
    default registry)."""
    drop = {"VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH", "GST_PLUGIN_PATH", "GST_PLUGIN_PATH_1_0", "GST_REGISTRY",
            "GST_REGISTRY_1_0", "AOTVIDEO_CACHE", "AOTVIDEO_PYTHONPATH", "AOTVIDEO_GST_PYTHON",
            "AOTVIDEO_GST_REGISTRY"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    ours = {os.path.realpath(venv / "bin"), os.path.realpath(wrapper_dir())}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", os.defpath).split(os.pathsep)
                                  if p and os.path.realpath(p) not in ours)
    env["XDG_CACHE_HOME"] = str(home / ".cache")
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


@pytest.mark.parametrize("shell", ["activated venv", "venv not activated", "another python3 first on PATH"])
def test_the_readme_setup_in_a_shell(shell: str, gst_env, user_venv: Path, media, weights, clip,
                                     workdir: Path) -> None:
    """The README's commands, run by bash as written, make gst-inspect-1.0 and gst-launch-1.0 find
    and run the element, and leave the shell's own ``python3`` as it was.

    GStreamer's Python loader embeds the system's Python, which takes its home from the first
    ``python3`` on PATH: an activated virtual environment's (its packages, not the system's
    ``gi``), or another installation's (pyenv, python.org, conda). Before the set-up, the plugin
    is tried the way that used to fail, which leaves the failure in GStreamer's default registry.
    """
    folder = workdir / f"shell-{shell.replace(' ', '-')}"
    folder.mkdir()
    shutil.copy(media["ffv1"], folder / "in.mkv")
    shutil.copy(media["first"], folder / "first.png")
    env = _new_shell_environment(user_venv, folder / "home")
    if shell == "another python3 first on PATH":
        env["PATH"] = f"{Path(sys.base_prefix) / 'bin'}{os.pathsep}{env['PATH']}"
    lines, unactivated = _readme_setup()
    venv = shlex.quote(str(user_venv)) + "/"
    if shell == "activated venv":
        prelude, setup = [lines[0].replace(".venv/", venv)], lines[1:]
    else:
        prelude, setup = [], [unactivated.replace(".venv/", venv), *lines[2:]]

    # without the set-up (only GST_PLUGIN_PATH): may fail, and GStreamer caches that failure
    plugins = shlex.quote(str(plugin_dir()))
    subprocess.run(["bash", "-c", "\n".join([*prelude, f"GST_PLUGIN_PATH={plugins} gst-inspect-1.0 {ELEMENT_NAME}"])],
                   env=env, cwd=folder, capture_output=True, timeout=600)

    probe = 'echo "@@python3 $(command -v python3) $(python3 -c \'import sys; print(sys.prefix)\')"'
    pipeline = (f"gst-launch-1.0 filesrc location=in.mkv ! decodebin ! videoconvert ! video/x-raw,format=RGB ! "
                f"{ELEMENT_NAME} mask=first.png weights={shlex.quote(str(weights))} device=cpu ! videoconvert ! "
                "pngenc ! multifilesink location=out/%05d.png")
    script = [*prelude, probe, *setup, 'echo "@@inspect $?"', probe,
              'env | grep -E "^PYTHON(HOME|PATH)=" | sed "s/^/@@set /"',
              'python -c "import aotvideo" && echo "@@python imports aotvideo"',
              "mkdir out", pipeline, 'echo "@@launch $?"']
    result = subprocess.run(["bash", "-c", "\n".join(script)], env=env, cwd=folder, capture_output=True,
                            timeout=600)
    out, err = result.stdout.decode(errors="replace"), _stderr(result)
    report = f"script:\n{chr(10).join(script)}\nstdout:\n{out[-4000:]}\nstderr:\n{err[-4000:]}"
    marks = [line[2:] for line in out.splitlines() if line.startswith("@@")]
    assert "inspect 0" in marks, report
    assert "GstAotVideoTrack" in out and "Filter/Effect/Video" in out, report
    assert "launch 0" in marks, report
    # the shell's python3 is the one it was, and nothing was set that a Python program reads
    pythons = [m for m in marks if m.startswith("python3 ")]
    assert len(pythons) == 2 and pythons[0] == pythons[1], report
    assert not [m for m in marks if m.startswith("set ")], report
    if shell == "activated venv":
        assert pythons[0].split()[-1] == str(user_venv) and "python imports aotvideo" in marks, report

    files = sorted((folder / "out").glob("*.png"))
    assert len(files) == COUNT, report
    expected = reference(clip[0], {0: clip_masks(clip)[0]}, weights, "overlay", channels=4)
    for index, (path, wanted) in enumerate(zip(files, expected)):
        np.testing.assert_array_equal(read_png(path), wanted, err_msg=f"frame {index}")


@pytest.mark.parametrize("mode, soft, in_format", [
    ("overlay", False, "RGB"),
    ("overlay", False, "RGBA"),
    ("matte", False, "RGB"),
    ("alpha", True, "RGB"),
])
def test_gst_launch_output_equals_the_tracker_api(gst_env, media, weights, clip, workdir: Path,
                                                  mode: str, soft: bool, in_format: str) -> None:
    out = workdir / f"png_{mode}_{in_format}_{int(soft)}"
    out.mkdir()
    source = f"filesrc location={media['ffv1']} ! decodebin ! videoconvert ! video/x-raw,format={in_format}"
    element = (f"{ELEMENT_NAME} mask=\"{media['first']};5:{media['late']}\" weights={weights} mode={mode} "
               f"soft={str(soft).lower()} device=cpu")
    sink = "videoconvert ! pngenc ! multifilesink location={}/%05d.png"
    pipeline = f"{source} ! {element} ! {sink.format(out)}"
    result = launch(pipeline, gst_env, workdir)
    assert result.returncode == 0, _stderr(result)
    files = sorted(out.glob("*.png"))
    assert len(files) == COUNT
    frames = clip[0]
    if in_format == "RGBA":
        # overlay keeps the input's alpha: see what the same pipeline without the element gives
        plain = workdir / f"png_plain_{in_format}"
        plain.mkdir(exist_ok=True)
        result = launch(f"{source} ! identity ! {sink.format(plain)}", gst_env, workdir)
        assert result.returncode == 0, _stderr(result)
        alphas = [read_png(path)[..., 3:] for path in sorted(plain.glob("*.png"))]
        frames = [np.concatenate([f, a], axis=2) for f, a in zip(frames, alphas)]
    expected = reference(frames, clip_masks(clip), weights, mode, soft=soft, channels=4)
    for index, (path, wanted) in enumerate(zip(files, expected)):
        if soft:  # probabilities from another process may differ in the last float bits
            np.testing.assert_allclose(read_png(path), wanted, atol=1, rtol=0, err_msg=f"frame {index}")
        else:
            np.testing.assert_array_equal(read_png(path), wanted, err_msg=f"frame {index}")


def test_gst_launch_objects_per_group(gst_env, media, weights, clip, workdir: Path) -> None:
    """The element's objects-per-group property reaches the tracker: each object alone gives the
    API's output with objects_per_group=1, which differs from the default grouping here."""
    out = workdir / "png_groups"
    out.mkdir()
    pipeline = (f"filesrc location={media['ffv1']} ! decodebin ! videoconvert ! "
                f"video/x-raw,format=RGB ! {ELEMENT_NAME} mask=\"{media['first']};5:{media['late']}\" "
                f"weights={weights} mode=matte device=cpu objects-per-group=1 ! videoconvert ! "
                f"pngenc ! multifilesink location={out}/%05d.png")
    result = launch(pipeline, gst_env, workdir)
    assert result.returncode == 0, _stderr(result)
    files = sorted(out.glob("*.png"))
    alone = reference(clip[0], clip_masks(clip), weights, "matte", objects_per_group=1)
    grouped = reference(clip[0], clip_masks(clip), weights, "matte")
    assert any(not np.array_equal(a, g) for a, g in zip(alone, grouped))
    for index, (path, wanted) in enumerate(zip(files, alone)):
        np.testing.assert_array_equal(read_png(path)[..., :wanted.shape[-1]] if wanted.ndim == 3
                                      else read_png(path), wanted, err_msg=f"frame {index}")


def _readme_pipeline() -> str:
    """The example pipeline of plugins/gstreamer/README.md, as written there."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"^(gst-launch-1\.0 filesrc location=in\.mp4 .*aotvideotrack mask=first\.png .*)$",
                      text, re.MULTILINE)
    assert match is not None, "the README lost its example pipeline"
    return match.group(1)


def test_the_readme_pipeline_as_written(gst_env, media, weights, clip, workdir: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = workdir / "readme"
    folder.mkdir()
    shutil.copy(media["mp4"], folder / "in.mp4")
    shutil.copy(media["first"], folder / "first.png")
    env = dict(gst_env)
    env["AOTVIDEO_CACHE"] = str(workdir / "cache-readme")
    monkeypatch.setenv("AOTVIDEO_CACHE", env["AOTVIDEO_CACHE"])
    zoo.install(weights, "deaott")  # as `aotvideo weights add` does; the pipeline names no weights
    command = _readme_pipeline()
    assert command.startswith("gst-launch-1.0 ")
    result = launch(command[len("gst-launch-1.0 "):], env, folder)
    assert result.returncode == 0, _stderr(result)

    with av.open(str(folder / "in.mp4")) as container:
        inputs = list(container.decode(video=0))
    with av.open(str(folder / "out.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        outputs = list(container.decode(stream))
    assert len(outputs) == COUNT
    assert (outputs[0].width, outputs[0].height) == (WIDTH, HEIGHT)
    # timestamps pass through the element
    np.testing.assert_allclose([f.time for f in outputs], [f.time for f in inputs], atol=1e-3)
    # the overlay is there: on the first frame (the mask's) the objects are tinted, the rest is not
    rgb_in = [f.to_ndarray(format="rgb24") for f in inputs]
    expected = reference(rgb_in, {0: clip_masks(clip)[0]}, weights, "overlay")
    got = outputs[0].to_ndarray(format="rgb24").astype(np.int32)
    inside = clip_masks(clip)[0] > 0
    changed = np.abs(got - rgb_in[0].astype(np.int32)).mean(axis=2)
    assert changed[inside].mean() > 25 and changed[~inside].mean() < 6
    for index, (frame, wanted) in enumerate(zip(outputs, expected)):
        error = np.abs(frame.to_ndarray(format="rgb24").astype(np.int32) - wanted.astype(np.int32)).mean()
        assert error < 6, f"frame {index} differs from the Tracker API's overlay by {error:.1f} on average"


@pytest.mark.parametrize("case", ["missing mask", "no mask", "mask size", "bad mode", "no weights", "bad model",
                                  "bad device"])
def test_errors_become_gstreamer_errors(gst_env, media, weights, workdir: Path, case: str) -> None:
    props = {
        "missing mask": (f"mask={workdir / 'nowhere.png'} weights={weights}", "nowhere.png: file not found"),
        "no mask": (f"weights={weights}", "no mask given"),
        "mask size": (f"mask={media['small']} weights={weights}", "is 12x10 but the video is 96x64"),
        "bad mode": (f"mask={media['first']} weights={weights} mode=masks", "unknown mode 'masks'"),
        # deaott falls back to the packaged model; aott has none
        "no weights": (f"mask={media['first']} model=aott", "no weights installed for model 'aott'"),
        "bad model": (f"mask={media['first']} model=nope weights={weights}", "unknown model 'nope'"),
        "bad device": (f"mask={media['first']} weights={weights} device=warp9", "Invalid device string: 'warp9'"),
    }
    settings, message = props[case]
    if "device=" not in settings:
        settings += " device=cpu"
    pipeline = (f"videotestsrc num-buffers=3 ! video/x-raw,format=RGB,width={WIDTH},height={HEIGHT} ! "
                f"{ELEMENT_NAME} {settings} ! fakesink")
    result = launch(pipeline, gst_env, workdir)
    output = result.stdout.decode(errors="replace") + _stderr(result)
    assert result.returncode > 0, output  # an error, not a crash (a signal gives a negative code)
    assert re.search(r"ERROR: from element /GstPipeline:pipeline\d+/GstAotVideoTrack:aotvideotrack\d+", output), output
    assert message in output, output


def test_an_environment_without_aotvideo_is_a_clear_error(gst_env, media, workdir: Path) -> None:
    # A copy of the element outside any aotvideo installation, with nothing pointing to one.
    alone = workdir / "alone"
    (alone / "python").mkdir(parents=True)
    shutil.copy(plugin_dir() / "python" / f"{ELEMENT_NAME}.py", alone / "python")
    env = {k: v for k, v in gst_env.items() if k not in ("AOTVIDEO_PYTHONPATH", "PYTHONPATH", "VIRTUAL_ENV")}
    env["GST_PLUGIN_PATH"] = str(alone)
    env["GST_REGISTRY_1_0"] = str(workdir / "registry-alone.bin")
    env["PYTHONNOUSERSITE"] = "1"
    pipeline = (f"videotestsrc num-buffers=2 ! video/x-raw,format=RGB,width={WIDTH},height={HEIGHT} ! "
                f"{ELEMENT_NAME} mask={media['first']} ! fakesink")
    result = launch(pipeline, env, workdir)
    output = result.stdout.decode(errors="replace") + _stderr(result)
    assert result.returncode > 0, output
    assert "cannot import aotvideo or its dependencies" in output, output
    assert "aotvideo gst-path --env" in output, output


# -- in process: appsrc ! aotvideotrack ! appsink ------------------------------------------------


@pytest.fixture(scope="module")
def Gst(gst_env: dict[str, str], workdir: Path) -> Iterator[Any]:
    """GStreamer in this process, set up to find the element; yields ``gi.repository.Gst``."""
    gi_dir = workdir / "gi-only"
    try:
        import gi  # noqa: F401
    except ImportError:
        # The venv has no PyGObject: borrow the system's ``gi`` alone (same Python version).
        system = Path("/usr/lib/python3/dist-packages/gi")
        if not system.is_dir() or sys.version_info[:2] != _system_python_version():
            pytest.skip("PyGObject (gi) is not importable here and the system's does not fit this Python")
        gi_dir.mkdir(exist_ok=True)
        link = gi_dir / "gi"
        if not link.exists():
            link.symlink_to(system)
        sys.path.append(str(gi_dir))
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstApp", "1.0")
    gi.require_version("GstVideo", "1.0")
    from gi.repository import Gst as gst

    saved = {k: os.environ.get(k) for k in ("GST_PLUGIN_PATH", "GST_REGISTRY_1_0", "AOTVIDEO_PYTHONPATH")}
    for key in saved:
        os.environ[key] = gst_env[key]
    gst.init(None)
    if gst.ElementFactory.find(ELEMENT_NAME) is None:
        pytest.fail(f"{ELEMENT_NAME} is not registered in this process (GST_PLUGIN_PATH={gst_env['GST_PLUGIN_PATH']})")
    yield gst
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _system_python_version() -> tuple[int, int]:
    result = subprocess.run(["/usr/bin/python3", "-c", "import sys; print(*sys.version_info[:2])"],
                            capture_output=True, timeout=60)
    major, minor = result.stdout.split()
    return int(major), int(minor)


class AppPipeline:
    """``appsrc ! aotvideotrack ! appsink`` in this process, fed with numpy frames."""

    def __init__(self, Gst: Any, caps: str, element: str, *, seekable: bool = False) -> None:
        self.Gst = Gst
        stream_type = " stream-type=seekable" if seekable else ""
        self.pipeline = Gst.parse_launch(
            f"appsrc name=src format=time{stream_type} caps={caps} ! {element} name=track ! "
            "appsink name=sink sync=false")
        self.src = self.pipeline.get_by_name("src")
        self.sink = self.pipeline.get_by_name("sink")
        if seekable:
            self.src.connect("seek-data", lambda _src, _offset: True)
        self.pipeline.set_state(Gst.State.PLAYING)

    def set_caps(self, caps: str) -> None:
        self.src.set_property("caps", self.Gst.Caps.from_string(caps))

    def push(self, data: bytes, pts: int, duration: int, offset: int | None = None,
             layout: tuple[int, int, int, int] | None = None) -> None:
        """Push one picture; ``layout`` (width, height, first-row offset, stride) attaches a
        GstVideoMeta that describes a non-default RGB layout."""
        buffer = self.Gst.Buffer.new_wrapped(data)
        if layout is not None:
            from gi.repository import GstVideo

            width, height, start, stride = layout
            GstVideo.buffer_add_video_meta_full(buffer, GstVideo.VideoFrameFlags.NONE, GstVideo.VideoFormat.RGB,
                                                width, height, 1, [start, 0, 0, 0], [stride, 0, 0, 0])
        buffer.pts, buffer.duration = pts, duration
        if offset is not None:
            buffer.offset = offset
        assert self.src.emit("push-buffer", buffer) == self.Gst.FlowReturn.OK

    def pull(self) -> tuple[Any, str] | None:
        """The next output buffer and its caps; None at EOS."""
        sample = self.sink.emit("try-pull-sample", 120 * self.Gst.SECOND)
        if sample is None:
            return None
        return sample.get_buffer(), sample.get_caps().to_string()

    def finish(self) -> list[tuple[Any, str]]:
        self.src.emit("end-of-stream")
        out = []
        while (item := self.pull()) is not None:
            out.append(item)
        return out

    def messages(self) -> list[tuple[str, str]]:
        """(kind, text) of the ERROR and WARNING messages on the bus."""
        bus = self.pipeline.get_bus()
        found = []
        while (message := bus.pop()) is not None:
            if message.type == self.Gst.MessageType.ERROR:
                found.append(("error", message.parse_error()[0].message))
            elif message.type == self.Gst.MessageType.WARNING:
                found.append(("warning", message.parse_warning()[0].message))
        return found

    def close(self) -> None:
        self.pipeline.set_state(self.Gst.State.NULL)


def padded(image: np.ndarray) -> bytes:
    """A picture in GStreamer's default raw layout: rows padded to 4 bytes."""
    height, width, channels = image.shape
    stride = (width * channels + 3) // 4 * 4
    rows = np.zeros((height, stride), np.uint8)
    rows[:, :width * channels] = image.reshape(height, -1)
    return rows.tobytes()


def unpadded(Gst: Any, buffer: Any, width: int, height: int, channels: int) -> np.ndarray:
    stride = (width * channels + 3) // 4 * 4
    ok, info = buffer.map(Gst.MapFlags.READ)
    assert ok
    try:
        rows = np.frombuffer(info.data, np.uint8)[:stride * height].reshape(height, stride).copy()
    finally:
        buffer.unmap(info)
    return rows[:, :width * channels].reshape(height, width, channels)


@pytest.mark.parametrize("mode", ["overlay", "alpha"])
def test_appsink_in_process_equals_the_tracker_api(Gst, media, weights, workdir: Path, mode: str) -> None:
    # An odd width (90 * 3 bytes is not a multiple of 4) tests row strides; variable frame
    # timing (framerate 0/1, irregular gaps) tests that timestamps pass through untouched.
    width, height = 90, 60
    frames, labels = zip(*scene(width, height, 4, seed=3))
    first = workdir / f"first_{width}x{height}.png"
    write_palette_png(first, labels[0])
    stamps = [0, 40, 120, 160]
    caps = f"video/x-raw,format=RGB,width={width},height={height},framerate=0/1"
    element = f"{ELEMENT_NAME} mask=\"{first};50:{first}\" weights={weights} mode={mode} device=cpu"
    app = AppPipeline(Gst, caps, element)
    try:
        for index, (frame, stamp) in enumerate(zip(frames, stamps)):
            if mode == "alpha":  # pictures with a GstVideoMeta: 16 bytes in, rows of 300 bytes
                rows = np.zeros((height, 300), np.uint8)
                rows[:, :width * 3] = frame.reshape(height, -1)
                data, layout = bytes(16) + rows.tobytes(), (width, height, 16, 300)
            else:
                data, layout = padded(frame), None
            app.push(data, stamp * Gst.MSECOND + 7, 40 * Gst.MSECOND, offset=index, layout=layout)
        out = app.finish()
        messages = app.messages()
    finally:
        app.close()
    assert len(out) == len(frames)
    channels = 4 if mode == "alpha" else 3
    assert f"format=(string){'RGBA' if mode == 'alpha' else 'RGB'}" in out[0][1]
    expected = reference(list(frames), {0: labels[0]}, weights, mode)
    for index, ((buffer, _), wanted, stamp) in enumerate(zip(out, expected, stamps)):
        assert buffer.pts == stamp * Gst.MSECOND + 7 and buffer.duration == 40 * Gst.MSECOND
        assert buffer.offset == index
        np.testing.assert_array_equal(unpadded(Gst, buffer, width, height, channels), wanted,
                                      err_msg=f"frame {index}")
    # EOS before the mask for frame 50 came: a warning, not an error
    assert [kind for kind, _ in messages] == ["warning"]
    assert "frame(s) 50 were never used" in messages[0][1]


def test_caps_change_restarts_tracking(Gst, weights, workdir: Path) -> None:
    big = list(zip(*scene(96, 64, 3, seed=5)))
    small = list(zip(*scene(80, 48, 3, seed=6)))
    first, later = workdir / "caps_first.png", workdir / "caps_later.png"
    write_palette_png(first, big[1][0])
    write_palette_png(later, small[1][1])  # the mask of frame 4 = the small clip's second frame
    element = f"{ELEMENT_NAME} mask=\"{first};4:{later}\" weights={weights} mode=matte device=cpu"
    app = AppPipeline(Gst, "video/x-raw,format=RGB,width=96,height=64,framerate=25/1", element)
    step = Gst.SECOND // 25
    try:
        for index, frame in enumerate(big[0]):
            app.push(padded(frame), index * step, step)
        got = [app.pull() for _ in range(3)]
        app.set_caps("video/x-raw,format=RGB,width=80,height=48,framerate=25/1")
        for index, frame in enumerate(small[0], start=3):
            app.push(padded(frame), index * step, step)
        got += app.finish()
        messages = app.messages()
    finally:
        app.close()
    assert len(got) == 6 and all(item is not None for item in got)
    assert "width=(int)80" in got[3][1]
    expected = reference(list(big[0]), {0: big[1][0]}, weights, "matte")
    expected += reference(list(small[0]), {4: small[1][1]}, weights, "matte", indices=range(3, 6))
    for index, (item, wanted) in enumerate(zip(got, expected)):
        width, height = (96, 64) if index < 3 else (80, 48)
        np.testing.assert_array_equal(unpadded(Gst, item[0], width, height, 3), wanted, err_msg=f"frame {index}")
    assert not expected[3].any() and expected[4].any()
    assert any(kind == "warning" and "size changed from 96x64 to 80x48" in text for kind, text in messages)
    assert not any(kind == "error" for kind, _ in messages)


def test_flushing_seek_restarts_tracking_at_the_next_mask(Gst, media, weights, clip) -> None:
    frames = clip[0]
    masks = {0: clip[1][0], 4: clip[1][4]}
    first, fourth = media["first"].with_name("seek_first.png"), media["first"].with_name("seek_fourth.png")
    write_palette_png(first, masks[0])
    write_palette_png(fourth, masks[4])
    element = f"{ELEMENT_NAME} mask=\"{first};4:{fourth}\" weights={weights} mode=alpha device=cpu"
    app = AppPipeline(Gst, f"video/x-raw,format=RGB,width={WIDTH},height={HEIGHT},framerate=25/1", element,
                      seekable=True)
    step = Gst.SECOND // 25
    try:
        for index in range(2):
            app.push(padded(frames[index]), index * step, step)
        before = [app.pull() for _ in range(2)]
        flags = Gst.SeekFlags.FLUSH | Gst.SeekFlags.ACCURATE
        assert app.pipeline.seek_simple(Gst.Format.TIME, flags, 3 * step)
        for index in range(3, COUNT):
            app.push(padded(frames[index]), index * step, step)
        after = app.finish()
        messages = app.messages()
    finally:
        app.close()
    assert not any(kind == "error" for kind, _ in messages), messages
    assert [b.pts for b, _ in after] == [i * step for i in range(3, COUNT)]
    expected = reference(frames[:2], masks, weights, "alpha")
    expected += reference(frames[3:], masks, weights, "alpha", indices=range(3, COUNT))
    got = [unpadded(Gst, item[0], WIDTH, HEIGHT, 4) for item in [*before, *after] if item is not None]
    for index, (a, b) in enumerate(zip(got, expected)):
        np.testing.assert_array_equal(a, b, err_msg=f"output {index}")
    assert not got[2][..., 3].any() and got[3][..., 3].any()  # frame 3: after the seek, before the next mask


def test_restart_reuses_the_model_and_starts_a_new_video(Gst, media, weights, clip, workdir: Path) -> None:
    frames = clip[0]
    element = f"{ELEMENT_NAME} mask={media['first']} weights={weights} mode=matte device=cpu"
    app = AppPipeline(Gst, f"video/x-raw,format=RGB,width={WIDTH},height={HEIGHT},framerate=24/1", element)
    step = Gst.SECOND // 24
    try:
        track = app.pipeline.get_by_name("track")
        runs = []
        for run in range(2):
            if run:
                app.pipeline.set_state(Gst.State.NULL)
                track.set_property("mask", f"{media['first']};2:{media['late']}")
                app.pipeline.set_state(Gst.State.PLAYING)
            for index in range(3):
                app.push(padded(frames[index]), index * step, step)
            runs.append([app.pull() for _ in range(3)])
            runs.append(track._processor.tracker)
        messages = app.messages()
    finally:
        app.close()
    assert not any(kind == "error" for kind, _ in messages), messages
    assert runs[1] is runs[3]  # the same model and tracker, reset
    masks = clip_masks(clip)
    for outputs, wanted in ((runs[0], reference(frames[:3], {0: masks[0]}, weights, "matte")),
                            (runs[2], reference(frames[:3], {0: masks[0], 2: masks[5]}, weights, "matte"))):
        for index, (item, image) in enumerate(zip(outputs, wanted)):
            assert item is not None
            np.testing.assert_array_equal(unpadded(Gst, item[0], WIDTH, HEIGHT, 3), image, err_msg=f"frame {index}")
