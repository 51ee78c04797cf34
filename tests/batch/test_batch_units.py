"""Batch building blocks without worker processes: manifests, option checks, the record, the
runner's retries and resume (in-process executor), output commits, and the command line's
usage errors."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
from click.testing import CliRunner

from aotvideo.batch import InProcessExecutor, JobResult, JobState, TrackOptions, build_jobs, run_jobs
from aotvideo.cli.batch import TrackOptionSchema, track_options
from aotvideo.batch.jobs import partial_path
from aotvideo.batch.manifest import read_manifests
from aotvideo.batch.worker import commit_output
from aotvideo.cli import main
from aotvideo.cli.track import track
from aotvideo.errors import BatchError, ManifestError
from aotvideo.io import read_mask, write_palette_png

SCHEMA = TrackOptionSchema(track)


def _jobs(*sources: str | Path, **kwargs: Any) -> list:
    return build_jobs(read_manifests([str(s) for s in sources]), schema=SCHEMA, **kwargs)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for name in ("a.mp4", "b.mov", "a.mask.png", "b.mask.png", "b.mask.12.png", "a.overlay.mp4",
                 ".hidden.mp4", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


# -- manifests ---------------------------------------------------------------------------------------


def test_jsonl_paths_options_and_default_outputs(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(
        '# a comment\n'
        '{"input": "a.mp4", "mask": "a.png", "output": "out/a.alpha.mov", "mode": "alpha"}\n'
        '\n'
        '{"input": "/data/b.mp4", "mask": ["b.png", "30:b30.png"], "objects": [1, 3], '
        '"scales": "1.0,1.3", "amp": true, "crf": 20}\n')
    a, b = _jobs(manifest, defaults={"mode": "matte"})
    assert a.input == str(tmp_path / "a.mp4") and a.output == str(tmp_path / "out/a.alpha.mov")
    assert a.options.mode == "alpha" and a.masks == ((0, str(tmp_path / "a.png")),)
    assert a.where == f"{manifest} line 2"
    assert b.masks == ((0, str(tmp_path / "b.png")), (30, str(tmp_path / "b30.png")))
    assert b.options == TrackOptions(mode="matte", objects=(1, 3), scales=(1.0, 1.3), amp=True, crf=20)
    assert b.output == "/data/b.matte.mp4"  # track's default name, beside the input
    assert [a.id, b.id] == ["a", "b"]


def test_csv_cells_lists_and_flags(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.csv"
    manifest.write_text("input,mask,mode,soft,crf,id\n"
                        "a.mp4,a.png; 5:a5.png,matte,yes,,first\n"
                        "a.mp4,a.png,,false,12,\n")
    first, second = _jobs(manifest, output_dir=str(tmp_path / "out"))
    assert first.masks == ((0, str(tmp_path / "a.png")), (5, str(tmp_path / "a5.png")))
    assert first.options.soft is True and first.options.crf is None and first.id == "first"
    assert second.options == TrackOptions(crf=12) and second.id == "a"
    assert second.output == str(tmp_path / "out" / "a.overlay.mp4")
    assert first.output == str(tmp_path / "out" / "first.matte.mp4")  # named after the id
    again = _jobs(manifest, manifest)  # the same video twice: own ids, own outputs
    assert [j.id for j in again] == ["first", "a", "first-2", "a-2"]
    assert again[3].output == str(tmp_path / "a-2.overlay.mp4")
    assert first.where.endswith("jobs.csv line 2")


def test_folder_and_glob_naming_convention(folder: Path) -> None:
    jobs = _jobs(folder, defaults={"mode": "masks"})
    assert [j.id for j in jobs] == ["a", "b"]  # not the hidden file, nor track's own output
    assert jobs[1].masks == ((0, str(folder / "b.mask.png")), (12, str(folder / "b.mask.12.png")))
    assert jobs[0].output == str(folder / "a.masks")
    assert [j.id for j in _jobs(str(folder / "*.mov"))] == ["b"]
    (folder / "c.mp4").write_bytes(b"x")
    with pytest.raises(ManifestError, match=r"c\.mp4: no mask: expected c\.mask\.png"):
        _jobs(folder)


@pytest.mark.parametrize("line, message", [
    ('{"input": "a.mp4", "mask": "a.png", "crff": 3}', r"line 2: unknown option 'crff'.*did you mean 'crf'"),
    ('{"input": "a.mp4", "mask": "a.png", "crf": 99}', r"line 2: 'crf': 99 is not in the range"),
    ('{"input": "a.mp4", "mask": "a.png", "mode": "cutout"}', r"line 2: 'mode': 'cutout' is not one of"),
    ('{"input": "a.mp4", "mask": "a.png", "report": "r.json"}', r"line 2: 'report' is not a per-job option"),
    ('{"input": "a.mp4", "mask": "a.png", "soft": true}', r"line 2: soft applies to mode matte and alpha"),
    ('{"input": "a.mp4", "mask": "a.png", "objects": "1,x"}', r"line 2: 'objects': expected numbers"),
    ('{"input": "a.mp4", "mask": "a.png", "amp": 3}', r"line 2: 'amp' is a flag: true or false"),
    ('{"input": "a.mp4"}', r"line 2: no 'mask'"),
    ('{"mask": "a.png"}', r"line 2: no 'input'"),
    ('{"input": "a.mp4", "mask": "a.png", "mode": "alpha", "output": "a.mp4"}',
     r"line 2: mp4 cannot carry an alpha channel"),
    ('{"input": "a.mp4", "mask": "a.png", "output": "a.mp4"}', r"line 2: the output would overwrite"),
    ('["a.mp4"]', r"line 2: expected a JSON object"),
    ('{"input": "a.mp4", ', r"line 2: not valid JSON"),
])
def test_bad_lines_are_named(tmp_path: Path, line: str, message: str) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text('{"input": "ok.mp4", "mask": "ok.png"}\n' + line + "\n")
    with pytest.raises(ManifestError, match=message):
        _jobs(manifest)


def test_two_jobs_one_output(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text('{"input": "a.mp4", "mask": "a.png", "output": "o.mp4"}\n'
                        '{"input": "b.mp4", "mask": "b.png", "output": "./o.mp4"}\n')
    with pytest.raises(ManifestError, match="line 2: writes .*o.mp4, as .*line 1 does"):
        _jobs(manifest)


def test_batch_knows_every_per_job_option_of_track() -> None:
    """TrackOptions mirrors track's options, defaults included (a new track option fails here)."""
    options = track_options(track)
    assert set(options) == set(TrackOptions.names())
    defaults, context = TrackOptions(), click.Context(track)
    for name, param in options.items():
        default = param.get_default(context)  # None, or click's UNSET sentinel, when none
        given = isinstance(default, (str, int, float)) and not (param.is_flag and not default)
        tri_state = param.is_flag and bool(param.secondary_opts) and not given  # --x/--no-x, unset
        expected = (SCHEMA.convert(name, default) if given
                    else (False if param.is_flag and not tri_state else None))
        assert getattr(defaults, name) == expected, name


