"""The ``aotvideo`` command group: every sub-command, each from its own module."""
from __future__ import annotations

import click

from .batch import make_batch_command
from .bench import bench
from .evaluate import eval_group
from .exits import EXIT_CODES_HELP
from .frame import frame_command
from .gst import gst_path
from .mask import mask_command
from .memory import reuse_large_buffers
from .studio import studio
from .track import track
from .train import train_group
from .weights import weights


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("aotvideo")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_CODES_HELP)
@click.version_option(version=_version(), prog_name="aotvideo", message="%(prog)s %(version)s")
def main() -> None:
    """aotvideo: track objects through videos with AOT / DeAOT.

    Give a video and a mask of the objects on its first frame; get back an overlay, a matte,
    the video with an alpha channel, or per-frame masks, with timing, rotation and audio kept.
    Run `aotvideo track --help` for the details.
    """
    reuse_large_buffers()


for _command in (track, make_batch_command(track), mask_command, frame_command, weights,
                 eval_group, train_group, bench, gst_path, studio):
    main.add_command(_command)
