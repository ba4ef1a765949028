"""A run killed half-way and run again gives the same gold tables as a run never interrupted."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scripts_spark import pipeline

PROJECT_ROOT = Path(__file__).resolve().parents[2]
GOLD = ("soundtrack_matches", "film_soundtracks", "coverage_by_genre_decade", "soundtrack_style_vs_film")
FILMS = "150"


def _rows(spark, root: Path, table: str) -> list:
    return spark.read.parquet(str(root / "gold" / table)).collect()


@pytest.mark.slow
def test_killed_run_rerun_matches_an_uninterrupted_run(spark, tmp_path):
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    assert pipeline.main(["--data-root", str(reference), "--source", "sample", "--films", FILMS, "--run-id", "ref"]) == 0

    # The same data set in a separate process, killed with SIGKILL once step 3 has begun writing.
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable)
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts_spark.pipeline", "--data-root", str(killed), "--source", "sample", "--films", FILMS],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if any((killed / "silver").glob("*")):
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert not (killed / "gold" / "soundtrack_matches").exists()

    assert pipeline.main(["--data-root", str(killed), "--run-id", "rerun"]) == 0
    for table in GOLD:
        assert _rows(spark, killed, table) == _rows(spark, reference, table), table
    # Nothing half-written is left beside the tables.
    assert not list(killed.rglob("*.__writing"))
