"""Real batches, end to end: good jobs, a corrupt video, a wrong-size mask and a worker killed
mid-job (a real SIGKILL of its process), run by local worker processes and by a Ray cluster the
test starts; Ctrl-C and re-runs that redo nothing; both executors write identical masks.

The Ray cluster (``ray start --head``) and its drivers run in a network namespace of their own
(``unshare -n`` with only the loopback interface up), so Ray's traffic stays on 127.0.0.1 --
Ray otherwise advertises the machine's outward address even when told 127.0.0.1.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aotvideo.batch import JobState, LocalExecutor, TrackWorker, build_jobs, read_manifests, run_jobs
from aotvideo.cli.batch import TrackOptionSchema
from aotvideo.cli.track import track
from aotvideo.io import read_mask, write_palette_png
from aotvideo.io.testclips import scene, write_clip
from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 96, 64
GOOD = ("g0", "g1")
RAY_PORT = 6379  # inside the test's own network namespace: free
STARTED = re.compile(r"\] (\S+): started \(attempt (\d+)\) on (\S+):(\d+)$")


# -- media and helpers ---------------------------------------------------------------------------------


VICTIM_FRAMES = 120
"""Long enough that the job is still running when a test kills its worker or presses Ctrl-C
after its first progress line (a few seconds even at bfloat16 speed)."""


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, weights: Path) -> dict[str, Path]:
    """Clips, masks and a manifest: the victim (long enough to be killed in), two good clips,
    a corrupt video and a mask of the wrong size."""
    root = tmp_path_factory.mktemp("batch")
    for name, frames, seed in (("victim", VICTIM_FRAMES, 2), ("g0", 8, 0), ("g1", 8, 1)):
        pairs = list(scene(WIDTH, HEIGHT, frames, objects=2, seed=seed))
        write_clip(root / f"{name}.mp4", [frame for frame, _ in pairs])
        write_palette_png(root / f"{name}.png", pairs[0][1])
    (root / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 16)
    write_palette_png(root / "small.png", np.ones((HEIGHT // 2, WIDTH // 2), np.int64))
    jobs = [{"input": "victim.mp4", "mask": "victim.png"},
            {"input": "g0.mp4", "mask": "g0.png"},
            {"input": "g1.mp4", "mask": ["0:g1.png"]},
            {"input": "corrupt.mp4", "mask": "g0.png"},
            {"input": "g0.mp4", "mask": "small.png", "id": "small"}]
    (root / "jobs.jsonl").write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return {"root": root, "manifest": root / "jobs.jsonl", "weights": weights}


def _defaults(media: dict[str, Path]) -> list[str]:
    return ["--mode", "masks", "--weights", str(media["weights"]), "--device", "cpu",
            "--retries", "1", "--progress", "lines"]


#: Ray's folder for the test's cluster (sessions, sockets, the "current cluster" file), so the
#: test neither sees nor leaves anything in the machine's /tmp/ray; short for socket paths.
RAY_TMPDIR: dict[str, str] = {}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_TMPDIR)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["RAY_AUTH_MODE"] = "disabled"  # the same for the head and its clients
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    return env


def _batch(args: list[str], *, prefix: tuple[str, ...] = (), on_line: Any = None,
           timeout: float = 900) -> tuple[int, str]:
    """Run ``aotvideo batch`` in a subprocess (its own session); ``on_line(line, process)`` sees
    each line of its standard error as it comes."""
    command = [*prefix, sys.executable, "-m", "aotvideo", "batch", *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=_env(), cwd=ROOT, start_new_session=True)
    lines = []
    watchdog = threading.Timer(timeout, os.killpg, (process.pid, signal.SIGKILL))
    watchdog.start()
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if on_line is not None:
                on_line(line.rstrip("\n"), process)
        code = process.wait(timeout=60)
    finally:
        watchdog.cancel()
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert code != -signal.SIGKILL, f"the batch took over {timeout} s:\n" + "".join(lines)
    return code, "".join(lines)


def _report(path: Path) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in json.loads(path.read_text())["jobs"]}


def _partials(folder: Path) -> list[Path]:
    return list(folder.rglob("*aotvideo-partial*")) if folder.exists() else []


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: read_mask(p) for p in sorted(folder.glob("*.png"))}


class _KillOnce:
    """Kills the victim's worker process (SIGKILL) when its first progress line appears."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.killed: int | None = None

    def __call__(self, line: str, process: subprocess.Popen[str]) -> None:
        found = STARTED.search(line)
        if found and found.group(1) == "victim" and found.group(2) == "1":
            self.pid = int(found.group(4))
        if self.killed is None and self.pid is not None and "] victim: frame" in line:
            os.kill(self.pid, signal.SIGKILL)
            self.killed = self.pid


