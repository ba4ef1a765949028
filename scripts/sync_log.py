"""Append-only run log: one Markdown table row per pipeline run, sync or deploy, in `sync_log.md`.

    python -m scripts.sync_log append --action run --result ok --duration 12.3 [--details TEXT] [--log FILE]
    python -m scripts.sync_log tail [-n 10] [--log FILE]

The log file is the `--log` argument, else env SYNC_LOG, else `sync_log.md` at the project root.
Columns: UTC time, host, git commit (short; `-dirty` when tracked files other than the log itself
are modified; `unknown` outside git), action, result, requirements hash (12 characters), Python,
Spark (installed pyspark version or `-`), Java, duration in seconds, details.

Standard library only (run_pipeline_safe.sh may log with the system python3 when the venv is
broken). Appends hold an exclusive `fcntl.flock` on the log, so concurrent writers neither
interleave rows nor both write the header. A row that would contain the value of TMDB_API_TOKEN,
TMDB_API_KEY or DISCOGS_TOKEN (from the environment or `.env`) is refused: nothing is written and
the CLI exits 3.

The log is tracked in git (it is the project's record of runs; commit it when you choose), so a
run's rows are local changes until committed. They never block a pull: `set_aside` moves the rows
that HEAD lacks into `.git/sync_log.aside.md` and restores the file, `put_back` appends them again
after the pull (rows upstream already has are not doubled). `make sync` does both around its pull;
after a failed pull the rows stay aside (and the sync's own row joins them) so the working tree is
clean for a rebase by hand, and the next sync puts them back.

    python -m scripts.sync_log set-aside     python -m scripts.sync_log put-back
"""
from __future__ import annotations

import argparse
import fcntl
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from scripts.console import say

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRET_ENV_VARS = ("TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN")
COLUMNS = ("time (UTC)", "host", "commit", "action", "result", "requirements", "python", "spark",
           "java", "duration (s)", "details")
HEADER = (
    "# Sync log\n"
    "\n"
    "One row per pipeline run, sync or deploy, appended by `scripts/sync_log.py`"
    " (`make log` shows the latest). Never edit rows by hand; secrets are never written here.\n"
    "\n"
    "| " + " | ".join(COLUMNS) + " |\n"
    "|" + "---|" * len(COLUMNS) + "\n"
)
_SEPARATOR_RE = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


class SecretInLogError(ValueError):
    """A cell would have written a secret's value into the log; the message names the variable only."""


def default_log_path(project_root: Path = PROJECT_ROOT) -> Path:
    """env SYNC_LOG, else `<project_root>/sync_log.md`."""
    return Path(os.environ.get("SYNC_LOG") or project_root / "sync_log.md")


def escape_cell(value: object) -> str:
    """Make `value` safe inside one Markdown table cell: `|` escaped, line breaks as `<br>`."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("|", "\\|").replace("\n", "<br>")
    text = "".join(ch if ch >= " " or ch == "\t" else " " for ch in text).replace("\t", " ")
    return text.strip() or "-"


def _dotenv_values(path: Path) -> dict[str, str]:
    """Minimal `.env` reader (KEY=VALUE, `export`, quotes, comments) so the guard needs no packages."""
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return values
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        values[key] = value
    return values


def secret_values(project_root: Path = PROJECT_ROOT, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`{variable: value}` of every secret set in the environment or in `<project_root>/.env`."""
    env = os.environ if env is None else env
    merged = _dotenv_values(project_root / ".env")
    merged.update({k: v for k, v in env.items() if k in SECRET_ENV_VARS})
    return {name: merged[name] for name in SECRET_ENV_VARS if merged.get(name)}


def refuse_secrets(cells: Mapping[str, str], secrets: Mapping[str, str]) -> None:
    """Raise SecretInLogError when any cell contains a secret's value (escaped or not)."""
    for column, cell in cells.items():
        for name, value in secrets.items():
            if value in cell or escape_cell(value) in cell:
                raise SecretInLogError(f"refusing to log: the {column!r} cell contains the value of {name}")


