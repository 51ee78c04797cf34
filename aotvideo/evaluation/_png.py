"""Raw label indices of PNGs, read exactly as the official DAVIS toolkit reads them.

The toolkit scores ``numpy.array(PIL.Image.open(path))``: the palette indices of palette PNGs and
the gray levels of grayscale ones, unchanged.  :func:`aotvideo.io.masks.read_mask` interprets
masks for tracking (binary grayscale masks become object 1, soft masks are thresholded, colour
masks are mapped to ids); scoring must not, so it reads through this module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aotvideo.errors import MaskError


def read_label_png(path: str | Path) -> np.ndarray:
    """Read the label indices of a PNG.

    Args:
        path: a palette, grayscale (8 or 16 bit) or bilevel PNG.

    Returns:
        H x W integer array (``uint8`` for palette and 8-bit images, ``uint16``/``int32`` for
        16-bit ones): the stored indices, not colours.

    Raises:
        MaskError: the file cannot be read or holds colour (RGB/RGBA) pixels.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr", "HSV", "PA"):
                raise MaskError(f"{path}: a label PNG must be palette or grayscale, not {mode}")
            labels = np.array(image)
    except MaskError:
        raise
    except (OSError, ValueError) as err:
        raise MaskError(f"{path}: cannot read label PNG ({err})") from err
    if labels.dtype == np.bool_:
        labels = labels.astype(np.uint8)
    if labels.ndim != 2:
        raise MaskError(f"{path}: a label PNG must be single-channel, got shape {labels.shape}")
    return labels
