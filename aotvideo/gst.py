"""Support code for the GStreamer element ``aotvideotrack``.

The element itself is a Python file that GStreamer's Python loader (``gst-python``) imports from
the ``python/`` folder of a directory on ``GST_PLUGIN_PATH``; it ships inside this package
(``aotvideo/plugins/gstreamer/python/aotvideotrack.py``) so that installed copies find it too.
This module holds what does not need GStreamer, so it can be tested and reused without it:

* :func:`plugin_dir` and :func:`python_path` / :func:`environment` say how to make GStreamer
  find the element and the element find aotvideo (the ``aotvideo gst-path`` command prints them);
* :func:`loader_python` finds the Python that GStreamer's Python loader embeds, and
  :func:`wrapper_dir` holds the wrappers that run GStreamer's programs so that this Python starts
  right inside a virtual environment too (see :func:`environment`);
* :func:`parse_masks` reads the element's ``mask`` property;
* :class:`FrameProcessor` turns one RGB(A) picture into the element's output: it owns the
  :class:`~aotvideo.Tracker`, applies the masks at their frames and renders with
  :mod:`aotvideo.render`.

The element only converts GStreamer buffers to arrays and back, and errors to GStreamer messages.
"""
from __future__ import annotations

import os
import platform
import re
import site
import subprocess
import sys
import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import MaskError
from .io.masks import parse_mask_entry

if TYPE_CHECKING:
    from .tracking.builder import TrackerSpec
    from .tracking.precision import Amp

__all__ = [
    "ELEMENT_NAME",
    "MODES",
    "FrameProcessor",
    "LoaderPython",
    "ProcessorConfig",
    "environment",
    "loader_python",
    "parse_masks",
    "plugin_dir",
    "python_path",
    "registry_file",
    "setup_problems",
    "shell_exports",
    "shell_environment",
    "wrapper_dir",
]

#: The factory name the element registers under.
ELEMENT_NAME = "aotvideotrack"

#: Output modes of the element (``masks`` is for the command line only: it writes PNG files).
MODES: tuple[str, ...] = ("overlay", "matte", "alpha")

#: Environment variable the plugin file reads to find aotvideo and its dependencies.
PYTHONPATH_VARIABLE = "AOTVIDEO_PYTHONPATH"

#: Environment variable the wrappers read: the ``python3`` of the Python that GStreamer's Python
#: loader embeds; its folder goes first on the ``PATH`` of the GStreamer program they run.
LOADER_PYTHON_VARIABLE = "AOTVIDEO_GST_PYTHON"

#: Environment variable the wrappers read: the plugin registry file of the programs they run
#: (unless ``GST_REGISTRY_1_0`` or ``GST_REGISTRY`` is set).
REGISTRY_VARIABLE = "AOTVIDEO_GST_REGISTRY"

#: The wrapper that runs any program (``aotvideo-gst-run PROGRAM ARGS...``); the other files of
#: :func:`wrapper_dir` are links to it named after GStreamer's programs.
RUNNER = "aotvideo-gst-run"

#: GStreamer's programs that :func:`wrapper_dir` has a wrapper for.
WRAPPED_PROGRAMS: tuple[str, ...] = (
    "gst-launch-1.0", "gst-inspect-1.0", "gst-play-1.0", "gst-discoverer-1.0", "gst-typefind-1.0")


# -- where things are -----------------------------------------------------------------------------


def plugin_dir() -> Path:
    """The directory to put on ``GST_PLUGIN_PATH``.

    It holds ``python/aotvideotrack.py``, the layout GStreamer's Python loader expects. The same
    path works from a source checkout and from an installed package, because the plugin file is
    package data of :mod:`aotvideo`.
    """
    return Path(__file__).resolve().parent / "plugins" / "gstreamer"


def plugin_file() -> Path:
    """The element's Python file inside :func:`plugin_dir`."""
    return plugin_dir() / "python" / f"{ELEMENT_NAME}.py"