# -- local worker processes ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_run(media: dict[str, Path]) -> dict[str, Any]:
    """Ctrl-C part-way, a resume through the Python API with a worker killed, then a re-run."""
    root = media["root"]
    out, state = root / "local", root / "local.state.jsonl"
    common = [str(media["manifest"]), *_defaults(media), "--workers", "2", "--output-dir", str(out),
              "--state", str(state)]
    results: dict[str, Any] = {"out": out}

    def interrupt(line: str, process: subprocess.Popen[str]) -> None:
        if "] victim: frame" in line and "interrupted" not in results:
            results["interrupted"] = True
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group

    results["first"] = _batch([*common, "--report", str(root / "local-1.json")], on_line=interrupt)
    results["first_report"] = _report(root / "local-1.json")
    results["partials_after_interrupt"] = _partials(out)
    results["victim_after_interrupt"] = (out / "victim.masks").exists()

    schema = TrackOptionSchema(track)
    defaults = {"mode": "masks", "weights": str(media["weights"]), "device": "cpu"}
    jobs = build_jobs(read_manifests([str(media["manifest"])]), defaults=defaults, schema=schema,
                      output_dir=str(out))
    killed: list[int] = []

    def kill_victim(event: Any) -> None:
        if event.record.job.id == "victim" and event.kind == "progress" and not killed:
            pid = int(event.record.worker.rsplit(":", 1)[1])
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with JobState(state) as record:
        results["api"] = run_jobs(jobs, LocalExecutor(workers=2), TrackWorker, state=record,
                                  retries=1, on_event=kill_victim)
    results["killed"] = killed
    results["mtimes"] = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    results["again"] = _batch([*common, "--report", str(root / "local-3.json")])
    results["again_report"] = _report(root / "local-3.json")
    return results


def test_ctrl_c_stops_cleanly(local_run: dict[str, Any]) -> None:
    code, stderr = local_run["first"]
    assert code == 130, stderr
    report = local_run["first_report"]
    assert report["victim"]["status"] == "interrupted", report["victim"]
    assert not local_run["victim_after_interrupt"]  # no half output under the final name
    assert local_run["partials_after_interrupt"] == []
    assert "run the same command again to go on" in stderr


def test_killed_worker_is_retried_and_failures_recorded(local_run: dict[str, Any]) -> None:
    report = local_run["api"]
    records = {r.job.id: r for r in report.records}
    assert local_run["killed"], "the victim's worker was never killed"
    victim = records["victim"]
    assert victim.status == "done" and victim.attempts == 2 and victim.frames == VICTIM_FRAMES
    assert "killed by SIGKILL" in victim.errors[0]
    for name in GOOD:
        assert records[name].status in ("done", "skipped")
        assert len(list((local_run["out"] / f"{name}.masks").glob("*.png"))) == 8
    assert len(list((local_run["out"] / "victim.masks").glob("*.png"))) == VICTIM_FRAMES
    corrupt, small = records["corrupt"], records["small"]
    assert corrupt.status == "failed" and corrupt.attempts == 2 and corrupt.kind == "input"
    assert small.status == "failed" and small.kind == "mask" and "48x32" in (small.error or "")
    assert not report.ok and report.stopped is None
    assert _partials(local_run["out"]) == []
    assert not (local_run["out"] / "corrupt.masks").exists()


def test_rerun_redoes_nothing(local_run: dict[str, Any]) -> None:
    code, stderr = local_run["again"]
    assert code == 8, stderr  # the recorded failures are still failures
    assert "started" not in stderr
    report = local_run["again_report"]
    assert {report[n]["status"] for n in ("victim", *GOOD)} == {"skipped"}
    assert report["corrupt"]["status"] == "failed" and report["corrupt"]["earlier_run"]
    assert {p: p.stat().st_mtime_ns for p in local_run["out"].rglob("*.png")} == local_run["mtimes"]


