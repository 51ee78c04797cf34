"""``aotvideo frame``: export the frame to paint a mask on (the editor round trip)."""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import InputDecodeError, InputError, OutputError, PositionError
from .console import fail, say
from .exits import EXIT_CODES_HELP, EXIT_INPUT, EXIT_OUTPUT, EXIT_USAGE

if TYPE_CHECKING:
    from ..io.frame_export import ExportedFrame

__all__ = ["frame_command"]


def _default_output(video: str, index: int) -> str:
    path = Path(video)
    return str(path.with_name(f"{path.stem}.frame{index}.png"))


def _describe(exported: ExportedFrame, video: str, target: str) -> str:
    width, height = exported.size
    turned = ""
    if exported.rotation:
        stored = "x".join(map(str, exported.stored_size))
        turned = f", turned by its {exported.rotation} degree rotation (stored {stored})"
    where = "standard output" if target == "-" else target
    return (f"aotvideo: wrote frame {exported.index} (t={exported.time:.3f}s) of {video}, "
            f"{width}x{height} as shown{turned}, to {where}")


@click.command("frame", epilog=EXIT_CODES_HELP)
@click.argument("video", metavar="VIDEO")
@click.option("--at", "position", default="0", show_default=True, metavar="N|TIME",
              help="Which frame: an index (42) or a time from the start (2.5s, 1:02.5).")
@click.option("-o", "--output", metavar="PATH.png",
              help="PNG file to write, or - for standard output (default: VIDEO's name with .frameN.png).")
def frame_command(video: str, position: str, output: str | None) -> None:
    """Export one frame of VIDEO as a PNG, as it is shown: rotation applied, exact size.

    Paint the objects on a layer above it in GIMP or Krita (flat colours, anti-aliasing off),
    hide the frame, export the layer as PNG and give it to `aotvideo track --mask` (for a
    frame N other than 0: --mask N:PAINTED.png).

    \b
    Examples:
      aotvideo frame in.mp4 -o frame.png
      aotvideo frame in.mp4 --at 2.5s -o frame.png
    """
    from ..io.frame_export import grab_frame, parse_position, write_png
    from ..io.masks import encode_png

    try:
        at = parse_position(position)
    except PositionError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    if video == "-" and output is None:
        raise click.UsageError("reading from standard input needs -o (e.g. -o frame.png)")
    try:
        exported = grab_frame(video, at)
    except PositionError as exc:
        fail(str(exc), EXIT_USAGE)
    except (InputError, InputDecodeError) as exc:
        fail(str(exc), EXIT_INPUT)
    target = output or _default_output(video, exported.index)
    try:
        if target == "-":
            sys.stdout.buffer.write(encode_png(exported.image))
            sys.stdout.buffer.flush()
        else:
            write_png(target, exported.image)
    except (OutputError, OSError) as exc:
        fail(str(exc), EXIT_OUTPUT)
    say(_describe(exported, video, target))
    mask = "--mask PAINTED.png" if exported.index == 0 else f"--mask {exported.index}:PAINTED.png"
    say(f"aotvideo: paint the objects on a layer above it, export that layer as PNG, then: "
         f"aotvideo track {shlex.quote(video)} {mask}")
