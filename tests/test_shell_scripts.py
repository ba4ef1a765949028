"""run_pipeline_safe.sh, rebuild_venv.sh, the Makefile and .ci/run, run as a user runs them.

Nothing here rebuilds or deletes the real .venv, writes the tracked sync_log.md, or cleans the real
project: destructive cases use VENV_DIR / SYNC_LOG / LOG_DIR / RUN_LOCK in temp folders, a fake
pipeline (PIPELINE_CMD), and a copy of the Makefile in a fake tree.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.requirements_hash import PROJECT_ROOT, requirements_hash

RUN = PROJECT_ROOT / "run_pipeline_safe.sh"
REBUILD = PROJECT_ROOT / "rebuild_venv.sh"
REAL_VENV = PROJECT_ROOT / ".venv"
FAKE_TOKEN = "fake-tmdb-token-93be1d07aa"
PY = shlex.quote(sys.executable)  # the fake pipelines' interpreter
ISOLATED_VARS = ("DATA_ROOT", "SOURCE", "TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN", "MIN_FREE_GB",
                 "REQUIREMENTS_FILE", "VENV_DIR", "PYTHON", "PIP_VERSION", "SYNC_LOG", "LOG_DIR", "RUN_LOCK",
                 "PIPELINE_CMD", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")


def sh(cmd: list[str], env: dict[str, str], timeout: int = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, **kwargs)


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str]:
    """Environment for run_pipeline_safe.sh with every side effect pointed into tmp_path."""
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
    env.update({
        "DATA_ROOT": str(tmp_path / "data"),
        "SOURCE": "sample",
        "MIN_FREE_GB": "0.01",
        "SYNC_LOG": str(tmp_path / "sync_log.md"),
        "LOG_DIR": str(tmp_path / "logs"),
        "RUN_LOCK": str(tmp_path / "run.lock"),
    })
    return env


def sync_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    rows = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| time (UTC)")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row[1:-1])] for row in rows]


# --- run_pipeline_safe.sh ---------------------------------------------------------------------------

def test_run_propagates_the_pipeline_exit_code_and_records_the_run(run_env: dict[str, str], tmp_path: Path) -> None:
    run_env["PIPELINE_CMD"] = f"{PY} -c 'import sys; print(\"argv\", sys.argv[1:]); sys.exit(3)'"
    data_root = tmp_path / "my data"
    completed = sh([RUN, "--steps", "1-5", "--data-root", data_root], run_env)
    assert completed.returncode == 3
    assert f"argv ['--steps', '1-5', '--data-root', '{data_root}']" in completed.stdout
    assert "pipeline FAILED: exit 3" in completed.stderr
    assert "finished: exit 0" not in completed.stdout + completed.stderr

    logs = list((tmp_path / "logs").glob("pipeline_*.log"))
    assert len(logs) == 1 and re.fullmatch(r"pipeline_\d{8}T\d{6}Z\.log", logs[0].name)
    log_text = logs[0].read_text(encoding="utf-8")
    assert "preflight ok" in log_text and "argv [" in log_text and "pipeline FAILED: exit 3" in log_text
    assert f"data_root: {data_root} does not exist yet" in log_text, "preflight checks the --data-root given"

    rows = sync_rows(tmp_path / "sync_log.md")
    assert len(rows) == 1
    assert rows[0][3:5] == ["run", "failed (exit 3)"]
    assert re.fullmatch(r"\d+\.\d", rows[0][9])
    assert logs[0].name in rows[0][10]


def test_run_success_is_reported_only_after_exit_zero(run_env: dict[str, str], tmp_path: Path) -> None:
    run_env["PIPELINE_CMD"] = f"{PY} -c 'print(\"results in gold/soundtrack_matches\")'"
    run_env["TMDB_API_TOKEN"] = FAKE_TOKEN
    completed = sh([RUN, "--steps", "2-3"], run_env)
    assert completed.returncode == 0, completed.stderr
    assert "results in gold/soundtrack_matches" in completed.stdout
    assert "pipeline finished: exit 0" in completed.stdout
    rows = sync_rows(tmp_path / "sync_log.md")
    assert [r[3:5] for r in rows] == [["run", "ok"]]
    assert "args: --steps 2-3" in rows[0][10]
    everything = completed.stdout + completed.stderr + (tmp_path / "sync_log.md").read_text(encoding="utf-8")
    everything += "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "logs").iterdir())
    assert FAKE_TOKEN not in everything


def test_run_with_a_secret_in_its_arguments_is_logged_without_them(run_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    run_env["PIPELINE_CMD"] = "true"
    run_env["DISCOGS_TOKEN"] = FAKE_TOKEN
    completed = sh([RUN, "--token", FAKE_TOKEN], run_env)
    assert completed.returncode == 0
    rows = sync_rows(tmp_path / "sync_log.md")
    assert [r[3:5] for r in rows] == [["run", "ok"]]
    assert "arguments withheld" in rows[0][10]
    assert FAKE_TOKEN not in (tmp_path / "sync_log.md").read_text(encoding="utf-8")


def test_run_exit_code_is_the_pipelines_not_tees(run_env: dict[str, str], tmp_path: Path) -> None:
    """Lots of output through tee, then a failure: the failure's code comes through."""
    run_env["PIPELINE_CMD"] = f"{PY} -c 'import sys; [print(i) for i in range(20000)]; sys.exit(42)'"
    assert sh([RUN], run_env).returncode == 42


