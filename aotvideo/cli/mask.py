"""``aotvideo mask``: a first mask from boxes, no editor needed; and ``track --box``'s helper."""
from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from ..errors import InputDecodeError, InputError, MaskError, OutputError, PositionError, WeightsError
from .console import fail, say
from .exits import EXIT_CODES_HELP, EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE, EXIT_WEIGHTS

if TYPE_CHECKING:
    from ..boxmask import Box
    from ..io.reader import VideoReader

__all__ = ["mask_command", "box_option_help", "check_box_args", "parse_box", "parse_boxes",
           "masks_for_track", "preview_image"]

#: Still pictures ``aotvideo mask`` reads directly (other files are opened as videos).
STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")

_NUMBER = r"\s*(-?\d+)\s*"
_BOX = re.compile(rf"^{_NUMBER},{_NUMBER},{_NUMBER},{_NUMBER}$")

box_option_help = ("Box around one object, in pixels of the picture as shown (rotation applied): "
                   "left,top,right,bottom, right and bottom exclusive (0,0 is the top-left corner). "
                   "Repeat for more objects: the n-th box is object id n. Where two objects overlap, "
                   "the later box's object wins on its own pixels.")
method_option_help = ("How boxes become masks: head = aotvideo's small learnt model; grabcut = "
                      "OpenCV's GrabCut; auto = the head when its packaged weights are present and "
                      "intact, GrabCut otherwise.")


def parse_box(text: str) -> Box:
    """``"X0,Y0,X1,Y1"`` -> a box; ``click.BadParameter`` for other syntax or an empty box."""
    match = _BOX.match(text)
    if match is None:
        raise click.BadParameter(f"expected X0,Y0,X1,Y1 (four whole numbers, pixels), got {text!r}",
                                 param_hint="--box")
    x0, y0, x1, y1 = (int(v) for v in match.groups())
    if x1 <= x0 or y1 <= y0:
        raise click.BadParameter(f"box {text!r} is empty: X1 must be greater than X0 and Y1 greater "
                                 "than Y0 (X1,Y1 is the bottom-right corner, not a size)",
                                 param_hint="--box")
    return x0, y0, x1, y1


def parse_boxes(texts: Sequence[str]) -> list[Box]:
    """Every ``--box`` value parsed (see :func:`parse_box`)."""
    return [parse_box(text) for text in texts]


def make_labels(image: np.ndarray, boxes: Sequence[Box], method: str, device: str | None,
                quiet: bool = False) -> np.ndarray:
    """The label map of ``boxes`` on ``image`` (H x W x 3 uint8 RGB) -> H x W uint8, telling
    on standard error which method ran. Exits with usage (2) for boxes outside the picture and
    weights (4) for ``--method head`` without usable weights."""
    from ..boxmask import BoxSegmenter, SegmenterConfig

    try:
        segmenter = BoxSegmenter(SegmenterConfig(method=method), device=_head_device(device))
    except WeightsError as exc:
        fail(f"{exc} (GrabCut needs no weights: --method grabcut; track: --box-method grabcut)",
              EXIT_WEIGHTS)
    except (RuntimeError, ValueError, AssertionError) as exc:  # torch: unknown or absent device
        fail(f"cannot run the box head on device {device}: {exc}", EXIT_USAGE)
    try:
        labels = segmenter.labels(image, boxes)
    except MaskError as exc:
        fail(f"--box: {exc}", EXIT_USAGE)
    if not quiet:
        say(_method_line(segmenter.method, segmenter.fallback_reason, len(boxes)))
    missing = [i for i in range(1, len(boxes) + 1) if not (labels == i).any()]
    if missing:
        say(f"aotvideo: warning: object(s) {', '.join(map(str, missing))} lost every pixel to "
             "later overlapping boxes")
    return labels


def _head_device(device: str | None) -> str:
    from ..tracking.precision import resolve_device

    return str(resolve_device(device))


