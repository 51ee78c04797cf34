"""Training data: dataset readers, the clip stream and its step-keyed sampler.

Readers (each a *source* of clips):

* :class:`StaticImageSource` -- images with object masks (``JPEGImages/**/x.jpg`` +
  ``Annotations/**/x.png``, the layout of the original pre-training data, or ``images/`` +
  ``masks/``); every sample becomes a short clip by random affine / colour / crop transforms.
* :class:`YouTubeVOSSource` -- the YouTube-VOS ``train`` split (``JPEGImages/<video>/*.jpg``,
  ``Annotations/<video>/*.png``, optional ``meta.json``).
* :class:`DAVISSource` -- DAVIS 2017 ``train`` (``JPEGImages/480p/<seq>``,
  ``Annotations/480p/<seq>``, ``ImageSets/2017/train.txt``), or DAVIS 2016's release layout
  (``ImageSets/480p/train.txt`` listing frames; 0/255 masks), or any folder of sequences.
* :class:`FrameSource` -- every annotated frame of such a folder, each turned into a clip by
  :class:`StaticImageSource`'s transforms (the original pre-training, fed by real frames).
* :class:`SyntheticSource` -- procedural videos (:mod:`.synthetic`), no files needed.

:class:`ClipDataset` maps a *sample key* (the running number of a clip in the training stream)
to a clip (drawing the source by ``TrainConfig.dataset_weights`` when given).  Everything
random about the clip -- which video, which frames, every augmentation,
the merge partner and the identity shuffle -- is drawn from a generator seeded with
``(seed, key)``, and :class:`StepBatchSampler` gives the keys of optimiser step ``s`` to the
processes.  So the stream is the same for any number of processes or data workers, and a run
resumed at step ``s`` sees exactly the clips an uninterrupted run would.
"""
from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from .config import DataConfig, TrainConfig
from .images import DatasetError, read_image, read_labels
from .instances import InstanceClipSource
from .photos import PhotoBank, skimage_photos
from .synthetic import SyntheticSpec, render_video
from .transforms import (Clip, balanced_crop, flip_clip, merge_clips, normalize_frames,
                         random_scale, static_clip, video_clip)

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
_MIN_REF_PIXELS = 200
_FRAME_WINDOW = 1.12
"""Side of the window cut around an object of a single frame, in crop sides."""


# ----------------------------------------------------------------------------- sources
class ClipSource(Protocol):
    """Something that makes training clips."""

    name: str

    def __len__(self) -> int:
        """Samples per epoch."""
        ...

    def sample(self, index: int, rng: np.random.Generator) -> Clip:
        """The clip of sample ``index`` (0 <= index < len), drawn with ``rng``."""
        ...


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


class StaticImageSource:
    """Images with object masks, turned into clips (the ``pre`` stage).

    Layout: ``root/JPEGImages/**/<name>.<jpg|png>`` with ``root/Annotations/**/<name>.png`` in
    the same sub-folder (the original's ``Static`` folder with COCO, ECSSD, MSRA10K, PASCAL-S,
    PASCAL VOC inside), or the same with ``images/`` and ``masks/``.  Images without a mask are
    skipped with a warning.
    """

    name = "static"

    def __init__(self, root: str | Path, config: DataConfig) -> None:
        root = Path(root)
        for image_dir, mask_dir in (("JPEGImages", "Annotations"), ("images", "masks")):
            if (root / image_dir).is_dir() and (root / mask_dir).is_dir():
                break
        else:
            raise DatasetError(f"{root}: expected JPEGImages/ and Annotations/ (or images/ and "
                               "masks/) folders")
        images_root, masks_root = root / image_dir, root / mask_dir
        pairs: list[tuple[Path, Path]] = []
        missing = 0
        for image in sorted(images_root.rglob("*")):
            if image.suffix.lower() not in IMAGE_SUFFIXES or not image.is_file():
                continue
            mask = masks_root / image.relative_to(images_root).with_suffix(".png")
            if mask.is_file():
                pairs.append((image, mask))
            else:
                missing += 1
        if missing:
            logger.warning("static images: %d images without a mask skipped", missing)
        if not pairs:
            raise DatasetError(f"{root}: no image/mask pairs found")
        self.pairs = pairs
        self.config = config
        logger.info("static images: %d pairs from %s", len(pairs), root)

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, index: int, rng: np.random.Generator) -> Clip:
        image_path, mask_path = self.pairs[index]
        image, labels = read_image(image_path), read_labels(mask_path)
        if image.shape[:2] != labels.shape:
            raise DatasetError(f"{mask_path}: mask size {labels.shape[::-1]} differs from the "
                               f"image's {image.shape[1::-1]}")
        c = self.config
        return static_clip(image, labels, rng, seq_len=c.seq_len, crop_size=c.crop_size,
                           max_objects=c.max_objects)


