"""The studio's speed and memory, measured through its real HTTP server.

    python samples/bench_studio.py                 # 480p edits, scrubbing, propagation; 1080p hour
    python samples/bench_studio.py --hour-minutes 0   # skip the long video

Prints three tables:

1. **Edits on a 480p frame**: a box (the box head), a positive click and a negative click
   (GrabCut from the current mask), each as the page does it -- the POST, then the GET of the
   new label map -- in milliseconds (median and worst of N).
2. **Scrubbing and propagation**: a frame and its labels already seen (cached) and not yet
   seen, in milliseconds; the studio's propagation frames/s (forward and backward, written to
   the workspace and streamed as events) against the Tracker's own frames/s on the same frames
   held in memory: three rounds of the three, interleaved, the best of each (a 2-core machine
   varies by 10-20% from one run of a few seconds to the next).
3. **An hour of 1080p** (``--hour-minutes``): a short 1080p clip looped with ``ffmpeg
   -stream_loop -c copy`` into a real file of that length; in a process of its own: opening it
   (listing every frame), scrubbing to random places, propagating 100 frames from the middle both ways, three times;
   resident memory after each step and the peak so far.

The 480p footage is a DAVIS 2016 train sequence from ``../shared/datasets`` when present (read,
never copied), else a procedural clip. Numbers depend on the machine; compare rows of one run.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from aotvideo.io.masks import read_mask, write_palette_png
from aotvideo.io.seek import SeekableVideo
from aotvideo.io.testclips import scene, write_clip
from aotvideo.studio import StudioServer, StudioSession
from aotvideo.tracking.builder import TrackerSpec, build_tracker

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "davis2016-train"


def _status_mb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB (VmHWM: unlike getrusage's maximum, it
    starts afresh in a new program, not at the size of the process that started it)."""
    return _status_mb("VmHWM")


def current_mb() -> float:
    """Resident memory now, MB."""
    return _status_mb("VmRSS")


def footage(folder: Path, frames: int) -> tuple[Path, np.ndarray, str]:
    """A 854x480 clip and its first frame's labels (one object)."""
    sequence = SHARED / "JPEGImages" / "480p" / "bear"
    if sequence.is_dir():
        names = sorted(sequence.glob("*.jpg"))[:frames]
        images = [cv2.imread(str(p))[:, :, ::-1] for p in names]
        first = cv2.imread(str(SHARED / "Annotations" / "480p" / "bear" / (names[0].stem + ".png")), cv2.IMREAD_GRAYSCALE)
        labels = (first > 0).astype(np.uint8)
        source = "DAVIS 2016 train 'bear' (../shared)"
    else:
        pairs = list(scene(854, 480, frames, objects=1, seed=1))
        images, labels = [p[0] for p in pairs], pairs[0][1].astype(np.uint8)
        source = "procedural"
    path = folder / "clip480.mp4"
    write_clip(path, images, fps=24, options={"preset": "veryfast", "crf": "20", "g": "24"})
    return path, labels, source


def timed(call) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def request(url: str, body: dict | bytes | None = None, method: str | None = None) -> bytes:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": "application/json"} if isinstance(body, dict) else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=120) as response:
        return response.read()


def edits(base: str, labels: np.ndarray, repeats: int) -> list[tuple[str, float, float]]:
    ys, xs = np.nonzero(labels)
    box = [int(xs.min()) - 5, int(ys.min()) - 5, int(xs.max()) + 5, int(ys.max()) + 5]
    inside = [float(xs.mean()), float(ys.mean())]
    outside = [float(max(0, box[0] - 20)), float(max(0, box[1] - 20))]
    rows = []
    for name, path, body in (("box (box head)", "box", {"object": 1, "box": box}),
                             ("positive click", "clicks", {"object": 1, "positive": [inside], "negative": []}),
                             ("negative click", "clicks", {"object": 1, "positive": [], "negative": [outside]})):
        times = [timed(lambda: (request(f"{base}api/frames/0/{path}", body),
                                request(f"{base}api/frames/0/labels.png"))) for _ in range(repeats)]
        rows.append((name, statistics.median(times), max(times)))
    return rows


def scrubbing(base: str, frames: int) -> tuple[float, float]:
    order = list(range(1, frames))
    random.Random(0).shuffle(order)
    fresh = [timed(lambda: (request(f"{base}api/frames/{i}.jpg"), _labels(base, i))) for i in order]
    seen = [timed(lambda: (request(f"{base}api/frames/{i}.jpg"), _labels(base, i))) for i in order]
    return statistics.median(seen), statistics.median(fresh)


def _labels(base: str, index: int) -> None:
    try:
        request(f"{base}api/frames/{index}/labels.png")
    except urllib.error.HTTPError:
        pass  # 404: no mask yet, as the page sees it


def tracker_fps(video_path: Path, labels: np.ndarray, frames: int) -> float:
    with SeekableVideo(video_path) as video:
        images = video.read(0, frames)
    tracker = build_tracker(TrackerSpec())
    tracker.step(images[0], mask=labels)
    start = time.perf_counter()
    for image in images[1:]:
        tracker.step(image)
    return (frames - 1) / (time.perf_counter() - start)


def studio_fps(base: str, session: StudioSession, start: int, direction: str) -> float:
    request(f"{base}api/propagate", {"frame": start, "direction": direction, "stop_at_keyframe": True})
    status = session.wait()
    assert status is not None and status.state == "done", status
    return float(status.detail["fps"])


