"""Training the box head on DAVIS 2016 frames (CPU friendly, resumable).

Run as ``aotvideo train boxmask --davis-root ../shared/datasets/davis2016-train
-o runs/boxmask --encoder-weights ../shared/pretrained/mobilenet_v2_deeplabv3_pascal.pth``.
The six videos of :data:`aotvideo.training.holdout.DAVIS2016_HOLDOUT` are left out unless
``--all-videos`` is given. ``OUT/checkpoint.pth`` is written every ``--save-every`` seconds and at
the end; running the same command again continues from it (``--steps`` is the total).
``--export FILE`` writes the checkpoint's weights in the shipped head format (float16).
Progress is logged with timestamps to ``OUT/train.log``.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..training.holdout import DAVIS2016_HOLDOUT
from .data import FrameRecord, JitterConfig, list_frames, make_training_sample, read_frame, stack_batch
from .network import BoxMaskNet, HeadConfig, normalise
from .weights import save_head

__all__ = ["TrainConfig", "export_checkpoint", "run_log", "train"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a training run (all stored in the checkpoint)."""

    davis_root: str
    out: str
    steps: int = 1200
    batch_size: int = 8
    lr: float = 1e-3
    trunk_lr_scale: float = 0.1
    weight_decay: float = 1e-4
    warmup: int = 50
    head: HeadConfig = field(default_factory=HeadConfig)
    jitter: JitterConfig = field(default_factory=JitterConfig)
    exclude: tuple[str, ...] = DAVIS2016_HOLDOUT
    encoder_weights: str | None = None
    seed: int = 0
    threads: int = 2
    save_every: float = 180.0
    log_every: int = 10


def _loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BCE plus soft-IoU loss. ``logits``, ``target``: N x 1 x S x S (target in [0, 1])."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=(1, 2, 3))
    union = (prob + target - prob * target).sum(dim=(1, 2, 3))
    return bce + (1.0 - (inter + 1.0) / (union + 1.0)).mean()


def _batch(records: Sequence[FrameRecord], rng: np.random.Generator,
           config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """N x 3 x S x S images, N x 1 x S x S priors, N x 1 x S x S targets."""
    samples = []
    while len(samples) < config.batch_size:
        image, mask = read_frame(records[int(rng.integers(len(records)))])
        sample = make_training_sample(image, mask, rng, crop_size=config.head.crop_size,
                                      margin=config.head.margin, jitter=config.jitter)
        if sample is not None:
            samples.append(sample)
    crops, priors, targets = stack_batch(samples)
    return (normalise(torch.from_numpy(crops)), torch.from_numpy(priors)[:, None],
            torch.from_numpy(targets)[:, None])


def _optimizer(net: BoxMaskNet, config: TrainConfig) -> torch.optim.Optimizer:
    trunk = [p for n, p in net.named_parameters() if n.startswith("trunk.")]
    rest = [p for n, p in net.named_parameters() if not n.startswith("trunk.")]
    return torch.optim.AdamW([{"params": trunk, "lr_scale": config.trunk_lr_scale},
                              {"params": rest, "lr_scale": 1.0}],
                             lr=config.lr, weight_decay=config.weight_decay)


def _learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5% of ``lr`` at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress)))


def _save(path: Path, net: BoxMaskNet, optimizer: torch.optim.Optimizer, step: int,
          config: TrainConfig, seconds: float) -> None:
    temporary = path.with_name(path.name + ".tmp")
    torch.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "seconds": seconds, "config": _plain(asdict(config))}, temporary)
    os.replace(temporary, path)


def _plain(value: object) -> object:
    """Dataclass dicts with tuples turned into lists (``weights_only`` loading reads them)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _new_network(config: TrainConfig) -> BoxMaskNet:
    net = BoxMaskNet()
    if config.encoder_weights:
        state = torch.load(config.encoder_weights, map_location="cpu", weights_only=True)
        missing = net.load_trunk(state)
        if missing:
            raise ValueError(f"the encoder weights lack {missing[:5]}")
    return net


def train(config: TrainConfig) -> Path:
    """Train (or continue) a run with ``config.threads`` torch threads (the caller's thread
    count is restored afterwards); returns the checkpoint's path."""
    previous = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _train(config)
    finally:
        torch.set_num_threads(previous)


def _train(config: TrainConfig) -> Path:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pth"
    records = list_frames(config.davis_root, exclude=config.exclude)
    torch.manual_seed(config.seed)
    net = _new_network(config)
    optimizer = _optimizer(net, config)
    step, seconds = 0, 0.0
    if checkpoint.is_file():
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        net.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        step, seconds = int(saved["step"]), float(saved["seconds"])
        log.info("resumed %s at step %d (%.0f s trained)", checkpoint, step, seconds)
    log.info("%d frames of %d videos; config %s", len(records), len({r.video for r in records}),
             asdict(config))
    net.train()
    started = last_save = last_log = time.monotonic()
    running: list[float] = []
    while step < config.steps:
        rng = np.random.default_rng([config.seed, step])
        images, priors, targets = _batch(records, rng, config)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, config) * group["lr_scale"]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = net(images, priors)
        loss = _loss(logits.float(), targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        running.append(float(loss.detach()))
        elapsed = seconds + time.monotonic() - started
        if step % config.log_every == 0:
            now = time.monotonic()
            log.info("step %d/%d loss %.4f lr %.2e %.2f s/step", step, config.steps,
                     float(np.mean(running)), _learning_rate(step, config),
                     (now - last_log) / len(running))
            running, last_log = [], now
        if time.monotonic() - last_save >= config.save_every:
            _save(checkpoint, net, optimizer, step, config, elapsed)
            last_save = time.monotonic()
            log.info("saved %s at step %d", checkpoint, step)
    _save(checkpoint, net, optimizer, step, config, seconds + time.monotonic() - started)
    log.info("finished at step %d; saved %s", step, checkpoint)
    return checkpoint


def export_checkpoint(checkpoint: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Write a training checkpoint's weights as a shipped head file (float16)."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    net = BoxMaskNet()
    net.load_state_dict(saved["model"])
    cfg = saved["config"]
    head = HeadConfig(**cfg["head"])
    meta = {"steps": int(saved["step"]), "train_seconds": round(float(saved["seconds"])),
            "batch_size": int(cfg["batch_size"]), "excluded_videos": ",".join(cfg["exclude"]),
            "data": "DAVIS 2016 train (CC BY-NC 4.0)",
            "encoder_start": "DeepLabV3-MobileNetV2 (TensorFlow, Apache-2.0, via google-coral/test_data)"}
    save_head(net, head, target, meta)


@contextlib.contextmanager
def run_log(out: Path) -> Iterator[None]:
    """The run's progress (``aotvideo.boxmask`` at INFO) to ``OUT/train.log`` and standard error
    inside the block; the logger as it was after it."""
    out.mkdir(parents=True, exist_ok=True)
    package_log = logging.getLogger("aotvideo.boxmask")
    handlers = [logging.FileHandler(out / "train.log"), logging.StreamHandler()]
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        package_log.addHandler(handler)
    level = package_log.level
    package_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        package_log.setLevel(level)
        for handler in handlers:
            package_log.removeHandler(handler)
            handler.close()