class VideoSource:
    """Annotated videos (every listed frame has a mask), sampled as the original does.

    A clip is a reference frame with more than 200 foreground pixels followed by ``seq_len - 1``
    frames at random steps of 1..``max_gap`` (reflected at the video's ends), the video played
    backwards half of the time; up to 5 draws are made until every object of the later frames
    is in the reference frame.  Then: random scale, balanced crop, flip, pad.
    """

    def __init__(self, name: str, videos: Sequence[tuple[str, list[Path], list[Path]]],
                 config: DataConfig, max_gap: int, repeat: int) -> None:
        self.name = name
        excluded = set(config.exclude_videos)
        self.videos = [v for v in videos if len(v[1]) >= 2 and v[0] not in excluded]
        left_out = sorted(excluded & {v[0] for v in videos})
        if left_out:
            logger.info("%s: %d videos left out (data.exclude_videos): %s", name,
                        len(left_out), ", ".join(left_out))
        if not self.videos:
            raise DatasetError(f"{name}: no video with at least 2 annotated frames"
                               + (" after data.exclude_videos" if left_out else ""))
        self.config = config
        self.max_gap = max(int(max_gap), 1)
        self.repeat = max(int(repeat), 1)
        logger.info("%s: %d videos x %d", name, len(self.videos), self.repeat)

    def __len__(self) -> int:
        return len(self.videos) * self.repeat

    @property
    def distinct(self) -> int:
        """Number of different videos (merge partners are drawn among these)."""
        return len(self.videos)

    @staticmethod
    def _reflect(index: int, length: int) -> int:
        if length <= 1:
            return 0
        period = 2 * (length - 1)
        index %= period
        return index if index < length else period - index

    def sample(self, index: int, rng: np.random.Generator) -> Clip:
        _, images, masks = self.videos[index % len(self.videos)]
        c = self.config
        if c.reverse and rng.random() < 0.5:
            images, masks = images[::-1], masks[::-1]
        cache: dict[int, np.ndarray] = {}

        def labels_at(i: int) -> np.ndarray:
            if i not in cache:
                cache[i] = read_labels(masks[i])
            return cache[i]

        length = len(images)
        indices: list[int] = []
        for _ in range(5):
            gaps = rng.integers(1, self.max_gap + 1, c.seq_len - 1)
            ref = int(rng.integers(length))
            for _ in range(20):
                if int(np.count_nonzero(labels_at(ref))) > _MIN_REF_PIXELS:
                    break
                ref = int(rng.integers(length))
            indices = [ref] + [self._reflect(ref + int(g), length) for g in np.cumsum(gaps)]
            ref_ids = set(np.unique(labels_at(ref)).tolist())
            later = set().union(*(np.unique(labels_at(i)).tolist() for i in indices[1:]))
            if later <= ref_ids | {0}:
                break
        frames = [read_image(images[i]) for i in indices]
        labels = [labels_at(i) for i in indices]
        for i, (frame, label) in zip(indices, zip(frames, labels)):
            if frame.shape[:2] != label.shape:
                raise DatasetError(f"{masks[i]}: mask size differs from its frame's")
        return video_clip(frames, labels, rng, crop_size=c.crop_size, short_edge=c.short_edge,
                          min_scale=c.min_scale, max_scale=c.max_scale, flip_prob=c.flip_prob,
                          max_objects=c.max_objects, min_pixels=c.min_object_pixels)


