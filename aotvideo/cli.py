"""The ``aotvideo`` command line.

``aotvideo track`` runs the streaming pipeline on a video; ``aotvideo weights`` manages the
per-user checkpoint cache. Logs, progress and errors go to standard error only, so standard
output can carry video.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from . import cli_mask, zoo
from .cli_progress import RedrawnLine, bar
from .errors import (AotVideoError, FormatError, InputDecodeError, InputError, MaskError,
                     OutputError, WeightsError)

# -- exit codes -----------------------------------------------------------------------------------

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MASK = 3
EXIT_WEIGHTS = 4
EXIT_INPUT = 5
EXIT_INPUT_BROKEN = 6
EXIT_OUTPUT = 7
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\b
Exit codes:
  0    success
  1    unexpected error (a bug: please report it with the message)
  2    bad usage: unknown option, impossible format/mode/codec combination,
       a --box that is malformed, empty or outside the picture, a frame
       past the end (aotvideo frame, aotvideo mask)
  3    mask problem: unreadable, empty, wrong size, --objects ids absent
  4    weights problem: none installed or given, or they do not fit --model
  5    input cannot be opened or decoded (nothing was written)
  6    input broke off (corrupt or truncated): the output is finalized
       and playable with every frame up to the break
  7    output cannot be written (full disk, closed pipe, no permission):
       the output is finalized as far as possible
  130  interrupted (Ctrl-C or SIGTERM): the output is finalized and
       playable with the frames processed so far
"""


class ObjectsPerGroup(click.ParamType):
    """``--objects-per-group``: ``auto`` or a number from 1 to 10."""

    name = "objects_per_group"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | str:
        from .tracking.builder import parse_objects_per_group

        try:
            return parse_objects_per_group(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _version() -> str:
    try:
        from . import __version__
    except ImportError:  # pragma: no cover - partial installs
        return "unknown"
    return str(__version__)


def _say(message: str) -> None:
    click.echo(message, err=True)


def _fail(message: str, code: int) -> NoReturn:
    _say(f"aotvideo: error: {message}")
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_CODES_HELP)
@click.version_option(version=_version(), prog_name="aotvideo", message="%(prog)s %(version)s")
def main() -> None:
    """aotvideo: track objects through videos with AOT / DeAOT.

    Give a video and a mask of the objects on its first frame; get back an overlay, a matte,
    the video with an alpha channel, or per-frame masks, with timing, rotation and audio kept.
    Run `aotvideo track --help` for the details.
    """


# -- helpers for track ------------------------------------------------------------------------------


def _parse_mask_arg(text: str) -> tuple[int, str]:
    """``PATH`` (frame 0) or ``FRAME:PATH``."""
    head, sep, tail = text.partition(":")
    if sep and head.strip().isdigit() and tail:
        return int(head), tail
    return 0, text


def _parse_ids(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        ids = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise click.BadParameter(f"expected ids like 1,3 - got {text!r}", param_hint="--objects") from None
    if not ids or any(i <= 0 for i in ids):
        raise click.BadParameter("object ids are positive integers, e.g. 1,3", param_hint="--objects")
    return ids


def _parse_scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected numbers like 1.0,1.3 - got {text!r}", param_hint="--scales") from None
    if not scales or any(s <= 0 for s in scales):
        raise click.BadParameter("scales are positive numbers", param_hint="--scales")
    return scales


class _ProgressPrinter(RedrawnLine):
    """Draws progress on standard error: a redrawn bar on a terminal, or plain lines."""

    def __init__(self, style: str) -> None:
        self.style = style
        self._last = 0.0

    def __call__(self, progress: Any) -> None:
        now = time.monotonic()
        final = progress.total is not None and progress.frames >= progress.total
        if self.style == "lines":
            if progress.frames == 1 or final or now - self._last >= 1.0:
                self._last = now
                total = f"/{progress.total}" if progress.total else ""
                sys.stderr.write(f"frame {progress.frames}{total} {progress.fps:.1f} fps\n")
                sys.stderr.flush()
            return
        if not (final or progress.frames == 1 or now - self._last >= 0.2):
            return
        self._last = now
        eta = f" ETA {_clock(progress.eta)}" if progress.eta is not None else ""
        if progress.total:
            share = progress.frames / progress.total
            text = (f"\r{bar(share, 30)} {progress.frames}/{progress.total} "
                    f"{progress.fps:5.1f} fps{eta} ")
        else:
            text = f"\r{progress.frames} frames {progress.fps:5.1f} fps {_clock(progress.elapsed)} "
        self.draw(text)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class _Interrupts:
    """SIGINT (Ctrl-C) and SIGTERM during ``track``: remembered, and raised as KeyboardInterrupt
    while :meth:`raising` is active (so the pipeline stops and finalizes the output).

    A Ctrl-C in a terminal reaches the whole shell pipeline (``ffmpeg ... | aotvideo track ...
    | ffplay -``): the neighbours stop at the same moment, so the error aotvideo meets first
    may be a closed output pipe or a cut-off input rather than the KeyboardInterrupt. Because
    the signal is remembered, ``track`` exits 130 all the same. Outside :meth:`raising` (after
    the run, while reporting) signals are only remembered, never raised.
    """

    def __init__(self) -> None:
        self.received: int | None = None
        self._raise = False
        self._previous: dict[int, Any] = {}

    def _handler(self, signum: int, frame: object) -> None:
        if self.received is None:
            self.received = signum
        if self._raise:
            raise KeyboardInterrupt

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handler)
            except ValueError:  # not the main thread (e.g. an embedding application)
                pass

    def restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    @contextmanager
    def raising(self) -> Iterator[None]:
        self._raise = True
        try:
            yield
        finally:
            self._raise = False


