"""Helpers of the training tests: tiny configurations and datasets written inside each test."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from aotvideo.training import TrainConfig, stage_config
from aotvideo.training.synthetic import render_video

REPO = Path(__file__).resolve().parents[2]
CROP = (97, 97)


def tiny_config(stage: str, output: Path, *, model: str = "deaott",
                data: dict[str, Any] | None = None, **overrides: Any) -> TrainConfig:
    """The real recipe of ``stage`` for ``model``, shrunk to a few CPU seconds."""
    data_fields: dict[str, Any] = {"crop_size": CROP, "seq_len": 3, "workers": 0,
                                   "short_edge": 100}
    data_fields.update(data or {})
    fields: dict[str, Any] = {"total_steps": 2, "batch_size": 1, "amp": False,
                              "tensorboard": False, "log_every": 1, "save_every": 2}
    fields.update(overrides)
    return stage_config(stage, model, output=str(output), data=data_fields, **fields)


def write_palette_png(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    palette = np.zeros((256, 3), np.uint8)
    palette[1:8] = [[128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128], [128, 0, 128],
                    [0, 128, 128], [128, 128, 128]]
    image.putpalette(palette.ravel().tolist())
    image.save(path)


def write_jpeg(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, 95])


def make_static_dataset(root: Path, count: int = 3, size: tuple[int, int] = (90, 120)) -> Path:
    """``root/JPEGImages/<set>/*.jpg`` + ``root/Annotations/<set>/*.png`` (palette and 0/255
    grayscale masks, as the original pre-training sets ship them)."""
    for index in range(count):
        frames, labels = render_video(np.random.default_rng(100 + index), 1, size)
        subset = "COCO" if index % 2 == 0 else "MSRA10K"
        write_jpeg(root / "JPEGImages" / subset / f"img{index:03d}.jpg", frames[0])
        mask_path = root / "Annotations" / subset / f"img{index:03d}.png"
        if subset == "COCO":
            write_palette_png(mask_path, labels[0])
        else:
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(mask_path), ((labels[0] > 0) * 255).astype(np.uint8))
    return root


def make_video_dataset(root: Path, videos: int = 2, frames: int = 6,
                       size: tuple[int, int] = (90, 120), layout: str = "youtubevos") -> Path:
    """Tiny YouTube-VOS (``train/JPEGImages/<vid>``, ``meta.json``) or DAVIS
    (``JPEGImages/480p/<seq>``, ``ImageSets/2017/train.txt``) folders."""
    meta: dict[str, Any] = {"videos": {}}
    names = []
    for index in range(videos):
        name = f"video{index}"
        names.append(name)
        clip, labels = render_video(np.random.default_rng(200 + index), frames, size)
        if layout == "youtubevos":
            image_dir = root / "train" / "JPEGImages" / name
            label_dir = root / "train" / "Annotations" / name
        else:
            image_dir = root / "JPEGImages" / "480p" / name
            label_dir = root / "Annotations" / "480p" / name
        stems = [f"{5 * t:05d}" for t in range(frames)]
        for stem, frame, label in zip(stems, clip, labels):
            write_jpeg(image_dir / f"{stem}.jpg", frame)
            write_palette_png(label_dir / f"{stem}.png", label)
        ids = sorted(int(i) for i in np.unique(labels) if i)
        meta["videos"][name] = {"objects": {str(i): {"category": "thing", "frames": stems}
                                            for i in ids}}
    if layout == "youtubevos":
        (root / "train" / "meta.json").write_text(json.dumps(meta))
    else:
        sets = root / "ImageSets" / "2017"
        sets.mkdir(parents=True, exist_ok=True)
        (sets / "train.txt").write_text("\n".join(names) + "\n")
    return root
