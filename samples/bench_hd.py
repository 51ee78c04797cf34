"""Editors' sizes end to end: the model's own speed, ``aotvideo track``'s, and where the time goes.

    python samples/bench_hd.py                                   # 720p, 1080p, 4K; 1 and 5 objects
    python samples/bench_hd.py --sizes 1920x1080 --objects 1 --frames 40 --modes overlay
    python samples/bench_hd.py --sizes 1080p --objects 1 --modes overlay,alpha --source prores

For each size and object count it makes a clip of real-looking footage -- a DAVIS 2016 train
sequence from ``../shared`` scaled to the size with a little sensor noise (read at run time, never
copied; without ``../shared`` the moving shapes of ``aotvideo.io.testclips``) -- encoded as a
camera or an editor's export would be (``--source``: H.264 8-bit 4:2:0, ProRes 422 HQ 10-bit
4:2:2 or HEVC 10-bit 4:2:0, tagged BT.709), with a first mask of the sequence's object (and, for more objects, still regions of the scene
as further objects). Then, in one run:

* **stages**, one after another in a fresh process (seconds per frame): decoding into what
  ``aotvideo track`` works on (8-bit YUV 4:2:0 planes: 8-bit 4:2:0 video's own, any other
  YUV video's converted once), the tracker's network input made from them (resize, colour conversion at the small
  size, normalisation), the rest of the model, bringing the logits to full resolution (the
  labels' arg-max), drawing the overlay, encoding with the default options (the writer
  ``aotvideo track`` uses, tagged with the input's colours);
* **model only**: ``Tracker.step`` over the decoded frames with the label map on the CPU, as
  every front end takes it (``aotvideo.pipeline.track_frame``; the packaged model with
  ``aotvideo track``'s defaults, in the same allocator settings as the CLI), the frames/s every
  ratio is taken against; drawing is timed on those label maps as ``aotvideo track`` draws
  (``render_frame``);
* **end to end**: ``aotvideo track CLIP --mask FIRST.png -o OUT --mode MODE`` in a fresh process
  (decode, track, draw and encode overlap in their threads), frames/s (the median of
  ``--repeat`` runs), peak resident memory and the CPU time it used from its ``--report``.

Both sides say how many cores they kept busy (CPU time over wall time): a run that keeps every
core busy can only get faster by doing less work, not by overlapping it better.

Model-only and end-to-end runs alternate (``--repeat`` pairs), each in a process of its own, so
slow drifts of a shared machine touch both sides alike; the ratio is the median of the pairs'
ratios. (A process that has held a clip's frames keeps the freed memory in the CLI's allocator
setting; a command started beside it ran about 10% slower here, so the clip is made, and the
model timed, in processes of their own too.)

Prints Markdown tables; compare only figures of one run.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import torch

from aotvideo.cli.memory import reuse_large_buffers
from aotvideo.io import VideoReader, open_writer
from aotvideo.io.colour import Colour
from aotvideo.io.formats import auto_encoding, resolve_output
from aotvideo.io.masks import read_mask, write_palette_png
from aotvideo.io.testclips import scene, write_clip
from aotvideo.io.yuv import Yuv420Image
from aotvideo.pipeline import FrameResult, render_frame, track_frame
from aotvideo.tracking import tracker as tracker_module
from aotvideo.tracking.builder import TrackerSpec, build_tracker

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "davis2016-train"
OUTPUTS = {"overlay": "out.mp4", "matte": "matte.mp4", "alpha": "alpha.mov", "masks": "masks"}
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}
ENCODE = "encode (default options: preset, CRF)"
#: --source: container, encoder, pixel format and options of the clip (what cameras and editors
#: hand over), all tagged BT.709 with limited levels as they tag HD footage
SOURCES = {
    "h264": ("mp4", "libx264", "yuv420p", {"preset": "veryfast", "crf": "18"}),
    "prores": ("mov", "prores_ks", "yuv422p10le", {"profile": "3"}),  # ProRes 422 HQ
    "hevc10": ("mp4", "libx265", "yuv420p10le",
               {"preset": "ultrafast", "crf": "18", "x265-params": "log-level=error"}),
}
BT709 = Colour(matrix=1, primaries=1, transfer=1, range=1)


def _davis_frames(sequence: str, frames: int) -> tuple[list[np.ndarray], np.ndarray] | None:
    folder = SHARED / "JPEGImages" / "480p" / sequence
    if not folder.is_dir():
        return None
    paths = sorted(folder.glob("*.jpg"))
    paths = (paths * (frames // len(paths) + 1))[:frames]
    images = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths]
    first = read_mask(SHARED / "Annotations" / "480p" / sequence / paths[0].with_suffix(".png").name)
    return images, (first > 0).astype(np.int64)


def make_clip(folder: Path, width: int, height: int, frames: int, objects: int,
              sequence: str, source: str = "h264") -> tuple[Path, Path, str]:
    """The clip, its first mask (PNG) and where the footage came from."""
    found = _davis_frames(sequence, frames)
    noise = np.random.default_rng(0)
    if found is None:
        pairs = list(scene(width, height, frames, objects=min(objects, 5)))
        images, first, origin = [f for f, _ in pairs], pairs[0][1], "moving shapes"
    else:
        small, first_small = found
        images = []
        for image in small:
            big = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
            big += noise.integers(-3, 4, size=(height, width, 1), dtype=np.int16)  # sensor grain
            images.append(np.clip(big, 0, 255).astype(np.uint8))
        first = cv2.resize(first_small.astype(np.uint8), (width, height),
                           interpolation=cv2.INTER_NEAREST).astype(np.int64)
        for extra in range(2, objects + 1):  # still regions of the scene as further objects
            x0 = int(width * (0.05 + 0.18 * (extra - 2)))
            region = (slice(int(height * 0.05), int(height * 0.2)), slice(x0, x0 + width // 8))
            first[region] = np.where(first[region] == 0, extra, first[region])
        origin = f"DAVIS 2016 train '{sequence}' scaled from 854x480, grain added"
    container, codec, pix_fmt, options = SOURCES[source]
    clip = folder / f"clip-{width}x{height}.{container}"
    write_clip(clip, images, codec=codec, pix_fmt=pix_fmt, options=options, colour=BT709)
    mask = folder / f"first-{width}x{height}-{objects}.png"
    write_palette_png(mask, first.astype(np.uint8))
    return clip, mask, origin


class Stages:
    """Seconds per stage, added up by wrapped functions of the tracker module."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def timed(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start
        return wrapper