def _video_folders(image_root: Path, label_root: Path,
                   names: Sequence[str]) -> list[tuple[str, list[Path], list[Path]]]:
    """Per video the frames that have both an image and a mask, in name order."""
    videos = []
    for name in names:
        masks = {p.stem: p for p in (label_root / name).glob("*.png")}
        images = {p.stem: p for p in _image_files(image_root / name)} \
            if (image_root / name).is_dir() else {}
        stems = sorted(set(masks) & set(images))
        videos.append((name, [images[s] for s in stems], [masks[s] for s in stems]))
    return videos


class YouTubeVOSSource(VideoSource):
    """The YouTube-VOS ``train`` split.

    ``root`` is the split folder (holding ``JPEGImages/`` and ``Annotations/``) or a folder
    above it (``train/``, ``2019/train/``, ``2018/train/``).  With ``meta.json`` the frames of
    objects annotated in at least 2 frames are used, as the original does; without it every
    frame that has a mask.
    """

    def __init__(self, root: str | Path, config: DataConfig) -> None:
        split = _find_split(Path(root))
        image_root, label_root = split / "JPEGImages", split / "Annotations"
        meta_path = split / "meta.json"
        if meta_path.is_file():
            meta = json.loads(meta_path.read_text())["videos"]
            videos = []
            for name, info in sorted(meta.items()):
                frames: set[str] = set()
                for obj in info.get("objects", {}).values():
                    if len(obj.get("frames", [])) >= 2:
                        frames.update(obj["frames"])
                stems = sorted(frames)
                videos.append((name, [image_root / name / f"{s}.jpg" for s in stems],
                               [label_root / name / f"{s}.png" for s in stems]))
        else:
            names = sorted(p.name for p in label_root.iterdir() if p.is_dir())
            videos = _video_folders(image_root, label_root, names)
        super().__init__("youtubevos", videos, config, config.ytb_max_gap, config.ytb_repeat)


def _find_split(root: Path) -> Path:
    for candidate in (root, root / "train", root / "2019" / "train", root / "2018" / "train"):
        if (candidate / "JPEGImages").is_dir() and (candidate / "Annotations").is_dir():
            return candidate
    raise DatasetError(f"{root}: no YouTube-VOS train split (JPEGImages/ and Annotations/) "
                       "found")


def davis_videos(root: str | Path, config: DataConfig,
                 ) -> list[tuple[str, list[Path], list[Path]]]:
    """The train sequences of a DAVIS-layout folder: ``(name, frames, masks)`` each.

    Sequences come from ``ImageSets/2017/train.txt`` (one name per line), else
    ``ImageSets/2016/train.txt``, else DAVIS 2016's ``ImageSets/<resolution>/train.txt`` (one
    ``/JPEGImages/.../<seq>/<frame>.jpg /Annotations/...`` pair per line), else every folder of
    ``Annotations/<resolution>/``.

    Raises:
        DatasetError: the image or annotation folder is missing.
    """
    root = Path(root)
    image_root = root / "JPEGImages" / config.davis_resolution
    label_root = root / "Annotations" / config.davis_resolution
    if not image_root.is_dir() or not label_root.is_dir():
        raise DatasetError(f"{root}: expected JPEGImages/{config.davis_resolution}/ and "
                           f"Annotations/{config.davis_resolution}/")
    names: list[str] = []
    for listing in (root / "ImageSets" / "2017" / "train.txt",
                    root / "ImageSets" / "2016" / "train.txt",
                    root / "ImageSets" / config.davis_resolution / "train.txt"):
        if listing.is_file():
            names = _sequence_names(listing.read_text())
            break
    if not names:
        names = sorted(p.name for p in label_root.iterdir() if p.is_dir())
    return _video_folders(image_root, label_root, names)