def _write_report(path: str | None, report: dict[str, Any]) -> None:
    if not path:
        return
    try:
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        _say(f"aotvideo: warning: cannot write the report {path}: {exc.strerror or exc}")


def _interrupted(report: dict[str, Any], report_path: str | None,
                 cause: BaseException | None = None) -> NoReturn:
    """Exit 130 after SIGINT/SIGTERM, whatever else went wrong at the same moment (``cause``)."""
    if report:
        message = report.get("message")
        if cause is not None or not message or not str(message).startswith("interrupted"):
            done = f"interrupted after {report.get('frames', 0)} frames"
            if isinstance(cause, OutputError):
                message = f"{done}; the output could not be finalized: {cause}"
            else:
                also = f" ({cause})" if cause is not None else ""
                message = (f"{done}{also}; the output holds the {report.get('frames_written', 0)} "
                           f"frames processed")
        report["status"] = "interrupted"
        report["message"] = message
    _write_report(report_path, report)
    _fail(report.get("message") or "interrupted", EXIT_INTERRUPTED)


# -- track ----------------------------------------------------------------------------------------------


@main.command(epilog=EXIT_CODES_HELP)
@click.argument("input", metavar="INPUT")
@click.option("-m", "--mask", "mask_args", multiple=True, metavar="[FRAME:]PATH",
              help="Mask image of the objects on frame 0, or on FRAME with FRAME:PATH. Repeat to add "
                   "objects later in the video or correct them. Palette PNG (DAVIS/YouTube-VOS), "
                   "grayscale/binary PNG, or RGB PNG with one colour per object; drawn on the picture "
                   "as the video is shown (rotation applied).")
@click.option("-b", "--box", "box_args", multiple=True, metavar="X0,Y0,X1,Y1",
              help="Instead of --mask: b" + cli_mask.box_option_help[1:])
@click.option("--box-method", type=click.Choice(["auto", "head", "grabcut"]), default="auto",
              show_default=True, help=cli_mask.method_option_help)
@click.option("--save-mask", metavar="PATH.png", help="Also save the mask made from --box (palette PNG).")
@click.option("-o", "--output", metavar="PATH",
              help="Output file, folder (PNG frames), or - for standard output (needs --format). "
                   "Default: INPUT's name with .MODE.mp4 (.alpha.mov, .masks/ folder).")
@click.option("--mode", type=click.Choice(["overlay", "matte", "alpha", "masks"]), default="overlay",
              show_default=True,
              help="overlay: coloured objects over the video; matte: white = objects; alpha: the video "
                   "with an alpha channel; masks: one palette PNG per frame.")
@click.option("--soft", is_flag=True, help="Soft matte edges from the probabilities (matte, alpha).")
@click.option("--objects", metavar="IDS", help="Only these object ids of the mask(s), e.g. 1,3.")
@click.option("-f", "--format", "fmt", metavar="FMT",
              help="Output format when the extension does not say, or for -o -: mp4, mov, mkv, webm, "
                   "nut, mpegts, png, rawvideo.")
