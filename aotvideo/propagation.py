"""Keyframes and propagation in both directions: the one function the CLI, batch and the studio
call to carry masks from a frame to the frames around it.

A **keyframe** is a frame whose label map a person gave (a mask file, a correction in the
studio). A propagation starts from one frame's labels and runs the tracker frame by frame,
forward or backward, over frames read from a :class:`~aotvideo.io.seek.SeekableVideo` (a chunk
at a time, so memory stays bounded however long the video is).

The rule for keyframes met on the way:

* ``stop_at_keyframe=True`` (the studio's "until the next keyframe"): the run stops before the
  next keyframe, which keeps its labels;
* ``stop_at_keyframe=False``: the run goes through it, re-anchored to the keyframe's labels
  there (as ``track`` does with ``--mask 120:fix.png``), and reports the keyframe's own labels
  for that frame -- a keyframe is never overwritten by a propagation.
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np

from .errors import MaskError
from .io.masks import mask_ids
from .io.seek import DEFAULT_CHUNK, SeekableVideo

__all__ = ["Direction", "LabelSpill", "PropagatedFrame", "Propagation", "propagate", "track_backward"]

Direction = Literal["forward", "backward"]


class _Result(Protocol):
    object_ids: tuple[int, ...]
    labels: object


class _Tracker(Protocol):
    def step(self, frame: np.ndarray, mask: np.ndarray | None = None) -> _Result: ...


@dataclass(frozen=True)
class Propagation:
    """One run of the tracker from a frame.

    Attributes:
        start: the frame whose labels start the run (it is not reported: it keeps its labels).
        direction: ``"forward"`` (to later frames) or ``"backward"`` (to earlier ones).
        stop: the last frame to reach, included (an out point forward, an in point backward);
            ``None``: the video's last (forward) or first (backward) frame.
        stop_at_keyframe: stop before the next keyframe instead of going through it.
    """

    start: int
    direction: Direction = "forward"
    stop: int | None = None
    stop_at_keyframe: bool = True

    def __post_init__(self) -> None:
        if self.direction not in ("forward", "backward"):
            raise ValueError(f"direction must be forward or backward, got {self.direction!r}")
        if self.start < 0:
            raise ValueError(f"start frame {self.start} is negative")

    def last_frame(self, frames: int) -> int:
        """The frame the run ends at (included) in a video of ``frames`` frames; equal to
        :attr:`start` when there is nothing to do."""
        if self.direction == "forward":
            end = frames - 1 if self.stop is None else min(self.stop, frames - 1)
            return max(end, self.start)
        end = 0 if self.stop is None else max(self.stop, 0)
        return min(end, self.start)


@dataclass(frozen=True)
class PropagatedFrame:
    """One frame a propagation reached: ``labels`` (H x W uint8 object ids, upright),
    ``object_ids`` (the objects tracked) and whether it is a ``keyframe`` passed through (its
    labels are then the keyframe's own)."""

    index: int
    labels: np.ndarray
    object_ids: tuple[int, ...]
    keyframe: bool = False


def _as_labels(value: object) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()  # type: ignore[attr-defined]
    labels = np.asarray(value)
    if labels.size and labels.max() > 255:
        raise MaskError(f"object ids up to 255 can be propagated, got {int(labels.max())}")
    return labels.astype(np.uint8, copy=False)


def propagate(
    video: SeekableVideo,
    tracker: _Tracker,
    labels: np.ndarray,
    run: Propagation,
    keyframes: Mapping[int, np.ndarray] | None = None,
    *,
    chunk: int = DEFAULT_CHUNK,
) -> Iterator[PropagatedFrame]:
    """Carry ``labels`` (H x W ids of frame ``run.start``, upright) through the video.

    ``tracker`` is a fresh tracking session (:func:`aotvideo.tracking.build_tracker`); it sees
    the frames in the run's order, so backward runs are ordinary tracking over reversed time.
    ``keyframes`` (index -> H x W labels; may load lazily) are handled as the module says.
    Yields one :class:`PropagatedFrame` per frame reached, in the run's order; stop iterating
    to cancel, wait between items to pause.

    Raises:
        MaskError: ``labels`` has no object, or not the video's size.
        IndexError: ``run.start`` is outside the video.
    """
    keyframes = keyframes or {}
    if not 0 <= run.start < video.frames:
        raise IndexError(f"frame {run.start}: the video has frames 0 to {video.frames - 1}")
    labels = np.asarray(labels)
    if labels.shape != (video.height, video.width):
        raise MaskError(f"the labels of frame {run.start} are {labels.shape[1]}x{labels.shape[0]}, "
                        f"the video {video.width}x{video.height}")
    if not mask_ids(labels):
        raise MaskError(f"frame {run.start} has no object to propagate")
    last = run.last_frame(video.frames)
    frames = video.frames_between(run.start, last, chunk=chunk)
    _, image = next(frames)
    tracker.step(image, mask=labels)
    for index, image in frames:
        if index in keyframes:
            if run.stop_at_keyframe:
                return
            given = np.asarray(keyframes[index])
            result = tracker.step(image, mask=given)
            yield PropagatedFrame(index, _as_labels(given), _ids(result), keyframe=True)
            continue
        result = tracker.step(image)
        yield PropagatedFrame(index, _as_labels(result.label_map), _ids(result))


def _ids(result: _Result) -> tuple[int, ...]:
    return tuple(int(i) for i in result.object_ids)


class LabelSpill:
    """Label maps kept on disk while a run needs them later (a backward pass's frames, written
    out in forward order afterwards): one lossless PNG per frame in a temporary folder, so a
    long backward pass costs disk (a few KB a frame), not memory. Use as a context manager."""

    def __init__(self, directory: str | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="aotvideo-labels-", dir=directory)
        self._root = Path(self._dir.name)
        self._ids: dict[int, tuple[int, ...]] = {}

    def put(self, index: int, labels: np.ndarray, object_ids: tuple[int, ...]) -> None:
        """Keep frame ``index``'s labels (H x W uint8)."""
        ok, data = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8))
        if not ok:
            raise OSError(f"cannot encode the labels of frame {index}")
        (self._root / f"{index:08d}.png").write_bytes(data.tobytes())
        self._ids[index] = object_ids

    def __contains__(self, index: object) -> bool:
        return index in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, index: int) -> tuple[np.ndarray, tuple[int, ...]] | None:
        """Frame ``index``'s labels and object ids, or ``None`` when not kept."""
        if index not in self._ids:
            return None
        data = np.frombuffer((self._root / f"{index:08d}.png").read_bytes(), np.uint8)
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED), self._ids[index]

    def close(self) -> None:
        """Delete the folder."""
        self._dir.cleanup()

    def __enter__(self) -> LabelSpill:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def track_backward(
    path: str,
    masks: Mapping[int, np.ndarray],
    make_tracker: Callable[[], _Tracker],
    spill: LabelSpill,
    *,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> int:
    """Fill ``spill`` with the frames before the first of ``masks``, tracked backward from it
    (what ``aotvideo track`` does before writing from frame 0). Returns the frames tracked.

    ``progress`` is called with each frame done; ``should_stop`` is asked between frames.
    Raises :class:`~aotvideo.errors.InputError` / ``InputDecodeError`` for an unreadable file.
    """
    first = min(masks)
    if first == 0:
        return 0
    done = 0
    with SeekableVideo(path) as video:
        run = Propagation(first, "backward", stop=0, stop_at_keyframe=False)
        for frame in propagate(video, make_tracker(), masks[first], run):
            spill.put(frame.index, frame.labels, frame.object_ids)
            done += 1
            if progress is not None:
                progress(done)
            if should_stop is not None and should_stop():
                break
    return done
