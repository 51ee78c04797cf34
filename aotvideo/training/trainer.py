"""The training loop: one process on CPU or GPU, or many through ``torchrun`` (DDP).

:func:`train` runs a :class:`~.config.TrainConfig` to its last step.  Under ``torchrun`` every
process joins a process group (NCCL on GPUs, Gloo on CPU) and trains its share of each global
batch through ``DistributedDataParallel``.  The data stream, the model's random layers and the
learning rate depend only on the step, so a run resumed from a checkpoint continues exactly as
the uninterrupted run would (on the same hardware), and -- with the random layers off
(``droppath=0``, ``conv_dropout=0``), whose draws depend on how the batch is split -- N
processes compute the same updates as one process with the same global batch, up to float
rounding.
"""
from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from ..models import build_model, load_weights
from ..models.encoders import freeze_encoder, load_imagenet_weights
from ..models.layers import DropPath
from ..models.model import AOTModel
from ..tracking.precision import autocast_dtype, resolve_device
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig, config_from_dict, config_to_dict
from .datasets import ClipDataset, StepBatchSampler, build_sources
from .engine import ClipEngine
from .losses import hard_pixel_fraction
from .optim import ModelEMA, apply_learning_rate, aux_loss_weight, parameter_groups

logger = logging.getLogger("aotvideo.training")


@dataclass
class TrainResult:
    """What :func:`train` returns (on every process).

    Attributes:
        step: the step training stopped at.
        checkpoint: the newest checkpoint (``None`` when none was written).
        losses: the loss of every step run by this call (this process's share).
        ious: the mean object IoU of the propagated frames of every step run.
    """

    step: int
    checkpoint: Path | None
    losses: list[float] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)


@dataclass
class _Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised_here: bool = False

    @property
    def active(self) -> bool:
        return self.world_size > 1


def _setup_distributed(device_kind: str) -> _Distributed:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Distributed()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return _Distributed(dist.get_rank(), dist.get_world_size(), local)
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if device_kind == "cuda":
        torch.cuda.set_device(local)
    dist.init_process_group(backend=backend, timeout=timedelta(minutes=30))
    return _Distributed(rank, world, local, initialised_here=True)


def _device_kind(requested: str | None) -> str:
    return resolve_device(None if requested == "auto" else requested).type


def _resolve_device(requested: str | None, dist_info: _Distributed) -> torch.device:
    """The process's device; under torchrun, ``cuda:LOCAL_RANK``."""
    kind = _device_kind(requested)
    device = torch.device(requested) if requested not in (None, "", "auto") else torch.device(kind)
    if device.type == "cuda" and (dist_info.active or device.index is None):
        device = torch.device("cuda", dist_info.local_rank if dist_info.active else 0)
    return device


def _step_seed(seed: int, step: int, micro: int, rank: int) -> int:
    """Seed of the model's random layers (drop-path) for one micro-batch of one process."""
    value = (seed * 1_000_003 + step) * 1_000_033 + micro * 1_009 + rank
    return value % (2 ** 63 - 1)


def build_training_model(config: TrainConfig) -> AOTModel:
    """The variant with the training-time settings: drop-path and dropout rates, frozen
    encoder stages."""
    model = build_model(config.model, **config.model_kwargs)
    for module in model.modules():
        if isinstance(module, DropPath):
            module.drop_prob = float(config.droppath)
        elif isinstance(module, nn.Dropout2d):
            module.p = float(config.conv_dropout)
    freeze_encoder(model.encoder, config.encoder_freeze_at)
    return model


def _initial_weights(model: AOTModel, config: TrainConfig) -> None:
    if config.init_weights:
        load_weights(model, config.init_weights)
        logger.info("initial weights: %s", config.init_weights)
    elif config.encoder_weights:
        load_imagenet_weights(model.encoder, model.config.encoder, config.encoder_weights)
        logger.info("ImageNet encoder weights: %s", config.encoder_weights)
    elif config.stage in ("pre", "synthetic"):
        logger.warning("no encoder weights given (--encoder-weights): the encoder starts from "
                       "random values")
    else:
        logger.warning("stage %s normally starts from the pre-training's weights "
                       "(--init-weights); starting from random values", config.stage)


