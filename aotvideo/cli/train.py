"""``aotvideo train``: train a model, one command per stage, plus ``export``.

Examples::

    aotvideo train pre --model deaott --static-root data/Static \\
        --encoder-weights mobilenet_v2-b0353104.pth
    torchrun --nproc_per_node 4 -m aotvideo train pre_ytb_dav --model deaott \\
        --ytb-root data/YTB/2019/train --davis-root data/DAVIS \\
        --init-weights runs/deaott/pre/checkpoints/step_00100000.pt
    aotvideo train synthetic --model deaott --steps 20000 --batch-size 8 --resume auto
    aotvideo train export runs/deaott/pre_ytb_dav/checkpoints/step_00100000.pt deaott.pth
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..errors import AotVideoError, OutputError
from ..training.config import STAGES, apply_overrides, describe, stage_config
from .console import fail, exits_on_errors
from .exits import EXIT_CODES_HELP, EXIT_INTERRUPTED, exit_code

_STAGE_HELP = {
    "pre": "Pre-training on static images with masks turned into clips (needs --static-root).",
    "ytb": "Main training on YouTube-VOS train (needs --ytb-root).",
    "davis": "Main training on DAVIS 2017 train (needs --davis-root).",
    "pre_ytb_dav": "Main training on YouTube-VOS and DAVIS mixed (needs both roots).",
    "synthetic": "Training on procedurally generated videos (no data needed).",
    "real": "Real footage mixed with synthetic clips (needs --davis-root): DAVIS-layout videos, "
            "their single frames as pseudo-clips and procedural videos, mixed by "
            "dataset_weights (default 0.6/0.25/0.15).",
}


def _setup_logging(verbose: bool) -> None:
    rank = int(os.environ.get("RANK", "0"))
    level = logging.DEBUG if verbose else logging.INFO
    if rank != 0:
        level = logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    prefix = f"[rank {rank}] " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(message)s", "%H:%M:%S"))
    root = logging.getLogger("aotvideo")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _stage_options(func: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--model", "-m", default="deaott", show_default=True,
                     help="Model variant (see `aotvideo models`)."),
        click.option("--output", "-o", type=click.Path(file_okay=False), default=None,
                     help="Run folder [default: runs/<model>/<stage>]."),
        click.option("--resume", default=None,
                     help="'auto' (newest checkpoint of the run folder, if any) or a checkpoint."),
        click.option("--steps", type=int, default=None, help="Total optimiser steps."),
        click.option("--batch-size", type=int, default=None,
                     help="Global batch (clips per step over all processes)."),
        click.option("--accumulation", type=int, default=None,
                     help="Micro-batches accumulated per step."),
        click.option("--lr", type=float, default=None, help="Peak learning rate."),
        click.option("--crop-size", type=int, default=None, help="Square training crop side."),
        click.option("--workers", type=int, default=None,
                     help="Data-loading processes per training process."),
        click.option("--amp/--no-amp", default=None,
                     help="Mixed precision: float16 on CUDA, bfloat16 on CPUs [default: where the "
                          "hardware has it: CUDA, CPUs with AVX-512 BF16 or AMX; float32 on other "
                          "CPUs, where bfloat16 is emulated and much slower]."),
        click.option("--device", default=None,
                     help="cpu, cuda or cuda:N [default: cuda when available]."),
        click.option("--seed", type=int, default=None, help="Seed of the data stream."),
        click.option("--static-root", type=click.Path(exists=True, file_okay=False), default=None,
                     help="Static images (JPEGImages/ + Annotations/)."),
        click.option("--ytb-root", type=click.Path(exists=True, file_okay=False), default=None,
                     help="YouTube-VOS train split."),
        click.option("--davis-root", type=click.Path(exists=True, file_okay=False),
                     default=None, help="DAVIS root (2017 or 2016 layout, or any folder of "
                                        "JPEGImages/480p/<seq> + Annotations/480p/<seq>)."),
        click.option("--encoder-weights", type=click.Path(exists=True, dir_okay=False),
                     default=None, help="ImageNet encoder weights (torchvision format)."),
        click.option("--init-weights", type=click.Path(exists=True, dir_okay=False),
                     default=None, help="Full-model weights to start from."),
        click.option("--save-every", type=int, default=None, help="Steps between checkpoints."),
        click.option("--keep-last", type=int, default=None, help="Checkpoints to keep."),
        click.option("--log-every", type=int, default=None, help="Steps between log lines."),
        click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE",
                     help="Override any setting, e.g. --set weight_decay=0.05 "
                          "--set data.merge_prob=0 --set model.window_radius=5."),
        click.option("--show-config", is_flag=True,
                     help="Print the resolved configuration and exit."),
        click.option("--verbose", "-v", is_flag=True, help="Debug logging."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _make_stage_command(stage: str) -> click.Command:
    @click.command(stage, help=_STAGE_HELP[stage], epilog=EXIT_CODES_HELP)
    @_stage_options
    def command(model: str, output: str | None, resume: str | None, steps: int | None,
                batch_size: int | None, accumulation: int | None, lr: float | None,
                crop_size: int | None, workers: int | None, amp: bool | None,
                device: str | None, seed: int | None, static_root: str | None,
                ytb_root: str | None, davis_root: str | None, encoder_weights: str | None,
                init_weights: str | None, save_every: int | None, keep_last: int | None,
                log_every: int | None, assignments: tuple[str, ...], show_config: bool,
                verbose: bool) -> None:
        _setup_logging(verbose)
        fields: dict[str, Any] = {
            "output": output, "total_steps": steps, "batch_size": batch_size,
            "accumulation": accumulation, "lr": lr, "amp": amp, "seed": seed,
            "encoder_weights": encoder_weights, "init_weights": init_weights,
            "save_every": save_every, "keep_last": keep_last, "log_every": log_every,
        }
        data: dict[str, Any] = {"static_root": static_root, "ytb_root": ytb_root,
                                "davis_root": davis_root, "workers": workers,
                                "crop_size": (crop_size, crop_size) if crop_size else None}
        try:
            config = stage_config(stage, model, **{k: v for k, v in fields.items()
                                                   if v is not None},
                                  data={k: v for k, v in data.items() if v is not None})
            config = apply_overrides(config, assignments)
        except (ValueError, AotVideoError) as err:
            raise click.UsageError(str(err)) from err
        if show_config:
            click.echo(describe(config))
            return
        from ..training.trainer import train

        try:
            result = train(config, resume=resume, device=device)
        except (AotVideoError, FileNotFoundError, ValueError) as err:
            fail(str(err), exit_code(err))
        except KeyboardInterrupt:
            fail("interrupted (--resume auto goes on from the last checkpoint)", EXIT_INTERRUPTED)
        if int(os.environ.get("RANK", "0")) == 0:
            click.echo(f"finished at step {result.step}; checkpoint: {result.checkpoint}",
                       err=True)

    return command


@click.group("train", invoke_without_command=False, epilog=EXIT_CODES_HELP)
def train_group() -> None:
    """Train AOT / DeAOT models with the original recipe (single process or torchrun)."""


for _stage in STAGES:
    train_group.add_command(_make_stage_command(_stage))


@train_group.command("export", epilog=EXIT_CODES_HELP)
@click.argument("checkpoint", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("output", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--weights", "which", type=click.Choice(["ema", "raw"]), default="ema",
              show_default=True, help="The EMA weights or the trained weights.")
@click.option("--format", "fmt", type=click.Choice(["reference", "aotvideo"]),
              default="reference", show_default=True,
              help="reference: {'state_dict': ...} as the original code saves; aotvideo: with "
                   "aotvideo's metadata header.")
def export_command(checkpoint: Path, output: Path, which: str, fmt: str) -> None:
    """Write the weights of a training CHECKPOINT to OUTPUT."""
    from ..io.paths import check_spares
    from ..training.checkpoint import export_weights

    try:
        check_spares(output, {"the checkpoint": checkpoint})
    except OutputError as exc:  # an output that would overwrite its input: usage
        raise click.UsageError(str(exc)) from None
    with exits_on_errors():
        path = export_weights(checkpoint, output, which=which, reference=fmt == "reference")
    click.echo(f"wrote {path}", err=True)


@train_group.command("boxmask", epilog=EXIT_CODES_HELP)
@click.option("--davis-root", required=True, type=click.Path(exists=True, file_okay=False),
              help="DAVIS 2016 train folder (JPEGImages/480p, Annotations/480p).")
@click.option("-o", "--out", required=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoint.pth and train.log; running again continues from it.")
@click.option("--steps", type=click.IntRange(min=1), default=1200, show_default=True,
              help="Total optimiser steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--lr", type=float, default=1e-3, show_default=True)
@click.option("--crop-size", type=click.IntRange(min=16), default=192, show_default=True)
@click.option("--encoder-weights", type=click.Path(exists=True, dir_okay=False),
              help="DeepLabV3-MobileNetV2 weights (torchvision format) to start the trunk from.")
@click.option("--all-videos", is_flag=True, help="Train on the six held-out videos too.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--save-every", type=float, default=180.0, show_default=True,
              help="Seconds between checkpoints.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--export", metavar="FILE", help="Only export OUT/checkpoint.pth to FILE (float16 head).")
def boxmask_command(davis_root: str, out: str, steps: int, batch_size: int, lr: float,
                    crop_size: int, encoder_weights: str | None, all_videos: bool, threads: int,
                    save_every: float, log_every: int, seed: int, export: str | None) -> None:
    """Train the box head (aotvideo mask --box, track --box) on DAVIS 2016 frames."""
    from ..boxmask.network import HeadConfig
    from ..boxmask.train import TrainConfig, export_checkpoint, run_log, train
    from ..training.holdout import DAVIS2016_HOLDOUT

    folder = Path(out)
    with run_log(folder), exits_on_errors():
        if export:
            export_checkpoint(folder / "checkpoint.pth", export)
            click.echo(f"exported {folder / 'checkpoint.pth'} to {export}", err=True)
            return
        train(TrainConfig(davis_root=davis_root, out=out, steps=steps, batch_size=batch_size,
                          lr=lr, head=HeadConfig(crop_size=crop_size),
                          exclude=() if all_videos else DAVIS2016_HOLDOUT,
                          encoder_weights=encoder_weights, seed=seed, threads=threads,
                          save_every=save_every, log_every=log_every))
