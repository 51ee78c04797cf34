"""Frame and mask preprocessing of the reference evaluation protocol."""
from __future__ import annotations

import functools
from typing import Protocol, runtime_checkable

import cv2
import numpy as np
import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@runtime_checkable
class Picture(Protocol):
    """A frame kept in another layout than an RGB array (e.g. a decoder's YUV planes,
    :class:`aotvideo.io.yuv.Yuv420Image`) that makes the network's input itself, cheaper than
    from a full-size RGB copy."""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, 3): the shape of the RGB frame it stands for."""
        ...

    def network_input(self, size: tuple[int, int]) -> np.ndarray:
        """(h, w, 3) float32 RGB in 0..255 at ``size`` = (h, w)."""
        ...


def network_input_size(height: int, width: int, *, align_corners: bool = True,
                       max_short_edge: int | None = 480, max_long_edge: int | None = 1040,
                       scale: float = 1.0, min_short_edge: int | None = None) -> tuple[int, int]:
    """Network input size for a frame of ``height`` x ``width``.

    Enlarges a frame whose short edge is under ``min_short_edge`` (``None``, the evaluation
    protocol: never) to that short edge, shrinks so the short edge is at most
    ``max_short_edge`` and the long edge at most ``max_long_edge``, multiplies by the test-time
    ``scale``, truncates to integers, and snaps each side to ``16k + 1`` (``align_corners``) or
    ``16k``, rounding half to even like NumPy's ``around``.
    """
    new_h, new_w = float(height), float(width)
    if min_short_edge is not None and min(new_h, new_w) < min_short_edge:
        factor = min_short_edge / min(new_h, new_w)
        new_h, new_w = new_h * factor, new_w * factor
    if max_short_edge is not None and min(new_h, new_w) > max_short_edge:
        factor = max_short_edge / min(new_h, new_w)
        new_h, new_w = new_h * factor, new_w * factor
    if max_long_edge is not None and max(new_h, new_w) > max_long_edge:
        factor = max_long_edge / max(new_h, new_w)
        new_h, new_w = new_h * factor, new_w * factor
    sides = [int(new_h * scale), int(new_w * scale)]
    offset = 1 if align_corners else 0
    for i, side in enumerate(sides):
        if (side - offset) % 16 != 0:
            sides[i] = int(np.around((side - offset) / 16.0) * 16 + offset)
        sides[i] = max(sides[i], 16 + offset)
    return sides[0], sides[1]


def normalize_frame(frame: np.ndarray | Picture, size: tuple[int, int], *, flip: bool = False,
                    device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, h, w) float32 normalised network input, channels-last.

    Resizes with ``cv2.resize(INTER_CUBIC)`` of the float32 image (skipped when the size is
    unchanged; a :class:`Picture` resizes itself), then ``(x / 255 - mean) / std`` in float32;
    ``flip`` mirrors horizontally.
    The result is a channels-last view of an (h, w, 3) buffer, the layout the encoders'
    convolutions read without a reorder.
    """
    h, w = size
    if not isinstance(frame, np.ndarray):
        image = torch.from_numpy(frame.network_input(size)).to(device)
    elif frame.shape[0] != h or frame.shape[1] != w:
        image = torch.from_numpy(cv2.resize(frame.astype(np.float32), (w, h),
                                            interpolation=cv2.INTER_CUBIC)).to(device)
    else:  # the uint8 frame travels to the device, a quarter of the float32 bytes
        image = torch.from_numpy(np.ascontiguousarray(frame)).to(device).to(torch.float32)
    if flip:
        image = image.flip(1)
    image.div_(255.0).sub_(_constant(IMAGENET_MEAN, image.device)).div_(
        _constant(IMAGENET_STD, image.device))
    return image.permute(2, 0, 1).unsqueeze(0)


@functools.lru_cache(maxsize=8)
def _constant(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    """A float32 vector of ``values`` on ``device`` (cached; callers must not modify it)."""
    return torch.tensor(values, dtype=torch.float32, device=device)


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of an (H, W) integer label map, the pixels ``F.interpolate``
    (mode ``nearest``) picks, taken by index: no float copy of a full-size map."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    rows = _nearest_sources(labels.shape[-2], size[0], labels.device)
    cols = _nearest_sources(labels.shape[-1], size[1], labels.device)
    return labels.index_select(-2, rows).index_select(-1, cols)


def _nearest_sources(size_in: int, size_out: int, device: torch.device) -> torch.Tensor:
    """The source index of each output position of PyTorch's ``nearest`` resize along one axis:
    ``min(floor(i * (size_in / size_out)), size_in - 1)`` in float32."""
    scale = torch.tensor(size_in / size_out, dtype=torch.float32)
    out = (torch.arange(size_out, dtype=torch.float32) * scale).floor().long()
    return out.clamp_(max=size_in - 1).to(device)
