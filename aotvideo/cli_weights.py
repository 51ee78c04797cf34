"""Command-line side of downloads: the progress display and ``aotvideo weights download``.

The library (:mod:`aotvideo.zoo`, :mod:`aotvideo.download`) never prints; it reports through a
callback, and :class:`DownloadPrinter` is the one the command line hands it.
"""
from __future__ import annotations

import sys
import time

import click

from . import zoo
from .cli_progress import RedrawnLine, bar
from .download import DownloadProgress, DownloadSettings
from .errors import WeightsError

__all__ = ["DownloadPrinter", "download_style", "weights_download"]

_MIB = float(1 << 20)


def _mib(count: int) -> str:
    return f"{count / _MIB:.1f}"


def download_style(progress_style: str, quiet: bool, *, plain: str = "none") -> str:
    """The :class:`DownloadPrinter` style for a command's ``--progress``/``--quiet`` options:
    ``auto`` is a bar on a terminal and ``plain`` otherwise."""
    if quiet:
        return "quiet"
    if progress_style == "auto":
        return "bar" if sys.stderr.isatty() else plain
    return progress_style


class DownloadPrinter(RedrawnLine):
    """Shows a download on standard error.

    Styles: ``bar`` (a redrawn bar, for terminals), ``lines`` (a line every 10 %), ``none`` (no
    progress, but a line when a download starts, is retried, checked and done) and ``quiet``
    (nothing at all).
    """

    def __init__(self, style: str) -> None:
        self.style = style
        self._last = 0.0
        self._started = time.monotonic()
        self._next_tenth = 1

    def __call__(self, progress: DownloadProgress) -> None:
        if self.style == "quiet":
            return
        if progress.phase == "data":
            self._data(progress)
            return
        self.finish()
        if progress.phase == "start":
            self._started = time.monotonic()
            self._next_tenth = 1
            resumed = f", resuming after {_mib(progress.resumed_from)} MiB" if progress.resumed_from else ""
            self._say(f"aotvideo: downloading {progress.label} from {progress.url}{resumed}")
        elif progress.message:
            self._say(f"aotvideo: {progress.message}")

    def _say(self, text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def _data(self, progress: DownloadProgress) -> None:
        if self.style == "bar":
            self._bar(progress)
        elif self.style == "lines" and progress.total:
            while progress.done * 10 >= self._next_tenth * progress.total and self._next_tenth <= 10:
                self._say(f"aotvideo: {self._next_tenth * 10}% ({_mib(progress.done)} of "
                          f"{_mib(progress.total)} MiB)")
                self._next_tenth += 1

    def _bar(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        final = progress.total is not None and progress.done >= progress.total
        if not final and now - self._last < 0.2:
            return
        self._last = now
        elapsed = max(now - self._started, 1e-6)
        speed = f"{(progress.done - progress.resumed_from) / elapsed / _MIB:5.1f} MiB/s"
        if progress.total:
            share = min(1.0, progress.done / progress.total)
            text = (f"\r{bar(share, 30)} {share * 100:3.0f}% "
                    f"{_mib(progress.done)}/{_mib(progress.total)} MiB {speed} ")
        else:
            text = f"\r{_mib(progress.done)} MiB {speed} "
        self.draw(text)


def _targets(names: tuple[str, ...]) -> list[str]:
    if "all" in names:
        return [name for name, entry in zoo.ZOO.items() if entry.url is not None]
    return list(dict.fromkeys(names))


@click.command("download")
@click.argument("names", nargs=-1, required=True, metavar="NAME...|all",
                type=click.Choice(list(zoo.ZOO) + ["all"]))
@click.option("--force", is_flag=True, help="Download again even when an intact checkpoint is installed.")
@click.option("--progress", "progress_style", type=click.Choice(["auto", "bar", "lines", "none"]),
              default="auto", show_default=True,
              help="Progress on standard error: auto = a bar on a terminal, else a line every 10%.")
@click.option("-q", "--quiet", is_flag=True, help="Errors only.")
def weights_download(names: tuple[str, ...], force: bool, progress_style: str, quiet: bool) -> None:
    """Download model-zoo checkpoints (NAME..., or all) into the cache.

    Each comes from the model zoo's Google Drive link (see `aotvideo weights list`), must load
    into its variant, and is kept with its sha256, which every later use checks. An interrupted
    download resumes where it stopped. AOTVIDEO_OFFLINE=1 turns downloads off.
    """
    from .cli import EXIT_INTERRUPTED, EXIT_WEIGHTS, _fail

    targets = _targets(names)
    if DownloadSettings.from_env().offline and len(targets) > 1:
        _fail("downloads are off (AOTVIDEO_OFFLINE=1): download the checkpoints by hand from the "
              "links `aotvideo weights list` shows, and install each with `aotvideo weights add FILE`",
              EXIT_WEIGHTS)
    printer = DownloadPrinter(download_style(progress_style, quiet, plain="lines"))
    failed = 0
    for name in targets:
        try:
            record, downloaded = zoo.download_variant(name, force=force, progress=printer)
        except KeyboardInterrupt:
            printer.finish()
            _fail("interrupted (the download resumes on the next run)", EXIT_INTERRUPTED)
        except WeightsError as exc:
            printer.finish()
            click.echo(f"aotvideo: error: {exc}", err=True)
            failed += 1
            continue
        state = "installed" if downloaded else "already installed (intact; --force downloads it again)"
        click.echo(f"{name}: {state}: {record['path']} (sha256 {record['sha256']})")
    if failed:
        click.get_current_context().exit(EXIT_WEIGHTS)
