"""scripts/sync_log.py: row format, escaping, header, tail, concurrent appends, secret guard, git state.

Every test writes to a temporary log: the tracked sync_log.md is never touched.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts import sync_log
from scripts.requirements_hash import PROJECT_ROOT, requirements_hash
from scripts.sync_log import (
    COLUMNS,
    HEADER,
    SecretInLogError,
    append_entry,
    escape_cell,
    git_commit,
    tail_entries,
)

FAKE_TOKEN = "fake-discogs-token-5c2e8a1f9d"
ROW_RE = re.compile(r"^\| .* \|$")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real secrets, requirements override or log path leak in; SYNC_LOG points at a temp file."""
    for name in ("TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN", "REQUIREMENTS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNC_LOG", str(tmp_path / "default_sync_log.md"))


def split_cells(row: str) -> list[str]:
    """Cells of a Markdown row, honouring `\\|` escapes."""
    assert ROW_RE.match(row), row
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row[1:-1])]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid",
                           "-c", "commit.gpgsign=false", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_row_has_every_column_in_order(tmp_path: Path) -> None:
    log = tmp_path / "log.md"
    row = append_entry("run", "ok", 12.345, details="steps 1-5", log_path=log)
    cells = split_cells(row)
    assert len(cells) == len(COLUMNS) == 11
    when, host, commit, action, result, req, python, spark, java, duration, details = cells
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", when)
    assert host and host != "-"
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?", commit)
    assert (action, result, duration, details) == ("run", "ok", "12.3", "steps 1-5")
    assert req == requirements_hash(PROJECT_ROOT / "requirements_stable.txt")[:12]
    assert python == ".".join(str(p) for p in sys.version_info[:3])
    assert re.fullmatch(r"3\.5\.\d+", spark)
    assert java == "-" or re.fullmatch(r"[\d._]+", java)
    assert log.read_text(encoding="utf-8") == HEADER + row + "\n"


def test_cells_escape_pipes_and_newlines(tmp_path: Path) -> None:
    row = append_entry("run", "failed (exit 3)", 1, details="a|b\nc\r\nd\te", log_path=tmp_path / "log.md")
    cells = split_cells(row)
    assert len(cells) == 11
    assert cells[-1] == "a\\|b<br>c<br>d e"
    assert "\n" not in row
    assert escape_cell("") == "-"


def test_header_is_written_once_and_a_missing_final_newline_is_repaired(tmp_path: Path) -> None:
    log = tmp_path / "nested" / "log.md"
    append_entry("run", "ok", 1, log_path=log)
    append_entry("run", "ok", 2, log_path=log)
    text = log.read_text(encoding="utf-8")
    assert text.count("| time (UTC) |") == 1 and text.startswith("# Sync log")
    log.write_text(text.rstrip("\n"), encoding="utf-8")
    append_entry("sync", "ok", 3, log_path=log)
    rows = tail_entries(10, log_path=log)
    assert [split_cells(r)[3] for r in rows] == ["run", "run", "sync"]


def test_tracked_sync_log_starts_with_the_header() -> None:
    """The tracked log holds the header this module writes (real runs append rows below it)."""
    assert (PROJECT_ROOT / "sync_log.md").read_text(encoding="utf-8").startswith(HEADER)


def test_tail_returns_the_last_rows(tmp_path: Path) -> None:
    log = tmp_path / "log.md"
    assert tail_entries(5, log_path=log) == []
    for i in range(4):
        append_entry("run", "ok", i, details=f"run {i}", log_path=log)
    last_two = tail_entries(2, log_path=log)
    assert [split_cells(r)[-1] for r in last_two] == ["run 2", "run 3"]
    assert len(tail_entries(10, log_path=log)) == 4
    assert tail_entries(0, log_path=log) == []


def test_concurrent_appends_do_not_interleave(tmp_path: Path) -> None:
    """Two processes x 20 appends to a log that does not exist yet: one header, 40 whole rows."""
    log = tmp_path / "log.md"
    script = textwrap.dedent(f"""
        import sys
        from scripts.sync_log import append_entry
        for i in range(20):
            append_entry("run", "ok", i, details=f"writer {{sys.argv[1]}} row {{i}} " + "x" * 300,
                         log_path={str(log)!r})
    """)
    writers = [subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=PROJECT_ROOT)
               for n in (1, 2)]
    assert [w.wait(timeout=60) for w in writers] == [0, 0]
    lines = log.read_text(encoding="utf-8").splitlines()
    assert sum(line.startswith("| time (UTC) |") for line in lines) == 1
    rows = tail_entries(1000, log_path=log)
    assert len(rows) == 40
    assert all(len(split_cells(r)) == 11 for r in rows)
    details = sorted(split_cells(r)[-1].split(" x")[0] for r in rows)
    assert details == sorted(f"writer {w} row {i}" for w in (1, 2) for i in range(20))


def test_append_waits_for_the_file_lock(tmp_path: Path) -> None:
    """While another holder has flock on the log, an append blocks; it completes once released."""
    log = tmp_path / "log.md"
    log.write_text(HEADER, encoding="utf-8")
    script = f"from scripts.sync_log import append_entry; append_entry('run', 'ok', 1, log_path={str(log)!r})"
    with open(log, "rb") as holder:
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        writer = subprocess.Popen([sys.executable, "-c", script], cwd=PROJECT_ROOT)
        with pytest.raises(subprocess.TimeoutExpired):
            writer.wait(timeout=2)
        assert tail_entries(5, log_path=log) == []
        fcntl.flock(holder.fileno(), fcntl.LOCK_UN)
    assert writer.wait(timeout=60) == 0
    assert len(tail_entries(5, log_path=log)) == 1


