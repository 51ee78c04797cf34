"""Optimiser parts of the recipe: parameter groups, learning-rate schedule and weight EMA."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import TrainConfig


def parameter_groups(model: nn.Module, config: TrainConfig) -> list[dict[str, Any]]:
    """AdamW parameter groups of the original recipe.

    Weight decay is off for biases, for the 1-D parameters outside the encoder (norms), and for
    parameters whose name contains one of ``config.no_decay_keys``.  Groups are split by
    encoder / rest (the encoder's learning rate is scaled), by decay, and by whether sequential
    training freezes them (``config.seq_training_frozen``).  Parameters that do not require
    gradients are left out.
    """
    groups: dict[tuple[bool, bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = True
        if param.ndim <= 1:
            if "bias" in name or not name.startswith("encoder."):
                decay = False
        elif any(key in name for key in config.no_decay_keys):
            decay = False
        key = (name.startswith("encoder."), decay,
               any(k in name for k in config.seq_training_frozen))
        groups.setdefault(key, []).append(param)
    out = []
    for (encoder, decay, frozen), params in sorted(groups.items()):
        label = ("encoder" if encoder else "network") + ("" if decay else "/no_decay") + \
            ("/seq_frozen" if frozen else "")
        out.append({"params": params, "lr": config.lr,
                    "weight_decay": config.weight_decay if decay else 0.0,
                    "base_weight_decay": config.weight_decay if decay else 0.0,
                    "is_encoder": encoder, "seq_frozen": frozen, "name": label})
    return out


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up from ``min_lr`` to ``lr``, then polynomial decay back to ``min_lr``."""
    base, low = config.lr, config.min_lr
    warmup = config.warmup_steps
    if step < warmup:
        return low + (base - low) * step / warmup
    done = step - warmup
    span = config.total_steps - warmup
    return low + (base - low) * (1.0 - done / (span + 1.0)) ** config.lr_power


def apply_learning_rate(optimizer: torch.optim.Optimizer, step: int, config: TrainConfig) -> float:
    """Set every group's learning rate (and decay) for ``step``; returns the network's lr."""
    now = learning_rate(step, config)
    sequential = step >= config.seq_training_start
    for group in optimizer.param_groups:
        if group.get("is_encoder"):
            group["lr"] = (now - config.min_lr) * config.encoder_lr_ratio + config.min_lr
        else:
            group["lr"] = now
        group["weight_decay"] = group.get("base_weight_decay", group["weight_decay"])
        if sequential and group.get("seq_frozen"):
            group["lr"] = 0.0
            group["weight_decay"] = 0.0
    return now


def aux_loss_weight(step: int, config: TrainConfig) -> float:
    """Weight of the reference-frame loss, decayed linearly to 0."""
    span = config.total_steps * config.aux_loss_ratio + 1e-5
    return config.aux_loss_weight * max(span - step, 0.0) / span


class ModelEMA:
    """Exponential moving average of the trainable parameters.

    ``decay`` is capped by ``(1 + n) / (10 + n)`` after ``n`` updates, so early averages follow
    the weights closely.  Buffers (frozen batch-norm statistics) are not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError("EMA decay must be in [0, 1]")
        self.decay = decay
        self.updates = 0
        self._params = {n: p for n, p in model.named_parameters() if p.requires_grad}
        self.shadow = {n: p.detach().clone() for n, p in self._params.items()}

    @torch.no_grad()
    def update(self) -> None:
        """Move the averages towards the current weights."""
        self.updates += 1
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        for name, param in self._params.items():
            self.shadow[name].lerp_(param.detach(), 1.0 - decay)

    def model_state_dict(self, model: nn.Module) -> dict[str, torch.Tensor]:
        """``model``'s state dict (on the CPU) with the averaged values in place of the
        trainable parameters."""
        state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        for name, value in self.shadow.items():
            state[name] = value.detach().cpu().to(state[name].dtype)
        return state

    def load(self, state: dict[str, torch.Tensor], updates: int) -> None:
        """Restore averages from a model state dict (the trainable entries are read)."""
        with torch.no_grad():
            for name, shadow in self.shadow.items():
                shadow.copy_(state[name].to(shadow.device, shadow.dtype))
        self.updates = int(updates)
