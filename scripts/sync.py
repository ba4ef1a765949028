"""`make sync`: anchor, execute, validate: the local and VM environments rebuilt, proven identical, then
the pipeline run and the outcome logged.

    python -m scripts.sync [--no-pull] [--no-run] [--env-file FILE] [-- PIPELINE ARGS...]

Stages, in order; each ends ok, failed or skipped with a one-line reason, and a failed stage stops
the ones after it (they are reported as skipped):
  pull        `git fetch` + fast-forward when the branch has an upstream. A dirty tree (tracked files
              modified, the sync log itself excepted) or a diverged branch stops the sync; no
              upstream, a detached HEAD or --no-pull: skipped.
  local venv  ./rebuild_venv.sh (it does nothing when the requirements are unchanged).
  vm connect  one ssh round trip: checks the VM answers, its host key, the login, that
              VM_PROJECT_DIR is empty or already this project, and that rsync is installed there.
  vm copy     rsync of the project to VM_PROJECT_DIR over the same ssh options. Left out: .git,
              .venv, data/, logs/, .env (each machine keeps its own configuration and secrets),
              sync_log.md (each machine keeps its own log) and caches. Files deleted locally are
              deleted on the VM too; the left-out paths are never touched there.
  vm venv     ./rebuild_venv.sh on the VM, in VM_PROJECT_DIR.
  parity      scripts/env_report.py run with each side's venv python (locally, and on the VM over
              ssh); Python, Java, Spark, the requirements hash, the venv stamp, every pinned package
              and the full frozen package list are compared; any difference is listed by name
              (`pandas: local 1.5.3, vm 2.0.0`) and fails the sync.
  pipeline    ./run_pipeline_safe.sh locally, with the PIPELINE ARGS (skipped with --no-run); it
              appends its own `run` row to the sync log.
Then one row (action `sync`) is appended to the sync log with every stage's outcome. With no VM
configured (VM_HOST empty) the four VM stages are skipped and the local ones run.

ssh always runs with host-key checking on: `StrictHostKeyChecking=accept-new` records the VM's key
in VM_KNOWN_HOSTS on the first connection and refuses a changed key (the sync stops and says so);
`BatchMode=yes` so nothing ever prompts; `ConnectTimeout` so a dead VM fails in seconds.

Configuration (the environment wins over `.env`): VM_HOST, VM_PORT, VM_USER, VM_KEY_FILE,
VM_PROJECT_DIR (see scripts/settings.py; VM_PROJECT_DIR is required with VM_HOST, relative paths
are taken from the VM user's home), and
  VM_KNOWN_HOSTS       known_hosts file the VM's key is checked against and recorded in
                       (default ~/.ssh/known_hosts)
  VM_CONNECT_TIMEOUT   seconds ssh waits for the VM to answer (default 5)
  VM_PYTHON            the VM venv's python (default .venv/bin/python, in VM_PROJECT_DIR)
  VENV_DIR             the local venv (default <project>/.venv)
  SYNC_REMOTE_REBUILD  shell command run on the VM in VM_PROJECT_DIR instead of ./rebuild_venv.sh
  SYNC_LOCAL_REBUILD   command run instead of the local ./rebuild_venv.sh (tests)
  SYNC_PIPELINE_CMD    command run instead of ./run_pipeline_safe.sh, the PIPELINE ARGS appended (tests)
  SYNC_LOG             the log file (default sync_log.md; see scripts/sync_log.py)
Nothing secret is passed on a command line; the values of TMDB_API_TOKEN, TMDB_API_KEY and
DISCOGS_TOKEN are masked in everything printed and logged.

Exit codes: 0 every stage ok or skipped; 1 a stage failed; 2 usage or configuration error;
130 interrupted.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from scripts.env_report import compare_reports
from scripts.settings import ConfigError, load_settings, read_dotenv
from scripts.sync_log import SecretInLogError, append_entry, default_log_path, secret_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130
OK, FAILED, SKIPPED = "ok", "failed", "skipped"
STAGES = ("pull", "local venv", "vm connect", "vm copy", "vm venv", "parity", "pipeline")
VM_STAGES = ("vm connect", "vm copy", "vm venv", "parity")
DEFAULT_CONNECT_TIMEOUT = 5
MAX_LOGGED_DIFFERENCES = 10
# Paths the VM never receives from the local tree (anchored at the project root where a leading /).
RSYNC_EXCLUDES = ("/.git/", "/.venv/", "/.venv.*/", "/data/", "/logs/", "/.env", "/sync_log.md", "/.run.lock",
                  "__pycache__/", "*.pyc", ".pytest_cache/", "/.coverage", "/.coverage.*", "/coverage.xml",
                  "/htmlcov/", "/spark-warehouse/", "/metastore_db/", "/derby.log")
# A VM path or python must survive rsync's and the remote shell's parsing without quoting tricks.
_SAFE_REMOTE_PATH = re.compile(r"^[A-Za-z0-9._/+~-]+$")
_SAFE_HOST = re.compile(r"^[A-Za-z0-9._:%\[\]-]+$")
_SAFE_USER = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._-]*$")
# Remote pre-flight exit codes (chosen outside the range ssh, sh and rsync use).
_REMOTE_NOT_PROJECT, _REMOTE_MKDIR_FAILED, _REMOTE_NO_RSYNC = 65, 66, 67


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


@dataclass(frozen=True)
class VmTarget:
    """Where and how to reach the VM; builds every ssh and rsync command line (no secrets in them)."""

    host: str
    port: int
    user: Optional[str]
    key_file: Optional[str]
    project_dir: str
    known_hosts: str
    connect_timeout: int
    python: str
    rebuild_cmd: str

    @property
    def label(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}:{self.port}"

    def ssh_options(self) -> List[str]:
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

    def ssh(self, remote_command: str) -> List[str]:
        return ["ssh", *self.ssh_options(), self.host, remote_command]

    def rsync_destination(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        path = self.project_dir[2:] if self.project_dir.startswith("~/") else self.project_dir
        return f"{self.user + '@' if self.user else ''}{host}:{path.rstrip('/') or '/'}/"

    def in_project(self, command: str) -> str:
        """A remote shell command run inside VM_PROJECT_DIR."""
        return f"cd {remote_shell_path(self.project_dir)} && {command}"


def remote_shell_path(path: str) -> str:
    """`path` for the remote shell: quoted, with a leading `~/` kept expandable."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def merged_env(env: Mapping[str, str], dotenv_path: Path) -> Dict[str, str]:
    """`.env` overlaid with the environment, as load_settings sees it."""
    merged = dict(read_dotenv(dotenv_path))
    merged.update(env)
    return merged


