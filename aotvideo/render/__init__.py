"""Rendering tracking results: coloured overlays (on RGB or YUV 4:2:0 pictures), luma mattes
and RGBA frames.

>>> from aotvideo.render import overlay, matte, with_alpha
"""
from __future__ import annotations

from .compose import matte, object_colour, overlay, overlay_yuv420, with_alpha

__all__ = ["overlay", "overlay_yuv420", "matte", "with_alpha", "object_colour"]