@click.option("--codec", metavar="NAME", help="Video encoder (FFmpeg name), e.g. libx264, libvpx-vp9, prores_ks, ffv1.")
@click.option("--crf", type=click.IntRange(0, 63), help="Quality for x264/x265/VP9/AV1 (lower is better; default 18 for H.264, 30 for VP9).")
@click.option("--preset", metavar="NAME", help="Encoder preset (x264: ultrafast ... veryslow; default medium).")
@click.option("--out-pix-fmt", metavar="FMT", help="Output pixel format (default per codec and mode; raw: rgb24, gray, rgba).")
@click.option("--model", type=click.Choice(list(zoo.ZOO)), default=zoo.DEFAULT_MODEL, show_default=True,
              help="Model variant.")
@click.option("--weights", type=click.Path(dir_okay=False), metavar="FILE|URL",
              help="Checkpoint to use (model-zoo format) instead of the installed one: a file, or an "
                   "http(s) URL (downloaded into the cache once, sha256 checked on every use).")
@click.option("--device", metavar="DEV", help="torch device, e.g. cpu, cuda, cuda:1 (default: CUDA if available).")
@click.option("--amp/--no-amp", default=None,
              help="Mixed precision: bfloat16 on CPUs with native bfloat16 (AVX-512 BF16, AMX), "
                   "float16 on CUDA.  Default: on where the hardware has it; --no-amp: float32.")
@click.option("--flip", is_flag=True, help="Test-time augmentation with the mirrored frame.")
@click.option("--scales", default="1.0", show_default=True, metavar="S[,S...]",
              help="Test-time scales of the network input.")
@click.option("--max-long-term", type=click.IntRange(min=1), default=None, metavar="N",
              help="Cap on long-term memory frames (bounds memory on long videos; default the tracker's).")
@click.option("--max-short-edge", type=click.IntRange(min=16), default=None, metavar="N",
              help="Network input: short edge at most N pixels (default: what the weights prefer, else 480).")
@click.option("--objects-per-group", type=ObjectsPerGroup(), default="auto", show_default=True,
              metavar="N|auto",
              help="Objects sharing one identity group (1-10).  1 tracks every object with its own "
                   "memory: similar objects far less often swap or get lost, and each object costs "
                   "one more propagation pass per frame; 10 is the original's grouping.  auto: what "
                   "the weights ask for (the packaged model: 1; zoo checkpoints: 10).")
@click.option("--raw", "raw_size", metavar="WxH", help="INPUT is headerless rawvideo of this size (e.g. from an ffmpeg pipe).")
@click.option("--pix-fmt", "raw_pix_fmt", metavar="FMT", help="Pixel format of --raw input (default rgb24).")
@click.option("--rate", type=float, metavar="FPS", help="Frame rate of --raw input (default 25).")
@click.option("--input-format", metavar="FMT", help="Force the input demuxer (e.g. nut, matroska, mpegts).")
@click.option("--report", "report_path", metavar="FILE.json",
              help="Write a JSON report: frames, seconds, fps, peak memory, objects, area per object per frame.")
@click.option("--progress", "progress_style", type=click.Choice(["auto", "bar", "lines", "none"]),
              default="auto", show_default=True,
              help="Progress on standard error: auto = a bar when it is a terminal.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary; errors only.")