# -- a Ray cluster on loopback ---------------------------------------------------------------------------


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (CI must provide it)", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """``ray start --head`` in a new network namespace; yields the command prefix that runs a
    program in that namespace. Stopped by signalling the process this test started."""
    _need(importlib.util.find_spec("ray") is not None,
          "ray is not installed (pip install 'aotvideo[ray]')")
    tools = [shutil.which(t) for t in ("unshare", "nsenter", "ip")]
    _need(all(tools) and os.geteuid() == 0, "needs root with unshare, nsenter and ip for a "
                                            "network namespace")
    folder = tmp_path_factory.mktemp("ray")
    RAY_TMPDIR["RAY_TMPDIR"] = tempfile.mkdtemp(prefix="aotray")
    head = None
    try:
        for attempt in range(3):  # a heavily loaded machine can miss ray start's 30 s deadline
            head = _start_head(folder / f"head-{attempt}.log")
            if head is not None:
                break
        assert head is not None, "ray start failed 3 times:\n" + (folder / "head-2.log").read_text()
        yield ["nsenter", f"--net=/proc/{head.pid}/ns/net"]
    finally:
        if head is not None:
            head.send_signal(signal.SIGTERM)  # ray start --block stops the processes it started
            try:
                head.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()
        shutil.rmtree(RAY_TMPDIR.pop("RAY_TMPDIR"), ignore_errors=True)


def _start_head(log: Path) -> subprocess.Popen[bytes] | None:
    """``ray start --head --block`` alone in a new network namespace with loopback up; ``None``
    when it gave up starting."""
    ray_cli = Path(sys.executable).with_name("ray")
    with open(log, "w") as output:
        head = subprocess.Popen(
            ["unshare", "-n", "bash", "-c",
             f"ip link set lo up && exec {ray_cli} start --head --block --port={RAY_PORT} "
             "--num-cpus=2 --include-dashboard=false --object-store-memory=100000000 "
             "--disable-usage-stats"],
            env=_env(), stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 300
    while "Ray runtime started" not in log.read_text():
        if head.poll() is not None:
            return None
        if time.monotonic() > deadline:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
            return None
        time.sleep(1)
    return head


def test_ray_batch_kill_rerun_and_same_masks(media: dict[str, Path], local_run: dict[str, Any],
                                             ray_head: list[str]) -> None:
    root = media["root"]
    out, state = root / "ray", root / "ray.state.jsonl"
    common = [str(media["manifest"]), *_defaults(media), "--ray", f"127.0.0.1:{RAY_PORT}",
              "--output-dir", str(out), "--state", str(state)]
    killer = _KillOnce()
    code, stderr = _batch([*common, "--report", str(root / "ray-1.json")], prefix=tuple(ray_head),
                          on_line=killer)
    assert code == 8, stderr
    assert killer.killed is not None, stderr
    report = _report(root / "ray-1.json")
    victim = report["victim"]
    assert victim["status"] == "done" and victim["attempts"] == 2, victim
    assert "died" in victim["attempt_errors"][0]
    assert victim["worker"] != f"{victim['worker'].rsplit(':', 1)[0]}:{killer.killed}"
    assert report["corrupt"]["status"] == "failed" and report["small"]["error_kind"] == "mask"
    data = json.loads((root / "ray-1.json").read_text())
    assert data["executor"]["executor"] == "ray" and data["executor"]["workers"] == 2
    assert _partials(out) == []

    for name in ("victim", *GOOD):  # local worker processes and Ray actors agree exactly
        ray_masks, local_masks = _masks(out / f"{name}.masks"), _masks(local_run["out"] / f"{name}.masks")
        assert list(ray_masks) == list(local_masks) and ray_masks
        for frame, labels in ray_masks.items():
            np.testing.assert_array_equal(labels, local_masks[frame], err_msg=f"{name} {frame}")

    code, stderr = _batch([*common, "--report", str(root / "ray-2.json")], prefix=tuple(ray_head))
    assert code == 8 and "started" not in stderr, stderr
    again = _report(root / "ray-2.json")
    assert {again[n]["status"] for n in ("victim", *GOOD)} == {"skipped"}
