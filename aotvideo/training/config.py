"""Training configuration: frozen dataclasses per stage and model variant.

:func:`stage_config` gives the recipe of the original AOT/DeAOT training for a stage and a
variant (the values of its ``configs/default.py``, ``configs/pre.py`` and
``configs/pre_ytb_dav.py``, and the per-variant ``TRAIN_LONG_TERM_MEM_GAP``); any field can be
replaced with :func:`apply_overrides` (``"lr=1e-4"``, ``"data.crop_size=129,129"``), which is what
the command line's ``--set`` does.  The configuration is stored in every checkpoint
(:func:`config_to_dict` / :func:`config_from_dict`).
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..models.config import get_config

STAGES: tuple[str, ...] = ("pre", "ytb", "davis", "pre_ytb_dav", "synthetic", "real")
"""Training stages: static-image pre-training, YouTube-VOS, DAVIS, both mixed, procedural,
and ``real``: DAVIS-layout videos, their single frames as pseudo-clips and procedural videos
mixed by :attr:`TrainConfig.dataset_weights`."""

DATASET_NAMES: tuple[str, ...] = ("static", "youtubevos", "davis2017", "davis_frames",
                                  "synthetic", "instances")
"""Clip sources: ``davis_frames`` turns every annotated frame of the DAVIS-layout folder into
a pseudo-clip (the ``static`` pre-training's transforms applied to real video frames);
``instances`` animates the instances of still images independently (crossings, occlusions, twins;
:mod:`aotvideo.training.instances`)."""

_STAGE_DATASETS: dict[str, tuple[str, ...]] = {
    "pre": ("static",),
    "ytb": ("youtubevos",),
    "davis": ("davis2017",),
    "pre_ytb_dav": ("youtubevos", "davis2017"),
    "synthetic": ("synthetic",),
    "real": ("davis2017", "davis_frames", "synthetic"),
}

_REAL_WEIGHTS = (0.6, 0.25, 0.15)
"""Default mix of the ``real`` stage: videos, single-frame pseudo-clips, procedural videos."""

NO_TEST_GAP = 9999
"""The long-term memory gap of variants that only keep the reference frame long-term."""


@dataclass(frozen=True)
class DataConfig:
    """How training clips are sampled and augmented.

    Attributes:
        crop_size: (height, width) of the training crops (465x465; 464x464 for Swin).
        seq_len: frames per clip: the reference frame and ``seq_len - 1`` propagated frames.
        short_edge: videos are first scaled so their short edge is this long ...
        min_scale / max_scale: ... times a random factor in this range.
        flip_prob: probability of mirroring a whole clip horizontally.
        reverse: play videos backwards with probability 0.5.
        merge_prob: probability of pasting the objects of a second clip over a clip.
        max_objects: at most this many objects per clip (the model's identity slots).
        min_object_pixels: objects smaller than this in the reference frame are dropped.
        ytb_max_gap / davis_max_gap: largest frame step between sampled frames.
        ytb_repeat / davis_repeat: how often each video counts per epoch (DAVIS is small).
        static_root / ytb_root / davis_root: dataset folders (see :mod:`.datasets`).
        davis_resolution: DAVIS image folder (``480p`` or ``Full-Resolution``).
        synthetic_videos: number of distinct procedural videos (0: a new one per sample).
        synthetic_objects: (min, max) tracked objects per procedural video.
        synthetic_photos: where procedural videos get photographic textures from:
            ``"skimage"`` (the pictures scikit-image ships, :func:`.photos.skimage_photos`),
            a folder of images, or ``"none"`` (procedural textures only).
        exclude_videos: names of videos (sequence folders) no video source may use, e.g. a
            held-out validation set (:data:`aotvideo.training.holdout.DAVIS2016_HOLDOUT`).
        instance_roots: still-image sets of the ``instances`` source (folders with
            ``JPEGImages/``, ``Annotations/`` and ``list.txt``).
        exclude_images: image names the ``instances`` source may not use (held-out images,
            :data:`aotvideo.training.holdout.STATIC_HOLDOUT`).
        workers: data-loading processes per training process (0: load in the main process).
    """

    crop_size: tuple[int, int] = (465, 465)
    seq_len: int = 5
    short_edge: int = 480
    min_scale: float = 0.7
    max_scale: float = 1.3
    flip_prob: float = 0.5
    reverse: bool = True
    merge_prob: float = 0.3
    max_objects: int = 10
    min_object_pixels: int = 100
    ytb_max_gap: int = 3
    davis_max_gap: int = 12
    ytb_repeat: int = 1
    davis_repeat: int = 5
    static_root: str | None = None
    ytb_root: str | None = None
    davis_root: str | None = None
    davis_resolution: str = "480p"
    synthetic_videos: int = 0
    synthetic_objects: tuple[int, int] = (1, 4)
    synthetic_photos: str = "skimage"
    exclude_videos: tuple[str, ...] = ()
    instance_roots: tuple[str, ...] = ()
    exclude_images: tuple[str, ...] = ()
    workers: int = 4


@dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Attributes:
        stage: one of :data:`STAGES`.
        model: registered variant name (``aotvideo.list_models()``).
        model_overrides: ``ModelConfig`` fields to replace, as (name, value) pairs.
        datasets: data sources mixed in this stage (names of :data:`DATASET_NAMES`).
        dataset_weights: the share of the clips drawn from each source of ``datasets`` (same
            order; normalised).  Empty: every sample of every source once per epoch, so the
            sources count by their size, as the original mixes YouTube-VOS and DAVIS.
        data: clip sampling and augmentation.
        total_steps: optimiser steps (``TRAIN_TOTAL_STEPS``).
        batch_size: clips per optimiser step over all processes and accumulation steps.
        accumulation: micro-batches accumulated per optimiser step.
        lr / min_lr: peak and final learning rate.
        lr_power: exponent of the polynomial decay.
        warmup_ratio: fraction of the steps with a linear warm-up from ``min_lr``.
        encoder_lr_ratio: the encoder's learning rate is ``min_lr + ratio * (lr_now - min_lr)``.
        weight_decay: AdamW decoupled weight decay.
        no_decay_keys: parameters whose name contains one of these get no weight decay
            (besides biases and the non-encoder 1-D parameters).
        aux_loss_weight / aux_loss_ratio: weight of the reference-frame loss, decayed linearly
            to 0 over ``aux_loss_ratio * total_steps``.
        top_k_percent: bootstrapped cross-entropy keeps the hardest fraction of pixels ...
        hard_mining_ratio: ... reached linearly after this fraction of the steps.
        seq_training_start_ratio: from this fraction of the steps on, short-term memory is
            written from the network's own predictions instead of the ground truth, and the
            identity embedding is frozen.
        seq_training_frozen: parameters frozen during sequential training.
        ema_ratio: EMA decay ``1 - 1 / (ratio * total_steps)`` (0 disables the EMA).
        clip_grad_norm: gradient clipping by global norm (0 disables).
        droppath: stochastic-depth rate of the propagation layers.
        conv_dropout: channel dropout after the depthwise convolutions of DeAOT's gated
            propagation (0.1 in the original).  With ``droppath`` these are the only random
            layers; set both to 0 for runs that must match bit for bit across process counts.
        long_term_gap: frames between long-term memory writes during training.
        encoder_freeze_at: encoder stages frozen (``TRAIN_ENCODER_FREEZE_AT``; -1 none).
        id_shuffle: shuffle the identity slots per clip.
        amp: mixed precision: ``"auto"`` is float16 with a grad scaler on CUDA, bfloat16 on
            CPUs that compute it natively (AVX-512 BF16, AMX) and float32 on other CPUs (where
            bfloat16 is emulated, about 15x slower than float32); ``True`` forces it.
        seed: seed of the data stream and of the model's random layers.
        init_weights: full-model weights to start from (e.g. the ``pre`` stage's output).
        encoder_weights: ImageNet encoder weights (torchvision format) to start from.
        output: run folder (checkpoints, logs).
        save_every: steps between checkpoints.
        keep_last: checkpoints kept (older ones are deleted).
        log_every: steps between log lines.
        tensorboard: write TensorBoard scalars when TensorBoard is installed.
    """

    stage: str
    model: str
    datasets: tuple[str, ...]
    data: DataConfig
    dataset_weights: tuple[float, ...] = ()
    model_overrides: tuple[tuple[str, Any], ...] = ()
    total_steps: int = 100_000
    batch_size: int = 16
    accumulation: int = 1
    lr: float = 2e-4
    min_lr: float = 2e-5
    lr_power: float = 0.9
    warmup_ratio: float = 0.05
    encoder_lr_ratio: float = 0.1
    weight_decay: float = 0.07
    no_decay_keys: tuple[str, ...] = ("absolute_pos_embed", "relative_position_bias_table",
                                      "relative_emb_v", "conv_out")
    aux_loss_weight: float = 1.0
    aux_loss_ratio: float = 1.0
    top_k_percent: float = 0.15
    hard_mining_ratio: float = 0.5
    seq_training_start_ratio: float = 0.5
    seq_training_frozen: tuple[str, ...] = ("patch_wise_id_bank",)
    ema_ratio: float = 0.1
    clip_grad_norm: float = 5.0
    droppath: float = 0.1
    conv_dropout: float = 0.1
    long_term_gap: int = NO_TEST_GAP
    encoder_freeze_at: int = 2
    id_shuffle: bool = True
    amp: bool | Literal["auto"] = "auto"
    seed: int = 0
    init_weights: str | None = None
    encoder_weights: str | None = None
    output: str = "runs/train"
    save_every: int = 1000
    keep_last: int = 8
    log_every: int = 20
    tensorboard: bool = True

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """``model_overrides`` as keyword arguments of :func:`aotvideo.build_model`."""
        return dict(self.model_overrides)

    @property
    def warmup_steps(self) -> float:
        return self.warmup_ratio * self.total_steps

    @property
    def seq_training_start(self) -> int:
        """First step that writes short-term memory from predictions."""
        return int(self.seq_training_start_ratio * self.total_steps)

    def micro_batch(self, world_size: int) -> int:
        """Clips per process and micro-batch.

        Raises:
            ValueError: ``batch_size`` is not a multiple of ``world_size * accumulation``.
        """
        parts = world_size * self.accumulation
        if self.batch_size % parts != 0 or self.batch_size < parts:
            raise ValueError(f"batch_size {self.batch_size} must be a positive multiple of "
                             f"processes x accumulation = {world_size} x {self.accumulation}")
        return self.batch_size // parts


def stage_config(stage: str, model: str, **overrides: Any) -> TrainConfig:
    """The original recipe for ``stage`` and variant ``model``.

    Keyword overrides replace :class:`TrainConfig` fields (``data`` may be given as a dict of
    :class:`DataConfig` fields to replace).

    Raises:
        ValueError: unknown stage.
        aotvideo.errors.ModelNotFoundError: unknown model.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    model_overrides = tuple(sorted(dict(overrides.pop("model_overrides", ())).items()))
    model_config = get_config(model, **dict(model_overrides))
    side = 465 if model_config.align_corners else 464
    data = DataConfig(crop_size=(side, side), max_objects=model_config.max_objects)
    fields: dict[str, Any] = {
        "stage": stage,
        "model": model_config.name,
        "model_overrides": model_overrides,
        "datasets": _STAGE_DATASETS[stage],
        "min_lr": 2e-5 if model_config.encoder == "mobilenetv2" else 1e-5,
        # the L variants (test gap 5) write long-term memory every 2 frames in training
        "long_term_gap": 2 if model_config.long_term_gap < NO_TEST_GAP else NO_TEST_GAP,
        "output": f"runs/{model_config.name}/{stage}",
    }
    if stage == "real":
        fields["dataset_weights"] = _REAL_WEIGHTS
    if stage == "pre":
        data = replace(data, merge_prob=1.0)
        fields.update(lr=4e-4, min_lr=2e-5, weight_decay=0.03, seq_training_start_ratio=1.0,
                      aux_loss_ratio=0.1)
    data_overrides = overrides.pop("data", None)
    if isinstance(data_overrides, DataConfig):
        data = data_overrides
    elif data_overrides:
        data = replace(data, **dict(data_overrides))
    fields["data"] = data
    fields.update(overrides)
    return TrainConfig(**fields)


# ---------------------------------------------------------------------------- (de)serialisation
def config_to_dict(config: TrainConfig) -> dict[str, Any]:
    """Plain dict of the configuration (stored in checkpoints; loads with weights_only)."""
    out = dataclasses.asdict(config)
    out["model_overrides"] = [list(p) for p in config.model_overrides]
    return out


def config_from_dict(values: Mapping[str, Any]) -> TrainConfig:
    """Inverse of :func:`config_to_dict`; unknown keys are ignored, missing ones default."""
    data_fields = {f.name for f in dataclasses.fields(DataConfig)}
    data = DataConfig(**{k: _tuples(v) for k, v in dict(values.get("data", {})).items()
                         if k in data_fields})
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"data"}
    kwargs = {k: _tuples(v) for k, v in values.items() if k in names}
    kwargs["model_overrides"] = tuple(tuple(p) for p in values.get("model_overrides", ()))
    return TrainConfig(data=data, **kwargs)


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


# ---------------------------------------------------------------------------- overrides
def apply_overrides(config: TrainConfig, assignments: Iterable[str]) -> TrainConfig:
    """Replace fields from ``name=value`` strings.

    ``data.<field>=...`` sets a :class:`DataConfig` field; ``model.<field>=...`` adds a model
    override (a ``ModelConfig`` field, e.g. ``model.window_radius=3``).  Values are parsed by the
    field's type: numbers, ``true``/``false``, ``none``, and comma-separated tuples.

    Raises:
        ValueError: malformed assignment, unknown field or unparsable value.
    """
    for text in assignments:
        if "=" not in text:
            raise ValueError(f"expected name=value, got {text!r}")
        name, raw = (s.strip() for s in text.split("=", 1))
        if name.startswith("data."):
            key = name[5:]
            hints = typing.get_type_hints(DataConfig)
            if key not in hints:
                raise ValueError(f"unknown data setting {key!r}; known: {', '.join(hints)}")
            data = replace(config.data, **{key: _parse(raw, hints[key], name)})
            config = replace(config, data=data)
        elif name.startswith("model."):
            key = name[6:]
            model_hints = typing.get_type_hints(type(get_config(config.model)))
            if key not in model_hints or key == "name":
                raise ValueError(f"unknown model setting {key!r}")
            overrides = dict(config.model_overrides)
            overrides[key] = _parse(raw, model_hints[key], name)
            config = replace(config, model_overrides=tuple(sorted(overrides.items())))
        else:
            hints = typing.get_type_hints(TrainConfig)
            if name not in hints or name in ("data", "model_overrides"):
                raise ValueError(f"unknown setting {name!r}; known: "
                                 f"{', '.join(h for h in hints if h != 'model_overrides')}")
            config = replace(config, **{name: _parse(raw, hints[name], name)})
    return config


def _parse(raw: str, hint: Any, name: str) -> Any:
    """Parse ``raw`` as a value of type ``hint``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if raw.lower() in ("none", "null", ""):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        for choice in inner[:-1]:  # the first type that reads it (e.g. bool | str: true, auto)
            try:
                return _parse(raw, choice, name)
            except ValueError:
                continue
        return _parse(raw, inner[-1], name)
    if origin is tuple:
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse(p, args[0], name) for p in parts)
        if len(parts) == 1 and len(args) > 1:
            parts = parts * len(args)
        if len(parts) != len(args):
            raise ValueError(f"{name} takes {len(args)} comma-separated values, got {raw!r}")
        return tuple(_parse(p, a, name) for p, a in zip(parts, args))
    if origin is typing.Literal:
        if raw not in args:
            raise ValueError(f"{name} must be one of {args}, got {raw!r}")
        return raw
    try:
        if hint is bool:
            lowered = raw.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if hint is int:
            return int(float(raw)) if "e" in raw.lower() else int(raw)
        if hint is float:
            return float(raw)
    except ValueError:
        raise ValueError(f"cannot read {raw!r} as {hint.__name__} for {name}") from None
    return raw


def describe(config: TrainConfig) -> str:
    """Multi-line ``name = value`` listing of the configuration."""
    lines = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.name == "data":
            for g in dataclasses.fields(value):
                lines.append(f"data.{g.name} = {getattr(value, g.name)!r}")
        else:
            lines.append(f"{f.name} = {value!r}")
    return "\n".join(lines)


__all__ = ["DATASET_NAMES", "STAGES", "DataConfig", "TrainConfig", "apply_overrides",
           "config_from_dict", "config_to_dict", "describe", "stage_config"]
