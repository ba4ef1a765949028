"""A local DATA_ROOT that the pipeline owns: its marker file, its run lock, and when it may be created.

- Marker: the pipeline writes `DATA_ROOT/.soundtracks-data-root` when it uses a local root.
  `make clean-data` (scripts/clean_data.py) cleans only a folder that holds it, so a mistyped or
  decoy path is never emptied.
- Lock: a run holds an exclusive `flock` on `DATA_ROOT/.soundtracks-run.lock` for its lifetime. The
  lock belongs to the data, not to the checkout: two checkouts, or `python -m scripts_spark.pipeline`
  run by hand, cannot write the same root at once, while runs on different roots do not block each
  other. The file names the holder (pid, host, user, checkout, start time). The kernel drops the
  lock when the process ends, even on kill -9, so a stale file never blocks a later run.
- Creation: sample data is generated only into the default root (<project>/data) or with
  SOURCE=sample; an explicit DATA_ROOT that does not exist is an error (a typo, not a request).

Remote roots (abfss://, dbfs:) get neither marker nor lock: nothing on this machine can lock them,
so one writer at a time is the job scheduler's promise (the Databricks job runs with
max_concurrent_runs 1), which the pipeline says in its log.
"""
from __future__ import annotations

import datetime as dt
import errno
import fcntl
import getpass
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from scripts.exit_codes import EXIT_BUSY, EXIT_USAGE
from scripts.settings import PROJECT_ROOT, Settings

logger = logging.getLogger(__name__)

MARKER_NAME = ".soundtracks-data-root"
LOCK_NAME = ".soundtracks-run.lock"
REMOTE_NOTE = ("DATA_ROOT is remote: no lock is taken here; one writer at a time is up to the scheduler "
               "(run the Databricks job with max_concurrent_runs: 1)")

# Held for the life of the process: closing the file would release the lock.
_held: dict[str, IO[str]] = {}


@dataclass(frozen=True)
class Refusal:
    """Why a run may not use its DATA_ROOT, and the exit code that says so."""

    message: str
    exit_code: int


def default_root() -> Path:
    return PROJECT_ROOT / "data"


def is_default_root(data_root: str) -> bool:
    """True when DATA_ROOT is the project's own ./data (where generating sample data is expected)."""
    return os.path.realpath(data_root) == os.path.realpath(default_root())


def may_generate_sample(settings: Settings) -> bool:
    """Sample data goes only into the default root, or anywhere when SOURCE=sample asks for it."""
    return settings.source == "sample" or (settings.source == "auto" and is_default_root(settings.data_root))


def write_marker(root: Path) -> None:
    """Mark `root` as a pipeline data root (idempotent)."""
    marker = root / MARKER_NAME
    if not marker.exists():
        marker.write_text("This folder is a soundtracks pipeline DATA_ROOT; make clean-data may clean "
                          "its derived layers (never raw/).\n", encoding="utf-8")


def holder_of(lock_path: Path) -> str:
    """Who holds the lock, as written by the holder; "unknown" when the file says nothing."""
    try:
        text = lock_path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    return text or "unknown"


def lock_root(root: Path) -> Refusal | None:
    """Take the run lock of `root` for this process; a Refusal naming the holder when it is taken."""
    key = str(root.resolve())
    if key in _held:
        return None
    lock_path = root / LOCK_NAME
    handle = open(lock_path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return Refusal(f"another pipeline run is using {root} (lock {lock_path}; held by "
                           f"{holder_of(lock_path)})", EXIT_BUSY)
        # Some network and FUSE filesystems (e.g. /dbfs) have no flock: run unprotected, and say so.
        logger.warning("cannot lock %s (%s): this run is not protected against a concurrent one",
                       lock_path, exc.strerror or exc)
        return None
    handle.seek(0)
    handle.truncate()
    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    handle.write(f"pid {os.getpid()} on {socket.gethostname()} by {_user()} from checkout {PROJECT_ROOT}, "
                 f"since {started}\n")
    handle.flush()
    _held[key] = handle
    return None


def release(root: Path) -> None:
    """Release the lock taken by `lock_root` (tests; a run simply exits)."""
    handle = _held.pop(str(root.resolve()), None)
    if handle is not None:
        handle.close()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def claim(settings: Settings) -> Refusal | None:
    """Make DATA_ROOT ready for a run: check it may be used, create it when allowed, mark and lock it.

    Returns:
        None when the run may go on (the lock is held until the process exits), else a Refusal:
        exit 2 for an explicit DATA_ROOT that does not exist (unless SOURCE=sample) or is not a
        folder, exit 75 when another run holds the lock.
    """
    if settings.is_remote_storage:
        logger.info("%s", REMOTE_NOTE)
        return None
    root = Path(settings.data_root)
    if root.exists() and not root.is_dir():
        return Refusal(f"DATA_ROOT={root} is not a folder: point DATA_ROOT at a folder", EXIT_USAGE)
    if not root.exists() and not (is_default_root(str(root)) or settings.source == "sample"):
        return Refusal(
            f"DATA_ROOT={root} does not exist: check the path for a typo, create the folder, "
            "or run with SOURCE=sample to generate sample data there", EXIT_USAGE)
    try:
        if not root.exists():
            root.mkdir(parents=True)
        write_marker(root)
        return lock_root(root)
    except OSError as exc:
        return Refusal(f"cannot write in DATA_ROOT={root}: {exc.strerror or exc}; make it writable or point "
                       "DATA_ROOT elsewhere", EXIT_USAGE)
