"""The per-video tracking session.

A :class:`Tracker` holds everything one video needs -- memories, object ids, frame counter --
while the model stays stateless and can be shared by many trackers.  One call per frame::

    tracker = aotvideo.Tracker(model)
    for index, frame in enumerate(frames):
        result = tracker.step(frame, mask=first_mask if index == 0 else None)
        result.labels      # (H, W) int64 label map with the user's object ids
"""
from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FrameError, MaskError
from ..models.inference import optimize_for_inference
from ..models.model import AOTModel
from ..models.propagation import MemoryEntry
from .memory import GroupMemory
from .precision import Amp, autocast_dtype, precision_name, resolve_device
from .preprocess import Picture, network_input_size, normalize_frame, resize_labels
from .upsample import channel_argmax, upsampled_argmax

DEFAULT_MAX_LONG_TERM = 16
"""Default cap on recent long-term memory frames (80 frames of history at gap 5)."""

_UNUSED_LOGIT = -1e10


@dataclass(frozen=True)
class TrackResult:
    """Output of :meth:`Tracker.step` for one frame.

    Attributes:
        frame_index: index of the frame in the session (0-based).
        object_ids: ids of the tracked objects, ascending.
        label_map: (H, W) on the CPU; 0 for background, else an id of ``object_ids``; uint8
            when every id is at most 255 (a 4K map: 8 MB), else int64 -- the cheapest form.
        labels: see the property.
        logits: merged identity logits at the network's stride 4, (1 + 10, h/4, w/4) with one
            group, (1 + objects_per_group * groups, h/4, w/4) with more, of the un-augmented
            pass (channel ``1 + slot`` per object, unused slots very negative) -- the raw
            network output, for diagnostics and conformance checks; ``None`` on frames that
            were not propagated (before and at the first mask).
        probs: see the property.
    """

    frame_index: int
    object_ids: tuple[int, ...]
    _probs: torch.Tensor | Callable[[], torch.Tensor] = field(repr=False)
    label_map: torch.Tensor
    logits: torch.Tensor | None = None

    @functools.cached_property
    def labels(self) -> torch.Tensor:
        """(H, W) int64 on the CPU: :attr:`label_map` widened (made on first use)."""
        return self.label_map.long()

    @functools.cached_property
    def probs(self) -> torch.Tensor:
        """(1 + N, H, W) float32 on the CPU; channel 0 background, channel ``i`` the object
        ``object_ids[i - 1]``.

        Worked out on first access: the labels do not need full-resolution probabilities
        (the arg-max of the upsampled logits is the arg-max of their softmax), so callers that
        only read ``labels`` never pay for them.
        """
        return self._probs if isinstance(self._probs, torch.Tensor) else self._probs()


@dataclass
class _Augmentation:
    """One test-time augmentation (scale, flip) with its own memories."""

    scale: float
    flip: bool
    input_size: tuple[int, int]
    pos_emb: torch.Tensor | None = None
    groups: list[GroupMemory] = field(default_factory=list)


