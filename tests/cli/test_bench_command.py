"""``aotvideo bench`` (the speed benchmark) prints only what its own run measured."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_bench_table_has_no_figures_from_elsewhere() -> None:
    run = subprocess.run([sys.executable, "-m", "aotvideo", "bench", "--models", "deaott",
                          "--sizes", "64x96", "--objects", "2", "--frames", "2", "--warmup",
                          "1", "--device", "cpu", "--threads", "1"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| model"))
    assert "original" not in header.lower() and "speed-up" not in header.lower()
    row = next(line for line in lines if line.startswith("| deaott"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:3] == ["deaott", "64x96", "2"]
    fps, seconds = float(cells[3]), float(cells[4])
    assert fps > 0 and abs(seconds - 1 / fps) <= 0.00006  # s/frame is printed to 4 decimals
