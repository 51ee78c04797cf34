"""Shared fixtures: the reference data folder, small models with defined weights, small clips."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import aotvideo
from aotvideo.models.synthetic import synthetic_state_dict

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` beside the checkout; tests that need it skip without it."""
    if not (REFERENCE_DIR / "layouts.json").is_file():
        pytest.skip(f"reference conformance data not found at {REFERENCE_DIR} "
                    "(CI lays ../shared beside the checkout)")
    return REFERENCE_DIR


def make_model(name: str = "deaott") -> aotvideo.models.AOTModel:
    """A variant with the reference rule's deterministic weights."""
    model = aotvideo.build_model(name)
    aotvideo.load_weights(model, synthetic_state_dict(model))
    return model


@pytest.fixture(scope="session")
def deaott_model() -> aotvideo.models.AOTModel:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return make_model("deaott")


def moving_shapes_clip(frames: int = 6, height: int = 64, width: int = 96, objects: int = 2,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic clip of coloured discs moving over a textured background.

    Returns frames (T, H, W, 3) uint8 and the ground-truth labels (T, H, W) uint8 (ids 1..).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = (rng.random((height, width, 3)) * 60 + 40).astype(np.float32)
    video = np.empty((frames, height, width, 3), np.uint8)
    labels = np.zeros((frames, height, width), np.uint8)
    starts = rng.random((objects, 2)) * [height * 0.6, width * 0.6] + [height * 0.2, width * 0.2]
    velocity = (rng.random((objects, 2)) - 0.5) * 4
    colours = rng.random((objects, 3)) * 155 + 100
    radius = max(3, min(height, width) // 8)
    for t in range(frames):
        image = background.copy()
        for k in range(objects):
            cy, cx = starts[k] + velocity[k] * t
            inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
            image[inside] = colours[k]
            labels[t][inside] = k + 1
        video[t] = np.clip(image, 0, 255).astype(np.uint8)
    return video, labels