class Tracker:
    """Semi-supervised video object segmentation session over one video.

    Args:
        model: a network from :func:`aotvideo.build_model` with weights loaded.
        device: where to run; default CUDA when available, else CPU.  The model is moved there.
        amp: mixed precision: ``"auto"`` (bfloat16 autocast on CPUs with native bfloat16,
            float16 on CUDA, float32 elsewhere; see :mod:`aotvideo.tracking.precision`),
            ``True`` (bfloat16 on CPUs, float16 on CUDA) or ``False`` (float32).  The
            precision chosen is :attr:`precision`.
        max_long_term: cap on the recent long-term memory frames (``None``: unbounded like the
            original).  Mask frames are kept too (the first and the newest ``max_long_term``).
        long_term_gap: frames between long-term memory writes; default the variant's.
        flip: test-time augmentation with the horizontally mirrored frame.
        scales: test-time scales of the network input size (1.0 = the protocol's size).
        max_short_edge / max_long_edge: limits of the network input size; ``"auto"``: what
            the weights' metadata prefers (``model.preferred_input``, set by
            :func:`aotvideo.load_weights`), else the protocol's 480 / 1040.  ``None``: no limit.
        min_short_edge: frames with a shorter short edge are enlarged to it for the network
            (the labels still come at the frame's size); ``"auto"``: what the weights prefer
            (the packaged model: 400), else ``None``, never enlarge (the protocol).
        optimize: run an inference-optimised copy of the model (batch norms folded into the
            convolutions, channels-last weights; same function up to float rounding, see
            :func:`aotvideo.models.optimize_for_inference`).  Pass a model that is already
            optimised to share one copy between many trackers.
        objects_per_group: how many objects share one identity group (1 up to the model's
            identity bank, ``config.max_objects``).  Each group has its own memory and its own
            propagation and decoding pass per frame; groups are merged by probability, as the
            original does past 10 objects.  1 tracks every object alone: each object's memory
            then only has to tell it from the background, not from the other objects (measured
            in the README, "Several objects").  The encoder runs once per frame whatever the
            grouping.  ``"auto"``: what the weights' metadata prefers
            (``model.preferred_input``; the packaged model prefers 1), else the bank's size;
            ``None``: the bank's size (the original's behaviour).

    A tracker is not thread-safe; use one per video (they may share the model).
    """

    def __init__(self, model: AOTModel, device: torch.device | str | None = None, *,
                 amp: Amp = "auto", max_long_term: int | None = DEFAULT_MAX_LONG_TERM,
                 long_term_gap: int | None = None, flip: bool = False,
                 scales: Sequence[float] = (1.0,), max_short_edge: int | None | str = "auto",
                 max_long_edge: int | None | str = "auto", optimize: bool = True,
                 objects_per_group: int | str | None = "auto",
                 min_short_edge: int | None | str = "auto") -> None:
        if max_long_term is not None and max_long_term < 1:
            raise ValueError("max_long_term must be at least 1 (or None for unbounded)")
        if not scales or any(s <= 0 for s in scales):
            raise ValueError("scales must be positive numbers")
        self.device = resolve_device(device)
        if optimize and not getattr(model, "inference_optimized", False):
            model = optimize_for_inference(model)  # a copy: the caller's model stays as it is
        self.model = model.to(self.device).eval()
        self.config = model.config
        preferred = dict(getattr(model, "preferred_input", None) or {})
        self.objects_per_group = _group_size(objects_per_group, preferred,
                                             self.config.max_objects)
        self._autocast_dtype = autocast_dtype(amp, self.device)
        self.max_long_term = max_long_term
        self.long_term_gap = long_term_gap or self.config.long_term_gap
        self.flip = flip
        self.scales = tuple(float(s) for s in scales)
        self.max_short_edge = _input_limit(max_short_edge, preferred, "max_short_edge", 480)
        self.max_long_edge = _input_limit(max_long_edge, preferred, "max_long_edge", 1040)
        self.min_short_edge = _input_limit(min_short_edge, preferred, "min_short_edge", None)
        self.reset()

    # ------------------------------------------------------------------ public API
    def reset(self) -> None:
        """Forget the video: objects, memories, frame counter."""
        self._frame_index = 0
        self._frame_size: tuple[int, int] | None = None
        self._slots: dict[int, int] = {}
        self._removed: set[int] = set()
        self._augs: list[_Augmentation] = []

    @property
    def object_ids(self) -> tuple[int, ...]:
        """Ids of the objects being tracked, ascending."""
        return tuple(sorted(self._slots))

    @property
    def amp(self) -> bool:
        """Whether the session runs in mixed precision (see :attr:`precision`)."""
        return self._autocast_dtype is not None

    @property
    def precision(self) -> str:
        """The arithmetic of the session: ``"float32"``, ``"bfloat16"`` or ``"float16"``."""
        return precision_name(self._autocast_dtype)

    @property
    def frame_index(self) -> int:
        """Index the next call to :meth:`step` will get."""
        return self._frame_index

    @property
    def memory_bytes(self) -> int:
        """Bytes held by all memories of this session."""
        return sum(g.nbytes for aug in self._augs for g in aug.groups)

    def remove(self, ids: int | Iterable[int]) -> None:
        """Stop tracking the given object ids (unknown ids raise :class:`KeyError`)."""
        ids = [ids] if isinstance(ids, int) else list(ids)
        unknown = [i for i in ids if i not in self._slots]
        if unknown:
            raise KeyError(f"not tracked: {unknown}; tracked ids are {list(self.object_ids)}")
        for i in ids:
            self._removed.add(self._slots.pop(i))
        if not self._slots:
            self._slots, self._removed, self._augs = {}, set(), []

    def step(self, frame: np.ndarray | torch.Tensor | Picture,
             mask: np.ndarray | torch.Tensor | None = None, *,
             memory_labels: np.ndarray | torch.Tensor | None = None) -> TrackResult:
        """Segment the next frame.

        Args:
            frame: (H, W, 3) uint8 RGB (numpy or torch; an alpha channel is ignored), or a
                :class:`~aotvideo.tracking.preprocess.Picture` such as a decoder's YUV planes
                (:class:`aotvideo.io.yuv.Yuv420Image`), which makes the network input itself.
            mask: optional (H, W) integer label map, 0 background, positive ids.  Objects new
                in it start being tracked here; objects it contains are re-anchored to it.
            memory_labels: optional (H, W) label map of already tracked ids to write into this
                frame's memory instead of the prediction (a correction that, unlike ``mask``,
                does not become a permanent reference).  The result still reports the
                prediction.  Ignored on frames with ``mask``.

        Returns:
            :class:`TrackResult` for this frame.

        Raises:
            FrameError: wrong shape or dtype, or the size changed within the video.
            MaskError: mask of the wrong size, or negative ids.
        """
        image = self._check_frame(frame)
        labels_in = None if mask is None else self._check_mask(mask, image.shape[:2])
        feedback = None
        if memory_labels is not None and mask is None:
            feedback = self._check_mask(memory_labels, image.shape[:2])
            unknown = sorted(set(np.unique(feedback).tolist()) - {0} - set(self._slots))
            if unknown:
                raise MaskError(f"memory_labels has ids that are not tracked: {unknown}")
        if self._frame_size is None:
            self._frame_size = image.shape[:2]
            self._augs = self._make_augmentations(*self._frame_size)
        index = self._frame_index
        with torch.inference_mode(), self._autocast():
            result = self._step(image, labels_in, index, feedback)
        self._frame_index += 1
        return result

    # ------------------------------------------------------------------ validation
    def _check_frame(self, frame: np.ndarray | torch.Tensor | Picture) -> np.ndarray | Picture:
        if isinstance(frame, Picture):
            self._check_size(frame.shape[:2])
            return frame
        if isinstance(frame, torch.Tensor):
            frame = frame.detach().cpu().numpy()
        if not isinstance(frame, np.ndarray):
            raise FrameError(f"frame must be a numpy array or torch tensor, got {type(frame).__name__}")
        if frame.ndim != 3 or frame.shape[2] not in (3, 4):
            raise FrameError(f"frame must be H x W x 3 (RGB), got shape {tuple(frame.shape)}")
        if frame.dtype != np.uint8:
            raise FrameError(f"frame must be uint8, got {frame.dtype}")
        if frame.shape[2] == 4:
            frame = frame[:, :, :3]
        self._check_size(frame.shape[:2])
        return frame

    def _check_size(self, size: tuple[int, int]) -> None:
        if self._frame_size is not None and tuple(size) != tuple(self._frame_size):
            raise FrameError(f"frame size {size[1]}x{size[0]} differs from the "
                             f"video's {self._frame_size[1]}x{self._frame_size[0]}; call reset() "
                             "for a new video")

    @staticmethod
    def _check_mask(mask: np.ndarray | torch.Tensor, size: tuple[int, int]) -> np.ndarray:
        if isinstance(mask, torch.Tensor):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask)
        if mask.ndim == 3 and mask.shape[2] == 1:
            mask = mask[:, :, 0]
        if mask.ndim != 2:
            raise MaskError(f"mask must be an H x W label map, got shape {tuple(mask.shape)}")
        if mask.shape != tuple(size):
            raise MaskError(f"mask is {mask.shape[1]}x{mask.shape[0]} but the frame is "
                            f"{size[1]}x{size[0]}")
        if not np.issubdtype(mask.dtype, np.integer) and mask.dtype != np.bool_:
            if not np.all(np.mod(mask, 1) == 0):
                raise MaskError(f"mask must hold integer object ids, got {mask.dtype} values")
        mask = mask.astype(np.int64)
        if mask.min() < 0:
            raise MaskError("mask ids must be >= 0 (0 = background)")
        return mask

    # ------------------------------------------------------------------ internals
    def _autocast(self) -> contextlib.AbstractContextManager:
        if self._autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self._autocast_dtype)

    def _make_augmentations(self, height: int, width: int) -> list[_Augmentation]:
        augs = []
        for scale in self.scales:
            size = network_input_size(height, width, align_corners=self.config.align_corners,
                                      max_short_edge=self.max_short_edge,
                                      max_long_edge=self.max_long_edge, scale=scale,
                                      min_short_edge=self.min_short_edge)
            augs.append(_Augmentation(scale, False, size))
            if self.flip:
                augs.append(_Augmentation(scale, True, size))
        return augs

    def _slots_given(self) -> list[int]:
        """Every slot handed out in this session, removed objects' included."""
        return list(self._slots.values()) + list(self._removed)

    def _slot_labels(self, ids: torch.Tensor) -> torch.Tensor:
        """User-id label map -> slot+1 label map (0 stays background; ids must be tracked)."""
        lookup = torch.zeros(int(ids.max()) + 1, dtype=torch.long, device=ids.device)
        for object_id, slot in self._slots.items():
            if object_id < lookup.numel():
                lookup[object_id] = slot + 1
        return lookup[ids]

    @property
    def _num_groups(self) -> int:
        used = max(self._slots_given(), default=-1) + 1
        return max(1, math.ceil(used / self.objects_per_group))

    def _group_objects(self, group: int) -> int:
        """Highest local channel in use by ``group`` (the original's per-group object count)."""
        per = self.objects_per_group
        slots = [s for s in self._slots_given()
                 if s // per == group]
        return max(slots) % per + 1 if slots else 0

    def _step(self, image: np.ndarray | Picture, labels_in: np.ndarray | None, index: int,
              feedback: np.ndarray | None = None) -> TrackResult:
        height, width = image.shape[:2]
        tracking = bool(self._slots)
        if not tracking and labels_in is None:
            return self._empty_result(index, height, width)

        inputs = [normalize_frame(image, aug.input_size, flip=aug.flip, device=self.device)
                  .contiguous(memory_format=torch.channels_last) for aug in self._augs]
        features = [self.model.encode_image(x) for x in inputs]
        for aug, feats in zip(self._augs, features):
            if aug.pos_emb is None:
                h16, w16 = feats[-1].shape[-2:]
                aug.pos_emb = self.model.position_embedding(h16, w16, self.device)

        probs: Callable[[], torch.Tensor] | None = None
        aug_labels: list[torch.Tensor] = []
        logits_out = None
        currents: list[list[list[MemoryEntry]]] = []
        if tracking:
            all_logits = []
            for aug_i, (aug, feats) in enumerate(zip(self._augs, features)):
                logits, group_currents = self._propagate(aug, feats)
                currents.append(group_currents)
                if aug_i == 0:
                    logits_out = logits[0].float().cpu()
                all_logits.append(self._used_logits(aug, logits))
            if len(all_logits) == 1:  # labels without full-size logits; probabilities if asked
                low = all_logits[0]
                slot_labels = upsampled_argmax(low, (height, width), self.config.align_corners)
                aug_labels = [slot_labels]
                probs = functools.partial(self._full_size_probs, low, height, width)
            else:
                full = [self._full_size_logits(aug, low, height, width)
                        for aug, low in zip(self._augs, all_logits)]
                aug_labels = [channel_argmax(f) for f in full]
                probs, slot_labels = _combine_augmentations(full, aug_labels)
        else:
            slot_labels = torch.zeros((height, width), dtype=torch.long, device=self.device)

        if labels_in is not None:
            given = torch.from_numpy(labels_in).to(self.device)
            slot_given, given_slots = self._assign_slots(given)
            slot_labels = _merge_labels(slot_labels, slot_given, given_slots)
            aug_labels = [_merge_labels(l, slot_given, given_slots) for l in aug_labels] \
                or [slot_labels] * len(self._augs)
            for aug, feats, label in zip(self._augs, features, aug_labels):
                self._add_reference(aug, feats, label, index)
            with_mask = self._probs_with_mask(None if probs is None else probs(), slot_labels,
                                              given_slots)
            probs = _constant(with_mask)
        else:
            if feedback is not None:
                given = torch.from_numpy(feedback).to(self.device)
                aug_labels = [self._slot_labels(given)] * len(self._augs)
            for aug, group_currents, label in zip(self._augs, currents, aug_labels):
                self._write_memory(aug, group_currents, label, index)
        return self._result(index, probs, slot_labels, logits_out)

    def _used_logits(self, aug: _Augmentation, logits: torch.Tensor) -> torch.Tensor:
        """Stride-4 logits (1, C, h, w) -> (C', h, w) float32, planar, still flipped for a flipped
        augmentation; slots past the last used one are dropped when there is one group (they
        hold -1e10, probability exactly 0)."""
        if len(aug.groups) == 1:
            logits = logits[:, :self._group_objects(0) + 1]
        # planar: the decoder's output is channels-last, and bilinear upsampling of a few
        # channels is 1.7x faster from planar input (same numbers)
        return logits[0].float().contiguous()

    def _full_size_logits(self, aug: _Augmentation, low: torch.Tensor, height: int,
                          width: int) -> torch.Tensor:
        """:meth:`_used_logits` (C', h, w) -> (C', H, W) float32 at the frame's size, un-flipped."""
        up = F.interpolate(low[None], size=(height, width), mode="bilinear",
                           align_corners=self.config.align_corners)[0]
        return up.flip(-1) if aug.flip else up

    def _full_size_probs(self, low: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Softmax of the one augmentation's logits at the frame's size, (C', H, W)."""
        return torch.softmax(self._full_size_logits(self._augs[0], low, height, width), dim=0)

    def _propagate(self, aug: _Augmentation, feats: list[torch.Tensor],
                   ) -> tuple[torch.Tensor, list[list[MemoryEntry]]]:
        """Merged stride-4 logits (1, 1 + objects_per_group * G, h, w) of all groups (one group:
        its 1 + 10 channels), and each group's current (pre-identity) entries."""
        per = self.objects_per_group
        group_logits, group_currents = [], []
        for g, memory in enumerate(aug.groups):
            assert memory.short_term is not None
            out = self.model.propagate(feats, memory.long_term, memory.short_term,
                                       pos_emb=aug.pos_emb)
            logits = self.model.decode(out.embeddings, feats).float()
            logits[:, self._group_objects(g) + 1:] = _UNUSED_LOGIT
            for slot in self._removed:
                if slot // per == g:
                    logits[:, slot % per + 1] = _UNUSED_LOGIT
            group_logits.append(logits)
            group_currents.append(out.current)
        return _merge_group_logits(group_logits, per), group_currents

    @staticmethod
    def _input_labels(aug: _Augmentation, slot_labels: torch.Tensor) -> torch.Tensor:
        """A full-size slot label map (+1 = ids) at the augmentation's input size, flipped as
        its input is, int64."""
        small = resize_labels(slot_labels, aug.input_size).long()
        return small.flip(-1) if aug.flip else small

    def _id_embedding(self, small: torch.Tensor, group: int) -> torch.Tensor:
        """Identity embedding of ``group``'s objects in an input-size slot label map."""
        per = self.objects_per_group
        local = small - group * per
        local = torch.where((local >= 1) & (local <= per), local, torch.zeros_like(local))
        return self.model.identity_embedding_of_labels(local)

    def _write_memory(self, aug: _Augmentation, group_currents: list[list[MemoryEntry]],
                      slot_labels: torch.Tensor, index: int) -> None:
        small = self._input_labels(aug, slot_labels)
        for g, (memory, current) in enumerate(zip(aug.groups, group_currents)):
            id_emb = self._id_embedding(small, g)
            memory.add_frame(self.model.fuse_memory(current, id_emb), index, self.long_term_gap)

    def _add_reference(self, aug: _Augmentation, feats: list[torch.Tensor],
                       slot_labels: torch.Tensor, index: int) -> None:
        while len(aug.groups) < self._num_groups:
            aug.groups.append(GroupMemory(self.max_long_term))
        small = self._input_labels(aug, slot_labels)
        for g, memory in enumerate(aug.groups):
            id_emb = self._id_embedding(small, g)
            out = self.model.propagate(feats, None, None, id_emb=id_emb, pos_emb=aug.pos_emb)
            assert out.fused is not None
            memory.add_reference(out.fused, index)

    def _assign_slots(self, given: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
        """Map user ids of a mask to slots (new ids get new slots, ascending); returns the
        slot+1 label map and the slots present."""
        ids = [int(i) for i in torch.unique(given).tolist() if i != 0]
        if not ids:
            raise MaskError("the mask contains no object (all pixels are 0)")
        next_slot = max(self._slots_given(), default=-1) + 1
        for object_id in ids:
            if object_id not in self._slots:
                self._slots[object_id] = next_slot
                next_slot += 1
        return self._slot_labels(given), [self._slots[i] for i in ids]

    def _probs_with_mask(self, probs: torch.Tensor | None, slot_labels: torch.Tensor,
                         given_slots: list[int]) -> torch.Tensor:
        """Probabilities of a frame with a user mask: certain inside the mask's objects."""
        channels = 1 + self.objects_per_group * self._num_groups
        one_hot = F.one_hot(slot_labels, channels).permute(2, 0, 1).float()
        if probs is None:
            return one_hot
        if probs.shape[0] < channels:
            probs = F.pad(probs, (0, 0, 0, 0, 0, channels - probs.shape[0]))
        given_channels = torch.tensor([s + 1 for s in given_slots], device=probs.device)
        inside = torch.isin(slot_labels, given_channels)
        probs = probs.clone()
        moved = probs[given_channels].sum(0)
        probs[given_channels] = 0
        probs[0] += moved
        return torch.where(inside.unsqueeze(0), one_hot, probs)

    def _result(self, index: int, probs: Callable[[], torch.Tensor], slot_labels: torch.Tensor,
                logits: torch.Tensor | None) -> TrackResult:
        ids = self.object_ids
        channels = [0] + [self._slots[i] + 1 for i in ids]
        every_channel = 1 + self.objects_per_group * self._num_groups
        lookup = torch.zeros(every_channel, dtype=torch.long, device=slot_labels.device)
        for object_id, channel in zip(ids, channels[1:]):
            lookup[channel] = object_id

        def user_probs() -> torch.Tensor:
            with torch.inference_mode():
                return _select_channels(probs(), channels).float().cpu()

        return TrackResult(index, ids, user_probs, _user_labels(slot_labels, lookup).cpu(),
                           logits)

    def _empty_result(self, index: int, height: int, width: int) -> TrackResult:
        return TrackResult(index, (), torch.ones((1, height, width)),
                           torch.zeros((height, width), dtype=torch.uint8), None)


def _user_labels(slot_labels: torch.Tensor, lookup: torch.Tensor) -> torch.Tensor:
    """The user's ids of a slot label map (``lookup[slot + 1]`` = id), as uint8 when every id
    fits, else int64.  Ids 1..N in slots 1..N (the usual case) need no lookup at all."""
    small = int(lookup.max()) <= 255
    if torch.equal(lookup, torch.arange(len(lookup), device=lookup.device)):
        mapped = slot_labels
    elif small and slot_labels.dtype == torch.uint8 and slot_labels.device.type == "cpu":
        mapped = torch.from_numpy(lookup.numpy().astype(np.uint8)[slot_labels.numpy()])
    else:
        mapped = lookup[slot_labels.long()]
    return mapped.to(torch.uint8 if small else torch.long)


def _combine_augmentations(logits: list[torch.Tensor], labels: list[torch.Tensor],
                           ) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """Full-size logits (C, H, W) and arg-max labels of each augmentation -> a function giving
    the (mean) probabilities, and the labels.  One augmentation: its labels, probabilities only
    when asked for; several: the arg-max of their mean probabilities."""
    if len(logits) == 1:
        only = logits[0]
        return functools.partial(torch.softmax, only, dim=0), labels[0]
    probs = torch.stack([torch.softmax(l, dim=0) for l in logits]).mean(0)
    return _constant(probs), channel_argmax(probs)


def _constant(value: torch.Tensor) -> Callable[[], torch.Tensor]:
    """A function returning ``value`` (probabilities already worked out)."""
    return lambda: value


def _select_channels(probs: torch.Tensor, channels: list[int]) -> torch.Tensor:
    """``probs[channels]`` where channels past the end (unused slots dropped before the
    upsampling) are zero."""
    if max(channels) < probs.shape[0]:
        return probs[channels]
    padded = F.pad(probs, (0, 0, 0, 0, 0, max(channels) + 1 - probs.shape[0]))
    return padded[channels]


def _merge_labels(predicted: torch.Tensor, given: torch.Tensor,
                  given_slots: list[int]) -> torch.Tensor:
    """Prediction (slot+1 labels) overridden by a user mask: the mask's objects are exactly
    where the mask puts them; other pixels keep the prediction."""
    channels = torch.tensor([s + 1 for s in given_slots], device=predicted.device)
    out = torch.where(torch.isin(predicted, channels), torch.zeros_like(predicted), predicted)
    return torch.where(given > 0, given, out)


def _merge_group_logits(group_logits: list[torch.Tensor], per_group: int) -> torch.Tensor:
    """Merge identity groups by probability: background = product of the groups' background
    probabilities, each object keeps its group's probability; then back to logits."""
    if len(group_logits) == 1:
        return group_logits[0]
    probs = [torch.softmax(l, dim=1) for l in group_logits]
    background = torch.prod(torch.cat([p[:, :1] for p in probs], dim=1), dim=1, keepdim=True)
    merged = torch.cat([background] + [p[:, 1:1 + per_group] for p in probs], dim=1)
    return torch.logit(merged.clamp(1e-5, 1 - 1e-5))


def _group_size(value: int | str | None, preferred: dict[str, int | None], bank: int) -> int:
    """Resolve ``objects_per_group``: ``"auto"`` takes the weights' preference, ``None`` (and
    ``"auto"`` without one) the identity bank's size."""
    if value == "auto":
        value = preferred.get("objects_per_group")
    if value is None:
        return bank
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bank:
        raise ValueError(f"objects_per_group must be between 1 and {bank} (the model's identity "
                         f"bank), None or 'auto', got {value!r}")
    return value


def _input_limit(value: int | None | str, preferred: dict[str, int | None], key: str,
                 protocol: int | None) -> int | None:
    """Resolve one input-size limit: ``"auto"`` takes the weights' preference, else the
    protocol's value."""
    if value == "auto":
        return preferred.get(key, protocol)
    if value is not None and (not isinstance(value, int) or value < 16):
        raise ValueError(f"{key} must be an integer of at least 16, None or 'auto', got {value!r}")
    return value
