"""Photographic textures for the procedural training videos."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from aotvideo.training import render_video, stage_config
from aotvideo.training.datasets import DatasetError, SyntheticSource, photo_bank
from aotvideo.training.photos import SKIMAGE_PHOTOS, PhotoBank, skimage_photos


def _write(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), image)
    return path


def test_skimage_pictures_load() -> None:
    bank = skimage_photos()
    assert len(bank.images) >= 15 and set(bank.names) <= set(SKIMAGE_PHOTOS)
    for image in bank.images:
        assert image.dtype == np.float32 and image.ndim == 3 and image.shape[2] == 3
        assert min(image.shape[:2]) >= 64 and 0.0 <= image.min() and image.max() <= 1.0
    assert skimage_photos() is bank  # read once per process


def test_texture_is_seeded_and_varied() -> None:
    bank = skimage_photos()
    a = bank.texture(np.random.default_rng(3), 90, 70)
    b = bank.texture(np.random.default_rng(3), 90, 70)
    c = bank.texture(np.random.default_rng(4), 90, 70)
    assert a.shape == (90, 70, 3) and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0


def test_texture_is_cut_from_the_picture(tmp_path: Path) -> None:
    # one flat colour picture: every patch is flat (only recoloured)
    flat = PhotoBank.from_files([_write(tmp_path / "flat.png",
                                        np.full((80, 100, 3), (40, 120, 200), np.uint8))])
    for seed in range(5):
        patch = flat.texture(np.random.default_rng(seed), 50, 60)
        assert float(patch.std(axis=(0, 1)).max()) < 1e-3  # far below one 8-bit level
    # a picture of two halves: some patches straddle the edge and show both
    halves = np.zeros((200, 200, 3), np.uint8)
    halves[:, 100:] = 255
    bank = PhotoBank.from_files([_write(tmp_path / "halves.png", halves)])
    contrasts = [float(np.ptp(bank.texture(np.random.default_rng(s), 64, 64).mean(axis=2)))
                 for s in range(20)]
    assert max(contrasts) > 0.4 and min(contrasts) < 0.05


def test_grey_pictures_are_tinted(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 255, 128, dtype=np.uint8)[None, :, None], (128, 1, 3))
    bank = PhotoBank.from_files([_write(tmp_path / "ramp.png", ramp)])
    patch = bank.texture(np.random.default_rng(0), 64, 64)
    assert float(np.abs(patch[..., 0] - patch[..., 2]).mean()) > 0.01


def test_bad_photo_sources(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no images"):
        PhotoBank.from_folder(tmp_path)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read"):
        PhotoBank.from_folder(tmp_path)
    small = tmp_path / "small"
    small.mkdir()
    _write(small / "tiny.png", np.zeros((20, 300, 3), np.uint8))
    with pytest.raises(ValueError, match="smaller than 64x64"):
        PhotoBank.from_folder(small)
    with pytest.raises(DatasetError, match="synthetic_photos"):
        photo_bank(str(tmp_path))
    assert photo_bank("none") is None
    good = tmp_path / "good"
    good.mkdir()
    _write(good / "a.jpg", np.full((64, 64, 3), 9, np.uint8))
    assert photo_bank(str(good)).names == ("a.jpg",)


def test_videos_with_photographs() -> None:
    bank = skimage_photos()
    first = render_video(np.random.default_rng(5), 4, (96, 128), photos=bank)
    again = render_video(np.random.default_rng(5), 4, (96, 128), photos=bank)
    plain = render_video(np.random.default_rng(5), 4, (96, 128))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], plain[0])
    assert first[0].shape == (4, 96, 128, 3) and first[1].shape == (4, 96, 128)


def test_training_stream_uses_the_configured_photos() -> None:
    config = stage_config("synthetic", "deaott")
    assert config.data.synthetic_photos == "skimage"
    source = SyntheticSource(config.data, seed=0)
    assert source.photos is skimage_photos()
    from dataclasses import replace
    plain = SyntheticSource(replace(config.data, synthetic_photos="none"), seed=0)
    assert plain.photos is None
