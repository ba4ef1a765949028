"""DATA_ROOT's marker, run lock and creation rule (issue 10 items 1, 12, 13), with real flock locks
held by other processes and the real pipeline entry point (which refuses before Spark starts)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import data_root
from scripts.settings import PROJECT_ROOT, Settings

PIPELINE = [sys.executable, "-m", "scripts_spark.pipeline"]


def _hold(lock: Path, text: str = "") -> subprocess.Popen:
    """Another process holding the flock on `lock`, as a second run would."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    if text:
        lock.write_text(text, encoding="utf-8")
    holder = subprocess.Popen(["flock", str(lock), "-c", "echo held; exec sleep 60"], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _stop(holder: subprocess.Popen) -> None:
    os.killpg(holder.pid, signal.SIGTERM)
    holder.wait(timeout=10)


def _pipeline(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DATA_ROOT", "SOURCE")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return subprocess.run([*PIPELINE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_claim_creates_marks_and_locks_a_sample_root(tmp_path: Path) -> None:
    root = tmp_path / "new root"
    assert data_root.claim(Settings(data_root=str(root), source="sample")) is None
    try:
        assert (root / data_root.MARKER_NAME).is_file()
        holder_text = (root / data_root.LOCK_NAME).read_text(encoding="utf-8")
        assert f"pid {os.getpid()} " in holder_text and str(PROJECT_ROOT) in holder_text
        # Another process cannot take it while this one holds it.
        other = subprocess.run(["flock", "-n", str(root / data_root.LOCK_NAME), "true"])
        assert other.returncode == 1
    finally:
        data_root.release(root)
    assert subprocess.run(["flock", "-n", str(root / data_root.LOCK_NAME), "true"]).returncode == 0


@pytest.mark.parametrize("source", ["auto", "api", "dump"])
def test_explicit_root_that_does_not_exist_is_refused(tmp_path: Path, source: str) -> None:
    refusal = data_root.claim(Settings(data_root=str(tmp_path / "typo"), source=source))
    assert refusal is not None and refusal.exit_code == 2
    assert "does not exist" in refusal.message and "SOURCE=sample" in refusal.message
    assert not (tmp_path / "typo").exists()


def test_a_file_as_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    refusal = data_root.claim(Settings(data_root=str(tmp_path / "f"), source="sample"))
    assert refusal is not None and refusal.exit_code == 2 and "not a folder" in refusal.message


def test_remote_root_takes_no_lock_and_says_what_protects_it(caplog) -> None:
    caplog.set_level("INFO", logger="scripts.data_root")
    assert data_root.claim(Settings(data_root="abfss://films@acct01.dfs.core.windows.net/x")) is None
    assert "max_concurrent_runs" in caplog.text


def test_sample_generation_rule(tmp_path: Path) -> None:
    default = str(PROJECT_ROOT / "data")
    assert data_root.may_generate_sample(Settings(data_root=default, source="auto"))
    assert data_root.may_generate_sample(Settings(data_root=str(tmp_path), source="sample"))
    assert not data_root.may_generate_sample(Settings(data_root=str(tmp_path), source="auto"))
    assert not data_root.may_generate_sample(Settings(data_root=default, source="dump"))


def test_pipeline_run_by_hand_refuses_a_root_another_run_holds_and_names_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    holder = _hold(root / data_root.LOCK_NAME, "pid 4242 on vm-1 by alice from checkout /other/clone\n")
    try:
        completed = _pipeline("--data-root", str(root), "--steps", "1", cwd=tmp_path)
    finally:
        _stop(holder)
    assert completed.returncode == 75, completed.stderr
    assert "another pipeline run is using" in completed.stderr
    assert "held by pid 4242 on vm-1 by alice from checkout /other/clone" in completed.stderr
    assert not (root / "raw").exists(), "nothing was generated or written"


def test_a_held_root_does_not_block_a_run_on_another_root(tmp_path: Path) -> None:
    busy, free = tmp_path / "busy", tmp_path / "free"
    busy.mkdir()
    holder = _hold(busy / data_root.LOCK_NAME)
    try:
        assert data_root.claim(Settings(data_root=str(free), source="sample")) is None
        assert data_root.claim(Settings(data_root=str(busy), source="sample")).exit_code == 75
    finally:
        data_root.release(free)
        _stop(holder)


def test_mistyped_root_is_an_error_and_generates_nothing(tmp_path: Path) -> None:
    completed = _pipeline("--data-root", str(tmp_path / "dta"), "--steps", "1", cwd=tmp_path)
    assert completed.returncode == 2
    assert "does not exist: check the path for a typo" in completed.stderr
    assert not (tmp_path / "dta").exists()
    existing = tmp_path / "empty"
    existing.mkdir()
    completed = _pipeline("--data-root", str(existing), "--steps", "1", cwd=tmp_path)
    assert completed.returncode == 2 and "sample data is generated only into the default" in completed.stderr
    assert not (existing / "raw" / "tmdb").exists()
