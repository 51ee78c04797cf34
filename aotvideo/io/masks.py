"""Reading and writing object masks as images.

Masks in: palette PNGs as DAVIS and YouTube-VOS ship them (the palette index is the object id),
grayscale or binary PNGs, and RGB colour PNGs where each colour is one object. Masks out: palette
PNGs in the DAVIS palette, readable by every VOS evaluation tool.

Images are decoded with PyAV's image decoders, so no extra imaging library is needed.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import MaskError, OutputError

__all__ = [
    "davis_palette",
    "read_mask",
    "write_palette_png",
    "encode_png",
    "select_objects",
    "mask_ids",
]

#: Grayscale masks with more distinct levels than this are taken as one anti-aliased object.
_MAX_GRAY_LEVELS = 32


def davis_palette() -> np.ndarray:
    """The 256-colour palette of DAVIS and YouTube-VOS masks (the PASCAL VOC colour map).

    Returns a 256 x 3 uint8 array; row ``i`` is the RGB colour of object id ``i`` (0 is black).
    Each id's bits are spread over the high bits of the three channels, so neighbouring ids get
    clearly different colours: 1 is dark red, 2 dark green, 3 olive, 4 dark blue, and so on.
    """
    palette = np.zeros((256, 3), dtype=np.uint8)
    for index in range(256):
        value = index
        rgb = [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        palette[index] = rgb
    return palette


_PALETTE = davis_palette()


def _decode_image(path: Path) -> av.VideoFrame:
    """Decode the first picture of an image file with FFmpeg's image decoders."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                raise MaskError(f"mask {path}: not an image")
            for frame in container.decode(video=0):
                return frame
    except MaskError:
        raise
    except FileNotFoundError as exc:
        raise MaskError(f"mask {path}: file not found") from exc
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise MaskError(f"mask {path}: cannot read it as an image ({exc})") from exc
    raise MaskError(f"mask {path}: the file holds no picture")


