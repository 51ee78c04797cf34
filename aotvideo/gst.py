"""Support code for the GStreamer element ``aotvideotrack``.

The element itself is a Python file that GStreamer's Python loader (``gst-python``) imports from
the ``python/`` folder of a directory on ``GST_PLUGIN_PATH``; it ships inside this package
(``aotvideo/plugins/gstreamer/python/aotvideotrack.py``) so that installed copies find it too.
This module holds what does not need GStreamer, so it can be tested and reused without it:

* :func:`plugin_dir` and :func:`python_path` / :func:`environment` say how to make GStreamer
  find the element and the element find aotvideo (the ``aotvideo gst-path`` command prints them);
* :func:`parse_masks` reads the element's ``mask`` property;
* :class:`FrameProcessor` turns one RGB(A) picture into the element's output: it owns the
  :class:`~aotvideo.Tracker`, applies the masks at their frames and renders with
  :mod:`aotvideo.render`.

The element only converts GStreamer buffers to arrays and back, and errors to GStreamer messages.
"""
from __future__ import annotations

import os
import re
import shlex
import site
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from .errors import MaskError

__all__ = [
    "ELEMENT_NAME",
    "MODES",
    "FrameProcessor",
    "ProcessorConfig",
    "environment",
    "gst_path",
    "parse_masks",
    "plugin_dir",
    "python_path",
]

#: The factory name the element registers under.
ELEMENT_NAME = "aotvideotrack"

#: Output modes of the element (``masks`` is for the command line only: it writes PNG files).
MODES: tuple[str, ...] = ("overlay", "matte", "alpha")

#: Environment variable the plugin file reads to find aotvideo and its dependencies.
PYTHONPATH_VARIABLE = "AOTVIDEO_PYTHONPATH"


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


def environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: ``os.environ``) with ``GST_PLUGIN_PATH`` and ``AOTVIDEO_PYTHONPATH`` set.

    Both are prepended to what ``base`` holds already. Use it to run GStreamer programs
    (``gst-launch-1.0``, ``gst-inspect-1.0``) that should find ``aotvideotrack``.
    """
    env = dict(os.environ if base is None else base)
    env["GST_PLUGIN_PATH"] = _prepend(str(plugin_dir()), env.get("GST_PLUGIN_PATH"))
    env[PYTHONPATH_VARIABLE] = _prepend(os.pathsep.join(python_path()), env.get(PYTHONPATH_VARIABLE))
    return env


def _prepend(value: str, existing: str | None) -> str:
    parts = [p for p in value.split(os.pathsep) if p]
    for part in (existing or "").split(os.pathsep):
        if part and part not in parts:
            parts.append(part)
    return os.pathsep.join(parts)


@click.command("gst-path")
@click.option("--env", "as_env", is_flag=True,
              help="Print shell commands that set GST_PLUGIN_PATH and AOTVIDEO_PYTHONPATH, "
                   'for eval "$(aotvideo gst-path --env)".')
def gst_path(as_env: bool) -> None:
    """Print the directory to add to GST_PLUGIN_PATH for the aotvideotrack GStreamer element.

    \b
    GStreamer's Python loader runs the system Python, which also needs to import aotvideo and its
    dependencies; --env prints both variables:
      eval "$(aotvideo gst-path --env)"
      gst-inspect-1.0 aotvideotrack
    """
    if not as_env:
        click.echo(str(plugin_dir()))
        return
    plugins = shlex.quote(str(plugin_dir()))
    paths = shlex.quote(os.pathsep.join(python_path()))
    click.echo(f'export GST_PLUGIN_PATH={plugins}"${{GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}}"')
    click.echo(f"export {PYTHONPATH_VARIABLE}={paths}")


# -- the mask property ----------------------------------------------------------------------------

_ENTRY = re.compile(r"^\s*(?:(\d+)\s*:)?(.*?)\s*$", re.DOTALL)


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
        match = _ENTRY.match(raw)
        assert match is not None  # the pattern matches any string
        frame_text, path = match.group(1), match.group(2)
        index = int(frame_text) if frame_text is not None else 0
        if not path:
            raise MaskError(f"mask entry {raw.strip()!r} names no file")
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
    amp: bool = False
    soft: bool = False


def _model_settings(config: ProcessorConfig) -> tuple[object, ...]:
    return config.model, config.weights, config.device, config.amp


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
        import aotvideo
        from . import zoo
        from .io.masks import mask_ids, read_mask

        masks: dict[int, np.ndarray] = {}
        for index, path in sorted(self.mask_paths.items()):
            labels = read_mask(path)
            if labels.min() < 0:
                raise MaskError(f"mask {path}: negative object ids")
            if not mask_ids(labels):
                raise MaskError(f"mask {path} is empty: every pixel is background (0)")
            masks[index] = labels
        config = self.config
        if config.model not in aotvideo.list_models():
            raise aotvideo.ModelNotFoundError(
                f"unknown model {config.model!r}; choose one of: {', '.join(aotvideo.list_models())}")
        same = previous is not None and previous.tracker is not None and _model_settings(
            previous.config) == _model_settings(config)
        if same:
            assert previous is not None
            self.tracker = previous.tracker
        else:
            try:
                weights = zoo.resolve_weights(config.model, config.weights or None)
            except aotvideo.WeightsError as exc:
                # The zoo's message names the command line's options; say the property instead.
                text = str(exc).replace("pass --weights FILE", "set the weights=FILE property")
                raise aotvideo.WeightsError(text.replace("--model", "model=")) from exc
            net = aotvideo.build_model(config.model)
            aotvideo.load_weights(net, str(weights))
            self.tracker = aotvideo.Tracker(net, config.device or None, amp=config.amp)
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
        from .render import matte, overlay, with_alpha

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
        probs: np.ndarray | None = None
        ids: tuple[int, ...] = ()
        if mask is None and not self.started:
            labels = np.zeros((height, width), dtype=np.int64)
            if self.config.soft:
                probs = np.ones((1, height, width), dtype=np.float32)
        else:
            result = self.tracker.step(rgb, mask=mask)
            self.started = True
            labels = result.labels.numpy()
            ids = tuple(int(i) for i in result.object_ids)
            if self.config.soft and mode != "overlay":
                probs = result.probs.numpy()
        if mode == "overlay":
            picture = overlay(rgb, labels, ids)
            if channels == 4:
                return np.concatenate([picture, image[..., 3:]], axis=2)
            return picture
        alpha = matte(labels, None, probs, self.config.soft, prob_ids=ids)
        if mode == "alpha":
            return with_alpha(rgb, alpha)
        grey = np.repeat(alpha[..., None], 3, axis=2)
        if channels == 4:
            return np.concatenate([grey, np.full((height, width, 1), 255, np.uint8)], axis=2)
        return grey
