"""`make sync`: the local and VM environments rebuilt and proven identical, then the pipeline run on
both sides on the same input and its gold output proven identical, and the outcome logged.

    python -m scripts.sync [--no-pull] [--no-run] [--copy-ignored PATH]... [--env-file FILE]
                           [-- PIPELINE ARGS...]

Stages, in order (STAGES); each ends ok, failed or skipped with a one-line reason, and a failed
stage stops the ones after it (they are reported as skipped):
  pull        `git fetch` + fast-forward when the branch has an upstream. The sync log's own rows
              never block it: they are set aside before and put back after (scripts/sync_log.py).
              Other modified tracked files or a diverged branch stop the sync with git's reason;
              no upstream, a detached HEAD or --no-pull: skipped.
  local venv  ./rebuild_venv.sh: nothing when the venv matches the pins, a repair when it drifted,
              a build otherwise; the reason says which (also when `make venv` built it just before).
  vm connect  one ssh round trip: checks the VM answers, its host key (fingerprint shown on first
              connection), the login, that VM_PROJECT_DIR is empty or already this project, and
              that rsync, setsid and timeout are installed there.
  vm copy     rsync of the project to VM_PROJECT_DIR. Left out: everything git ignores (.venv,
              data/, logs/, caches ...; `--copy-ignored PATH` sends one anyway), every `.env*` file
              but `.env.example` (each machine keeps its own configuration and secrets: never sent,
              even when asked), .git and sync_log.md (each machine keeps its own log). Files deleted
              locally are deleted on the VM too; the left-out paths are never touched there.
  vm venv     ./rebuild_venv.sh on the VM (SYNC_REMOTE_REBUILD replaces it): drift there is
              repaired and named; parity then checks the result.
  parity      scripts/env_report.py with each side's venv python; Python, the Java major version
              (what Spark needs; a patch difference is shown, not failed), Spark, the requirements
              hash, the venv stamp, every pinned package and the full package list are compared;
              any difference is named (`pandas: local 1.5.3, vm 2.0.0`) and fails the sync.
  pipeline    ./run_pipeline_safe.sh locally with the PIPELINE ARGS; timed.
  vm raw      SYNC_VM_RAW=copy (default): local DATA_ROOT/raw/ copied to VM_DATA_ROOT/raw/, never
              deleting there: a VM raw/ holding files the local one lacks fails the stage, naming
              them. SYNC_VM_RAW=own: skipped, the VM reads its own raw/.
  vm pipeline ./run_pipeline_safe.sh on the VM, same PIPELINE ARGS, on VM_DATA_ROOT; timed.
  gold        scripts/gold_digest.py on both sides: a content digest per gold table (independent
              of file names, partitioning and row order); any table that differs is named and fails
              the sync. Both sides' digests and run times go to the log.
With no VM configured (VM_HOST empty) the VM stages are skipped and the result is `ok (local only)`.
`--no-run` skips the four run stages.

Every command on the VM ends with the connection: ssh keep-alives notice a dead link, and the
command runs in its own process group under `timeout VM_COMMAND_TIMEOUT`, watched by a reader of
the ssh channel that kills the whole group when the channel closes (local ssh killed, link lost).

ssh always checks host keys: `StrictHostKeyChecking=accept-new` records the VM's key in
VM_KNOWN_HOSTS on the first connection and refuses a changed key (the sync stops, showing the new
key's fingerprint); `BatchMode=yes` so nothing prompts; ConnectTimeout so a dead VM fails fast.

Configuration: the VM_* and SYNC_* settings of scripts/settings.py (see .env.example); VENV_DIR
(the local venv, default <project>/.venv); SYNC_LOG (scripts/sync_log.py). Test hooks:
SYNC_LOCAL_REBUILD (instead of the local ./rebuild_venv.sh) and SYNC_PIPELINE_CMD (instead of
./run_pipeline_safe.sh, on both sides, with VENV_DIR set to that side's venv). Nothing secret is
passed on a command line; TMDB_API_TOKEN, TMDB_API_KEY and DISCOGS_TOKEN are masked in all output.

Exit codes: 0 every stage ok or skipped; 1 a stage failed; 2 usage or configuration error;
130 interrupted. (`make sync` exits 2 on any failure, as make does; it prints this code first.)
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scripts.console import say
from scripts.env_report import compare_reports, report_notes
from scripts.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from scripts.gold_digest import compare_digests
from scripts.settings import ConfigError, Settings, load_settings, read_dotenv
from scripts.sync_log import (
    SecretInLogError,
    append_entry,
    aside_path,
    default_log_path,
    is_tracked,
    put_back,
    secret_values,
    set_aside,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXIT_CONFIG = EXIT_USAGE
OK, FAILED, SKIPPED = "ok", "failed", "skipped"
STAGES = ("pull", "local venv", "vm connect", "vm copy", "vm venv", "parity",
          "pipeline", "vm raw", "vm pipeline", "gold")
VM_STAGES = ("vm connect", "vm copy", "vm venv", "parity", "vm raw", "vm pipeline", "gold")
RUN_STAGES = ("pipeline", "vm raw", "vm pipeline", "gold")
MAX_LOGGED_DIFFERENCES = 10
REBUILD_TIMEOUT = 3600
# Never sent, whatever git says: other checkouts' metadata, each machine's own venv, data, logs and log.
RSYNC_EXCLUDES = ("/.git", "/.venv", "/.venv.*", "/data", "/logs", "/sync_log.md", "/.run.lock",
                  "__pycache__/", "*.pyc", ".pytest_cache/", "/.coverage", "/.coverage.*", "/coverage.xml",
                  "/htmlcov/", "/spark-warehouse/", "/metastore_db/", "/derby.log")
# Configuration and secrets stay on each machine: every .env* but the template, at any depth.
ENV_FILE_PATTERN, ENV_TEMPLATE = ".env*", ".env.example"
_SAFE_HOST = re.compile(r"^[A-Za-z0-9._:%\[\]-]+$")
_SAFE_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/=]+")
# Remote pre-flight exit codes (chosen outside the range ssh, sh and rsync use).
_REMOTE_NOT_PROJECT, _REMOTE_MKDIR_FAILED, _REMOTE_NO_TOOL = 65, 66, 67
_REMOTE_TIMED_OUT = 124  # timeout(1)'s code when the limit was reached
_WATCHER_GRACE_S = 5


class SyncConfigError(ValueError):
    """The VM configuration cannot work; the message names the variable and the fix."""


@dataclass
class StageResult:
    """One stage's outcome: `ok`, `failed` or `skipped`, and why, in one line."""

    name: str
    status: str
    reason: str

    def line(self) -> str:
        return f"{self.name:<11} {self.status:<7} {self.reason}"