def test_job_key_ignores_the_device_and_follows_the_files(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    (tmp_path / "a.mp4").write_bytes(b"x")
    manifest.write_text('{"input": "a.mp4", "mask": "a.png"}\n')
    plain = _jobs(manifest)[0]
    assert _jobs(manifest, defaults={"device": "cuda"})[0].key == plain.key
    assert _jobs(manifest, defaults={"amp": True})[0].key != plain.key
    os.utime(tmp_path / "a.mp4", ns=(1, 1))
    assert _jobs(manifest)[0].key != plain.key


# -- the record -----------------------------------------------------------------------------------


def test_state_journal_survives_a_torn_line_and_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "state.jsonl"
    with JobState(path) as state:
        state.record("k1", "failed", {"error": "boom"})
        state.record("k1", "done", {"frames": 3})
        with pytest.raises(BatchError, match="another batch is using"):
            JobState(path).open()
    with open(path, "a") as handle:
        handle.write('{"key": "k2", "sta')  # a crash in the middle of a line
    with JobState(path) as state:
        assert state.is_done("k1") and state.get("k1")["frames"] == 3 and state.get("k2") is None
        state.record("k2", "done", {})
    with JobState(path) as state:
        assert state.is_done("k2")


# -- the runner, in process -------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeJob:
    id: str
    fails: int  # attempts that fail before one succeeds
    root: Path

    @property
    def key(self) -> str:
        return f"key-{self.id}"

    @property
    def output(self) -> Path:
        return self.root / f"{self.id}.out"

    def outputs_exist(self) -> bool:
        return self.output.exists()

    def discard_partial(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "where": "test", "output": str(self.output)}


@dataclass
class FakeWorker:
    runs: list[str] = field(default_factory=list)

    def run(self, job: FakeJob, progress: Any) -> JobResult:
        self.runs.append(job.id)
        progress(1, 2)
        if self.runs.count(job.id) <= job.fails:
            return JobResult(False, 1, 0.1, error=f"{job.id} broke", kind="input")
        job.output.write_text("done")
        return JobResult(True, 2, 0.5)


def test_runner_retries_records_and_resumes(tmp_path: Path) -> None:
    worker = FakeWorker()
    jobs = [FakeJob("good", 0, tmp_path), FakeJob("flaky", 1, tmp_path), FakeJob("bad", 9, tmp_path)]
    events: list[tuple[str, str]] = []
    with JobState(tmp_path / "state.jsonl") as state:
        report = run_jobs(jobs, InProcessExecutor(), lambda context: worker, state=state, retries=1,
                          on_event=lambda e: events.append((e.kind, e.record.job.id)))
    assert worker.runs == ["good", "flaky", "bad", "flaky", "bad"]  # retries after the rest
    assert ("retry", "flaky") in events and ("failed", "bad") in events
    data = report.to_json()
    assert [j["status"] for j in data["jobs"]] == ["done", "done", "failed"]
    assert [j["attempts"] for j in data["jobs"]] == [1, 2, 2]
    assert data["jobs"][2]["error"] == "bad broke" and data["jobs"][1]["fps"] == 4.0
    assert data["summary"]["done"] == 2 and data["summary"]["failed"] == 1 and not report.ok

    worker.runs.clear()
    with JobState(tmp_path / "state.jsonl") as state:  # nothing redone, the failure reported
        again = run_jobs(jobs, InProcessExecutor(), lambda context: worker, state=state)
    assert worker.runs == []
    assert [r.status for r in again.records] == ["skipped", "skipped", "failed"]
    assert again.records[2].error == "bad broke" and again.records[2].earlier
    (tmp_path / "good.out").unlink()  # an output that went missing is made again
    with JobState(tmp_path / "state.jsonl") as state:
        run_jobs(jobs, InProcessExecutor(), lambda context: worker, state=state, retries=0,
                 retry_failed=True)
    assert worker.runs == ["good", "bad"]


def test_runner_stops_on_ctrl_c(tmp_path: Path) -> None:
    class Interrupting(FakeWorker):
        def run(self, job: FakeJob, progress: Any) -> JobResult:
            if job.id == "second":
                raise KeyboardInterrupt
            return super().run(job, progress)

    jobs = [FakeJob("first", 0, tmp_path), FakeJob("second", 0, tmp_path), FakeJob("third", 0, tmp_path)]
    with JobState(tmp_path / "state.jsonl") as state:
        report = run_jobs(jobs, InProcessExecutor(), lambda context: Interrupting(), state=state)
    assert report.stopped == "interrupted" and not report.ok
    assert [r.status for r in report.records] == ["done", "interrupted", "pending"]


# -- outputs ---------------------------------------------------------------------------------------


def test_commit_output_files_and_folders(tmp_path: Path) -> None:
    final = tmp_path / "out.mov"
    partial = partial_path(final)
    assert partial.name == ".out.mov.aotvideo-partial" and partial.parent == tmp_path
    partial.write_text("new")
    final.write_text("old")
    commit_output(partial, final)
    assert final.read_text() == "new" and not partial.exists()

    folder = tmp_path / "masks"
    staged = partial_path(folder)
    staged.mkdir()
    (staged / "00000.png").write_text("a")
    commit_output(staged, folder)
    assert (folder / "00000.png").read_text() == "a" and not staged.exists()
    staged.mkdir()
    (staged / "00000.png").write_text("b")
    (folder / "keep.txt").write_text("mine")
    commit_output(staged, folder)  # into a folder with files: merged, frame by frame
    assert (folder / "00000.png").read_text() == "b" and (folder / "keep.txt").exists()


# -- command line usage errors (nothing runs) ---------------------------------------------------------


def test_cli_names_the_bad_line(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text('{"input": "a.mp4", "mask": "a.png", "max_long_term": 0}\n')
    result = CliRunner().invoke(main, ["batch", str(manifest)])
    assert result.exit_code == 2
    assert f"{manifest} line 1: 'max_long_term': 0 is not in the range x>=1" in result.output


def test_cli_defaults_are_checked_like_track_options(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text('{"input": "a.mp4", "mask": "a.png"}\n')
    result = CliRunner().invoke(main, ["batch", str(manifest), "--scales", "0"])
    assert result.exit_code == 2 and "'scales': expected positive numbers" in result.output


def test_cli_without_ray_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "w.pth").write_bytes(b"x")
    write_palette_png(tmp_path / "a.png", np.ones((4, 4), np.int64))
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"input": "a.mp4", "mask": "a.png"}) + "\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = CliRunner().invoke(main, ["batch", str(manifest), "--ray", "auto",
                                       "--weights", str(tmp_path / "w.pth")])
    assert result.exit_code == 2
    assert "pip install 'aotvideo[ray]'" in result.output


