"""What a video's pixel values mean, carried from the input to the outputs that show pictures.

A decoded frame says which YUV matrix (BT.601, BT.709, BT.2020), which levels (limited 16-235
or full 0-255), which primaries and which transfer (SDR gamma, HLG, PQ) its values use. Players
and editing programs read these tags to show the picture. An output that drops them, or that
turns RGB back into YUV with another matrix than the one the input was read with, shows its
colours shifted against the input: an overlay that looks greener than its source, an alpha clip
that no longer matches the clip it is laid over in an editor, HDR footage shown as washed-out
SDR.

:class:`Colour` is that description, in FFmpeg's numbers. The reader takes it from the first
decoded frame (``VideoInfo.colour``); :func:`output_colour` says how a picture output in a given
pixel format is tagged and converted, and :func:`to_encoder` converts an RGB picture with it.
Mattes are data, not pictures: they get no tags.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import numpy as np
from av.video.reformatter import Interpolation

__all__ = ["Colour", "graphics_white", "output_colour", "rgb_of", "tag_encoder", "to_encoder"]

UNSPECIFIED = 2
"""FFmpeg's "unspecified" matrix, primaries and transfer (players then assume from the size)."""
RANGE_UNSPECIFIED, LIMITED, FULL = 0, 1, 2
"""FFmpeg's colour ranges (AVColorRange): unknown (read as limited), limited ("TV", "MPEG":
luma 16-235 in 8 bits) and full ("PC", "JPEG": 0-255)."""

#: YUV matrices FFmpeg's converter has coefficients for (AVColorSpace): BT.709, FCC, BT.470BG,
#: SMPTE 170M (BT.601), SMPTE 240M, BT.2020 non-constant luminance. Others are read as BT.601.
_CONVERTIBLE = frozenset({1, 4, 5, 6, 7, 9})
_NAMES = {
    "matrix": {0: "RGB", 1: "BT.709", 4: "FCC", 5: "BT.601 (470BG)", 6: "BT.601 (170M)",
               7: "SMPTE 240M", 9: "BT.2020", 10: "BT.2020 constant luminance"},
    "primaries": {1: "BT.709", 4: "BT.470M", 5: "BT.601 (470BG)", 6: "BT.601 (170M)",
                  7: "SMPTE 240M", 9: "BT.2020", 11: "DCI-P3", 12: "Display P3"},
    "transfer": {1: "BT.709", 4: "gamma 2.2", 5: "gamma 2.8", 6: "BT.601", 7: "SMPTE 240M",
                 8: "linear", 13: "sRGB", 14: "BT.2020 10-bit", 15: "BT.2020 12-bit",
                 16: "PQ (HDR10)", 18: "HLG"},
}
#: Encoders that store limited-range levels only.
_LIMITED_ONLY = ("prores", "dnxhd")


@dataclass(frozen=True)
class Colour:
    """A video's colour description (FFmpeg's numbers; 2 is "unspecified" for the first three).

    Attributes:
        matrix: the YUV matrix (AVColorSpace: 1 BT.709, 5/6 BT.601, 9 BT.2020, 0 RGB).
        primaries: the colour primaries (AVColorPrimaries: 1 BT.709, 9 BT.2020, 12 Display P3).
        transfer: the transfer characteristic (AVColorTransferCharacteristic: 1 BT.709,
            13 sRGB, 16 PQ, 18 HLG).
        range: 0 unspecified (read as limited), 1 limited, 2 full.
    """

    matrix: int = UNSPECIFIED
    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    range: int = RANGE_UNSPECIFIED

    @classmethod
    def of_frame(cls, frame: av.VideoFrame) -> Colour:
        """The description a decoded frame carries (``yuvj`` formats are full range)."""
        full = frame.format.name.startswith("yuvj")
        return cls(int(frame.colorspace), int(frame.color_primaries), int(frame.color_trc),
                   FULL if full else int(frame.color_range))

    @property
    def tagged(self) -> bool:
        """Whether anything is known beyond FFmpeg's defaults."""
        return self != Colour()

    def describe(self) -> str:
        """For people: ``"BT.709 matrix, limited range, BT.709 primaries, BT.709 transfer"``,
        or ``"untagged"``."""
        if not self.tagged:
            return "untagged"
        parts = []
        for field in ("matrix", "primaries", "transfer"):
            value = getattr(self, field)
            if value != UNSPECIFIED:
                parts.append(f"{_NAMES[field].get(value, f'#{value}')} {field}")
        if self.range:
            parts.insert(1 if self.matrix != UNSPECIFIED else 0,
                         "full range" if self.range == FULL else "limited range")
        return ", ".join(parts)


def _is_rgb(pix_fmt: str) -> bool:
    return pix_fmt.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr", "x2rgb",
                               "x2bgr"))