def _autocast(device: torch.device, amp: bool | str) -> contextlib.AbstractContextManager:
    """Autocast of ``amp`` on ``device`` (the tracker's rule: :func:`autocast_dtype`)."""
    dtype = autocast_dtype(amp, device)  # type: ignore[arg-type]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _precision_text(device: torch.device, amp: bool | str) -> str:
    dtype = autocast_dtype(amp, device)  # type: ignore[arg-type]
    return f", mixed precision ({str(dtype).removeprefix('torch.')})" if dtype is not None else ", float32"


def _init_worker(_: int) -> None:
    """Data workers decode and warp single-threaded (the processes are the parallelism)."""
    import cv2

    cv2.setNumThreads(0)
    torch.set_num_threads(1)


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


class _Progress:
    """Progress lines on the log (stderr) and scalars to TensorBoard when installed."""

    def __init__(self, config: TrainConfig, start: int, enabled: bool) -> None:
        self.config = config
        self.enabled = enabled
        self.start_step = start
        self.start_time = time.monotonic()
        self.window: list[tuple[float, float, float]] = []
        self.writer: Any = None
        if enabled and config.tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # noqa: BLE001 - TensorBoard is optional
                logger.debug("TensorBoard is not installed; no event files are written")
            else:
                self.writer = SummaryWriter(str(Path(config.output) / "tensorboard"))

    def update(self, step: int, loss: float, ref_loss: float, iou: float, lr: float,
               aux: float, frame_losses: list[float], frame_ious: list[float]) -> None:
        if not self.enabled:
            return
        self.window.append((loss, ref_loss, iou))
        if self.writer is not None:
            self.writer.add_scalar("loss/total", loss, step)
            self.writer.add_scalar("loss/reference", ref_loss, step)
            for i, (fl, fi) in enumerate(zip(frame_losses, frame_ious), start=1):
                self.writer.add_scalar(f"loss/frame{i}", fl, step)
                self.writer.add_scalar(f"iou/frame{i}", fi, step)
            self.writer.add_scalar("iou/mean", iou, step)
            self.writer.add_scalar("lr", lr, step)
            self.writer.add_scalar("aux_weight", aux, step)
        total = self.config.total_steps
        if step % self.config.log_every == 0 or step == total:
            done = step - self.start_step
            elapsed = time.monotonic() - self.start_time
            per_step = elapsed / max(done, 1)
            eta = timedelta(seconds=int(per_step * (total - step)))
            n = len(self.window)
            mean = [sum(v[i] for v in self.window) / n for i in range(3)]
            self.window.clear()
            width = 20
            filled = int(width * step / total)
            bar = "#" * filled + "-" * (width - filled)
            logger.info("[%s] %3d%% step %d/%d  lr %.2e  loss %.4f  ref %.4f  IoU %.1f%%  "
                        "%.2f s/step  ETA %s", bar, int(100 * step / total), step, total, lr,
                        mean[0], mean[1], 100 * mean[2], per_step, eta)
            if self.writer is not None:
                self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _resume_path(config: TrainConfig, resume: str | os.PathLike | None) -> Path | None:
    if resume is None or str(resume) == "":
        return None
    if str(resume) == "auto":
        return latest_checkpoint(config.output)
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint to resume not found: {path}")
    return path


def train(config: TrainConfig, *, resume: str | os.PathLike | None = None,
          device: str | None = None, max_steps: int | None = None) -> TrainResult:
    """Train ``config`` from its start or from a checkpoint, up to ``config.total_steps``.

    Args:
        config: the run.
        resume: ``"auto"`` (the newest checkpoint in ``config.output``, if any), a checkpoint
            path, or ``None`` (start from scratch; existing checkpoints are overwritten as the
            new run reaches their steps).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; default CUDA when available.  Under
            ``torchrun`` each process uses ``cuda:LOCAL_RANK``.
        max_steps: stop after this many steps of this call (for tests and time-boxed jobs);
            a checkpoint is written at the stop.

    Returns:
        :class:`TrainResult`.
    """
    dist_info = _setup_distributed(_device_kind(device))
    try:
        return _train(config, resume, _resolve_device(device, dist_info), dist_info,
                      dist_info.rank == 0, max_steps)
    finally:
        if dist_info.initialised_here and dist.is_initialized():
            dist.destroy_process_group()