def test_refuses_a_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCOGS_TOKEN", FAKE_TOKEN)
    log = tmp_path / "log.md"
    with pytest.raises(SecretInLogError, match="'details' cell contains the value of DISCOGS_TOKEN") as err:
        append_entry("run", "ok", 1, details=f"token={FAKE_TOKEN}", log_path=log)
    assert FAKE_TOKEN not in str(err.value)
    assert not log.exists()
    with pytest.raises(SecretInLogError):
        append_entry(f"sync {FAKE_TOKEN}", "ok", 1, log_path=log)
    append_entry("run", "ok", 1, details="no secret here", log_path=log)
    assert FAKE_TOKEN not in log.read_text(encoding="utf-8")


def test_refuses_a_secret_from_dotenv(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"export TMDB_API_KEY='{FAKE_TOKEN}'  \n# comment\n", encoding="utf-8")
    with pytest.raises(SecretInLogError, match="TMDB_API_KEY"):
        append_entry("run", "ok", 1, details=FAKE_TOKEN, log_path=tmp_path / "log.md", project_root=tmp_path)


def test_commit_is_dirty_only_for_tracked_changes_other_than_the_log(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "code.py").write_text("x = 1\n", encoding="utf-8")
    log = repo / "sync_log.md"
    log.write_text(HEADER, encoding="utf-8")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "init")
    head = git(repo, "rev-parse", "--short", "HEAD")

    row = append_entry("run", "ok", 1, log_path=log, project_root=repo)
    assert split_cells(row)[2] == head, "appending to the tracked log must not make the tree dirty"
    assert split_cells(row)[5] == "-", "no requirements file in this project root"
    (repo / "untracked.txt").write_text("new\n", encoding="utf-8")
    assert git_commit(repo, log) == head
    (repo / "code.py").write_text("x = 2\n", encoding="utf-8")
    assert git_commit(repo, log) == f"{head}-dirty"


def test_commit_is_unknown_outside_git(tmp_path: Path) -> None:
    outside = tmp_path / "plain"
    outside.mkdir()
    env_ceiling = os.environ.get("GIT_CEILING_DIRECTORIES")
    os.environ["GIT_CEILING_DIRECTORIES"] = str(tmp_path)
    try:
        assert git_commit(outside) == "unknown"
    finally:
        if env_ceiling is None:
            os.environ.pop("GIT_CEILING_DIRECTORIES")
        else:
            os.environ["GIT_CEILING_DIRECTORIES"] = env_ceiling


def test_cli_append_and_tail(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = tmp_path / "log.md"
    assert sync_log.main(["tail", "--log", str(log)]) == 0
    assert "no entries" in capsys.readouterr().out
    assert sync_log.main(["append", "--action", "run", "--result", "ok", "--duration", "12.3",
                          "--details", "cli", "--log", str(log)]) == 0
    row = capsys.readouterr().out.strip()
    assert split_cells(row)[-2:] == ["12.3", "cli"]
    assert sync_log.main(["tail", "-n", "1", "--log", str(log)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[0].startswith("| time (UTC) |") and shown[-1] == row


def test_cli_uses_sync_log_env_and_refuses_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    log = tmp_path / "from_env.md"
    monkeypatch.setenv("SYNC_LOG", str(log))
    monkeypatch.setenv("TMDB_API_TOKEN", FAKE_TOKEN)
    assert sync_log.main(["append", "--action", "run", "--result", "ok", "--duration", "1",
                          "--details", FAKE_TOKEN]) == 3
    err = capsys.readouterr().err
    assert "TMDB_API_TOKEN" in err and FAKE_TOKEN not in err
    assert not log.exists()
    assert sync_log.main(["append", "--action", "run", "--result", "ok", "--duration", "1"]) == 0
    assert len(tail_entries(5)) == 1 and log.exists()


def test_runs_with_the_system_python_without_the_venv(tmp_path: Path) -> None:
    """run_pipeline_safe.sh falls back to python3 when the venv is broken: stdlib only."""
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no system python3")
    log = tmp_path / "log.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE", "PYTHONPATH"))}
    env.update({"SYNC_LOG": str(log), "PYTHONPATH": str(PROJECT_ROOT)})
    completed = subprocess.run([system_python, "-I", "-c",
                                "import sys; sys.path.insert(0, sys.argv[1]); "
                                "from scripts.sync_log import main; "
                                "sys.exit(main(['append', '--action', 'run', '--result', 'failed (exit 1)', "
                                "'--duration', '0.5']))", str(PROJECT_ROOT)],
                               env=env, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    cells = split_cells(tail_entries(1, log_path=log)[0])
    assert cells[4] == "failed (exit 1)" and len(cells) == 11


def test_set_aside_and_put_back_leave_an_untracked_log_alone(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    log = tmp_path / "log.md"
    append_entry("run", "ok", 1.0, log_path=log)
    before = log.read_text(encoding="utf-8")
    assert sync_log.main(["set-aside", "--log", str(log)]) == 0
    assert capsys.readouterr().out.startswith("0 row(s) set aside in ")
    assert sync_log.set_aside(PROJECT_ROOT, log) == 0 and sync_log.put_back(tmp_path, log) == 0
    assert log.read_text(encoding="utf-8") == before, "a log git does not track is never restored or rewritten"
    assert sync_log.table_rows(before) == tail_entries(10, log)
