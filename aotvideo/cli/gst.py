"""``aotvideo gst-path``: where the GStreamer element is, and a shell set up to run it."""
from __future__ import annotations

import os
import shlex

import click

from .. import gst
from .exits import EXIT_CODES_HELP


@click.command("gst-path", epilog=EXIT_CODES_HELP)
@click.option("--env", "as_env", is_flag=True,
              help='Print shell commands for eval "$(aotvideo gst-path --env)": GST_PLUGIN_PATH, '
                   "AOTVIDEO_PYTHONPATH, AOTVIDEO_GST_PYTHON, AOTVIDEO_GST_REGISTRY, and PATH with "
                   "the wrappers of GStreamer's programs first.")
def gst_path(as_env: bool) -> None:
    """Print the directory to add to GST_PLUGIN_PATH for the aotvideotrack GStreamer element.

    \b
    With --env, shell commands that set up a shell (bash, zsh, sh) to run the element, with or
    without an activated virtual environment:
      eval "$(aotvideo gst-path --env)"
      gst-inspect-1.0 aotvideotrack
    GStreamer's Python loader runs the system Python, which must import aotvideo and its
    dependencies (AOTVIDEO_PYTHONPATH) and must not take the virtual environment's python3 for
    its own: gst-launch-1.0, gst-inspect-1.0, gst-play-1.0, gst-discoverer-1.0 and
    gst-typefind-1.0 become wrappers that run the real programs right; for any other program
    use aotvideo-gst-run PROGRAM ARGS... Problems found are printed to stderr.
    """
    if not as_env:
        click.echo(str(gst.plugin_dir()))
        return
    loader = gst.loader_python()
    for problem in gst.setup_problems(loader) if loader is not None else gst.setup_problems():
        click.echo(f"aotvideo gst-path: {problem}", err=True)
    exports = dict(gst.shell_exports(os.environ, loader))
    plugins = shlex.quote(str(gst.plugin_dir()))
    click.echo(f'export GST_PLUGIN_PATH={plugins}"${{GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}}"')
    for name in (gst.PYTHONPATH_VARIABLE, gst.LOADER_PYTHON_VARIABLE, gst.REGISTRY_VARIABLE):
        if name in exports:
            click.echo(f"export {name}={shlex.quote(exports[name])}")
    wrappers = str(gst.wrapper_dir())
    # Only once on PATH, however often the line runs.
    click.echo(f'case ":$PATH:" in *{shlex.quote(":" + wrappers + ":")}*) ;; '
               f'*) export PATH={shlex.quote(wrappers)}"${{PATH:+:$PATH}}" ;; esac')
