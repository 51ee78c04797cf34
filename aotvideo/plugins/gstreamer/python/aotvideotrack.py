"""GStreamer element ``aotvideotrack``: AOT/DeAOT video object tracking as a video filter.

GStreamer's Python loader (Debian: ``gstreamer1.0-python3-plugin-loader``) imports this file
from the ``python/`` folder of each directory on ``GST_PLUGIN_PATH``; ``aotvideo gst-path``
prints that directory. Example::

    gst-launch-1.0 filesrc location=in.mp4 ! decodebin ! videoconvert ! \\
        aotvideotrack mask=first.png ! videoconvert ! x264enc ! mp4mux ! filesink location=out.mp4

Properties: ``mask`` (``PATH`` for the first frame; more ``FRAME:PATH`` entries separated by
``;`` or ``,``), ``model``, ``weights``, ``mode`` (overlay | matte | alpha), ``device``, ``amp``,
``soft``, ``objects-per-group``. Raw RGB or RGBA video of any size and frame rate goes in; ``mode=alpha`` puts out RGBA.

The loader runs the system's Python, which usually cannot import aotvideo, torch and friends
from where they are installed. Before anything else this file adds, in this order, to
``sys.path``: the folders in ``AOTVIDEO_PYTHONPATH`` (``eval "$(aotvideo gst-path --env)"`` sets
it), the folder this copy of aotvideo lives in (a checkout or ``site-packages``), the
``site-packages`` of an active virtual environment (``VIRTUAL_ENV``) and of a ``.venv`` next to a
source checkout. Only ``gi`` is imported when GStreamer scans the plugin; aotvideo, torch and
the model load when the element starts, and problems there become GStreamer error messages.

The loader's Python takes its home from the first ``python3`` on ``PATH``; in an activated
virtual environment that is the environment's, and the loader cannot even import ``gi`` (it
says "pygobject initialization failed" and this file is never read). The wrappers of
``gst-launch-1.0`` & co. that ``aotvideo gst-path --env`` puts on ``PATH`` take care of that
(``aotvideo/plugins/gstreamer/bin``; ``aotvideo.gst.environment`` does the same for programs
started from Python).
"""
from __future__ import annotations

import os
import site
import sys
from pathlib import Path
from typing import Any


