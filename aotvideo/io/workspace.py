"""A studio workspace: one video's objects, keyframes and masks in a folder.

::

    WORKSPACE/
      project.json        the video, its size and frame count, the objects (id, name), the keyframes
      masks/00000120.png  frame 120's label map (palette PNG, DAVIS palette: index = object id)
      presence.log        which objects each written frame holds (one line per write; for the timeline)

Every mask and ``project.json`` is written atomically (a temporary file, renamed), so a killed
process leaves each file either as it was or as it was meant to be: no edit is half-saved. Edits
(keyframes, objects) are also flushed to the disk before the rename, so they survive a power cut;
propagated masks are not (a propagation can be run again; flushing every frame would slow it).
``presence.log`` is append-only; a torn last line is ignored and it is rewritten compactly
when the workspace opens.

Keyframes are frames a person decided (a box, clicks, a brush stroke, an imported mask): a
propagation never writes over them (:meth:`Workspace.write_propagated`). ``aotvideo track
--workspace`` and batch manifests read the keyframes (:meth:`Workspace.keyframe_masks`), so a
studio session can be rendered anywhere.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import WorkspaceError
from .masks import davis_palette, encode_png, mask_ids, read_mask
from .paths import write_atomic

__all__ = ["ObjectInfo", "Workspace", "is_workspace"]

FORMAT = "aotvideo-workspace"
VERSION = 1
_PALETTE = davis_palette()


@dataclass(frozen=True)
class ObjectInfo:
    """An object of the workspace: its ``id`` (the value in the label maps, 1-255) and ``name``."""

    id: int
    name: str


def is_workspace(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds a workspace (its ``project.json``)."""
    return (Path(folder) / "project.json").is_file()


