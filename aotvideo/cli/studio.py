"""``aotvideo studio``: the correction web app on a video (see :mod:`aotvideo.studio`)."""
from __future__ import annotations

import click

from .console import exits_on_errors, say
from .exits import EXIT_CODES_HELP
from .options import ObjectsPerGroup


@click.command("studio", epilog=EXIT_CODES_HELP)
@click.argument("video", type=click.Path(dir_okay=False))
@click.option("-w", "--workspace", metavar="DIR",
              help="Where the objects, keyframes and masks are saved (made when missing, resumed "
                   "when it exists).  Default: VIDEO's name with .studio beside it.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to serve on.  Anything but loopback adds a token to the URL, required "
                   "on every request.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port (0: any free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option("--weights", type=click.Path(dir_okay=False), metavar="FILE",
              help="Checkpoint for propagation (default: the installed or packaged model).")
@click.option("--device", metavar="DEV", help="torch device for propagation (default: CUDA if available).")
@click.option("--objects-per-group", type=ObjectsPerGroup(), default="auto", show_default=True,
              metavar="N|auto", help="As for track.")
def studio(video: str, workspace: str | None, host: str, port: int, open_browser: bool,
           weights: str | None, device: str | None, objects_per_group: int | str) -> None:
    """Open VIDEO in the studio: mark objects with a box, clicks or a brush, propagate forward
    and backward, fix any frame (it becomes a keyframe that later propagations keep), export.

    \b
    Every edit is saved at once in the workspace; reopening resumes. The keyframes render
    anywhere:  aotvideo track VIDEO --workspace VIDEO.studio --mode alpha -o cut.mov
    Stop the server with Ctrl-C (exit 130, as for every command interrupted).
    """
    from ..studio import StudioServer, StudioSession
    from ..tracking.builder import TrackerSpec

    spec = TrackerSpec(weights=weights, device=device, objects_per_group=objects_per_group)
    with exits_on_errors("studio: "):
        session = StudioSession(video, workspace, tracker=spec)
        try:
            server = StudioServer(session, host, port)
            say(f"aotvideo studio: {video} ({session.video.width}x{session.video.height}, "
                f"{session.video.frames} frames), workspace {session.workspace.root}")
            say(f"aotvideo studio: open {server.url}   (Ctrl-C to stop)")
            if open_browser:
                import webbrowser

                webbrowser.open(server.url)
            server.run()
        finally:
            session.close()
