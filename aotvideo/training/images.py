"""Reading training pictures and masks from disk, and the error for a dataset that cannot be."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError

__all__ = ["DatasetError", "read_image", "read_labels"]

_MAX_GRAY_LEVELS = 32


# ----------------------------------------------------------------------------- file reading
def read_image(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_labels(path: str | Path) -> np.ndarray:
    """(H, W) uint8 object ids of a mask PNG.

    Palette PNGs give their indices (255, the "void" index of VOC-style masks, becomes 0);
    grayscale masks with only 0 and 255, or with many levels (soft saliency maps), become one
    object (threshold 128); other grayscale masks give their levels; colour masks give one id
    per distinct non-black colour.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            mode = image.mode
            if mode in ("RGB", "RGBA"):
                rgb = np.array(image.convert("RGB"))
                flat = rgb.reshape(-1, 3).astype(np.int32)
                codes = flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]
                colors, inverse = np.unique(codes, return_inverse=True)
                ids = np.zeros(len(colors), np.uint8)
                ids[colors != 0] = np.arange(1, int(np.count_nonzero(colors)) + 1) % 256
                return ids[inverse].reshape(rgb.shape[:2])
            array = np.array(image)
    except OSError as err:
        raise DatasetError(f"cannot read mask {path}: {err}") from err
    if mode == "P":
        labels = array.astype(np.uint8)
        labels[labels == 255] = 0
        return labels
    if array.dtype == bool:
        return array.astype(np.uint8)
    if array.ndim == 3:
        array = array[..., 0]
    levels = np.unique(array)
    if (len(levels) <= 2 and levels.max(initial=0) == 255) or len(levels) > _MAX_GRAY_LEVELS:
        scale = 255 if array.dtype == np.uint8 else int(array.max(initial=1))
        return (array >= (scale + 1) // 2).astype(np.uint8)
    return array.astype(np.uint8)
