"""``aotvideo track``: one video through the tracker into an overlay, a matte, alpha or masks.

Options are checked and the weights found first (the commonest first-run problems get their
message before anything loads); then :func:`aotvideo.pipeline.open_run` assembles the run and
the command runs it with Ctrl-C / SIGTERM turned into a finalized output and exit code 130.
Logs, progress and errors go to standard error only, so standard output can carry video.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from .. import zoo
from ..batch.jobs import TrackOptions
from ..io.masks import parse_mask_entry
from ..errors import (AotVideoError, FormatError, InputDecodeError, MaskError, OutputError,
                      WeightsError, error_kind)
from .console import (DownloadPrinter, FramePrinter, Interrupts, fail, frame_printer, say,
                      write_report)
from .console import progress_style as progress_style_of
from .exits import (EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_MASK, EXIT_USAGE,
                    EXIT_WEIGHTS, exit_code)
from .mask import box_option_help, check_box_args, masks_for_track, method_option_help
from .options import ObjectsPerGroup, parse_ids, parse_scales

if TYPE_CHECKING:
    from ..pipeline import Pipeline


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("input", metavar="INPUT")
@click.option("-m", "--mask", "mask_args", multiple=True, metavar="[FRAME:]PATH",
              help="Mask image of the objects on frame 0, or on FRAME with FRAME:PATH. Repeat to add "
                   "objects later in the video or correct them. Palette PNG (DAVIS/YouTube-VOS), "
                   "grayscale/binary PNG, or RGB PNG with one colour per object; drawn on the picture "
                   "as the video is shown (rotation applied).")
@click.option("-b", "--box", "box_args", multiple=True, metavar="X0,Y0,X1,Y1",
              help="Instead of --mask: b" + box_option_help[1:])
@click.option("--box-method", type=click.Choice(["auto", "head", "grabcut"]), default="auto",
              show_default=True, help=method_option_help)
@click.option("-w", "--workspace", metavar="DIR",
              help="Instead of --mask: the keyframes of a studio workspace (aotvideo studio), each "
                   "a --mask FRAME:PATH.")
@click.option("--backward/--no-backward", default=None,
              help="Track the frames before the first mask backward from it (default: on for video "
                   "files; a pipe or raw input cannot be read backward, so there those frames stay "
                   "empty).")
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
@click.option("--codec", metavar="NAME",
              help="Video encoder (FFmpeg name), e.g. libx264, libvpx-vp9, prores_ks, ffv1, h264_nvenc; "
                   "hw: the first hardware H.264 encoder this machine can use (NVENC on a CUDA "
                   "machine, Quick Sync, AMF, VA-API), or exit 2 when there is none.")
@click.option("--crf", type=click.IntRange(0, 63), help="Quality for x264/x265/VP9/AV1 (lower is better; default 18 for H.264 -- 16 where --preset auto picks ultrafast -- and 30 for VP9).")
@click.option("--preset", metavar="NAME",
              help="Encoder preset (x264/x265: ultrafast ... veryslow).  Default auto: by the work per "
                   "CPU core, medium for 480p on 2 cores, superfast for 720p on 2 cores, ultrafast "
                   "at CRF 16 for 1080p and 4K on 2 cores (the same picture as slower presets at "
                   "CRF 18: less CPU, bigger files).")
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
@click.option("--min-short-edge", type=click.IntRange(min=16), default=None, metavar="N",
              help="Network input: frames with a shorter short edge are enlarged to N pixels for the "
                   "model (small videos track better; default: what the weights prefer -- the "
                   "packaged model: 400 -- else never).")
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
@click.option("--schedule", type=click.Choice(["auto", "turns", "side-by-side"]), default="auto",
              show_default=True,
              help="How a model on the CPU shares the cores with decoding and writing: turns (the "
                   "model on every core, the others between its steps), side-by-side (the model on "
                   "one core fewer, the others beside it); auto measures both on the first frames "
                   "and keeps the faster (the report says which).")
@click.option("-q", "--quiet", is_flag=True, help="No progress or summary; errors only.")
def track(input: str, mask_args: tuple[str, ...], box_args: tuple[str, ...], box_method: str,
          workspace: str | None, backward: bool | None, save_mask: str | None, output: str | None, mode: str, soft: bool,
          objects: str | None, fmt: str | None, codec: str | None, crf: int | None,
          preset: str | None, out_pix_fmt: str | None, model: str, weights: str | None,
          device: str | None, amp: bool | None, flip: bool, scales: str, max_long_term: int | None,
          max_short_edge: int | None, min_short_edge: int | None, objects_per_group: int | str, raw_size: str | None, raw_pix_fmt: str | None, rate: float | None,
          input_format: str | None, report_path: str | None, progress_style: str,
          schedule: str, quiet: bool) -> None:
    """Track the objects of a mask (or of boxes on the first frame) through INPUT and write the result.

    INPUT is a video file, or - for standard input (a streamable container such as nut,
    matroska or mpegts; with --raw WxH, headerless rawvideo).

    \b
    Examples:
      aotvideo track samples/sample.mp4 --mask samples/sample_mask.png
      aotvideo track in.mp4 --box 120,40,380,300 --box 400,60,560,330
      aotvideo track in.mp4 -m first.png --mode alpha -o cut.mov
      aotvideo track in.mp4 -m first.png -m 120:fix.png --mode masks -o masks/
      aotvideo track in.mp4 -m 120:key.png          # both ways from frame 120
      aotvideo track in.mp4 --workspace in.studio --mode alpha -o cut.mov
      ffmpeg -i in.mp4 -f nut - | aotvideo track - -m first.png -o - -f nut | ffplay -
    """
    boxes = [] if workspace else check_box_args(box_args, mask_args, save_mask)
    size = _check_input_options(input, output, mode, soft, raw_size, raw_pix_fmt, rate,
                                input_format)
    selected = parse_ids(objects)
    scale_values = parse_scales(scales)
    spec = _output_spec(input, output, mode, fmt, codec, crf, preset, out_pix_fmt)
    weights_path = _track_weights(model, weights, progress_style, quiet)
    entries = _workspace_entries(workspace, mask_args, box_args) if workspace else _mask_entries(mask_args)
    both_ways = _check_backward(backward, input, size, input_format)
    _check_spares_inputs(spec, input, [path for _, path in entries], save_mask)
    masks, names = _read_masks(entries, selected)
    tracker_spec = TrackOptions(
        model=model, weights=str(weights_path), device=device, amp=amp, flip=flip,
        scales=scale_values, max_long_term=max_long_term, max_short_edge=max_short_edge,
        min_short_edge=min_short_edge,
        objects_per_group=objects_per_group).tracker_spec(weights_path)

    from ..pipeline import RunRequest, VideoSource, open_run
    from ..tracking.builder import build_tracker

    if boxes:
        names[0] = "the mask made from --box"
    request = RunRequest(
        VideoSource(input, format=input_format, raw_size=size, pix_fmt=raw_pix_fmt, rate=rate),
        spec,
        (lambda reader: {0: masks_for_track(reader, boxes, box_method, device, save_mask, quiet)})
        if boxes else masks,
        objects=selected, mask_names=names, soft=soft, areas=report_path is not None,
        backward=both_ways, schedule=schedule)
    printer = frame_printer(progress_style, quiet)
    interrupts = Interrupts()
    pipeline: Pipeline | None = None
    try:
        with open_run(request, lambda: build_tracker(tracker_spec), progress=printer,
                      model=model, weights=str(weights_path)) as pipeline:
            _run(pipeline, printer, interrupts)
    except KeyboardInterrupt:
        _interrupted(pipeline, report_path)
    except Exception as exc:
        _track_failed(exc, pipeline, report_path, interrupts)
    finally:
        interrupts.restore()
    assert pipeline is not None
    if interrupts.received is not None:  # a signal after the last frame: the output is complete
        _interrupted(pipeline, report_path)
    report = pipeline.report
    write_report(report_path, report.to_json())
    if not quiet:
        where = "standard output" if spec.to_stdout else spec.target
        say(f"aotvideo: wrote {report.frames_written} frames to {where} in {report.seconds:.1f} s "
            f"({report.fps:.1f} fps)")


def _check_input_options(input: str, output: str | None, mode: str, soft: bool,
                         raw_size: str | None, raw_pix_fmt: str | None, rate: float | None,
                         input_format: str | None) -> tuple[int, int] | None:
    """Usage errors among track's input options; returns the --raw size, if any."""
    from ..io.reader import parse_size

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
    from ..io.formats import default_output_path, resolve_output

    try:
        target = output if output is not None else default_output_path(input, mode)
        spec = resolve_output(target, mode, format=fmt, codec=codec, crf=crf, preset=preset,
                              pix_fmt=out_pix_fmt)
    except FormatError as exc:
        fail(str(exc), EXIT_USAGE)
    return spec