def _positive_int(config: Mapping[str, str], name: str, default: int) -> int:
    raw = (config.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise SyncConfigError(f"{name}={raw!r} is not a positive whole number of seconds: fix it in .env")
    return int(raw)


def vm_target(env: Mapping[str, str], dotenv_path: Path) -> Optional[VmTarget]:
    """The configured VM, or None when VM_HOST is empty.

    Raises:
        SyncConfigError: a VM variable is missing or unusable (also for scripts.settings.ConfigError).
    """
    try:
        settings = load_settings(env=env, dotenv_path=dotenv_path)
    except ConfigError as exc:
        raise SyncConfigError(str(exc)) from None
    if not settings.vm_host:
        return None
    config = merged_env(env, dotenv_path)
    host, user = settings.vm_host, settings.vm_user
    if not _SAFE_HOST.match(host) or host.startswith("-"):
        raise SyncConfigError(f"VM_HOST={host!r} is not a host name or address: fix it in .env")
    if user and not _SAFE_USER.match(user):
        raise SyncConfigError(f"VM_USER={user!r} is not a user name: fix it in .env")
    project_dir = (settings.vm_project_dir or "").strip()
    if not project_dir:
        raise SyncConfigError("VM_HOST is set but VM_PROJECT_DIR is empty: set the project folder on the VM in .env")
    if not _SAFE_REMOTE_PATH.match(project_dir) or project_dir.rstrip("/") in ("", "~", ".", ".."):
        raise SyncConfigError(f"VM_PROJECT_DIR={project_dir!r} must be a folder of its own on the VM (letters, "
                              "digits, . _ - + / ~ only; not / or ~): fix it in .env")
    python = (config.get("VM_PYTHON") or "").strip() or ".venv/bin/python"
    if not _SAFE_REMOTE_PATH.match(python):
        raise SyncConfigError(f"VM_PYTHON={python!r} must be a plain path (letters, digits, . _ - + / ~): fix it")
    key_file = None
    if settings.vm_key_file:
        key_file = str(Path(settings.vm_key_file).expanduser())
        if not Path(key_file).is_file():
            raise SyncConfigError(f"VM_KEY_FILE={settings.vm_key_file} does not exist: point it at the private key "
                                  "for the VM in .env")
    known_hosts = str(Path(config.get("VM_KNOWN_HOSTS") or "~/.ssh/known_hosts").expanduser())
    if re.search(r"\s", known_hosts):
        raise SyncConfigError(f"VM_KNOWN_HOSTS={known_hosts!r} contains white space, which ssh splits on: "
                              "choose another path")
    for tool, package in (("ssh", "openssh-client"), ("rsync", "rsync")):
        if shutil.which(tool, path=env.get("PATH", os.defpath)) is None:
            raise SyncConfigError(f"{tool} not found on PATH: install it (apt-get install {package})")
    return VmTarget(host=host, port=settings.vm_port, user=user, key_file=key_file, project_dir=project_dir,
                    known_hosts=known_hosts,
                    connect_timeout=_positive_int(config, "VM_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT),
                    python=python,
                    rebuild_cmd=(config.get("SYNC_REMOTE_REBUILD") or "").strip() or "./rebuild_venv.sh")


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

    returncode: Optional[int]
    lines: List[str]

    def last_line(self, default: str = "no output") -> str:
        for line in reversed(self.lines):
            text = line.strip()
            if text and not set(text) <= {"@"}:
                return text
        return default


class Runner:
    """Runs commands with stdin closed, output shown indented (or kept quiet), secrets masked."""

    def __init__(self, env: Mapping[str, str], mask: Masker, out=None):
        self.env = dict(env)
        self.mask = mask
        self.out = out or sys.stdout

    def say(self, text: str = "") -> None:
        print(self.mask(text), file=self.out, flush=True)

    def stream(self, cmd: Sequence[str], *, cwd: Optional[Path] = None, timeout: float = 3600,
               prefix: str = "    | ", echo: bool = True, extra_env: Optional[Mapping[str, str]] = None
               ) -> Completed:
        """Run `cmd`, stdout and stderr merged; each line is kept and, with `echo`, shown as it comes."""
        env = {**self.env, **(extra_env or {})}
        try:
            process = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       errors="replace", start_new_session=True)
        except OSError as exc:
            return Completed(127, [f"cannot run {cmd[0]}: {exc.strerror or exc}"])
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        lines: List[str] = []
        try:
            assert process.stdout is not None
            for raw in process.stdout:
                line = self.mask(raw.rstrip("\n"))
                lines.append(line)
                if echo:
                    print(prefix + line, file=self.out, flush=True)
            returncode = process.wait()
        except BaseException:
            # Ctrl-C reaches only this process (the command runs in its own session, so a timeout can
            # end its whole tree): pass it on as TERM, which run_pipeline_safe.sh logs before exiting.
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                kill()
                process.wait()
            raise
        finally:
            timer.cancel()
        if timed_out.is_set():
            return Completed(None, lines + [f"timed out after {timeout:g} s"])
        return Completed(returncode, lines)

    def capture(self, cmd: Sequence[str], *, cwd: Optional[Path] = None, timeout: float = 300
                ) -> Tuple[Optional[int], str, str]:
        """Run `cmd` quietly: (exit code or None on timeout, stdout, masked stderr)."""
        try:
            completed = subprocess.run(list(cmd), cwd=cwd, env=self.env, stdin=subprocess.DEVNULL,
                                       capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, "", f"timed out after {timeout:g} s"
        except OSError as exc:
            return 127, "", f"cannot run {cmd[0]}: {exc.strerror or exc}"
        return completed.returncode, completed.stdout, self.mask(completed.stderr)


# --- ssh failures -----------------------------------------------------------------------------------

_UNREACHABLE_MARKERS = ("Connection refused", "Connection timed out", "Operation timed out", "timed out",
                        "No route to host", "Network is unreachable", "Could not resolve hostname",
                        "Name or service not known", "Connection closed", "Connection reset")


def ssh_failure(text: str, target: VmTarget) -> Optional[str]:
    """One line saying why ssh itself failed (host key, login, reachability), or None if it did not."""
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return (f"the host key of {target.host}:{target.port} has CHANGED since it was recorded in "
                f"{target.known_hosts}: sync stopped (possible man-in-the-middle). If the VM was rebuilt, "
                f"check its new key fingerprint out of band, then run: ssh-keygen -R "
                f"'[{target.host}]:{target.port}' -f {target.known_hosts}")
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


# --- stages -----------------------------------------------------------------------------------------

def _git(project_root: Path, runner: Runner, *args: str, timeout: float = 120) -> Tuple[Optional[int], str, str]:
    return runner.capture(["git", "-C", str(project_root), *args], timeout=timeout)


def stage_pull(project_root: Path, runner: Runner, log_path: Optional[Path] = None) -> StageResult:
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

    # The log is tracked and every run appends to it: on its own it does not make the tree dirty.
    pathspec = ["--", "."]
    if log_path is not None:
        try:
            toplevel = Path(_git(project_root, runner, "rev-parse", "--show-toplevel")[1].strip())
            pathspec.append(f":(top,exclude){Path(log_path).resolve().relative_to(toplevel.resolve())}")
        except ValueError:
            pass
    code, status, err = _git(project_root, runner, "status", "--porcelain", "--untracked-files=no", *pathspec)
    if code != 0:
        return StageResult(name, FAILED, f"git status failed: {_one_line(err)}")
    changed = [line[3:] for line in status.splitlines() if line.strip()]
    if changed:
        return StageResult(name, FAILED, f"working tree has uncommitted changes ({len(changed)} file(s), e.g. "
                                         f"{changed[0]}): commit or stash them, then sync again")

    code, _, err = _git(project_root, runner, "fetch", "--quiet", timeout=300)
    if code != 0:
        return StageResult(name, FAILED, f"git fetch failed: {_one_line(err)}")
    code, counts, err = _git(project_root, runner, "rev-list", "--left-right", "--count", "HEAD...@{u}")
    if code != 0:
        return StageResult(name, FAILED, f"cannot compare {branch} with {upstream}: {_one_line(err)}")
    ahead, behind = (int(n) for n in counts.split())
    if ahead and behind:
        return StageResult(name, FAILED, f"{branch} and {upstream} have diverged ({ahead} local, {behind} upstream "
                                         "commit(s)): rebase or merge by hand, then sync again")
    if not behind:
        unpushed = f"; {ahead} local commit(s) not pushed" if ahead else ""
        return StageResult(name, OK, f"{branch} is up to date with {upstream}{unpushed}")
    code, _, err = _git(project_root, runner, "merge", "--ff-only", "--quiet", "@{u}")
    if code != 0:
        return StageResult(name, FAILED, f"fast-forward to {upstream} failed: {_one_line(err)}")
    return StageResult(name, OK, f"fast-forwarded {branch} by {behind} commit(s) from {upstream}")


def _override(env: Mapping[str, str], name: str) -> Optional[List[str]]:
    value = (env.get(name) or "").strip()
    return shlex.split(value) if value else None


def stage_local_venv(project_root: Path, runner: Runner, venv_dir: Path) -> StageResult:
    name = "local venv"
    cmd = _override(runner.env, "SYNC_LOCAL_REBUILD") or [str(project_root / "rebuild_venv.sh")]
    done = runner.stream(cmd, cwd=project_root, extra_env={"VENV_DIR": str(venv_dir)})
    if done.returncode == 0:
        return StageResult(name, OK, done.last_line("venv ready"))
    return StageResult(name, FAILED, f"local rebuild_venv.sh failed ({_exit(done)}): {done.last_line()}")


def _exit(done: Completed) -> str:
    return "timed out" if done.returncode is None else f"exit {done.returncode}"


def stage_vm_connect(target: VmTarget, runner: Runner) -> StageResult:
    name = "vm connect"
    folder = remote_shell_path(target.project_dir)
    check = (f"d={folder}; "
             f"if [ -e \"$d\" ] && [ ! -f \"$d/rebuild_venv.sh\" ] && [ -n \"$(ls -A \"$d\" 2>/dev/null)\" ]; "
             f"then exit {_REMOTE_NOT_PROJECT}; fi; "
             f"mkdir -p \"$d\" || exit {_REMOTE_MKDIR_FAILED}; "
             f"command -v rsync >/dev/null 2>&1 || exit {_REMOTE_NO_RSYNC}")
    # ssh records a first-seen key only into a folder that exists.
    Path(target.known_hosts).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # The timeout only guards a VM that accepts the connection and then hangs.
    done = runner.stream(target.ssh(check), echo=False, timeout=target.connect_timeout + 60)
    text = "\n".join(done.lines)
    if done.returncode == 0:
        recorded = " (first connection: host key recorded)" if "Permanently added" in text else ""
        return StageResult(name, OK, f"{target.label} answered, host key checked against "
                                     f"{target.known_hosts}{recorded}")
    if done.returncode == _REMOTE_NOT_PROJECT:
        return StageResult(name, FAILED, f"VM_PROJECT_DIR={target.project_dir} on the VM is not empty and has no "
                                         "rebuild_venv.sh: not syncing into it (fix VM_PROJECT_DIR in .env)")
    if done.returncode == _REMOTE_MKDIR_FAILED:
        return StageResult(name, FAILED, f"cannot create VM_PROJECT_DIR={target.project_dir} on the VM: "
                                         f"{done.last_line()}")
    if done.returncode == _REMOTE_NO_RSYNC:
        return StageResult(name, FAILED, "rsync is not installed on the VM: install it there "
                                         "(apt-get install rsync)")
    return StageResult(name, FAILED, ssh_failure(text, target)
                       or f"ssh to {target.label} failed ({_exit(done)}): {done.last_line()}")


def rsync_command(target: VmTarget, project_root: Path) -> List[str]:
    return ["rsync", "--recursive", "--links", "--perms", "--times", "--compress", "--delete",
            "--itemize-changes", *[f"--exclude={pattern}" for pattern in RSYNC_EXCLUDES],
            "-e", shlex.join(["ssh", *target.ssh_options()]),
            f"{project_root}/", target.rsync_destination()]


def stage_vm_copy(target: VmTarget, runner: Runner, project_root: Path) -> StageResult:
    name = "vm copy"
    done = runner.stream(rsync_command(target, project_root), echo=False, timeout=1800)
    text = "\n".join(done.lines)
    # 24: some source files vanished while copying (others work in this tree): the rest was copied.
    if done.returncode in (0, 24):
        sent = sum(1 for line in done.lines if line.startswith("<f"))
        deleted = sum(1 for line in done.lines if line.startswith("*deleting"))
        note = "; some local files vanished during the copy" if done.returncode == 24 else ""
        return StageResult(name, OK, f"project copied to {target.host}:{target.project_dir} "
                                     f"({sent} file(s) sent, {deleted} deleted){note}")
    reason = ssh_failure(text, target) if done.returncode in (255, 12) else None
    return StageResult(name, FAILED, reason or f"rsync to {target.host}:{target.project_dir} failed "
                                               f"({_exit(done)}): {done.last_line()}")


def stage_vm_venv(target: VmTarget, runner: Runner) -> StageResult:
    name = "vm venv"
    runner.say(f"    on the VM: {target.rebuild_cmd}")
    done = runner.stream(target.ssh(target.in_project(target.rebuild_cmd)), prefix="    vm| ", timeout=3600)
    if done.returncode == 0:
        return StageResult(name, OK, done.last_line("venv ready"))
    reason = ssh_failure("\n".join(done.lines), target) if done.returncode == 255 else None
    return StageResult(name, FAILED, reason or f"VM venv rebuild failed ({_exit(done)}): {done.last_line()}")


def _parse_report(code: Optional[int], out: str, err: str, where: str) -> Tuple[Optional[dict], str]:
    if code != 0:
        return None, f"env report {where} failed ({'timed out' if code is None else f'exit {code}'}): " \
                     f"{_one_line(err)}"
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        return None, f"env report {where} printed no JSON: {_one_line(out + err)}"
    if not isinstance(report, dict):
        return None, f"env report {where} printed no JSON object"
    return report, ""


def side_by_side(local: Mapping, vm: Mapping) -> List[str]:
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


def stage_parity(target: VmTarget, runner: Runner, project_root: Path, venv_dir: Path) -> StageResult:
    name = "parity"
    code, out, err = runner.capture([str(venv_dir / "bin" / "python"), "-m", "scripts.env_report"], cwd=project_root)
    local, problem = _parse_report(code, out, err, "locally")
    if local is None:
        return StageResult(name, FAILED, problem)
    remote_cmd = target.in_project(f"{remote_shell_path(target.python)} -m scripts.env_report")
    code, out, err = runner.capture(target.ssh(remote_cmd), timeout=target.connect_timeout + 300)
    reason = ssh_failure(err, target) if code == 255 else None
    if reason:
        return StageResult(name, FAILED, reason)
    vm, problem = _parse_report(code, out, err, "on the VM")
    if vm is None:
        return StageResult(name, FAILED, problem)
    for line in side_by_side(local, vm):
        runner.say(line)
    differences = compare_reports(local, vm, "local", "vm")
    for difference in differences:
        runner.say(f"    DIFFERENT {difference}")
    if differences:
        shown = "; ".join(differences[:MAX_LOGGED_DIFFERENCES])
        more = len(differences) - MAX_LOGGED_DIFFERENCES
        return StageResult(name, FAILED, f"{len(differences)} difference(s) between local and VM: {shown}"
                                         + (f"; and {more} more" if more > 0 else ""))
    return StageResult(name, OK, f"local and VM identical: python {local.get('python')}, java {local.get('java')}, "
                                 f"spark {local.get('spark')}, {len(local.get('pins') or {})} pinned and "
                                 f"{len(local.get('frozen') or {})} installed packages")


def stage_pipeline(project_root: Path, runner: Runner, venv_dir: Path, pipeline_args: Sequence[str]) -> StageResult:
    name = "pipeline"
    cmd = (_override(runner.env, "SYNC_PIPELINE_CMD") or [str(project_root / "run_pipeline_safe.sh")])
    done = runner.stream([*cmd, *pipeline_args], cwd=project_root, timeout=24 * 3600,
                         extra_env={"VENV_DIR": str(venv_dir)})
    if done.returncode == 0:
        return StageResult(name, OK, "pipeline finished (exit 0)")
    return StageResult(name, FAILED, f"pipeline failed ({_exit(done)}): {done.last_line()}")


# --- orchestration ----------------------------------------------------------------------------------

def log_details(results: Sequence[StageResult]) -> str:
    """Every stage's outcome in one line; neighbours with the same outcome and reason share it."""
    groups: List[Tuple[List[str], str, str]] = []
    for r in results:
        if groups and groups[-1][1:] == (r.status, r.reason):
            groups[-1][0].append(r.name)
        else:
            groups.append(([r.name], r.status, r.reason))
    return "; ".join(f"{', '.join(names)} {status}: {reason}" for names, status, reason in groups)


def overall(results: Sequence[StageResult]) -> Tuple[int, str]:
    failed = [r for r in results if r.status == FAILED]
    if not failed:
        return EXIT_OK, OK
    return (EXIT_CONFIG if failed[0].name == "config" else EXIT_FAILED), f"failed ({failed[0].name})"


def write_log(results: Sequence[StageResult], duration_s: float, runner: Runner, project_root: Path,
              log_path: Optional[Path]) -> None:
    _, result = overall(results)
    details = runner.mask(log_details(results))
    try:
        try:
            append_entry("sync", result, duration_s, details, log_path=log_path, project_root=project_root)
        except SecretInLogError:
            append_entry("sync", result, duration_s, "details withheld: they contained a secret",
                         log_path=log_path, project_root=project_root)
    except (OSError, SecretInLogError) as exc:
        print(f"sync: WARNING: could not append to the sync log: {exc}", file=sys.stderr)


def run_sync(project_root: Path, env: Mapping[str, str], dotenv_path: Path, *, pull: bool = True,
             run: bool = True, pipeline_args: Sequence[str] = (), out=None) -> int:
    """Run every stage, print a summary, append the sync log row; return the exit code."""
    started = time.monotonic()
    config = merged_env(env, dotenv_path)
    mask = Masker([*secret_values(project_root, config).values()])
    runner = Runner(env, mask, out)
    venv_dir = Path(env.get("VENV_DIR") or project_root / ".venv")
    log_path = Path(env["SYNC_LOG"]) if env.get("SYNC_LOG") else default_log_path(project_root)
    results: List[StageResult] = []
    interrupted = False

    try:
        target = vm_target(env, dotenv_path)
    except SyncConfigError as exc:
        results.append(StageResult("config", FAILED, str(exc)))
    else:
        vm_skip = None if target else "no VM configured: VM_HOST is empty"
        plan = [
            ("pull", (lambda: stage_pull(project_root, runner, log_path)) if pull else "--no-pull given"),
            ("local venv", lambda: stage_local_venv(project_root, runner, venv_dir)),
            ("vm connect", vm_skip or (lambda: stage_vm_connect(target, runner))),
            ("vm copy", vm_skip or (lambda: stage_vm_copy(target, runner, project_root))),
            ("vm venv", vm_skip or (lambda: stage_vm_venv(target, runner))),
            ("parity", vm_skip or (lambda: stage_parity(target, runner, project_root, venv_dir))),
            ("pipeline", (lambda: stage_pipeline(project_root, runner, venv_dir, pipeline_args)) if run
             else "--no-run given"),
        ]
        for name, action in plan:
            if any(r.status == FAILED for r in results):
                results.append(StageResult(name, SKIPPED, "an earlier stage failed"))
                continue
            if isinstance(action, str):
                results.append(StageResult(name, SKIPPED, action))
                runner.say(f"== {name}: skipped ({action})")
                continue
            runner.say(f"== {name}")
            try:
                result = action()
            except KeyboardInterrupt:
                interrupted = True
                result = StageResult(name, FAILED, "interrupted")
            result.reason = mask(result.reason)
            results.append(result)
            runner.say(f"   {result.status}: {result.reason}")

    duration = time.monotonic() - started
    code, result = overall(results)
    if interrupted:
        code = EXIT_INTERRUPTED
    runner.say("")
    runner.say("sync summary:")
    for stage in results:
        runner.say(f"  {stage.line()}")
    write_log(results, duration, runner, project_root, log_path)
    if code == EXIT_OK:
        runner.say(f"sync ok ({duration:.1f} s); logged to {log_path}")
    else:
        first = next(r for r in results if r.status == FAILED)
        print(mask(f"sync FAILED at {first.name}: {first.reason}"), file=sys.stderr)
    return code


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.sync",
        description="Pull, rebuild the local and VM venvs, prove them identical, run the pipeline, log it.",
        epilog="Exit codes: 0 ok; 1 a stage failed; 2 usage or configuration error; 130 interrupted.")
    parser.add_argument("--no-pull", action="store_true", help="do not git pull (the pull stage is skipped)")
    parser.add_argument("--no-run", action="store_true", help="do not run the pipeline (the last stage)")
    parser.add_argument("--env-file", type=Path, default=PROJECT_ROOT / ".env",
                        help="the .env file to read (default: <project>/.env)")
    parser.add_argument("pipeline_args", nargs="*", metavar="-- PIPELINE ARGS",
                        help="passed to run_pipeline_safe.sh, e.g. -- --steps 1-5")
    args = parser.parse_args(argv)
    return run_sync(PROJECT_ROOT, dict(os.environ), args.env_file, pull=not args.no_pull, run=not args.no_run,
                    pipeline_args=args.pipeline_args)


if __name__ == "__main__":
    sys.exit(main())