def track(input: str, mask_args: tuple[str, ...], box_args: tuple[str, ...], box_method: str,
          save_mask: str | None, output: str | None, mode: str, soft: bool,
          objects: str | None, fmt: str | None, codec: str | None, crf: int | None,
          preset: str | None, out_pix_fmt: str | None, model: str, weights: str | None,
          device: str | None, amp: bool | None, flip: bool, scales: str, max_long_term: int | None,
          max_short_edge: int | None, objects_per_group: int | str, raw_size: str | None, raw_pix_fmt: str | None, rate: float | None,
          input_format: str | None, report_path: str | None, progress_style: str,
          quiet: bool) -> None:
    """Track the objects of a mask (or of boxes on the first frame) through INPUT and write the result.

    INPUT is a video file, or - for standard input (a streamable container such as nut,
    matroska or mpegts; with --raw WxH, headerless rawvideo).

    \b
    Examples:
      aotvideo track samples/sample.mp4 --mask samples/sample_mask.png
      aotvideo track in.mp4 --box 120,40,380,300 --box 400,60,560,330
      aotvideo track in.mp4 -m first.png --mode alpha -o cut.mov
      aotvideo track in.mp4 -m first.png -m 120:fix.png --mode masks -o masks/
      ffmpeg -i in.mp4 -f nut - | aotvideo track - -m first.png -o - -f nut | ffplay -
    """
    boxes = cli_mask.check_box_args(box_args, mask_args, save_mask)
    size = _check_input_options(input, output, mode, soft, raw_size, raw_pix_fmt, rate,
                                input_format)
    selected = _parse_ids(objects)
    scale_values = _parse_scales(scales)
    spec = _output_spec(input, output, mode, fmt, codec, crf, preset, out_pix_fmt)
    weights_path = _track_weights(model, weights, progress_style, quiet)
    _check_spares_inputs(spec, input, mask_args, save_mask)
    masks, names = _read_masks(mask_args, selected)

    from .io.reader import VideoReader
    from .pipeline import Pipeline, check_masks

    try:
        reader = VideoReader(input, format=input_format, raw_size=size, pix_fmt=raw_pix_fmt, rate=rate)
    except InputError as exc:
        _fail(str(exc), EXIT_INPUT)
    report: dict[str, Any] = {}
    interrupts = _Interrupts()
    try:
        if boxes:
            masks[0] = cli_mask.masks_for_track(reader, boxes, box_method, device, save_mask, quiet)
            names[0] = "the mask made from --box"
        try:
            checked = check_masks(masks, reader.info, selected, names=names)
        except MaskError as exc:
            _fail(str(exc), EXIT_MASK)
        if spec.mode == "masks":
            _check_palette_ids(checked)
        from .batch.jobs import TrackOptions

        tracker = _make_tracker(TrackOptions(
            model=model, weights=str(weights_path), device=device, amp=amp, flip=flip,
            scales=scale_values, max_long_term=max_long_term, max_short_edge=max_short_edge,
            objects_per_group=objects_per_group).tracker_spec(weights_path))
        writer = _open_writer(spec, reader)
        printer = _progress_printer(progress_style, quiet)
        pipeline = Pipeline(
            reader, writer, tracker, checked, mode=spec.mode, soft=soft, progress=printer,
            areas=report_path is not None,
            extra={"model": model, "weights": str(weights_path), "device": str(tracker.device),
                   "precision": tracker.precision},
        )
        report = pipeline.report
        _run_pipeline(pipeline, printer, interrupts)
    except KeyboardInterrupt:
        _interrupted(report, report_path)
    except (InputDecodeError, OutputError, AotVideoError) as exc:
        _track_failed(exc, report, report_path, interrupts)
    except Exception:
        _write_report(report_path, report)
        raise
    finally:
        reader.close()
        interrupts.restore()
    if interrupts.received is not None:  # a signal after the last frame: the output is complete
        _interrupted(report, report_path)
    _write_report(report_path, report)
    if not quiet:
        where = "standard output" if spec.to_stdout else spec.target
        _say(f"aotvideo: wrote {report['frames_written']} frames to {where} in {report['seconds']:.1f} s "
             f"({report['fps']:.1f} fps)")


def _check_input_options(input: str, output: str | None, mode: str, soft: bool,
                         raw_size: str | None, raw_pix_fmt: str | None, rate: float | None,
                         input_format: str | None) -> tuple[int, int] | None:
    """Usage errors among track's input options; returns the --raw size, if any."""
    from .io.reader import parse_size

    if soft and mode not in ("matte", "alpha"):
        raise click.UsageError("--soft applies to --mode matte and alpha")
    if (raw_pix_fmt or rate) and not raw_size:
        raise click.UsageError("--pix-fmt and --rate describe --raw input; give --raw WxH too")
    if raw_size and input_format:
        raise click.UsageError("--raw and --input-format exclude each other")
    if output is None and input == "-":
        raise click.UsageError("reading from standard input needs -o (e.g. -o out.mp4, or -o - -f nut)")
    if not raw_size:
        return None
    try:
        return parse_size(raw_size)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--raw") from None


