"""Studio workspaces (:mod:`aotvideo.io.workspace`): what is saved, that a reopened workspace
resumes, that keyframes are never overwritten by propagation, that a crash between a mask and
its log line loses nothing, and the masks ``track`` and batch take from it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from aotvideo.errors import WorkspaceError
from aotvideo.io.masks import read_mask
from aotvideo.io.workspace import Workspace, is_workspace


def labels(value: int = 1, size: tuple[int, int] = (40, 64)) -> np.ndarray:
    out = np.zeros(size, np.uint8)
    out[5:15, 10:30] = value
    return out


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    ws = Workspace.create(tmp_path / "w", tmp_path / "clip.mp4", width=64, height=40, frames=10)
    ws.add_object("runner")
    ws.add_object()
    return ws


def test_saved_and_resumed(workspace: Workspace, tmp_path: Path) -> None:
    both = labels(1)
    both[20:30, 40:60] = 2
    workspace.write_keyframe(3, both)
    assert workspace.write_propagated(4, labels(2))
    reopened = Workspace.open(tmp_path / "w")
    assert [(o.id, o.name) for o in reopened.objects] == [(1, "runner"), (2, "object 2")]
    assert reopened.keyframes == (3,)
    assert reopened.presence() == {3: (1, 2), 4: (2,)}
    assert np.array_equal(reopened.labels(3), both)
    # masks are palette PNGs any DAVIS tool reads, index = id
    assert np.array_equal(read_mask(reopened.mask_path(3)), both)
    project = json.loads((tmp_path / "w" / "project.json").read_text())
    assert project["keyframes"] == [3] and project["video"].endswith("clip.mp4")
    assert is_workspace(tmp_path / "w") and not is_workspace(tmp_path)


def test_propagation_never_overwrites_a_keyframe(workspace: Workspace) -> None:
    workspace.write_keyframe(5, labels(1))
    assert not workspace.write_propagated(5, labels(2))
    assert np.array_equal(workspace.labels(5), labels(1))
    workspace.set_keyframe(5, False)
    assert workspace.write_propagated(5, labels(2))


def test_remove_object_erases_it_everywhere(workspace: Workspace) -> None:
    workspace.write_keyframe(1, labels(2))
    workspace.write_propagated(2, labels(1))
    workspace.remove_object(2)
    assert workspace.labels(1) is None and workspace.keyframes == ()  # left empty: gone
    assert workspace.labels(2) is not None
    assert [o.id for o in workspace.objects] == [1]


def test_bad_masks_get_clear_errors(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="masks of this video are 64x40"):
        workspace.write_keyframe(0, np.zeros((10, 10), np.uint8))
    with pytest.raises(WorkspaceError, match="unknown object id.*7"):
        workspace.write_keyframe(0, labels(7))
    with pytest.raises(WorkspaceError, match="frames 0 to 9"):
        workspace.write_keyframe(10, labels(1))
    with pytest.raises(WorkspaceError, match="no mask to keep"):
        workspace.set_keyframe(6, True)
    with pytest.raises(WorkspaceError, match="unknown object id 9"):
        workspace.rename_object(9, "x")


def test_a_crash_after_the_mask_before_its_log_line(workspace: Workspace, tmp_path: Path) -> None:
    workspace.write_keyframe(2, labels(1))
    log = tmp_path / "w" / "presence.log"
    log.write_text(log.read_text() + "7 1,")  # a torn last line
    (tmp_path / "w" / "masks" / "00000003.png").write_bytes(workspace.mask_path(2).read_bytes())
    reopened = Workspace.open(tmp_path / "w")
    assert reopened.presence() == {2: (1,), 3: (1,)}
    assert "7" not in log.read_text().split()


def test_no_partial_files_after_writes(workspace: Workspace, tmp_path: Path) -> None:
    for index in range(10):
        workspace.write_propagated(index, labels(1))
    leftovers = [p for p in (tmp_path / "w").rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_masks_for_track_and_batch(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceError, match="no keyframe with an object"):
        workspace.mask_entries()
    workspace.write_keyframe(6, labels(1))
    workspace.write_keyframe(2, np.zeros((40, 64), np.uint8))  # decided empty: not a track mask
    workspace.write_propagated(4, labels(2))
    assert workspace.mask_entries() == [(6, str(workspace.mask_path(6)))]
    assert list(workspace.keyframe_masks()) == [2, 6]


def test_not_a_workspace_and_a_newer_one(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="not an aotvideo workspace"):
        Workspace.open(tmp_path)
    (tmp_path / "project.json").write_text('{"format": "aotvideo-workspace", "version": 99}')
    with pytest.raises(WorkspaceError, match="newer aotvideo"):
        Workspace.open(tmp_path)
    with pytest.raises(WorkspaceError, match="already holds"):
        Workspace.create(tmp_path, "v.mp4", width=1, height=1, frames=1)
    assert os.listdir(tmp_path) == ["project.json"]
