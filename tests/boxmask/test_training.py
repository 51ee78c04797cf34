"""Training the box head: jittered boxes, samples, a real (tiny) run that resumes and exports."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from aotvideo.boxmask import load_head
from aotvideo.boxmask.data import JitterConfig, jitter_box, list_frames, make_training_sample
from aotvideo.cli.train import train_group
from aotvideo.errors import AotVideoError


def train_main(args: list[str]) -> int:
    """``aotvideo train ARGS`` in this process; its exit code."""
    result = CliRunner().invoke(train_group, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code


def test_jittered_boxes_stay_in_the_picture_and_near_the_object() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        x0, y0, x1, y1 = jitter_box((0, 10, 50, 100), 60, 100, rng)
        assert 0 <= x0 < x1 <= 60 and 0 <= y0 < y1 <= 100
        assert x1 - x0 >= 2 and y1 - y0 >= 2
        assert abs(x0 - 0) <= 0.25 * 50 + 1e-6 and abs(y1 - 100) <= 0.25 * 90 + 1e-6
    tiny = jitter_box((5, 5, 6, 6), 60, 100, rng, JitterConfig(side=0.5))
    assert tiny[2] - tiny[0] >= 2 and tiny[3] - tiny[1] >= 2


def test_training_samples_have_the_crop_shapes() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    mask = np.zeros((60, 80), bool)
    mask[10:40, 20:50] = True
    crop, prior, target = make_training_sample(image, mask, rng, crop_size=32, margin=0.25)
    assert crop.shape == (32, 32, 3) and crop.dtype == np.uint8
    assert prior.shape == target.shape == (32, 32) and 0.1 < target.mean() < 0.9
    assert make_training_sample(image, np.zeros((60, 80), bool), rng, crop_size=32, margin=0.25) is None


def _davis_folder(root: Path) -> Path:
    """A DAVIS 2016 layout with two videos of three frames: a bright disc moving on noise."""
    rng = np.random.default_rng(2)
    for video in ("aa", "bb"):
        (root / "JPEGImages" / "480p" / video).mkdir(parents=True)
        (root / "Annotations" / "480p" / video).mkdir(parents=True)
        for index in range(3):
            image = rng.integers(0, 120, (48, 64, 3), dtype=np.uint8)
            mask = np.zeros((48, 64), np.uint8)
            cv2.circle(mask, (20 + 5 * index, 24), 10, 255, -1)
            image[mask > 0] = (230, 200, 40)
            cv2.imwrite(str(root / "JPEGImages" / "480p" / video / f"{index:05d}.jpg"), image)
            cv2.imwrite(str(root / "Annotations" / "480p" / video / f"{index:05d}.png"), mask)
    return root


def test_a_tiny_run_resumes_and_exports(tmp_path: Path) -> None:
    root = _davis_folder(tmp_path / "davis")
    assert [r.video for r in list_frames(root, exclude=("bb",))] == ["aa"] * 3
    with pytest.raises(AotVideoError, match="not a DAVIS 2016 folder"):
        list_frames(tmp_path)
    out = tmp_path / "run"
    args = ["boxmask", "--davis-root", str(root), "-o", str(out), "--batch-size", "2",
            "--crop-size", "32", "--threads", "1", "--log-every", "1"]
    threads = torch.get_num_threads()
    assert train_main(args + ["--steps", "2"]) == 0, "the first run failed"
    assert torch.get_num_threads() == threads  # the run's --threads 1 does not leak out
    first = torch.load(out / "checkpoint.pth", weights_only=True)
    assert first["step"] == 2
    # mark the step-2 weights: a resumed run carries the mark, a fresh start would not have it
    weights = next(k for k, v in first.items() if isinstance(v, dict) and v
                   and all(torch.is_tensor(t) for t in v.values()))
    marked = next(n for n, t in first[weights].items() if t.is_floating_point() and t.numel() > 1)
    first[weights][marked] = first[weights][marked] + 0.5
    torch.save(first, out / "checkpoint.pth")
    assert train_main(args + ["--steps", "3"]) == 0  # continues from step 2
    straight = tmp_path / "straight"
    assert train_main(["boxmask", "--davis-root", str(root), "-o", str(straight), "--batch-size",
                       "2", "--crop-size", "32", "--threads", "1", "--steps", "3"]) == 0
    resumed = torch.load(out / "checkpoint.pth", weights_only=True)[weights][marked].float()
    whole = torch.load(straight / "checkpoint.pth", weights_only=True)[weights][marked].float()
    assert torch.allclose(resumed - whole, torch.full_like(whole, 0.5), atol=0.05)
    assert torch.load(out / "checkpoint.pth", weights_only=True)["step"] == 3
    log = (out / "train.log").read_text()
    assert "resumed" in log and "step 3/3" in log
    assert train_main(args + ["--export", str(tmp_path / "head.pth")]) == 0
    net, config, meta = load_head(tmp_path / "head.pth")
    assert config.crop_size == 32 and meta["steps"] == 3
    with torch.no_grad():
        assert net(torch.zeros(1, 3, 32, 32), torch.ones(1, 1, 32, 32)).shape == (1, 1, 32, 32)
