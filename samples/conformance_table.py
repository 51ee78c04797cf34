"""Print the conformance figures of the six reference runs (``shared/reference``).

    python samples/conformance_table.py [../shared/reference]

For each run: the largest logit difference on frame 1 and frame 7 with the reference
predictions fed back into memory (teacher-forced: equal inputs), and the share of differing
pixels on frame 7 when the tracker feeds back its own predictions (free-running).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import aotvideo
from aotvideo.models.rule_weights import rule_state_dict

RUNS = ["aott", "deaott", "aotl", "deaotl", "r50_deaotl", "swinb_deaotl"]


def main() -> int:
    reference = Path(sys.argv[1] if len(sys.argv) > 1 else
                     Path(__file__).resolve().parents[2] / "shared" / "reference")
    frames = np.load(reference / "clip_demo1001.npz")["frames"]
    print("| run | objects | input | logits_1 max error | logits_7 max error (teacher-forced) "
          "| preds 1-7 differing (teacher-forced) | preds_7 differing (free-running) |")
    print("|---|---|---|---|---|---|---|")
    for name in RUNS:
        ref = np.load(reference / f"ref_{name}_demo1001.npz")
        used = int(ref["obj_num"]) + 1
        model = aotvideo.build_model(name)
        aotvideo.load_weights(model, rule_state_dict(model))
        forced = aotvideo.Tracker(model, device="cpu", max_long_term=None)
        free = aotvideo.Tracker(model, device="cpu", max_long_term=None)
        errors, differing = {}, []
        for tracker in (forced, free):
            tracker.step(frames[0], mask=ref["label"])
        for t in range(1, len(frames)):
            result = forced.step(frames[t], memory_labels=ref["preds"][t - 1])
            differing.append((result.labels.numpy() != ref["preds"][t - 1]).mean())
            if t in (1, 7):
                errors[t] = np.abs(result.logits.numpy()[:used] - ref[f"logits_{t}"][:used]).max()
            free_result = free.step(frames[t])
        drift = (free_result.labels.numpy() != ref["preds"][-1]).mean()
        h, w = ref["input_size"]
        print(f"| {name} | {used - 1} | {h}x{w} | {errors[1]:.1e} | {errors[7]:.1e} | "
              f"{max(differing):.4%} | {drift:.3%} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