def _gray_labels(gray: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Object ids from a grayscale picture.

    One non-zero level (a binary mask, 0/255 or 0/1) is object 1. Up to ``_MAX_GRAY_LEVELS``
    levels are taken as ids as they are (masks saved as plain index images). More levels than
    that is an anti-aliased or soft single-object mask: it is cut at half its maximum.
    """
    if alpha is not None:
        gray = np.where(alpha > 0, gray, 0)
    levels = np.unique(gray)
    nonzero = levels[levels != 0]
    if nonzero.size == 0:
        return np.zeros(gray.shape, dtype=np.int64)
    if nonzero.size == 1:
        return (gray != 0).astype(np.int64)
    if nonzero.size <= _MAX_GRAY_LEVELS:
        return gray.astype(np.int64)
    return (gray.astype(np.int64) * 2 > int(nonzero.max())).astype(np.int64)


def _colour_labels(rgb: np.ndarray, alpha: np.ndarray | None, path: Path) -> np.ndarray:
    """Object ids from an RGB colour picture: black (or transparent) is background.

    A colour of the DAVIS palette gets that palette's id, so a palette mask that was saved as RGB
    keeps its ids; any other colour gets the next free id, in ascending order of its RGB value.
    """
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    if alpha is not None:
        packed = np.where(alpha > 0, packed, 0)
    colours, inverse = np.unique(packed, return_inverse=True)
    if colours.size > 256:
        raise MaskError(
            f"mask {path}: {colours.size} different colours; a colour mask must use one flat colour "
            "per object (save it without anti-aliasing, or use a palette or grayscale PNG)"
        )
    palette_packed = (
        (_PALETTE[:, 0].astype(np.int64) << 16) | (_PALETTE[:, 1].astype(np.int64) << 8) | _PALETTE[:, 2]
    )
    lookup = {int(c): i for i, c in enumerate(palette_packed)}
    ids = np.zeros(colours.size, dtype=np.int64)
    used = {0}
    unknown = []
    for position, colour in enumerate(colours.tolist()):
        if colour == 0:
            continue
        known = lookup.get(colour)
        if known is not None and known not in used:
            ids[position] = known
            used.add(known)
        else:
            unknown.append(position)
    next_id = 1
    for position in unknown:
        while next_id in used:
            next_id += 1
        ids[position] = next_id
        used.add(next_id)
    return ids[inverse.reshape(packed.shape)]


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an object mask image as an H x W int64 label map (0 = background).

    * palette PNG (DAVIS / YouTube-VOS): the palette index of each pixel is its object id;
    * grayscale PNG: a binary mask (one non-zero level) is object 1; a few levels are ids as they
      are; a soft mask with many levels is cut at half its maximum;
    * RGB / RGBA PNG: each flat colour is one object (black or transparent is background); DAVIS
      palette colours keep their palette ids. An image whose pixels are all gray is read as
      grayscale.

    Raises :class:`aotvideo.errors.MaskError` when the file cannot be read.
    """
    path = Path(path)
    frame = _decode_image(path)
    fmt = frame.format
    name = fmt.name
    try:
        if fmt.has_palette:
            indices, _ = frame.to_ndarray()
            return np.asarray(indices, dtype=np.int64)
        if not fmt.is_rgb and len(fmt.components) <= 2 and not name.startswith(("yuv", "nv")):
            # gray, gray16, monob/monow, ya8, ya16
            deep = max(c.bits for c in fmt.components) > 8
            gray = frame.to_ndarray(format="gray16le" if deep else "gray")
            alpha = None
            if len(fmt.components) == 2:
                alpha = frame.to_ndarray(format="rgba")[..., 3]
            return _gray_labels(gray, alpha)
        rgba = frame.to_ndarray(format="rgba")
    except (av.FFmpegError, ValueError) as exc:
        raise MaskError(f"mask {path}: unsupported pixel format {name} ({exc})") from exc
    rgb = rgba[..., :3]
    alpha = rgba[..., 3] if len(fmt.components) == 4 else None
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return _gray_labels(rgb[..., 0], alpha)
    return _colour_labels(rgb, alpha, path)


def mask_ids(labels: np.ndarray) -> tuple[int, ...]:
    """The object ids present in a label map, ascending, without 0."""
    values = np.unique(labels)
    return tuple(int(v) for v in values if v != 0)


def select_objects(labels: np.ndarray, ids: Iterable[int]) -> np.ndarray:
    """A copy of ``labels`` that keeps only ``ids``; every other object becomes background."""
    keep = np.isin(labels, np.asarray(list(ids), dtype=np.int64))
    return np.where(keep, labels, 0).astype(np.int64)


def encode_png(image: np.ndarray, *, palette: np.ndarray | None = None) -> bytes:
    """Encode an image as PNG bytes with FFmpeg's PNG encoder.

    ``image`` is H x W (gray, or palette indices when ``palette`` is given: 256 x 3 RGB),
    H x W x 3 (RGB) or H x W x 4 (RGBA), uint8.
    """
    image = np.ascontiguousarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"PNG images must be uint8, not {image.dtype}")
    if palette is not None:
        if image.ndim != 2:
            raise ValueError("palette images must be H x W")
        argb = np.empty((256, 4), dtype=np.uint8)
        argb[:, 0] = 255
        argb[:, 1:] = palette[:256]
        frame = av.VideoFrame.from_ndarray((image, argb), format="pal8")
        pix_fmt = "pal8"
    elif image.ndim == 2:
        frame = av.VideoFrame.from_ndarray(image, format="gray")
        pix_fmt = "gray"
    elif image.ndim == 3 and image.shape[2] in (3, 4):
        pix_fmt = "rgb24" if image.shape[2] == 3 else "rgba"
        frame = av.VideoFrame.from_ndarray(image, format=pix_fmt)
    else:
        raise ValueError(f"cannot write an image of shape {image.shape} as PNG")
    context = av.CodecContext.create("png", "w")
    context.width = image.shape[1]
    context.height = image.shape[0]
    context.pix_fmt = pix_fmt
    context.time_base = Fraction(1, 1)
    context.sample_aspect_ratio = Fraction(1, 1)
    packets = list(context.encode(frame)) + list(context.encode(None))
    return b"".join(bytes(p) for p in packets)


def write_palette_png(path: str | os.PathLike[str], labels: np.ndarray) -> None:
    """Write a label map as a palette PNG in the DAVIS palette (ids must be 0..255).

    Raises :class:`aotvideo.errors.OutputError` when the file cannot be written.
    """
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() > 255):
        raise ValueError("palette PNG masks hold ids 0..255 only")
    data = encode_png(labels.astype(np.uint8), palette=_PALETTE)
    try:
        with open(path, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