def remote_shell_path(path: str) -> str:
    """`path` for the remote shell: quoted, with a leading `~/` kept expandable."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def guarded(command: str, limit_s: int) -> str:
    """`command` wrapped so that it cannot outlive the ssh session that started it, nor `limit_s`.

    The command runs in a session (process group) of its own under timeout(1); a watcher reads the
    ssh channel (the local side holds it open and never writes) and, at end of file, which is what
    a closed connection looks like, kills the whole group: TERM, then KILL after a grace period.
    """
    inner = shlex.quote(command)
    # sh gives a background job /dev/null as stdin, so the watcher gets the channel through fd 3.
    script = ("exec 3<&0; "
              f"setsid timeout -k 30 {int(limit_s)} sh -c {inner} </dev/null 3<&- & p=$!; "
              f"( while read -r _; do :; done; kill -TERM -$p 2>/dev/null; sleep {_WATCHER_GRACE_S}; "
              "kill -KILL -$p 2>/dev/null ) <&3 >/dev/null 2>&1 & w=$!; "
              "exec 3<&-; wait $p; rc=$?; kill $w 2>/dev/null; exit $rc")
    return f"exec sh -c {shlex.quote(script)}"


@dataclass(frozen=True)
class VmTarget:
    """Where and how to reach the VM; builds every ssh and rsync command line (no secrets in them)."""

    host: str
    port: int
    user: str | None
    key_file: str | None
    project_dir: str
    known_hosts: str
    connect_timeout: int
    python: str
    rebuild_cmd: str
    data_root: str = "data"
    command_timeout: int = 21600
    raw_mode: str = "copy"

    @property
    def label(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    def ssh_options(self) -> list[str]:
        options = ["-p", str(self.port),
                   "-o", "BatchMode=yes",
                   "-o", "StrictHostKeyChecking=accept-new",
                   "-o", f"UserKnownHostsFile={self.known_hosts}",
                   "-o", f"ConnectTimeout={self.connect_timeout}",
                   # A VM that dies mid-install is noticed within a minute instead of hanging.
                   "-o", "ServerAliveInterval=15",
                   "-o", "ServerAliveCountMax=4"]
        if self.key_file:
            options += ["-i", self.key_file, "-o", "IdentitiesOnly=yes"]
        if self.user:
            options += ["-l", self.user]
        return options

    def ssh(self, remote_command: str, limit_s: int | None = None) -> list[str]:
        """ssh running `remote_command`; with `limit_s`, guarded (see `guarded`)."""
        command = guarded(remote_command, min(limit_s, self.command_timeout)) if limit_s else remote_command
        return ["ssh", *self.ssh_options(), self.host, command]

    def _rsync_path(self, path: str) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        path = path[2:] if path.startswith("~/") else path
        return f"{self.user + '@' if self.user else ''}{host}:{path.rstrip('/') or '/'}/"

    def rsync_destination(self) -> str:
        return self._rsync_path(self.project_dir)

    @property
    def data_dir(self) -> str:
        """The VM's DATA_ROOT as a path on the VM (relative to VM_PROJECT_DIR unless absolute or ~/)."""
        if self.data_root.startswith(("/", "~/")):
            return self.data_root
        return f"{self.project_dir.rstrip('/')}/{self.data_root}"

    def raw_destination(self) -> str:
        return self._rsync_path(f"{self.data_dir.rstrip('/')}/raw")

    @property
    def venv_dir(self) -> str:
        """The VM venv (VM_PYTHON's bin/..), for run_pipeline_safe.sh's VENV_DIR."""
        parent = self.python.rsplit("/", 2)
        return parent[0] if len(parent) == 3 and parent[1] == "bin" else ".venv"

    def in_project(self, command: str) -> str:
        """A remote shell command run inside VM_PROJECT_DIR."""
        return f"cd {remote_shell_path(self.project_dir)} && {command}"


def merged_env(env: Mapping[str, str], dotenv_path: Path) -> dict[str, str]:
    """`.env` overlaid with the environment, as load_settings sees it."""
    merged = dict(read_dotenv(dotenv_path))
    merged.update(env)
    return merged


def vm_target(settings: Settings, env: Mapping[str, str]) -> VmTarget | None:
    """The configured VM, or None when VM_HOST is empty.

    Raises:
        SyncConfigError: a VM variable is missing or unusable.
    """
    if not settings.vm_host:
        return None
    host, user = settings.vm_host, settings.vm_user
    if not _SAFE_HOST.match(host) or host.startswith("-"):
        raise SyncConfigError(f"VM_HOST={host!r} is not a host name or address: fix it in .env")
    if user and not _SAFE_USER.match(user):
        raise SyncConfigError(f"VM_USER={user!r} is not a user name: fix it in .env")
    project_dir = (settings.vm_project_dir or "").strip()
    if not project_dir:
        raise SyncConfigError("VM_HOST is set but VM_PROJECT_DIR is empty: set the project folder on the VM in .env")
    if not re.match(r"^[A-Za-z0-9._/+~-]+$", project_dir) or project_dir.rstrip("/") in ("", "~", ".", ".."):
        raise SyncConfigError(f"VM_PROJECT_DIR={project_dir!r} must be a folder of its own on the VM (letters, "
                              "digits, . _ - + / ~ only; not / or ~): fix it in .env")
    key_file = None
    if settings.vm_key_file:
        key_file = str(Path(settings.vm_key_file).expanduser())
        if not Path(key_file).is_file():
            raise SyncConfigError(f"VM_KEY_FILE={settings.vm_key_file} does not exist: point it at the private key "
                                  "for the VM in .env")
    for tool, package in (("ssh", "openssh-client"), ("rsync", "rsync")):
        if shutil.which(tool, path=env.get("PATH", os.defpath)) is None:
            raise SyncConfigError(f"{tool} not found on PATH: install it (apt-get install {package})")
    return VmTarget(host=host, port=settings.vm_port, user=user, key_file=key_file, project_dir=project_dir,
                    known_hosts=settings.vm_known_hosts, connect_timeout=settings.vm_connect_timeout,
                    python=settings.vm_python, rebuild_cmd=settings.sync_remote_rebuild or "./rebuild_venv.sh",
                    data_root=settings.vm_data_root, command_timeout=settings.vm_command_timeout,
                    raw_mode=settings.sync_vm_raw)