def _method_line(method: str, fallback: str | None, count: int) -> str:
    boxes = f"{count} box{'es' if count != 1 else ''}"
    if method == "head":
        return f"aotvideo: segmented {boxes} with the learnt box head"
    if fallback:
        return f"aotvideo: segmented {boxes} with GrabCut; the learnt box head is unavailable: {fallback}"
    return f"aotvideo: segmented {boxes} with GrabCut"


def _read_still(path: str) -> np.ndarray:
    """A still picture as H x W x 3 uint8 RGB (EXIF orientation applied)."""
    import cv2

    if not Path(path).is_file():
        raise InputError(f"cannot open {path}: no such file")
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise InputError(f"cannot read {path} as a picture")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _picture(source: str, position: str) -> tuple[np.ndarray, int]:
    """The picture to segment, as shown, and its frame index."""
    from ..io.frame_export import grab_frame, parse_position

    try:
        at = parse_position(position)
    except PositionError as exc:
        raise click.BadParameter(str(exc), param_hint="--frame") from None
    try:
        if Path(source).suffix.lower() in STILL_SUFFIXES:
            if at.index != 0:
                raise click.BadParameter(f"{source} is a still picture: it has only frame 0",
                                         param_hint="--frame")
            return _read_still(source), 0
        exported = grab_frame(source, at)
    except PositionError as exc:
        fail(str(exc), EXIT_USAGE)
    except (InputError, InputDecodeError) as exc:
        fail(str(exc), EXIT_INPUT)
    return exported.image, exported.index


def preview_image(image: np.ndarray, labels: np.ndarray, boxes: Sequence[Box]) -> np.ndarray:
    """The mask over the picture (the overlay of ``aotvideo track``) with each box outlined in
    its object's colour: H x W x 3 uint8 RGB."""
    import cv2

    from ..render import object_colour, overlay

    out = overlay(image, labels, range(1, len(boxes) + 1))
    for object_id, (x0, y0, x1, y1) in enumerate(boxes, start=1):
        cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), object_colour(object_id), 1)
    return out


def _default_output(source: str, index: int) -> str:
    """``NAME.mask.png`` (``NAME.mask.N.png`` for frame N) beside the input: the names
    ``aotvideo batch`` looks for."""
    path = Path(source)
    suffix = ".mask.png" if index == 0 else f".mask.{index}.png"
    return str(path.with_name(path.stem + suffix))


def _default_preview(output: str) -> str:
    path = Path(output)
    return str(path.with_name(f"{path.stem}.preview.png"))


def _write(labels: np.ndarray, output: str, preview: np.ndarray | None, preview_path: str | None) -> None:
    from ..io.frame_export import write_png
    from ..io.masks import write_palette_png

    try:
        write_palette_png(output, labels)
        if preview is not None and preview_path is not None:
            write_png(preview_path, preview)
    except (OutputError, OSError) as exc:
        fail(str(exc), EXIT_OUTPUT)


def _summary(labels: np.ndarray, count: int) -> str:
    areas = np.bincount(labels.ravel(), minlength=count + 1)[1:count + 1]
    return ", ".join(f"{i}: {a} px" for i, a in enumerate(areas.tolist(), start=1))


@click.command("mask", epilog=EXIT_CODES_HELP)
@click.argument("video", metavar="VIDEO")
@click.option("-b", "--box", "box_args", multiple=True, required=True, metavar="X0,Y0,X1,Y1",
              help=box_option_help)
@click.option("--frame", "position", default="0", show_default=True, metavar="N|TIME",
              help="Which frame of VIDEO: an index (42) or a time (2.5s, 1:02.5).")
@click.option("-o", "--output", metavar="PATH.png",
              help="Palette PNG to write (default: VIDEO's name with .mask.png, or .mask.N.png for "
                   "frame N: the names aotvideo batch looks for).")
@click.option("--preview", "preview_path", metavar="PATH.png",
              help="Where to write the mask drawn over the frame (default: OUTPUT's name with "
                   ".preview.png).")