def _site_packages(prefix: Path) -> Path:
    """The ``site-packages`` folder of a virtual environment for the running Python version."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return prefix / "lib" / version / "site-packages"


def _bootstrap_paths() -> list[str]:
    """Put aotvideo and its dependencies on ``sys.path`` (in front); return what was added.

    ``site.addsitedir`` is used so that ``.pth`` files (editable installs) are honoured.
    """
    here = Path(__file__).resolve()
    # .../aotvideo/plugins/gstreamer/python/aotvideotrack.py -> the folder that holds aotvideo
    package_root = here.parents[4] if len(here.parents) > 4 else None
    candidates: list[Path] = []
    for entry in os.environ.get("AOTVIDEO_PYTHONPATH", "").split(os.pathsep):
        if entry:
            candidates.append(Path(entry).expanduser())
    if package_root is not None and (package_root / "aotvideo" / "__init__.py").is_file():
        candidates.append(package_root)
        candidates.append(_site_packages(package_root / ".venv"))
    if os.environ.get("VIRTUAL_ENV"):
        candidates.append(_site_packages(Path(os.environ["VIRTUAL_ENV"])))
    before = list(sys.path)
    known = {os.path.normcase(os.path.abspath(p)) for p in before if p}
    added: list[str] = []
    for candidate in candidates:
        text = str(candidate)
        if not candidate.is_dir() or os.path.normcase(os.path.abspath(text)) in known:
            continue
        site.addsitedir(text)
        known.add(os.path.normcase(os.path.abspath(text)))
    added = [p for p in sys.path if p not in before]
    # addsitedir appends; the environment's packages must win over the system's (numpy ...).
    sys.path[:] = added + before
    return added


_ADDED_PATHS = _bootstrap_paths()

import gi  # noqa: E402  (after the path set-up on purpose)

gi.require_version("Gst", "1.0")
gi.require_version("GstBase", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, GObject, Gst, GstBase, GstVideo  # noqa: E402

_FORMATS = ("RGB", "RGBA")
_CAPS = Gst.Caps.from_string(
    "video/x-raw, format=(string){ RGB, RGBA }, width=(int)[ 1, 2147483647 ], "
    "height=(int)[ 1, 2147483647 ], framerate=(fraction)[ 0/1, 2147483647/1 ]"
)
#: Property flags: read and written in any state, but they take effect when the element starts.
_SETTING = GObject.ParamFlags.READWRITE | Gst.PARAM_MUTABLE_READY


def _caps_with_format(structure: Gst.Structure, features: Gst.CapsFeatures | None,
                      formats: tuple[str, ...]) -> Gst.Caps:
    """Caps holding ``structure`` once per format in ``formats``."""
    caps = Gst.Caps.new_empty()
    for name in formats:
        copy = structure.copy()
        copy.set_value("format", name)
        caps.append_structure_full(copy, features.copy() if features is not None else None)
    return caps


class AotVideoTrack(GstBase.BaseTransform):
    """Tracks the objects of a mask through raw video and draws, mattes or cuts them out."""

    __gtype_name__ = "GstAotVideoTrack"
    __gstmetadata__ = (
        "AOT/DeAOT video object tracking",
        "Filter/Effect/Video",
        "Tracks the objects of a first-frame mask through the video (AOT/DeAOT) and puts out an "
        "overlay, a luma matte or the picture with an alpha channel",
        "aotvideo",
    )
    __gsttemplates__ = (
        Gst.PadTemplate.new("sink", Gst.PadDirection.SINK, Gst.PadPresence.ALWAYS, _CAPS),
        Gst.PadTemplate.new("src", Gst.PadDirection.SRC, Gst.PadPresence.ALWAYS, _CAPS),
    )

    mask = GObject.Property(
        type=str, default="", nick="Mask(s)", flags=_SETTING,
        blurb="Mask image of the objects on the first frame (palette, grayscale or colour PNG); "
              "masks for later frames as FRAME:PATH entries, separated by ';' or ',', e.g. "
              "first.png;120:fix.png")
    model = GObject.Property(
        type=str, default="deaott", nick="Model", flags=_SETTING,
        blurb="Model variant (aotvideo.list_models(), e.g. deaott, deaotl, r50_deaotl)")
    weights = GObject.Property(
        type=str, default="", nick="Weights", flags=_SETTING,
        blurb="Checkpoint file; empty: the one installed with 'aotvideo weights add'")
    mode = GObject.Property(
        type=str, default="overlay", nick="Mode", flags=_SETTING,
        blurb="overlay (coloured objects on the picture), matte (white = objects), "
              "alpha (RGBA: the picture with the matte as alpha)")
    device = GObject.Property(
        type=str, default="", nick="Device", flags=_SETTING,
        blurb="torch device, e.g. cpu, cuda, cuda:1; empty: CUDA when available")
    amp = GObject.Property(type=str, default="auto", nick="AMP", flags=_SETTING,
                           blurb="Mixed precision: auto (bfloat16 on CPUs with native bfloat16, "
                                 "float16 on CUDA, else float32), true or false (float32)")
    soft = GObject.Property(type=bool, default=False, nick="Soft", flags=_SETTING,
                            blurb="Soft matte edges from the probabilities (matte and alpha modes)")
    objects_per_group = GObject.Property(
        type=str, default="auto", nick="Objects per group", flags=_SETTING,
        blurb="Objects sharing one identity group, 1-10 (1: each object alone, fewer identity "
              "swaps, one more pass per object), or auto (as aotvideo track)")

    def __init__(self) -> None:
        super().__init__()
        self.set_passthrough(False)
        self.set_in_place(False)
        self._processor: Any = None
        self._in_info: GstVideo.VideoInfo | None = None
        self._out_info: GstVideo.VideoInfo | None = None
        self._size: tuple[int, int] | None = None
        self._index = 0
        self._resync = False
        self._segment: Gst.Segment | None = None
        self._np: Any = None

    # -- errors ------------------------------------------------------------------------------------

    def _post_error(self, domain: Any, code: Any, text: str, debug: str = "") -> None:
        error = GLib.Error.new_literal(domain.quark(), text, int(code))
        self.post_message(Gst.Message.new_error(self, error, debug or text))

    def _post_warning(self, text: str) -> None:
        error = GLib.Error.new_literal(Gst.CoreError.quark(), text, int(Gst.CoreError.FAILED))
        self.post_message(Gst.Message.new_warning(self, error, text))

    def _post_exception(self, exc: BaseException, what: str) -> None:
        """Turn an exception into an ERROR message on the bus."""
        import traceback

        text = f"{what}: {exc}" if str(exc) else f"{what}: {type(exc).__name__}"
        debug = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        name = type(exc).__name__
        if name == "MaskError" or isinstance(exc, (FileNotFoundError, PermissionError)):
            self._post_error(Gst.ResourceError, Gst.ResourceError.NOT_FOUND, text, debug)
        elif name in ("WeightsError", "ModelNotFoundError") or isinstance(exc, (ImportError, ValueError)):
            self._post_error(Gst.LibraryError, Gst.LibraryError.SETTINGS, text, debug)
        else:
            self._post_error(Gst.StreamError, Gst.StreamError.FAILED, text, debug)

    # -- start / stop ------------------------------------------------------------------------------

    def _config(self) -> Any:
        from aotvideo.gst import ProcessorConfig

        return ProcessorConfig(
            mask=self.mask, model=self.model.strip(), weights=self.weights.strip() or None,
            mode=self.mode.strip().lower(), device=self.device.strip() or None, amp=self.amp,
            soft=bool(self.soft), objects_per_group=self.objects_per_group)

    def _post_import_error(self, exc: ImportError) -> None:
        import traceback

        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        self._post_error(
            Gst.LibraryError, Gst.LibraryError.INIT,
            f"GStreamer's Python ({sys.executable or 'python'} {version}) cannot import aotvideo or "
            f"its dependencies ({exc}). Set AOTVIDEO_PYTHONPATH to the folders that hold them: run "
            f"eval \"$(aotvideo gst-path --env)\" in the environment where aotvideo is installed "
            f"(it must be Python {version} too)",
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            + f"\nsys.path: {sys.path}")

    def do_start(self) -> bool:
        """Import aotvideo, read the masks and load the model (lazily, not at plugin scan)."""
        try:
            import numpy
            from aotvideo.gst import FrameProcessor

            self._np = numpy
            processor = FrameProcessor(self._config())
            # a restart with the same model settings reuses the loaded model
            processor.load(previous=self._processor)
        except ImportError as exc:
            self._post_import_error(exc)
            return False
        except Exception as exc:  # every failure becomes a GStreamer error, never a crash
            self._post_exception(exc, "aotvideotrack cannot start")
            return False
        self._processor = processor
        self._index = 0
        self._resync = False
        self._size = None
        self._segment = None
        return True

    def do_stop(self) -> bool:
        """Keep the loaded model (a restart with the same settings reuses it); forget the video."""
        if self._processor is not None:
            self._processor.reset()
        self._in_info = self._out_info = None
        return True

    # -- caps --------------------------------------------------------------------------------------

    def _alpha_mode(self) -> bool:
        return self.mode.strip().lower() == "alpha"

    def do_transform_caps(self, direction: Gst.PadDirection, caps: Gst.Caps,
                          filter_: Gst.Caps | None) -> Gst.Caps:
        """Same size and rate both ways; ``mode=alpha`` turns RGB or RGBA into RGBA."""
        if caps.is_any():
            result = _CAPS.copy()
        elif not self._alpha_mode():
            result = caps.copy()
        else:
            result = Gst.Caps.new_empty()
            rgba = Gst.Caps.from_string("video/x-raw, format=(string)RGBA")
            for i in range(caps.get_size()):
                structure = caps.get_structure(i)
                features = caps.get_features(i)
                if direction == Gst.PadDirection.SINK:
                    result.append(_caps_with_format(structure, features, ("RGBA",)))
                else:
                    single = Gst.Caps.new_empty()
                    single.append_structure_full(structure.copy(),
                                                 features.copy() if features is not None else None)
                    if single.can_intersect(rgba):
                        result.append(_caps_with_format(structure, features, _FORMATS))
        if filter_ is not None:
            result = filter_.intersect_full(result, Gst.CapsIntersectMode.FIRST)
        return result

    def do_transform_size(self, direction: Gst.PadDirection, caps: Gst.Caps, size: int,
                          othercaps: Gst.Caps) -> tuple[bool, int]:
        """A picture of the other caps' format and size."""
        info = GstVideo.VideoInfo.new_from_caps(othercaps)
        if info is None:
            return False, 0
        return True, int(info.size)

    def do_set_caps(self, incaps: Gst.Caps, outcaps: Gst.Caps) -> bool:
        """Remember the layouts; a new picture size restarts tracking (masks must fit it)."""
        in_info = GstVideo.VideoInfo.new_from_caps(incaps)
        out_info = GstVideo.VideoInfo.new_from_caps(outcaps)
        if in_info is None or out_info is None:
            return False
        size = (int(in_info.width), int(in_info.height))
        processor = self._processor
        if processor is not None and size != self._size:
            if self._size is not None:
                if processor.started:
                    self._post_warning(
                        f"the picture size changed from {self._size[0]}x{self._size[1]} to "
                        f"{size[0]}x{size[1]} at frame {self._index}: tracking restarts at the next "
                        "frame with a mask")
                processor.reset()
            try:
                processor.check_size(size[0], size[1], self._index)
            except Exception as exc:
                self._post_exception(exc, "aotvideotrack")
                return False
        self._size = size
        self._in_info, self._out_info = in_info, out_info
        return True

    # -- events ------------------------------------------------------------------------------------

    def do_sink_event(self, event: Gst.Event) -> bool:
        """New streams and flushes (seeks) restart tracking; EOS reports masks never reached."""
        kind = event.type
        if kind == Gst.EventType.STREAM_START:
            self._index = 0
            self._resync = False
            if self._processor is not None:
                self._processor.reset()
        elif kind == Gst.EventType.FLUSH_STOP:
            if self._processor is not None:
                self._processor.reset()
            self._resync = True
        elif kind == Gst.EventType.SEGMENT:
            self._segment = event.parse_segment()
        elif kind == Gst.EventType.EOS and self._processor is not None:
            missed = [i for i in self._processor.unused() if i >= self._index]
            if missed:
                self._post_warning(
                    f"the stream ended after {self._index} frames; the mask(s) for frame(s) "
                    f"{', '.join(map(str, missed))} were never used")
        return GstBase.BaseTransform.do_sink_event(self, event)

    # -- frames ------------------------------------------------------------------------------------

    def _frame_index(self, buffer: Gst.Buffer) -> int:
        """The index of this frame in the stream, counted from 0.

        Frames are counted as they come. After a flush (a seek) the count is picked up again
        from the frame's stream time and the frame rate, when both are known.
        """
        if self._resync:
            self._resync = False
            info = self._in_info
            segment = self._segment
            pts = buffer.pts
            if (info is not None and segment is not None and info.fps_n > 0
                    and pts != Gst.CLOCK_TIME_NONE):
                stream_time = segment.to_stream_time(Gst.Format.TIME, pts)
                if stream_time != Gst.CLOCK_TIME_NONE and stream_time >= 0:
                    self._index = int(round(stream_time * info.fps_n / (info.fps_d * Gst.SECOND)))
        index = self._index
        self._index += 1
        return index

    def _view(self, data: Any, info: GstVideo.VideoInfo, meta: Any) -> Any:
        """An H x W x C array over a mapped picture, honouring its stride and offset."""
        np = self._np
        width, height = int(info.width), int(info.height)
        channels = int(info.finfo.n_components)
        stride = int(meta.stride[0]) if meta is not None else int(info.stride[0])
        offset = int(meta.offset[0]) if meta is not None else int(info.offset[0])
        flat = np.frombuffer(data, dtype=np.uint8)
        rows = flat[offset:offset + stride * (height - 1) + width * channels]
        rows = np.lib.stride_tricks.as_strided(rows, shape=(height, width * channels),
                                               strides=(stride, 1), writeable=bool(flat.flags.writeable))
        return rows.reshape(height, width, channels)

    def do_transform(self, inbuf: Gst.Buffer, outbuf: Gst.Buffer) -> Gst.FlowReturn:
        """Track one frame and render it into the output buffer (timestamps are copied by the base class)."""
        if self._processor is None or self._in_info is None or self._out_info is None:
            self._post_error(Gst.CoreError, Gst.CoreError.NEGOTIATION,
                             "aotvideotrack got a frame before it was started and negotiated")
            return Gst.FlowReturn.NOT_NEGOTIATED
        try:
            index = self._frame_index(inbuf)
            in_meta = GstVideo.buffer_get_video_meta(inbuf)
            out_meta = GstVideo.buffer_get_video_meta(outbuf)
            with inbuf.map(Gst.MapFlags.READ) as source:
                picture = self._view(source.data, self._in_info, in_meta)
                result = self._processor.process(picture, index)
            with outbuf.map(Gst.MapFlags.WRITE) as target:
                view = self._view(target.data, self._out_info, out_meta)
                view[...] = result
        except Exception as exc:  # report, do not crash the pipeline's thread
            self._post_exception(exc, f"aotvideotrack failed on frame {self._index - 1}")
            return Gst.FlowReturn.ERROR
        return Gst.FlowReturn.OK


GObject.type_register(AotVideoTrack)
__gstelementfactory__ = ("aotvideotrack", Gst.Rank.NONE, AotVideoTrack)