def _git(project_root: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(["git", "-C", str(project_root), *args], capture_output=True,
                                   text=True, timeout=20, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() if completed.returncode == 0 else None


def git_commit(project_root: Path, log_path: Path | None = None) -> str:
    """Short HEAD, `-dirty` when a tracked file other than the log is modified, `unknown` outside git."""
    commit = _git(project_root, "rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    # The log is itself a tracked file that every append modifies: it must not make the tree "dirty".
    pathspec = ["--", "."]
    if log_path is not None:
        try:
            pathspec.append(f":(exclude){Path(log_path).resolve().relative_to(Path(project_root).resolve())}")
        except ValueError:
            pass
    status = _git(project_root, "status", "--porcelain", "--untracked-files=no", *pathspec)
    if status is None:
        return commit
    return f"{commit}-dirty" if status else commit


def requirements_hash12(project_root: Path) -> str:
    """First 12 hex digits of the requirements hash (env REQUIREMENTS_FILE honoured), `-` if unreadable."""
    try:
        from scripts.requirements_hash import RequirementsError, requirements_hash
    except ImportError:
        return "-"
    path = Path(os.environ.get("REQUIREMENTS_FILE") or Path(project_root) / "requirements_stable.txt")
    try:
        return requirements_hash(path)[:12]
    except (RequirementsError, OSError):
        return "-"


@lru_cache(maxsize=1)
def spark_version() -> str:
    """Installed pyspark version, `-` when this interpreter has none (metadata only: no JVM start)."""
    from importlib import metadata

    try:
        return metadata.version("pyspark")
    except metadata.PackageNotFoundError:
        return "-"


def java_label() -> str:
    """The version of the java Spark would use (JAVA_HOME first, else PATH), `-` when absent."""
    try:
        from scripts.env_check import java_version
    except ImportError:
        return "-"
    found = java_version()
    return found[0] if found else "-"


def format_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def append_entry(action: str, result: str, duration_s: float, details: str = "",
                 log_path: Path | None = None, project_root: Path = PROJECT_ROOT) -> str:
    """Append one row to the log (creating it with its header when missing) and return the row.

    Raises:
        SecretInLogError: a cell contains a secret's value; nothing is written.
    """
    project_root = Path(project_root)
    log_path = Path(log_path) if log_path is not None else default_log_path(project_root)
    values = {
        "time (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "host": socket.gethostname(),
        "commit": git_commit(project_root, log_path),
        "action": action,
        "result": result,
        "requirements": requirements_hash12(project_root),
        "python": platform.python_version(),
        "spark": spark_version(),
        "java": java_label(),
        "duration (s)": f"{float(duration_s):.1f}",
        "details": details,
    }
    cells = {column: escape_cell(values[column]) for column in COLUMNS}
    refuse_secrets(cells, secret_values(project_root))
    row = format_row([cells[column] for column in COLUMNS])

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            size = os.fstat(handle.fileno()).st_size
            prefix = b""
            if size == 0:
                prefix = HEADER.encode("utf-8")
            else:
                handle.seek(size - 1)
                if handle.read(1) != b"\n":
                    prefix = b"\n"
            handle.write(prefix + row.encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return row


def tail_entries(n: int = 10, log_path: Path | None = None) -> list[str]:
    """The last `n` rows of the table (header and separator excluded); [] when there is no log."""
    log_path = Path(log_path) if log_path is not None else default_log_path()
    try:
        rows = table_rows(log_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return rows[-n:] if n > 0 else []


def table_rows(text: str) -> list[str]:
    """The table rows of a log's text (header and separator excluded), in order."""
    rows: list[str] = []
    in_table = False
    for line in text.splitlines():
        if _SEPARATOR_RE.match(line.strip()):
            in_table = True
        elif in_table and line.startswith("|"):
            rows.append(line)
    return rows


def aside_path(project_root: Path = PROJECT_ROOT) -> Path | None:
    """`.git/sync_log.aside.md` of the checkout (None outside git)."""
    found = _git(project_root, "rev-parse", "--absolute-git-dir")
    return Path(found) / "sync_log.aside.md" if found else None


def _tracked_relpath(project_root: Path, log_path: Path) -> str | None:
    top = _git(project_root, "rev-parse", "--show-toplevel")
    if not top:
        return None
    try:
        rel = Path(log_path).resolve().relative_to(Path(top).resolve()).as_posix()
    except ValueError:
        return None
    return rel if _git(project_root, "ls-files", "--error-unmatch", "--", rel) is not None else None


def is_tracked(project_root: Path, log_path: Path) -> bool:
    """True when `log_path` is a file git tracks in the checkout at `project_root`."""
    return _tracked_relpath(project_root, log_path) is not None


def _append_rows(path: Path, rows: list[str]) -> None:
    """Append whole rows under the log's lock, writing the header to a new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            size = os.fstat(handle.fileno()).st_size
            prefix = HEADER.encode("utf-8") if size == 0 else b""
            if size:
                handle.seek(size - 1)
                prefix = b"" if handle.read(1) == b"\n" else b"\n"
            handle.write(prefix + "".join(row + "\n" for row in rows).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def set_aside(project_root: Path = PROJECT_ROOT, log_path: Path | None = None) -> int:
    """Move the tracked log's lines that HEAD lacks to the aside file; restore the log to HEAD.

    Returns how many rows were set aside (0 also when the log is untracked or unchanged). The rows
    reach the aside file (fsynced) before the log is restored, so a crash in between loses nothing.
    """
    log_path = Path(log_path) if log_path is not None else default_log_path(project_root)
    rel = _tracked_relpath(project_root, log_path)
    aside = aside_path(project_root)
    if rel is None or aside is None or not log_path.exists():
        return 0
    if _git(project_root, "diff", "--quiet", "HEAD", "--", rel) is not None:
        return 0  # unchanged
    committed = _git(project_root, "show", f"HEAD:{rel}")
    if committed is None:
        return 0
    # Line by line, not only table rows: whatever was added locally is kept, even outside the table.
    known = set(committed.splitlines())
    rows = [line for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip() and line not in known]
    if rows:
        _append_rows(aside, rows)
    if _git(project_root, "checkout", "HEAD", "--", rel) is None:
        raise OSError(f"git checkout of {rel} failed: its rows are kept in {aside}")
    return len(rows)


def put_back(project_root: Path = PROJECT_ROOT, log_path: Path | None = None) -> int:
    """Append the aside file's rows the log does not already hold, then remove the aside file."""
    log_path = Path(log_path) if log_path is not None else default_log_path(project_root)
    aside = aside_path(project_root)
    if aside is None or not aside.exists():
        return 0
    present = set(log_path.read_text(encoding="utf-8").splitlines()) if log_path.exists() else set()
    header = set(HEADER.splitlines())
    rows = [line for line in aside.read_text(encoding="utf-8").splitlines()
            if line.strip() and line not in present and line not in header]
    if rows:
        _append_rows(log_path, rows)
    aside.unlink()
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Append to or show the run log (sync_log.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    append = sub.add_parser("append", help="append one row")
    append.add_argument("--action", required=True, help="run, sync, deploy, ...")
    append.add_argument("--result", required=True, help="ok, or failed (exit N)")
    append.add_argument("--duration", type=float, required=True, help="seconds")
    append.add_argument("--details", default="", help="free text (no secrets)")
    append.add_argument("--log", type=Path, help="log file (default: env SYNC_LOG, else sync_log.md)")
    tail = sub.add_parser("tail", help="print the last rows")
    tail.add_argument("-n", type=int, default=10, help="how many rows (default 10)")
    tail.add_argument("--log", type=Path, help="log file (default: env SYNC_LOG, else sync_log.md)")
    for command, text in (("set-aside", "move the log's uncommitted rows out of the way of a git pull or rebase"),
                          ("put-back", "append the rows set aside again")):
        sub.add_parser(command, help=text).add_argument("--log", type=Path, help="log file")
    args = parser.parse_args(argv)

    if args.command in ("set-aside", "put-back"):
        moved = (set_aside if args.command == "set-aside" else put_back)(PROJECT_ROOT, args.log)
        where = aside_path(PROJECT_ROOT)
        say(f"{moved} row(s) {'set aside in' if args.command == 'set-aside' else 'put back from'} {where}")
        return 0
    if args.command == "append":
        try:
            say(append_entry(args.action, args.result, args.duration, args.details, log_path=args.log))
        except SecretInLogError as exc:
            say(f"sync_log: {exc}", file=sys.stderr)
            return 3
        except OSError as exc:
            say(f"sync_log: cannot write the log: {exc}", file=sys.stderr)
            return 1
        return 0

    rows = tail_entries(args.n, log_path=args.log)
    if not rows:
        say(f"no entries in {args.log or default_log_path()}")
        return 0
    say(HEADER.split("\n\n")[-1].rstrip("\n"))
    say("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