def _mask_entries(mask_args: tuple[str, ...]) -> list[tuple[int, str]]:
    """``--mask [FRAME:]PATH`` arguments -> (frame, path) pairs; exits 3 for an entry without
    a file or two masks for one frame."""
    entries: dict[int, str] = {}
    for arg in mask_args:
        try:
            index, path = parse_mask_entry(arg)
        except MaskError as exc:
            fail(str(exc), EXIT_MASK)
        if index in entries:
            fail(f"two masks for frame {index}", EXIT_MASK)
        entries[index] = path
    return sorted(entries.items())


def _workspace_entries(workspace: str, mask_args: tuple[str, ...],
                       box_args: tuple[str, ...]) -> list[tuple[int, str]]:
    """A studio workspace's keyframes as (frame, mask path) pairs; exits 2 with --mask or
    --box, 3 for a workspace that cannot be used."""
    from ..errors import WorkspaceError
    from ..io.workspace import Workspace

    if mask_args or box_args:
        fail("--workspace gives the masks: leave out --mask and --box", EXIT_USAGE)
    try:
        return Workspace.open(workspace).mask_entries()
    except WorkspaceError as exc:
        fail(str(exc), EXIT_MASK)


def _check_backward(backward: bool | None, input: str, raw_size: Any,
                    input_format: str | None) -> bool:
    """Whether to track backward before the first mask: on by default for files; asking for it
    with a pipe or raw input is a usage error (exit 2)."""
    readable = input != "-" and raw_size is None and input_format is None
    if backward and not readable:
        fail("--backward needs a video file: a pipe or raw input cannot be read backward",
             EXIT_USAGE)
    return readable if backward is None else backward


