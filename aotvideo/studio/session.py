"""The studio's state and work, without HTTP: one video, its workspace, edits, and one
background job at a time (a propagation or an export).

Everything the page does goes through :class:`StudioSession`; the server (:mod:`.server`) only
turns requests into calls and results into responses. Jobs publish what they do to an
:class:`EventLog` that the page follows (server-sent events).
"""
from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import AotVideoError, WorkspaceError
from ..io.formats import resolve_output
from ..io.masks import mask_ids
from ..io.seek import SeekableVideo
from ..io.workspace import ObjectInfo, Workspace, is_workspace
from ..pipeline import RunRequest, VideoSource, open_run
from ..propagation import Direction, Propagation, propagate
from ..tracking.builder import TrackerSpec, build_tracker

__all__ = ["EventLog", "JobStatus", "StudioSession", "default_workspace"]

#: What export writes, by mode: the file name's ending.
EXPORT_ENDINGS = {"overlay": ".overlay.mp4", "matte": ".matte.mp4", "alpha": ".alpha.mov",
                  "masks": ".masks"}


def default_workspace(video: str | os.PathLike[str]) -> Path:
    """``clip.mp4`` -> ``clip.studio`` beside it."""
    path = Path(video)
    return path.with_name(path.stem + ".studio")


class EventLog:
    """Numbered events for the page: a bounded backlog and a wait for the next one."""

    def __init__(self, keep: int = 2000) -> None:
        self._events: deque[tuple[int, dict[str, Any]]] = deque(maxlen=keep)
        self._next = 1
        self._changed = threading.Condition()
        self.closed = False

    def publish(self, event: dict[str, Any]) -> None:
        """Add ``event`` (a JSON-ready dict) for every follower."""
        with self._changed:
            self._events.append((self._next, event))
            self._next += 1
            self._changed.notify_all()

    def since(self, seen: int, timeout: float) -> list[tuple[int, dict[str, Any]]]:
        """Events numbered above ``seen``, waiting up to ``timeout`` seconds for one."""
        with self._changed:
            if self._next - 1 <= seen and not self.closed:
                self._changed.wait(timeout)
            return [(n, e) for n, e in self._events if n > seen]

    def close(self) -> None:
        """No more events: followers stop waiting (the server is shutting down)."""
        with self._changed:
            self.closed = True
            self._changed.notify_all()

    @property
    def last(self) -> int:
        """The newest event's number (0 before any)."""
        return self._next - 1


@dataclass
class JobStatus:
    """The background job: ``kind`` (``propagate`` / ``export``), ``state`` (``running``,
    ``paused``, ``done``, ``cancelled``, ``failed``), frames ``done`` of ``total``, a ``message``,
    and for an export its ``output``."""

    kind: str
    state: str = "running"
    done: int = 0
    total: int = 0
    message: str = ""
    output: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Job:
    def __init__(self, status: JobStatus) -> None:
        self.status = status
        self.cancel = threading.Event()
        self.running = threading.Event()
        self.running.set()
        self.done: Future[None] | None = None
        self.stop: Callable[[], None] | None = None  # an export's pipeline.cancel


class _NoTracking:
    """An export's tracker: every frame's labels come from the workspace, none is tracked."""

    def step(self, frame: np.ndarray, mask: np.ndarray | None = None) -> Any:
        raise RuntimeError("an export renders the workspace's masks; no frame is tracked")