def _sequence_names(listing: str) -> list[str]:
    """Sequence names of a listing: plain names, or DAVIS 2016 frame paths (in order, once)."""
    names: dict[str, None] = {}
    for line in listing.splitlines():
        first = line.split()[0] if line.split() else ""
        if not first:
            continue
        parts = [p for p in first.split("/") if p]
        names[parts[-2] if len(parts) >= 2 else parts[0]] = None
    return list(names)


class DAVISSource(VideoSource):
    """DAVIS train videos (see :func:`davis_videos` for the layouts read)."""

    def __init__(self, root: str | Path, config: DataConfig) -> None:
        super().__init__("davis2017", davis_videos(root, config), config, config.davis_max_gap,
                         config.davis_repeat)


class FrameSource:
    """Every annotated frame of a folder of videos, each made into a clip like a static image.

    The pre-training idea of the original (one image and its mask warped, cropped and
    recoloured into a pseudo-video, :func:`.transforms.static_clip`, here with smooth
    non-rigid warps on top of the affine ones), fed by real video frames.
    Frames whose mask is empty are replaced by the next frame of the stream that has an object.
    """

    name = "davis_frames"

    def __init__(self, videos: Sequence[tuple[str, list[Path], list[Path]]],
                 config: DataConfig) -> None:
        excluded = set(config.exclude_videos)
        self.pairs = [(image, mask) for name, images, masks in videos if name not in excluded
                      for image, mask in zip(images, masks)]
        if not self.pairs:
            raise DatasetError(f"{self.name}: no annotated frames"
                               + (" after data.exclude_videos" if excluded else ""))
        self.config = config
        logger.info("%s: %d annotated frames", self.name, len(self.pairs))

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, index: int, rng: np.random.Generator) -> Clip:
        c = self.config
        for attempt in range(len(self.pairs)):
            image_path, mask_path = self.pairs[(index + attempt) % len(self.pairs)]
            labels = read_labels(mask_path)
            if int(np.count_nonzero(labels)) > c.min_object_pixels:
                break
        image = read_image(image_path)
        if image.shape[:2] != labels.shape:
            raise DatasetError(f"{mask_path}: mask size {labels.shape[::-1]} differs from the "
                               f"image's {image.shape[1::-1]}")
        # the video clips' scale: random scale of the short edge, then a window around an
        # object a little larger than the crop (static_clip keeps 80-100% of its area)
        frames, masks = random_scale([image], [labels], rng, c.min_scale, c.max_scale,
                                     c.short_edge)
        window = (int(c.crop_size[0] * _FRAME_WINDOW), int(c.crop_size[1] * _FRAME_WINDOW))
        frames, masks, _ = balanced_crop(frames, masks, rng, window, c.max_objects,
                                         c.min_object_pixels)
        return static_clip(frames[0], masks[0], rng, seq_len=c.seq_len,
                           crop_size=c.crop_size, max_objects=c.max_objects, smooth_warp=True)