class Masker:
    """Replaces every secret value with *** in text about to be printed or logged."""

    def __init__(self, values: Iterable[str]):
        self._values = sorted({v for v in values if v}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return text


@dataclass
class Completed:
    """A finished command: exit code (None when it timed out) and its output lines."""

    returncode: int | None
    lines: list[str]

    def last_line(self, default: str = "no output") -> str:
        for line in reversed(self.lines):
            text = line.strip()
            if text and not set(text) <= {"@"}:
                return text
        return default


class Runner:
    """Runs commands with output shown indented (or kept quiet), secrets masked.

    A command's stdin is closed, or, with `hold_stdin` (ssh running a `guarded` command), a pipe held
    open and never written until the command ends: the remote watcher's line to this process.
    """

    def __init__(self, env: Mapping[str, str], mask: Masker, out=None):
        self.env = dict(env)
        self.mask = mask
        self.out = out or sys.stdout

    def say(self, text: str = "") -> None:
        say(self.mask(text), file=self.out, flush=True)

    def _start(self, cmd: Sequence[str], cwd: Path | None, env: Mapping[str, str], hold_stdin: bool,
               stderr: int) -> subprocess.Popen:
        return subprocess.Popen(list(cmd), cwd=cwd, env=dict(env),
                                stdin=subprocess.PIPE if hold_stdin else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=stderr, text=True, errors="replace",
                                start_new_session=True)

    @staticmethod
    def _kill_group(process: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    def stream(self, cmd: Sequence[str], *, cwd: Path | None = None, timeout: float = 3600,
               prefix: str = "    | ", echo: bool = True, extra_env: Mapping[str, str] | None = None,
               hold_stdin: bool = False) -> Completed:
        """Run `cmd`, stdout and stderr merged; each line is kept and, with `echo`, shown as it comes."""
        env = {**self.env, **(extra_env or {})}
        try:
            process = self._start(cmd, cwd, env, hold_stdin, subprocess.STDOUT)
        except OSError as exc:
            return Completed(127, [f"cannot run {cmd[0]}: {exc.strerror or exc}"])
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            self._kill_group(process, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        lines: list[str] = []
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = self.mask(raw.rstrip("\n"))
                lines.append(line)
                if echo:
                    say(prefix + line, file=self.out, flush=True)
            returncode = process.wait()
        except BaseException:
            # Ctrl-C reaches only this process (the command runs in its own session, so a timeout can
            # end its whole tree): pass it on as TERM, which run_pipeline_safe.sh logs before exiting;
            # a killed ssh closes its channel, which ends the remote command too (see `guarded`).
            try:
                self._kill_group(process, signal.SIGTERM)
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill()
                process.wait()
            raise
        finally:
            timer.cancel()
            if process.stdin:
                process.stdin.close()
        if timed_out.is_set():
            return Completed(None, lines + [f"timed out after {timeout:g} s"])
        return Completed(returncode, lines)

    def capture(self, cmd: Sequence[str], *, cwd: Path | None = None, timeout: float = 300,
                hold_stdin: bool = False) -> tuple[int | None, str, str]:
        """Run `cmd` quietly: (exit code or None on timeout, stdout, masked stderr)."""
        try:
            process = self._start(cmd, cwd, self.env, hold_stdin, subprocess.PIPE)
        except OSError as exc:
            return 127, "", f"cannot run {cmd[0]}: {exc.strerror or exc}"
        chunks: dict[str, str] = {}

        def read(name: str, stream) -> None:
            chunks[name] = stream.read()

        readers = [threading.Thread(target=read, args=(name, stream), daemon=True)
                   for name, stream in (("out", process.stdout), ("err", process.stderr))]
        for reader in readers:
            reader.start()
        try:
            returncode: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group(process, signal.SIGKILL)
            process.wait()
            returncode = None
        except BaseException:
            self._kill_group(process, signal.SIGTERM)
            raise
        finally:
            if process.stdin:
                process.stdin.close()
        for reader in readers:
            reader.join(timeout=10)
        if returncode is None:
            return None, "", f"timed out after {timeout:g} s"
        return returncode, chunks.get("out", ""), self.mask(chunks.get("err", ""))


# --- ssh failures -----------------------------------------------------------------------------------

_UNREACHABLE_MARKERS = ("Connection refused", "Connection timed out", "Operation timed out", "timed out",
                        "No route to host", "Network is unreachable", "Could not resolve hostname",
                        "Name or service not known", "Connection closed", "Connection reset")


def recorded_fingerprint(target: VmTarget, runner: Runner) -> str | None:
    """`ED25519 SHA256:...` of the key VM_KNOWN_HOSTS holds for the VM, None when none is recorded."""
    code, out, _ = runner.capture(["ssh-keygen", "-l", "-F", target.known_hosts_name, "-f", target.known_hosts],
                                  timeout=30)
    if code != 0:
        return None
    for line in out.splitlines():
        match = _FINGERPRINT.search(line)
        if match and not line.startswith("#"):
            kind = line.split()[1] if len(line.split()) > 2 else ""
            return f"{kind} {match.group(0)}".strip()
    return None


def ssh_failure(text: str, target: VmTarget) -> str | None:
    """One line saying why ssh itself failed (host key, login, reachability), or None if it did not."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        offered = _FINGERPRINT.search(text)
        kind = re.search(r"fingerprint for the (\S+) key sent", text)
        shown = f" (it now presents {kind.group(1) + ' ' if kind else ''}{offered.group(0)})" if offered else ""
        return (f"the host key of {target.host}:{target.port} has CHANGED since it was recorded in "
                f"{target.known_hosts}{shown}: sync stopped (possible man-in-the-middle). If the VM was rebuilt, "
                f"check its new key fingerprint out of band, then run: ssh-keygen -R "
                f"'{target.known_hosts_name}' -f {target.known_hosts}")
    if "Host key verification failed" in text:
        return (f"host key verification failed for {target.host}:{target.port} (known_hosts "
                f"{target.known_hosts}): sync stopped")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if any("Permission denied" in line and "publickey" in line for line in lines) or \
            any(line.startswith("Permission denied") for line in lines):
        return (f"ssh login to {target.label} refused (Permission denied): check VM_USER and VM_KEY_FILE, "
                "and that the key is in the VM user's authorized_keys")
    for line in lines:
        if any(marker in line for marker in _UNREACHABLE_MARKERS):
            return f"VM {target.label} unreachable: {line}"
    return None


def _one_line(text: str, default: str = "no output") -> str:
    return Completed(0, text.splitlines()).last_line(default)


def _git_reason(text: str) -> str:
    """git's own reason in one line: its error and the file names it lists, without hints or `Aborting`."""
    kept = [line.strip() for line in text.splitlines()
            if line.strip() and not line.startswith("hint:") and line.strip() != "Aborting"
            and not line.strip().startswith("Please ")]
    return "; ".join(kept)[:500] or "no output"


def _exit(done: Completed) -> str:
    return "timed out" if done.returncode is None else f"exit {done.returncode}"


def _remote_failure(done: Completed, target: VmTarget, what: str) -> str:
    if done.returncode == 255:
        reason = ssh_failure("\n".join(done.lines), target)
        if reason:
            return reason
    if done.returncode == _REMOTE_TIMED_OUT:
        return f"{what} on the VM stopped at its time limit (VM_COMMAND_TIMEOUT={target.command_timeout} s)"
    return f"{what} failed ({_exit(done)}): {done.last_line()}"


# --- stages -----------------------------------------------------------------------------------------

@dataclass
class SyncContext:
    """What the stages share: where things are, the pipeline arguments, and what earlier stages found."""

    project_root: Path
    runner: Runner
    settings: Settings
    venv_dir: Path
    log_path: Path
    pipeline_args: list[str]
    target: VmTarget | None = None
    copy_ignored: tuple[str, ...] = ()
    started_epoch: float = field(default_factory=time.time)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def local_data_root(self) -> str:
        """--data-root of the pipeline arguments, else DATA_ROOT from the settings."""
        value = _option_value(self.pipeline_args, "--data-root")
        if value is None:
            return self.settings.data_root
        return value if "://" in value or value.startswith("dbfs:") else str(Path(value).expanduser().resolve())


def _option_value(args: Sequence[str], option: str) -> str | None:
    found = None
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            found = args[i + 1]
        elif arg.startswith(option + "="):
            found = arg.split("=", 1)[1]
    return found


def _without_option(args: Sequence[str], option: str) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == option:
            skip = True
        elif not arg.startswith(option + "="):
            kept.append(arg)
    return kept


def _git(project_root: Path, runner: Runner, *args: str, timeout: float = 120) -> tuple[int | None, str, str]:
    return runner.capture(["git", "-C", str(project_root), *args], timeout=timeout)


def stage_pull(project_root: Path, runner: Runner, log_path: Path | None = None) -> StageResult:
    """Fast-forward the checked-out branch to its upstream; see the module docstring for the rules."""
    name = "pull"
    code, out, _ = _git(project_root, runner, "rev-parse", "--is-inside-work-tree")
    if code != 0 or out.strip() != "true":
        return StageResult(name, SKIPPED, f"{project_root} is not a git checkout: not pulled")
    code, branch, _ = _git(project_root, runner, "symbolic-ref", "--quiet", "--short", "HEAD")
    if code != 0:
        return StageResult(name, SKIPPED, "detached HEAD: not pulled")
    branch = branch.strip()
    code, upstream, _ = _git(project_root, runner, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}")
    if code != 0:
        return StageResult(name, SKIPPED, f"branch {branch} has no upstream: not pulled "
                                          f"(git branch --set-upstream-to=REMOTE/{branch} to enable)")
    upstream = upstream.strip()

    # The log's rows are set aside while git works, so they can neither block the pull nor be lost.
    log = Path(log_path) if log_path is not None else None
    aside = 0
    if log is not None:
        try:
            aside = set_aside(project_root, log)
        except OSError as exc:
            return StageResult(name, FAILED, f"cannot set the sync log's rows aside: {exc}")
    result = _pull(project_root, runner, branch, upstream)
    if log is not None and result.status != FAILED:
        put = put_back(project_root, log)
        if put or aside:
            result.reason += f"; {put} sync log row(s) of this machine kept"
    elif log is not None and aside_path(project_root) and aside_path(project_root).exists():
        result.reason += (f"; the sync log's local rows wait in {aside_path(project_root)}, out of the way of a "
                          "stash, rebase or merge, until the next sync puts them back")
    return result


def _pull(project_root: Path, runner: Runner, branch: str, upstream: str) -> StageResult:
    name = "pull"
    code, status, err = _git(project_root, runner, "status", "--porcelain", "--untracked-files=no")
    if code != 0:
        return StageResult(name, FAILED, f"git status failed: {_git_reason(err)}")
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    if changed:
        return StageResult(name, FAILED, f"working tree has uncommitted changes ({len(changed)} file(s), e.g. "
                                         f"{changed[0]}): commit or stash them, then sync again")
    code, _, err = _git(project_root, runner, "fetch", "--quiet", timeout=300)
    if code != 0:
        return StageResult(name, FAILED, f"git fetch failed: {_git_reason(err)}")
    code, counts, err = _git(project_root, runner, "rev-list", "--left-right", "--count", "HEAD...@{u}")
    if code != 0:
        return StageResult(name, FAILED, f"cannot compare {branch} with {upstream}: {_git_reason(err)}")
    ahead, behind = (int(n) for n in counts.split())
    if ahead and behind:
        return StageResult(name, FAILED, f"{branch} and {upstream} have diverged ({ahead} local, {behind} upstream "
                                         f"commit(s)): rebase or merge by hand (git rebase {upstream}), then sync "
                                         "again")
    if not behind:
        unpushed = f"; {ahead} local commit(s) not pushed" if ahead else ""
        return StageResult(name, OK, f"{branch} is up to date with {upstream}{unpushed}")
    code, _, err = _git(project_root, runner, "merge", "--ff-only", "--quiet", "@{u}")
    if code != 0:
        return StageResult(name, FAILED, f"fast-forward to {upstream} failed: {_git_reason(err)}")
    return StageResult(name, OK, f"fast-forwarded {branch} by {behind} commit(s) from {upstream}")


def _override(env: Mapping[str, str], name: str) -> list[str] | None:
    value = (env.get(name) or "").strip()
    return shlex.split(value) if value else None


def _recent_outcome(venv_dir: Path, since_epoch: float) -> str | None:
    """What rebuild_venv.sh last did to `venv_dir`, when it did it after `since_epoch`."""
    try:
        stamp, _, text = (venv_dir / ".rebuild_outcome").read_text(encoding="utf-8").strip().partition(" ")
        return text if float(stamp) >= since_epoch and text else None
    except (OSError, ValueError):
        return None


def stage_local_venv(ctx: SyncContext) -> StageResult:
    name = "local venv"
    cmd = _override(ctx.runner.env, "SYNC_LOCAL_REBUILD") or [str(ctx.project_root / "rebuild_venv.sh")]
    done = ctx.runner.stream(cmd, cwd=ctx.project_root, extra_env={"VENV_DIR": str(ctx.venv_dir)})
    if done.returncode != 0:
        return StageResult(name, FAILED, f"local rebuild_venv.sh failed ({_exit(done)}): {done.last_line()}")
    reason = done.last_line("venv ready")
    if reason.startswith("venv up to date"):
        # `make sync` builds the venv (its `venv` prerequisite) before this runs: say what that did.
        since = float(ctx.runner.env.get("SYNC_MAKE_STARTED") or ctx.started_epoch)
        earlier = _recent_outcome(ctx.venv_dir, since)
        if earlier:
            reason = f"{earlier} (by make's venv step just before)"
    return StageResult(name, OK, reason)


def stage_vm_connect(ctx: SyncContext) -> StageResult:
    name = "vm connect"
    target, runner = ctx.target, ctx.runner
    folder = remote_shell_path(target.project_dir)
    check = (f"d={folder}; "
             f"if [ -e \"$d\" ] && [ ! -f \"$d/rebuild_venv.sh\" ] && [ -n \"$(ls -A \"$d\" 2>/dev/null)\" ]; "
             f"then exit {_REMOTE_NOT_PROJECT}; fi; "
             f"mkdir -p \"$d\" || exit {_REMOTE_MKDIR_FAILED}; "
             "for t in rsync setsid timeout; do command -v $t >/dev/null 2>&1 || { echo \"missing: $t\"; "
             f"exit {_REMOTE_NO_TOOL}; }}; done")
    # ssh records a first-seen key only into a folder that exists.
    Path(target.known_hosts).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The timeout only guards a VM that accepts the connection and then hangs.
    done = runner.stream(target.ssh(check), echo=False, timeout=target.connect_timeout + 60)
    text = "\n".join(done.lines)
    if done.returncode == 0:
        fingerprint = recorded_fingerprint(target, runner) or "fingerprint unknown"
        if "Permanently added" in text:
            return StageResult(name, OK, f"{target.label} answered; first connection: host key {fingerprint} "
                                         f"recorded in {target.known_hosts} (compare it with the VM's own)")
        return StageResult(name, OK, f"{target.label} answered, host key {fingerprint} checked against "
                                     f"{target.known_hosts}")
    if done.returncode == _REMOTE_NOT_PROJECT:
        return StageResult(name, FAILED, f"VM_PROJECT_DIR={target.project_dir} on the VM is not empty and has no "
                                         "rebuild_venv.sh: not syncing into it (fix VM_PROJECT_DIR in .env)")
    if done.returncode == _REMOTE_MKDIR_FAILED:
        return StageResult(name, FAILED, f"cannot create VM_PROJECT_DIR={target.project_dir} on the VM: "
                                         f"{done.last_line()}")
    if done.returncode == _REMOTE_NO_TOOL:
        tool = done.last_line().replace("missing: ", "")
        package = {"rsync": "rsync", "setsid": "util-linux", "timeout": "coreutils"}.get(tool, tool)
        return StageResult(name, FAILED, f"{tool} is not installed on the VM: install it there "
                                         f"(apt-get install {package})")
    return StageResult(name, FAILED, ssh_failure(text, target)
                       or f"ssh to {target.label} failed ({_exit(done)}): {done.last_line()}")


def _rsync_escape(path: str) -> str:
    return re.sub(r"([*?\[\\])", r"\\\1", path)


def git_ignored(project_root: Path, runner: Runner) -> list[str]:
    """Paths git ignores in the project (folders end with /), relative to it; [] outside git."""
    code, out, _ = runner.capture(["git", "-C", str(project_root), "ls-files", "-z", "--others", "--ignored",
                                   "--exclude-standard", "--directory"], timeout=120)
    return [path for path in out.split("\0") if path] if code == 0 else []


def rsync_filters(project_root: Path, runner: Runner, copy_ignored: Sequence[str] = ()) -> list[str]:
    """rsync filter rules, first match wins: asked-for paths, the .env rule, fixed excludes, git's ignores."""
    rules = [f"+ /{_rsync_escape(ENV_TEMPLATE)}", f"- {ENV_FILE_PATTERN}"]
    for path in copy_ignored:
        clean = path.strip("/")
        rules += [f"+ /{_rsync_escape(clean)}", f"+ /{_rsync_escape(clean)}/**"]
    rules += [f"- {pattern}" for pattern in RSYNC_EXCLUDES]
    rules += [f"- /{_rsync_escape(path)}" for path in git_ignored(project_root, runner)]
    return rules


def rsync_command(target: VmTarget, project_root: Path, filter_file: Path | None = None) -> list[str]:
    filters = ([f"--filter=merge {filter_file}"] if filter_file else
               [f"--exclude={pattern}" for pattern in (ENV_FILE_PATTERN, *RSYNC_EXCLUDES)])
    return ["rsync", "--recursive", "--links", "--perms", "--times", "--compress", "--delete",
            "--itemize-changes", *filters,
            "-e", shlex.join(["ssh", *target.ssh_options()]),
            f"{project_root}/", target.rsync_destination()]


def stage_vm_copy(ctx: SyncContext) -> StageResult:
    name = "vm copy"
    target = ctx.target
    with tempfile.NamedTemporaryFile("w", prefix="sync-filters-", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(rsync_filters(ctx.project_root, ctx.runner, ctx.copy_ignored)) + "\n")
        filter_file = Path(handle.name)
    try:
        done = ctx.runner.stream(rsync_command(target, ctx.project_root, filter_file), echo=False, timeout=1800)
    finally:
        filter_file.unlink(missing_ok=True)
    text = "\n".join(done.lines)
    # 24: some source files vanished while copying (others work in this tree): the rest was copied.
    if done.returncode in (0, 24):
        sent = sum(1 for line in done.lines if line.startswith("<f"))
        deleted = sum(1 for line in done.lines if line.startswith("*deleting"))
        note = "; some local files vanished during the copy" if done.returncode == 24 else ""
        return StageResult(name, OK, f"project copied to {target.host}:{target.project_dir} "
                                     f"({sent} file(s) sent, {deleted} deleted; .env*, git-ignored paths and "
                                     f"the log left out){note}")
    reason = ssh_failure(text, target) if done.returncode in (255, 12) else None
    return StageResult(name, FAILED, reason or f"rsync to {target.host}:{target.project_dir} failed "
                                               f"({_exit(done)}): {done.last_line()}")


def stage_vm_venv(ctx: SyncContext) -> StageResult:
    name = "vm venv"
    target = ctx.target
    ctx.runner.say(f"    on the VM: {target.rebuild_cmd}")
    done = ctx.runner.stream(target.ssh(target.in_project(target.rebuild_cmd), REBUILD_TIMEOUT), prefix="    vm| ",
                             timeout=REBUILD_TIMEOUT + 120, hold_stdin=True)
    if done.returncode == 0:
        return StageResult(name, OK, done.last_line("venv ready"))
    return StageResult(name, FAILED, _remote_failure(done, target, "VM venv rebuild"))


def _parse_json(code: int | None, out: str, err: str, what: str) -> tuple[dict | None, str]:
    if code != 0:
        return None, f"{what} failed ({'timed out' if code is None else f'exit {code}'}): {_one_line(err)}"
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        return None, f"{what} printed no JSON: {_one_line(out + err)}"
    if not isinstance(report, dict):
        return None, f"{what} printed no JSON object"
    return report, ""


def _parse_report(code: int | None, out: str, err: str, where: str) -> tuple[dict | None, str]:
    return _parse_json(code, out, err, f"env report {where}")


def side_by_side(local: Mapping, vm: Mapping) -> list[str]:
    """The headline items of both reports, aligned, for people to read."""
    def short(value: object) -> str:
        return "-" if value is None else str(value)[:12]

    rows = [("", "local", "vm"),
            ("python", short(local.get("python")), short(vm.get("python"))),
            ("java", short(local.get("java")), short(vm.get("java"))),
            ("spark", short(local.get("spark")), short(vm.get("spark"))),
            ("requirements", short(local.get("requirements_hash")), short(vm.get("requirements_hash"))),
            ("venv stamp", short(local.get("venv_stamp")), short(vm.get("venv_stamp"))),
            ("pinned", str(len(local.get("pins") or {})), str(len(vm.get("pins") or {}))),
            ("installed", str(len(local.get("frozen") or {})), str(len(vm.get("frozen") or {})))]
    return [f"    {a:<13} {b:<14} {c}" for a, b, c in rows]


def _remote_capture(ctx: SyncContext, command: str, limit_s: int) -> tuple[int | None, str, str, str | None]:
    """(code, stdout, stderr, ssh failure reason or None) of a guarded command run in VM_PROJECT_DIR."""
    target = ctx.target
    code, out, err = ctx.runner.capture(target.ssh(target.in_project(command), limit_s),
                                        timeout=limit_s + target.connect_timeout + 60, hold_stdin=True)
    return code, out, err, (ssh_failure(err, target) if code == 255 else None)


def stage_parity(ctx: SyncContext) -> StageResult:
    name = "parity"
    target, runner = ctx.target, ctx.runner
    code, out, err = runner.capture([str(ctx.venv_dir / "bin" / "python"), "-m", "scripts.env_report"],
                                    cwd=ctx.project_root)
    local, problem = _parse_report(code, out, err, "locally")
    if local is None:
        return StageResult(name, FAILED, problem)
    code, out, err, reason = _remote_capture(ctx, f"{remote_shell_path(target.python)} -m scripts.env_report", 300)
    if reason:
        return StageResult(name, FAILED, reason)
    vm, problem = _parse_report(code, out, err, "on the VM")
    if vm is None:
        return StageResult(name, FAILED, problem)
    for line in side_by_side(local, vm):
        runner.say(line)
    notes = report_notes(local, vm, "local", "vm")
    for note in notes:
        runner.say(f"    note: {note}")
    differences = compare_reports(local, vm, "local", "vm")
    for difference in differences:
        runner.say(f"    DIFFERENT {difference}")
    if differences:
        shown = "; ".join(differences[:MAX_LOGGED_DIFFERENCES])
        more = len(differences) - MAX_LOGGED_DIFFERENCES
        return StageResult(name, FAILED, f"{len(differences)} difference(s) between local and VM: {shown}"
                                         + (f"; and {more} more" if more > 0 else ""))
    noted = f" (not compared: {'; '.join(notes)})" if notes else ""
    return StageResult(name, OK, f"local and VM identical: python {local.get('python')}, java {local.get('java')}, "
                                 f"spark {local.get('spark')}, {len(local.get('pins') or {})} pinned and "
                                 f"{len(local.get('frozen') or {})} installed packages{noted}")


def _pipeline_command(env: Mapping[str, str]) -> list[str]:
    return _override(env, "SYNC_PIPELINE_CMD") or ["./run_pipeline_safe.sh"]


def stage_pipeline(ctx: SyncContext) -> StageResult:
    name = "pipeline"
    cmd = _pipeline_command(ctx.runner.env)
    if cmd[0].startswith("./"):
        cmd = [str(ctx.project_root / cmd[0][2:]), *cmd[1:]]
    started = time.monotonic()
    done = ctx.runner.stream([*cmd, *ctx.pipeline_args], cwd=ctx.project_root, timeout=24 * 3600,
                             extra_env={"VENV_DIR": str(ctx.venv_dir)})
    ctx.timings["local"] = time.monotonic() - started
    if done.returncode == 0:
        return StageResult(name, OK, f"pipeline finished locally in {ctx.timings['local']:.1f} s (exit 0)")
    return StageResult(name, FAILED, f"pipeline failed ({_exit(done)}): {done.last_line()}")


def stage_vm_raw(ctx: SyncContext) -> StageResult:
    name = "vm raw"
    target = ctx.target
    data_root = ctx.local_data_root
    if "://" in data_root or data_root.startswith("dbfs:"):
        return StageResult(name, FAILED, f"DATA_ROOT={data_root} is not a local folder, so its raw/ cannot be "
                                         "copied to the VM: set SYNC_VM_RAW=own (the VM reads its own raw/)")
    raw = Path(data_root) / "raw"
    if not raw.is_dir() or not any(raw.iterdir()):
        return StageResult(name, FAILED, f"{raw} is empty: nothing to give the VM's pipeline")
    destination = f"{target.data_dir.rstrip('/')}/raw"
    base = ["rsync", "--recursive", "--links", "--perms", "--times", "--compress", "--itemize-changes",
            f"--rsync-path=mkdir -p {remote_shell_path(destination)} && rsync",
            "-e", shlex.join(["ssh", *target.ssh_options()]), f"{raw}/", target.raw_destination()]
    # --delete with --max-delete=0: nothing is deleted (raw data never is), extra files are reported (25).
    done = ctx.runner.stream([*base[:-2], "--delete", "--max-delete=0", *base[-2:]], echo=False, timeout=24 * 3600)
    sent = sum(1 for line in done.lines if line.startswith("<f"))
    if done.returncode == 25:
        listing = ctx.runner.stream([*base[:-2], "--delete", "--dry-run", *base[-2:]], echo=False, timeout=3600)
        extra = [line.split(None, 1)[1] for line in listing.lines
                 if line.startswith("*deleting") and not line.endswith("/")]
        shown = ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
        return StageResult(name, FAILED, f"the VM's {destination}/ holds {len(extra)} file(s) that local raw/ has "
                                         f"not ({shown}): both pipelines would not read the same input. Remove them "
                                         "on the VM (the sync never deletes raw data), or set SYNC_VM_RAW=own")
    if done.returncode != 0:
        reason = ssh_failure("\n".join(done.lines), target) if done.returncode in (255, 12) else None
        return StageResult(name, FAILED, reason or f"copying raw/ to the VM failed ({_exit(done)}): "
                                                   f"{done.last_line()}")
    return StageResult(name, OK, f"local raw/ copied to {target.host}:{destination}/ ({sent} file(s) sent)")


def vm_pipeline_args(ctx: SyncContext) -> list[str]:
    """The local pipeline arguments, on the VM's DATA_ROOT; with a copied raw/, not fetching anew."""
    args = _without_option(ctx.pipeline_args, "--data-root")
    if ctx.target.raw_mode == "copy":
        source = _option_value(args, "--source") or ctx.settings.source
        args = [*_without_option(args, "--source"), "--source", "auto" if source == "api" else source]
    return [*args, "--data-root", ctx.target.data_dir]


def stage_vm_pipeline(ctx: SyncContext) -> StageResult:
    name = "vm pipeline"
    target = ctx.target
    cmd = _pipeline_command(ctx.runner.env)
    args = vm_pipeline_args(ctx)
    quoted = " ".join([*(shlex.quote(part) for part in cmd), *(remote_shell_path(a) if a.startswith("~/")
                                                                else shlex.quote(a) for a in args)])
    remote = f"VENV_DIR={remote_shell_path(target.venv_dir)} {quoted}"
    ctx.runner.say(f"    on the VM: {' '.join(cmd)} {' '.join(args)}")
    started = time.monotonic()
    done = ctx.runner.stream(target.ssh(target.in_project(remote), target.command_timeout), prefix="    vm| ",
                             timeout=target.command_timeout + 120, hold_stdin=True)
    ctx.timings["vm"] = time.monotonic() - started
    if done.returncode == 0:
        return StageResult(name, OK, f"pipeline finished on the VM in {ctx.timings['vm']:.1f} s (exit 0)")
    return StageResult(name, FAILED, _remote_failure(done, target, "VM pipeline"))


def _digest_summary(local: Mapping, vm: Mapping) -> str:
    a, b = local.get("tables") or {}, vm.get("tables") or {}
    parts = []
    for table in sorted(set(a) | set(b)):
        x, y = (a.get(table) or {}).get("digest"), (b.get(table) or {}).get("digest")
        parts.append(f"{table} local {x[:12] if x else '-'} vm {y[:12] if y else '-'}")
    return ", ".join(parts)


def stage_gold(ctx: SyncContext) -> StageResult:
    name = "gold"
    target, runner = ctx.target, ctx.runner
    data_root = ctx.local_data_root
    if "://" in data_root or data_root.startswith("dbfs:"):
        return StageResult(name, SKIPPED, f"DATA_ROOT={data_root} is not a local folder: gold not compared")
    code, out, err = runner.capture([str(ctx.venv_dir / "bin" / "python"), "-m", "scripts.gold_digest", data_root],
                                    cwd=ctx.project_root, timeout=3600)
    local, problem = _parse_json(code, out, err, "gold digest locally")
    if local is None:
        return StageResult(name, FAILED, problem)
    code, out, err, reason = _remote_capture(
        ctx, f"{remote_shell_path(target.python)} -m scripts.gold_digest {remote_shell_path(target.data_dir)}", 3600)
    if reason:
        return StageResult(name, FAILED, reason)
    vm, problem = _parse_json(code, out, err, "gold digest on the VM")
    if vm is None:
        return StageResult(name, FAILED, problem)
    times = (f"local {ctx.timings['local']:.1f} s, vm {ctx.timings['vm']:.1f} s"
             if {"local", "vm"} <= set(ctx.timings) else "run times unknown")
    tables = sorted(set(local.get("tables") or {}) | set(vm.get("tables") or {}))
    for table in tables:
        x = (local.get("tables") or {}).get(table) or {}
        y = (vm.get("tables") or {}).get(table) or {}
        runner.say(f"    {table:<28} local {str(x.get('digest', x.get('error', 'missing')))[:16]:<16} "
                   f"vm {str(y.get('digest', y.get('error', 'missing')))[:16]}")
    differences = compare_digests(local, vm, "local", "vm")
    if differences:
        return StageResult(name, FAILED, f"{len(differences)} of {len(tables)} gold table(s) differ between local "
                                         f"and VM: {'; '.join(differences)} (pipelines: {times})")
    if not tables:
        return StageResult(name, SKIPPED, f"no gold tables on either side (the steps run wrote none; "
                                          f"pipelines: {times})")
    return StageResult(name, OK, f"{len(tables)} gold table(s) identical by content digest "
                                 f"({_digest_summary(local, vm)}; pipelines: {times})")


# --- orchestration ----------------------------------------------------------------------------------

def log_details(results: Sequence[StageResult]) -> str:
    """Every stage's outcome in one line; neighbours with the same outcome and reason share it."""
    groups: list[tuple[list[str], str, str]] = []
    for r in results:
        if groups and groups[-1][1:] == (r.status, r.reason):
            groups[-1][0].append(r.name)
        else:
            groups.append(([r.name], r.status, r.reason))
    return "; ".join(f"{', '.join(names)} {status}: {reason}" for names, status, reason in groups)


def overall(results: Sequence[StageResult], vm_configured: bool = True) -> tuple[int, str]:
    failed = [r for r in results if r.status == FAILED]
    if not failed:
        return EXIT_OK, OK if vm_configured else "ok (local only)"
    return (EXIT_CONFIG if failed[0].name == "config" else EXIT_FAILED), f"failed ({failed[0].name})"


def write_log(results: Sequence[StageResult], result: str, duration_s: float, runner: Runner, project_root: Path,
              log_path: Path) -> None:
    details = runner.mask(log_details(results))
    # After a failed pull the log's rows wait aside (the tree stays clean for a rebase): join them.
    aside = aside_path(project_root) if is_tracked(project_root, log_path) else None
    target = aside if aside is not None and aside.exists() else log_path
    try:
        try:
            append_entry("sync", result, duration_s, details, log_path=target, project_root=project_root)
        except SecretInLogError:
            append_entry("sync", result, duration_s, "details withheld: they contained a secret",
                         log_path=target, project_root=project_root)
    except (OSError, SecretInLogError) as exc:
        say(f"sync: WARNING: could not append to the sync log: {exc}", file=sys.stderr)


def run_sync(project_root: Path, env: Mapping[str, str], dotenv_path: Path, *, pull: bool = True,
             run: bool = True, pipeline_args: Sequence[str] = (), copy_ignored: Sequence[str] = (),
             out=None) -> int:
    """Run every stage, print a summary, append the sync log row; return the exit code."""
    started = time.monotonic()
    config = merged_env(env, dotenv_path)
    mask = Masker([*secret_values(project_root, config).values()])
    runner = Runner(env, mask, out)
    venv_dir = Path(env.get("VENV_DIR") or project_root / ".venv")
    log_path = Path(env["SYNC_LOG"]) if env.get("SYNC_LOG") else default_log_path(project_root)
    results: list[StageResult] = []
    interrupted = False
    target: VmTarget | None = None

    try:
        for path in copy_ignored:
            if fnmatch.fnmatch(Path(path).name, ENV_FILE_PATTERN) and Path(path).name != ENV_TEMPLATE:
                raise SyncConfigError(f"--copy-ignored {path}: .env files are never copied (they hold each "
                                      "machine's configuration and secrets): set the values on the VM itself")
        try:
            settings = load_settings(env=env, dotenv_path=dotenv_path)
        except ConfigError as exc:
            raise SyncConfigError(str(exc)) from None
        target = vm_target(settings, env)
    except SyncConfigError as exc:
        results.append(StageResult("config", FAILED, str(exc)))
    else:
        ctx = SyncContext(project_root=project_root, runner=runner, settings=settings, venv_dir=venv_dir,
                          log_path=log_path, pipeline_args=list(pipeline_args), target=target,
                          copy_ignored=tuple(copy_ignored))
        actions: dict[str, Callable[[], StageResult]] = {
            "pull": lambda: stage_pull(project_root, runner, log_path),
            "local venv": lambda: stage_local_venv(ctx),
            "vm connect": lambda: stage_vm_connect(ctx),
            "vm copy": lambda: stage_vm_copy(ctx),
            "vm venv": lambda: stage_vm_venv(ctx),
            "parity": lambda: stage_parity(ctx),
            "pipeline": lambda: stage_pipeline(ctx),
            "vm raw": lambda: stage_vm_raw(ctx),
            "vm pipeline": lambda: stage_vm_pipeline(ctx),
            "gold": lambda: stage_gold(ctx),
        }
        for name in STAGES:
            skip = None
            if name == "pull" and not pull:
                skip = "--no-pull given"
            elif name in VM_STAGES and target is None:
                skip = "no VM configured: VM_HOST is empty"
            elif name in RUN_STAGES and not run:
                skip = "--no-run given"
            elif name == "vm raw" and target.raw_mode == "own":
                skip = "SYNC_VM_RAW=own: the VM pipeline reads the VM's own raw/"
            if any(r.status == FAILED for r in results):
                results.append(StageResult(name, SKIPPED, "an earlier stage failed"))
                continue
            if skip:
                results.append(StageResult(name, SKIPPED, skip))
                runner.say(f"== {name}: skipped ({skip})")
                continue
            runner.say(f"== {name}")
            try:
                result = actions[name]()
            except KeyboardInterrupt:
                interrupted = True
                result = StageResult(name, FAILED, "interrupted")
            result.reason = mask(result.reason)
            results.append(result)
            runner.say(f"   {result.status}: {result.reason}")

    duration = time.monotonic() - started
    code, result = overall(results, vm_configured=target is not None)
    if interrupted:
        code = EXIT_INTERRUPTED
    runner.say("")
    runner.say("sync summary:")
    for stage in results:
        runner.say(f"  {stage.line()}")
    write_log(results, result, duration, runner, project_root, log_path)
    if code == EXIT_OK:
        runner.say(f"sync {result} ({duration:.1f} s); logged to {log_path}")
    else:
        first = next(r for r in results if r.status == FAILED)
        say(mask(f"sync FAILED at {first.name}: {first.reason}"), file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.sync",
        description="Pull, rebuild the local and VM venvs and prove them identical, run the pipeline on both, "
                    "prove the gold tables identical, log it.",
        epilog="Exit codes: 0 ok; 1 a stage failed; 2 usage or configuration error; 130 interrupted.")
    parser.add_argument("--no-pull", action="store_true", help="do not git pull (the pull stage is skipped)")
    parser.add_argument("--no-run", action="store_true", help="do not run the pipelines nor compare gold")
    parser.add_argument("--copy-ignored", action="append", default=[], metavar="PATH",
                        help="copy this git-ignored path to the VM anyway (repeatable; never .env files)")
    parser.add_argument("--env-file", type=Path, default=PROJECT_ROOT / ".env",
                        help="the .env file to read (default: <project>/.env)")
    parser.add_argument("pipeline_args", nargs="*", metavar="-- PIPELINE ARGS",
                        help="passed to run_pipeline_safe.sh on both sides, e.g. -- --steps 1-5")
    args = parser.parse_args(argv)
    return run_sync(PROJECT_ROOT, dict(os.environ), args.env_file, pull=not args.no_pull, run=not args.no_run,
                    pipeline_args=args.pipeline_args, copy_ignored=args.copy_ignored)


if __name__ == "__main__":
    sys.exit(main())
