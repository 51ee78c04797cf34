"""Choosing the output container, codec and pixel format from a mode and a path.

The output format follows the path's extension, or ``format`` when given (required for
standard output). Each mode has a default codec per container:

============  ===============================  ===============================================
mode          containers                       default codec / pixel format
============  ===============================  ===============================================
overlay       mp4 mov mkv nut ts / webm        H.264 yuv420p (CRF 18, preset auto) / VP9 yuv420p
matte         mp4 mov mkv nut ts / webm        same as overlay (luma matte)
alpha         mov / webm / mkv nut             ProRes 4444 yuva444p10le / VP9 yuva420p / FFV1
any           png (a folder)                   PNG per frame (RGB, gray, RGBA, palette)
any           rawvideo                         raw frames (rgb24, gray, rgba by mode)
masks         png (a folder)                   palette PNG per frame, DAVIS palette
============  ===============================  ===============================================
"""
from __future__ import annotations

import functools
import os
from fractions import Fraction
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import av

from ..errors import FormatError

__all__ = ["AUTO_PRESETS", "DEFAULT_CRF", "HARDWARE_H264", "MODES", "OutputSpec", "PIPE_FORMATS", "auto_encoding", "auto_preset", "available_cpus",
           "default_output_path", "encoder_options", "hardware_encoders", "resolve_output"]

Mode = Literal["overlay", "matte", "alpha", "masks"]
MODES: tuple[str, ...] = ("overlay", "matte", "alpha", "masks")

#: Extensions and the FFmpeg muxer they select.
_EXTENSIONS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".nut": "nut",
    ".ts": "mpegts",
    ".mts": "mpegts",
    ".png": "png",
    ".raw": "rawvideo",
    ".rgb": "rawvideo",
    ".yuv": "rawvideo",
}

#: Names accepted by ``format`` and the muxer they stand for.
_FORMAT_NAMES = {
    "mp4": "mp4",
    "mov": "mov",
    "mkv": "matroska",
    "matroska": "matroska",
    "webm": "webm",
    "nut": "nut",
    "ts": "mpegts",
    "mpegts": "mpegts",
    "png": "png",
    "raw": "rawvideo",
    "rawvideo": "rawvideo",
}

#: Muxers that can write to a pipe (mp4 and mov are written fragmented there).
PIPE_FORMATS: tuple[str, ...] = ("nut", "matroska", "webm", "mpegts", "mp4", "mov", "rawvideo")

_CRF_CODECS = {"libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1"}
_ALPHA_PIX_FMTS = ("yuva444p10le", "yuva420p", "yuva444p", "bgra", "rgba", "argb", "gbrap")


@dataclass(frozen=True)
class OutputSpec:
    """A resolved output: where, which muxer and encoder, which pixel format.

    ``kind`` is ``"video"`` (a container through PyAV, rawvideo included) or ``"png"``
    (a folder with one PNG per frame). ``target`` is a path, or ``"-"`` for standard output.
    ``image`` says what the renderer hands the writer: ``"rgb"``, ``"gray"``, ``"rgba"`` or
    ``"labels"`` (palette PNG masks).
    """

    mode: str
    kind: Literal["video", "png"]
    target: str
    container: str | None
    codec: str | None
    pix_fmt: str | None
    image: Literal["rgb", "gray", "rgba", "labels"]
    codec_options: dict[str, str] = field(default_factory=dict)
    container_options: dict[str, str] = field(default_factory=dict)
    audio: bool = True

    @property
    def to_stdout(self) -> bool:
        """Whether the output goes to standard output."""
        return self.target == "-"


def _codec_exists(name: str) -> bool:
    try:
        av.Codec(name, "w")
    except (av.FFmpegError, ValueError, KeyError):
        return False
    return True


#: Hardware H.264 encoders ``--codec hw`` tries, in this order.
HARDWARE_H264: tuple[str, ...] = ("h264_nvenc", "h264_qsv", "h264_amf", "h264_vaapi",
                                  "h264_videotoolbox", "h264_v4l2m2m")


