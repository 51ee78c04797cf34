"""Checkpoints that download themselves (aotvideo.download, aotvideo.zoo, `aotvideo weights download`).

A local HTTP server on 127.0.0.1 plays Google Drive: it serves a real checkpoint (the reference
rule's deterministic weights) and imitates Drive's large-file confirmation page, its quota page
and a web page instead of the file; it can cut the connection part-way and ignore ranges.
aotvideo is pointed at it with AOTVIDEO_GDRIVE_URL, as a user would, never by patching code.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import torch
from click.testing import CliRunner

import aotvideo
from aotvideo import zoo
from aotvideo.cli import main
from aotvideo.download import DownloadProgress, DownloadSettings, drive_page_target
from aotvideo.errors import DownloadError, WeightsError
from aotvideo.io import write_palette_png
from aotvideo.io.testclips import scene, write_clip
from aotvideo.models.rule_weights import rule_state_dict

ROOT = Path(__file__).resolve().parents[1]
DEAOTT_ID = zoo.ZOO["deaott"].url.split("/d/")[1].split("/")[0]  # type: ignore[union-attr]
AOTT_ID = zoo.ZOO["aott"].url.split("/d/")[1].split("/")[0]  # type: ignore[union-attr]
QUOTA_TEXT = ("Too many users have viewed or downloaded this file recently. Please try accessing "
              "the file again later.")


def checkpoint_bytes(name: str) -> bytes:
    """A model-zoo style checkpoint of ``name`` (float16 to stay small), as file contents."""
    state = rule_state_dict(aotvideo.build_model(name))
    buffer = io.BytesIO()
    torch.save({"state_dict": {k: v.half() if v.is_floating_point() else v for k, v in state.items()}},
               buffer)
    return buffer.getvalue()


# -- the imitation of Google Drive ------------------------------------------------------------------


@dataclass
class Drive:
    """What the server serves and how: ``files`` by Drive id (``/download?id=``) or by name
    (``/files/NAME``); ``modes`` per Drive id (file, confirm, quota, html, html-as-file);
    ``cuts`` byte counts after which the next file responses break off; ``ranges`` whether
    Range requests are honoured. ``log`` holds (path, Range header, status) per request."""

    files: dict[str, bytes] = field(default_factory=dict)
    modes: dict[str, str] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list)
    ranges: bool = True
    log: list[tuple[str, str | None, int]] = field(default_factory=list)
    url: str = ""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        drive = self.server.drive
        if parts.path == "/download" and query.get("id") in drive.files:
            self._drive(drive, query)
        elif parts.path.startswith("/files/") and parts.path[7:] in drive.files:
            self._file(drive, drive.files[parts.path[7:]], parts.path[7:])
        else:
            self._page(404, "<html><head><title>Not Found</title></head><body>404</body></html>")

    def _drive(self, drive: Drive, query: dict[str, str]) -> None:
        file_id = query["id"]
        mode = drive.modes.get(file_id, "file")
        confirmed = query.get("confirm") == "t" and query.get("uuid") == "f00d"
        if mode == "confirm" and not confirmed:
            self._page(200, f"""<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title>
<meta http-equiv="content-type" content="text/html; charset=utf-8"/></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can't scan this
file for viruses.</p><p class="uc-warning-subcaption">checkpoint (14M) is too large for Google to
scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="{drive.url}/download" method="get">
<input type="submit" id="uc-download-link" class="goog-inline-block jfk-button" value="Download anyway"/>
<input type="hidden" name="id" value="{file_id}"><input type="hidden" name="export" value="download">
<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="f00d">
</form></div></div></body></html>""")
        elif mode == "quota":
            self._page(200, f"""<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head>
