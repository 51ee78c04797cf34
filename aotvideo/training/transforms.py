"""Clip augmentations of the original training, on NumPy arrays with an explicit generator.

All randomness comes from the ``rng`` argument, so a clip is a pure function of its seed: the
same on every process, with any number of data workers, and again after resuming.

A clip is ``frames`` (T, H, W, 3) uint8 RGB plus ``labels`` (T, H, W) uint8 object ids.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
PAD_COLOR = (124, 116, 104)
"""Fill colour of padding and affine borders (the ImageNet mean in 0-255)."""


@dataclass
class Clip:
    """Frames and labels of one training clip.

    Attributes:
        frames: (T, H, W, 3) uint8 RGB.
        labels: (T, H, W) uint8, 0 background, objects 1..num_objects.
        num_objects: objects present in the reference frame (frame 0).
    """

    frames: np.ndarray
    labels: np.ndarray
    num_objects: int


# ----------------------------------------------------------------------------- video clips
def random_scale(frames: list[np.ndarray], labels: list[np.ndarray], rng: np.random.Generator,
                 min_scale: float, max_scale: float, short_edge: int | None,
                 ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Scale every frame by one random factor (times ``short_edge / short side``)."""
    factor = rng.uniform(min_scale, max_scale)
    if short_edge is not None:
        h, w = frames[0].shape[:2]
        factor *= short_edge / min(h, w)
    h, w = frames[0].shape[:2]
    size = (max(int(round(w * factor)), 1), max(int(round(h * factor)), 1))
    if size == (w, h):
        return frames, labels
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_CUBIC) for f in frames]
    labels = [cv2.resize(l, size, interpolation=cv2.INTER_NEAREST) for l in labels]
    return frames, labels


def balanced_crop(frames: list[np.ndarray], labels: list[np.ndarray], rng: np.random.Generator,
                  size: tuple[int, int], max_objects: int, min_pixels: int, max_tries: int = 5,
                  ) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Random crop that keeps objects of the reference frame in view.

    Up to ``max_tries`` windows are drawn until the reference frame shows an object of more than
    ``min_pixels`` pixels.  The kept objects (at most ``max_objects``, a random subset when
    there are more) are renumbered 1..N in ascending id order; everything else becomes 0.

    Returns the cropped frames and labels and N.
    """
    h, w = frames[0].shape[:2]
    crop_h, crop_w = min(size[0], h), min(size[1], w)
    keep: list[int] = []
    top = left = 0
    for _ in range(max_tries):
        top = int(rng.integers(0, h - crop_h + 1))
        left = int(rng.integers(0, w - crop_w + 1))
        ref = labels[0][top:top + crop_h, left:left + crop_w]
        counts = np.bincount(ref.ravel(), minlength=256)
        keep = [int(i) for i in np.nonzero(counts[1:] > min_pixels)[0] + 1]
        if keep:
            break
    if len(keep) > max_objects:
        keep = sorted(int(i) for i in rng.permutation(keep)[:max_objects])
    lut = np.zeros(256, np.uint8)
    for new_id, old_id in enumerate(keep, start=1):
        lut[old_id] = new_id
    frames = [f[top:top + crop_h, left:left + crop_w] for f in frames]
    labels = [lut[l[top:top + crop_h, left:left + crop_w]] for l in labels]
    return frames, labels, len(keep)


def pad_to(frames: list[np.ndarray], labels: list[np.ndarray], rng: np.random.Generator,
           size: tuple[int, int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pad to ``size`` at a random offset (images with :data:`PAD_COLOR`, labels with 0)."""
    h, w = frames[0].shape[:2]
    extra_h, extra_w = size[0] - h, size[1] - w
    if extra_h <= 0 and extra_w <= 0:
        return frames, labels
    top = int(rng.integers(0, max(extra_h, 0) + 1))
    left = int(rng.integers(0, max(extra_w, 0) + 1))
    pads = (top, max(extra_h, 0) - top, left, max(extra_w, 0) - left)
    frames = [cv2.copyMakeBorder(f, *pads, cv2.BORDER_CONSTANT, value=PAD_COLOR) for f in frames]
    labels = [cv2.copyMakeBorder(l, *pads, cv2.BORDER_CONSTANT, value=0) for l in labels]
    return frames, labels