class SyntheticSource:
    """Procedural videos (:func:`aotvideo.training.synthetic.render_video`).

    With ``config.synthetic_videos = N > 0`` there are N fixed videos (video ``i`` is drawn from
    ``(seed, i)``; flips and merges still vary per sample); with 0 every sample is a new video
    and an epoch counts 10000 samples.
    """

    name = "synthetic"
    EPOCH = 10_000

    def __init__(self, config: DataConfig, seed: int, spec: SyntheticSpec | None = None) -> None:
        self.config = config
        self.seed = seed
        low, high = config.synthetic_objects
        self.spec = spec or SyntheticSpec(min_objects=max(low, 1),
                                          max_objects=min(max(high, low, 1), config.max_objects),
                                          min_pixels=config.min_object_pixels)
        self.photos = photo_bank(config.synthetic_photos)

    def __len__(self) -> int:
        return self.config.synthetic_videos or self.EPOCH

    def sample(self, index: int, rng: np.random.Generator) -> Clip:
        c = self.config
        video_rng = np.random.default_rng([self.seed, 0x5EED, index]) if c.synthetic_videos \
            else rng
        frames, labels = render_video(video_rng, c.seq_len, c.crop_size, self.spec, self.photos)
        clip = Clip(frames, labels, int(labels[0].max(initial=0)))
        if rng.random() < c.flip_prob:
            clip = flip_clip(clip)
        return clip


def photo_bank(source: str) -> PhotoBank | None:
    """The photographs named by ``DataConfig.synthetic_photos`` (None for ``"none"``).

    Raises:
        DatasetError: scikit-image is missing, or the folder has no readable images.
    """
    if source == "none":
        return None
    try:
        if source == "skimage":
            return skimage_photos()
        return PhotoBank.from_folder(source)
    except (OSError, RuntimeError, ValueError) as error:
        raise DatasetError(f"synthetic_photos={source!r}: {error}") from error


def build_sources(config: TrainConfig) -> list[ClipSource]:
    """The sources of ``config.datasets``.

    Raises:
        DatasetError: a dataset's folder is not configured or unusable.
    """
    data = config.data
    sources: list[ClipSource] = []
    for name in config.datasets:
        if name == "static":
            sources.append(StaticImageSource(_need(data.static_root, "static", "static_root"),
                                             data))
        elif name == "youtubevos":
            sources.append(YouTubeVOSSource(_need(data.ytb_root, "youtubevos", "ytb_root"), data))
        elif name == "davis2017":
            sources.append(DAVISSource(_need(data.davis_root, "davis2017", "davis_root"), data))
        elif name == "davis_frames":
            root = _need(data.davis_root, "davis_frames", "davis_root")
            sources.append(FrameSource(davis_videos(root, data), data))
        elif name == "synthetic":
            sources.append(SyntheticSource(data, config.seed))
        elif name == "instances":
            sources.append(InstanceClipSource(data))
        else:
            raise DatasetError(f"unknown dataset {name!r}")
    return sources


def _need(root: str | None, dataset: str, option: str) -> str:
    if not root:
        raise DatasetError(f"the {dataset} dataset needs a folder: set data.{option}")
    return root