def python_path() -> list[str]:
    """The folders GStreamer's Python needs on ``sys.path`` to import aotvideo and its dependencies.

    GStreamer's loader runs the system's Python (Debian: ``/usr/bin/python3``), not the one
    aotvideo is installed in. These are the folders of the running interpreter that hold
    aotvideo (a source checkout's root, or ``site-packages``) and its dependencies (torch, numpy,
    PyAV, OpenCV): the value for ``AOTVIDEO_PYTHONPATH``. Both interpreters must be the same
    Python minor version, since the dependencies contain compiled extensions.
    """
    entries: list[str] = []

    def add(path: str | os.PathLike[str]) -> None:
        text = os.fspath(path)
        if text and os.path.isdir(text) and text not in entries:
            entries.append(text)

    # The folder aotvideo is imported from: the checkout root, or site-packages when installed.
    add(Path(__file__).resolve().parent.parent)
    try:
        for folder in site.getsitepackages():
            add(folder)
    except AttributeError:  # pragma: no cover - old virtualenv's site module
        pass
    if site.ENABLE_USER_SITE and site.getusersitepackages():
        add(site.getusersitepackages())
    # Folders of the dependencies, in case they come from somewhere else (PYTHONPATH, .pth files).
    for module in ("numpy", "torch", "av", "cv2", "click"):
        spec = _find_spec(module)
        if spec is not None and spec.origin:
            origin = Path(spec.origin).resolve()
            # package/__init__.py -> the folder holding the package; module.py -> its folder
            add(origin.parent.parent if origin.name.startswith("__init__.") else origin.parent)
    return entries


def _find_spec(name: str) -> Any:
    import importlib.util

    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def wrapper_dir() -> Path:
    """The folder of wrappers for GStreamer's programs (``gst-launch-1.0``, ``gst-inspect-1.0``, ...).

    ``aotvideo gst-path --env`` puts it first on ``PATH``. Each wrapper runs the real program of
    its name (the next one on ``PATH``) the way GStreamer's Python loader needs, see
    :func:`environment`; ``aotvideo-gst-run PROGRAM ARGS...`` does the same for any other program.
    """
    return plugin_dir() / "bin"


def registry_file(environ: Mapping[str, str] | None = None) -> Path:
    """The plugin registry of GStreamer programs run through the wrappers or :func:`environment`.

    GStreamer caches a plugin that failed to load in its registry and does not try it again until
    the plugin's file changes. A run without the set-up inside a virtual environment leaves
    GStreamer's Python loader marked so in the default registry; a registry of aotvideo's own is
    only written with the set-up in place. It lives in aotvideo's per-user cache folder (the one
    of :func:`aotvideo.zoo.cache_dir`, for the variables in ``environ``, default ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    if environ.get("AOTVIDEO_CACHE"):
        cache = Path(environ["AOTVIDEO_CACHE"]).expanduser()
    else:
        xdg = environ.get("XDG_CACHE_HOME")
        base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
        cache = base / "aotvideo"
    return cache / "gstreamer-1.0" / f"registry.{platform.machine() or 'unknown'}.bin"


@dataclass(frozen=True)
class LoaderPython:
    """The Python that GStreamer's Python plugin loader (``libgstpython``) embeds.

    ``version`` is its ``(major, minor)`` (None when the library does not say). ``python`` is its
    ``python3`` program, in the ``bin`` folder of its installation prefix (None when not found).
    """

    library: Path
    version: tuple[int, int] | None
    python: Path | None


_LOADER_NAMES = ("libgstpython.so", "libgstpython.dylib")


def _gst_plugin_dirs(environ: Mapping[str, str]) -> list[Path]:
    """Folders where GStreamer's own plugins (and so ``libgstpython``) may be installed."""
    dirs: list[Path] = []
    for name in ("GST_PLUGIN_SYSTEM_PATH_1_0", "GST_PLUGIN_SYSTEM_PATH"):
        if environ.get(name):
            dirs += [Path(p) for p in environ[name].split(os.pathsep) if p]
            break
    prefixes: list[Path] = []
    inspect = _which("gst-inspect-1.0", environ.get("PATH", os.defpath), skip=wrapper_dir())
    if inspect is not None:
        prefixes.append(Path(inspect).resolve().parent.parent)
    prefixes += [Path("/usr"), Path("/usr/local"), Path("/opt/homebrew")]
    for prefix in prefixes:
        for lib in ("lib", "lib64"):
            dirs.append(prefix / lib / "gstreamer-1.0")
            if (prefix / lib).is_dir():
                dirs += sorted((prefix / lib).glob("*/gstreamer-1.0"))
    return dirs


