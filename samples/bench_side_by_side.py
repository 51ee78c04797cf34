"""Speed of this checkout against another one, measured in the same run.

    git archive <commit> | tar -x -C /tmp/base
    python samples/bench_side_by_side.py --baseline /tmp/base
    python samples/bench_side_by_side.py --baseline /tmp/base --warmup 85   # full long-term memory

Runs ``python -m aotvideo bench`` for every model, size and object count, alternating between
the baseline tree and this one (``PYTHONPATH`` decides which ``aotvideo`` is imported) for
``--rounds`` rounds, so both see the same machine load.  Prints a Markdown table with the
fastest and median seconds per frame of each tree and the speed-up of the fastest runs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def seconds_per_frame(tree: Path, model: str, size: str, objects: str, args: argparse.Namespace,
                      amp: bool) -> float:
    """One ``aotvideo bench`` run with ``tree``'s package; its s/frame."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    command = [sys.executable, "-m", "aotvideo", "bench", "--models", model, "--sizes", size,
               "--objects", objects, "--frames", str(args.frames), "--warmup", str(args.warmup),
               "--threads", str(args.threads), "--device", args.device]
    if amp:
        command.append("--amp")
    out = subprocess.run(command, env=env, cwd="/", check=True, capture_output=True,
                         text=True).stdout
    row = [line for line in out.splitlines() if line.startswith(f"| {model} |")][-1]
    return float(row.split("|")[5])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True,
                        help="folder holding the baseline's aotvideo package")
    parser.add_argument("--models", default="deaott,aott")
    parser.add_argument("--sizes", default="353x641")
    parser.add_argument("--objects", default="3")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", choices=("none", "both", "this"), default="none",
                        help="mixed precision for neither tree, both, or only this one (each "
                             "tree's default on a CPU with native bfloat16: none for a baseline "
                             "from before amp='auto', this for the current one)")
    args = parser.parse_args()
    trees = {"baseline": args.baseline.resolve(), "this": HERE}
    rows = []
    for model in args.models.split(","):
        for size in args.sizes.split(","):
            for objects in args.objects.split(","):
                times: dict[str, list[float]] = {name: [] for name in trees}
                for _ in range(args.rounds):
                    for name, tree in trees.items():
                        amp = args.amp == "both" or (args.amp == "this" and name == "this")
                        times[name].append(seconds_per_frame(tree, model, size, objects, args,
                                                             amp))
                base, this = min(times["baseline"]), min(times["this"])
                rows.append(f"| {model} | {size} | {objects} | {base:.4f} | "
                            f"{statistics.median(times['baseline']):.4f} | {this:.4f} | "
                            f"{statistics.median(times['this']):.4f} | {base / this:.2f}x |")
                print(f"done {model} {size} {objects}", file=sys.stderr, flush=True)
    print(f"{args.threads} threads, device {args.device}, mixed precision: {args.amp}, "
          f"{args.frames} timed "
          f"frames after {args.warmup} warm-up frames, {args.rounds} alternating rounds; "
          f"baseline {trees['baseline']}")
    print("| model | frame | objects | baseline fastest s/frame | baseline median | this fastest"
          " | this median | speed-up (fastest) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
