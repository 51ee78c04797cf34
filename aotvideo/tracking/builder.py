"""The one way to get a :class:`Tracker`: a frozen :class:`TrackerSpec` and :func:`build_tracker`.

Every entry point (``aotvideo track``, batch workers, evaluation jobs, the GStreamer element)
describes what it wants as a spec and calls :func:`build_tracker`.  Trackers built for the same
(variant, weights, device) share one inference-optimised model (:func:`shared_model`): the model
holds weights only, every tracker holds its own video, so a worker that switches between
options keeps one copy of the network in memory, not one per tracker.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..errors import DeviceError, WeightsError
from ..models import build_model, load_weights
from ..models.inference import optimize_for_inference
from ..models.model import AOTModel
from ..zoo import resolve_weights
from .precision import Amp, resolve_device
from .tracker import DEFAULT_MAX_LONG_TERM, Tracker

DEFAULT_OBJECTS_PER_GROUP = "auto"
_SHARED_MODELS = 4
"""Optimised models kept in memory (least recently used ones are let go beyond this)."""


@dataclass(frozen=True)
class TrackerSpec:
    """How to track, apart from the video: model, weights, device and every tracker option.

    Attributes:
        model: variant name (:func:`aotvideo.list_models`).
        weights: checkpoint path; ``None`` resolves like ``aotvideo track`` does (an installed
            checkpoint, else the packaged model, :func:`aotvideo.zoo.resolve_weights`).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``...; ``None``: CUDA when present, else CPU.
        amp: mixed precision (``"auto"``, ``True``, ``False``; see :class:`Tracker`).
        flip / scales: test-time augmentation.
        max_long_term: cap of the recent long-term memory frames (``None``: unbounded).
        long_term_gap: frames between long-term memory writes (``None``: the variant's).
        max_short_edge: network input short-edge limit (``None``: what the weights prefer,
            else the protocol's 480).
        min_short_edge: frames with a shorter short edge are enlarged to it for the network
            (``None``: what the weights prefer -- the packaged model: 400 -- else never).
        objects_per_group: objects per identity group: a number (1 .. the model's identity
            bank), or ``"auto"``: what the weights prefer (the packaged model: 1, every object
            alone), else the bank's size (see :class:`Tracker`).
    """

    model: str = "deaott"
    weights: str | None = None
    device: str | None = None
    amp: Amp = "auto"
    flip: bool = False
    scales: tuple[float, ...] = (1.0,)
    max_long_term: int | None = DEFAULT_MAX_LONG_TERM
    long_term_gap: int | None = None
    max_short_edge: int | None = None
    min_short_edge: int | None = None
    objects_per_group: int | str = DEFAULT_OBJECTS_PER_GROUP

    def on(self, device: str | None) -> TrackerSpec:
        """The same spec on another device."""
        return replace(self, device=device)


def parse_objects_per_group(text: str | int) -> int | str:
    """A command line's ``--objects-per-group``: ``"auto"`` or a number from 1 to 10.

    Raises:
        ValueError: anything else, with what is expected.
    """
    word = str(text).strip().lower()
    if word == "auto":
        return "auto"
    try:
        number = int(word)
    except ValueError:
        number = 0
    if not 1 <= number <= 10:
        raise ValueError(f"expected auto or a number from 1 to 10, got {text!r}")
    return number


_models: OrderedDict[tuple[str, str, str], AOTModel] = OrderedDict()
_lock = threading.Lock()


def shared_model(model: str, weights: str | Path, device: torch.device) -> AOTModel:
    """The inference-optimised ``model`` with ``weights`` on ``device``, built once per process
    and shared by every tracker that asks for the same three.

    Raises:
        WeightsError: the weights cannot be read or do not fit the variant.
        ModelNotFoundError: unknown variant.
    """
    key = (model, str(Path(weights).resolve()), str(device))
    with _lock:
        if key in _models:
            _models.move_to_end(key)
            return _models[key]
    net = build_model(model)
    try:
        load_weights(net, str(weights))
    except WeightsError as exc:
        raise WeightsError(f"{exc} (weights: {weights})") from exc
    net = optimize_for_inference(net).to(device)
    with _lock:
        net = _models.setdefault(key, net)
        while len(_models) > _SHARED_MODELS:
            _models.popitem(last=False)
    return net


def build_tracker(spec: TrackerSpec) -> Tracker:
    """A new :class:`Tracker` for ``spec`` over the shared model of its (variant, weights, device).

    Raises:
        WeightsError: no weights found, unreadable, or not fitting the variant.
        ModelNotFoundError: unknown variant.
        DeviceError: the device cannot be used (unknown, no CUDA), or the model fails on it.
        ValueError: an option out of range.
    """
    weights = resolve_weights(spec.model, spec.weights)
    options: dict = {"amp": spec.amp, "flip": spec.flip, "scales": tuple(spec.scales),
                     "max_long_term": spec.max_long_term, "long_term_gap": spec.long_term_gap,
                     "objects_per_group": spec.objects_per_group}
    if spec.max_short_edge is not None:
        options["max_short_edge"] = spec.max_short_edge
    if spec.min_short_edge is not None:
        options["min_short_edge"] = spec.min_short_edge
    try:
        device = resolve_device(spec.device)
        model = shared_model(spec.model, weights, device)
    except WeightsError:
        raise
    except (RuntimeError, ValueError, AssertionError) as exc:
        raise DeviceError(f"cannot set up the tracker on device {spec.device or 'auto'}: "
                          f"{exc}") from exc
    try:
        return Tracker(model, device, **options)
    except (RuntimeError, AssertionError) as exc:
        raise DeviceError(f"cannot set up the tracker on device {device}: {exc}") from exc


__all__ = ["DEFAULT_OBJECTS_PER_GROUP", "TrackerSpec", "build_tracker",
           "parse_objects_per_group", "shared_model"]
