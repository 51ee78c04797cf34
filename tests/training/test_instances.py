"""Still images animated into multi-object clips: independent motion, crossings, twins."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from aotvideo.io.masks import write_palette_png
from aotvideo.training.config import DataConfig
from aotvideo.training.datasets import DatasetError, build_sources
from aotvideo.training.config import stage_config
from aotvideo.training.instances import (InstanceClipSource, InstanceMotion, animate_instances,
                                         static_pairs)


def _picture(seed: int, objects: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """A textured picture with ``objects`` discs of one colour (same-kind instances)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    labels = np.zeros((120, 160), np.uint8)
    for k in range(objects):
        centre = (30 + 45 * k, 60)
        cv2.circle(image, centre, 18, (200, 40, 40), -1)
        cv2.circle(labels, centre, 18, k + 1, -1)
    return image, labels


def _centroids(labels: np.ndarray, count: int) -> np.ndarray:
    return np.array([np.argwhere(labels == k).mean(0) for k in range(1, count + 1)])


def test_instances_move_independently_and_stay_labelled():
    image, labels = _picture(0)
    background, _ = _picture(1, objects=0)
    motion = InstanceMotion(min_objects=3, max_objects=3, twin_prob=0.0, depth_swap_prob=0.0)
    clip = animate_instances(image, labels, background, np.random.default_rng(3), frames=8,
                             size=(90, 160), motion=motion)
    assert clip.frames.shape == (8, 90, 160, 3) and clip.labels.shape == (8, 90, 160)
    assert clip.num_objects == 3
    assert set(np.unique(clip.labels[0])) == {0, 1, 2, 3}
    moves = _centroids(clip.labels[-1], 3) - _centroids(clip.labels[0], 3)
    # each object has its own path: the displacements are not one shared translation
    assert np.linalg.norm(moves, axis=1).max() > 10
    assert np.ptp(moves, axis=0).max() > 5
    # pixels of an object show the object (its red), not the background
    red = clip.frames[0][clip.labels[0] == 1]
    assert red[:, 0].mean() > 150 and red[:, 1].mean() < 90


def test_same_seed_same_clip_and_twins_are_separate_objects():
    image, labels = _picture(0, objects=1)
    background, _ = _picture(1, objects=0)
    motion = InstanceMotion(min_objects=2, max_objects=2, twin_prob=1.0)
    first = animate_instances(image, labels, background, np.random.default_rng(5), frames=4,
                              size=(90, 160), motion=motion)
    again = animate_instances(image, labels, background, np.random.default_rng(5), frames=4,
                              size=(90, 160), motion=motion)
    assert np.array_equal(first.frames, again.frames)
    assert np.array_equal(first.labels, again.labels)
    assert first.num_objects == 2  # the instance and its mirrored twin


def test_crossing_paths_swap_sides():
    """With crossings certain, two objects that start apart end near each other's start."""
    image, labels = _picture(2, objects=2)
    background, _ = _picture(3, objects=0)
    motion = InstanceMotion(min_objects=2, max_objects=2, twin_prob=0.0, cross_prob=1.0,
                            depth_swap_prob=0.0, scale=(1.0, 1.0), rotation=0.0)
    swapped = 0
    for seed in range(6):
        clip = animate_instances(image, labels, background, np.random.default_rng(seed),
                                 frames=6, size=(90, 160), motion=motion)
        start, end = _centroids(clip.labels[0], 2), _centroids(clip.labels[-1], 2)
        if np.sign(start[0, 1] - start[1, 1]) != np.sign(end[0, 1] - end[1, 1]):
            swapped += 1
    assert swapped >= 3  # a random permutation of two crosses when it is not the identity


def _image_set(root, count: int, objects: int) -> None:
    (root / "JPEGImages").mkdir(parents=True)
    (root / "Annotations").mkdir()
    names = []
    for i in range(count):
        image, labels = _picture(i, objects)
        name = f"img{i:02d}"
        cv2.imwrite(str(root / "JPEGImages" / f"{name}.jpg"), image[:, :, ::-1])
        write_palette_png(root / "Annotations" / f"{name}.png", labels)
        names.append(name)
    (root / "list.txt").write_text("\n".join(names) + "\n")


def test_source_reads_sets_and_keeps_held_out_images_out(tmp_path):
    _image_set(tmp_path / "many", 4, objects=3)
    _image_set(tmp_path / "one", 6, objects=1)
    held_out = ("img00", "img01")
    assert [p[0].stem for p in static_pairs(tmp_path / "many", held_out)] == ["img02", "img03"]
    config = DataConfig(crop_size=(64, 64), seq_len=3,
                        instance_roots=(str(tmp_path / "many"), str(tmp_path / "one")),
                        exclude_images=held_out)
    source = InstanceClipSource(config)
    assert len(source) == 2 + 4
    clip = source.sample(0, np.random.default_rng(0))
    assert clip.frames.shape == (3, 64, 64, 3) and 1 <= clip.num_objects <= 6
    train = stage_config("real", "deaott", datasets=("instances",),
                         data={"instance_roots": (str(tmp_path / "one"),)})
    assert [s.name for s in build_sources(train)] == ["instances"]
    with pytest.raises(DatasetError, match="instance_roots"):
        InstanceClipSource(DataConfig())
    with pytest.raises(DatasetError, match="no JPEGImages"):
        static_pairs(tmp_path / "one", tuple(f"img{i:02d}" for i in range(6)))
