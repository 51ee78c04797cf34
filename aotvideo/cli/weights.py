"""``aotvideo weights``: the per-user checkpoint cache (list, add, download).

The library (:mod:`aotvideo.zoo`, :mod:`aotvideo.download`) never prints; it reports through a
callback, and :class:`~aotvideo.cli.console.DownloadPrinter` is the one the command line hands it.
"""
from __future__ import annotations

import click

from .. import zoo
from ..download import DownloadSettings
from ..errors import WeightsError
from .console import DownloadPrinter, fail, progress_style, say
from .exits import EXIT_CODES_HELP, EXIT_INTERRUPTED, EXIT_WEIGHTS

__all__ = ["weights"]

def _targets(names: tuple[str, ...]) -> list[str]:
    if "all" in names:
        return [name for name, entry in zoo.ZOO.items() if entry.url is not None]
    return list(dict.fromkeys(names))


@click.command("download", epilog=EXIT_CODES_HELP)
@click.argument("names", nargs=-1, required=True, metavar="NAME...|all",
                type=click.Choice(list(zoo.ZOO) + ["all"]))
@click.option("--force", is_flag=True, help="Download again even when an intact checkpoint is installed.")
@click.option("--progress", "style", type=click.Choice(["auto", "bar", "lines", "none"]),
              default="auto", show_default=True,
              help="Progress on standard error: auto = a bar on a terminal, else a line every 10%.")
@click.option("-q", "--quiet", is_flag=True, help="Errors only.")
def weights_download(names: tuple[str, ...], force: bool, style: str, quiet: bool) -> None:
    """Download model-zoo checkpoints (NAME..., or all) into the cache.

    Each comes from the model zoo's Google Drive link (see `aotvideo weights list`), must load
    into its variant, and is kept with its sha256, which every later use checks. An interrupted
    download resumes where it stopped. AOTVIDEO_OFFLINE=1 turns downloads off.
    """
    targets = _targets(names)
    if DownloadSettings.from_env().offline and len(targets) > 1:
        fail("downloads are off (AOTVIDEO_OFFLINE=1): download the checkpoints by hand from the "
              "links `aotvideo weights list` shows, and install each with `aotvideo weights add FILE`",
              EXIT_WEIGHTS)
    printer = DownloadPrinter(progress_style(style, quiet, plain="lines"))
    failed = 0
    for name in targets:
        try:
            record, downloaded = zoo.download_variant(name, force=force, progress=printer)
        except KeyboardInterrupt:
            printer.finish()
            fail("interrupted (the download resumes on the next run)", EXIT_INTERRUPTED)
        except WeightsError as exc:
            printer.finish()
            say(f"aotvideo: error: {exc}")
            failed += 1
            continue
        state = "installed" if downloaded else "already installed (intact; --force downloads it again)"
        click.echo(f"{name}: {state}: {record['path']} (sha256 {record['sha256']})")
    if failed:
        click.get_current_context().exit(EXIT_WEIGHTS)


@click.group(epilog=EXIT_CODES_HELP)
def weights() -> None:
    """Manage model checkpoints in the per-user cache.

    aotvideo ships a small model of its own for deaott (used when nothing is installed). For
    real footage use a checkpoint of the AOT/DeAOT model zoo (see `aotvideo weights list`): it
    downloads itself on first use of its --model, or with `aotvideo weights download NAME`; a
    file downloaded by hand is installed with `aotvideo weights add FILE`.
    """


@weights.command("list", epilog=EXIT_CODES_HELP)
def weights_list() -> None:
    """Show every model variant, where its checkpoint comes from, and whether it is installed."""
    try:
        records = zoo.installed()
    except WeightsError as exc:
        fail(str(exc), EXIT_WEIGHTS)
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


@weights.command("add", epilog=EXIT_CODES_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--model", type=click.Choice(list(zoo.ZOO)), default=None,
              help="The variant it is for (default: worked out from the checkpoint).")
def weights_add(file: str, model: str | None) -> None:
    """Install a downloaded checkpoint FILE: check that it loads, copy it to the cache, record its sha256."""
    try:
        name, record = zoo.install(file, model)
    except WeightsError as exc:
        fail(str(exc), EXIT_WEIGHTS)
    click.echo(f"installed {file} as {name}: {record['path']} (sha256 {record['sha256']})")


weights.add_command(weights_download)
