"""From boxes to a label map: the learnt head, or GrabCut when the head is not available."""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import FrameError, MaskError, WeightsError
from .crops import Box, check_boxes, crop_inputs, crop_window, paste_logits
from .grabcut import GrabCutConfig, ellipse_in_box, grabcut_mask
from .network import BoxMaskNet, HeadConfig, normalise
from .weights import load_head, packaged_head_path

__all__ = ["METHODS", "BoxSegmenter", "SegmenterConfig", "combine_masks", "masks_from_boxes"]

log = logging.getLogger(__name__)

#: ``auto``: the learnt head when its weights load and it finds the box's object (see
#: :data:`AUTO_MIN_FILL`), else GrabCut; ``head``; ``grabcut``.
METHODS: tuple[str, ...] = ("auto", "head", "grabcut")

AUTO_MIN_FILL = 0.15
"""``auto`` takes GrabCut's mask for a box where the head's mask fills less than this share of
the box.  A box drawn around an object is mostly object (held-out DAVIS objects fill 0.25-0.9 of
their tight boxes), so a head mask this thin means the head did not see the object -- as on a
flat, untextured shape, where it finds only corners (3.8% of a tight box) and GrabCut all of it."""


@dataclass(frozen=True)
class SegmenterConfig:
    """``method`` (one of :data:`METHODS`); ``flip``: the head also sees the mirrored crop and
    the two logits are averaged; ``grabcut``: GrabCut's settings."""

    method: str = "auto"
    flip: bool = True
    grabcut: GrabCutConfig = GrabCutConfig()

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")


def combine_masks(masks: Sequence[np.ndarray]) -> np.ndarray:
    """Per-box H x W bool masks -> H x W uint8 labels: box ``i`` (0-based) is object ``i + 1``.

    Where objects overlap the later box wins, but only on its own object's pixels: the earlier
    object keeps every pixel the later mask does not claim.
    """
    if len(masks) > 255:
        raise MaskError(f"at most 255 boxes fit a palette mask, got {len(masks)}")
    labels = np.zeros(masks[0].shape, np.uint8)
    for object_id, mask in enumerate(masks, start=1):
        labels[mask] = object_id
    return labels


def _fill(mask: np.ndarray, box: Box) -> float:
    """Share of the box's pixels that ``mask`` holds."""
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean()) if x1 > x0 and y1 > y0 else 0.0


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FrameError(f"image must be H x W x 3 uint8 RGB, got {image.shape} {image.dtype}")
    return np.ascontiguousarray(image)


class BoxSegmenter:
    """Segments the object inside each box of a picture.

    Holds the learnt head (loaded once, from ``weights`` or the packaged file) when the method
    is ``head`` or ``auto``; ``auto`` falls back to GrabCut when the head's weights are missing
    or damaged, and says why in :attr:`fallback_reason`. ``method == "head"`` without usable
    weights raises :class:`~aotvideo.errors.WeightsError`.
    """

    def __init__(self, config: SegmenterConfig = SegmenterConfig(), *,
                 device: str | torch.device | None = None,
                 weights: str | os.PathLike[str] | None = None) -> None:
        self.config = config
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.fallback_reason: str | None = None
        self._net: BoxMaskNet | None = None
        self._head = HeadConfig()
        if config.method != "grabcut":
            try:
                self._load(weights)
            except WeightsError as exc:
                if config.method == "head":
                    raise
                self.fallback_reason = str(exc)
                log.info("box head unavailable, using GrabCut: %s", exc)

    def _load(self, weights: str | os.PathLike[str] | None) -> None:
        path = weights if weights is not None else packaged_head_path()
        net, self._head, _ = load_head(path)
        self._net = net.to(self.device)

    @property
    def method(self) -> str:
        """The method that runs: ``"head"`` or ``"grabcut"``."""
        return "head" if self._net is not None else "grabcut"

    def masks(self, image: np.ndarray, boxes: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """One H x W bool mask per box (never empty: a box where nothing is found gets its
        inscribed ellipse). ``image`` H x W x 3 uint8 RGB; boxes as in :func:`check_boxes`."""
        image = _check_image(image)
        height, width = image.shape[:2]
        checked = check_boxes(boxes, width, height)
        if self._net is None:
            return [grabcut_mask(image, box, self.config.grabcut) for box in checked]
        masks = []
        for plane, box in zip(self.logits(image, checked), checked):
            mask = plane > 0
            if self.config.method == "auto" and _fill(mask, box) < AUTO_MIN_FILL:
                log.info("box %s: the head found %.1f%% of the box, using GrabCut", box,
                         100 * _fill(mask, box))
                mask = grabcut_mask(image, box, self.config.grabcut)
            masks.append(mask if mask.any() else ellipse_in_box(box, width, height))
        return masks

    @torch.no_grad()
    def logits(self, image: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
        """The head's H x W float32 logit map per box (``-inf`` outside its crop window)."""
        if self._net is None:
            raise WeightsError("the box head is not loaded")
        height, width = image.shape[:2]
        size = self._head.crop_size
        windows = [crop_window(box, width, height, self._head.margin) for box in boxes]
        pairs = [crop_inputs(image, box, window, size) for box, window in zip(boxes, windows)]
        crops = normalise(torch.from_numpy(np.stack([p[0] for p in pairs]))).to(self.device)
        priors = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None].to(self.device)
        out = self._net(crops, priors)
        if self.config.flip:
            out = (out + self._net(crops.flip(-1), priors.flip(-1)).flip(-1)) / 2
        result = out[:, 0].float().cpu().numpy()
        return [paste_logits(plane, window, width, height) for plane, window in zip(result, windows)]

    def labels(self, image: np.ndarray, boxes: Sequence[Sequence[int]]) -> np.ndarray:
        """H x W uint8 labels: the object of box ``i`` is id ``i + 1`` (see :func:`combine_masks`)."""
        return combine_masks(self.masks(image, boxes))


def masks_from_boxes(image: np.ndarray, boxes: Sequence[Sequence[int]], method: str = "auto",
                     device: str | torch.device | None = None) -> np.ndarray:
    """Label map of the objects in ``boxes`` on ``image``.

    ``image``: H x W x 3 uint8 RGB. ``boxes``: ``(x0, y0, x1, y1)`` each, in pixels, covering
    ``x0 <= x < x1``, ``y0 <= y < y1``. Returns H x W uint8: 0 background, box ``i`` (0-based)
    -> id ``i + 1``; overlaps go to the later box on its own object's pixels. Raises
    :class:`~aotvideo.errors.MaskError` for empty boxes or boxes outside the picture,
    :class:`~aotvideo.errors.WeightsError` for ``method="head"`` without usable weights.
    """
    return BoxSegmenter(SegmenterConfig(method=method), device=device).labels(image, boxes)