def _train(config: TrainConfig, resume: str | os.PathLike | None, device: torch.device,
           dist_info: _Distributed, is_main: bool, max_steps: int | None) -> TrainResult:
    if config.data.seq_len < 2:
        raise ValueError("data.seq_len must be at least 2 (a reference frame and one more)")
    micro = config.micro_batch(dist_info.world_size)
    dataset = ClipDataset(build_sources(config), config.data, config.seed, config.id_shuffle,
                          config.dataset_weights)
    resume_path = _resume_path(config, resume)
    checkpoint = load_checkpoint(resume_path) if resume_path is not None else None
    if checkpoint is not None:
        saved = checkpoint.get("aotvideo", {}).get("config")
        if saved:
            _warn_config_changes(config_from_dict(saved), config)

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop size
    torch.manual_seed(config.seed)
    model = build_training_model(config)
    if checkpoint is None:
        _initial_weights(model, config)
    else:
        load_weights(model, checkpoint["model"])
    model.to(device).train()
    engine: nn.Module = ClipEngine(model, config.long_term_gap)
    if dist_info.active:
        # buffers (frozen batch-norm statistics) never change: no syncing in forward
        no_sync_buffers = ({"forward_sync_buffers": False} if "forward_sync_buffers" in
                           inspect.signature(DistributedDataParallel).parameters
                           else {"broadcast_buffers": False})
        engine = DistributedDataParallel(
            engine, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True, **no_sync_buffers)

    optimizer = torch.optim.AdamW(parameter_groups(model, config), lr=config.lr,
                                  weight_decay=config.weight_decay)
    use_scaler = autocast_dtype(config.amp, device) == torch.float16  # type: ignore[arg-type]
    scaler = torch.amp.GradScaler("cuda") if use_scaler else None
    ema = None
    if is_main and config.ema_ratio > 0:
        ema = ModelEMA(model, max(0.0, 1.0 - 1.0 / (config.total_steps * config.ema_ratio)))
    step = 0
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scaler is not None and checkpoint.get("scaler"):
            scaler.load_state_dict(checkpoint["scaler"])
        if ema is not None:
            ema.load(checkpoint["state_dict"], checkpoint.get("ema_updates", 0))
        step = int(checkpoint["step"])
        logger.info("resumed from %s at step %d", resume_path, step)
        del checkpoint

    if is_main:
        out = Path(config.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config_to_dict(config), indent=2) + "\n")
        logger.info("training %s, stage %s: %d steps of %d clips (%d processes x %d x %d "
                    "accumulated) on %s%s", config.model, config.stage, config.total_steps,
                    config.batch_size, dist_info.world_size, micro, config.accumulation,
                    device, _precision_text(device, config.amp))

    sampler = StepBatchSampler(step, micro, dist_info.world_size, dist_info.rank,
                               config.accumulation)
    workers = config.data.workers
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers,
                        pin_memory=device.type == "cuda",
                        prefetch_factor=2 if workers > 0 else None,
                        worker_init_fn=_init_worker if workers > 0 else None,
                        persistent_workers=False)
    batches: Iterator[dict[str, torch.Tensor]] = iter(loader)

    params = [p for p in model.parameters() if p.requires_grad]
    progress = _Progress(config, step, is_main)
    result = TrainResult(step=step, checkpoint=resume_path)
    stop = config.total_steps if max_steps is None else min(config.total_steps,
                                                            step + max_steps)
    mining_steps = config.hard_mining_ratio * config.total_steps
    while step < stop:
        lr = apply_learning_rate(optimizer, step, config)
        aux = aux_loss_weight(step, config)
        fraction = hard_pixel_fraction(step, config.top_k_percent, mining_steps)
        sequential = step >= config.seq_training_start
        optimizer.zero_grad(set_to_none=True)
        step_loss = torch.zeros((), device=device)
        stats_sum: dict[str, torch.Tensor] = {}
        for micro_index in range(config.accumulation):
            batch = _to_device(next(batches), device)
            torch.manual_seed(_step_seed(config.seed, step, micro_index, dist_info.rank))
            sync = contextlib.nullcontext()
            if dist_info.active and micro_index < config.accumulation - 1:
                sync = engine.no_sync()  # type: ignore[operator]
            with sync:
                with _autocast(device, config.amp):
                    loss, stats = engine(batch["frames"], batch["labels"], batch["num_objects"],
                                         batch["id_perm"], hard_fraction=fraction,
                                         aux_weight=aux, use_predictions=sequential)
                scaled = loss / config.accumulation
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            step_loss += loss.detach() / config.accumulation
            for key, value in stats.items():
                value = value.float().mean(dim=-1)
                stats_sum[key] = stats_sum.get(key, 0) + value / config.accumulation
        if scaler is not None:
            scaler.unscale_(optimizer)
        finite = True
        if config.clip_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, config.clip_grad_norm)
            finite = bool(torch.isfinite(norm))
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        elif finite:
            optimizer.step()
        else:
            logger.warning("step %d: non-finite gradients, update skipped", step)
        if ema is not None:
            ema.update()
        step += 1

        # statistics averaged over the processes
        frames = stats_sum["frame_loss"].numel()
        packed = torch.cat([step_loss.view(1), stats_sum["ref_loss"].view(1),
                            stats_sum["frame_loss"].view(-1), stats_sum["iou"].view(-1)])
        if dist_info.active:
            dist.all_reduce(packed)
            packed /= dist_info.world_size
        values = packed.tolist()
        frame_losses, frame_ious = values[2:2 + frames], values[2 + frames:]
        iou_value = sum(frame_ious) / len(frame_ious)
        result.losses.append(values[0])
        result.ious.append(iou_value)
        progress.update(step, values[0], values[1], iou_value, lr, aux, frame_losses,
                        frame_ious)
        if step % config.save_every == 0 or step == stop:
            if is_main:
                path = _save(config, step, model, ema, optimizer, scaler)
                result.checkpoint = path
                logger.info("checkpoint: %s", path)
            if dist_info.active:
                dist.barrier()
    progress.close()
    del batches, loader  # stops the data workers
    result.step = step
    if dist_info.active:
        dist.barrier()
    return result