def _output_spec(input: str, output: str | None, mode: str, fmt: str | None, codec: str | None,
                 crf: int | None, preset: str | None, out_pix_fmt: str | None) -> Any:
    """The output track writes (an :class:`~aotvideo.io.formats.OutputSpec`); exits with a
    usage error for impossible combinations or an output that would overwrite the input."""
    from .io.formats import default_output_path, resolve_output

    try:
        target = output if output is not None else default_output_path(input, mode)
        spec = resolve_output(target, mode, format=fmt, codec=codec, crf=crf, preset=preset,
                              pix_fmt=out_pix_fmt)
    except FormatError as exc:
        _fail(str(exc), EXIT_USAGE)
    return spec


def _check_spares_inputs(spec: Any, input: str, mask_args: tuple[str, ...],
                         save_mask: str | None) -> None:
    """Exit with a usage error when an output names a file track reads (the input video, a
    mask), by the files the paths name: through symbolic links, ``..`` and hard links."""
    from .io.paths import check_spares

    read = {"the input": input}
    read.update({f"the mask {path}": path for path in (_parse_mask_arg(a)[1] for a in mask_args)})
    try:
        check_spares(spec.target, read, folder=spec.mode == "masks")
        if save_mask is not None:
            check_spares(save_mask, read | {"the output": spec.target}, what="--save-mask")
    except OutputError as exc:
        _fail(str(exc), EXIT_USAGE)


def _track_weights(model: str, weights: str | None, progress_style: str, quiet: bool) -> Path:
    """The checkpoint to load, downloading a model-zoo file on first use.

    Weights come first: the commonest first-run problem gets its message before anything else.
    """
    from .cli_weights import DownloadPrinter, download_style

    fetching = DownloadPrinter(download_style(progress_style, quiet))
    try:
        return zoo.resolve_weights(model, weights, progress=fetching)
    except WeightsError as exc:
        fetching.finish()
        _fail(str(exc), EXIT_WEIGHTS)
    except KeyboardInterrupt:
        fetching.finish()
        _fail("interrupted while getting the weights (a download resumes on the next run)",
              EXIT_INTERRUPTED)


def _read_masks(mask_args: tuple[str, ...], selected: list[int] | None,
                ) -> tuple[dict[int, Any], dict[int, str]]:
    """``--mask [FRAME:]PATH`` arguments -> label maps by frame, and names for messages."""
    from .io.masks import read_mask

    masks: dict[int, Any] = {}
    names: dict[int, str] = {}
    for arg in mask_args:
        index, path = _parse_mask_arg(arg)
        if index in masks:
            _fail(f"two masks for frame {index}", EXIT_MASK)
        try:
            masks[index] = read_mask(path, objects=selected)
        except MaskError as exc:
            _fail(str(exc), EXIT_MASK)
        names[index] = f"mask {path}" + (f" (frame {index})" if index else "")
    return masks, names


def _check_palette_ids(masks: dict[int, Any]) -> None:
    too_big = [i for m in masks.values() for i in set(m.ravel().tolist()) if i > 255]
    if too_big:
        _fail(f"--mode masks writes palette PNGs, which hold ids up to 255; the mask has "
              f"{max(too_big)}", EXIT_MASK)


def _make_tracker(spec: Any) -> Any:
    """The tracker of a :class:`~aotvideo.tracking.builder.TrackerSpec` (exits on failure)."""
    from .tracking.builder import build_tracker

    try:
        return build_tracker(spec)
    except WeightsError as exc:
        _fail(str(exc), EXIT_WEIGHTS)
    except (RuntimeError, ValueError, AssertionError) as exc:
        _fail(f"cannot set up the tracker on device {spec.device or 'auto'}: {exc}", EXIT_USAGE)


def _open_writer(spec: Any, reader: Any) -> Any:
    """The output writer, shaped like the input (size, timing, rotation, audio)."""
    from .io.writer import open_writer

    try:
        writer = open_writer(spec, width=reader.info.width, height=reader.info.height,
                             time_base=reader.info.time_base, frame_rate=reader.info.frame_rate,
                             rotation=reader.info.rotation, audio_stream=reader.audio_stream)
    except OutputError as exc:
        _fail(str(exc), EXIT_OUTPUT)
    reader.set_audio_mode(writer.audio_mode)
    return writer


def _progress_printer(progress_style: str, quiet: bool) -> _ProgressPrinter | None:
    style = "none" if quiet else progress_style
    if style == "auto":
        style = "bar" if sys.stderr.isatty() else "none"
    return _ProgressPrinter(style) if style != "none" else None


