"""Shared fixtures: one local SparkSession for the whole test run, and paths to real data."""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _project_loggers_reset():
    """Every test starts with the project's loggers as Python leaves them (no handler, no level,
    propagating to the root, where `caplog` listens). An entry point's `main` configures them
    (`cli.configure_logging` stops their propagation), also from a module-scoped fixture, and
    that would otherwise hide every later test's records from `caplog`: a test would pass or
    fail by the order it ran in."""
    from scripts_spark.cli import PROJECT_LOGGERS

    for name in PROJECT_LOGGERS:
        log = logging.getLogger(name)
        log.handlers[:] = []
        log.setLevel(logging.NOTSET)
        log.propagate = True
    yield


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    """A local SparkSession tuned for tiny data, built the way the pipeline builds its own."""
    from scripts_spark.session import build_spark

    warehouse = tmp_path_factory.mktemp("warehouse")
    session = build_spark(
        app_name="tests",
        master="local[2]",
        extra_conf={
            # Tiny test data: one shuffle partition avoids hundreds of empty tasks.
            "spark.sql.shuffle.partitions": "1",
            "spark.default.parallelism": "2",
            # Adaptive execution re-plans per query; off keeps plans predictable and faster here.
            "spark.sql.adaptive.enabled": "false",
            # A warehouse per test run, so nothing is left in the project folder.
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.memory": "2g",
        },
    )
    yield session
    session.stop()


@dataclass(frozen=True)
class GeneratedRun:
    """A finished, published pipeline run: its data root, run id and what it printed."""

    root: Path
    run_id: str
    output: str


@pytest.fixture(scope="session")
def generated_run(spark, tmp_path_factory) -> GeneratedRun:
    """One whole `pipeline.main` run (steps 1-5, the report, the publish) on a generated sample of
    150 films, shared by every test that needs an uninterrupted run. Read only: a test that changes
    a root works on a copy (`shutil.copytree(..., symlinks=True)`)."""
    from scripts import data_root
    from scripts_spark import pipeline

    root = tmp_path_factory.mktemp("generated") / "root"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = pipeline.main(["--data-root", str(root), "--source", "sample", "--films", "150", "--run-id", "ref"])
    assert code == 0, printed.getvalue()[-2000:]
    data_root.release(root)   # this process would hold the root's run lock until it exits
    return GeneratedRun(root, "ref", printed.getvalue())


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real reference data in ../shared/data; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real reference data not found at {SHARED_DATA} (only present on project machines)")
    return SHARED_DATA


@pytest.fixture()
def python_env() -> dict:
    """Environment for subprocesses that must use this interpreter (the venv's Python 3.10)."""
    env = dict(os.environ)
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    return env
