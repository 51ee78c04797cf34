"""Shared fixtures: the reference data folder, small models with defined weights, small clips."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import aotvideo
from aotvideo.io.testclips import scene
from aotvideo.models.rule_weights import rule_state_dict

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO.parent / "shared" / "reference"

# Tests never reach the internet: a model-zoo variant without weights would otherwise download
# itself from Google Drive. Download tests turn this off and use a local server.
os.environ["AOTVIDEO_OFFLINE"] = "1"

#: ``CI`` set (and not 0/false/no) in the environment: ``.ci/run`` exports ``CI=1``. There the
#: tools ``.ci/run`` installs must be present, so tests needing them fail instead of skipping.
IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_command(name: str, purpose: str) -> str:
    """The path of the command-line tool ``name`` that a test needs for ``purpose``.

    Missing, the test skips and says why -- except under CI (``IN_CI``), where ``.ci/run``
    installs the tool, so its absence is a failure of the environment, not a reason to skip.
    """
    path = shutil.which(name)
    if path is None:
        _skip_unless_ci(f"the {name} command is not installed; it is needed {purpose}",
                        f".ci/run installs {name}: it must not be missing")
    return path


def _skip_unless_ci(reason: str, under_ci: str) -> None:
    """Skip with ``reason``; under CI fail instead, saying why it cannot be missing there."""
    if IN_CI:
        pytest.fail(f"{reason}. CI is set, and {under_ci}", pytrace=False)
    pytest.skip(reason)


SHARED_DATASETS = REPO.parent / "shared" / "datasets"
"""The data the project reads at run time (never copied in): ``../shared/datasets``."""


def require_shared(path: Path, purpose: str) -> Path:
    """``path`` under ``../shared`` that a test needs for ``purpose``.

    Missing, the test skips and says why -- except under CI (``IN_CI``), which runs with
    ``../shared`` beside the clone, so its absence fails the test instead of hiding it.
    """
    if not path.exists():
        _skip_unless_ci(f"{path} is not there; it is needed {purpose} (../shared beside the "
                        "checkout)", "it runs with ../shared beside the clone")
    return path


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ``ffmpeg`` command (see :func:`require_command`: skips without it, fails under CI)."""
    return require_command("ffmpeg", "by the tests that run the ffmpeg command line")


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` beside the checkout; tests that need it skip without it."""
    if not (REFERENCE_DIR / "layouts.json").is_file():
        pytest.skip(f"reference conformance data not found at {REFERENCE_DIR} "
                    "(CI lays ../shared beside the checkout)")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deaott with the reference rule's weights, saved in the model-zoo checkpoint format."""
    path = tmp_path_factory.mktemp("weights") / "DeAOTT_synthetic.pth"
    torch.save({"state_dict": rule_state_dict(aotvideo.build_model("deaott"))}, path)
    return path


def make_model(name: str = "deaott") -> aotvideo.models.AOTModel:
    """A variant with the reference rule's deterministic weights."""
    model = aotvideo.build_model(name)
    aotvideo.load_weights(model, rule_state_dict(model))
    return model


@pytest.fixture(scope="session")
def deaott_model() -> aotvideo.models.AOTModel:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return make_model("deaott")


def moving_shapes_clip(frames: int = 6, height: int = 64, width: int = 96, objects: int = 2,
                       seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A procedural clip of moving shapes (:func:`aotvideo.io.testclips.scene`).

    Returns frames (T, H, W, 3) uint8 and the ground-truth labels (T, H, W) int64 (ids 1..).
    """
    pairs = list(scene(width, height, frames, objects=objects, seed=seed))
    return np.stack([f for f, _ in pairs]), np.stack([l for _, l in pairs])