# -- eval run on the batch's executors ----------------------------------------------------------------


def test_eval_run_through_the_batch_runner(tmp_path: Path, weights: Path) -> None:
    """``run_benchmark(executor=...)`` (what ``eval run --ray`` uses) writes what the plain run does."""
    from aotvideo.evaluation.datasets import open_benchmark
    from aotvideo.evaluation.runner import run_benchmark
    from aotvideo.tracking.builder import TrackerSpec
    from tests.evaluation.eval_datasets import make_davis, moving_objects

    gts = {"aa": moving_objects(4, 32, 48, 2, seed=1), "bb": moving_objects(3, 32, 40, 1, seed=2)}
    bench = open_benchmark("davis2017", make_davis(tmp_path / "DAVIS", gts))
    spec = TrackerSpec("deaott", str(weights))
    seen: list[Any] = []
    batch = run_benchmark(bench, tmp_path / "batch", spec, devices=["cpu"],
                          executor=InProcessExecutor(threads=1), on_sequence=seen.append)
    plain = run_benchmark(bench, tmp_path / "plain", spec, devices=["cpu"])
    assert sorted(t.sequence for t in seen) == ["aa", "bb"]
    assert [(t.sequence, t.frames) for t in batch.sequences] == \
        [(t.sequence, t.frames) for t in plain.sequences] == [("aa", 4), ("bb", 3)]
    predictions = sorted((tmp_path / "plain").rglob("*.png"))
    assert len(predictions) == 7
    for path in predictions:
        twin = tmp_path / "batch" / path.relative_to(tmp_path / "plain")
        np.testing.assert_array_equal(read_mask(twin), read_mask(path), err_msg=str(path))