def test_run_stops_when_the_preflight_fails(run_env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "pipeline-ran"
    run_env["PIPELINE_CMD"] = f"touch {marker}"
    run_env["VENV_DIR"] = str(tmp_path / "no-venv")
    completed = sh([RUN], run_env)
    assert completed.returncode == 1
    assert "venv missing: run ./rebuild_venv.sh" in completed.stdout, "preflight output goes through tee"
    assert "preflight failed (exit 1): pipeline not run" in completed.stderr
    assert not marker.exists()
    if shutil.which("python3", path=run_env["PATH"]) is None:
        pytest.skip("no python3 on PATH for the fallback logger")
    rows = sync_rows(tmp_path / "sync_log.md")
    assert [r[3:5] for r in rows] == [["run", "failed (preflight, exit 1)"]], "logged with the system python3"


def test_run_refuses_while_another_run_holds_the_lock(run_env: dict[str, str], tmp_path: Path) -> None:
    marker = tmp_path / "pipeline-ran"
    run_env["PIPELINE_CMD"] = f"touch {marker}"
    lock = Path(run_env["RUN_LOCK"])
    holder = subprocess.Popen(["flock", str(lock), "-c", "echo held; exec sleep 60"], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        completed = sh([RUN], run_env)
    finally:
        os.killpg(holder.pid, signal.SIGTERM)
        holder.wait(timeout=10)
    assert completed.returncode == 75
    assert completed.stderr.splitlines() == [f"another pipeline run is in progress (lock {lock})",
                                             "run_pipeline_safe: exit 75 (another run holds the lock)"]
    assert not marker.exists()
    assert sh([RUN], run_env).returncode == 0, "the lock is free again once the holder is gone"
    assert marker.exists()


@pytest.mark.parametrize("code, meaning", [(1, "a step or the preflight failed"),
                                           (2, "usage or configuration error"),
                                           (75, "another run holds the lock")])
def test_run_exit_codes_stay_visible_through_make(run_env: dict[str, str], tmp_path: Path, code: int,
                                                   meaning: str) -> None:
    """Issue 10 item 11: make turns every failure into its own 2; the runner's code is printed."""
    run_env["PIPELINE_CMD"] = f"{PY} -c 'raise SystemExit({code})'"
    direct = sh([RUN], run_env)
    assert direct.returncode == code
    assert direct.stderr.splitlines()[-1] == f"run_pipeline_safe: exit {code} ({meaning})"
    via_make = sh(["make", "--no-print-directory", "-f", PROJECT_ROOT / "Makefile", "run"], run_env, cwd=tmp_path)
    assert via_make.returncode == 2
    assert f"make run: run_pipeline_safe.sh exited with {code} (codes: " in via_make.stderr
    assert f"Error {code}" in via_make.stderr


def test_make_run_with_a_data_root_holding_a_space_checks_and_passes_that_folder(run_env: dict[str, str],
                                                                                  tmp_path: Path) -> None:
    """Issue 10 item 10: the preflight used to check the wrong folder and the run failed."""
    root = tmp_path / "a b"
    root.mkdir()
    run_env["PIPELINE_CMD"] = f"{PY} -c 'import sys; print(\"ARGS\", sys.argv[1:])'"
    completed = sh(["make", "--no-print-directory", "-f", PROJECT_ROOT / "Makefile", "run", f"DATA_ROOT={root}",
                    "STEPS=2-3"], run_env, cwd=tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"data_root: {root} is writable" in completed.stdout
    assert f"ARGS ['--data-root', '{root}', '--steps', '2-3']" in completed.stdout


def test_run_interrupted_is_recorded_with_the_pipelines_code(run_env: dict[str, str], tmp_path: Path) -> None:
    """Ctrl-C reaches the pipeline; the script still logs the run and exits with 130."""
    run_env["PIPELINE_CMD"] = f"{PY} -c 'import time; print(\"started\", flush=True); time.sleep(60)'"
    runner = subprocess.Popen([str(RUN)], env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True, stdin=subprocess.DEVNULL)
    try:
        for line in runner.stdout:
            if line.strip() == "started":
                break
        os.killpg(runner.pid, signal.SIGINT)
        rest = runner.stdout.read()
        assert runner.wait(timeout=30) == 130
    finally:
        if runner.poll() is None:
            os.killpg(runner.pid, signal.SIGKILL)
    assert "pipeline FAILED: exit 130" in rest
    assert [r[3:5] for r in sync_rows(tmp_path / "sync_log.md")] == [["run", "failed (exit 130)"]]
    log_text = next((tmp_path / "logs").glob("pipeline_*.log")).read_text(encoding="utf-8")
    assert "KeyboardInterrupt" in log_text, "tee survives the interrupt and keeps the pipeline's last words"


def test_run_usage(run_env: dict[str, str]) -> None:
    completed = sh([RUN, "-h"], run_env)
    assert completed.returncode == 0 and completed.stdout.startswith("usage: run_pipeline_safe.sh")


# --- rebuild_venv.sh --------------------------------------------------------------------------------

def fake_venv(root: Path, python: str, stamp: str) -> Path:
    """A folder that looks like a venv to rebuild_venv.sh: bin/python and a stamp."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "python").symlink_to(python)
    (root / "pyvenv.cfg").write_text("home = /nowhere\n", encoding="utf-8")
    (root / ".requirements.sha256").write_text(stamp + "\n", encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, float]:
    return {str(p): p.lstat().st_mtime for p in sorted(root.rglob("*"))}


@pytest.fixture
def rebuild_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
    # Whatever a test gets wrong, it cannot build: there is no interpreter to build with.
    env["PYTHON"] = "/nonexistent/python3.10"
    return env


def test_rebuild_is_a_no_op_when_stamp_python_and_packages_match(rebuild_env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    # The fake venv has no packages of its own, so requirements that pin nothing match it.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# python: 3.10\n", encoding="utf-8")
    current = requirements_hash(requirements)
    venv = fake_venv(tmp_path / "venv", sys.executable, current)
    before = snapshot(venv)
    rebuild_env.update({"VENV_DIR": str(venv), "REQUIREMENTS_FILE": str(requirements)})
    completed = sh([REBUILD], rebuild_env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == f"venv up to date (requirements {current[:12]})"
    assert snapshot(venv) == before


def test_rebuild_checks_the_packages_not_only_the_stamp(rebuild_env: dict[str, str], tmp_path: Path) -> None:
    # A matching stamp on a venv that has none of the pinned packages: drift, named, and a repair tried
    # (which needs an interpreter, absent here, so the venv is left as it was).
    current = requirements_hash(PROJECT_ROOT / "requirements_stable.txt")
    venv = fake_venv(tmp_path / "venv", sys.executable, current)
    rebuild_env["VENV_DIR"] = str(venv)
    completed = sh([REBUILD], rebuild_env)
    assert completed.returncode == 3
    assert completed.stdout.startswith("venv drifted from the pins: ")
    assert "pyspark missing (pinned 3.5.0)" in completed.stdout and completed.stdout.rstrip().endswith(": repairing")


def test_rebuild_is_a_no_op_on_the_real_venv(rebuild_env: dict[str, str]) -> None:
    stamp = REAL_VENV / ".requirements.sha256"
    current = requirements_hash(PROJECT_ROOT / "requirements_stable.txt")
    if not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != current:
        pytest.skip("the real .venv is not stamped for the current requirements (run ./rebuild_venv.sh)")
    before = stamp.stat().st_mtime_ns
    completed = sh([REBUILD], rebuild_env)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("venv up to date")
    assert stamp.stat().st_mtime_ns == before


def test_rebuild_with_a_stale_stamp_needs_python_and_keeps_the_venv(rebuild_env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    venv = fake_venv(tmp_path / "venv", sys.executable, "0" * 64)
    before = snapshot(venv)
    rebuild_env["VENV_DIR"] = str(venv)
    completed = sh([REBUILD], rebuild_env)
    assert completed.returncode == 3
    assert completed.stderr.strip() == (
        "PYTHON=/nonexistent/python3.10 is not a runnable Python 3.10: unset it or point it at one")
    assert snapshot(venv) == before, "a failed lookup must not touch the existing venv"


def test_rebuild_rejects_a_venv_of_the_wrong_python(rebuild_env: dict[str, str], tmp_path: Path) -> None:
    other = shutil.which("python3", path="/usr/bin:/bin")
    if other is None or subprocess.run([other, "-c", "import sys; sys.exit(sys.version_info[:2] == (3, 10))"]).returncode:
        pytest.skip("needs a system python3 that is not 3.10")
    current = requirements_hash(PROJECT_ROOT / "requirements_stable.txt")
    rebuild_env["VENV_DIR"] = str(fake_venv(tmp_path / "venv", other, current))
    completed = sh([REBUILD], rebuild_env)
    assert completed.returncode == 3, "a matching stamp is not enough: the venv's python must be 3.10"


def system_only_path(tmp_path: Path) -> Path:
    """A PATH folder with every command of /usr/bin and /bin except python3.10 and pyenv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/bin", "/bin"):
        for entry in Path(folder).iterdir():
            target = bin_dir / entry.name
            if not entry.name.startswith(("python3.10", "pyenv")) and not os.path.lexists(target):
                target.symlink_to(entry)
    if not (bin_dir / "python3").exists():
        pytest.skip("needs a system python3 to bootstrap")
    return bin_dir


def test_rebuild_without_any_python_310_names_the_fix(tmp_path: Path) -> None:
    env = {"PATH": str(system_only_path(tmp_path)), "HOME": str(tmp_path),
           "PYENV_ROOT": str(tmp_path / "no-pyenv"), "VENV_DIR": str(tmp_path / "venv")}
    completed = sh([REBUILD], env)
    assert completed.returncode == 3
    assert completed.stderr.strip() == (
        "no Python 3.10 found: install it (pyenv install 3.10) or set PYTHON=/path/to/python3.10")
    assert not (tmp_path / "venv").exists()


def test_rebuild_builds_stamps_last_and_redoes_an_unfinished_build(tmp_path: Path) -> None:
    """A real (package-free) build found through pyenv: stamp written last; a failed install leaves none."""
    # Python 3.10 only where pyenv keeps it: not on PATH, so the pyenv fallback is what finds it.
    pyenv_python = tmp_path / "pyenv" / "versions" / "3.10.99" / "bin" / "python3.10"
    pyenv_python.parent.mkdir(parents=True)
    pyenv_python.symlink_to(Path(sys.executable).resolve())
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# python: 3.10\n", encoding="utf-8")
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
    env.update({"PATH": str(system_only_path(tmp_path)), "HOME": str(tmp_path),
                "PYENV_ROOT": str(tmp_path / "pyenv"), "VENV_DIR": str(venv),
                "REQUIREMENTS_FILE": str(requirements), "PIP_VERSION": ""})

    built = sh([REBUILD], env)
    assert built.returncode == 0, built.stderr
    assert f"creating {venv} with {pyenv_python}" in built.stdout
    stamp = venv / ".requirements.sha256"
    assert stamp.read_text(encoding="utf-8").strip() == requirements_hash(requirements)
    version = sh([venv / "bin" / "python", "-c", "import sys; print(sys.version_info[:2])"], env).stdout
    assert version.strip() == "(3, 10)"
    assert sh([REBUILD], env).stdout.strip().startswith("venv up to date")

    requirements.write_text("# python: 3.10\n./no-such-package\n", encoding="utf-8")
    failed = sh([REBUILD], env)
    assert failed.returncode == 5
    assert "the venv is left unstamped" in failed.stderr
    assert not stamp.exists()

    requirements.write_text("# python: 3.10\n# a comment\n", encoding="utf-8")
    (venv / "marker").write_text("old", encoding="utf-8")
    redone = sh([REBUILD], env)
    assert redone.returncode == 0 and "installing" in redone.stdout
    assert stamp.read_text(encoding="utf-8").strip() == requirements_hash(requirements)
    assert (venv / "marker").exists(), "a refresh installs in place"

    forced = sh([REBUILD, "--force"], env)
    assert forced.returncode == 0 and f"removing {venv} (--force)" in forced.stdout
    assert not (venv / "marker").exists() and stamp.exists()
    assert not list(tmp_path.glob("venv.old.*"))


def test_rebuild_will_not_delete_a_folder_that_is_not_a_venv(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work", encoding="utf-8")
    env["VENV_DIR"] = str(precious)
    completed = sh([REBUILD, "--force"], env)
    assert completed.returncode == 4
    assert "not a virtualenv" in completed.stderr
    assert (precious / "thesis.tex").read_text(encoding="utf-8") == "years of work"


def test_rebuild_usage() -> None:
    assert sh([REBUILD, "-h"], dict(os.environ)).returncode == 0
    bad = sh([REBUILD, "--bogus"], dict(os.environ))
    assert bad.returncode == 2 and bad.stderr.startswith("usage: rebuild_venv.sh")


# --- Makefile ---------------------------------------------------------------------------------------

@pytest.fixture
def fake_project(tmp_path: Path) -> Path:
    """A copy of the Makefile in a tree holding everything `make clean` should and should not remove."""
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(PROJECT_ROOT / "Makefile", root / "Makefile")
    keep = ["data/raw/tmdb/films.jsonl", "data/raw/discogs/x_masters.xml.gz", "data/silver/films/part-0.parquet",
            "data/.gitkeep", "logs/.gitkeep", "scripts/tool.py", ".venv/bin/python", ".git/HEAD",
            "data/raw/__pycache__/keep.pyc", "sync_log.md"]
    remove = ["scripts/__pycache__/tool.cpython-310.pyc", "tests/sub/__pycache__/t.pyc", ".pytest_cache/v/x",
              ".coverage", ".coverage.host.123", "htmlcov/index.html", "spark-warehouse/t/part",
              "metastore_db/db.lck", "derby.log", "logs/pipeline_20260101T000000Z.log", "build/lib/x.py",
              "dist/p.whl", "proj.egg-info/PKG-INFO", ".venv.old.1234/bin/python"]
    for rel in keep + remove:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel, encoding="utf-8")
    root.joinpath("keep.txt").write_text("\n".join(keep), encoding="utf-8")
    root.joinpath("remove.txt").write_text("\n".join(remove), encoding="utf-8")
    # make clean-data runs scripts/clean_data.py from the project: copy it and what it imports.
    for module in ("__init__.py", "settings.py", "data_root.py", "clean_data.py", "console.py", "exit_codes.py"):
        shutil.copy(PROJECT_ROOT / "scripts" / module, root / "scripts" / module)
    (root / "data" / ".soundtracks-data-root").write_text("marker\n", encoding="utf-8")
    return root


def make(args: list[str], cwd: Path, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
    env.update(extra_env)
    return sh(["make", "--no-print-directory", *args], env, cwd=cwd)


def test_make_clean_removes_caches_and_keeps_data(fake_project: Path, tmp_path: Path) -> None:
    completed = make(["-f", str(fake_project / "Makefile"), "clean"], cwd=tmp_path)  # run from elsewhere
    assert completed.returncode == 0, completed.stderr
    for rel in (fake_project / "keep.txt").read_text(encoding="utf-8").splitlines():
        assert (fake_project / rel).exists(), f"make clean removed {rel}"
    for rel in (fake_project / "remove.txt").read_text(encoding="utf-8").splitlines():
        assert not (fake_project / rel).exists(), f"make clean left {rel}"
    assert not (fake_project / ".venv.old.1234").exists()


def test_make_clean_data_removes_derived_layers_only(fake_project: Path) -> None:
    completed = make(["clean-data"], cwd=fake_project)
    assert completed.returncode == 0, completed.stderr
    assert (fake_project / "data/raw/tmdb/films.jsonl").exists()
    assert not (fake_project / "data/silver").exists()
    assert f"removing {fake_project}/data/silver/" in completed.stdout, "each removed folder is printed"
    remote = make(["clean-data", "DATA_ROOT=abfss://films@acct01.dfs.core.windows.net/x"], cwd=fake_project)
    assert remote.returncode != 0 and "is remote: not touching it" in remote.stderr


# --- make clean-data against decoys (issue 10 item 1) ------------------------------------------------

def _derived(root: Path, layers=("gold", "metrics", "reports")) -> None:
    for layer in layers:
        (root / layer).mkdir(parents=True, exist_ok=True)
        (root / layer / "keep-me").write_text("x", encoding="utf-8")


def test_clean_data_with_an_unquoted_path_repro_deletes_nothing(fake_project: Path, tmp_path: Path) -> None:
    """The issue's repro: DATA_ROOT="/tmp/x/st copy" used to delete /tmp/x/st/gold."""
    decoy = tmp_path / "x" / "st"
    _derived(decoy)
    (tmp_path / "x" / "st copy").mkdir()
    completed = make(["clean-data", f"DATA_ROOT={tmp_path}/x/st copy"], cwd=fake_project)
    assert completed.returncode == 2
    assert "has no .soundtracks-data-root marker" in completed.stderr
    assert (decoy / "gold" / "keep-me").exists()
    missing = make(["clean-data", f"DATA_ROOT={tmp_path}/x/st nothing"], cwd=fake_project)
    assert missing.returncode == 2 and "does not exist" in missing.stderr, "a missing root stops make"
    assert (decoy / "gold" / "keep-me").exists()


def test_clean_data_refuses_home_and_slash_even_when_marked(fake_project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    _derived(home)
    (home / ".soundtracks-data-root").write_text("", encoding="utf-8")
    for root, env in ((home, {"HOME": str(home)}), (fake_project, {}), (Path("/"), {})):
        completed = make(["clean-data", f"DATA_ROOT={root}"], cwd=fake_project, **env)
        assert completed.returncode == 2 and "a protected folder" in completed.stderr, completed.stderr
    assert (home / "reports" / "keep-me").exists() and (home / "metrics" / "keep-me").exists()
    # A folder holding $HOME is refused too.
    completed = make(["clean-data", f"DATA_ROOT={tmp_path}"], cwd=fake_project, HOME=str(home))
    assert completed.returncode == 2 and "a protected folder" in completed.stderr


def test_clean_data_unlinks_a_symlinked_layer_and_never_follows_links(fake_project: Path, tmp_path: Path) -> None:
    root, outside = tmp_path / "root with space", tmp_path / "outside"
    _derived(outside)
    _derived(root, layers=("silver",))
    (root / ".soundtracks-data-root").write_text("", encoding="utf-8")
    (root / "gold").symlink_to(outside / "gold", target_is_directory=True)
    (root / "silver" / "escape").symlink_to(outside / "metrics", target_is_directory=True)
    (root / "raw").mkdir()
    completed = make(["clean-data", f"DATA_ROOT={root}"], cwd=fake_project)
    assert completed.returncode == 0, completed.stderr
    assert f"removing link {root}/gold (its target is left alone)" in completed.stdout
    assert not os.path.lexists(root / "gold") and not (root / "silver").exists() and (root / "raw").is_dir()
    assert (outside / "gold" / "keep-me").exists() and (outside / "metrics" / "keep-me").exists()


def test_clean_data_honours_data_root_from_dotenv(fake_project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "from dotenv"
    _derived(elsewhere)
    (elsewhere / ".soundtracks-data-root").write_text("", encoding="utf-8")
    (fake_project / ".env").write_text(f"DATA_ROOT='{elsewhere}'\n", encoding="utf-8")
    completed = make(["clean-data"], cwd=fake_project)
    assert completed.returncode == 0, completed.stderr
    assert not (elsewhere / "gold").exists(), "the .env DATA_ROOT is the one cleaned"
    assert (fake_project / "data/silver/films/part-0.parquet").exists(), "./data is left alone"


def test_clean_data_waits_for_no_run_it_refuses_while_one_holds_the_root(fake_project: Path) -> None:
    root = fake_project / "data"
    holder = subprocess.Popen(["flock", str(root / ".soundtracks-run.lock"), "-c", "echo held; exec sleep 60"],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        completed = make(["clean-data"], cwd=fake_project)
    finally:
        os.killpg(holder.pid, signal.SIGTERM)
        holder.wait(timeout=10)
    assert completed.returncode == 2 and "another pipeline run is using" in completed.stderr
    assert "Error 75" in completed.stderr
    assert (root / "silver" / "films" / "part-0.parquet").exists()


def test_make_clean_and_clean_data_work_in_a_checkout_path_with_a_space(fake_project: Path, tmp_path: Path) -> None:
    spaced = tmp_path / "my projects" / "sound tracks"
    spaced.parent.mkdir()
    shutil.copytree(fake_project, spaced, symlinks=True)
    completed = make(["clean"], cwd=spaced)
    assert completed.returncode == 0, completed.stderr
    assert not (spaced / "scripts" / "__pycache__").exists() and (spaced / "data" / "raw" / "tmdb").is_dir()
    completed = make(["-f", str(spaced / "Makefile"), "clean-data"], cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert not (spaced / "data" / "silver").exists() and (spaced / "data" / "raw" / "tmdb" / "films.jsonl").exists()
    help_text = make(["-f", str(spaced / "Makefile")], cwd=tmp_path)
    assert help_text.returncode == 0 and "clean-data" in help_text.stdout


def test_make_help_is_the_default_and_lists_every_phony_target(fake_project: Path) -> None:
    makefile = (fake_project / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, flags=re.M).group(1).split()
    targets = re.findall(r"^([a-z][a-z-]*):", makefile, flags=re.M)
    assert sorted(targets) == sorted(phony), "every target is .PHONY"
    completed = make([], cwd=fake_project)
    assert completed.returncode == 0
    listed = {line.split()[0]: line for line in completed.stdout.splitlines() if line.startswith("  ")}
    assert set(listed) == set(phony)
    assert all(len(line.split(None, 1)) == 2 for line in listed.values()), "each has a description"


def test_make_paths_are_anchored_at_the_project_root(fake_project: Path, tmp_path: Path) -> None:
    makefile = str(fake_project / "Makefile")
    run = make(["-n", "-f", makefile, "run", "DATA_ROOT=/srv/films", "STEPS=2-3"], cwd=tmp_path)
    assert f"'{fake_project}/run_pipeline_safe.sh' --data-root '/srv/films' --steps '2-3'" in run.stdout
    assert f"VENV_DIR='{fake_project}/.venv' '{fake_project}/rebuild_venv.sh'" in run.stdout
    # Without DATA_ROOT, make passes none: the pipeline takes it from .env, else <project>/data.
    default_root = make(["-n", "-f", makefile, "dryrun"], cwd=tmp_path)
    assert f"cd '{fake_project}' && '{fake_project}/.venv/bin/python' -m scripts_spark.pipeline --dry-run" \
        in default_root.stdout
    assert "--data-root" not in default_root.stdout
    test = make(["-n", "-f", makefile, "test", "PYTEST_ARGS=-k smoke"], cwd=tmp_path)
    assert (f"cd '{fake_project}' && '{fake_project}/.venv/bin/python' -m pytest --cov=scripts_spark "
            "--cov=scripts --cov-report=term --cov-fail-under=80 --durations=15 -k smoke") in test.stdout
    # Issue 10 item 10: a DATA_ROOT with spaces (or a quote) reaches the script as one argument.
    spaced = make(["-n", "-f", makefile, "run", "DATA_ROOT=/tmp/a b/it's"], cwd=tmp_path)
    assert shlex.split(spaced.stdout.splitlines()[1].rstrip(" \\"))[2:4] == ["--data-root", "/tmp/a b/it's"]


# --- .ci/run ----------------------------------------------------------------------------------------

def test_ci_script_installs_what_is_missing_then_exits_with_make_tests_code(tmp_path: Path) -> None:
    """.ci/run with apt-get and make stubbed: `make test` runs from the repo root, its code is returned."""
    script = PROJECT_ROOT / ".ci" / "run"
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    calls = tmp_path / "calls.txt"
    for name, code in (("apt-get", 0), ("make", 7)):
        stub = stubs / name
        stub.write_text(f'#!/bin/sh\necho "{name} $* (cwd $(pwd))" >> {calls}\nexit {code}\n', encoding="utf-8")
        stub.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
    env.update({"PATH": f"{stubs}:{env['PATH']}", "CI": "true"})
    completed = sh([script], env, cwd=tmp_path)
    assert completed.returncode == 7, completed.stderr
    lines = calls.read_text(encoding="utf-8").splitlines()
    assert lines[-1] == f"make test (cwd {PROJECT_ROOT})"
    apt = lines[:-1]
    if apt:  # something was missing on this machine: update first, then one quiet install
        assert apt[0].startswith("apt-get update -qq") and apt[1].startswith("apt-get install -y -qq")
    assert sh([script, "-h"], env).returncode == 0
    assert sh([script, "--bogus"], env).returncode == 2


@pytest.mark.parametrize("script", ["rebuild_venv.sh", "check_env.sh", "run_pipeline_safe.sh"])
def test_shell_scripts_are_strict_executable_bash(script: str) -> None:
    path = PROJECT_ROOT / script
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert os.access(path, os.X_OK)
    assert sh(["bash", "-n", path], dict(os.environ)).returncode == 0
