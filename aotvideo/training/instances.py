"""Still images with instance masks animated into multi-object clips.

The seed's static stage warps a whole picture, so the objects in it move together and never
swap places.  Real scenes with several objects are harder: the objects are often of the same
kind (a group of people, a herd), move independently, cross and pass in front of each other.
:func:`animate_instances` makes such clips from one annotated still image:

* each selected instance is cut out of its picture and moves on its own path over a
  background picture (another image of the set, its own objects left in place as unlabelled
  distractors), the camera panning slowly;
* the paths end at the *permuted* start positions of the other objects, so objects cross;
  their depth order may swap mid-clip, so they occlude each other in turn;
* with ``motion.twin_prob`` an instance gets a mirrored twin as a separate object: the hardest
  identity case (two objects that look the same);
* each object scales, rotates and changes colour slightly over the clip.

The same function feeds training (:class:`InstanceClipSource`, short clips with large steps)
and the project's multi-object validation (long clips, ``samples/evaluate_multi_object.py``),
from disjoint images (:data:`aotvideo.training.holdout.STATIC_HOLDOUT`).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .config import DataConfig
from .images import DatasetError, read_image, read_labels
from .transforms import Clip, color_jitter

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InstanceMotion:
    """How instances move in an animated clip.

    Attributes:
        min_objects / max_objects: tracked objects per clip (instances, twins included).
        min_pixels: instances smaller than this in the source picture are not used.
        travel: how far objects travel over the whole clip, as a fraction of the canvas width
            (a range; each object draws its own).
        cross_prob: probability that an object heads for another object's start position.
        twin_prob: probability of adding a mirrored copy of an instance as a new object.
        depth_swap_prob: probability that two objects swap depth order mid-clip.
        scale: (low, high) range of each object's relative size change over the clip.
        rotation: largest rotation of an object over the clip, degrees.
        object_scale: (low, high) size of the objects relative to the canvas (their picture's
            scale is drawn so the largest selected instance has this fraction of the canvas's
            short side as its height).
        pan: largest camera pan over the clip, as a fraction of the canvas.
    """

    min_objects: int = 2
    max_objects: int = 6
    min_pixels: int = 400
    travel: tuple[float, float] = (0.15, 0.6)
    cross_prob: float = 0.7
    twin_prob: float = 0.35
    depth_swap_prob: float = 0.4
    scale: tuple[float, float] = (0.8, 1.25)
    rotation: float = 15.0
    object_scale: tuple[float, float] = (0.3, 0.7)
    pan: float = 0.1


@dataclass(frozen=True)
class _Sprite:
    """One object cut out of its picture: RGB patch (h, w, 3) and alpha (h, w) float32."""

    rgb: np.ndarray
    alpha: np.ndarray


def _cut_out(image: np.ndarray, mask: np.ndarray, mirror: bool) -> _Sprite:
    ys, xs = np.nonzero(mask)
    top, bottom, left, right = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgb = image[top:bottom, left:right]
    alpha = mask[top:bottom, left:right].astype(np.float32)
    if mirror:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    return _Sprite(np.ascontiguousarray(rgb), np.ascontiguousarray(alpha))


def _instances(labels: np.ndarray, min_pixels: int) -> list[int]:
    """Ids of the instances with at least ``min_pixels`` pixels, largest first."""
    counts = np.bincount(labels.ravel())
    return [int(i) for i in np.argsort(-counts) if i != 0 and counts[i] >= min_pixels]


def _background(picture: np.ndarray, size: tuple[int, int], frames: int, pan: float,
                rng: np.random.Generator) -> list[np.ndarray]:
    """``frames`` views of ``picture`` panning over a canvas of ``size`` (height, width)."""
    height, width = size
    margin = 1.0 + 2 * pan
    factor = max(height * margin / picture.shape[0], width * margin / picture.shape[1])
    big = cv2.resize(picture, (math.ceil(picture.shape[1] * factor) + 1,
                               math.ceil(picture.shape[0] * factor) + 1),
                     interpolation=cv2.INTER_LINEAR)
    room_y, room_x = big.shape[0] - height, big.shape[1] - width
    start = rng.uniform(0, 1, 2) * (room_y, room_x)
    end = rng.uniform(0, 1, 2) * (room_y, room_x)
    views = []
    for t in np.linspace(0.0, 1.0, frames):
        y, x = (start + (end - start) * t).astype(int)
        views.append(big[y:y + height, x:x + width])
    return views


def _paths(count: int, size: tuple[int, int], motion: InstanceMotion,
           starts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """End positions (count, 2) as (x, y): another object's start (a crossing) or a random
    direction and distance."""
    height, width = size
    ends = np.empty_like(starts)
    order = rng.permutation(count)
    for i in range(count):
        j = int(order[i])
        if j != i and rng.random() < motion.cross_prob:
            ends[i] = starts[j] + rng.normal(0, 0.03, 2) * (width, height)
        else:
            angle = rng.uniform(0, 2 * math.pi)
            distance = rng.uniform(*motion.travel) * width
            ends[i] = starts[i] + distance * np.array([math.cos(angle), math.sin(angle)])
    ends[:, 0] = np.clip(ends[:, 0], 0.05 * width, 0.95 * width)
    ends[:, 1] = np.clip(ends[:, 1], 0.05 * height, 0.95 * height)
    return ends


def animate_instances(image: np.ndarray, labels: np.ndarray, background: np.ndarray,
                      rng: np.random.Generator, *, frames: int, size: tuple[int, int],
                      motion: InstanceMotion = InstanceMotion()) -> Clip:
    """A clip of ``frames`` frames of ``size`` (height, width) in which instances of ``image``
    move independently over ``background``.

    Args:
        image: (H, W, 3) uint8 RGB picture.
        labels: (H, W) uint8 instance ids of ``image`` (0 background).
        background: (H', W', 3) uint8 RGB picture the objects move over.
        rng: all randomness.
        frames: clip length.
        size: (height, width) of the clip.
        motion: how objects move.

    Returns:
        A :class:`Clip` with objects numbered 1..N in random order (N may be 0 when the picture
        has no instance of ``motion.min_pixels``); every object is visible in frame 0.
    """
    height, width = size
    ids = _instances(labels, motion.min_pixels)
    wanted = int(rng.integers(motion.min_objects, motion.max_objects + 1))
    sprites: list[_Sprite] = []
    starts: list[tuple[float, float]] = []
    for object_id in ids:
        if len(sprites) >= max(1, wanted):
            break
        mask = labels == object_id
        ys, xs = np.nonzero(mask)
        sprites.append(_cut_out(image, mask, mirror=False))
        starts.append(((xs.min() + xs.max()) / 2 / labels.shape[1],
                       (ys.min() + ys.max()) / 2 / labels.shape[0]))
        if len(sprites) < wanted and rng.random() < motion.twin_prob:
            sprites.append(_cut_out(image, mask, mirror=True))
            starts.append((1.0 - starts[-1][0], starts[-1][1]))
    if not sprites:
        return Clip(np.stack(_background(background, size, frames, motion.pan, rng)),
                    np.zeros((frames, height, width), np.uint8), 0)
    # one scale for the picture: the tallest object gets object_scale x the canvas height
    tallest = max(s.alpha.shape[0] for s in sprites)
    picture_scale = rng.uniform(*motion.object_scale) * height / tallest
    start_xy = np.array(starts) * (width, height)
    start_xy += rng.normal(0, 0.05, start_xy.shape) * (width, height)
    start_xy[:, 0] = np.clip(start_xy[:, 0], 0.1 * width, 0.9 * width)
    start_xy[:, 1] = np.clip(start_xy[:, 1], 0.15 * height, 0.85 * height)
    end_xy = _paths(len(sprites), size, motion, start_xy, rng)
    bend = rng.normal(0, 0.08, (len(sprites), 2)) * (width, height)
    scale_end = rng.uniform(*motion.scale, len(sprites))
    turn = rng.uniform(-motion.rotation, motion.rotation, len(sprites))
    depth = rng.permutation(len(sprites)).astype(float)
    swap_at = frames // 2 if rng.random() < motion.depth_swap_prob and len(sprites) > 1 else None
    swap_pair = rng.choice(len(sprites), 2, replace=False) if swap_at is not None else None
    views = _background(background, size, frames, motion.pan, rng)

    out_frames = np.empty((frames, height, width, 3), np.uint8)
    out_labels = np.zeros((frames, height, width), np.uint8)
    # sprite k (drawn on top at a pixel; -1 none) -> its object number, in random order
    numbers = np.array([0] + list(rng.permutation(len(sprites)) + 1), np.uint8)
    for t in range(frames):
        f = t / max(frames - 1, 1)
        ease = f * f * (3 - 2 * f)
        if swap_at is not None and t == swap_at:
            a, b = swap_pair
            depth[a], depth[b] = depth[b], depth[a]
        canvas = views[t].astype(np.float32)
        top = np.full((height, width), -1, np.int32)
        for k in np.argsort(depth):  # back to front
            sprite = sprites[k]
            centre = start_xy[k] + (end_xy[k] - start_xy[k]) * ease + bend[k] * math.sin(
                math.pi * f)
            scale = picture_scale * (1 + (scale_end[k] - 1) * f)
            angle = turn[k] * f
            ph, pw = sprite.alpha.shape
            matrix = cv2.getRotationMatrix2D(((pw - 1) / 2, (ph - 1) / 2), angle, scale)
            matrix[:, 2] += centre - ((pw - 1) / 2, (ph - 1) / 2)
            rgb = cv2.warpAffine(sprite.rgb, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT)
            alpha = cv2.warpAffine(sprite.alpha, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT)
            alpha = cv2.GaussianBlur(alpha, (3, 3), 0)[..., None]
            canvas = canvas * (1 - alpha) + rgb.astype(np.float32) * alpha
            top[alpha[..., 0] >= 0.5] = k
        out_frames[t] = color_jitter(np.clip(canvas + 0.5, 0, 255).astype(np.uint8), rng,
                                     0.05, 0.05, 0.05, 0.01)
        out_labels[t] = numbers[top + 1]
    present = [i for i in range(1, len(sprites) + 1) if np.any(out_labels[0] == i)]
    if len(present) < len(sprites):  # an object hidden at the start is not a target
        lut = np.zeros(256, np.uint8)
        for new_id, old_id in enumerate(present, start=1):
            lut[old_id] = new_id
        out_labels = lut[out_labels]
    return Clip(out_frames, out_labels, len(present))


# ----------------------------------------------------------------------------- the source
def static_pairs(root: str | Path, exclude: tuple[str, ...] = ()) -> list[tuple[Path, Path]]:
    """(image, mask) pairs of a still-image set laid out as ``root/JPEGImages/<name>.jpg`` and
    ``root/Annotations/<name>.png`` (names from ``root/list.txt`` when present), without the
    names in ``exclude``.

    Raises:
        DatasetError: no pairs.
    """
    root = Path(root)
    listing = root / "list.txt"
    if listing.is_file():
        names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.stem for p in (root / "JPEGImages").glob("*.jpg"))
    skip = set(exclude)
    pairs = [(root / "JPEGImages" / f"{n}.jpg", root / "Annotations" / f"{n}.png")
             for n in names if n not in skip]
    pairs = [(i, m) for i, m in pairs if i.is_file() and m.is_file()]
    if not pairs:
        raise DatasetError(f"{root}: no JPEGImages/<name>.jpg with Annotations/<name>.png")
    return pairs


class InstanceClipSource:
    """Training clips of independently moving instances (:func:`animate_instances`) from
    still-image sets (``data.instance_roots``: folders with ``JPEGImages/``, ``Annotations/``
    and ``list.txt``), without the images of ``data.exclude_images``.

    Each sample animates the instances of one image over another image of the sets, with
    frames spaced like the video sources' largest steps (objects travel about a third of the
    crop in a 5-frame clip).  The sets count equally, whatever their size (a sample's index
    picks an image of the set it falls in, by its position there), so the few many-instance
    COCO pictures are not drowned by a thousand one-object ECSSD ones.
    """

    name = "instances"

    def __init__(self, config: DataConfig) -> None:
        if not config.instance_roots:
            raise DatasetError("the instances dataset needs folders: set data.instance_roots")
        self.sets = [static_pairs(root, config.exclude_images) for root in config.instance_roots]
        self.pairs = [pair for pairs in self.sets for pair in pairs]
        self.config = config
        self.motion = InstanceMotion(min_objects=1, max_objects=min(6, config.max_objects),
                                     min_pixels=max(config.min_object_pixels, 200),
                                     travel=(0.1, 0.45), object_scale=(0.25, 0.6))
        logger.info("instances: %d images", len(self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, index: int, rng: np.random.Generator) -> Clip:
        pairs = self.sets[int(rng.integers(len(self.sets)))]
        image_path, mask_path = pairs[int(index * len(pairs) // len(self.pairs))]
        image, labels = read_image(image_path), read_labels(mask_path)
        if image.shape[:2] != labels.shape:
            raise DatasetError(f"{mask_path}: mask size {labels.shape[::-1]} differs from the "
                               f"image's {image.shape[1::-1]}")
        other = self.pairs[int(rng.integers(len(self.pairs)))][0]
        c = self.config
        return animate_instances(image, labels, read_image(other), rng, frames=c.seq_len,
                                 size=c.crop_size, motion=self.motion)