@click.option("--no-preview", is_flag=True, help="Write no preview.")
@click.option("--method", type=click.Choice(["auto", "head", "grabcut"]), default="auto",
              show_default=True, help=method_option_help)
@click.option("--device", metavar="DEV", help="torch device for the head (default: CUDA if available).")
def mask_command(video: str, box_args: tuple[str, ...], position: str, output: str | None,
                 preview_path: str | None, no_preview: bool, method: str, device: str | None) -> None:
    """Make a first mask from boxes: the object inside each box of one frame of VIDEO.

    VIDEO is a video file or a still picture (PNG, JPEG). Writes a palette PNG that
    `aotvideo track --mask` reads unchanged (box n is object n), and a preview of the mask
    over the frame to check it.

    \b
    Examples:
      aotvideo mask in.mp4 --box 120,40,380,300 -o first.png
      aotvideo mask in.mp4 -b 10,10,90,120 -b 200,30,300,160 --frame 2.5s -o at60.png
      aotvideo track in.mp4 --mask first.png
    """
    boxes = parse_boxes(box_args)
    if preview_path and no_preview:
        raise click.UsageError("--preview and --no-preview exclude each other")
    image, index = _picture(video, position)
    target = output or _default_output(video, index)
    where = None if no_preview else (preview_path or _default_preview(target))
    _check_outputs(video, target, where)
    labels = make_labels(image, boxes, method, device)
    preview = None if no_preview else preview_image(image, labels, boxes)
    _write(labels, target, preview, where)
    height, width = labels.shape
    say(f"aotvideo: wrote the mask of frame {index} ({width}x{height}; objects {_summary(labels, len(boxes))}) "
         f"to {target}" + (f", preview {where}" if where else ""))
    mask_arg = target if index == 0 else f"{index}:{target}"
    say(f"aotvideo: check the preview, then: aotvideo track {shlex.quote(video)} --mask "
         f"{shlex.quote(mask_arg)}")


def _check_outputs(video: str, target: str, preview: str | None) -> None:
    """Usage error when the mask or its preview would replace VIDEO, or each other."""
    from ..io.paths import check_spares, same_file

    try:
        check_spares(target, {"the input": video}, what="the mask")
        if preview is not None:
            check_spares(preview, {"the input": video}, what="the preview")
    except OutputError as exc:
        raise click.UsageError(str(exc)) from None
    if preview is not None and same_file(preview, target):
        raise click.UsageError(f"--preview and -o name the same file ({target}): give the "
                               "preview its own name, or --no-preview")


def check_box_args(box_args: Sequence[str], mask_args: Sequence[str],
                   save_mask: str | None) -> list[Box]:
    """``track``'s ``--box`` / ``--mask`` / ``--save-mask`` checked together, before any work:
    the parsed boxes (empty without ``--box``); ``click.UsageError`` when they do not go together."""
    if box_args and mask_args:
        raise click.UsageError("--box and --mask exclude each other: the boxes make the mask of "
                               "frame 0 (or make it first: aotvideo mask VIDEO --box ... -o first.png, "
                               "then --mask first.png)")
    if not box_args and not mask_args:
        raise click.UsageError("give the objects to track: --mask FIRST.png, or --box X0,Y0,X1,Y1 "
                               "around each object on the first frame")
    if save_mask and not box_args:
        raise click.UsageError("--save-mask saves the mask made from --box; give --box")
    return parse_boxes(box_args)


def masks_for_track(reader: VideoReader, boxes: Sequence[Box], method: str, device: str | None,
                    save_mask: str | None, quiet: bool) -> np.ndarray:
    """``track --box``: the label map of the input's first frame (as shown) made from the boxes,
    also written as a palette PNG to ``save_mask`` when given. ``reader`` is the opened input."""
    from ..io.frame_export import upright

    image = upright(reader.first_rgb(), reader.info.rotation)
    labels = make_labels(image, boxes, method, device, quiet=quiet)
    if save_mask:
        _write(labels, save_mask, None, None)
        if not quiet:
            say(f"aotvideo: saved the mask made from the boxes to {save_mask}")
    return labels
