"""``aotvideo bench``: the speed benchmark's table (:mod:`aotvideo.speed`)."""
from __future__ import annotations

from pathlib import Path

import click

from .console import say
from .exits import EXIT_CODES_HELP


def _size(text: str) -> tuple[int, int]:
    height, _, width = text.lower().partition("x")
    try:
        return int(height), int(width)
    except ValueError:
        raise click.BadParameter(f"expected HxW like 360x640, got {text!r}", param_hint="--sizes") from None


def _default_device() -> str:
    from ..tracking.precision import resolve_device

    return str(resolve_device(None))


@click.command("bench", epilog=EXIT_CODES_HELP)
@click.option("--models", default="deaott,aott", show_default=True, help="Comma-separated variants.")
@click.option("--sizes", default="360x640", show_default=True, help="Frame sizes HxW, comma-separated.")
@click.option("--objects", default="3", show_default=True, help="Object counts, comma-separated.")
@click.option("--frames", type=click.IntRange(min=1), default=10, show_default=True, help="Timed frames per run.")
@click.option("--warmup", type=click.IntRange(min=0), default=2, show_default=True,
              help="Untimed frames after the first.")
@click.option("--device", default=None, help="torch device (default: CUDA if available, else cpu).")
@click.option("--amp", is_flag=True, help="Mixed precision (bfloat16 on CPUs, float16 on CUDA); else float32.")
@click.option("--compile", "compile_mode", default="none", show_default=True,
              type=click.Choice(["none", "default", "reduce-overhead", "max-autotune"]),
              help="torch.compile the encoder, propagation and decoder in this mode.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch CPU threads.")
@click.option("--reference-data", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="shared/reference folder: also report the logit error.")
def bench(models: str, sizes: str, objects: str, frames: int, warmup: int, device: str | None,
          amp: bool, compile_mode: str, threads: int | None, reference_data: Path | None) -> None:
    """Speed and memory benchmark: frames/s, seconds per frame, peak memory per variant, size
    and object count, on a synthetic clip (no download needed)."""
    import torch

    from ..speed import device_line, format_table, run_one

    if threads:
        torch.set_num_threads(threads)
    device = device or _default_device()
    shapes = [_size(size) for size in sizes.split(",")]
    counts = [int(count) for count in objects.split(",")]
    results = []
    for name in models.split(","):
        for height, width in shapes:
            for count in counts:
                results.append(run_one(name.strip(), height, width, count, frames, warmup, device,
                                       amp, reference_data, compile_mode))
                say(f"done {results[-1].model} {height}x{width} {count}")
    click.echo(device_line(device, amp, compile_mode))
    click.echo(format_table(results, device))
