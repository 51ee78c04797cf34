"""Process-wide allocator settings the command line makes for itself (a library leaves such
settings to the program that hosts it)."""
from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def reuse_large_buffers(limit: int = 1 << 30) -> bool:
    """Let glibc's ``malloc`` keep freed blocks of up to ``limit`` bytes for reuse.

    A video run allocates and frees the same few large buffers every frame (a 4K frame's planes
    are 12 MB, an RGB copy 25 MB, the float32 input of a resize 100 MB). By default glibc takes
    every block over 32 MB straight from the kernel and gives it back when freed -- and it trims
    its heap -- so each frame pays for the kernel zeroing fresh pages again (at 4K a few
    hundredths of a second a frame, on every core the run shares). Raising the mapping and
    trimming thresholds keeps those blocks in the heap. Peak memory stays what the run needs
    at once. Returns whether the setting took (``False`` where the C library is not glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))