def _opens(name: str) -> bool:
    """Whether encoder ``name`` opens and encodes one small frame on this machine."""
    try:
        context = av.CodecContext.create(name, "w")
        formats = [f.name for f in (context.codec.video_formats or [])]
        pix_fmt = next((p for p in ("yuv420p", "nv12") if p in formats), formats[0] if formats else "yuv420p")
        context.width, context.height, context.pix_fmt = 256, 256, pix_fmt
        context.time_base = Fraction(1, 25)
        context.open()
        frame = av.VideoFrame(256, 256, pix_fmt)
        frame.pts = 0
        context.encode(frame)
        context.encode(None)
    except (av.FFmpegError, ValueError, KeyError, OSError, IndexError):
        return False
    return True


@functools.cache
def hardware_encoders() -> tuple[str, ...]:
    """The hardware H.264 encoders (:data:`HARDWARE_H264`) this machine can use now: each is
    opened and given one frame (a CUDA machine's NVENC, Intel Quick Sync, ...). Empty when the
    FFmpeg build lacks them or no device answers."""
    return tuple(name for name in HARDWARE_H264 if _codec_exists(name) and _opens(name))


def _default_h264() -> str:
    for name in ("libx264", "h264", "mpeg4"):
        if _codec_exists(name):
            return name
    raise FormatError("no H.264 (or MPEG-4) encoder is available in this PyAV build")


