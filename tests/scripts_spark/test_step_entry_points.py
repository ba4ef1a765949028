"""Each step's own entry point, `python -m scripts_spark.step_0N_... [args]`, as a person runs it:
it honours its arguments (`--data-root X` runs on X), and `--help` only prints help."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import data_root
from scripts.gold_digest import gold_folder
from scripts_spark.pipeline import STEPS
from tests.scripts_spark.helpers import film, master, release

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MODULES = [step.__name__ for step in STEPS]


def _snapshot(folder: Path) -> dict:
    """Every file and folder under `folder` with its size and modification time."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _python_m(module: str, *args: str, env: dict, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture()
def env(python_env, tmp_path) -> dict:
    """A DATA_ROOT that is neither X nor the project's ./data, to catch a run on the wrong root."""
    return dict(python_env, DATA_ROOT=str(tmp_path / "env_root"),
                PYTHONPATH=os.pathsep.join(p for p in (str(PROJECT_ROOT), python_env.get("PYTHONPATH")) if p))


@pytest.mark.parametrize("module", MODULES)
def test_help_prints_help_and_touches_nothing(module, env, tmp_path):
    project_data = _snapshot(PROJECT_ROOT / "data")
    done = _python_m(module, "--help", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1000:]
    assert done.stdout.startswith(f"usage: python -m {module} ")
    assert "--data-root" in done.stdout and "--steps" not in done.stdout
    assert _snapshot(PROJECT_ROOT / "data") == project_data
    assert sorted(p.name for p in tmp_path.iterdir()) == []      # no env_root, no ./data in the cwd


@pytest.mark.parametrize("step", STEPS, ids=MODULES)
def test_data_root_argument_is_the_root(step, env, tmp_path):
    """The process's own arguments reach the step (a dry run: configuration and input, no Spark)."""
    target = tmp_path / "x"
    done = _python_m(step.__name__, "--data-root", str(target), "--dry-run", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1000:]
    assert f"steps {step.NAME} would run on {target} " in done.stdout
    bad = _python_m(step.__name__, "--data-root", str(target), "--no-such-option", env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-option" in bad.stderr


def _write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


@pytest.mark.slow
def test_each_step_runs_on_its_data_root(env, tmp_path, monkeypatch, spark):
    """All five entry points in turn on X: each writes its layer and its metrics under X, and
    nothing under the project's ./data or the environment's DATA_ROOT. The first and the last run
    as separate processes; the three between through their own `main` in this process, with the
    same environment and working folder (a process start costs a JVM start; every module's
    `python -m` start is `test_data_root_argument_is_the_root`'s)."""
    root = tmp_path / "x"
    _write_jsonl(root / "raw" / "tmdb" / "films.jsonl",
                 [film(1, "Spirited Away", "2001-07-20", ["Joe Hisaishi"], "千と千尋の神隠し", language="ja")])
    _write_jsonl(root / "raw" / "discogs" / "t_masters.jsonl",
                 [master(102, "Spirited Away (Original Soundtrack)", 2001, ["Joe Hisaishi"], main_release=1011)])
    _write_jsonl(root / "raw" / "discogs" / "t_releases.jsonl",
                 [release(1011, "Spirited Away (Original Soundtrack)", 2001, 102, ["Joe Hisaishi"])])
    project_data = _snapshot(PROJECT_ROOT / "data")
    monkeypatch.setenv("DATA_ROOT", env["DATA_ROOT"])
    monkeypatch.chdir(tmp_path)
    for number, step in enumerate(STEPS, 1):
        args = ("--data-root", str(root), "--run-id", f"s{number}", "--master", "local[1]")
        if number in (1, len(STEPS)):
            done = _python_m(step.__name__, *args, env=env, cwd=tmp_path, timeout=600)
            assert done.returncode == 0, f"{step.__name__}: {done.stderr[-2000:]}"
        else:
            assert step.main(list(args)) == 0, step.__name__
            data_root.release(root)   # this process holds the root's run lock until it exits
        metrics = json.loads((root / "metrics" / f"run_s{number}.json").read_text(encoding="utf-8"))
        assert [(s["step"], s["status"]) for s in metrics["steps"]] == [(step.NAME, "ok")]
        assert metrics["data_root"] == str(root)
    assert (gold_folder(root) / "soundtrack_matches").is_dir() and (gold_folder(root) / "film_soundtracks").is_dir()
    assert (root / "reports" / "report_s5.html").is_file()       # the last step's run ends with the report
    assert _snapshot(PROJECT_ROOT / "data") == project_data
    assert not (tmp_path / "env_root").exists() and not (tmp_path / "data").exists()
