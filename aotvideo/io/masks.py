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
from .colour import rgb_of

__all__ = [
    "davis_palette",
    "read_mask",
    "write_palette_png",
    "encode_png",
    "select_objects",
    "mask_ids",
    "label_areas",
    "parse_mask_entry",
]

#: Grayscale masks with more distinct levels than this are taken as one anti-aliased object.
_MAX_GRAY_LEVELS = 32
#: Alpha below this is transparent (background); at or above it a pixel is painted.
_ALPHA_CUT = 128
#: A colour whose pixels nearly all touch another colour is a thin line or an edge.
_THIN_SHARE = 0.9
#: This many thin colours near the flat ones (blends, near-duplicates) mean anti-aliased edges.
_MIN_EDGE_COLOURS = 3
#: How far (RGB distance) an edge colour may lie from the line between two flat colours: this
#: much, or this share of the line's length (resampling filters overshoot near edges).
_BLEND_TOLERANCE = 12.0
_BLEND_SHARE = 0.15
#: Below this share of pixels in flat colours, a picture with hundreds of colours is a photo.
_MIN_FLAT_SHARE = 0.5
#: Fix for the messages below: how to paint without anti-aliasing in GIMP and Krita.
_HOW_TO_PAINT = ("paint each object in one flat colour (GIMP: the Pencil tool, and untick "
                 "Antialiasing on the selection and fill tools; Krita: a pixel-art brush, and "
                 "anti-aliasing off on selections and fills) and export again")


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
        gray = np.where(alpha >= _ALPHA_CUT, gray, 0)
    levels = np.unique(gray)
    nonzero = levels[levels != 0]
    if nonzero.size == 0:
        return np.zeros(gray.shape, dtype=np.int64)
    if nonzero.size == 1:
        return (gray != 0).astype(np.int64)
    if nonzero.size <= _MAX_GRAY_LEVELS:
        return gray.astype(np.int64)
    return (gray.astype(np.int64) * 2 > int(nonzero.max())).astype(np.int64)


def _pack(rgb: np.ndarray) -> np.ndarray:
    return (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]


def _unpack(packed: np.ndarray) -> np.ndarray:
    return np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255], axis=-1).astype(np.float64)


def _hex(colour: int) -> str:
    return f"#{int(colour):06x}"


_PALETTE_IDS = {int(c): i for i, c in enumerate(_pack(_PALETTE))}


def _assign_ids(colours: np.ndarray) -> np.ndarray:
    """An object id per packed colour (0 stays 0): a colour of the DAVIS palette gets that
    palette's id, any other colour the next free id, in ascending order of its RGB value."""
    ids = np.zeros(colours.size, dtype=np.int64)
    used = {0}
    unknown = []
    for position, colour in enumerate(colours.tolist()):
        if colour == 0:
            continue
        known = _PALETTE_IDS.get(colour)
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
    return ids


def _edge_share(index_map: np.ndarray, count: int) -> np.ndarray:
    """Per colour, the share of its pixels that touch (4-neighbours) a pixel of another colour."""
    edge = np.zeros(index_map.shape, dtype=bool)
    across = index_map[:, 1:] != index_map[:, :-1]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    down = index_map[1:] != index_map[:-1]
    edge[1:] |= down
    edge[:-1] |= down
    on_edge = np.bincount(index_map[edge], minlength=count)
    return on_edge / np.maximum(np.bincount(index_map.ravel(), minlength=count), 1)