def video_clip(frames: list[np.ndarray], labels: list[np.ndarray], rng: np.random.Generator, *,
               crop_size: tuple[int, int], short_edge: int | None, min_scale: float,
               max_scale: float, flip_prob: float, max_objects: int, min_pixels: int) -> Clip:
    """The original video augmentation: random scale, balanced crop, flip, pad."""
    frames, labels = random_scale(frames, labels, rng, min_scale, max_scale, short_edge)
    frames, labels, count = balanced_crop(frames, labels, rng, crop_size, max_objects, min_pixels)
    if rng.random() < flip_prob:
        frames = [f[:, ::-1] for f in frames]
        labels = [l[:, ::-1] for l in labels]
    frames, labels = pad_to(frames, labels, rng, crop_size)
    return Clip(np.ascontiguousarray(np.stack(frames)), np.ascontiguousarray(np.stack(labels)),
                count)


# ----------------------------------------------------------------------------- static images
def color_jitter(image: np.ndarray, rng: np.random.Generator, brightness: float = 0.1,
                 contrast: float = 0.1, saturation: float = 0.1, hue: float = 0.03) -> np.ndarray:
    """Random brightness, contrast, saturation and hue changes in random order (uint8 RGB)."""
    img = image.astype(np.float32)
    for op in rng.permutation(4):
        if op == 0:
            img = img * rng.uniform(1 - brightness, 1 + brightness)
        elif op == 1:
            gray = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
            factor = rng.uniform(1 - contrast, 1 + contrast)
            img = img * factor + float(gray.mean()) * (1 - factor)
        elif op == 2:
            gray = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)
            factor = rng.uniform(1 - saturation, 1 + saturation)
            img = img * factor + gray[..., None].astype(np.float32) * (1 - factor)
        else:
            shift = rng.uniform(-hue, hue)
            hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL)
            hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(round(shift * 256))) % 256
                           ).astype(np.uint8)
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL).astype(np.float32)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def random_affine(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                  degrees: float = 20.0, translate: float = 0.1,
                  scale: tuple[float, float] = (0.9, 1.1), shear: float = 10.0,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Random rotation, translation, scale and horizontal shear about the image centre."""
    h, w = labels.shape
    angle = math.radians(rng.uniform(-degrees, degrees))
    tx = rng.uniform(-translate, translate) * w
    ty = rng.uniform(-translate, translate) * h
    s = rng.uniform(*scale)
    sh = math.radians(rng.uniform(-shear, shear))
    cx, cy = (w - 1) * 0.5, (h - 1) * 0.5
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shearing = np.array([[1.0, -math.tan(sh)], [0.0, 1.0]])
    linear = s * rotation @ shearing
    offset = np.array([cx + tx, cy + ty]) - linear @ np.array([cx, cy])
    matrix = np.concatenate([linear, offset[:, None]], axis=1)
    image = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=PAD_COLOR)
    labels = cv2.warpAffine(labels, matrix, (w, h), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return image, labels


def random_smooth_warp(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                       strength: float = 0.04, grid: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A random smooth non-rigid warp (a thin-plate-like deformation).

    Displacements drawn on a ``grid`` x ``grid`` lattice (at most ``strength`` times the image
    size) are interpolated bicubically to every pixel, so shapes bend the way articulated or
    deforming objects do, where an affine warp only rotates, scales and shears.
    """
    h, w = labels.shape
    coarse = rng.uniform(-strength, strength, (2, grid, grid)).astype(np.float32)
    dx = cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC) * w
    dy = cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC) * h
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x, map_y = xs + dx, ys + dy
    image = cv2.remap(image, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    labels = cv2.remap(labels, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=0)
    return image, labels


def random_resized_crop(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator,
                        size: tuple[int, int], area: tuple[float, float] = (0.8, 1.0),
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Crop a random window of ``area`` times the image and of about the output's aspect ratio
    (x 3/4 .. 4/3), resized to ``size``."""
    h, w = labels.shape
    base = size[1] / size[0]
    log_ratio = (math.log(base * 3 / 4), math.log(base * 4 / 3))
    for _ in range(10):
        target = h * w * rng.uniform(*area)
        ratio = math.exp(rng.uniform(*log_ratio))
        cw = int(round(math.sqrt(target * ratio)))
        ch = int(round(math.sqrt(target / ratio)))
        if 0 < cw <= w and 0 < ch <= h:
            top = int(rng.integers(0, h - ch + 1))
            left = int(rng.integers(0, w - cw + 1))
            break
    else:  # centre crop of the closest allowed ratio
        ratio = w / h
        lo, hi = math.exp(log_ratio[0]), math.exp(log_ratio[1])
        if ratio < lo:
            cw, ch = w, int(round(w / lo))
        elif ratio > hi:
            ch, cw = h, int(round(h * hi))
        else:
            cw, ch = w, h
        top, left = (h - ch) // 2, (w - cw) // 2
    image = image[top:top + ch, left:left + cw]
    labels = labels[top:top + ch, left:left + cw]
    out = (size[1], size[0])
    return (cv2.resize(image, out, interpolation=cv2.INTER_CUBIC),
            cv2.resize(labels, out, interpolation=cv2.INTER_NEAREST))


def static_clip(image: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
                seq_len: int, crop_size: tuple[int, int], max_objects: int,
                smooth_warp: bool = False) -> Clip:
    """A pseudo-video from one image and its mask, as the original pre-training makes it.

    The image is mirrored with probability 0.5; each later frame is an independently
    mirrored (p = 0.3), colour-jittered and affinely warped copy (and, with ``smooth_warp``,
    bent by :func:`random_smooth_warp` too); every frame is then a random resized crop.  Up to
    ``max_objects`` objects of the first frame are kept, in random order.
    """
    if rng.random() < 0.5:
        image, labels = image[:, ::-1], labels[:, ::-1]
    frames, masks = [], []
    for index in range(seq_len):
        img, lab = np.ascontiguousarray(image), np.ascontiguousarray(labels)
        if index > 0:
            if rng.random() < 0.3:
                img, lab = np.ascontiguousarray(img[:, ::-1]), np.ascontiguousarray(lab[:, ::-1])
            img = color_jitter(img, rng)
            img, lab = random_affine(img, lab, rng)
            if smooth_warp:
                img, lab = random_smooth_warp(img, lab, rng)
        img, lab = random_resized_crop(img, lab, rng, crop_size)
        frames.append(img)
        masks.append(lab)
    present = [int(i) for i in np.unique(masks[0]) if i != 0]
    order = [present[i] for i in rng.permutation(len(present))][:max_objects]
    lut = np.zeros(256, np.uint8)
    for new_id, old_id in enumerate(order, start=1):
        lut[old_id] = new_id
    return Clip(np.stack(frames), lut[np.stack(masks)], len(order))


# ----------------------------------------------------------------------------- merging
def merge_clips(first: Clip, second: Clip, rng: np.random.Generator, max_objects: int,
                min_pixels: int = 100) -> Clip:
    """Paste the objects of ``second`` over ``first`` (frame by frame).

    Objects with more than ``min_pixels`` pixels in the merged reference frame are kept (a
    random subset of ``max_objects`` when there are more), numbered in order.
    """
    fg = second.labels > 0
    frames = np.where(fg[..., None], second.frames, first.frames)
    offset = 128
    merged = np.where(fg, second.labels.astype(np.int32) + offset, first.labels.astype(np.int32))
    counts = np.bincount(merged[0].ravel(), minlength=2 * offset)
    keep = [int(i) for i in np.nonzero(counts > min_pixels)[0] if i != 0]
    if len(keep) > max_objects:
        keep = [keep[i] for i in rng.permutation(len(keep))[:max_objects]]
    lut = np.zeros(2 * offset, np.uint8)
    for new_id, old_id in enumerate(keep, start=1):
        lut[old_id] = new_id
    return Clip(frames, lut[merged], len(keep))


def flip_clip(clip: Clip) -> Clip:
    """The clip mirrored horizontally."""
    return Clip(np.ascontiguousarray(clip.frames[:, :, ::-1]),
                np.ascontiguousarray(clip.labels[:, :, ::-1]), clip.num_objects)


def normalize_frames(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 ImageNet-normalised."""
    x = frames.astype(np.float32) / 255.0
    x -= IMAGENET_MEAN
    x /= IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
