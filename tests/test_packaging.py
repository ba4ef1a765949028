"""The wheel the Databricks job installs, and the bundle that runs it, agree with the project."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from scripts.requirements_hash import runtime_manifest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # setuptools builds in the source tree (build/, *.egg-info): build a copy, so the checkout stays
    # clean (an egg-info there would look like an installed package to importlib.metadata).
    source = tmp_path_factory.mktemp("source") / "project"
    shutil.copytree(PROJECT_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "data", "logs", "tests", "build", "*.egg-info", "__pycache__", ".*_cache"))
    # No build isolation: the pinned setuptools and wheel of the venv build it, offline.
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--disable-pip-version-check",
         "-q", "-w", str(out), str(source)],
        capture_output=True, text=True, timeout=300,
        # Not measured: under pytest-cov the build's interpreter would count the copy's modules as
        # unexecuted files of `scripts` and `scripts_spark`.
        env={k: v for k, v in os.environ.items() if not k.startswith("COV_CORE")},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    [built] = out.glob("*.whl")
    return built


def test_wheel_holds_both_packages_templates_and_entry_points(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"scripts_spark/pipeline.py", "scripts_spark/step_04_match.py", "scripts/discogs_dump.py",
            "scripts_spark/templates/report.html"} <= names
    assert not any(name.startswith("tests/") for name in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "soundtracks-pipeline = scripts_spark.pipeline:main" in text


def test_bundle_job_runs_the_wheel_entry_point_on_the_manifest_runtime():
    bundle = (PROJECT_ROOT / "databricks.yml").read_text(encoding="utf-8")
    job = (PROJECT_ROOT / "resources" / "soundtracks_pipeline.job.yml").read_text(encoding="utf-8")
    manifest = runtime_manifest(PROJECT_ROOT / "requirements_stable.txt")
    # Moving to the next LTS changes the manifest; the bundle's default runtime must follow it.
    default = re.search(r"spark_version:\n\s+description:.*\n\s+default: (\S+)", bundle).group(1)
    assert default == manifest["databricks_spark_version"]
    assert "entry_point: soundtracks-pipeline" in job and "package_name: tmdb_discogs_soundtracks" in job
    assert "abfss://${var.container}@${var.storage_account}.dfs.core.windows.net/${var.data_path}" in job
    assert not re.search(r"(?i)(token|key|secret)\s*[:=]\s*['\"]?[A-Za-z0-9]{16,}", bundle + job)