def _run_pipeline(pipeline: Any, printer: _ProgressPrinter | None,
                  interrupts: _Interrupts) -> None:
    """Run with Ctrl-C turned into KeyboardInterrupt; a signal before the first frame stops at
    once (the output is still finalized)."""
    interrupts.install()
    with interrupts.raising():
        try:
            if interrupts.received is not None:
                pipeline.cancel()
            pipeline.run()
        finally:
            if printer is not None:
                printer.finish()


def _track_failed(exc: Exception, report: dict[str, Any], report_path: str | None,
                  interrupts: _Interrupts) -> NoReturn:
    """Report and exit for an error that ended tracking; an error that came with a Ctrl-C (the
    other end of a pipe stopped by the same signal) counts as the interrupt."""
    if interrupts.received is not None:
        _interrupted(report, report_path, exc)
    _write_report(report_path, report)
    if isinstance(exc, InputDecodeError):
        _fail(f"{exc}; the output is finalized with the {report.get('frames_written', 0)} frames "
              "before it", EXIT_INPUT_BROKEN)
    if isinstance(exc, OutputError):
        _fail(str(exc), EXIT_OUTPUT)
    _fail(str(exc), EXIT_FAILURE)


# -- weights ----------------------------------------------------------------------------------------------


@main.group()
def weights() -> None:
    """Manage model checkpoints in the per-user cache.

    aotvideo ships a small model of its own for deaott (used when nothing is installed). For
    real footage use a checkpoint of the AOT/DeAOT model zoo (see `aotvideo weights list`): it
    downloads itself on first use of its --model, or with `aotvideo weights download NAME`; a
    file downloaded by hand is installed with `aotvideo weights add FILE`.
    """


@weights.command("list")
def weights_list() -> None:
    """Show every model variant, where its checkpoint comes from, and whether it is installed."""
    try:
        records = zoo.installed()
    except WeightsError as exc:
        _fail(str(exc), EXIT_WEIGHTS)
    click.echo(f"weights folder: {zoo.weights_dir()}")
    for name, entry in zoo.ZOO.items():
        record = records.get(name)
        if record:
            state = f"installed (sha256 {record['sha256'][:12]}...)"
        else:
            try:
                shipped = zoo.packaged_weights(name)
            except WeightsError as exc:
                shipped, state = None, f"packaged copy damaged: {exc}"
            else:
                state = "not installed" + ("; downloads on first use" if entry.url else "")
            if shipped is not None:
                state = "packaged (aotvideo's own model, trained on synthetic videos)"
        default = " [default]" if name == zoo.DEFAULT_MODEL else ""
        click.echo(f"{name:<13} {entry.title:<16} {state}{default}")
        click.echo(f"{'':13} source: {zoo.source_text(name)}")


@weights.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", type=click.Choice(list(zoo.ZOO)), default=None,
              help="The variant it is for (default: worked out from the checkpoint).")
def weights_add(file: str, model: str | None) -> None:
    """Install a downloaded checkpoint FILE: check that it loads, copy it to the cache, record its sha256."""
    try:
        name, record = zoo.install(file, model)
    except WeightsError as exc:
        _fail(str(exc), EXIT_WEIGHTS)
    click.echo(f"installed {file} as {name}: {record['path']} (sha256 {record['sha256']})")


@main.command("bench", context_settings={"ignore_unknown_options": True,
                                         "allow_extra_args": True, "help_option_names": []})
@click.pass_context
def bench(ctx: click.Context) -> None:
    """Speed and memory benchmark (table of frames/s per variant); see `aotvideo bench --help`."""
    from .bench import main as bench_main

    sys.exit(bench_main(list(ctx.args)))


def _attach_subcommands() -> None:
    from .batch.cli import make_batch_command
    from .cli_frame import frame_command
    from .cli_mask import mask_command
    from .cli_weights import weights_download
    from .evaluation.cli import eval_group
    from .gst import gst_path
    from .training.cli import train_group

    main.add_command(make_batch_command(track))
    main.add_command(eval_group)
    main.add_command(train_group)
    main.add_command(gst_path)
    main.add_command(frame_command)
    main.add_command(mask_command)
    weights.add_command(weights_download)


_attach_subcommands()

if __name__ == "__main__":  # pragma: no cover
    main()