def _which(name: str, path: str, skip: Path | None = None) -> str | None:
    """The first executable ``name`` on ``path``, not counting the folder ``skip``."""
    skipped = os.path.realpath(skip) if skip is not None else None
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or ".", name)
        if skipped is not None and os.path.realpath(folder or ".") == skipped:
            continue
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def loader_python(environ: Mapping[str, str] | None = None,
                  plugin_dirs: Iterable[Path] | None = None) -> LoaderPython | None:
    """Find ``libgstpython`` and the Python it embeds; None when the loader is not installed.

    The version comes from the ``libpythonX.Y`` the library names. The installation is found the
    way that Python finds its own: the first folder above the library (then ``/usr``,
    ``/usr/local``) holding ``lib/pythonX.Y/os.py``; its ``bin/python3`` is the program whose
    folder must come first on the ``PATH`` of GStreamer's programs (see :func:`environment`).
    """
    environ = os.environ if environ is None else environ
    folders = list(plugin_dirs) if plugin_dirs is not None else _gst_plugin_dirs(environ)
    library = next((folder / name for folder in folders for name in _LOADER_NAMES
                    if (folder / name).is_file()), None)
    if library is None:
        return None
    try:
        data = library.read_bytes()
    except OSError:
        data = b""
    match = re.search(rb"libpython(\d+)\.(\d+)", data)
    if match is None:
        return LoaderPython(library, None, None)
    version = (int(match.group(1)), int(match.group(2)))
    python = None
    above = [folder for folder in library.resolve().parents if folder.parent != folder]  # not /
    for prefix in [*above, Path("/usr"), Path("/usr/local")]:
        landmark = prefix / "lib" / f"python{version[0]}.{version[1]}" / "os.py"
        if landmark.is_file() and (prefix / "bin" / "python3").is_file():
            python = prefix / "bin" / "python3"
            break
    return LoaderPython(library, version, python)


def setup_problems(loader: LoaderPython | None = None, *, check_gi: bool = True) -> list[str]:
    """What keeps the element from loading or starting with this installation, with what to do.

    Empty when all is well. ``loader`` defaults to :func:`loader_python`; ``check_gi`` runs the
    loader's Python once to see that it can import GStreamer's Python bindings.
    """
    found = loader_python() if loader is None else loader
    if found is None:
        return ["GStreamer's Python plugin loader (libgstpython) is not installed: "
                "apt-get install gstreamer1.0-python3-plugin-loader python3-gst-1.0"]
    problems = []
    if found.python is None:
        where = f"Python {found.version[0]}.{found.version[1]}" if found.version else "its Python"
        problems.append(
            f"cannot find the python3 of {where}, which {found.library} embeds; after the eval, "
            f"export {LOADER_PYTHON_VARIABLE}=/path/to/that/bin/python3")
    elif check_gi:
        try:
            result = subprocess.run([str(found.python), "-c", "import gi"], capture_output=True,
                                    timeout=60, env=_without_python_variables(os.environ))
            failed = result.returncode != 0
        except (OSError, subprocess.SubprocessError):
            failed = True
        if failed:
            problems.append(f"{found.python} cannot import gi (PyGObject), which GStreamer's Python "
                            "loader needs: apt-get install python3-gi python3-gst-1.0")
    here = sys.version_info[:2]
    if found.version is not None and found.version != here:
        problems.append(
            f"GStreamer's Python loader runs Python {found.version[0]}.{found.version[1]}, but aotvideo "
            f"is installed for Python {here[0]}.{here[1]}: the element cannot import torch, numpy and "
            f"PyAV from there. Install aotvideo with Python {found.version[0]}.{found.version[1]} "
            f"(e.g. python{found.version[0]}.{found.version[1]} -m venv .venv)")
    return problems


