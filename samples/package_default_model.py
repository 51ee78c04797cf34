"""Turn a training checkpoint into the weights file that ships inside the package.

    python samples/package_default_model.py runs/deaott/real/checkpoints/step_00003000.pt \
        --input-short-edge 240 --note "what the run was"

Loads the checkpoint's (EMA) weights into ``deaott``, stores every floating-point tensor as
float16 (half the size; ``load_weights`` casts back to float32), checks on the sample clip that
the half-precision weights track like the float32 ones, and writes
``aotvideo/data/deaott_real_v4.pth`` in aotvideo's format with a description of the run and the
network input and identity grouping the weights track best with (``--input-short-edge``,
``--objects-per-group``: the ``input`` metadata that :class:`aotvideo.Tracker` follows unless
told otherwise).  Prints the file's size and SHA-256
(to record in ``aotvideo.zoo.PACKAGED_SHA256``).
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import torch

import aotvideo
from aotvideo.io.masks import read_mask
from aotvideo.io.reader import VideoReader
from aotvideo.models.weights import FORMAT_KEY, FORMAT_VERSION, INPUT_KEY, read_checkpoint

HERE = Path(__file__).resolve().parent
TARGET = HERE.parent / "aotvideo" / "data" / "deaott_real_v4.pth"


def _track(model: aotvideo.models.AOTModel) -> np.ndarray:
    with VideoReader(str(HERE / "sample.mp4")) as reader:
        frames = [f.image for f in reader.frames()]
    tracker = aotvideo.Tracker(model, device="cpu")
    mask = read_mask(HERE / "sample_mask.png")
    return np.stack([tracker.step(f, mask=mask if i == 0 else None).labels.numpy()
                     for i, f in enumerate(frames)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--out", type=Path, default=TARGET)
    parser.add_argument("--note", default="", help="training description stored in the file")
    parser.add_argument("--input-short-edge", type=int, default=None,
                        help="preferred network input short edge (default: the protocol's 480)")
    parser.add_argument("--objects-per-group", type=int, default=None,
                        help="preferred identity grouping (default: the original's 10)")
    args = parser.parse_args()
    state, meta = read_checkpoint(args.checkpoint)
    full = aotvideo.load_weights(aotvideo.build_model("deaott"), state)
    half_state = {k: (v.half() if v.dtype.is_floating_point else v) for k, v in state.items()}
    half = aotvideo.load_weights(aotvideo.build_model("deaott"), half_state)
    agreement = (_track(full) == _track(half)).mean()
    header = {"version": FORMAT_VERSION, "model": "deaott", "dtype": "float16",
              "trained": args.note, "source_checkpoint": args.checkpoint.name, "training": meta}
    preferences = {"max_short_edge": args.input_short_edge,
                   "objects_per_group": args.objects_per_group}
    if any(v is not None for v in preferences.values()):
        header[INPUT_KEY] = {k: v for k, v in preferences.items() if v is not None}
    payload = {FORMAT_KEY: header, "state_dict": half_state}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB), sha256 {digest}")
    print(f"float16 vs float32 weights: {agreement:.4%} of the sample's label pixels agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
