"""Decoded pictures kept as the decoder gives them: 8-bit 4:2:0 planes (I420).

Most video -- camera files, phone clips, what H.264 and HEVC encoders write -- is stored as 8-bit
YUV 4:2:0. Turning each frame into RGB for the tracker and back into YUV for the encoder costs
two full-size colour conversions a frame (at 4K, more than the tracker's own input needs).
A :class:`Yuv420Image` keeps the planes instead: the tracker makes its small network input from
them (:meth:`Yuv420Image.network_input`), overlays are drawn on them
(:func:`aotvideo.render.overlay_yuv420`) and the encoder takes them as they are
(:meth:`Yuv420Image.to_video_frame`). :meth:`Yuv420Image.to_rgb` gives the RGB picture the
decoder would have given, for outputs that need one.
"""
from __future__ import annotations

from dataclasses import dataclass

import av
import cv2
import numpy as np

from .colour import FULL, Colour, rgb_of

__all__ = ["DecodedYuvaImage", "OutputPicture", "PLANAR_PICTURES", "Yuv420Image", "Yuva420Image",
           "as_rgb", "rgb_to_yuv", "richer_than_420"]

#: (Kr, Kb) of the YUV matrices, by FFmpeg's colour-space number (AVColorSpace); anything else
#: (unspecified, BT.470BG, SMPTE 170M...) is BT.601, as FFmpeg's converter takes it.
_MATRICES = {1: (0.2126, 0.0722), 9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
_BT601 = (0.299, 0.114)
#: Limited-range ("TV") 8-bit levels: black, and the spans of luma (16..235) and chroma (16..240).
_BLACK, _LUMA_SPAN, _CHROMA_SPAN = 16.0, 219.0, 224.0


@dataclass(frozen=True, eq=False)
class Yuv420Image:
    """One 8-bit YUV 4:2:0 picture in a single (H * 3 / 2) x W uint8 buffer (``data``).

    Rows ``0 .. H-1`` are the H x W luma plane; then the (H/2) x (W/2) U plane and the V plane,
    each stored in H / 4 rows of W bytes (PyAV's ``yuv420p`` array layout). H and W are even.
    ``colorspace`` and ``color_range`` are FFmpeg's numbers from the decoded frame: they say which
    matrix (BT.601 / 709 / 2020) and which levels (studio 16-235 or full) the planes use.
    """

    data: np.ndarray
    colorspace: int = 2
    color_range: int = 0

    def __post_init__(self) -> None:
        rows, width = self.data.shape
        if self.data.dtype != np.uint8 or rows % 3 or width % 2 or (rows * 2 // 3) % 2:
            raise ValueError(f"an I420 buffer is (H*3/2) x W uint8 with H and W even, got "
                             f"{self.data.shape} {self.data.dtype}")

    # -- geometry -------------------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.data.shape[0] * 2 // 3

    @property
    def width(self) -> int:
        return self.data.shape[1]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, 3): the shape of the RGB picture it stands for."""
        return self.height, self.width, 3

    @property
    def y(self) -> np.ndarray:
        """The H x W luma plane (a view)."""
        return self.data[:self.height]

    @property
    def u(self) -> np.ndarray:
        """The (H/2) x (W/2) U plane (a view)."""
        h = self.height
        return self.data[h:h + h // 4].reshape(h // 2, self.width // 2)

    @property
    def v(self) -> np.ndarray:
        """The (H/2) x (W/2) V plane (a view)."""
        h = self.height
        return self.data[h + h // 4:].reshape(h // 2, self.width // 2)

    # -- making one -------------------------------------------------------------------------------

    @classmethod
    def from_video_frame(cls, frame: av.VideoFrame, *, convert: bool = False
                         ) -> Yuv420Image | None:
        """The planes of a decoded frame (copied out of the decoder's buffers), or ``None`` when
        it is not 8-bit 4:2:0 of even size (10-bit, 4:2:2, RGB, odd sizes: use RGB then).

        With ``convert``, other planar YUV frames (10-bit, 4:2:2, 4:4:4) are brought to 8-bit
        4:2:0 by FFmpeg's scaler, in their own matrix and levels: for uses that need no more
        (tracking, an overlay encoded as 8-bit 4:2:0). Cheaper than RGB, and one rounding.
        """
        name = frame.format.name
        if frame.width % 2 or frame.height % 2:
            return None
        full = Colour.of_frame(frame).range == FULL
        if name in ("yuv420p", "yuvj420p"):
            planes = frame.to_ndarray(format="yuv420p")
        elif convert and name.startswith("yuv") and not name.startswith("yuvj"):
            # the levels kept as they are: the scaler would otherwise squeeze full range
            planes = frame.reformat(format="yuv420p", dst_color_range=int(frame.color_range) or None
                                    ).to_ndarray()
        else:
            return None
        return cls(planes, int(frame.colorspace), FULL if full else 0)

    @classmethod
    def from_planes(cls, y: np.ndarray, u: np.ndarray, v: np.ndarray, *, colorspace: int = 2,
                    color_range: int = 0) -> Yuv420Image:
        """Join an H x W luma plane and two (H/2) x (W/2) chroma planes into one buffer."""
        h, w = y.shape
        data = np.concatenate([y.reshape(-1), u.reshape(-1), v.reshape(-1)]).reshape(h * 3 // 2, w)
        return cls(data, colorspace, color_range)

    def copy(self) -> Yuv420Image:
        return Yuv420Image(self.data.copy(), self.colorspace, self.color_range)

    def rot90(self, quarters: int) -> Yuv420Image:
        """Turned ``quarters`` x 90 degrees counter-clockwise (``np.rot90``), every plane alike."""
        if quarters % 4 == 0:
            return self
        return Yuv420Image.from_planes(*(np.rot90(p, quarters) for p in (self.y, self.u, self.v)),
                                       colorspace=self.colorspace, color_range=self.color_range)

    # -- using one --------------------------------------------------------------------------------

    @property
    def full_range(self) -> bool:
        return self.color_range == FULL

    @property
    def matrix(self) -> tuple[float, float]:
        """(Kr, Kb) of the planes' YUV matrix."""
        return _MATRICES.get(self.colorspace, _BT601)

    def to_video_frame(self) -> av.VideoFrame:
        """A ``yuv420p`` video frame over this buffer (no copy), tagged with its colour space
        and range, for an encoder."""
        frame = av.VideoFrame.from_numpy_buffer(self.data, format="yuv420p")
        frame.colorspace = self.colorspace
        frame.color_range = self.color_range
        return frame

    def with_alpha(self, alpha: np.ndarray) -> Yuva420Image:
        """These planes with an H x W uint8 alpha plane (255 opaque): an alpha output's picture
        made without leaving YUV, so an encoder of the same matrix keeps the input's values."""
        return Yuva420Image(self, alpha)

    def to_rgb(self) -> np.ndarray:
        """The H x W x 3 uint8 RGB picture, with the planes' matrix and levels
        (:func:`aotvideo.io.colour.rgb_of`)."""
        return rgb_of(self.to_video_frame())

    def network_input(self, size: tuple[int, int]) -> np.ndarray:
        """(h, w, 3) float32 RGB in 0..255 at ``size`` = (h, w): each plane resized on its own
        (bicubic, like the RGB route), then converted to RGB at the small size.

        The RGB route converts the whole frame and resizes it; this one resizes first, so a 4K
        frame costs a few small resizes instead of two full-size passes. The two differ by
        rounding (about one level of 255 on average: FFmpeg's 4:2:0 -> RGB rounds low); the
        tracking results agree (``samples/planar_agreement.py``, the tests).
        """
        h, w = size
        yuv = cv2.merge([_resize(plane, w, h) for plane in (self.y, self.u, self.v)])
        rgb = cv2.transform(yuv.astype(np.float32), self._to_rgb_matrix())
        return np.clip(rgb, 0.0, 255.0, out=rgb)

    def _to_rgb_matrix(self) -> np.ndarray:
        """3 x 4 float32: (R, G, B) = M @ (Y, U, V, 1) in 0..255, with the picture's matrix and
        levels (the offsets of limited range and of the chroma's zero at 128 folded in)."""
        kr, kb = self.matrix
        kg = 1.0 - kr - kb
        scale_y, scale_c, black = (1.0, 1.0, 0.0) if self.full_range else \
            (255.0 / _LUMA_SPAN, 255.0 / _CHROMA_SPAN, _BLACK)
        v_red = 2.0 * (1.0 - kr) * scale_c
        u_green = 2.0 * (1.0 - kb) * kb / kg * scale_c
        v_green = 2.0 * (1.0 - kr) * kr / kg * scale_c
        u_blue = 2.0 * (1.0 - kb) * scale_c
        base = -scale_y * black
        return np.array([[scale_y, 0.0, v_red, base - 128.0 * v_red],
                         [scale_y, -u_green, -v_green, base + 128.0 * (u_green + v_green)],
                         [scale_y, u_blue, 0.0, base - 128.0 * u_blue]], np.float32)


@dataclass(frozen=True, eq=False)
class Yuva420Image:
    """YUV 4:2:0 planes with an alpha plane: ``picture`` (:class:`Yuv420Image`) and ``alpha``
    (H x W uint8, 255 opaque, straight: the colour planes are not multiplied by it).

    What an alpha output writes of an 8-bit 4:2:0 input. Going through RGB would cost two
    full-size conversions and round the picture twice; from these planes an encoder of the
    input's matrix (ProRes 4444, VP9 with alpha) gets the input's own values, its chroma only
    resampled to the output's layout.
    """

    picture: Yuv420Image
    alpha: np.ndarray

    def __post_init__(self) -> None:
        if self.alpha.shape != (self.picture.height, self.picture.width) or \
                self.alpha.dtype != np.uint8:
            raise ValueError(f"the alpha plane must be {self.picture.height} x "
                             f"{self.picture.width} uint8, got {self.alpha.shape} {self.alpha.dtype}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, 4): the shape of the RGBA picture it stands for."""
        return self.picture.height, self.picture.width, 4

    def rot90(self, quarters: int) -> Yuva420Image:
        """Turned ``quarters`` x 90 degrees counter-clockwise (``np.rot90``), every plane alike."""
        if quarters % 4 == 0:
            return self
        return Yuva420Image(self.picture.rot90(quarters),
                            np.ascontiguousarray(np.rot90(self.alpha, quarters)))

    def to_video_frame(self) -> av.VideoFrame:
        """A ``yuva420p`` video frame (a copy of the planes), tagged with the picture's colour
        space and range."""
        picture = self.picture
        frame = av.VideoFrame(picture.width, picture.height, "yuva420p")
        _fill_planes(frame, (picture.y, picture.u, picture.v, self.alpha))
        frame.colorspace = picture.colorspace
        frame.color_range = picture.color_range
        return frame

    def to_rgba(self) -> np.ndarray:
        """The H x W x 4 uint8 RGBA picture (the planes' matrix and levels)."""
        return rgb_of(self.to_video_frame(), "rgba")


def richer_than_420(frame: av.VideoFrame) -> bool:
    """Whether a decoded frame is YUV that holds more than 8-bit 4:2:0 does: more bits (10-bit
    ProRes, HEVC) or finer chroma (4:2:2, 4:4:4)."""
    fmt = frame.format
    if not fmt.name.startswith("yuv"):
        return False
    chroma = fmt.components[1]
    return max(c.bits for c in fmt.components) > 8 or (chroma.width, chroma.height) != \
        (-(-frame.width // 2), -(-frame.height // 2))


@dataclass(frozen=True, eq=False)
class DecodedYuvaImage:
    """A decoded frame that holds more than 8-bit 4:2:0 (``frame``, as the decoder gave it:
    10-bit, 4:2:2, 4:4:4) with an alpha plane (``alpha``, uint8, 255 opaque): what an alpha
    output writes of such a source, so that ProRes 4444 keeps the source's own values rather
    than 8-bit 4:2:0 ones. The picture is never converted to RGB: its planes are widened to
    16-bit 4:4:4, then turned ``quarters`` x 90 degrees counter-clockwise; ``alpha`` is in
    that final orientation.
    """

    frame: av.VideoFrame
    alpha: np.ndarray
    quarters: int = 0

    def __post_init__(self) -> None:
        height, width = self.shape[:2]
        if self.alpha.shape != (height, width) or self.alpha.dtype != np.uint8:
            raise ValueError(f"the alpha plane must be {height} x {width} uint8, got "
                             f"{self.alpha.shape} {self.alpha.dtype}")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, 4): the shape of the RGBA picture it stands for (after turning)."""
        height, width = self.frame.height, self.frame.width
        return (width, height, 4) if self.quarters % 2 else (height, width, 4)

    def to_video_frame(self) -> av.VideoFrame:
        """A ``yuva444p16le`` video frame (the planes widened to 16 bits and turned, the alpha
        0..65535), tagged with the source frame's colour space and range."""
        source = self.frame
        levels = Colour.of_frame(source).range  # yuvj formats are full range
        wide = source.reformat(format="yuv444p16le", dst_color_range=levels or None)
        planes = [np.rot90(p, self.quarters) for p in _planes_of(wide, np.uint16)]
        height, width = self.shape[:2]
        out = av.VideoFrame(width, height, "yuva444p16le")
        _fill_planes(out, (*planes, self.alpha.astype(np.uint16) * 257))
        out.colorspace = source.colorspace
        out.color_range = levels
        return out

    def to_rgba(self) -> np.ndarray:
        """The H x W x 4 uint8 RGBA picture (the frame's matrix and levels)."""
        return rgb_of(self.to_video_frame(), "rgba")


def _planes_of(frame: av.VideoFrame, dtype: type[np.generic]) -> list[np.ndarray]:
    """The planes of a 4:4:4 ``frame`` as H x W arrays of ``dtype`` (views, rows unpadded)."""
    return [np.frombuffer(plane, dtype).reshape(frame.height, -1)[:, :frame.width]
            for plane in frame.planes]


def _fill_planes(frame: av.VideoFrame, values: tuple[np.ndarray, ...]) -> None:
    """Copy arrays into a new frame's planes, one each, in their own sizes and dtype (the
    frame's rows may be padded to a longer line)."""
    for plane, array in zip(frame.planes, values):
        rows, cols = array.shape
        np.frombuffer(plane, array.dtype).reshape(rows, -1)[:, :cols] = array


def _resize(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    if plane.shape == (height, width):
        return plane
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_CUBIC)


#: What the writers take: arrays (H x W x 3 RGB, H x W x 4 RGBA, H x W gray or labels) or YUV
#: planes, with or without an alpha plane.
OutputPicture = np.ndarray | Yuv420Image | Yuva420Image | DecodedYuvaImage
#: The planar ones: each makes its own video frame (``to_video_frame``).
PLANAR_PICTURES = (Yuv420Image, Yuva420Image, DecodedYuvaImage)


def as_rgb(image: OutputPicture) -> np.ndarray:
    """An array picture as it is, or the RGB (with alpha: RGBA) of a planar one."""
    if isinstance(image, Yuv420Image):
        return image.to_rgb()
    if isinstance(image, (Yuva420Image, DecodedYuvaImage)):
        return image.to_rgba()
    return image


def rgb_to_yuv(colour: tuple[float, float, float], image: Yuv420Image
               ) -> tuple[float, float, float]:
    """An RGB colour (0..255) as (Y, U, V) in ``image``'s matrix and levels (within 0..255)."""
    r, g, b = (float(c) for c in colour)
    kr, kb = image.matrix
    luma = kr * r + (1.0 - kr - kb) * g + kb * b
    u = (b - luma) / (2.0 * (1.0 - kb))
    v = (r - luma) / (2.0 * (1.0 - kr))
    if image.full_range:
        values = (luma, 128.0 + u, 128.0 + v)
    else:
        values = (_BLACK + luma * _LUMA_SPAN / 255.0, 128.0 + u * _CHROMA_SPAN / 255.0,
                  128.0 + v * _CHROMA_SPAN / 255.0)
    return tuple(min(255.0, max(0.0, c)) for c in values)  # type: ignore[return-value]