def _codec_pix_fmts(codec: str) -> list[str]:
    try:
        return [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    except (av.FFmpegError, ValueError, KeyError):
        return []


def _has_alpha(pix_fmt: str) -> bool:
    try:
        components = av.VideoFormat(pix_fmt).components
    except (ValueError, av.FFmpegError):
        return False
    return len(components) in (2, 4)


def default_output_path(input_path: str, mode: str) -> str:
    """Where ``aotvideo track`` writes when ``-o`` is not given: next to the input, named
    ``NAME.MODE.EXT`` (a folder ``NAME.masks`` for masks)."""
    if input_path == "-":
        raise FormatError("reading from standard input needs -o (use -o - with --format for a pipe)")
    base = Path(input_path)
    stem = base.with_suffix("") if base.suffix else base
    extension = {"overlay": ".mp4", "matte": ".mp4", "alpha": ".mov", "masks": ""}[mode]
    return f"{stem}.{mode}{extension}"


def _container_for(target: str, format: str | None, mode: str) -> str:
    if format is not None:
        key = format.lower().lstrip(".")
        if key not in _FORMAT_NAMES:
            raise FormatError(
                f"unknown --format {format!r}; choose from {', '.join(sorted(_FORMAT_NAMES))}"
            )
        return _FORMAT_NAMES[key]
    if target == "-":
        raise FormatError(
            "writing to standard output needs --format: nut, matroska, mpegts, mp4 (fragmented), "
            "webm or rawvideo"
        )
    suffix = Path(target).suffix.lower()
    if mode == "masks":
        if suffix in _EXTENSIONS and _EXTENSIONS[suffix] != "png":
            raise FormatError(f"masks are written as PNG files into a folder, not into {target!r}")
        return "png"
    if target.endswith(("/", os.sep)) or suffix == "" or os.path.isdir(target):
        return "png"
    if suffix not in _EXTENSIONS:
        raise FormatError(
            f"cannot tell the output format from {target!r}; use one of "
            f"{', '.join(sorted(_EXTENSIONS))}, a folder (PNG frames) or --format"
        )
    return _EXTENSIONS[suffix]


#: x264/x265 presets ``auto`` picks from, by the picture's pixels per available CPU core, with
#: the CRF each takes when ``--crf`` is not given: (most pixels per core, preset, CRF).
#: ultrafast at CRF 16 keeps the picture of the slower presets at CRF 18 (PSNR within 0.1 dB on
#: 1080p footage) for a quarter of veryfast's CPU time and about 1.75x its bit rate.
AUTO_PRESETS: tuple[tuple[float, str, int], ...] = ((260_000, "medium", 18),
                                                    (520_000, "superfast", 18),
                                                    (float("inf"), "ultrafast", 16))
DEFAULT_CRF = 18
"""x264/x265 CRF of an explicit ``--preset`` without ``--crf``."""


def available_cpus() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def auto_encoding(width: int, height: int, cpus: int | None = None) -> tuple[str, int]:
    """The x264/x265 preset and CRF ``--preset auto`` means for ``width`` x ``height`` frames.

    Encoding shares the machine with decoding and the model, so the preset follows the work an
    encoder has per core: ``medium`` up to about 0.26 million pixels per core (854x480 on 2
    cores, 1080p on 8), ``superfast`` up to 0.52 million (720p on 2 cores, 1080p on 4),
    ``ultrafast`` above (1080p on 2 cores, 4K on up to 16) with the CRF lowered from 18 to 16 so
    the picture stays as it was: the faster presets spend bits instead of CPU time (see the
    README's HD section for measured sizes and PSNR).
    """
    per_core = width * height / (cpus or available_cpus())
    return next((name, crf) for limit, name, crf in AUTO_PRESETS if per_core <= limit)


def auto_preset(width: int, height: int, cpus: int | None = None) -> str:
    """The preset of :func:`auto_encoding`."""
    return auto_encoding(width, height, cpus)[0]


def encoder_options(spec: OutputSpec, width: int, height: int) -> dict[str, str]:
    """``spec``'s codec options for ``width`` x ``height`` frames: ``preset=auto`` and
    ``crf=auto`` (no ``--crf`` given) resolved by :func:`auto_encoding`."""
    options = dict(spec.codec_options)
    preset, crf = auto_encoding(width, height)
    if options.get("crf") == "auto":
        options["crf"] = str(crf if options.get("preset") == "auto" else DEFAULT_CRF)
    if options.get("preset") == "auto":
        options["preset"] = preset
    return options


def resolve_output(
    target: str,
    mode: str = "overlay",
    *,
    format: str | None = None,
    codec: str | None = None,
    crf: int | None = None,
    preset: str | None = None,
    pix_fmt: str | None = None,
) -> OutputSpec:
    """Work out the muxer, encoder and options for writing ``mode`` to ``target``.

    Raises :class:`aotvideo.errors.FormatError` when the combination cannot work (alpha into
    MP4, masks into a video, standard output without ``format``, an unknown codec ...).
    """
    if mode not in MODES:
        raise FormatError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    container = _container_for(target, format, mode)
    image = {"overlay": "rgb", "matte": "gray", "alpha": "rgba", "masks": "labels"}[mode]

    if container == "png":
        if target == "-":
            raise FormatError("PNG frames are written to a folder, not to standard output")
        if codec is not None or crf is not None or preset is not None:
            raise FormatError("--codec, --crf and --preset do not apply to PNG frames")
        return OutputSpec(mode, "png", target, None, "png", None, image, audio=False)  # type: ignore[arg-type]
    if mode == "masks":
        raise FormatError("masks are written as PNG files into a folder (give -o a folder path)")
    if target == "-" and container not in PIPE_FORMATS:
        raise FormatError(f"{container} cannot be written to standard output")

    container_options: dict[str, str] = {}
    codec_options: dict[str, str] = {}
    if container == "rawvideo":
        if codec not in (None, "rawvideo"):
            raise FormatError("raw video output is not encoded; drop --codec")
        if crf is not None or preset is not None:
            raise FormatError("--crf and --preset do not apply to raw video")
        default_raw = {"rgb": "rgb24", "gray": "gray", "rgba": "rgba"}[image]
        return OutputSpec(mode, "video", target, "rawvideo", "rawvideo", pix_fmt or default_raw,
                          image, audio=False)  # type: ignore[arg-type]

    if mode == "alpha":
        if container in ("mp4", "mpegts"):
            raise FormatError(
                f"{container} cannot carry an alpha channel; write .mov (ProRes 4444), .webm (VP9), "
                ".mkv (FFV1) or a folder of PNGs"
            )
        defaults = {
            "mov": ("prores_aw", "yuva444p10le"),  # 4444 with alpha, 4x prores_ks's speed
            "webm": ("libvpx-vp9", "yuva420p"),
            "matroska": ("ffv1", "bgra"),
            "nut": ("ffv1", "bgra"),
        }
        default_codec, default_pix = defaults[container]
    elif container == "webm":
        default_codec, default_pix = "libvpx-vp9", "yuv420p"
    else:
        default_codec, default_pix = _default_h264(), "yuv420p"

    if codec == "hw":
        found = hardware_encoders()
        if not found:
            raise FormatError("--codec hw: no hardware H.264 encoder can be used on this machine "
                              f"(tried {', '.join(HARDWARE_H264)}); leave --codec out for libx264")
        if mode == "alpha":
            raise FormatError("--codec hw encodes H.264, which has no alpha channel")
        codec = found[0]
    chosen = codec or default_codec
    if not _codec_exists(chosen):
        raise FormatError(f"no encoder named {chosen!r} in this PyAV/FFmpeg build")
    supported = _codec_pix_fmts(chosen)
    if pix_fmt is not None:
        chosen_pix = pix_fmt
        if supported and pix_fmt not in supported:
            raise FormatError(f"{chosen} cannot encode {pix_fmt}; it takes {', '.join(supported)}")
    elif codec is None or not supported or default_pix in supported:
        chosen_pix = default_pix
    elif mode == "alpha":
        alpha = [p for p in supported if p in _ALPHA_PIX_FMTS]
        if not alpha:
            raise FormatError(f"{chosen} has no pixel format with alpha")
        chosen_pix = alpha[0]
    else:
        chosen_pix = supported[0]
    if mode == "alpha" and not _has_alpha(chosen_pix):
        raise FormatError(f"{chosen_pix} has no alpha channel")

    if preset == "auto" and chosen not in ("libx264", "libx265"):
        preset = None  # auto: the encoder's own default where the size does not decide it
    if chosen in ("libx264", "libx265"):
        codec_options["crf"] = "auto" if crf is None else str(crf)  # resolved with the preset
        codec_options["preset"] = preset or "auto"  # resolved for the frame size by the writer
    elif chosen in ("libvpx-vp9", "libvpx"):
        codec_options["crf"] = str(30 if crf is None else crf)
        codec_options["b"] = "0"
        codec_options["row-mt"] = "1"
        if preset is not None:
            codec_options["deadline"] = preset
    elif chosen == "libsvtav1":
        codec_options["crf"] = str(35 if crf is None else crf)
        if preset is not None:
            codec_options["preset"] = preset
    elif chosen in ("prores_ks", "prores_aw"):
        if crf is not None or preset is not None:
            raise FormatError("--crf and --preset do not apply to ProRes")
        if chosen == "prores_ks":  # prores_aw picks the profile from the pixel format
            codec_options["profile"] = "4444" if mode == "alpha" or "444" in chosen_pix else "hq"
        codec_options["vendor"] = "apl0"
    elif crf is not None and chosen not in _CRF_CODECS:
        raise FormatError(f"--crf does not apply to {chosen}")
    elif preset is not None:
        raise FormatError(f"--preset does not apply to {chosen}")
    if chosen == "ffv1":
        codec_options.setdefault("level", "3")

    if target == "-" and container in ("mp4", "mov"):
        container_options["movflags"] = "frag_keyframe+empty_moov+delay_moov+default_base_moof"
    return OutputSpec(mode, "video", target, container, chosen, chosen_pix, image,  # type: ignore[arg-type]
                      codec_options, container_options, audio=True)
