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
   held in memory, measured one after the other in this run.
3. **An hour of 1080p** (``--hour-minutes``): a short 1080p clip looped with ``ffmpeg
   -stream_loop -c copy`` into a real file of that length; opening it (listing every frame),
   scrubbing to random places, propagating from the middle both ways; peak RSS after each step.

The 480p footage is a DAVIS 2016 train sequence from ``../shared/datasets`` when present (read,
never copied), else a procedural clip. Numbers depend on the machine; compare rows of one run.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from aotvideo.io.seek import SeekableVideo
from aotvideo.io.testclips import scene, write_clip
from aotvideo.studio import StudioServer, StudioSession
from aotvideo.tracking.builder import TrackerSpec, build_tracker

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "davis2016-train"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


def hour(folder: Path, minutes: float) -> list[tuple[str, float, float]]:
    """Open, scrub and propagate an hour-long 1080p file; (step, seconds, peak RSS MB)."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("the long-video table needs the ffmpeg command (apt install ffmpeg)")
    pairs = list(scene(1920, 1080, 50, objects=1, seed=2))
    short = folder / "short1080.mp4"
    write_clip(short, [p[0] for p in pairs], fps=25, options={"preset": "ultrafast", "crf": "23", "g": "25"})
    loops = max(1, round(minutes * 60 * 25 / 50))
    long = folder / "hour1080.mp4"
    subprocess.run([ffmpeg, "-v", "error", "-y", "-stream_loop", str(loops - 1), "-i", str(short), "-c", "copy",
                    str(long)], check=True)
    rows = []
    began = time.perf_counter()
    session = StudioSession(long, folder / "hour.studio")
    rows.append((f"open ({session.video.frames} frames, {minutes:g} min)", time.perf_counter() - began, rss_mb()))
    server = StudioServer(session)
    server.start()
    base = server.url
    try:
        began = time.perf_counter()
        rng = random.Random(1)
        spots = [rng.randrange(session.video.frames) for _ in range(40)]
        for index in spots:
            request(f"{base}api/frames/{index}.jpg")
        rows.append(("scrub 40 random frames (each a seek)", time.perf_counter() - began, rss_mb()))
        middle = session.video.frames // 2
        session.add_object("disc")
        session.set_labels(middle, pairs[middle % 50][1].astype(np.uint8))
        for direction in ("forward", "backward"):
            began = time.perf_counter()
            request(f"{base}api/propagate", {"frame": middle, "direction": direction, "stop": middle + 150
                                             if direction == "forward" else middle - 150})
            session.wait()
            rows.append((f"propagate 150 frames {direction}", time.perf_counter() - began, rss_mb()))
    finally:
        server.stop()
        session.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description="The studio's speed and memory.")
    parser.add_argument("--frames", type=int, default=40, help="frames of the 480p clip")
    parser.add_argument("--repeats", type=int, default=5, help="repeats of each edit")
    parser.add_argument("--hour-minutes", type=float, default=60.0,
                        help="length of the long 1080p video in minutes (0: skip)")
    args = parser.parse_args()
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
            forward = studio_fps(server.url, session, 0, "forward")
            session.set_labels(args.frames - 1, session.labels(args.frames - 1))
            session.set_keyframe(0, False)
            backward = studio_fps(server.url, session, args.frames - 1, "backward")
            seen, fresh = scrubbing(server.url, args.frames)
        finally:
            server.stop()
            session.close()
        own = tracker_fps(path, labels, args.frames)
        print(f"footage: {source}, 854x480, {args.frames} frames; packaged model, default options\n")
        print("| edit on a 480p frame (POST + GET of the new labels) | median ms | worst ms |")
        print("|---|---|---|")
        for name, median, worst in edit_rows:
            print(f"| {name} | {median:.0f} | {worst:.0f} |")
        print("\n| scrubbing and propagation | value |")
        print("|---|---|")
        print(f"| frame + labels already seen (median) | {seen:.0f} ms |")
        print(f"| frame + labels not seen yet (median, a seek) | {fresh:.0f} ms |")
        print(f"| Tracker alone, frames in memory | {own:.2f} frames/s |")
        print(f"| studio propagation forward | {forward:.2f} frames/s ({forward / own:.2f}x) |")
        print(f"| studio propagation backward | {backward:.2f} frames/s ({backward / own:.2f}x) |")
        if args.hour_minutes > 0:
            rows = hour(folder, args.hour_minutes)
            print("\n| 1920x1080, looped file | seconds | peak RSS MB |")
            print("|---|---|---|")
            for name, seconds, peak in rows:
                print(f"| {name} | {seconds:.1f} | {peak:.0f} |")


if __name__ == "__main__":
    main()
