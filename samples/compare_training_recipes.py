"""Compare training recipes for the default model with short runs on the held-out set.

    python samples/compare_training_recipes.py                    # every variant, 200 steps each
    python samples/compare_training_recipes.py --variants baseline,imagenet --steps 300

Each variant is one short ``aotvideo train real`` run from the same starting point, on the 24
DAVIS 2016 train videos that are not in :data:`aotvideo.training.holdout.DAVIS2016_HOLDOUT`;
its EMA weights are then scored by ``samples/evaluate_real_footage.py`` (held-out J&F and the
multi-object composites, network input short edge 240).  Variants differ from ``baseline`` in
one setting only: the encoder start, the ratios of the three streams, the crop size or the clip
length.  Runs are resumable: a variant whose ``result.json`` exists is not run again, and an
interrupted run resumes from its newest checkpoint.  The script prints a Markdown table.

Reads ``../shared`` at run time (datasets and pretrained encoders); copies nothing of it.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import evaluate_real_footage as real  # noqa: E402  (a sibling script, not a package)
from aotvideo.tracking.builder import TrackerSpec  # noqa: E402


@dataclass(frozen=True)
class Variant:
    """One recipe: what differs from the baseline, as ``aotvideo train`` arguments."""

    name: str
    description: str
    encoder: str | None = "mobilenet_v2_deeplabv3_pascal.pth"
    settings: tuple[str, ...] = ()
    crop_size: int = 129


VARIANTS: tuple[Variant, ...] = (
    Variant("baseline", "DeepLab start, streams 0.6/0.25/0.15, crop 129, 5-frame clips"),
    Variant("imagenet", "ImageNet encoder start", encoder="mobilenet_v2_imagenet.pth"),
    Variant("random", "random encoder start", encoder=None),
    Variant("videos-only", "streams 1/0/0 (DAVIS videos only)",
            settings=("dataset_weights=1,0,0",)),
    Variant("frames-heavy", "streams 0.4/0.4/0.2", settings=("dataset_weights=0.4,0.4,0.2",)),
    Variant("crop-193", "193x193 crops", crop_size=193),
    Variant("clip-3", "3-frame clips", settings=("data.seq_len=3",)),
    Variant("clip-7", "7-frame clips", settings=("data.seq_len=7",)),
)


def train(variant: Variant, run: Path, args: argparse.Namespace) -> float:
    """Run (or resume) the variant's training; returns the wall-clock seconds of this call."""
    command = [sys.executable, "-m", "aotvideo", "train", "real", "--model", "deaott",
               "--davis-root", str(args.davis_root), "--steps", str(args.steps),
               "--batch-size", "4", "--crop-size", str(variant.crop_size), "--workers", "1",
               "--device", "cpu", "--save-every", "50", "--keep-last", "1", "--log-every", "25",
               "--seed", str(args.seed), "-o", str(run), "--resume", "auto",
               "--set", "data.short_edge=240", "--set", "data.merge_prob=0.7",
               "--set", "lr=4e-4",
               "--set", "data.exclude_videos=" + ",".join(real.DAVIS2016_HOLDOUT)]
    if variant.encoder:
        command += ["--encoder-weights", str(SHARED / "pretrained" / variant.encoder)]
    for setting in variant.settings:
        command += ["--set", setting]
    start = time.perf_counter()
    with open(run.parent / f"{run.name}.log", "a") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    return time.perf_counter() - start


def score(run: Path, args: argparse.Namespace) -> dict[str, float]:
    """Export the EMA weights of the last checkpoint and score them at a 240-pixel input."""
    checkpoint = max((run / "checkpoints").glob("step_*.pt"))
    weights = run / "weights.pth"
    subprocess.run([sys.executable, "-m", "aotvideo", "train", "export", str(checkpoint),
                    str(weights), "--format", "aotvideo"], check=True)
    spec = TrackerSpec("deaott", str(weights), max_short_edge=240)
    holdout = real.DavisDataset(args.davis_root, 2016, "train", "480p")
    figures, _ = real.evaluate(holdout, list(real.DAVIS2016_HOLDOUT), run / "eval-holdout", spec)
    data = args.out / "composite-data"
    names = real.write_composites(args.davis_root, data, real.COMPOSITES)
    composite, _ = real.evaluate(real.DavisDataset(data, 2017, "val", "480p"), names,
                                 run / "eval-composite", spec)
    return {"holdout_jf": figures["J&F-Mean"], "holdout_j": figures["J-Mean"],
            "holdout_f": figures["F-Mean"], "composite_jf": composite["J&F-Mean"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--davis-root", type=Path,
                        default=SHARED / "datasets" / "davis2016-train")
    parser.add_argument("--out", type=Path, default=Path("runs/compare"))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", default=",".join(v.name for v in VARIANTS))
    args = parser.parse_args()
    if not args.davis_root.is_dir():
        raise SystemExit(f"DAVIS 2016 train folder not found: {args.davis_root}")
    known = {v.name: v for v in VARIANTS}
    chosen = [known[n] for n in args.variants.split(",") if n]
    args.out.mkdir(parents=True, exist_ok=True)
    for variant in chosen:
        run = args.out / variant.name
        result_file = run / "result.json"
        if result_file.exists():
            continue
        run.mkdir(parents=True, exist_ok=True)
        seconds_file = run / "train_seconds"
        before = float(seconds_file.read_text()) if seconds_file.exists() else 0.0
        seconds = before + train(variant, run, args)
        seconds_file.write_text(f"{seconds:.1f}")
        result = {"variant": variant.name, "steps": args.steps, "train_seconds": seconds,
                  **score(run, args)}
        result_file.write_text(json.dumps(result, indent=1))
    print(f"{args.steps} steps of 4 clips each; held-out J&F at a 240-pixel network input")
    print("| variant | what differs | holdout J&F | J | F | composite J&F | "
          "wall s/step (machine shared) |")
    print("|---|---|---|---|---|---|---|")
    for variant in chosen:
        result_file = args.out / variant.name / "result.json"
        if not result_file.exists():
            continue
        r = json.loads(result_file.read_text())
        print(f"| {variant.name} | {variant.description} | {r['holdout_jf']:.3f} | "
              f"{r['holdout_j']:.3f} | {r['holdout_f']:.3f} | {r['composite_jf']:.3f} | "
              f"{r['train_seconds'] / r['steps']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
