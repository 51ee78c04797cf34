"""Rendering tracking results: coloured overlays, luma mattes and RGBA frames.

>>> from aotvideo.render import overlay, matte, with_alpha
"""
from __future__ import annotations

from .compose import matte, object_colour, overlay, with_alpha

__all__ = ["overlay", "matte", "with_alpha", "object_colour"]
