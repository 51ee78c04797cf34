"""Photographs as textures for the procedural training videos.

Real footage is made of photographic texture: fur, skin, fabric, foliage, stone, print.  The
procedural textures of :mod:`.synthetic` (noise, stripes, checkers, blobs) teach the model to
match patterns but never show it one.  :class:`PhotoBank` holds a few photographs and cuts
random textures out of them: a random region, scale and rotation, with colour changes, so a
handful of pictures gives an unbounded supply of distinct patches for backgrounds and objects.

The photographs come from what a plain ``pip install`` brings: the sample images that
scikit-image ships inside its wheel (:func:`skimage_photos`; install ``aotvideo[train]``).  Any
folder of images works as well (:meth:`PhotoBank.from_folder`).
"""
from __future__ import annotations

import functools
import importlib.util
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["PhotoBank", "SKIMAGE_PHOTOS", "skimage_photos"]

#: The photographs of scikit-image's ``skimage/data`` folder used as textures (the images
#: there that are natural pictures or micrographs, not test charts or binary masks).
SKIMAGE_PHOTOS: tuple[str, ...] = (
    "astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
    "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg",
    "ihc.png", "microaneurysms.png", "moon.png", "motorcycle_left.png", "motorcycle_right.png",
    "page.png", "retina.jpg", "rocket.jpg", "text.png",
)

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class PhotoBank:
    """A set of photographs to cut textures from.

    Attributes:
        images: (H, W, 3) float32 RGB images in [0, 1], each at least 64 pixels on a side.
        names: a name per image (file names), for messages.
    """

    images: tuple[np.ndarray, ...]
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.images:
            raise ValueError("a PhotoBank needs at least one image")
        if len(self.images) != len(self.names):
            raise ValueError("images and names differ in length")

    @functools.cached_property
    def grey(self) -> tuple[bool, ...]:
        """Whether each image is grey (its red and blue channels agree), worked out once."""
        return tuple(float(np.abs(image[..., 0] - image[..., 2]).mean()) < 0.01
                     for image in self.images)

    @classmethod
    def from_files(cls, paths: Iterable[str | Path]) -> PhotoBank:
        """Read images with OpenCV (grey, colour or with alpha; alpha is dropped).

        Raises:
            ValueError: a file cannot be read as an image or is smaller than 64x64.
        """
        images, names = [], []
        for path in paths:
            path = Path(path)
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"cannot read {path} as an image")
            if min(image.shape[:2]) < 64:
                raise ValueError(f"{path} is smaller than 64x64 pixels")
            images.append(np.ascontiguousarray(image[:, :, ::-1], dtype=np.float32) / 255.0)
            names.append(path.name)
        return cls(tuple(images), tuple(names))

    @classmethod
    def from_folder(cls, folder: str | Path) -> PhotoBank:
        """Every image file directly in ``folder`` (sorted by name)."""
        paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
        if not paths:
            raise ValueError(f"no images in {folder}")
        return cls.from_files(paths)

    def texture(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random (height, width, 3) float32 texture in [0, 1] cut from one photograph.

        The region is rotated by any angle and scaled so one texture pixel spans 0.5 to 2.5
        photograph pixels (less where the region would not fit in the picture), mirrored half of
        the time, then recoloured: per-channel gains, and for grey pictures (and now and then
        for colour ones) a random tint, so the same photograph gives many distinct patches.
        """
        index = int(rng.integers(len(self.images)))
        image = self.images[index]
        ih, iw = image.shape[:2]
        # output pixel -> image pixel: zoom (image pixels per output pixel) and rotation
        zoom = math.exp(rng.uniform(math.log(0.5), math.log(2.5)))
        diagonal = math.hypot(height, width)
        zoom = min(zoom, max(0.95 * min(ih, iw) / diagonal, 0.25))  # stay inside if it can
        angle = rng.uniform(0, 2 * math.pi)
        c, s = math.cos(angle) * zoom, math.sin(angle) * zoom
        half = diagonal * zoom / 2
        cx = rng.uniform(min(half, iw / 2), max(iw - half, iw / 2))
        cy = rng.uniform(min(half, ih / 2), max(ih - half, ih / 2))
        flip = -1.0 if rng.random() < 0.5 else 1.0
        # image = R * (out - centre_out) + centre_image
        matrix = np.array([[c * flip, -s, 0.0], [s * flip, c, 0.0]])
        matrix[:, 2] = np.array([cx, cy]) - matrix[:, :2] @ np.array([width / 2, height / 2])
        patch = cv2.warpAffine(image, matrix, (width, height),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_REFLECT)
        if self.grey[index] or rng.random() < 0.25:  # tint: luminance through a two-colour ramp
            luma = patch.mean(axis=2, keepdims=True)
            dark = rng.uniform(0.0, 0.5, 3).astype(np.float32)
            light = rng.uniform(0.5, 1.0, 3).astype(np.float32)
            patch = dark + luma * (light - dark)
        gains = rng.uniform(0.75, 1.25, 3).astype(np.float32)
        bias = np.float32(rng.uniform(-0.1, 0.1))
        return np.clip(patch * gains + bias, 0.0, 1.0, dtype=np.float32)


def skimage_data_folder() -> Path | None:
    """scikit-image's ``data`` folder, or None when scikit-image is not installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "data"
    return folder if folder.is_dir() else None


@functools.lru_cache(maxsize=1)
def skimage_photos() -> PhotoBank:
    """The :data:`SKIMAGE_PHOTOS` that the installed scikit-image has.

    Raises:
        RuntimeError: scikit-image is not installed or ships none of the pictures.
    """
    folder = skimage_data_folder()
    if folder is None:
        raise RuntimeError("photographic textures need scikit-image: "
                           "pip install 'aotvideo[train]' (or scikit-image)")
    paths = [folder / name for name in SKIMAGE_PHOTOS if (folder / name).is_file()]
    if not paths:
        raise RuntimeError(f"scikit-image at {folder.parent} ships none of the sample pictures")
    return PhotoBank.from_files(paths)