# ----------------------------------------------------------------------------- the clip stream
class ClipDataset(Dataset):
    """Training clips keyed by their running number in the training stream.

    Key ``k`` falls in epoch ``k // len(self)``; each epoch visits every sample of every source
    once, in an order shuffled by ``(seed, epoch)``.  The item is a dict of tensors:
    ``frames`` (T, 3, H, W) float32 normalised, ``labels`` (T, H, W) int64,
    ``num_objects`` (), ``id_perm`` (max_objects + 1,) int64 (identity slot of each object
    id, 0 fixed) and ``key``.
    """

    def __init__(self, sources: Sequence[ClipSource], config: DataConfig, seed: int,
                 id_shuffle: bool = True, weights: Sequence[float] = ()) -> None:
        if not sources:
            raise DatasetError("no training data sources")
        self.sources = list(sources)
        self.config = config
        self.seed = int(seed)
        self.id_shuffle = id_shuffle
        self.weights = source_shares(weights, len(self.sources))
        self.offsets = np.cumsum([0] + [len(s) for s in self.sources]).tolist()
        self._epoch = -1
        self._order: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def locate(self, key: int) -> tuple[ClipSource, int]:
        """The source of sample ``key`` and the index of its sample there."""
        if self.weights is not None:
            return self._draw(key, self.weights)
        epoch, position = divmod(int(key), len(self))
        if epoch != self._epoch or self._order is None:
            self._order = np.random.default_rng([self.seed, epoch, 0xE90C]).permutation(len(self))
            self._epoch = epoch
        index = int(self._order[position])
        which = bisect.bisect_right(self.offsets, index) - 1
        return self.sources[which], index - int(self.offsets[which])

    def _draw(self, key: int, weights: np.ndarray) -> tuple[ClipSource, int]:
        """Source of ``key`` drawn by ``weights``, then one of its samples, uniformly."""
        rng = np.random.default_rng([self.seed, int(key), 0x313C])
        source = self.sources[int(rng.choice(len(self.sources), p=weights))]
        return source, int(rng.integers(len(source)))

    def clip(self, key: int) -> Clip:
        """The augmented (and possibly merged) clip of ``key``, before normalisation."""
        rng = np.random.default_rng([self.seed, int(key)])
        source, index = self.locate(key)
        clip = source.sample(index, rng)
        c = self.config
        distinct = int(getattr(source, "distinct", len(source)))
        if distinct > 1 and (clip.num_objects == 0 or rng.random() < c.merge_prob):
            other = int(rng.integers(distinct - 1))
            other += other >= index % distinct
            clip = merge_clips(clip, source.sample(other, rng), rng, c.max_objects,
                               c.min_object_pixels)
        return clip

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        clip = self.clip(key)
        slots = self.config.max_objects
        perm = np.arange(slots + 1)
        if self.id_shuffle:
            rng = np.random.default_rng([self.seed, int(key), 0x1D])
            perm[1:] = rng.permutation(slots) + 1
        return {
            "frames": torch.from_numpy(normalize_frames(clip.frames)),
            "labels": torch.from_numpy(clip.labels.astype(np.int64)),
            "num_objects": torch.tensor(clip.num_objects, dtype=torch.int64),
            "id_perm": torch.from_numpy(perm.astype(np.int64)),
            "key": torch.tensor(int(key), dtype=torch.int64),
        }


def source_shares(weights: Sequence[float], sources: int) -> np.ndarray | None:
    """``weights`` normalised to sum 1 (None when empty: sources count by their size).

    Raises:
        DatasetError: wrong number of weights, a negative weight, or all zero.
    """
    if not weights:
        return None
    values = np.asarray([float(w) for w in weights], np.float64)
    if len(values) != sources:
        raise DatasetError(f"dataset_weights has {len(values)} values for {sources} datasets")
    if (values < 0).any() or not np.isfinite(values).all() or values.sum() <= 0:
        raise DatasetError(f"dataset_weights must be non-negative with a positive sum, got "
                           f"{tuple(weights)}")
    return values / values.sum()


class StepBatchSampler(Sampler[list[int]]):
    """Sample keys of the micro-batches of one process, from ``start_step`` on, forever.

    Optimiser step ``s`` uses the keys ``s * B .. s * B + B - 1`` (``B`` the global batch);
    accumulation step ``a`` of process ``r`` gets the ``micro`` keys starting at
    ``s * B + (a * world + r) * micro``.
    """

    def __init__(self, start_step: int, micro_batch: int, world_size: int = 1, rank: int = 0,
                 accumulation: int = 1) -> None:
        self.start_step = start_step
        self.micro = micro_batch
        self.world = world_size
        self.rank = rank
        self.accumulation = accumulation

    def __iter__(self) -> Iterator[list[int]]:
        step = self.start_step
        batch = self.micro * self.world * self.accumulation
        while True:
            for a in range(self.accumulation):
                first = step * batch + (a * self.world + self.rank) * self.micro
                yield list(range(first, first + self.micro))
            step += 1

    def __len__(self) -> int:  # pragma: no cover - infinite; DataLoader only asks for info
        return 2 ** 62