@pytest.mark.parametrize("output, message", [
    ("link/a.mp4", r"line 1: the output would overwrite the input"),   # through a symlink
    ("link/../a.png", r"line 1: the output would overwrite the mask"),
    ("hard.mp4", r"line 1: the output would overwrite the input"),    # a hard link to a.mp4
])
def test_outputs_never_name_a_jobs_own_input_or_mask(tmp_path: Path, output: str,
                                                     message: str) -> None:
    for name in ("a.mp4", "a.png"):
        (tmp_path / name).write_bytes(b"x")
    os.symlink(".", tmp_path / "link")
    os.link(tmp_path / "a.mp4", tmp_path / "hard.mp4")
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text(json.dumps({"input": "a.mp4", "mask": "a.png", "output": output}) + "\n")
    with pytest.raises(ManifestError, match=message):
        _jobs(manifest)
    assert (tmp_path / "a.mp4").read_bytes() == b"x"


def test_no_job_writes_what_another_job_reads(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text('{"input": "a.mp4", "mask": "a.png", "output": "o.mp4"}\n'
                        '{"input": "b.mp4", "mask": "b.png", "output": "a.png"}\n')
    with pytest.raises(ManifestError, match=r"line 2: writes .*a\.png, which .*line 1 reads"):
        _jobs(manifest)


def test_state_journal_is_compacted_when_reopened(tmp_path: Path) -> None:
    """Reruns append a line per job; opening the journal writes it anew, one line per job,
    still locked and with every latest record."""
    path = tmp_path / "state.jsonl"
    for run in range(3):
        with JobState(path) as state:
            for key in ("a", "b", "c"):
                state.record(key, "done", {"frames": run})
    with JobState(path) as state:
        assert len(path.read_text().splitlines()) == 3
        assert all(state.get(k)["frames"] == 2 for k in "abc")
        with pytest.raises(BatchError, match="another batch is using"):
            JobState(path).open()
        state.record("d", "failed", {"error": "x"})
    assert not path.with_name("state.jsonl.compact.tmp").exists()
    assert len(path.read_text().splitlines()) == 4


def test_run_totals_follow_every_event(tmp_path: Path) -> None:
    """The counts carried by each event equal a recount of the records at that moment."""
    jobs = [FakeJob(f"j{i}", i % 3 == 0, tmp_path) for i in range(7)]
    seen: list[tuple[Any, ...]] = []

    def check(event: Any) -> None:
        totals = event.totals
        records = event_records[0]
        seen.append((totals.done, totals.failed, totals.running))
        assert totals.done == sum(r.status == "done" for r in records)
        assert totals.failed == sum(r.status == "failed" for r in records)
        assert totals.skipped == sum(r.status == "skipped" for r in records)

    from aotvideo.batch import runner as runner_module

    event_records: list[Any] = []
    original = runner_module._Run.__init__

    def keep(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        event_records.append(self.records)

    runner_module._Run.__init__ = keep  # type: ignore[method-assign]
    try:
        report = run_jobs(jobs, InProcessExecutor(), lambda context: FakeWorker(), retries=0,
                          on_event=check)
    finally:
        runner_module._Run.__init__ = original  # type: ignore[method-assign]
    assert report.count("failed") == 3 and report.count("done") == 4
    assert seen[-1][:2] == (4, 3)