class _FrameCache:
    """Encoded JPEGs of frames already shown, least recently used out past ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, index: int) -> bytes | None:
        with self._lock:
            data = self._items.get(index)
            if data is not None:
                self._items.move_to_end(index)
            return data

    def put(self, index: int, data: bytes) -> None:
        with self._lock:
            if index in self._items:
                return
            self._items[index] = data
            self._bytes += len(data)
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= len(dropped)


class StudioSession:
    """One video opened in the studio.

    Args:
        video: the video file.
        workspace: its workspace folder (made when missing; reopened to resume).
        tracker: how propagations track (:class:`~aotvideo.tracking.TrackerSpec`).
        cache_bytes: memory for encoded frames already shown (scrubbing back is then instant).

    Raises:
        InputError: the video cannot be read by index. WorkspaceError: the folder holds
        something else, or a workspace made for another video.
    """

    def __init__(self, video: str | os.PathLike[str], workspace: str | os.PathLike[str] | None = None,
                 *, tracker: TrackerSpec = TrackerSpec(), cache_bytes: int = 256 << 20) -> None:
        self.video_path = str(Path(video).resolve())
        self.video = SeekableVideo(self.video_path)
        root = Path(workspace) if workspace is not None else default_workspace(video)
        try:
            if is_workspace(root):
                self.workspace = Workspace.open(root)
                self.workspace.check_video(self.video.width, self.video.height, self.video.frames)
            else:
                if root.exists() and any(root.iterdir()):
                    raise WorkspaceError(f"{root} is a folder with other files, not a workspace; "
                                         "give a new or empty folder with --workspace")
                self.workspace = Workspace.create(root, self.video_path, width=self.video.width,
                                                  height=self.video.height, frames=self.video.frames)
        except BaseException:
            self.video.close()
            raise
        self.tracker_spec = tracker
        self.events = EventLog()
        self._frames = _FrameCache(cache_bytes)
        self._decoded: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.RLock()  # workspace writes: page requests and the job thread
        self._job: _Job | None = None
        # one long-lived thread runs every job: a new thread per job would get its own malloc
        # arena, and the memory of finished jobs would stay with the process
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="studio-job")
        self._segmenter: Any = None

    # -- what the page shows ----------------------------------------------------------------------

    def project(self) -> dict[str, Any]:
        """The page's picture of the project: video, objects, keyframes, which frames hold which
        objects, and the job."""
        ws = self.workspace
        with self._lock:
            presence = ws.presence()
            return {
                "video": Path(self.video_path).name,
                "width": self.video.width, "height": self.video.height,
                "frames": self.video.frames, "fps": self.video.frame_rate,
                "workspace": str(ws.root),
                "objects": [asdict(o) for o in ws.objects],
                "keyframes": list(ws.keyframes),
                "presence": [[i, list(ids)] for i, ids in sorted(presence.items())],
                "job": None if self._job is None else self._job.status.to_json(),
                "events": self.events.last,
            }

    def frame_jpeg(self, index: int) -> bytes:
        """Frame ``index`` as JPEG (cached once shown)."""
        self._check_frame(index)
        data = self._frames.get(index)
        if data is None:
            image = self._image(index)
            ok, encoded = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise WorkspaceError(f"frame {index} cannot be encoded")
            data = encoded.tobytes()
            self._frames.put(index, data)
        return data

    def _image(self, index: int) -> np.ndarray:
        """Frame ``index`` decoded (the last few are kept: edits on one frame decode it once)."""
        self._check_frame(index)
        with self._lock:
            image = self._decoded.get(index)
            if image is not None:
                self._decoded.move_to_end(index)
                return image
        image = self.video.frame(index)
        with self._lock:
            self._decoded[index] = image
            while len(self._decoded) > 4:
                self._decoded.popitem(last=False)
        return image

    def labels_png(self, index: int) -> bytes | None:
        """Frame ``index``'s label map as a grayscale PNG (pixel value = object id), or ``None``
        when the frame has no mask."""
        labels = self.labels(index)
        return None if labels is None else _gray_png(labels)

    def labels(self, index: int) -> np.ndarray | None:
        """Frame ``index``'s label map (H x W uint8) or ``None``."""
        self._check_frame(index)
        return self.workspace.labels(index)

    # -- objects -------------------------------------------------------------------------------

    def add_object(self, name: str | None = None) -> ObjectInfo:
        with self._lock:
            info = self.workspace.add_object(name)
        self.events.publish({"type": "objects"})
        return info

    def rename_object(self, object_id: int, name: str) -> ObjectInfo:
        with self._lock:
            info = self.workspace.rename_object(object_id, name)
        self.events.publish({"type": "objects"})
        return info

    def remove_object(self, object_id: int) -> None:
        self._refuse_while_running("remove an object")
        with self._lock:
            self.workspace.remove_object(object_id)
        self.events.publish({"type": "objects"})

    # -- edits (each makes the frame a keyframe) -------------------------------------------------

    def set_labels(self, index: int, labels: np.ndarray) -> None:
        """Save ``labels`` (H x W ids) as frame ``index``'s decided mask (a brush stroke, an
        eraser, an undo)."""
        with self._lock:
            self.workspace.write_keyframe(index, labels)
        self.events.publish({"type": "mask", "index": index, "keyframe": True})

    def import_mask(self, index: int, path: str | os.PathLike[str]) -> list[int]:
        """Frame ``index``'s mask from an image file (any mask ``track`` reads); ids not yet
        objects become new objects. Returns the ids."""
        from ..io.masks import read_mask

        labels = read_mask(path)
        if labels.max() > 255:
            raise WorkspaceError("a mask for the studio holds object ids up to 255")
        with self._lock:
            known = {o.id for o in self.workspace.objects}
            for object_id in mask_ids(labels):
                if object_id not in known:
                    self.workspace.add_object(object_id=object_id)
            self.workspace.write_keyframe(index, labels.astype(np.uint8))
        self.events.publish({"type": "objects"})
        self.events.publish({"type": "mask", "index": index, "keyframe": True})
        return list(mask_ids(labels))

    def box(self, index: int, object_id: int, box: Sequence[int]) -> None:
        """Object ``object_id`` on frame ``index`` becomes what the box head finds in ``box``
        ``(x0, y0, x1, y1)`` (it takes those pixels from other objects)."""
        from ..boxmask import BoxSegmenter

        image = self._image(index)
        if self._segmenter is None:
            self._segmenter = BoxSegmenter()
        found = self._segmenter.masks(image, [box])[0]
        self._replace_object(index, object_id, found)

    def clicks(self, index: int, object_id: int, positives: Sequence[Sequence[float]],
               negatives: Sequence[Sequence[float]]) -> None:
        """Refine object ``object_id`` on frame ``index`` with positive and negative clicks
        (:func:`aotvideo.boxmask.clicks.refine_with_clicks`)."""
        from ..boxmask.clicks import refine_with_clicks

        image = self._image(index)
        current = self.labels(index)
        mine = np.zeros(image.shape[:2], bool) if current is None else current == object_id
        found = refine_with_clicks(image, mine, positives, negatives)
        self._replace_object(index, object_id, found, keep_others=True)

    def _replace_object(self, index: int, object_id: int, found: np.ndarray,
                        keep_others: bool = False) -> None:
        with self._lock:
            if object_id not in {o.id for o in self.workspace.objects}:
                raise WorkspaceError(f"unknown object id {object_id}")
            current = self.workspace.labels(index)
            labels = np.zeros(found.shape, np.uint8) if current is None else current.copy()
            labels[labels == object_id] = 0
            claim = found & (labels == 0) if keep_others else found
            labels[claim] = object_id
            self.workspace.write_keyframe(index, labels)
        self.events.publish({"type": "mask", "index": index, "keyframe": True})

    def set_keyframe(self, index: int, keyframe: bool) -> None:
        with self._lock:
            self.workspace.set_keyframe(index, keyframe)
        self.events.publish({"type": "mask", "index": index, "keyframe": keyframe})

    def clear(self, index: int) -> None:
        """Frame ``index`` loses its mask (an undo back to nothing)."""
        with self._lock:
            self.workspace.clear(index)
        self.events.publish({"type": "mask", "index": index, "keyframe": False, "cleared": True})

    # -- jobs -------------------------------------------------------------------------------------

    def propagate(self, start: int, direction: Direction, *, stop: int | None = None,
                  stop_at_keyframe: bool = True) -> JobStatus:
        """Start propagating frame ``start``'s mask ``direction`` (to ``stop``, included, or the
        video's end), in the background. Frames written: every frame reached except keyframes."""
        self._check_frame(start)
        if stop is not None:
            self._check_frame(stop)
        labels = self.labels(start)
        if labels is None or not mask_ids(labels):
            raise WorkspaceError(f"frame {start} has no mask to propagate: mark the objects first")
        run = Propagation(start, direction, stop=stop, stop_at_keyframe=stop_at_keyframe)
        total = abs(run.last_frame(self.video.frames) - start)
        status = JobStatus("propagate", total=total,
                           detail={"start": start, "direction": direction, "stop": stop,
                                   "stop_at_keyframe": stop_at_keyframe})
        return self._start(status, lambda job: self._run_propagation(job, run, labels))

    def export(self, mode: str, output: str | None = None) -> JobStatus:
        """Render every frame with its mask as ``mode`` (overlay, matte, alpha, masks) through
        ``track``'s writers, in the background; default output in the workspace's ``exports``."""
        if mode not in EXPORT_ENDINGS:
            raise WorkspaceError(f"export mode must be one of {', '.join(EXPORT_ENDINGS)}")
        target = output or str(self.workspace.root / "exports" / (Path(self.video_path).stem + EXPORT_ENDINGS[mode]))
        if mode == "masks" and not target.endswith(os.sep):
            target += os.sep
        status = JobStatus("export", total=self.video.frames, output=target.rstrip(os.sep),
                           detail={"mode": mode})
        return self._start(status, lambda job: self._run_export(job, mode, target))

    def pause(self) -> None:
        job = self._current("pause")
        job.running.clear()
        job.status.state = "paused"
        self._publish_job(job)

    def resume(self) -> None:
        job = self._current("resume")
        job.status.state = "running"
        job.running.set()
        self._publish_job(job)

    def cancel(self) -> None:
        job = self._current("cancel")
        job.cancel.set()
        if job.stop is not None:
            job.stop()
        job.running.set()

    def wait(self, timeout: float | None = None) -> JobStatus | None:
        """Wait for the job to end (tests, scripts); returns its status."""
        job = self._job
        if job is not None and job.done is not None:
            wait_futures([job.done], timeout)
        return None if job is None else job.status

    def close(self) -> None:
        """Cancel the job and release the video."""
        job = self._job
        if job is not None and job.done is not None and not job.done.done():
            job.cancel.set()
            if job.stop is not None:
                job.stop()
            job.running.set()
            wait_futures([job.done], 30)
        self._worker.shutdown(wait=False)
        self.video.close()

    # -- job internals ----------------------------------------------------------------------------

    def _current(self, action: str) -> _Job:
        job = self._job
        if job is None or job.status.state not in ("running", "paused"):
            raise WorkspaceError(f"nothing to {action}: no job is running")
        return job

    def _refuse_while_running(self, action: str) -> None:
        job = self._job
        if job is not None and job.status.state in ("running", "paused"):
            raise WorkspaceError(f"cannot {action} while a {job.status.kind} runs: cancel it or "
                                 "wait for it")

    def _start(self, status: JobStatus, work: Callable[[_Job], None]) -> JobStatus:
        self._refuse_while_running(f"start a {status.kind}")
        job = _Job(status)
        self._job = job

        def body() -> None:
            try:
                work(job)
                job.status.state = "cancelled" if job.cancel.is_set() else "done"
            except AotVideoError as exc:
                job.status.state, job.status.message = "failed", str(exc)
            except Exception as exc:  # a bug: the page says so, the server keeps running
                job.status.state = "failed"
                job.status.message = f"{type(exc).__name__}: {exc}"
            self._publish_job(job)

        self._publish_job(job)
        job.done = self._worker.submit(body)
        return replace(status)

    def _publish_job(self, job: _Job) -> None:
        self.events.publish({"type": "job", **job.status.to_json()})

    def _gate(self, job: _Job) -> bool:
        """Between frames: wait while paused; whether to go on."""
        job.running.wait()
        return not job.cancel.is_set()

    def _run_propagation(self, job: _Job, run: Propagation, labels: np.ndarray) -> None:
        tracker = build_tracker(self.tracker_spec)
        keyframes = self.workspace.keyframe_masks()
        with self.video.reopen() as video:  # its own decoder: the page's reads do not move it
            self._propagate_frames(job, video, tracker, labels, run, keyframes)

    def _propagate_frames(self, job: _Job, video: SeekableVideo, tracker: Any, labels: np.ndarray,
                          run: Propagation, keyframes: Any) -> None:
        """The propagation loop: write each frame reached (keyframes excepted), publish it.
        Its frames/s counts from the first frame reached, like a tracker's own speed (which
        leaves out the start frame's reference step)."""
        first: float | None = None
        for frame in propagate(video, tracker, labels, run, keyframes):
            if not self._gate(job):
                break
            if not frame.keyframe:
                with self._lock:
                    written = self.workspace.write_propagated(frame.index, frame.labels)
            else:
                written = False
            job.status.done += 1
            now = time.monotonic()
            first = now if first is None else first
            if now > first:
                job.status.detail["fps"] = round((job.status.done - 1) / (now - first), 2)
            self.events.publish({"type": "propagated", "index": frame.index, "written": written,
                                 "ids": list(mask_ids(frame.labels)), "done": job.status.done,
                                 "total": job.status.total})

    def _run_export(self, job: _Job, mode: str, target: str) -> None:
        with self._lock:
            entries = self.workspace.mask_entries()
        from ..io.masks import read_mask

        masks = {index: read_mask(path) for index, path in entries}
        spec = resolve_output(target, mode)
        Path(spec.target).parent.mkdir(parents=True, exist_ok=True)

        def known(index: int) -> tuple[np.ndarray, tuple[int, ...]]:
            labels = self.workspace.labels(index)
            if labels is None:
                labels = np.zeros((self.video.height, self.video.width), np.uint8)
            return labels, mask_ids(labels)

        def progress(p: Any) -> None:
            job.status.done = p.frames
            job.running.wait()  # paused from the page
            if p.frames % 5 == 0 or p.frames == p.total:
                self._publish_job(job)

        request = RunRequest(VideoSource(self.video_path), spec, masks, known=known)
        with open_run(request, _NoTracking(), progress=progress) as pipeline:
            job.stop = pipeline.cancel
            if job.cancel.is_set():
                return
            report = pipeline.run()
        job.status.message = f"wrote {report.frames_written} frames to {spec.target}"

    def _check_frame(self, index: int) -> int:
        if not 0 <= int(index) < self.video.frames:
            raise WorkspaceError(f"frame {index}: the video has frames 0 to {self.video.frames - 1}")
        return int(index)


def _gray_png(labels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint8))
    if not ok:
        raise WorkspaceError("a label map cannot be encoded")
    return data.tobytes()