def _save(config: TrainConfig, step: int, model: AOTModel, ema: ModelEMA | None,
          optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> Path:
    raw = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    weights = ema.model_state_dict(model) if ema is not None else raw
    metadata = {"model": config.model, "model_overrides": [list(p) for p in
                                                          config.model_overrides],
                "stage": config.stage, "weights": "ema" if ema is not None else "raw",
                "config": config_to_dict(config)}
    return save_checkpoint(config.output, step, metadata=metadata, weights=weights, model=raw,
                           optimizer=optimizer.state_dict(),
                           scaler=scaler.state_dict() if scaler is not None else None,
                           ema_updates=ema.updates if ema is not None else 0,
                           keep=config.keep_last)


_RESUME_SAFE = {"output", "save_every", "keep_last", "log_every", "tensorboard", "data"}


def _warn_config_changes(saved: TrainConfig, current: TrainConfig) -> None:
    """Log the settings that differ from the checkpoint's (they may break exact resume)."""
    changed = [f"{name}: {getattr(saved, name)!r} -> {getattr(current, name)!r}"
               for name in current.__dataclass_fields__
               if name not in _RESUME_SAFE and getattr(saved, name) != getattr(current, name)]
    if saved.data != current.data:
        changed.append("data settings")
    if changed:
        logger.warning("resuming with changed settings (%s)", "; ".join(changed))