def measure_stages(clip: Path, mask: Path, mode: str
                   ) -> tuple[dict[str, float], float, float, str]:
    """Per-frame seconds of every stage done one after another, model-only frames/s, the cores
    the model kept busy (CPU time over wall time), precision.
    Frames are taken as ``aotvideo track`` takes them: 8-bit YUV 4:2:0 planes (the decoder's own
    for 8-bit 4:2:0 video, converted once from any other YUV video)."""
    stages = Stages()
    start = time.perf_counter()
    with VideoReader(clip, planar="convert", audio="none") as reader:
        frames = [frame.image for frame in reader.frames()]
        colour = reader.info.colour
    planes = isinstance(frames[0], Yuv420Image)
    route = "the planes" if planes else "RGB"
    stages.seconds[f"decode (to {route})"] = time.perf_counter() - start
    tracker = build_tracker(TrackerSpec())
    originals = (tracker_module.normalize_frame, tracker.__class__._full_size_logits,
                 tracker_module.channel_argmax, tracker_module.upsampled_argmax)
    tracker_module.normalize_frame = stages.timed(f"network input from {route}", originals[0])
    tracker_module.channel_argmax = stages.timed("logits to full size", originals[2])
    tracker.__class__._full_size_logits = stages.timed("logits to full size", originals[1])
    tracker_module.upsampled_argmax = stages.timed("logits to full size", originals[3])
    first = read_mask(mask)
    results: list[FrameResult] = []
    try:
        start, cpu = time.perf_counter(), time.process_time()
        for index, frame in enumerate(frames):
            results.append(track_frame(tracker, frame, first if index == 0 else None, True))
        model_seconds = time.perf_counter() - start
        cores = (time.process_time() - cpu) / model_seconds
    finally:
        (tracker_module.normalize_frame, tracker.__class__._full_size_logits,
         tracker_module.channel_argmax, tracker_module.upsampled_argmax) = originals
    inside = stages.seconds[f"network input from {route}"] + stages.seconds["logits to full size"]
    stages.seconds["model (rest of Tracker.step)"] = model_seconds - inside
    if mode == "overlay":
        _draw_and_encode(frames, results, clip.parent / "stage.mp4", mode, stages, colour)
    n = len(frames)
    return ({k: v / n for k, v in stages.seconds.items()}, n / model_seconds, cores,
            tracker.precision)