<body><div class="uc-main"><p class="uc-error-caption">Sorry, you can't view or download this file
at this time.</p><p class="uc-error-subcaption">{QUOTA_TEXT}</p></div></body></html>""")
        elif mode == "html":
            self._page(200, "<!DOCTYPE html><html><head><title>Sign in - Google Accounts</title></head>"
                            "<body><form action='/signin'><input name='identifier'></form></body></html>")
        elif mode == "html-as-file":
            self._file(drive, b"<!DOCTYPE html><html><body>Moved</body></html>", "x.pth")
        elif mode in ("no-length", "huge-length", "trickle", "slow"):
            self._unbounded(drive, mode, drive.files[file_id])
        elif mode in ("redirect-file", "redirect-loop"):
            drive.log.append((self.path, self.headers.get("Range"), 302))
            self.send_response(302)
            self.send_header("Location", "file:///etc/passwd" if mode == "redirect-file"
                             else self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._file(drive, drive.files[file_id], "checkpoint.pth")

    def _page(self, status: int, text: str) -> None:
        body = text.encode("utf-8")
        self.server.drive.log.append((self.path, self.headers.get("Range"), status))
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, drive: Drive, data: bytes, name: str) -> None:
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        start = 0
        wanted = self.headers.get("Range", "")
        if drive.ranges and wanted.startswith("bytes=") and self.headers.get("If-Range", etag) == etag:
            start = int(wanted[6:].split("-")[0])
        status = 206 if start else 200
        drive.log.append((self.path, self.headers.get("Range"), status))
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", f'attachment; filename="{name}"')
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        body = data[start:]
        if drive.cuts:
            body = body[: drive.cuts.pop(0)]  # promise everything, send part, hang up
            self.close_connection = True
        self.wfile.write(body)


    def _unbounded(self, drive: Drive, mode: str, data: bytes) -> None:
        """Misbehaving servers: a body with no length (closed at the end), a length of 10^15,
        or the file sent a few bytes at a time, slower than any download should take."""
        drive.log.append((self.path, self.headers.get("Range"), 200))
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode == "huge-length":
            self.send_header("Content-Length", str(10**15))
        self.end_headers()
        self.close_connection = True
        try:
            if mode in ("trickle", "slow"):
                piece, pause = (64, 0.05) if mode == "trickle" else (1 << 16, 0.01)
                for start in range(0, len(data), piece):
                    self.wfile.write(data[start:start + piece])
                    self.wfile.flush()
                    time.sleep(pause)
            else:
                self.wfile.write(data)
        except OSError:
            pass  # the client gave up: what it must do


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    drive: Drive


@pytest.fixture(scope="module")
def checkpoints() -> dict[str, bytes]:
    return {"deaott": checkpoint_bytes("deaott"), "aott": checkpoint_bytes("aott")}


@pytest.fixture
def drive(checkpoints: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Drive]:
    """A running imitation of Drive, with aotvideo's cache and Drive URL pointed at it."""
    server = _Server(("127.0.0.1", 0), _Handler)
    state = Drive(files={DEAOTT_ID: checkpoints["deaott"], AOTT_ID: checkpoints["aott"],
                         "deaott.pth": checkpoints["deaott"]},
                  url=f"http://127.0.0.1:{server.server_address[1]}")
    server.drive = state
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AOTVIDEO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("AOTVIDEO_GDRIVE_URL", f"{state.url}/download")
    monkeypatch.setenv("AOTVIDEO_OFFLINE", "0")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _partials() -> list[str]:
    folder = zoo.weights_dir() / "partial"
    return sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []


# -- Drive's pages, read without a server --------------------------------------------------------------


def test_drive_pages_are_read_for_the_link_or_the_reason() -> None:
    form = ('<form id="download-form" action="https://drive.usercontent.google.com/download">'
            '<input type="hidden" name="id" value="ABC"><input type="hidden" name="confirm" value="t">'
            '<input type="hidden" name="uuid" value="u-1"></form>')
    target = urlsplit(drive_page_target(form, "https://drive.usercontent.google.com/download?id=ABC"))
    assert target.netloc == "drive.usercontent.google.com"
    assert parse_qs(target.query) == {"id": ["ABC"], "confirm": ["t"], "uuid": ["u-1"]}
    legacy = '<a id="uc-download-link" href="/uc?export=download&amp;confirm=Xy1z&amp;id=ABC">Download</a>'
    assert drive_page_target(legacy, "https://docs.google.com/uc?id=ABC").endswith(
        "/uc?export=download&confirm=Xy1z&id=ABC")
    cookie = drive_page_target("<html><body>warning</body></html>", "https://x/d?id=ABC",
                               {"download_warning_1_ABC": "tok"})
    assert parse_qs(urlsplit(cookie).query) == {"id": ["ABC"], "confirm": ["tok"]}
    with pytest.raises(DownloadError, match="quota is used up.*Too many users"):
        drive_page_target(f'<p class="uc-error-subcaption">{QUOTA_TEXT}</p>', "https://x/d")
    with pytest.raises(DownloadError, match="web page \\('Sign in'\\) instead of the checkpoint"):
        drive_page_target("<html><title>Sign in</title><body>hello</body></html>", "https://x/d")