def _check_spares_inputs(spec: Any, input: str, mask_paths: list[str],
                         save_mask: str | None) -> None:
    """Exit with a usage error when an output names a file track reads (the input video, a
    mask), by the files the paths name: through symbolic links, ``..`` and hard links."""
    from ..io.paths import check_spares

    read = {"the input": input}
    read.update({f"the mask {path}": path for path in mask_paths})
    try:
        check_spares(spec.target, read, folder=spec.mode == "masks")
        if save_mask is not None:
            check_spares(save_mask, read | {"the output": spec.target}, what="--save-mask")
    except OutputError as exc:
        fail(str(exc), EXIT_USAGE)


def _track_weights(model: str, weights: str | None, progress_style: str, quiet: bool) -> Path:
    """The checkpoint to load, downloading a model-zoo file on first use.

    Weights come first: the commonest first-run problem gets its message before anything else.
    """
    fetching = DownloadPrinter(progress_style_of(progress_style, quiet))
    try:
        return zoo.resolve_weights(model, weights, progress=fetching)
    except WeightsError as exc:
        fetching.finish()
        fail(str(exc), EXIT_WEIGHTS)
    except KeyboardInterrupt:
        fetching.finish()
        fail("interrupted while getting the weights (a download resumes on the next run)",
              EXIT_INTERRUPTED)


def _read_masks(entries: list[tuple[int, str]], selected: list[int] | None,
                ) -> tuple[dict[int, Any], dict[int, str]]:
    """(frame, path) pairs -> label maps by frame (exits 3 for a mask that cannot be used),
    and names for messages."""
    from ..io.masks import read_mask

    masks: dict[int, Any] = {}
    names: dict[int, str] = {}
    for index, path in entries:
        try:
            masks[index] = read_mask(path, objects=selected)
        except MaskError as exc:
            fail(str(exc), EXIT_MASK)
        names[index] = f"mask {path}" + (f" (frame {index})" if index else "")
    return masks, names


def _run(pipeline: Pipeline, printer: FramePrinter | None, interrupts: Interrupts) -> None:
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


def _interrupted(pipeline: Pipeline | None, report_path: str | None,
                 cause: BaseException | None = None) -> NoReturn:
    """Exit 130 after SIGINT/SIGTERM, whatever else went wrong at the same moment (``cause``)."""
    if pipeline is None:
        fail("interrupted", EXIT_INTERRUPTED)
    report = pipeline.report
    message = report.message
    if cause is not None or not message or not message.startswith("interrupted"):
        done = f"interrupted after {report.frames} frames"
        if isinstance(cause, OutputError):
            message = f"{done}; the output could not be finalized: {cause}"
        else:
            also = f" ({cause})" if cause is not None else ""
            message = f"{done}{also}; the output holds the {report.frames_written} frames processed"
    report.status, report.message = "interrupted", message
    write_report(report_path, report.to_json())
    fail(message, EXIT_INTERRUPTED)


def _track_failed(exc: Exception, pipeline: Pipeline | None, report_path: str | None,
                  interrupts: Interrupts) -> NoReturn:
    """Report and exit for an error that ended tracking (or kept it from starting); an error
    that came with a Ctrl-C (the other end of a pipe stopped by the same signal) counts as the
    interrupt. An unexpected error (a bug) keeps its traceback."""
    if interrupts.received is not None:
        _interrupted(pipeline, report_path, exc)
    if pipeline is not None:
        write_report(report_path, pipeline.report.to_json())
    if error_kind(exc) == "error" and not isinstance(exc, AotVideoError):
        raise exc  # a bug: keep its traceback
    message = str(exc)
    if isinstance(exc, InputDecodeError) and pipeline is not None:
        message = (f"{exc}; the output is finalized with the {pipeline.report.frames_written} "
                   "frames before it")
    fail(message, exit_code(exc))