def _near_segments(points: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Which ``points`` (N x 3) lie within the tolerance of a segment between two ``ends``."""
    first, second = np.triu_indices(len(ends), k=1)
    start, step = ends[first], ends[second] - ends[first]
    length = np.maximum((step * step).sum(axis=-1), 1e-9)
    offset = points[:, None, :] - start[None]
    t = np.clip((offset * step[None]).sum(axis=-1) / length[None], 0.0, 1.0)
    distance = np.linalg.norm(offset - t[..., None] * step[None], axis=-1)
    tolerance = np.maximum(_BLEND_TOLERANCE, _BLEND_SHARE * np.sqrt(length))
    return (distance <= tolerance[None]).any(axis=1)


def _edge_colours(colours: np.ndarray, thin: np.ndarray) -> np.ndarray:
    """The colours that are anti-aliasing's edges: thin, and blends or near-duplicates of the
    flat colours (and black)."""
    flat = ~thin | (colours == 0)
    candidates = thin & (colours != 0)
    found = np.zeros(colours.size, dtype=bool)
    if not candidates.any() or not 2 <= flat.sum() <= 64:
        return found
    found[candidates] = _near_segments(_unpack(colours[candidates]), _unpack(colours[flat]))
    return found


def _snap_edges(colours: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``colours`` with each edge colour replaced by the nearest other colour (or black)."""
    flat = np.unique(np.append(colours[~edges], 0))
    distance = np.linalg.norm(_unpack(colours[edges])[:, None, :] - _unpack(flat)[None], axis=-1)
    snapped = colours.copy()
    snapped[edges] = flat[np.argmin(distance, axis=1)]
    return snapped


def _flat_list(colours: np.ndarray, edges: np.ndarray, shown: int = 8) -> str:
    """``#rrggbb is ID, ...`` for the colours that are not edges (the first ``shown``)."""
    kept = np.where(edges, 0, colours)
    pairs = [f"{_hex(c)} is {i}" for c, i in zip(kept.tolist(), _assign_ids(kept).tolist(), strict=True) if c]
    more = f", ... ({len(pairs)} in all)" if len(pairs) > shown else ""
    return ", ".join(pairs[:shown]) + more


def _picture_error(path: Path, colours: int, flat_share: float) -> MaskError:
    if flat_share < _MIN_FLAT_SHARE:
        return MaskError(
            f"mask {path} looks like a picture, not a mask: {colours} different colours, most of "
            "them in no flat area. The video frame was exported with the paint (the image was "
            "flattened, or the frame layer was visible): hide or delete the frame layer and export "
            "only the painted layer, as PNG with its transparency (or on black)")
    return MaskError(f"mask {path}: {colours} different colours, but a colour mask has one flat colour "
                     f"per object: it was painted with soft (anti-aliased) edges; turn anti-aliasing "
                     f"off: {_HOW_TO_PAINT}")


def _background_error(path: Path, names: list[str], counts: np.ndarray) -> MaskError:
    """No background in a mask: ``names`` of its values (colours, levels) and their counts."""
    top = int(np.argmax(counts))
    share = 100.0 * counts[top] / max(int(counts.sum()), 1)
    return MaskError(
        f"mask {path} has no background: no pixel is black or transparent (its commonest value, "
        f"{names[top]}, covers {share:.0f}%). The painted layer was flattened (onto a background "
        "colour) or exported without its transparency: export it again as PNG with alpha, or "
        "fill the background with black")


def _colour_labels(rgb: np.ndarray, alpha: np.ndarray | None, path: Path,
                   objects: Iterable[int] | None) -> np.ndarray:
    """Object ids from an RGB colour picture: black (or transparent) is background.

    A colour of the DAVIS palette gets that palette's id, so a palette mask that was saved as RGB
    keeps its ids; any other colour gets the next free id, in ascending order of its RGB value.
    A photo, anti-aliased edges and a missing background are errors that say what to do; with
    ``objects`` (``--objects``) the colours of anti-aliased edges join the nearest flat colour.
    """
    packed = _pack(rgb)
    if alpha is not None:
        packed = np.where(alpha >= _ALPHA_CUT, packed, 0)
    colours, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
    index_map = inverse.reshape(packed.shape)
    thin = _edge_share(index_map, colours.size) >= _THIN_SHARE
    if colours.size > 256:
        flat_share = float(counts[~thin].sum()) / max(packed.size, 1)
        raise _picture_error(path, int(colours.size), flat_share)
    if colours[0] != 0:
        raise _background_error(path, [_hex(c) for c in colours.tolist()], counts)
    edges = _edge_colours(colours, thin)
    if edges.sum() >= _MIN_EDGE_COLOURS:
        if objects is None:
            raise MaskError(
                f"mask {path}: {int(edges.sum())} of its {colours.size} colours are thin blends along "
                f"the edges of the flat ones: it was painted with anti-aliasing (soft edges). Turn "
                f"anti-aliasing off: {_HOW_TO_PAINT}. Or use --objects with the ids of the flat "
                f"colours, and each edge colour joins the nearest flat colour or the background: "
                f"{_flat_list(colours, edges)}")
        colours = _snap_edges(colours, edges)
    distinct, position = np.unique(colours, return_inverse=True)
    return _assign_ids(distinct)[position][index_map]


def parse_mask_entry(text: str) -> tuple[int, str]:
    """``PATH`` (a mask of frame 0) or ``FRAME:PATH`` -> ``(frame, path)``: how ``track --mask``,
    a batch manifest's ``mask`` and the GStreamer element's ``mask`` name a mask. Spaces around
    FRAME and PATH do not count. Raises :class:`~aotvideo.errors.MaskError` for an entry that
    names no file."""
    head, sep, tail = text.partition(":")
    numbered = bool(sep) and head.strip().isdigit()
    frame, path = (int(head), tail.strip()) if numbered else (0, text.strip())
    if not path:
        raise MaskError(f"mask entry {text.strip()!r} names no file")
    return frame, path


def read_mask(path: str | os.PathLike[str], *, objects: Iterable[int] | None = None) -> np.ndarray:
    """Read an object mask image as an H x W int64 label map (0 = background).

    * palette PNG (DAVIS / YouTube-VOS): the palette index of each pixel is its object id;
    * grayscale PNG: a binary mask (one non-zero level) is object 1; a few levels are ids as they
      are; a soft mask with many levels is cut at half its maximum;
    * RGB / RGBA PNG: each flat colour is one object (black or transparent is background); DAVIS
      palette colours keep their palette ids. An image whose pixels are all gray is read as
      grayscale.

    Alpha below half is transparent (background), in every kind. Raises
    :class:`aotvideo.errors.MaskError` when the file cannot be read, and with a message that says
    how to fix it for what image editors get wrong: a colour mask painted with anti-aliasing
    (thin blends along the edges), a photo (the frame exported with the paint), no background
    (flattened onto a colour). ``objects`` are the ids the caller keeps (``--objects``): then
    each edge colour of an anti-aliased mask joins the nearest flat colour (or the background)
    instead of an error.
    """
    path = Path(path)
    frame = _decode_image(path)
    fmt = frame.format
    name = fmt.name
    try:
        if fmt.has_palette:
            indices, palette = frame.to_ndarray()
            labels = np.asarray(indices, dtype=np.int64)
            clear = np.asarray(palette)[:, 0] < _ALPHA_CUT  # rows are A, R, G, B
            return np.where(clear[labels], 0, labels) if clear.any() else labels
        if not fmt.is_rgb and len(fmt.components) <= 2 and not name.startswith(("yuv", "nv")):
            # gray, gray16, monob/monow, ya8, ya16
            deep = max(c.bits for c in fmt.components) > 8
            gray = frame.to_ndarray(format="gray16le" if deep else "gray")
            alpha = None
            if len(fmt.components) == 2:
                alpha = rgb_of(frame, "rgba")[..., 3]
            return _no_background_check(_gray_labels(gray, alpha), path)
        rgba = rgb_of(frame, "rgba")
    except (av.FFmpegError, ValueError) as exc:
        raise MaskError(f"mask {path}: unsupported pixel format {name} ({exc})") from exc
    rgb = rgba[..., :3]
    alpha = rgba[..., 3] if len(fmt.components) == 4 else None
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return _no_background_check(_gray_labels(rgb[..., 0], alpha), path)
    return _colour_labels(rgb, alpha, path, objects)


def _no_background_check(labels: np.ndarray, path: Path) -> np.ndarray:
    """``labels`` of a grayscale mask, unless no pixel of it is background."""
    if labels.size and labels.min() > 0:
        values, counts = np.unique(labels, return_counts=True)
        raise _background_error(path, [f"gray level {v}" for v in values.tolist()], counts)
    return labels


def label_areas(labels: np.ndarray, ids: Iterable[int] | None = None) -> dict[int, int]:
    """Pixels per object id in a label map (ids ascending, 0 left out, absent ids not listed).

    ``ids``: the ids that may be present (a tracker's objects), when known: a few of them are
    counted one comparison each, cheaper than a histogram of every value (at 4K, 2 ms an id
    against 20-50 ms)."""
    labels = np.asarray(labels)
    wanted = None if ids is None else sorted({int(i) for i in ids if int(i) != 0})
    if wanted is not None and len(wanted) <= 8:
        counts = {i: int(np.count_nonzero(labels == i)) for i in wanted}
        return {i: c for i, c in counts.items() if c}
    if labels.dtype in (np.uint8, np.uint16):  # a count per possible value: 3-10x faster than sorting
        counts = np.bincount(labels.ravel(), minlength=int(np.iinfo(labels.dtype).max) + 1)
        present = np.flatnonzero(counts[1:]) + 1
        return {int(v): int(counts[v]) for v in present}
    values, counts = np.unique(labels, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts) if v != 0}


def mask_ids(labels: np.ndarray) -> tuple[int, ...]:
    """The object ids present in a label map, ascending, without 0."""
    return tuple(label_areas(labels))


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