def long_video(folder: Path, minutes: float) -> tuple[Path, Path]:
    """A 1080p file of ``minutes`` (a 2 s clip looped by ffmpeg without re-encoding) and the
    mask of its middle frame."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("the long-video table needs the ffmpeg command (apt install ffmpeg)")
    pairs = list(scene(1920, 1080, 50, objects=1, seed=2))
    short = folder / "short1080.mp4"
    write_clip(short, [p[0] for p in pairs], fps=25, options={"preset": "ultrafast", "crf": "23", "g": "25"})
    loops = max(1, round(minutes * 60 * 25 / 50))
    long = folder / "long1080.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(short), "-c", "copy",
                    str(long)], check=True)
    middle = loops * 50 // 2
    mask = folder / "middle.png"
    write_palette_png(mask, pairs[middle % 50][1].astype(np.uint8))
    return long, mask


def hour(video: Path, mask: Path, folder: Path) -> list[tuple[str, float, float, float]]:
    """Open, scrub and propagate a long 1080p file (in a process of its own); rows of
    (step, seconds, resident MB after it, peak MB so far)."""
    rows = [("before opening (Python, torch, aotvideo imported)", 0.0, current_mb(), rss_mb())]
    began = time.perf_counter()
    session = StudioSession(video, folder / "long.studio")
    minutes = session.video.frames / 25 / 60
    rows.append((f"open ({session.video.frames} frames, {minutes:g} min)", time.perf_counter() - began,
                 current_mb(), rss_mb()))
    server = StudioServer(session)
    server.start()
    base = server.url
    try:
        began = time.perf_counter()
        rng = random.Random(1)
        for index in [rng.randrange(session.video.frames) for _ in range(40)]:
            request(f"{base}api/frames/{index}.jpg")
        rows.append(("scrub 40 random frames (each a seek)", time.perf_counter() - began, current_mb(), rss_mb()))
        middle = session.video.frames // 2
        session.add_object("disc")
        session.set_labels(middle, read_mask(mask).astype(np.uint8))
        for round_ in (1, 2, 3):  # the same work again: memory must level off, not grow
            for direction, stop in (("forward", middle + 100), ("backward", middle - 100)):
                began = time.perf_counter()
                request(f"{base}api/propagate", {"frame": middle, "direction": direction, "stop": stop})
                session.wait()
                rows.append((f"propagate 100 frames {direction} (round {round_})", time.perf_counter() - began,
                             current_mb(), rss_mb()))
    finally:
        server.stop()
        session.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="The studio's speed and memory.")
    parser.add_argument("--frames", type=int, default=40, help="frames of the 480p clip")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each edit")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds of Tracker / forward / backward speed (best of each)")
    parser.add_argument("--hour-minutes", type=float, default=60.0,
                        help="length of the long 1080p video in minutes (0: skip)")
    parser.add_argument("--only-long", nargs=2, metavar=("VIDEO", "MASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only_long:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(hour(Path(args.only_long[0]), Path(args.only_long[1]), Path(tmp))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path, labels, source = footage(folder, args.frames)
        session = StudioSession(path, folder / "clip.studio")
        session.add_object("object")
        session.set_labels(0, labels)
        server = StudioServer(session)
        server.start()
        try:
            edit_rows = edits(server.url, labels, args.repeats)
            session.set_labels(0, labels)
            own_runs, forward_runs, backward_runs = [], [], []
            for _ in range(args.rounds):  # interleaved: a slow moment of the machine hits all three
                own_runs.append(tracker_fps(path, labels, args.frames))
                if args.frames - 1 in session.workspace.keyframes:
                    session.set_keyframe(args.frames - 1, False)
                forward_runs.append(studio_fps(server.url, session, 0, "forward"))
                session.set_labels(args.frames - 1, session.labels(args.frames - 1))
                session.set_keyframe(0, False)
                backward_runs.append(studio_fps(server.url, session, args.frames - 1, "backward"))
                session.set_labels(0, labels)
            own, forward, backward = max(own_runs), max(forward_runs), max(backward_runs)
            seen, fresh = scrubbing(server.url, args.frames)
        finally:
            server.stop()
            session.close()
        print(f"footage: {source}, 854x480, {args.frames} frames; packaged model, default options\n")
        print("| edit on a 480p frame (POST + GET of the new labels) | median ms | worst ms |")
        print("|---|---|---|")
        for name, median, worst in edit_rows:
            print(f"| {name} | {median:.0f} | {worst:.0f} |")
        print("\n| scrubbing and propagation | value |")
        print("|---|---|")
        print(f"| frame + labels already seen (median) | {seen:.0f} ms |")
        print(f"| frame + labels not seen yet (median, a seek) | {fresh:.0f} ms |")
        print(f"| Tracker alone, frames in memory (best of {args.rounds}) | {own:.2f} frames/s |")
        print(f"| studio propagation forward (best of {args.rounds}) | {forward:.2f} frames/s ({forward / own:.2f}x) |")
        print(f"| studio propagation backward (best of {args.rounds}) | {backward:.2f} frames/s ({backward / own:.2f}x) |")
    if args.hour_minutes > 0:  # a process of its own: its memory figures are its alone
        with tempfile.TemporaryDirectory() as tmp:
            video, mask = long_video(Path(tmp), args.hour_minutes)
            output = subprocess.run([sys.executable, __file__, "--only-long", str(video), str(mask)],
                                    check=True, capture_output=True, text=True)
        rows = json.loads(output.stdout.strip().splitlines()[-1])
        print("\n| 1920x1080, looped file (a process of its own) | seconds | resident MB after | peak MB |")
        print("|---|---|---|---|")
        for name, seconds, now, peak in rows:
            print(f"| {name} | {seconds:.1f} | {now:.0f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
