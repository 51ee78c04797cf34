"""A first mask from boxes: the object inside each box, as a label map ``aotvideo track`` reads.

>>> from aotvideo.boxmask import masks_from_boxes
>>> labels = masks_from_boxes(frame, [(40, 30, 120, 110), (150, 20, 230, 90)])  # doctest: +SKIP

``frame`` is H x W x 3 uint8 RGB; each box ``(x0, y0, x1, y1)`` covers ``x0 <= x < x1``,
``y0 <= y < y1``; the result is H x W uint8 with the object of box ``i`` (0-based) as id
``i + 1``. Two methods: a small learnt head (:class:`BoxMaskNet`, a MobileNetV2 trunk and a
U-Net-like decoder on a crop around the box, shipped as ``aotvideo/data/boxmask_v1.pth``) and
OpenCV's GrabCut (:func:`grabcut_mask`), used when the head's weights are missing or damaged.
:class:`BoxSegmenter` keeps the head loaded for many pictures.
"""
from __future__ import annotations

from .crops import Box, box_of_mask, check_boxes
from .grabcut import GrabCutConfig, grabcut_mask
from .network import BoxMaskNet, HeadConfig
from .segmenter import METHODS, BoxSegmenter, SegmenterConfig, combine_masks, masks_from_boxes
from .weights import load_head, packaged_head_path, save_head

__all__ = ["Box", "BoxMaskNet", "BoxSegmenter", "GrabCutConfig", "HeadConfig", "METHODS",
           "SegmenterConfig", "box_of_mask", "check_boxes", "combine_masks", "grabcut_mask",
           "load_head", "masks_from_boxes", "packaged_head_path", "save_head"]