#: FFmpeg's scaler settings for YUV -> RGB. Its default path rounds low and reads luma 1 to 1.5
#: levels of 255 dark (8-bit H.264 by 1.1, 10-bit ProRes and HEVC by 1.5): an alpha clip made
#: from it looked darker than the plate it is laid over. Accurate rounding with full chroma
#: interpolation converts as the matrix says (within 0.01 of a level on average).
_ACCURATE = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def rgb_of(frame: av.VideoFrame, pix_fmt: str = "rgb24") -> np.ndarray:
    """The picture of a decoded ``frame`` as an H x W x C array in the RGB(A) ``pix_fmt``
    (``rgb24``: uint8 H x W x 3), read with the frame's own matrix and levels and converted
    accurately (not by FFmpeg's default, which reads YUV about a level dark)."""
    return frame.to_ndarray(format=pix_fmt, interpolation=_ACCURATE)


#: Transfer characteristics (AVColorTransferCharacteristic) of HDR video: PQ and HLG.
PQ, HLG = 16, 18
#: The signal level of graphics white in HDR video: ITU-R BT.2408's 203 cd/m2, 58% of PQ's
#: range and 75% of HLG's.
_GRAPHICS_WHITE = {PQ: 0.58, HLG: 0.75}


def graphics_white(colour: Colour) -> float:
    """The signal level (0..1 of the code range) that drawn graphics use as white in video of
    this description: 1 for SDR; for HDR (PQ, HLG) BT.2408's graphics white, so an overlay
    drawn at full code values does not glare at ten times the brightness of the picture's
    whites. (Code values are scaled as they are; the colours' primaries are not converted.)"""
    return _GRAPHICS_WHITE.get(colour.transfer, 1.0)


def output_colour(source: Colour, pix_fmt: str, codec: str) -> Colour:
    """How a picture output in ``pix_fmt`` by ``codec`` is tagged, given the input's ``source``.

    The primaries and transfer are the input's (the pixel values are not changed, so their
    meaning is not either). YUV outputs also keep the input's matrix when FFmpeg's converter
    knows it, else they stay unspecified (read as BT.601 both ways, as the input was); and its
    levels, except that ``yuvj`` formats are full range and ProRes and DNxHD store limited
    levels only. RGB outputs say RGB and no range.
    """
    if _is_rgb(pix_fmt):
        return Colour(0, source.primaries, source.transfer, RANGE_UNSPECIFIED)
    matrix = source.matrix if source.matrix in _CONVERTIBLE else UNSPECIFIED
    levels = source.range
    if pix_fmt.startswith("yuvj"):
        levels = FULL
    elif codec.startswith(_LIMITED_ONLY):
        levels = LIMITED if source.range or matrix != UNSPECIFIED else RANGE_UNSPECIFIED
    return Colour(matrix, source.primaries, source.transfer, levels)


def tag_encoder(context: av.video.codeccontext.VideoCodecContext, source: Colour,
                pix_fmt: str) -> Colour | None:
    """Tag an encoder (before it opens: the tags go into its stream headers) for a picture
    output in ``pix_fmt`` of an input described by ``source`` (:func:`output_colour`); returns
    the tags, or ``None`` for an untagged input (nothing set: FFmpeg's defaults, as the input
    was read)."""
    if not source.tagged:
        return None
    colour = output_colour(source, pix_fmt, context.name)
    context.colorspace = colour.matrix
    context.color_primaries = colour.primaries
    context.color_trc = colour.transfer
    context.color_range = colour.range
    return colour


def to_encoder(frame: av.VideoFrame, pix_fmt: str, colour: Colour | None) -> av.VideoFrame:
    """A picture ``frame`` for an encoder of ``pix_fmt`` tagged ``colour`` (what
    :func:`tag_encoder` returned; ``None`` for an untagged input).

    An RGB(A) picture is converted to a YUV ``pix_fmt`` with the input's matrix and levels and
    tagged with them, not with the BT.601 the encoder would use; it is returned as it is when the
    encoder's own conversion is right (no tags, an RGB output, matrix and range unspecified).
    YUV(A) planes as they were decoded keep their matrix: they are resampled to ``pix_fmt``'s
    layout and depth and brought to the output's levels, or, for an RGB ``pix_fmt``, converted
    accurately (:func:`rgb_of`). A frame already in ``pix_fmt`` is returned as it is.
    """
    if frame.format.name == pix_fmt:
        return frame
    if not _is_rgb(frame.format.name):
        levels = colour.range if colour is not None and not _is_rgb(pix_fmt) else None
        out = frame.reformat(format=pix_fmt, dst_color_range=levels or None,
                             interpolation=_ACCURATE)
    elif colour is None or _is_rgb(pix_fmt) or (colour.matrix == UNSPECIFIED and not colour.range):
        return frame
    else:
        matrix = colour.matrix if colour.matrix != UNSPECIFIED else None
        out = frame.reformat(format=pix_fmt, dst_colorspace=matrix,
                             dst_color_range=colour.range or None)
    if colour is not None:  # some encoders (ProRes) write the frames' tags, not their own
        out.color_primaries = colour.primaries
        out.color_trc = colour.transfer
    return out
