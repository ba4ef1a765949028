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

from scripts import data_root
from scripts.gold_digest import gold_digests, gold_folder
from scripts_spark import pipeline
from scripts_spark.runner import KILL_HOOK_ENV

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOLD = ("soundtrack_matches", "film_soundtracks", "coverage_by_genre_decade", "soundtrack_style_vs_film")
FILMS = "150"
ENV = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)


def _rows(spark, root: Path, table: str) -> list:
    return spark.read.parquet(str(gold_folder(root) / table)).collect()


def _published(root: Path) -> tuple[str, dict]:
    return (root / "gold" / "_CURRENT").read_text(encoding="utf-8"), gold_digests(root)["tables"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run "ref" on generated data, shared by the tests below (read only: a test
    that changes a root works on a copy). One pipeline run instead of two."""
    root = tmp_path_factory.mktemp("kill") / "reference"
    assert pipeline.main(["--data-root", str(root), "--source", "sample", "--films", FILMS, "--run-id", "ref"]) == 0
    data_root.release(root)   # this process would hold the root's run lock until it exits
    return root


@pytest.mark.slow
def test_killed_run_rerun_matches_an_uninterrupted_run(spark, tmp_path, reference):
    killed = tmp_path / "killed"

    # The same data set in a separate process, killed with SIGKILL once step 3 has begun writing.
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts_spark.pipeline", "--data-root", str(killed), "--source", "sample", "--films", FILMS],
        cwd=PROJECT_ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if any((killed / "silver").glob("*")):
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not (killed / "gold" / "_CURRENT").exists(), "a killed run published nothing"

    assert pipeline.main(["--data-root", str(killed), "--run-id", "rerun"]) == 0
    for table in GOLD:
        assert _rows(spark, killed, table) == _rows(spark, reference, table), table
    # Nothing half-written is left beside the tables; the killed run's folder is gone.
    assert not list(killed.rglob("*.__writing"))
    assert [p.name for p in (killed / "gold" / "runs").iterdir()] == ["rerun"]


# Each kill point runs only the steps up to it (the earlier layers are already there), so the test
# stays short. One point per kind of moment: "after:03_normalize" stands for every kill before any
# gold of the run exists (01 and 02 write bronze the same way 03 writes silver, through
# storage.write_parquet); "after:04_match" is the moment between 04 and 05 (step 04's gold written,
# 05's not); "before:report" the moment after 05's gold, and "before:publish" the moment after the
# report when only the pointer switch is missing.
KILL_POINTS = (
    ("3", "after:03_normalize"),
    ("4-5", "before:05_aggregate"),
    ("5", "before:report"),          # the same moment as "after:05_aggregate": nothing runs between
    ("5", "before:publish"),
)


@pytest.mark.slow
def test_a_kill_at_every_step_leaves_the_published_gold_and_a_rerun_gives_the_same(tmp_path, reference):
    root = Path(shutil.copytree(reference, tmp_path / "root", symlinks=True))
    published = _published(root)
    assert published[0] == "runs/ref\n" and set(GOLD) <= set(published[1])

    for number, (steps, point) in enumerate(KILL_POINTS):
        run_id = f"kill{number}"
        completed = subprocess.run(
            [sys.executable, "-m", "scripts_spark.pipeline", "--data-root", str(root), "--steps", steps,
             "--run-id", run_id],
            cwd=PROJECT_ROOT, env=dict(ENV, **{KILL_HOOK_ENV: f"{run_id}@{point}"}), capture_output=True, text=True,
            timeout=600,
        )
        assert completed.returncode == -signal.SIGKILL, (point, completed.stderr[-2000:])
        assert _published(root) == published, point
        if point in ("before:05_aggregate", "before:publish"):   # this run's own gold was there, unpublished
            assert (root / "gold" / "runs" / run_id / "soundtrack_matches").is_dir(), point

    # A hook naming another run id is ignored: a stray value cannot kill a run.
    # The re-run finds raw/ present, generates nothing and gives the same gold, table by table.
    raw_before = sorted((p.relative_to(root), p.stat().st_size) for p in (root / "raw").rglob("*"))
    os.environ[KILL_HOOK_ENV] = "someone-else@after:01_extract_tmdb"
    try:
        assert pipeline.main(["--data-root", str(root), "--run-id", "rerun"]) == 0
    finally:
        del os.environ[KILL_HOOK_ENV]
    assert json.loads((root / "metrics" / "run_rerun.json").read_text(encoding="utf-8"))["input"] == "present"
    assert sorted((p.relative_to(root), p.stat().st_size) for p in (root / "raw").rglob("*")) == raw_before
    pointer, tables = _published(root)
    assert pointer == "runs/rerun\n" and tables == published[1]
    # The killed runs' folders are deleted; the published run and the one before it are kept.
    assert sorted(p.name for p in (root / "gold" / "runs").iterdir()) == ["ref", "rerun"]
    assert not list((root / "gold").rglob("*.__writing"))