class _KeyframeMasks(Mapping[int, np.ndarray]):
    """The keyframes' label maps, each read from its PNG when asked for."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        self._keys = workspace.keyframes

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self._keys:
            raise KeyError(index)
        labels = self._workspace.labels(index)
        if labels is None:
            raise WorkspaceError(f"{self._workspace.root}: keyframe {index} has no mask file")
        return labels

    def __iter__(self) -> Iterator[int]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


class Workspace:
    """An open workspace (see the module). Not safe for several writers at once: one studio
    server per workspace; readers (``track --workspace``) may read while it runs."""

    def __init__(self, root: Path, project: dict[str, Any]) -> None:
        self.root = root
        self._project = project
        self._presence: dict[int, tuple[int, ...]] = {}
        self._load_presence()

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def create(cls, folder: str | os.PathLike[str], video: str | os.PathLike[str], *,
               width: int, height: int, frames: int) -> Workspace:
        """A new, empty workspace for ``video`` (``width`` x ``height`` upright, ``frames``
        frames) in ``folder`` (created; it must not hold a workspace already)."""
        root = Path(folder)
        if is_workspace(root):
            raise WorkspaceError(f"{root} already holds a workspace")
        (root / "masks").mkdir(parents=True, exist_ok=True)
        project = {"format": FORMAT, "version": VERSION, "video": str(Path(video).resolve()),
                   "width": int(width), "height": int(height), "frames": int(frames),
                   "objects": [], "keyframes": []}
        workspace = cls(root, project)
        workspace._save_project()
        return workspace

    @classmethod
    def open(cls, folder: str | os.PathLike[str]) -> Workspace:
        """The workspace in ``folder``.

        Raises:
            WorkspaceError: no workspace there, or its ``project.json`` is damaged or newer.
        """
        root = Path(folder)
        path = root / "project.json"
        if not path.is_file():
            raise WorkspaceError(f"{root} is not an aotvideo workspace (no project.json); the "
                                 "studio makes one: aotvideo studio VIDEO --workspace " + str(root))
        try:
            project = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkspaceError(f"{path} cannot be read: {exc}") from exc
        if not isinstance(project, dict) or project.get("format") != FORMAT:
            raise WorkspaceError(f"{path} is not an aotvideo workspace file")
        if int(project.get("version", 0)) > VERSION:
            raise WorkspaceError(f"{path} was written by a newer aotvideo (format version "
                                 f"{project['version']}); update aotvideo to open it")
        (root / "masks").mkdir(exist_ok=True)
        return cls(root, project)

    def check_video(self, width: int, height: int, frames: int) -> None:
        """Raise :class:`WorkspaceError` unless the workspace was made for a video of this size
        and length (a workspace belongs to one video)."""
        project = self._project
        mine = (project["width"], project["height"], project["frames"])
        if mine != (width, height, frames):
            raise WorkspaceError(
                f"{self.root} was made for a {mine[0]}x{mine[1]} video of {mine[2]} frames "
                f"({project['video']}), not this {width}x{height} one of {frames} frames")

    # -- what it holds -------------------------------------------------------------------------

    @property
    def video(self) -> str:
        """The video's path as it was when the workspace was made."""
        return str(self._project["video"])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the masks: the upright picture."""
        return int(self._project["width"]), int(self._project["height"])

    @property
    def frames(self) -> int:
        """Frames in the video."""
        return int(self._project["frames"])

    @property
    def objects(self) -> tuple[ObjectInfo, ...]:
        """The objects, by id."""
        return tuple(ObjectInfo(int(o["id"]), str(o["name"])) for o in self._project["objects"])

    @property
    def keyframes(self) -> tuple[int, ...]:
        """Frames a person decided, ascending."""
        return tuple(sorted(int(k) for k in self._project["keyframes"]))

    def presence(self) -> dict[int, tuple[int, ...]]:
        """Frame index -> the object ids its mask holds, for every frame with a mask."""
        return dict(self._presence)

    def mask_path(self, index: int) -> Path:
        """Where frame ``index``'s mask lives (it may not exist)."""
        return self.root / "masks" / f"{index:08d}.png"

    def labels(self, index: int) -> np.ndarray | None:
        """Frame ``index``'s label map (H x W uint8), or ``None`` when it has no mask."""
        self._check_index(index)
        path = self.mask_path(index)
        if not path.is_file():
            return None
        try:
            return read_mask(path).astype(np.uint8)
        except Exception as exc:  # a damaged mask file: say which
            raise WorkspaceError(f"{path} cannot be read: {exc}") from exc

    def mask_entries(self) -> list[tuple[int, str]]:
        """``(frame, mask file)`` of every keyframe that holds an object: what ``aotvideo track
        --workspace`` and a batch manifest's ``workspace`` give the tracker, as ``--mask
        FRAME:PATH`` would. Raises :class:`WorkspaceError` when there is none."""
        entries = [(k, str(self.mask_path(k))) for k in self.keyframes if self._presence.get(k)]
        if not entries:
            raise WorkspaceError(f"{self.root} has no keyframe with an object yet: mark the "
                                 "objects on a frame in the studio first")
        return entries

    def keyframe_masks(self) -> Mapping[int, np.ndarray]:
        """Keyframe index -> label map, read on access: the masks ``aotvideo track`` starts from."""
        return _KeyframeMasks(self)

    # -- objects -------------------------------------------------------------------------------

    def add_object(self, name: str | None = None, object_id: int | None = None) -> ObjectInfo:
        """A new object: ``object_id`` (1-255, not taken), or the smallest free id."""
        used = {o.id for o in self.objects}
        if object_id is not None:
            if not 1 <= object_id <= 255 or object_id in used:
                raise WorkspaceError(f"object id {object_id} is taken or not in 1-255")
            free: int | None = object_id
        else:
            free = next((i for i in range(1, 256) if i not in used), None)
        if free is None:
            raise WorkspaceError("a workspace holds at most 255 objects")
        info = ObjectInfo(free, (name or "").strip() or f"object {free}")
        self._project["objects"].append(asdict(info))
        self._project["objects"].sort(key=lambda o: o["id"])
        self._save_project()
        return info

    def rename_object(self, object_id: int, name: str) -> ObjectInfo:
        """Give object ``object_id`` a new name."""
        entry = self._object_entry(object_id)
        if not name.strip():
            raise WorkspaceError("an object's name cannot be empty")
        entry["name"] = name.strip()
        self._save_project()
        return ObjectInfo(object_id, entry["name"])

    def remove_object(self, object_id: int) -> None:
        """Forget object ``object_id`` and erase it from every mask (frames left with no object
        lose their mask; keyframes left empty stop being keyframes)."""
        entry = self._object_entry(object_id)
        for index, ids in sorted(self._presence.items()):
            if object_id not in ids:
                continue
            labels = self.labels(index)
            if labels is None:
                continue
            labels[labels == object_id] = 0
            if mask_ids(labels):
                self._write(index, labels)
            else:
                self._delete_mask(index)
        self._project["objects"].remove(entry)
        self._save_project()

    def check_ids(self, labels: np.ndarray) -> None:
        """Raise :class:`WorkspaceError` when ``labels`` holds ids that are not objects here."""
        known = {o.id for o in self.objects}
        unknown = sorted(set(mask_ids(labels)) - known)
        if unknown:
            raise WorkspaceError(f"unknown object id(s) {', '.join(map(str, unknown))}; the "
                                 f"objects are {', '.join(map(str, sorted(known))) or 'none yet'}")

    # -- masks and keyframes ----------------------------------------------------------------------

    def write_keyframe(self, index: int, labels: np.ndarray) -> None:
        """Save a decided mask for frame ``index`` and make it a keyframe (an empty mask: the
        frame has no objects, decided so)."""
        labels = self._checked(index, labels)
        self._write(index, labels, durable=True)
        if index not in self.keyframes:
            self._project["keyframes"].append(index)
            self._save_project()

    def write_propagated(self, index: int, labels: np.ndarray) -> bool:
        """Save a propagation's mask for frame ``index``, unless it is a keyframe (returns
        whether it was written)."""
        if index in self._project["keyframes"]:
            return False
        self._write(index, self._checked(index, labels), durable=False)
        return True

    def set_keyframe(self, index: int, keyframe: bool) -> None:
        """Mark or unmark frame ``index`` as a keyframe (its mask stays)."""
        self._check_index(index)
        keys = self._project["keyframes"]
        if keyframe and index not in keys:
            if not self.mask_path(index).is_file():
                raise WorkspaceError(f"frame {index} has no mask to keep as a keyframe")
            keys.append(index)
        elif not keyframe and index in keys:
            keys.remove(index)
        else:
            return
        self._save_project()

    def clear(self, index: int) -> None:
        """Remove frame ``index``'s mask (and keyframe mark)."""
        self._check_index(index)
        self._delete_mask(index)

    # -- internals -------------------------------------------------------------------------------

    def _object_entry(self, object_id: int) -> dict[str, Any]:
        for entry in self._project["objects"]:
            if int(entry["id"]) == int(object_id):
                return entry
        raise WorkspaceError(f"unknown object id {object_id}; the objects are "
                             f"{', '.join(str(o.id) for o in self.objects) or 'none yet'}")

    def _check_index(self, index: int) -> None:
        if not 0 <= int(index) < self.frames:
            raise WorkspaceError(f"frame {index}: the video has frames 0 to {self.frames - 1}")

    def _checked(self, index: int, labels: np.ndarray) -> np.ndarray:
        self._check_index(index)
        labels = np.asarray(labels)
        width, height = self.size
        if labels.shape != (height, width):
            shape = "x".join(map(str, labels.shape[::-1]))
            raise WorkspaceError(f"the mask for frame {index} is {shape}; masks of this video are "
                                 f"{width}x{height}")
        if labels.size and (labels.min() < 0 or labels.max() > 255):
            raise WorkspaceError("object ids must be 1-255")
        labels = labels.astype(np.uint8, copy=False)
        self.check_ids(labels)
        return labels

    def _write(self, index: int, labels: np.ndarray, durable: bool = True) -> None:
        write_atomic(self.mask_path(index), encode_png(labels, palette=_PALETTE), durable=durable)
        ids = mask_ids(labels)
        self._presence[index] = ids
        self._log_presence(index, ids)

    def _delete_mask(self, index: int) -> None:
        path = self.mask_path(index)
        if path.exists():
            path.unlink()
        self._presence.pop(index, None)
        self._log_presence(index, None)
        if index in self._project["keyframes"]:
            self._project["keyframes"].remove(index)
            self._save_project()

    def _save_project(self) -> None:
        self._project["keyframes"] = sorted(set(int(k) for k in self._project["keyframes"]))
        text = json.dumps(self._project, indent=2) + "\n"
        write_atomic(self.root / "project.json", text.encode("utf-8"))

    def _log_presence(self, index: int, ids: tuple[int, ...] | None) -> None:
        line = f"{index} {'-' if ids is None else ','.join(map(str, ids))}\n"
        with open(self.root / "presence.log", "a", encoding="utf-8") as log:
            log.write(line)

    def _load_presence(self) -> None:
        """Read the presence log (last word per frame wins), check it against the mask files,
        and rewrite it compactly."""
        log = self.root / "presence.log"
        seen: dict[int, tuple[int, ...]] = {}
        if log.is_file():
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                index, _, ids = line.partition(" ")
                try:
                    if ids == "-":
                        seen.pop(int(index), None)
                    else:
                        seen[int(index)] = tuple(int(i) for i in ids.split(",") if i)
                except ValueError:
                    continue  # a line torn by a crash
        on_disk = {int(p.stem) for p in (self.root / "masks").glob("*.png") if p.stem.isdigit()}
        for index in on_disk - set(seen):  # written, but the crash came before the log line
            labels = read_mask(self.mask_path(index))
            seen[index] = mask_ids(labels)
        self._presence = {i: ids for i, ids in seen.items() if i in on_disk}
        lines = "".join(f"{i} {','.join(map(str, ids))}\n" for i, ids in sorted(self._presence.items()))
        write_atomic(log, lines.encode("utf-8"))
