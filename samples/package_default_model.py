"""Turn a training checkpoint into the weights file that ships inside the package.

    python samples/package_default_model.py runs/deaott/real/checkpoints/step_00003000.pt \
        --input-short-edge 240 --note "what the run was"

Loads the checkpoint's (EMA) weights into ``deaott``, stores every floating-point tensor as
float16 (half the size; ``load_weights`` casts back to float32), checks on the sample clip that
the half-precision weights track like the float32 ones, and writes
``--out`` (default: the packaged file ``aotvideo.zoo.PACKAGED_WEIGHTS`` names) in aotvideo's
format with a description of the run and the network input and identity grouping the weights
track best with (``--input-short-edge``, ``--min-short-edge``, ``--objects-per-group``: the
``input`` metadata that :class:`aotvideo.Tracker` follows unless told otherwise).  Prints the
file's size and SHA-256 (to record in ``aotvideo.zoo.PACKAGED_SHA256``).

``--restamp`` changes only the ``input`` preferences of an already packaged file (its tensors
and the rest of its metadata stay as they are):

    python samples/package_default_model.py aotvideo/data/deaott_real_v5.pth --restamp \
        --input-short-edge 400 --min-short-edge 400 --objects-per-group 1
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

import aotvideo
from aotvideo import zoo
from aotvideo.io.masks import read_mask
from aotvideo.io.reader import VideoReader
from aotvideo.models.weights import FORMAT_KEY, FORMAT_VERSION, INPUT_KEY, read_checkpoint

HERE = Path(__file__).resolve().parent
TARGET = HERE.parent / "aotvideo" / "data" / zoo.PACKAGED_WEIGHTS["deaott"]


def _track(model: aotvideo.models.AOTModel) -> np.ndarray:
    with VideoReader(str(HERE / "sample.mp4")) as reader:
        frames = [f.image for f in reader.frames()]
    tracker = aotvideo.Tracker(model, device="cpu")
    mask = read_mask(HERE / "sample_mask.png")
    return np.stack([tracker.step(f, mask=mask if i == 0 else None).labels.numpy()
                     for i, f in enumerate(frames)])


def _preferences(args: argparse.Namespace) -> dict[str, int]:
    """The ``input`` metadata entry asked for on the command line (unset options left out)."""
    chosen = {"max_short_edge": args.input_short_edge, "min_short_edge": args.min_short_edge,
              "objects_per_group": args.objects_per_group}
    return {k: v for k, v in chosen.items() if v is not None}


def _write(payload: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB), sha256 {digest}")


def _restamp(args: argparse.Namespace) -> int:
    """Rewrite only the input preferences of a packaged file."""
    payload = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
    if FORMAT_KEY not in payload:
        print(f"{args.checkpoint} is not in aotvideo's format", file=sys.stderr)
        return 2
    header = dict(payload[FORMAT_KEY])
    header[INPUT_KEY] = _preferences(args)
    print(f"input preferences: {header[INPUT_KEY]}")
    _write({FORMAT_KEY: header, "state_dict": payload["state_dict"]},
           args.out if args.out is not None else args.checkpoint)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"file to write [default: {TARGET.relative_to(HERE.parent)}; "
                             "with --restamp: the checkpoint itself]")
    parser.add_argument("--note", default="", help="training description stored in the file")
    parser.add_argument("--input-short-edge", type=int, default=None,
                        help="preferred network input short edge (default: the protocol's 480)")
    parser.add_argument("--min-short-edge", type=int, default=None,
                        help="smaller frames are enlarged to this short edge for the network "
                             "(default: never)")
    parser.add_argument("--objects-per-group", type=int, default=None,
                        help="preferred identity grouping (default: the original's 10)")
    parser.add_argument("--restamp", action="store_true",
                        help="the checkpoint is a packaged file: change only its preferences")
    args = parser.parse_args()
    if args.restamp:
        return _restamp(args)
    state, meta = read_checkpoint(args.checkpoint)
    full = aotvideo.load_weights(aotvideo.build_model("deaott"), state)
    half_state = {k: (v.half() if v.dtype.is_floating_point else v) for k, v in state.items()}
    half = aotvideo.load_weights(aotvideo.build_model("deaott"), half_state)
    agreement = (_track(full) == _track(half)).mean()
    header = {"version": FORMAT_VERSION, "model": "deaott", "dtype": "float16",
              "trained": args.note, "source_checkpoint": args.checkpoint.name, "training": meta}
    if _preferences(args):
        header[INPUT_KEY] = _preferences(args)
    _write({FORMAT_KEY: header, "state_dict": half_state},
           args.out if args.out is not None else TARGET)
    print(f"float16 vs float32 weights: {agreement:.4%} of the sample's label pixels agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
