"""What a batch costs beyond its jobs: thousands of instant jobs through the real runner.

    python samples/bench_batch_overhead.py                  # 1,000 / 4,000 / 10,000 jobs
    python samples/bench_batch_overhead.py --jobs 10000 --reruns 3

Each job does nothing (its worker returns at once), so the time is the runner's own: queueing,
events, the totals every event carries, the progress printer ``aotvideo batch`` attaches (its
bar, drawn to standard error, which this script sends to /dev/null), and the journal of finished
jobs.  Prints a Markdown table: seconds per run with and without the printer, microseconds per
job, and the journal's size after each rerun (the outputs count as missing, so every rerun runs
every job again and appends a line per job; opening the journal compacts it).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aotvideo.batch import InProcessExecutor, JobResult, JobState, run_jobs
from aotvideo.cli.console import BatchPrinter


@dataclass(frozen=True)
class InstantJob:
    """A job whose output is a marker file; done as soon as it is run."""

    id: str
    root: Path

    @property
    def key(self) -> str:
        return self.id

    def outputs_exist(self) -> bool:
        return False  # every rerun runs every job again: the journal gets a line per job per run

    def discard_partial(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "where": "bench", "output": str(self.root / self.id)}


class InstantWorker:
    def run(self, job: InstantJob, progress: Any) -> JobResult:
        progress(1, 1)
        return JobResult(True, 1, 0.0)


def one_run(jobs: list[InstantJob], state_path: Path | None, printer: bool) -> float:
    on_event = BatchPrinter("bar") if printer else None
    start = time.perf_counter()
    if state_path is None:
        run_jobs(jobs, InProcessExecutor(), lambda context: InstantWorker(), on_event=on_event)
    else:
        with JobState(state_path) as state:
            run_jobs(jobs, InProcessExecutor(), lambda context: InstantWorker(), state=state,
                     on_event=on_event)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", default="1000,4000,10000")
    parser.add_argument("--reruns", type=int, default=2)
    args = parser.parse_args()
    rows = []
    stderr = sys.stderr
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as null:
        for count in (int(n) for n in args.jobs.split(",")):
            jobs = [InstantJob(f"job{i:05d}", Path(folder)) for i in range(count)]
            sys.stderr = null
            try:
                bare = one_run(jobs, None, printer=False)
                printed = one_run(jobs, None, printer=True)
                state = Path(folder) / f"state-{count}.jsonl"
                journal = one_run(jobs, state, printer=True)
                sizes = [state.stat().st_size]
                for _ in range(args.reruns):
                    one_run(jobs, state, printer=True)
                    sizes.append(state.stat().st_size)
            finally:
                sys.stderr = stderr
            rows.append(f"| {count:,} | {bare:.2f} | {printed:.2f} | {journal:.2f} | "
                        f"{1e6 * printed / count:.0f} | "
                        f"{' / '.join(f'{s / 1024:.0f}' for s in sizes)} |")
    print("| jobs | seconds, no printer | seconds, with the progress bar | with bar and journal "
          "| us per job (bar) | journal KiB after run 1 / reruns |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
