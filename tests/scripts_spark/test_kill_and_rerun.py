"""A run killed anywhere leaves the published gold as it was, and a re-run gives the same gold."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts.gold_digest import gold_digests
from scripts_spark import pipeline
from scripts_spark.runner import KILL_HOOK_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOLD = ("soundtrack_matches", "film_soundtracks", "coverage_by_genre_decade", "soundtrack_style_vs_film")
ENV = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)


def _published(root: Path) -> tuple[str, dict]:
    return (root / "gold" / "_CURRENT").read_text(encoding="utf-8"), gold_digests(root)["tables"]


def _raw_files(root: Path) -> list[tuple[Path, int]]:
    return sorted((p.relative_to(root), p.stat().st_size) for p in (root / "raw").rglob("*"))


def _pipeline(root: Path, steps: str, run_id: str) -> list[str]:
    return [sys.executable, "-m", "scripts_spark.pipeline", "--data-root", str(root), "--steps", steps,
            "--run-id", run_id]


def _being_written(root: Path) -> list[str]:
    """The `*.__writing` tables under `root`, looked up while a run writes: os.walk skips a folder
    that Spark removes between listing and reading it (Path.rglob raises FileNotFoundError)."""
    return [os.path.relpath(os.path.join(folder, name), root)
            for folder, dirs, files in os.walk(root) for name in dirs + files if name.endswith(".__writing")]


def _kill_while_writing(root: Path, steps: str, run_id: str) -> str:
    """Run `steps` in a separate process and SIGKILL its whole process group (the Python driver, the
    Spark JVM, its Python workers) from outside as soon as it is writing a table, wherever that
    is; returns what it was writing. A moment no hook marks: the table's files half there."""
    process = subprocess.Popen(_pipeline(root, steps, run_id), cwd=PROJECT_ROOT, env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline, writing = time.monotonic() + 300, []
    while time.monotonic() < deadline and process.poll() is None and not writing:
        writing = _being_written(root)
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert writing, "nothing was being written within 300 s"
    return writing[0]


# One kill per kind of moment, each run starting at the step it needs (the earlier layers are
# already there), on a copy of the shared reference run:
# - from outside, while step 03 (or a later one) writes a table: every kill before any gold of the
#   run exists looks like this (01 and 02 write bronze the way 03 writes silver, through
#   storage.write_parquet);
# - "before:05_aggregate": step 04's gold written, 05's not;
# - "before:publish": all the run's gold and its report written, only the pointer switch missing
#   (this also stands for "before:report", the same state without the report file).
KILL_POINTS = (
    ("4-5", "before:05_aggregate"),
    ("5", "before:publish"),
)


@pytest.mark.slow
def test_a_killed_run_leaves_the_published_gold_and_a_rerun_gives_the_same(tmp_path, generated_run):
    root = Path(shutil.copytree(generated_run.root, tmp_path / "root", symlinks=True))
    published = _published(root)
    assert published[0] == f"runs/{generated_run.run_id}\n" and set(GOLD) <= set(published[1])

    writing = _kill_while_writing(root, "3-5", "killed")
    assert _published(root) == published, f"killed while writing {writing}"

    for number, (steps, point) in enumerate(KILL_POINTS):
        run_id = f"kill{number}"
        completed = subprocess.run(
            _pipeline(root, steps, run_id), cwd=PROJECT_ROOT, env=dict(ENV, **{KILL_HOOK_ENV: f"{run_id}@{point}"}),
            capture_output=True, text=True, timeout=600,
        )
        assert completed.returncode == -signal.SIGKILL, (point, completed.stderr[-2000:])
        assert _published(root) == published, point
        assert (root / "gold" / "runs" / run_id / "soundtrack_matches").is_dir(), point   # its own gold, unpublished

    # A hook naming another run id is ignored: a stray value cannot kill a run.
    # The re-run finds raw/ present, generates nothing and gives the same gold, table by table.
    raw_before = _raw_files(root)
    os.environ[KILL_HOOK_ENV] = "someone-else@after:01_extract_tmdb"
    try:
        assert pipeline.main(["--data-root", str(root), "--run-id", "rerun"]) == 0
    finally:
        del os.environ[KILL_HOOK_ENV]
    assert json.loads((root / "metrics" / "run_rerun.json").read_text(encoding="utf-8"))["input"] == "present"
    assert _raw_files(root) == raw_before
    pointer, tables = _published(root)
    assert pointer == "runs/rerun\n" and tables == published[1]
    # The killed runs' folders are deleted, nothing half-written is left beside any table; the
    # published run and the one before it are kept.
    assert sorted(p.name for p in (root / "gold" / "runs").iterdir()) == [generated_run.run_id, "rerun"]
    assert _being_written(root) == []