def _without_python_variables(environ: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}


def shell_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: ``os.environ``) as ``eval "$(aotvideo gst-path --env)"`` leaves a shell.

    Sets ``GST_PLUGIN_PATH`` (GStreamer finds the element), ``AOTVIDEO_PYTHONPATH`` (the element
    finds aotvideo and its dependencies), ``AOTVIDEO_GST_PYTHON`` and ``AOTVIDEO_GST_REGISTRY``
    (read by the wrappers), and puts :func:`wrapper_dir` first on ``PATH``. Nothing here changes
    what a Python program started from that shell does: no ``PYTHONHOME`` or ``PYTHONPATH``, and
    the wrapper folder holds no ``python``.
    """
    env = dict(os.environ if base is None else base)
    for name, value in shell_exports(env):
        env[name] = value
    return env


def shell_exports(env: Mapping[str, str], loader: LoaderPython | None = None) -> list[tuple[str, str]]:
    """The variables :func:`shell_environment` sets, in order, with their values for ``env``
    (``loader``: :func:`loader_python`'s answer, when known already)."""
    out = [("GST_PLUGIN_PATH", _prepend(str(plugin_dir()), env.get("GST_PLUGIN_PATH"))),
           (PYTHONPATH_VARIABLE, os.pathsep.join(python_path()))]
    loader = loader_python(env) if loader is None else loader
    if loader is not None and loader.python is not None:
        out.append((LOADER_PYTHON_VARIABLE, str(loader.python)))
    out.append((REGISTRY_VARIABLE, str(registry_file(env))))
    out.append(("PATH", _prepend(str(wrapper_dir()), env.get("PATH"))))
    return out


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to run a GStreamer program in (``gst-launch-1.0``, ``gst-inspect-1.0``)
    so that it finds ``aotvideotrack``, wherever the program is run from: :func:`shell_environment`
    plus what the wrappers of :func:`wrapper_dir` add for the program they run.

    GStreamer's Python loader embeds the system's Python, and Python takes its home from the
    first ``python3`` on ``PATH``. Inside a virtual environment that is the environment's
    ``python3``: the embedded Python then sees the environment's packages instead of the system's
    and cannot import ``gi``, so the element never loads ("pygobject initialization failed").
    Here the folder of the loader's own ``python3`` (``/usr/bin`` on Debian) comes first on
    ``PATH``, and ``GST_REGISTRY_1_0`` is :func:`registry_file` unless ``base`` sets a registry.
    Use it for GStreamer programs only: a ``python3`` started with it is the system's.
    """
    env = shell_environment(base)
    loader = env.get(LOADER_PYTHON_VARIABLE)
    if loader:
        env["PATH"] = _prepend(os.path.dirname(loader), env.get("PATH"))
    if not env.get("GST_REGISTRY_1_0") and not env.get("GST_REGISTRY"):
        env["GST_REGISTRY_1_0"] = env[REGISTRY_VARIABLE]
    return env


def _prepend(value: str, existing: str | None) -> str:
    parts = [p for p in value.split(os.pathsep) if p]
    for part in (existing or "").split(os.pathsep):
        if part and part not in parts:
            parts.append(part)
    return os.pathsep.join(parts)


# -- the mask property ----------------------------------------------------------------------------

def parse_masks(text: str) -> dict[int, str]:
    """Read the element's ``mask`` property: frame index -> mask image path.

    The value is one or more entries separated by ``;`` or ``,``. An entry is ``PATH`` (the
    first frame, 0) or ``FRAME:PATH`` (a mask that adds or corrects objects at that frame,
    counted from 0 like ``aotvideo track --mask FRAME:PATH``). Example:
    ``first.png;120:fix.png``. Raises :class:`~aotvideo.errors.MaskError` for an empty value,
    an empty path, or two masks for one frame.
    """
    masks: dict[int, str] = {}
    for raw in re.split(r"[;,]", text or ""):
        if not raw.strip():
            continue
        index, path = parse_mask_entry(raw)
        if index in masks:
            raise MaskError(f"two masks for frame {index}: {masks[index]} and {path}")
        masks[index] = path
    if not masks:
        raise MaskError("no mask given: set mask=FIRST.png (the objects on the first frame), "
                        "optionally followed by ;FRAME:PATH entries for later frames")
    return masks


# -- the per-frame work ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessorConfig:
    """The element's settings that decide the model and the tracker."""

    mask: str
    model: str = "deaott"
    weights: str | None = None
    mode: str = "overlay"
    device: str | None = None
    amp: str = "auto"
    soft: bool = False
    objects_per_group: str = "auto"

    def tracker_spec(self) -> TrackerSpec:
        """The :class:`~aotvideo.tracking.builder.TrackerSpec` of these settings.

        Raises:
            ValueError: a setting is not a valid value.
        """
        from .tracking.builder import TrackerSpec, parse_objects_per_group

        return TrackerSpec(model=self.model, weights=self.weights, device=self.device,
                           amp=parse_amp(self.amp),
                           objects_per_group=parse_objects_per_group(self.objects_per_group))


_AMP_WORDS: dict[str, Amp] = {"auto": "auto", "true": True, "on": True, "yes": True, "1": True,
                              "false": False, "off": False, "no": False, "0": False}


def parse_amp(text: str | bool) -> Amp:
    """The element's ``amp`` setting (``auto``, ``true``/``false`` and the like) as a tracker's
    ``amp``.

    Raises:
        ValueError: any other word.
    """
    if isinstance(text, bool):
        return text
    try:
        return _AMP_WORDS[text.strip().lower()]
    except KeyError:
        raise ValueError(f"amp must be auto, true or false, got {text!r}") from None


class FrameProcessor:
    """Tracks objects through a stream of pictures and renders each result.

    Build it with a :class:`ProcessorConfig`, call :meth:`load` once (reads the masks, builds the
    model, loads the weights: the slow part, done when the element starts), then :meth:`process`
    per frame. Frame indices count from 0 from the start of the stream, so ``FRAME:PATH`` masks
    mean what they mean for ``aotvideo track``. :meth:`reset` forgets the objects (a new stream,
    a new frame size, or a seek); tracking starts again at the next frame that has a mask.
    """

    def __init__(self, config: ProcessorConfig) -> None:
        if config.mode not in MODES:
            raise ValueError(f"unknown mode {config.mode!r}; choose one of: {', '.join(MODES)}")
        self.config = config
        self.mask_paths = parse_masks(config.mask)
        self.masks: dict[int, np.ndarray] = {}
        self.tracker: Any = None
        self.started = False
        self.used: set[int] = set()

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has run."""
        return self.tracker is not None

    def load(self, previous: FrameProcessor | None = None) -> None:
        """Read the masks and set up the model and the tracker.

        The model and tracker of ``previous`` (a processor loaded before) are reused when it
        was set up with the same model, weights, device and precision.

        Raises :class:`~aotvideo.errors.MaskError` (unreadable or empty mask),
        :class:`~aotvideo.errors.WeightsError` (no weights, or they do not fit the model),
        :class:`~aotvideo.errors.ModelNotFoundError`, or ``RuntimeError`` / ``ValueError`` for a
        device torch cannot use.
        """
        from . import zoo
        from .errors import ModelNotFoundError, WeightsError
        from .models import list_models
        from .io.masks import mask_ids, read_mask
        from .tracking.builder import build_tracker

        masks: dict[int, np.ndarray] = {}
        for index, path in sorted(self.mask_paths.items()):
            labels = read_mask(path)
            if labels.min() < 0:
                raise MaskError(f"mask {path}: negative object ids")
            if not mask_ids(labels):
                raise MaskError(f"mask {path} is empty: every pixel is background (0)")
            masks[index] = labels
        config = self.config
        if config.model not in list_models():
            raise ModelNotFoundError(
                f"unknown model {config.model!r}; choose one of: {', '.join(list_models())}")
        spec = config.tracker_spec()
        same = previous is not None and previous.tracker is not None and \
            previous.config.tracker_spec() == spec
        if same:
            assert previous is not None
            self.tracker = previous.tracker
        else:
            try:
                weights = zoo.resolve_weights(config.model, config.weights or None)
            except WeightsError as exc:
                # The zoo's message names the command line's options; say the property instead.
                text = str(exc).replace("pass --weights FILE", "set the weights=FILE property")
                raise WeightsError(text.replace("--model", "model=")) from exc
            self.tracker = build_tracker(dataclasses.replace(spec, weights=str(weights)))
        self.masks = masks
        self.reset()

    def reset(self) -> None:
        """Forget the tracked objects; tracking resumes at the next frame with a mask."""
        if self.tracker is not None:
            self.tracker.reset()
        self.started = False

    def check_size(self, width: int, height: int, start: int = 0) -> None:
        """Raise :class:`~aotvideo.errors.MaskError` when the first mask at or after frame
        ``start`` does not fit a ``width`` x ``height`` picture."""
        later = [i for i in sorted(self.masks) if i >= start]
        if later:
            self._check_mask(later[0], width, height)

    def _check_mask(self, index: int, width: int, height: int) -> np.ndarray:
        labels = self.masks[index]
        if labels.shape != (height, width):
            raise MaskError(
                f"mask {self.mask_paths[index]} (frame {index}) is {labels.shape[1]}x{labels.shape[0]} "
                f"but the video is {width}x{height}"
            )
        return labels

    def unused(self) -> list[int]:
        """Frame indices of masks that no processed frame has used yet."""
        return [i for i in sorted(self.masks) if i not in self.used]

    def process(self, image: np.ndarray, index: int) -> np.ndarray:
        """Track frame ``index`` and render it.

        ``image`` is H x W x 3 (RGB) or H x W x 4 (RGBA) uint8; the tracker sees its RGB part.
        Returns a new array: ``overlay`` and ``matte`` keep the input's channels (``overlay``
        keeps an input alpha as it is, ``matte`` puts the matte in R, G and B and makes alpha
        opaque); ``alpha`` returns RGBA with the matte as alpha (straight, not premultiplied).
        Frames before the first mask have no objects.
        """
        from .pipeline import render_frame, track_frame

        if self.tracker is None:
            raise RuntimeError("FrameProcessor.load() must run before process()")
        if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
            raise ValueError(f"expected an H x W x 3 or 4 uint8 picture, got {image.shape} {image.dtype}")
        height, width, channels = image.shape
        rgb = np.array(image[..., :3], dtype=np.uint8, order="C", copy=True)
        mode = self.config.mode
        mask = None
        if index in self.masks:
            mask = self._check_mask(index, width, height)
            self.used.add(index)
        result = track_frame(self.tracker, rgb, mask, self.started,
                             probs=self.config.soft and mode != "overlay")
        self.started = self.started or mask is not None
        picture = render_frame(mode, rgb, result, self.config.soft)
        if mode == "alpha":
            return picture
        if mode == "matte":  # the matte in R, G and B (and an opaque alpha for RGBA input)
            picture = np.repeat(picture[..., None], 3, axis=2)
            if channels == 4:
                return np.concatenate([picture, np.full((height, width, 1), 255, np.uint8)], axis=2)
            return picture
        if channels == 4:  # overlay keeps the input's alpha
            return np.concatenate([picture, image[..., 3:]], axis=2)
        return picture