def _draw_and_encode(frames: list[Yuv420Image | np.ndarray], results: list[FrameResult],
                     target: Path, mode: str, stages: Stages, colour: Colour) -> None:
    """Drawing and encoding with ``aotvideo track``'s default options and its writer, frame by
    frame as its writer thread does them (each picture dropped once encoded, so memory is reused
    as in a run rather than 30 new 4K pictures faulted in)."""
    spec = resolve_output(str(target), mode)
    height, width = frames[0].shape[:2]
    writer = open_writer(spec, width=width, height=height, time_base=Fraction(1, 25),
                         frame_rate=Fraction(25), colour=colour)
    drawing = "drawing (on the planes)" if isinstance(frames[0], Yuv420Image) else "drawing (RGB)"
    for frame, result in zip(frames, results):
        start = time.perf_counter()
        picture = render_frame(mode, frame, result)
        drawn = time.perf_counter()
        writer.write(picture)
        stages.seconds[drawing] += drawn - start
        stages.seconds[ENCODE] += time.perf_counter() - drawn
    start = time.perf_counter()
    writer.close()
    stages.seconds[ENCODE] += time.perf_counter() - start


def in_fresh_process(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` run in a new Python process (``spawn``), its result returned."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def measure_model(clip: Path, mask: Path) -> tuple[dict[str, float], float, float, str]:
    """:func:`measure_stages` in ``aotvideo track``'s allocator setting (for a fresh process)."""
    reuse_large_buffers()
    return measure_stages(clip, mask, "overlay")


def end_to_end(clip: Path, mask: Path, mode: str, folder: Path,
               extra: list[str]) -> tuple[float, float]:
    """Frames/s and peak RSS (MB) of one ``aotvideo track`` run, from its report."""
    report = folder / f"report-{mode}.json"
    command = [sys.executable, "-m", "aotvideo", "track", str(clip), "--mask", str(mask),
               "-o", str(folder / OUTPUTS[mode]), "--mode", mode, "--report", str(report), "-q",
               *extra]
    subprocess.run(command, check=True, env=dict(os.environ))
    data = json.loads(report.read_text())
    return (float(data["fps"]), data["cpu_seconds"] / data["seconds"],
            float(data["peak_memory_mb"]["rss"]))


@dataclass(frozen=True)
class Variant:
    """One ``aotvideo track`` variant over the rounds: median frames/s, median of the rounds'
    ratios to the model alone, median cores kept busy, largest peak RSS (MB)."""

    fps: float
    ratio: float
    cores: float
    rss: float


@dataclass(frozen=True)
class Rounds:
    """What :func:`paired_runs` measured: median seconds per stage, the model alone (median
    frames/s and cores kept busy), its precision, and each variant by its label."""

    stages: dict[str, float]
    model_fps: float
    model_cores: float
    precision: str
    variants: dict[str, Variant]


def paired_runs(clip: Path, mask: Path, variants: list[tuple[str, str, list[str]]], folder: Path,
                repeat: int) -> Rounds:
    """``repeat`` rounds of a model-only run followed by one end-to-end run per variant (a label,
    an output mode and the options for ``aotvideo track``)."""
    stage_runs, model_speeds, model_cores = [], [], []
    runs: dict[str, list[tuple[float, float, float, float]]] = defaultdict(list)
    precision = ""
    for _ in range(repeat):
        stages, model_fps, cores, precision = in_fresh_process(measure_model, clip, mask)
        stage_runs.append(stages)
        model_speeds.append(model_fps)
        model_cores.append(cores)
        for label, mode, extra in variants:
            fps, busy, rss = end_to_end(clip, mask, mode, folder, extra)
            runs[label].append((fps, fps / model_fps, busy, rss))

    def median(values: list[float]) -> float:
        return float(np.median(values))

    return Rounds(
        {name: median([run[name] for run in stage_runs]) for name in stage_runs[0]},
        median(model_speeds), median(model_cores), precision,
        {label: Variant(median([r[0] for r in rounds]), median([r[1] for r in rounds]),
                        median([r[2] for r in rounds]), max(r[3] for r in rounds))
         for label, rounds in runs.items()})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="720p,1080p,4k", help="720p, 1080p, 4k or WxH")
    parser.add_argument("--objects", default="1,5")
    parser.add_argument("--frames", type=int, default=120,
                        help="clip length (default: 5 s at 24 frames/s); a run has costs "
                             "that do not grow with it (the first frame's decoding, the last "
                             "one's writing), which weigh more on short clips")
    parser.add_argument("--modes", default="overlay,matte", help="end-to-end output modes")
    parser.add_argument("--sequence", default="bmx-bumps", help="DAVIS 2016 train sequence")
    parser.add_argument("--source", default="h264", choices=sorted(SOURCES),
                        help="how the clip is encoded: H.264 8-bit 4:2:0 (cameras, phones), "
                             "ProRes 422 HQ 10-bit (editors' exports), HEVC 10-bit")
    parser.add_argument("--growth", action="store_true",
                        help="also track the last size's 1-object clip at 3x the frames: peak RSS "
                             "must not grow with the video's length")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of model-only and end-to-end runs per row; medians are shown "
                             "(shared machines vary)")
    parser.add_argument("--track-option", action="append", default=[],
                        help="extra option for aotvideo track (repeat), e.g. --track-option=--preset=medium")
    parser.add_argument("--compare-option", action="append", default=[],
                        help="also run each mode with this option added, in the same rounds (repeat "
                             "for more), e.g. --compare-option=--schedule=turns")
    args = parser.parse_args()
    variants = [(mode, mode, args.track_option) for mode in args.modes.split(",")]
    variants += [(f"{mode} {option}", mode, [*args.track_option, option])
                 for option in args.compare_option for mode in args.modes.split(",")]
    stage_rows, speed_rows = [], []
    names: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in args.sizes.split(","):
            width, height = SIZES.get(size.lower()) or tuple(int(v) for v in size.lower().split("x"))
            for count in (int(c) for c in args.objects.split(",")):
                clip, mask, origin = in_fresh_process(make_clip, folder, width, height,
                                                      args.frames, count, args.sequence,
                                                      args.source)
                rounds = paired_runs(clip, mask, variants, folder, args.repeat)
                precision = rounds.precision
                names += [n for n in rounds.stages if n not in names]
                stage_rows.append((f"{width}x{height}", count, rounds.stages))
                for label, run in rounds.variants.items():
                    speed_rows.append(
                        f"| {width}x{height} | {count} | {label} | {rounds.model_fps:.2f} | "
                        f"{run.fps:.2f} | {run.ratio:.2f} | {rounds.model_cores:.2f} | "
                        f"{run.cores:.2f} | {run.rss:.0f} |")
                print(f"done {width}x{height} {count} object(s)", file=sys.stderr, flush=True)
        growth = []
        if args.growth:
            for frames in (args.frames, 3 * args.frames):
                clip, mask, _ = in_fresh_process(make_clip, folder, width, height, frames, 1,
                                                 args.sequence, args.source)
                fps, _, rss = end_to_end(clip, mask, "overlay", folder, args.track_option)
                growth.append(f"| {width}x{height} | {frames} | {fps:.2f} | {rss:.0f} |")
    container, codec, pix_fmt, _ = SOURCES[args.source]
    print(f"{args.frames} frames of {origin}, {codec} {pix_fmt} in {container}; packaged model, {precision}, "
          f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"PyAV {av.__version__}; extra track options: {' '.join(args.track_option) or 'none'}")
    print()
    print("| size | objects | mode | model only, frames/s | aotvideo track, frames/s | ratio | "
          "cores busy, model only | cores busy, track | peak RSS, MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(speed_rows))
    print()
    print("| size | objects | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for size, count, stages in stage_rows:
        width, height = (int(v) for v in size.split("x"))
        cells = [f"{stages.get(n, 0.0):.4f}" for n in names]
        if ENCODE in names:
            preset, crf = auto_encoding(width, height)
            cells[names.index(ENCODE)] += f" ({preset}, {crf})"
        print(f"| {size} | {count} | " + " | ".join(cells) + " |")
    print("(seconds per frame, each stage alone, one after another)")
    if growth:
        print()
        print("| size | frames | aotvideo track, frames/s | peak RSS, MB |")
        print("|---|---|---|---|")
        print("\n".join(growth))
    return 0


if __name__ == "__main__":
    sys.exit(main())
