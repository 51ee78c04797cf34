"""Real-footage training streams: the DAVIS 2016 release layout, held-out videos, single
frames as pseudo-clips, mixing ratios, and the awkward cases of real annotations (empty masks,
objects that leave and come back, tiny objects)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

import aotvideo
from aotvideo.training import stage_config
from aotvideo.cli.train import train_group
from aotvideo.training.config import apply_overrides
from aotvideo.training.datasets import (ClipDataset, DAVISSource, DatasetError, FrameSource,
                                        build_sources, davis_videos, source_shares)
from aotvideo.training.holdout import DAVIS2016_HOLDOUT
from tests.conftest import SHARED_DATASETS, require_shared

from train_helpers import CROP, tiny_config, write_jpeg

SIZE = (96, 160)  # (height, width) of the test videos
FRAMES = 12


def _frame(rng: np.random.Generator, t: int) -> np.ndarray:
    """A textured frame whose texture drifts with ``t`` (so frames differ)."""
    base = rng.integers(0, 255, (SIZE[0] // 8, SIZE[1] // 8, 3), dtype=np.uint8)
    image = cv2.resize(base, SIZE[::-1], interpolation=cv2.INTER_CUBIC)
    return np.roll(image, t, axis=1)


def _box(mask: np.ndarray, top: int, left: int, h: int, w: int) -> None:
    mask[max(top, 0):max(top + h, 0), max(left, 0):max(left + w, 0)] = 255


def _masks(kind: str) -> list[np.ndarray]:
    """0/255 masks (DAVIS 2016 style) of a ``FRAMES``-frame video of one ``kind``."""
    masks = []
    for t in range(FRAMES):
        mask = np.zeros(SIZE, np.uint8)
        if kind == "plain":
            _box(mask, 30, 20 + 4 * t, 36, 40)
        elif kind == "leaves":  # in view, out of the picture for frames 4-7, back
            if not 4 <= t <= 7:
                _box(mask, 30, 30 + 3 * (t % 4), 30, 40)
        elif kind == "empty":  # annotated, but the object only shows in frames 9-11
            if t >= 9:
                _box(mask, 40, 60, 30, 30)
        elif kind == "tiny":  # 5 x 5 = 25 pixels: below min_object_pixels at any scale
            _box(mask, 50, 50 + t, 5, 5)
        masks.append(mask)
    return masks


def make_davis2016(root: Path, kinds: dict[str, str]) -> Path:
    """The DAVIS 2016 release layout: JPEG frames, 0/255 grayscale masks and
    ``ImageSets/480p/train.txt`` listing frame pairs."""
    lines = []
    for index, (name, kind) in enumerate(kinds.items()):
        rng = np.random.default_rng(index)
        for t, mask in enumerate(_masks(kind)):
            stem = f"{t:05d}"
            write_jpeg(root / "JPEGImages" / "480p" / name / f"{stem}.jpg", _frame(rng, t))
            mask_path = root / "Annotations" / "480p" / name / f"{stem}.png"
            mask_path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(mask_path), mask)
            lines.append(f"/JPEGImages/480p/{name}/{stem}.jpg "
                         f"/Annotations/480p/{name}/{stem}.png")
    listing = root / "ImageSets" / "480p" / "train.txt"
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("\n".join(lines) + "\n")
    return root


KINDS = {"walk": "plain", "exit": "leaves", "late": "empty", "speck": "tiny", "held": "plain"}


@pytest.fixture(scope="module")
def davis16(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_davis2016(tmp_path_factory.mktemp("davis16"), KINDS)


def _config(tmp_path: Path, root: Path, stage: str = "real", **data: object):
    fields = {"davis_root": str(root), "min_object_pixels": 50, "synthetic_photos": "none"}
    fields.update(data)
    return tiny_config(stage, tmp_path / "run", data=fields)


def test_davis2016_layout_is_read_in_listing_order(davis16: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, davis16)
    videos = davis_videos(davis16, config.data)
    assert [name for name, _, _ in videos] == list(KINDS)
    assert all(len(images) == len(masks) == FRAMES for _, images, masks in videos)


def test_held_out_videos_are_never_sampled(davis16: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, davis16, exclude_videos=("held", "speck"))
    source = DAVISSource(davis16, config.data)
    assert sorted(name for name, _, _ in source.videos) == ["exit", "late", "walk"]
    frames = FrameSource(davis_videos(davis16, config.data), config.data)
    assert all("held" not in str(image) and "speck" not in str(image)
               for image, _ in frames.pairs)
    assert len(frames) == 3 * FRAMES
    with pytest.raises(DatasetError, match="exclude_videos"):
        DAVISSource(davis16, _config(tmp_path, davis16, exclude_videos=tuple(KINDS)).data)


def test_the_holdout_list_names_real_davis2016_train_sequences() -> None:
    shared = require_shared(SHARED_DATASETS / "davis2016-train", "to check the held-out names")
    present = {p.name for p in (shared / "Annotations" / "480p").iterdir()}
    assert set(DAVIS2016_HOLDOUT) <= present and len(DAVIS2016_HOLDOUT) == 6


def test_objects_that_leave_and_come_back(davis16: Path, tmp_path: Path) -> None:
    """Clips of a video whose object is out of the picture for a while: the reference frame
    always shows it; later frames may not, and then their labels are all background."""
    config = _config(tmp_path, davis16, davis_max_gap=3, seq_len=5, flip_prob=0.0,
                     min_scale=1.0, max_scale=1.0)
    source = DAVISSource(davis16, config.data)
    exit_index = [name for name, _, _ in source.videos].index("exit")
    absent_later = 0
    for seed in range(30):
        clip = source.sample(exit_index, np.random.default_rng(seed))
        assert clip.frames.shape == (5, *CROP, 3) and clip.labels.shape == (5, *CROP)
        assert clip.num_objects == 1 and (clip.labels[0] == 1).sum() > 50
        assert set(np.unique(clip.labels).tolist()) <= {0, 1}
        absent_later += int(any((lab == 0).all() for lab in clip.labels[1:]))
    assert absent_later > 0  # the exit is really seen in training


def test_empty_masks_and_tiny_objects(davis16: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, davis16)
    source = DAVISSource(davis16, config.data)
    names = [name for name, _, _ in source.videos]
    for seed in range(10):
        # mostly empty masks: the reference frame is one where the object shows
        late = source.sample(names.index("late"), np.random.default_rng(seed))
        assert late.num_objects == 1 and (late.labels[0] == 1).sum() > 50
        # an object below min_object_pixels is not a training target
        speck = source.sample(names.index("speck"), np.random.default_rng(seed))
        assert speck.num_objects == 0 and not speck.labels[0].any()
    # the clip stream turns an object-less clip into a merged one that has objects
    dataset = ClipDataset([source], config.data, seed=0)
    speck_keys = [k for k in range(len(dataset)) if dataset.locate(k)[1] % 5 == 3][:4]
    for key in speck_keys:
        assert dataset.clip(key).num_objects >= 1


def test_single_frames_become_moving_clips(davis16: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, davis16, seq_len=4)
    frames = FrameSource(davis_videos(davis16, config.data), config.data)
    late = [i for i, (image, _) in enumerate(frames.pairs) if "/late/" in str(image)]
    for index in late[:3]:  # empty masks: the next frame with an object is used instead
        clip = frames.sample(index, np.random.default_rng(index))
        assert clip.frames.shape == (4, *CROP, 3) and clip.num_objects == 1
        assert (clip.labels == 1).any(axis=(1, 2)).sum() >= 3
        # the later frames are warped copies, not the same picture
        assert np.abs(clip.frames[1:].astype(int) - clip.frames[0].astype(int)).mean() > 3


def test_mixing_ratios(davis16: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, davis16)
    assert config.datasets == ("davis2017", "davis_frames", "synthetic")
    sources = build_sources(config)
    mixed = ClipDataset(sources, config.data, seed=1, weights=(0.6, 0.3, 0.1))
    counts: dict[str, int] = {}
    for key in range(3000):
        name = mixed.locate(key)[0].name
        counts[name] = counts.get(name, 0) + 1
    assert abs(counts["davis2017"] / 3000 - 0.6) < 0.04
    assert abs(counts["davis_frames"] / 3000 - 0.3) < 0.04
    assert abs(counts["synthetic"] / 3000 - 0.1) < 0.03
    only_video = ClipDataset(sources, config.data, seed=1, weights=(1, 0, 0))
    assert {only_video.locate(k)[0].name for k in range(200)} == {"davis2017"}
    assert [mixed.locate(k)[1] for k in range(50)] == \
        [ClipDataset(sources, config.data, seed=1, weights=(6, 3, 1)).locate(k)[1]
         for k in range(50)]
    for bad in ((1.0, 1.0), (1.0, -1.0, 1.0), (0.0, 0.0, 0.0)):
        with pytest.raises(DatasetError, match="dataset_weights"):
            source_shares(bad, 3)


def test_overrides_reach_the_mix(davis16: Path, tmp_path: Path) -> None:
    config = apply_overrides(stage_config("real", "deaott"),
                             ["datasets=davis2017,davis_frames", "dataset_weights=3,1",
                              "data.exclude_videos=bear,boat"])
    assert config.datasets == ("davis2017", "davis_frames")
    assert config.dataset_weights == (3.0, 1.0)
    assert config.data.exclude_videos == ("bear", "boat")


def test_real_stage_trains_through_the_cli(davis16: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["real", "--model", "deaott", "--davis-root", str(davis16), "-o", str(out),
            "--steps", "2", "--batch-size", "2", "--crop-size", "97", "--workers", "0",
            "--no-amp", "--device", "cpu", "--set", "data.seq_len=3",
            "--set", "data.short_edge=100", "--set", "tensorboard=false",
            "--set", "data.synthetic_photos=none", "--set", "data.min_object_pixels=50",
            "--set", "data.exclude_videos=held"]
    result = CliRunner().invoke(train_group, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    checkpoint = out / "checkpoints" / "step_00000002.pt"
    model = aotvideo.load_weights(aotvideo.build_model("deaott"), checkpoint)
    assert model.config.name == "deaott"


def test_smooth_warp_bends_but_keeps_image_and_mask_together() -> None:
    from aotvideo.training.transforms import random_smooth_warp

    rng = np.random.default_rng(0)
    image = np.zeros((80, 120, 3), np.uint8)
    labels = np.zeros((80, 120), np.uint8)
    labels[20:60, 30:90] = 1
    image[labels == 1] = (200, 40, 40)
    warped, warped_labels = random_smooth_warp(image, labels, rng, strength=0.05)
    assert warped.shape == image.shape and warped_labels.dtype == np.uint8
    assert not np.array_equal(warped_labels, labels)  # the shape bent...
    area = (warped_labels == 1).sum() / (labels == 1).sum()
    assert 0.7 < area < 1.3  # ...but stayed about the same size
    inside = warped[warped_labels == 1].astype(int)  # the pixels moved with their labels
    assert (np.abs(inside - (200, 40, 40)).max(axis=1) < 60).mean() > 0.95