# -- downloads ----------------------------------------------------------------------------------------------


def test_weights_download_passes_the_confirmation_page(drive: Drive, checkpoints) -> None:
    drive.modes[DEAOTT_ID] = "confirm"
    result = CliRunner().invoke(main, ["weights", "download", "deaott", "--progress", "bar"])
    assert result.exit_code == 0, result.output
    assert "deaott: installed" in result.stdout and _sha(checkpoints["deaott"]) in result.stdout
    assert "\r[" in result.stderr and "100%" in result.stderr  # the bar
    assert "downloading DeAOTT_PRE_YTB_DAV.pth" in result.stderr
    confirmed = [(urlsplit(path).query.count("confirm=t"), status) for path, _, status in drive.log]
    assert confirmed == [(0, 200), (1, 200)]
    index = json.loads((zoo.weights_dir() / "index.json").read_text())
    assert index["weights"]["deaott"]["sha256"] == _sha(checkpoints["deaott"])
    assert (zoo.weights_dir() / "deaott.pth").read_bytes() == checkpoints["deaott"]
    assert not [n for n in _partials() if not n.endswith(".lock")]  # no half file left

    again = CliRunner().invoke(main, ["weights", "download", "deaott"])
    assert again.exit_code == 0 and "already installed" in again.stdout and len(drive.log) == 2

    # every later use checks the sha256 recorded at the download
    assert zoo.resolve_weights("deaott") == zoo.weights_dir() / "deaott.pth"
    damaged = bytearray(checkpoints["deaott"])
    damaged[len(damaged) // 2] ^= 0xFF
    (zoo.weights_dir() / "deaott.pth").write_bytes(bytes(damaged))
    with pytest.raises(WeightsError, match="damaged.*sha256.*`aotvideo weights download deaott --force`"):
        zoo.resolve_weights("deaott")


def test_first_use_of_a_variant_downloads_it(drive: Drive, checkpoints) -> None:
    seen: list[DownloadProgress] = []
    path = zoo.resolve_weights("aott", progress=seen.append)
    assert path.read_bytes() == checkpoints["aott"]
    phases = [p.phase for p in seen]
    assert phases[0] == "start" and phases[-2:] == ["check", "done"]
    data = [p for p in seen if p.phase == "data"]
    assert data and data[-1].done == data[-1].total == seen[-1].done == len(checkpoints["aott"])
    assert zoo.installed()["aott"]["sha256"] == _sha(checkpoints["aott"])
    assert zoo.resolve_weights("aott") == path and len(drive.log) == 1  # no second download


@pytest.mark.parametrize("ranges", [True, False], ids=["resumes", "restarts"])
def test_a_broken_transfer_resumes_or_restarts(drive: Drive, checkpoints, ranges: bool) -> None:
    data = checkpoints["deaott"]
    drive.ranges = ranges
    drive.cuts = [len(data) * 2 // 5]
    once = DownloadSettings(drive_url=f"{drive.url}/download", retries=0, retry_wait=0)
    with pytest.raises(DownloadError, match="gave up after 1 tries.*kept.*resumes") as failure:
        zoo.download_variant("deaott", settings=once)
    message = str(failure.value)
    assert "\n" not in message and "aotvideo weights add DeAOTT_PRE_YTB_DAV.pth" in message
    assert not (zoo.weights_dir() / "deaott.pth").exists() and "deaott" not in zoo.installed()
    part = zoo.weights_dir() / "partial" / next(n for n in _partials() if n.endswith(".part"))
    kept = part.stat().st_size  # what arrived, less what the HTTP client held when it broke
    assert 0 < kept <= len(data) * 2 // 5

    drive.cuts = [len(data) // 5]  # breaks again: resumed within the same call
    seen: list[DownloadProgress] = []
    twice = DownloadSettings(drive_url=f"{drive.url}/download", retries=1, retry_wait=0)
    record, downloaded = zoo.download_variant("deaott", settings=twice, progress=seen.append)
    assert downloaded and record["sha256"] == _sha(data)
    assert Path(record["path"]).read_bytes() == data
    assert [p.phase for p in seen].count("retry") == 1
    asked = [r for _, r, _ in drive.log]
    statuses = [s for _, _, s in drive.log]
    assert asked[0] is None and asked[1] == f"bytes={kept}-" and asked[2].startswith("bytes=")
    assert statuses == ([200, 206, 206] if ranges else [200, 200, 200])
    assert not part.exists()


@pytest.mark.parametrize("mode,words", [
    ("quota", "quota is used up.*Too many users"),
    ("html", "web page \\('Sign in - Google Accounts'\\) instead of the checkpoint"),
    ("html-as-file", "web page instead of the checkpoint"),
])
def test_drive_refusals_are_clear_and_leave_nothing(drive: Drive, mode: str, words: str) -> None:
    drive.modes[DEAOTT_ID] = mode
    with pytest.raises(DownloadError, match=words) as failure:
        zoo.download_variant("deaott")
    message = str(failure.value)
    assert "\n" not in message
    assert "download DeAOTT_PRE_YTB_DAV.pth from https://drive.google.com/" in message
    assert "aotvideo weights add DeAOTT_PRE_YTB_DAV.pth" in message
    assert not [n for n in _partials() if not n.endswith(".lock")]
    assert "deaott" not in zoo.installed()


def test_offline_or_no_network_gives_the_manual_steps(drive: Drive, monkeypatch) -> None:
    monkeypatch.setenv("AOTVIDEO_OFFLINE", "1")
    with pytest.raises(DownloadError) as first_use:
        zoo.resolve_weights("aott")
    with pytest.raises(DownloadError) as by_url:
        zoo.resolve_weights("deaott", f"{drive.url}/files/deaott.pth")
    for failure in (first_use, by_url):
        assert "AOTVIDEO_OFFLINE=1" in str(failure.value) and "\n" not in str(failure.value)
    assert "aotvideo weights add AOTT_PRE_YTB_DAV.pth" in str(first_use.value)
    assert "pass --weights FILE" in str(by_url.value)
    offline = CliRunner().invoke(main, ["weights", "download", "all"])
    assert offline.exit_code == 4 and "AOTVIDEO_OFFLINE=1" in offline.stderr
    assert drive.log == []

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("AOTVIDEO_OFFLINE", "0")
    monkeypatch.setenv("AOTVIDEO_GDRIVE_URL", f"http://127.0.0.1:{closed}/download")
    with pytest.raises(DownloadError, match="no network\\?.*By hand: download AOTT_PRE_YTB_DAV.pth"):
        zoo.resolve_weights("aott")


def test_weights_url_through_the_command_line(drive: Drive, checkpoints, tmp_path: Path) -> None:
    frames, labels = zip(*scene(48, 32, 3, seed=1), strict=True)
    video, mask, out = tmp_path / "in.mp4", tmp_path / "first.png", tmp_path / "out.mp4"
    write_clip(video, list(frames))
    write_palette_png(mask, labels[0])
    url = f"{drive.url}/files/deaott.pth"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "aotvideo", "track", str(video), "-m", str(mask), "-o", str(out),
         "--weights", url, "--device", "cpu"],
        env=env, capture_output=True, timeout=900, check=False)
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert f"downloading --weights {url}" in stderr and "saved" in stderr
    record = json.loads((zoo.weights_dir() / "index.json").read_text())["urls"][url]
    assert record["sha256"] == _sha(checkpoints["deaott"]) and record["model"] == "deaott"
    assert (zoo.weights_dir() / record["file"]).read_bytes() == checkpoints["deaott"]
    assert out.stat().st_size > 0


# -- bounded downloads ---------------------------------------------------------------------------------


def _settings(drive: Drive, **limits: float) -> DownloadSettings:
    return DownloadSettings(drive_url=f"{drive.url}/download", retries=0, retry_wait=0,
                            **limits)  # type: ignore[arg-type]


def test_a_body_past_the_size_limit_is_refused_and_removed(drive: Drive, checkpoints) -> None:
    size = len(checkpoints["deaott"])
    drive.modes[DEAOTT_ID] = "no-length"                  # no Content-Length: only the cap stops it
    with pytest.raises(DownloadError, match=r"sent more than \d+ bytes: more than the .*MiB"):
        zoo.download_variant("deaott", settings=_settings(drive, max_bytes=size // 2))
    assert not [n for n in _partials() if not n.endswith(".lock")]
    drive.modes[DEAOTT_ID] = "huge-length"                # refused before any byte is kept
    with pytest.raises(DownloadError, match=r"announces 1000000000000000 bytes"):
        zoo.download_variant("deaott", settings=_settings(drive, max_bytes=size * 2))
    assert not [n for n in _partials() if not n.endswith(".lock")]
    drive.modes[DEAOTT_ID] = "no-length"                  # within the cap: a normal download
    record, downloaded = zoo.download_variant("deaott", settings=_settings(drive,
                                                                          max_bytes=size * 2))
    assert downloaded and Path(record["path"]).read_bytes() == checkpoints["deaott"]


def test_a_trickling_server_meets_the_deadline_and_the_data_is_kept(drive: Drive,
                                                                    checkpoints) -> None:
    drive.modes[DEAOTT_ID] = "trickle"
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"took longer than 1 s .*bytes are kept.*resumes"):
        zoo.download_variant("deaott", settings=_settings(drive, deadline=1.0))
    assert time.monotonic() - start < 10  # not the minutes the trickle would take
    part = zoo.weights_dir() / "partial" / next(n for n in _partials() if n.endswith(".part"))
    assert 0 < part.stat().st_size < len(checkpoints["deaott"])


@pytest.mark.parametrize("mode,words", [
    ("redirect-file", "redirected to an address aotvideo does not download from"),
    ("redirect-loop", "redirects in a loop"),
])
def test_bad_redirects_say_what_happened(drive: Drive, mode: str, words: str) -> None:
    drive.modes[DEAOTT_ID] = mode
    with pytest.raises(DownloadError, match=words) as failure:
        zoo.download_variant("deaott", settings=_settings(drive))
    assert "no network" not in str(failure.value)


def test_limits_from_the_environment() -> None:
    settings = DownloadSettings.from_env({"AOTVIDEO_DOWNLOAD_MAX_MB": "300",
                                          "AOTVIDEO_DOWNLOAD_DEADLINE": "90"})
    assert settings.max_bytes == 300 * 2**20 and settings.deadline == 90
    defaults = DownloadSettings.from_env({})
    assert defaults.max_bytes > max(size for size, _ in zoo.PINNED.values())
    with pytest.raises(DownloadError, match="AOTVIDEO_DOWNLOAD_MAX_MB must be a positive"):
        DownloadSettings.from_env({"AOTVIDEO_DOWNLOAD_MAX_MB": "lots"})


def test_published_hashes_are_pinned(drive: Drive, checkpoints, monkeypatch) -> None:
    data = checkpoints["deaott"]
    assert set(zoo.PINNED) == {"r50_deaotl", "r50_aotl"}
    monkeypatch.setitem(zoo.PINNED, "deaott", (len(data), "0" * 64))
    with pytest.raises(WeightsError, match="not the published DeAOTT_PRE_YTB_DAV.pth: sha256"):
        zoo.download_variant("deaott")
    assert "deaott" not in zoo.installed() and not (zoo.weights_dir() / "deaott.pth").exists()
    monkeypatch.setitem(zoo.PINNED, "deaott", (len(data), _sha(data)))
    record, downloaded = zoo.download_variant("deaott")
    assert downloaded and record["sha256"] == _sha(data)


def test_two_processes_download_a_file_once(drive: Drive, checkpoints, tmp_path: Path) -> None:
    """Two processes ask for the same variant at once: one downloads, the other waits for the
    lock, finds it installed and takes it."""
    drive.modes[DEAOTT_ID] = "slow"  # slow enough that the second asks while the first works
    code = ("import json, sys; from aotvideo import zoo; "
            "record, downloaded = zoo.download_variant('deaott'); "
            "print(json.dumps([record['sha256'], downloaded]))")
    env = dict(os.environ)
    runs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, cwd=ROOT) for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), [o[1].decode() for o in outputs]
    results = [json.loads(out.decode().strip().splitlines()[-1]) for out, _ in outputs]
    assert {r[0] for r in results} == {_sha(checkpoints["deaott"])}
    assert sorted(r[1] for r in results) == [False, True]
    assert sum(1 for path, _, _ in drive.log if "download" in path) == 1
