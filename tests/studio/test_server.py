"""The studio's HTTP API over a real session (the packaged model, a PyAV-encoded clip), through
Starlette's test client, and the ``aotvideo studio`` command as a real server process."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from aotvideo.io.masks import write_palette_png
from aotvideo.studio import StudioSession
from aotvideo.studio.server import make_app
from tests.studio.conftest import FRAMES, iou

pytest.importorskip("httpx2", reason="the studio API tests use Starlette's test client, which needs httpx2")
from starlette.testclient import TestClient  # noqa: E402  (needs httpx2)


@pytest.fixture
def client(session: StudioSession) -> TestClient:
    return TestClient(make_app(session), base_url="http://127.0.0.1")


def wait_until(condition, timeout: float = 120.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def gray_png(labels: np.ndarray) -> bytes:
    return cv2.imencode(".png", labels.astype(np.uint8))[1].tobytes()


def labels_of(response) -> np.ndarray:  # type: ignore[no-untyped-def]
    return cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)


def test_edit_propagate_and_read_back(client: TestClient, session: StudioSession, clip) -> None:  # type: ignore[no-untyped-def]
    _, truth = clip
    project = client.get("/api/project").json()
    assert (project["width"], project["height"], project["frames"]) == (320, 192, FRAMES)
    assert client.post("/api/objects", json={"name": "disc"}).json() == {"id": 1, "name": "disc"}
    assert client.post("/api/objects", json={}).json()["id"] == 2
    assert client.put("/api/frames/0/labels", content=gray_png(truth[0])).status_code == 200
    assert np.array_equal(labels_of(client.get("/api/frames/0/labels.png")), truth[0])
    assert client.get("/api/frames/5/labels.png").status_code == 404
    frame = client.get("/api/frames/5.jpg")
    assert frame.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(frame.content, np.uint8), cv2.IMREAD_COLOR).shape == (192, 320, 3)

    job = client.post("/api/propagate", json={"frame": 0, "direction": "forward"}).json()
    assert job["kind"] == "propagate" and job["total"] == FRAMES - 1
    assert session.wait(300).state == "done"
    for index in (5, FRAMES - 1):
        got = labels_of(client.get(f"/api/frames/{index}/labels.png"))
        assert iou(got == 1, truth[index] == 1) > 0.6 and iou(got == 2, truth[index] == 2) > 0.6
    project = client.get("/api/project").json()
    assert project["keyframes"] == [0] and len(project["presence"]) == FRAMES


def test_box_and_clicks_edit_one_object(client: TestClient, session: StudioSession, clip) -> None:  # type: ignore[no-untyped-def]
    _, truth = clip
    client.post("/api/objects", json={"name": "a"})
    ys, xs = np.nonzero(truth[3] == 1)
    box = [int(xs.min()) - 3, int(ys.min()) - 3, int(xs.max()) + 4, int(ys.max()) + 4]
    assert client.post("/api/frames/3/box", json={"object": 1, "box": box}).status_code == 200
    boxed = session.labels(3) == 1
    assert iou(boxed, truth[3] == 1) > 0.6
    far = [5.0, 5.0]  # a negative click far from the object changes nothing of it
    response = client.post("/api/frames/3/clicks", json={"object": 1, "positive": [], "negative": [far]})
    assert response.status_code == 200
    assert iou(session.labels(3) == 1, boxed) > 0.95
    centre = [float(xs.mean()), float(ys.mean())]
    client.post("/api/frames/3/clicks", json={"object": 1, "positive": [centre], "negative": []})
    assert session.labels(3)[int(centre[1]), int(centre[0])] == 1
    assert 3 in client.get("/api/project").json()["keyframes"]


def test_import_undo_and_keyframe_marks(client: TestClient, session: StudioSession, clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, truth = clip
    write_palette_png(tmp_path / "m.png", truth[7])
    response = client.post("/api/frames/7/import", content=(tmp_path / "m.png").read_bytes())
    assert response.json()["objects"] == [1, 2]  # new ids became objects
    assert [o["id"] for o in client.get("/api/project").json()["objects"]] == [1, 2]
    assert np.array_equal(session.labels(7), truth[7])
    write_palette_png(tmp_path / "five.png", (truth[7] == 1).astype(np.uint8) * 5)
    assert client.post("/api/frames/9/import", content=(tmp_path / "five.png").read_bytes()).json()["objects"] == [5]
    assert [o["id"] for o in client.get("/api/project").json()["objects"]] == [1, 2, 5]  # its own id
    # a palette PNG PUT keeps its indices as ids, like the import
    assert client.put("/api/frames/8/labels", content=(tmp_path / "m.png").read_bytes()).status_code == 200
    assert np.array_equal(session.labels(8), truth[7])
    assert client.post("/api/frames/8/keyframe", json={"keyframe": False}).status_code == 200
    assert client.get("/api/project").json()["keyframes"] == [7, 9]
    assert client.delete("/api/frames/8/labels").status_code == 200
    assert session.labels(8) is None


def test_bad_requests_get_messages_not_traces(client: TestClient, session: StudioSession) -> None:
    client.post("/api/objects", json={})
    cases = [
        (client.put("/api/frames/0/labels", content=b"not a png"), "not a PNG"),
        (client.put("/api/frames/0/labels", content=gray_png(np.zeros((10, 10)))), "masks of this video are 320x192"),
        (client.put("/api/frames/0/labels", content=gray_png(np.full((192, 320), 9))), "unknown object id(s) 9"),
        (client.get("/api/frames/999.jpg"), "frames 0 to 23"),
        (client.post("/api/frames/1/box", json={"object": 5, "box": [1, 1, 30, 30]}), "unknown object id 5"),
        (client.post("/api/frames/1/box", json={"object": 1, "box": [1, 2]}), "[x0, y0, x1, y1]"),
        (client.post("/api/propagate", json={"frame": 2}), "no mask to propagate"),
        (client.post("/api/propagate", content=b"{"), "not JSON"),
        (client.post("/api/job/pause", json={}), "no job is running"),
        (client.post("/api/export", json={"mode": "gif"}), "export mode must be one of"),
        (client.post("/api/frames/0/import", content=b"GIF89a"), ""),
        (client.delete("/api/objects/4"), "unknown object id 4"),
    ]
    for response, words in cases:
        assert 400 <= response.status_code < 500, (response.status_code, response.text)
        assert words in response.json()["error"]
        assert "Traceback" not in response.text


def test_nothing_outside_is_served(client: TestClient, session: StudioSession) -> None:
    (session.workspace.root / "exports").mkdir()
    secret = session.workspace.root / "project.json"
    for path in ("/api/exports/..%2fproject.json", "/api/exports/../project.json",
                 "/static/..%2f..%2f__init__.py", "/static/index.html", "/etc/passwd",
                 "/api/frames/1/../../../setup.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert secret.read_text() not in response.text


def test_loopback_only_and_tokens(session: StudioSession) -> None:
    local = TestClient(make_app(session), base_url="http://attacker.example")
    assert local.get("/api/project").status_code == 403  # DNS rebinding: another host name
    remote = TestClient(make_app(session, token="s3cret", loopback_only=False), base_url="http://10.0.0.5")
    assert remote.get("/api/project").status_code == 403
    assert "token" in remote.get("/").json()["error"]
    first = remote.get("/?token=s3cret")
    assert first.status_code == 200 and "aotvideo studio" in first.text
    assert remote.get("/api/project").status_code == 200  # the cookie carries it from now on
    assert TestClient(make_app(session, token="s3cret", loopback_only=False),
                      base_url="http://10.0.0.5").get("/api/project?token=wrong").status_code == 403


def test_pause_resume_cancel_and_events(client: TestClient, session: StudioSession, clip) -> None:  # type: ignore[no-untyped-def]
    _, truth = clip
    client.post("/api/objects", json={})
    client.post("/api/objects", json={})
    client.put("/api/frames/0/labels", content=gray_png(truth[0]))
    start = session.events.last
    client.post("/api/propagate", json={"frame": 0})
    wait_until(lambda: session._job.status.done >= 1)
    assert client.post("/api/job/pause", json={}).status_code == 200
    done = session._job.status.done
    time.sleep(1.0)
    assert session._job.status.done <= done + 1  # at most the frame in flight
    assert client.post("/api/propagate", json={"frame": 0}).status_code == 400  # one job at a time
    client.post("/api/job/resume", json={})
    wait_until(lambda: session._job.status.done >= done + 2)
    client.post("/api/job/cancel", json={})
    status = session.wait(120)
    assert status.state == "cancelled" and status.done < FRAMES - 1
    kinds = [e["type"] for _, e in session.events.since(start, 0)]
    assert kinds[0] == "job" and "propagated" in kinds and kinds[-1] == "job"
    assert [e["state"] for _, e in session.events.since(start, 0) if e["type"] == "job"][-1] == "cancelled"


def test_export_writes_what_track_writes(client: TestClient, session: StudioSession, clip) -> None:  # type: ignore[no-untyped-def]
    _, truth = clip
    client.post("/api/objects", json={})
    client.post("/api/objects", json={})
    client.put("/api/frames/0/labels", content=gray_png(truth[0]))
    client.put("/api/frames/4/labels", content=gray_png(truth[4]))
    status = client.post("/api/export", json={"mode": "masks"}).json()
    assert session.wait(120).state == "done"
    folder = Path(status["output"])
    from aotvideo.io.masks import read_mask

    assert len(list(folder.glob("*.png"))) == FRAMES
    assert np.array_equal(read_mask(folder / "00004.png"), truth[4])
    assert not read_mask(folder / "00002.png").any()  # no mask there yet: no objects
    client.post("/api/export", json={"mode": "matte"})
    output = Path(session.wait(120).output)
    download = client.get(f"/api/exports/{output.name}")
    assert download.status_code == 200 and download.content == output.read_bytes()


def test_a_killed_server_loses_no_edit(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, truth = clip
    workspace = tmp_path / "w.studio"
    code = ("import sys, numpy as np, os, signal\n"
            "from aotvideo.studio import StudioSession\n"
            f"s = StudioSession({str(path)!r}, {str(workspace)!r})\n"
            "s.add_object('a'); s.add_object('b')\n"
            f"t = np.load({str(tmp_path / 't.npy')!r})\n"
            "for i in range(6): s.set_labels(i, t[i])\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    np.save(tmp_path / "t.npy", truth)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert result.returncode == -signal.SIGKILL
    reopened = StudioSession(path, workspace)
    try:
        assert reopened.workspace.keyframes == tuple(range(6))
        assert all(np.array_equal(reopened.labels(i), truth[i]) for i in range(6))
    finally:
        reopened.close()


def test_studio_command_serves_and_stops(clip, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _ = clip
    process = subprocess.Popen([sys.executable, "-m", "aotvideo", "studio", str(path), "--port", "0",
                                "-w", str(tmp_path / "s")], stderr=subprocess.PIPE, text=True)
    try:
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if "open http" in line:
                url = line.split("open ", 1)[1].split()[0]
        assert url is not None and url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "api/project", timeout=30) as response:
            assert json.load(response)["frames"] == FRAMES
        events = urllib.request.urlopen(url + "api/events", timeout=30)  # a page following the events
        assert events.readline().startswith(b"retry:")
    finally:
        process.send_signal(signal.SIGINT)
        began = time.monotonic()
        process.wait(60)
    assert time.monotonic() - began < 15  # the open event stream does not hold the server up
    assert process.returncode == 130  # interrupted, as the exit-code table says for every command
    assert "Traceback" not in process.stderr.read()
    assert (tmp_path / "s" / "project.json").is_file()


def test_studio_command_bad_video(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\0" * 1000)
    result = subprocess.run([sys.executable, "-m", "aotvideo", "studio", str(junk)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 5 and "cannot open input" in result.stderr
    assert "Traceback" not in result.stderr
    os.remove(junk)
