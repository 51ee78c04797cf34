"""The studio's fixtures: a real clip encoded with PyAV (two shapes moving over texture), its
true masks, a studio session on it with the packaged model, and that session served over HTTP
on a free loopback port. Browser tests keep a screenshot and the page's log when they fail."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from aotvideo.io.testclips import scene, write_clip

FRAMES = 24


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """(video path, true labels F x H x W): 24 frames of 320x192, objects 1 and 2."""
    folder = tmp_path_factory.mktemp("studio-clip")
    frames, labels = zip(*scene(320, 192, FRAMES, objects=2, seed=3))
    path = folder / "clip.mp4"
    write_clip(path, list(frames), fps=12)
    return path, np.stack(labels)


@pytest.fixture
def session(clip: tuple[Path, np.ndarray], tmp_path: Path):  # type: ignore[no-untyped-def]
    from aotvideo.studio import StudioSession

    studio = StudioSession(clip[0], tmp_path / "clip.studio")
    yield studio
    studio.close()


@pytest.fixture
def server(session):  # type: ignore[no-untyped-def]
    from aotvideo.studio import StudioServer

    served = StudioServer(session, "127.0.0.1", 0)
    served.start()
    yield served
    served.stop()


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        driver = getattr(item, "studio_driver", None)
        if driver is not None:
            folder = Path(os.environ.get("AOTVIDEO_TEST_ARTIFACTS", item.config.rootpath / "test-artifacts"))
            folder.mkdir(parents=True, exist_ok=True)
            shot = folder / f"{item.name}.png"
            driver.save_screenshot(str(shot))
            logs = "\n".join(str(entry) for entry in driver.get_log("browser"))
            (folder / f"{item.name}.browser.log").write_text(logs)
            report.sections.append(("studio", f"screenshot kept: {shot}"))
