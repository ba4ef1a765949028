"""scripts/sync.py (`make sync`) and scripts/env_report.py, against a real OpenSSH server on 127.0.0.1.

The "VM" is a temp folder reached through a test sshd (tests/scripts/sshd_fixture.py) with its own
host key and authorized client key; the project is really rsynced there, and the env report, the
gold digests and the pipeline really run there over ssh.

Two kinds of venv stand in for the VM's, both offline:
- most tests: SYNC_REMOTE_REBUILD is a script that makes a pip-less venv whose packages are the
  local .venv's (a .pth file), plus any fake distributions a test wants to differ;
- the drift tests: the real rebuild_venv.sh on both sides, in a temp copy of the project whose
  requirements pin one small package installed from hand-made wheels (--no-index --find-links).
The pipeline is a stand-in (SYNC_PIPELINE_CMD, tests/scripts/fake_pipeline.py) run on both sides:
it generates raw/ from SAMPLE_SEED when raw/ is empty and writes gold Parquet tables from raw/, with
random file names, file counts and row order, so equal gold digests mean equal content. Decision:
no Spark here, because two real pipeline runs would take minutes on shared cores; the Spark steps
have their own tests, and what this file proves is the sync around them. The real .venv is never
touched; the pull stage is exercised on temp git repositories; every test logs to a temp SYNC_LOG.
"""
from __future__ import annotations

import io
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
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

from scripts import env_report, sync, sync_log
from scripts.env_report import build_report, compare_reports, report_notes
from scripts.gold_digest import compare_digests, gold_digests
from scripts.sync import Masker, Runner, StageResult, log_details, stage_pull
from tests.scripts.sshd_fixture import TestSshd, free_port, generate_key, sshd_unavailable_reason

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_VENV = PROJECT_ROOT / ".venv"
FAKE_PIPELINE = Path(__file__).resolve().parent / "fake_pipeline.py"
FAKE_TOKEN = "fake-discogs-token-0d41c7a9e3"
ISOLATED_VARS = ("VM_HOST", "VM_PORT", "VM_USER", "VM_KEY_FILE", "VM_PROJECT_DIR", "VM_KNOWN_HOSTS", "VM_PYTHON",
                 "VM_CONNECT_TIMEOUT", "VM_DATA_ROOT", "VM_COMMAND_TIMEOUT", "SYNC_VM_RAW", "SYNC_REMOTE_REBUILD",
                 "SYNC_LOCAL_REBUILD", "SYNC_PIPELINE_CMD", "SYNC_MAKE_STARTED", "TMDB_API_TOKEN", "TMDB_API_KEY",
                 "DISCOGS_TOKEN", "REQUIREMENTS_FILE", "VENV_DIR", "DATA_ROOT", "SOURCE", "SAMPLE_SEED",
                 "SAMPLE_FILMS", "PYTHON", "PIP_VERSION", "REBUILD_LOCK_WAIT")
SYNC_ARGS = ["--no-pull", "--env-file", os.devnull]  # the working tree is never pulled by a test


# --- helpers ----------------------------------------------------------------------------------------

def log_rows(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    rows = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("| ") and not line.startswith("| time (UTC)")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row[1:-1])] for row in rows]


def local_site_packages() -> Path:
    return next((LOCAL_VENV / "lib").glob("python3*/site-packages"))


def local_base_python() -> str:
    """The interpreter the local .venv was made from (its pyvenv.cfg `home`)."""
    config = dict(line.split(" = ", 1) for line in (LOCAL_VENV / "pyvenv.cfg").read_text().splitlines()
                  if " = " in line)
    version = ".".join(config["version"].split(".")[:2])
    return str(Path(config["home"]) / f"python{version}")


def write_fake_remote_rebuild(path: Path, vm_only: dict[str, str] | None = None) -> str:
    """A stand-in for the VM's ./rebuild_venv.sh, run there in VM_PROJECT_DIR; returns the command.

    It builds `.venv` without pip whose packages are the local venv's (through a .pth file), with the
    local venv's requirements stamp, then installs `vm_only` as metadata-only distributions that take
    precedence, as a VM whose pins moved would have them.
    """
    stamp = LOCAL_VENV / ".requirements.sha256"
    lines = [
        "set -euo pipefail",
        # Never write into a venv that is not the VM's own (a copied symlink would lead to the local one).
        "if [ -L .venv ]; then echo '.venv is a symlink: refusing' >&2; exit 9; fi",
        f"[ -x .venv/bin/python ] || {shlex.quote(local_base_python())} -m venv --without-pip .venv",
        "site=\"$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()[\"purelib\"])')\"",
        f"echo {shlex.quote(str(local_site_packages()))} > \"$site/local_venv.pth\"",
        f"if [ -f {shlex.quote(str(stamp))} ]; then cp {shlex.quote(str(stamp))} .venv/.requirements.sha256; fi",
    ]
    for name, version in (vm_only or {}).items():
        info = f"\"$site\"/{name}-{version}.dist-info"
        lines += [f"mkdir -p {info}",
                  f"printf 'Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n' > {info}/METADATA"]
    lines.append("echo 'venv ready (test VM)'")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"bash {shlex.quote(str(path))}"


def fake_pipeline_command() -> str:
    """SYNC_PIPELINE_CMD: the stand-in pipeline, run by the venv of the side it runs on."""
    return (f"sh -c 'PYTHONPATH=\"$PWD\" exec \"$VENV_DIR/bin/python\" {shlex.quote(str(FAKE_PIPELINE))} \"$@\"' "
            "fake_pipeline")


def run_main(capsys: pytest.CaptureFixture, *extra: str) -> tuple:
    code = sync.main([*SYNC_ARGS, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def gold_files(data_root: Path) -> list[str]:
    return sorted(str(p.relative_to(data_root)) for p in (data_root / "gold").rglob("*.parquet"))


# --- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No VM, no secrets, stand-in rebuild and pipeline, data and the sync log in tmp_path; returns the log."""
    for name in ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    log = tmp_path / "sync_log.md"
    monkeypatch.setenv("SYNC_LOG", str(log))
    monkeypatch.setenv("VM_HOST", "")
    monkeypatch.setenv("VENV_DIR", str(LOCAL_VENV))
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "local_data"))
    # Set here, so a developer's own .env cannot change the local side's sample.
    monkeypatch.setenv("SAMPLE_SEED", "42")
    monkeypatch.setenv("SAMPLE_FILMS", "300")
    monkeypatch.setenv("SYNC_LOCAL_REBUILD", "echo 'venv up to date (stand-in)'")
    monkeypatch.setenv("SYNC_PIPELINE_CMD", fake_pipeline_command())
    return log


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestSshd]:
    reason = sshd_unavailable_reason()
    if reason:
        pytest.skip(reason)
    if not (LOCAL_VENV / "pyvenv.cfg").is_file():
        pytest.skip("no local .venv to mirror on the test VM (run ./rebuild_venv.sh)")
    server = TestSshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def vm(sshd: TestSshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the sync at the test sshd, with an empty known_hosts; returns the VM's project folder."""
    project_dir = tmp_path / "vm" / "soundtracks"
    for name, value in sshd.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("VM_PROJECT_DIR", str(project_dir))
    monkeypatch.setenv("VM_KNOWN_HOSTS", str(tmp_path / "dot_ssh" / "known_hosts"))  # its folder is made too
    monkeypatch.setenv("SYNC_REMOTE_REBUILD", write_fake_remote_rebuild(tmp_path / "fake_rebuild.sh"))
    return project_dir


# --- the whole sync over real ssh ---------------------------------------------------------------------

def test_full_sync_runs_the_pipeline_on_both_sides_and_finds_identical_gold(
        vm: Path, isolated_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCOGS_TOKEN", FAKE_TOKEN)
    code, out, err = run_main(capsys, "--", "--steps", "1-5")
    assert code == 0, out + err
    assert re.search(r"first connection: host key ED25519 SHA256:[A-Za-z0-9+/]+ recorded in", out)
    assert re.search(r"parity\s+ok\s+local and VM identical: python 3\.10\.\d+, java \S+, spark 3\.5\.\d", out)
    assert "venv ready (test VM)" in out, "the VM rebuild ran over ssh and its output was shown"
    assert "vm| fake pipeline ['--steps', '1-5', '--source', 'auto', '--data-root', " in out

    # Same input on both sides (generated locally, copied), gold written in a different layout, same digests.
    local_data, vm_data = tmp_path / "local_data", vm / "data"
    assert (vm_data / "raw" / "films.jsonl").read_bytes() == (local_data / "raw" / "films.jsonl").read_bytes()
    assert gold_files(local_data) and gold_files(local_data) != gold_files(vm_data), "file names are random"
    digests = gold_digests(local_data)["tables"]
    assert sorted(digests) == ["film_soundtracks", "genre_counts"], "the *_csv copy is not a table"
    assert gold_digests(vm_data)["tables"] == digests
    assert re.search(r"gold\s+ok\s+2 gold table\(s\) identical by content digest \(film_soundtracks local "
                     + digests["film_soundtracks"]["digest"][:12] + " vm " + digests["film_soundtracks"]["digest"][:12]
                     + r", genre_counts local \w{12} vm \w{12}; pipelines: local \d+\.\d s, vm \d+\.\d s\)", out)

    # The project arrived, the VM's own venv stayed out of the copy, nothing excluded was sent.
    assert (vm / "scripts" / "env_report.py").read_bytes() == (PROJECT_ROOT / "scripts" / "env_report.py").read_bytes()
    assert (vm / ".venv" / "bin" / "python").exists() and not (vm / ".venv").is_symlink()
    for excluded in (".git", ".env", "sync_log.md", "logs"):
        assert not (vm / excluded).exists(), excluded
    found = subprocess.run(["ssh-keygen", "-F", f"[127.0.0.1]:{os.environ['VM_PORT']}", "-f",
                            str(tmp_path / "dot_ssh" / "known_hosts")], capture_output=True, text=True, timeout=30)
    assert found.returncode == 0 and " ssh-ed25519 " in found.stdout, "the VM's key was recorded (maybe hashed)"

    rows = log_rows(isolated_env)
    assert len(rows) == 1 and rows[0][3:5] == ["sync", "ok"]
    details = rows[0][10]
    assert "parity ok: local and VM identical" in details
    assert "vm venv ok: venv ready (test VM)" in details
    assert "pull skipped: --no-pull given" in details
    for table, found_digest in digests.items():
        short = found_digest["digest"][:12]
        assert f"{table} local {short} vm {short}" in details, "both sides' digests are logged"
    assert re.search(r"pipeline ok: pipeline finished locally in \d+\.\d s", details)
    assert re.search(r"vm pipeline ok: pipeline finished on the VM in \d+\.\d s", details)

    # Second sync: the key is known now; a file deleted locally goes from the VM, its data/ stays.
    (vm / "stale_module.py").write_text("gone locally\n")
    (vm_data / "vm_only.parquet").write_text("the VM's own data\n")
    code, out, err = run_main(capsys, "--no-run")
    assert code == 0, out + err
    assert "first connection" not in out and "host key ED25519 SHA256:" in out
    assert not (vm / "stale_module.py").exists()
    assert (vm_data / "vm_only.parquet").exists()
    assert re.search(r"pipeline\s+skipped --no-run given", out)
    assert re.search(r"gold\s+skipped --no-run given", out)
    assert [r[3:5] for r in log_rows(isolated_env)] == [["sync", "ok"], ["sync", "ok"]]
    assert FAKE_TOKEN not in isolated_env.read_text(encoding="utf-8")


def test_a_different_gold_on_the_vm_is_named_and_fails_the_sync(vm: Path, isolated_env: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # The VM reads its own raw/, which is empty, so its pipeline generates it with its own .env's seed.
    monkeypatch.setenv("SYNC_VM_RAW", "own")
    vm.mkdir(parents=True)
    (vm / "rebuild_venv.sh").write_text("# replaced by the copy\n")
    (vm / ".env").write_text("SAMPLE_SEED=7\nSAMPLE_FILMS=300\n")
    code, out, err = run_main(capsys, "--", "--steps", "1-5")
    assert code == 1, out + err
    assert (vm / ".env").read_text() == "SAMPLE_SEED=7\nSAMPLE_FILMS=300\n", "the VM's own .env is kept"
    assert re.search(r"vm raw\s+skipped SYNC_VM_RAW=own: the VM pipeline reads the VM's own raw/", out)
    local = gold_digests(tmp_path / "local_data")["tables"]
    remote = gold_digests(vm / "data")["tables"]
    assert local["film_soundtracks"]["digest"] != remote["film_soundtracks"]["digest"]
    assert err.startswith("sync FAILED at gold: 2 of 2 gold table(s) differ between local and VM: film_soundtracks: "
                          f"local {local['film_soundtracks']['digest'][:12]}, vm "
                          f"{remote['film_soundtracks']['digest'][:12]} (")
    assert "genre_counts: local " in err and re.search(r"\(pipelines: local \d+\.\d s, vm \d+\.\d s\)", err)
    rows = log_rows(isolated_env)
    assert rows[0][4] == "failed (gold)"
    assert f"film_soundtracks: local {local['film_soundtracks']['digest'][:12]}" in rows[0][10]


def test_extra_files_in_the_vms_raw_are_named_and_never_deleted(vm: Path, isolated_env: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    extra = vm / "data" / "raw" / "tmdb" / "fetched_on_the_vm.jsonl"
    extra.parent.mkdir(parents=True)
    extra.write_text('{"id": 1}\n')
    (vm / "rebuild_venv.sh").write_text("# replaced by the copy\n")
    code, out, err = run_main(capsys, "--", "--steps", "1-5")
    assert code == 1, out + err
    assert err.startswith("sync FAILED at vm raw: the VM's ")
    assert "holds 1 file(s) that local raw/ has not (tmdb/fetched_on_the_vm.jsonl)" in err
    assert extra.read_text() == '{"id": 1}\n'
    assert (vm / "data" / "raw" / "films.jsonl").exists(), "the local raw/ was copied all the same"
    assert "vm pipeline, gold skipped: an earlier stage failed" in log_rows(isolated_env)[0][10]


def test_a_pin_changed_on_the_vm_is_named_and_fails_the_sync(vm: Path, isolated_env: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_REMOTE_REBUILD", write_fake_remote_rebuild(
        tmp_path / "drifted_rebuild.sh", vm_only={"pandas": "2.0.0", "left-pad": "1.3.0"}))
    local_pandas = metadata.version("pandas")
    code, out, err = run_main(capsys)
    assert code == 1
    assert f"DIFFERENT pandas: local {local_pandas}, vm 2.0.0" in out
    assert "DIFFERENT left-pad: local not installed, vm 1.3.0" in out
    assert err.strip() == (f"sync FAILED at parity: 2 difference(s) between local and VM: pandas: local "
                           f"{local_pandas}, vm 2.0.0; left-pad: local not installed, vm 1.3.0")
    assert "fake pipeline" not in out, "no pipeline run on environments that differ"
    rows = log_rows(isolated_env)
    assert rows[0][3:5] == ["sync", "failed (parity)"]
    assert f"pandas: local {local_pandas}, vm 2.0.0" in rows[0][10]
    assert "pipeline, vm raw, vm pipeline, gold skipped: an earlier stage failed" in rows[0][10]


def test_a_changed_host_key_stops_the_sync(tmp_path: Path, isolated_env: Path, capsys: pytest.CaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reason = sshd_unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = TestSshd(tmp_path / "sshd")
    try:
        server.start()
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        known_hosts = tmp_path / "known_hosts"
        monkeypatch.setenv("VM_KNOWN_HOSTS", str(known_hosts))
        monkeypatch.setenv("VM_PROJECT_DIR", str(tmp_path / "vm"))
        monkeypatch.setenv("SYNC_REMOTE_REBUILD", write_fake_remote_rebuild(tmp_path / "fake_rebuild.sh"))
        first, out, err = run_main(capsys, "--no-run")
        assert first == 0, out + err
        recorded = known_hosts.read_text()

        server.restart_with_new_host_key()
        (tmp_path / "vm" / "scripts" / "env_report.py").unlink()
        started = time.monotonic()
        code, out, err = run_main(capsys, "--no-run")
    finally:
        server.stop()
    assert code == 1
    assert time.monotonic() - started < 10
    assert err.startswith(f"sync FAILED at vm connect: the host key of 127.0.0.1:{server.port} has CHANGED")
    assert "ssh-keygen -R" in err and len(err.strip().splitlines()) == 1
    new_key = subprocess.run(["ssh-keygen", "-l", "-f", str(server.host_key)], capture_output=True, text=True,
                             timeout=30).stdout.split()[1]
    assert f"(it now presents ED25519 {new_key})" in err, "the new key's fingerprint, to check out of band"
    assert known_hosts.read_text() == recorded, "the recorded key is not replaced"
    assert not (tmp_path / "vm" / "scripts" / "env_report.py").exists(), "nothing was copied to the impostor"
    rows = log_rows(isolated_env)
    assert [r[4] for r in rows] == ["ok", "failed (vm connect)"]
    assert "has CHANGED" in rows[1][10]
    assert "vm copy, vm venv, parity, pipeline, vm raw, vm pipeline, gold skipped: an earlier stage failed" \
        in rows[1][10]


def test_a_dead_vm_fails_fast_with_a_clear_message(tmp_path: Path, isolated_env: Path,
                                                   capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if sshd_unavailable_reason():
        pytest.skip(sshd_unavailable_reason())
    port = free_port()  # nothing listens there
    monkeypatch.setenv("VM_HOST", "127.0.0.1")
    monkeypatch.setenv("VM_PORT", str(port))
    monkeypatch.setenv("VM_PROJECT_DIR", "soundtracks")
    monkeypatch.setenv("VM_KNOWN_HOSTS", str(tmp_path / "known_hosts"))
    started = time.monotonic()
    code, out, err = run_main(capsys)
    assert time.monotonic() - started < 10
    assert code == 1
    assert err.strip() == (f"sync FAILED at vm connect: VM 127.0.0.1:{port} unreachable: ssh: connect to host "
                           f"127.0.0.1 port {port}: Connection refused")
    assert "fake pipeline" not in out
    rows = log_rows(isolated_env)
    assert rows[0][3:5] == ["sync", "failed (vm connect)"]
    assert "Connection refused" in rows[0][10]


def test_a_failed_install_on_the_vm_stops_the_sync(vm: Path, isolated_env: Path, capsys: pytest.CaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_REMOTE_REBUILD", "echo 'installing...'; echo 'pip install failed: no network' >&2; exit 5")
    code, out, err = run_main(capsys)
    assert code == 1
    assert err.strip() == "sync FAILED at vm venv: VM venv rebuild failed (exit 5): pip install failed: no network"
    assert "    vm| installing..." in out
    rows = log_rows(isolated_env)
    assert rows[0][4] == "failed (vm venv)"
    assert "parity, pipeline, vm raw, vm pipeline, gold skipped: an earlier stage failed" in rows[0][10]


def test_a_wrong_key_is_refused_with_a_hint(vm: Path, sshd: TestSshd, tmp_path: Path,
                                            capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VM_KEY_FILE", str(generate_key(tmp_path / "not_authorized")))
    code, _, err = run_main(capsys)
    assert code == 1
    assert err.startswith(f"sync FAILED at vm connect: ssh login to {sshd.user}@127.0.0.1:{sshd.port} refused "
                          "(Permission denied): check VM_USER and VM_KEY_FILE")


def test_a_vm_folder_that_is_not_this_project_is_left_alone(vm: Path, capsys: pytest.CaptureFixture) -> None:
    vm.mkdir(parents=True)
    (vm / "thesis.tex").write_text("somebody's work\n")
    code, _, err = run_main(capsys)
    assert code == 1
    assert "is not empty and has no rebuild_venv.sh: not syncing into it" in err
    assert sorted(p.name for p in vm.iterdir()) == ["thesis.tex"]


def test_a_missing_env_report_on_the_vm_is_reported(vm: Path, capsys: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VM_PYTHON", "/nonexistent/bin/python")
    code, _, err = run_main(capsys)
    assert code == 1
    assert err.startswith("sync FAILED at parity: env report on the VM failed (exit 127):")


# --- without a VM -----------------------------------------------------------------------------------

def test_no_vm_configured_runs_the_local_stages_and_skips_the_vm_ones(isolated_env: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_main(capsys, "--", "--steps", "3")
    assert code == 0, err
    for stage in ("vm connect", "vm copy", "vm venv", "parity", "vm raw", "vm pipeline", "gold"):
        assert re.search(rf"{stage}\s+skipped no VM configured: VM_HOST is empty", out), stage
    assert re.search(r"local venv\s+ok\s+venv up to date \(stand-in\)", out)
    assert "fake pipeline ['--steps', '3']" in out
    assert "sync ok (local only)" in out, "not the same words as a sync that proved parity"
    rows = log_rows(isolated_env)
    assert rows[0][3:5] == ["sync", "ok (local only)"]
    assert "vm connect, vm copy, vm venv, parity skipped: no VM configured: VM_HOST is empty" in rows[0][10]
    assert "vm raw, vm pipeline, gold skipped: no VM configured: VM_HOST is empty" in rows[0][10]


def test_a_failing_pipeline_or_local_rebuild_fails_the_sync(isolated_env: Path, capsys: pytest.CaptureFixture,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMDB_API_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("SYNC_PIPELINE_CMD", f"sh -c 'echo step 2 failed with {FAKE_TOKEN}; exit 3'")
    code, out, err = run_main(capsys)
    assert code == 1
    assert err.strip() == "sync FAILED at pipeline: pipeline failed (exit 3): step 2 failed with ***"
    assert FAKE_TOKEN not in out + err + isolated_env.read_text(encoding="utf-8")

    monkeypatch.setenv("SYNC_LOCAL_REBUILD", "sh -c 'echo no Python 3.10 found >&2; exit 3'")
    code, out, err = run_main(capsys)
    assert code == 1
    assert err.strip() == "sync FAILED at local venv: local rebuild_venv.sh failed (exit 3): no Python 3.10 found"
    assert [r[4] for r in log_rows(isolated_env)] == ["failed (pipeline)", "failed (local venv)"]


@pytest.mark.parametrize("variables, message", [
    ({"VM_HOST": "vm.example.invalid"}, "VM_HOST is set but VM_PROJECT_DIR is empty"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "~"}, "VM_PROJECT_DIR='~' must be a folder of its own"),
    ({"VM_HOST": "-oProxyCommand=x", "VM_PROJECT_DIR": "p"}, "is not a host name or address"),
    ({"VM_HOST": "vm.example.invalid", "VM_USER": "a b", "VM_PROJECT_DIR": "p"}, "VM_USER='a b' is not a user"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "p", "VM_KEY_FILE": "/nonexistent/key"},
     "VM_KEY_FILE=/nonexistent/key does not exist"),
    ({"VM_HOST": "vm.example.invalid", "VM_PORT": "ssh"}, "VM_PORT='ssh' is not a whole number"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "p", "VM_CONNECT_TIMEOUT": "0"},
     "VM_CONNECT_TIMEOUT=0 is below 1"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "p", "SYNC_VM_RAW": "both"},
     "SYNC_VM_RAW='both' is not one of copy, own"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "p", "VM_DATA_ROOT": "$(id)"},
     "VM_DATA_ROOT='$(id)' must be a folder of its own"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "p", "VM_PYTHON": "py; rm -rf ~"},
     "VM_PYTHON='py; rm -rf ~' must be a plain path"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "p", "VM_KNOWN_HOSTS": "/tmp/a b"}, "contains white space"),
    ({"VM_HOST": "vm.example.invalid", "VM_PROJECT_DIR": "p", "PATH": "/nonexistent"}, "ssh not found on PATH"),
])
def test_configuration_errors_exit_2_before_anything_runs(variables: dict[str, str], message: str,
                                                          isolated_env: Path, capsys: pytest.CaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    code, out, err = run_main(capsys)
    assert code == 2
    assert err.startswith("sync FAILED at config: ") and message in err
    assert "fake pipeline" not in out and "venv up to date" not in out
    assert log_rows(isolated_env)[0][4] == "failed (config)"


def test_usage_error_exits_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        sync.main(["--bogus"])
    assert exc.value.code == 2


# --- pull stage, on temp repositories -----------------------------------------------------------------

def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=60).stdout


def commit(repo: Path, name: str, text: str) -> None:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "--quiet", "-m", f"change {name}")


@pytest.fixture
def repos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An upstream bare repo, a clone tracking it (`work`), and a second clone to push from (`other`)."""
    for name, value in (("GIT_AUTHOR_NAME", "Test"), ("GIT_AUTHOR_EMAIL", "test@example.invalid"),
                        ("GIT_COMMITTER_NAME", "Test"), ("GIT_COMMITTER_EMAIL", "test@example.invalid"),
                        ("GIT_CONFIG_GLOBAL", os.devnull), ("GIT_CONFIG_NOSYSTEM", "1")):
        monkeypatch.setenv(name, value)
    upstream, work, other = tmp_path / "upstream.git", tmp_path / "work", tmp_path / "other"
    git(tmp_path, "init", "--quiet", "--bare", "-b", "main", str(upstream))
    git(tmp_path, "clone", "--quiet", str(upstream), str(work))
    commit(work, "sync_log.md", "# log\n")
    git(work, "push", "--quiet", "-u", "origin", "main")
    git(tmp_path, "clone", "--quiet", str(upstream), str(other))
    return {"upstream": upstream, "work": work, "other": other}


def pull(repo: Path, log: Path | None = None) -> StageResult:
    return stage_pull(repo, Runner(dict(os.environ), Masker([]), io.StringIO()), log)


def test_pull_fast_forwards_a_branch_that_is_behind(repos: dict[str, Path]) -> None:
    assert pull(repos["work"]) == StageResult("pull", "ok", "main is up to date with origin/main")
    commit(repos["other"], "a.py", "x = 1\n")
    git(repos["other"], "push", "--quiet")
    assert pull(repos["work"]) == StageResult("pull", "ok", "fast-forwarded main by 1 commit(s) from origin/main")
    assert (repos["work"] / "a.py").read_text() == "x = 1\n"
    commit(repos["work"], "b.py", "y = 2\n")
    assert pull(repos["work"]).reason == "main is up to date with origin/main; 1 local commit(s) not pushed"


def test_pull_stops_on_a_dirty_tree_but_not_for_the_log_alone(repos: dict[str, Path]) -> None:
    work = repos["work"]
    (work / "sync_log.md").write_text("# log\n| a row |\n")
    assert pull(work, work / "sync_log.md").status == "ok", "an appended log row is not a dirty tree"
    commit(work, "c.py", "z = 3\n")
    (work / "c.py").write_text("z = 4\n")
    result = pull(work, work / "sync_log.md")
    assert result.status == "failed"
    assert result.reason.startswith("working tree has uncommitted changes (1 file(s), e.g. c.py): commit or stash "
                                    "them, then sync again; the sync log's local rows wait in ")
    assert git(work, "status", "--porcelain") == " M c.py\n", "the log is out of the way of `git stash`"
    git(work, "stash", "--quiet")
    assert pull(work, work / "sync_log.md").status == "ok"
    assert (work / "sync_log.md").read_text() == "# log\n| a row |\n", "the row came back"


def test_pull_stops_on_a_diverged_branch(repos: dict[str, Path]) -> None:
    commit(repos["other"], "theirs.py", "1\n")
    git(repos["other"], "push", "--quiet")
    commit(repos["work"], "mine.py", "2\n")
    result = pull(repos["work"])
    assert result.status == "failed"
    assert result.reason == ("main and origin/main have diverged (1 local, 1 upstream commit(s)): rebase or merge "
                             "by hand (git rebase origin/main), then sync again")
    assert not (repos["work"] / "theirs.py").exists()


def test_pull_is_skipped_without_an_upstream_or_a_checkout(repos: dict[str, Path], tmp_path: Path) -> None:
    git(repos["work"], "branch", "--quiet", "--unset-upstream")
    assert pull(repos["work"]).status == "skipped"
    assert pull(repos["work"]).reason.startswith("branch main has no upstream: not pulled")
    git(repos["work"], "checkout", "--quiet", "--detach")
    assert pull(repos["work"]) == StageResult("pull", "skipped", "detached HEAD: not pulled")
    plain = tmp_path / "plain"
    plain.mkdir()
    assert pull(plain).reason == f"{plain} is not a git checkout: not pulled"


def test_pull_reports_a_failed_fetch(repos: dict[str, Path]) -> None:
    git(repos["work"], "remote", "set-url", "origin", str(repos["upstream"]) + "-moved")
    result = pull(repos["work"])
    assert result.status == "failed" and result.reason.startswith("git fetch failed: ")


# --- env_report -------------------------------------------------------------------------------------

def test_env_report_describes_this_interpreter(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert env_report.main([]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["python"] == ".".join(map(str, sys.version_info[:3]))
    assert report["frozen"]["pytest"] == metadata.version("pytest")
    assert report["spark"] == report["frozen"].get("pyspark")
    assert set(report["pins"]) >= {"pyspark", "pandas", "pytest"}
    assert report["pins"]["pytest"] == metadata.version("pytest")
    assert re.fullmatch(r"[0-9a-f]{64}", report["requirements_hash"])

    assert env_report.main(["--freeze"]) == 0
    assert f"pytest=={metadata.version('pytest')}" in capsys.readouterr().out.splitlines()

    monkeypatch.setenv("REQUIREMENTS_FILE", "/nonexistent/requirements.txt")
    broken = build_report()
    assert broken["requirements_hash"] is None and broken["pins"] == {} and broken["requirements_error"]


def test_compare_reports_names_every_difference_once_in_order() -> None:
    local = {"format": 1, "python": "3.10.13", "java": "17.0.15", "spark": "3.5.0", "requirements_hash": "a" * 64,
             "venv_stamp": "a" * 64, "pins": {"pandas": "1.5.3", "pyspark": "3.5.0"},
             "frozen": {"pandas": "1.5.3", "pyspark": "3.5.0", "pip": "24.3.1", "tqdm": "4.67.1"}}
    assert compare_reports(local, json.loads(json.dumps(local))) == []
    vm = {"format": 1, "python": "3.10.12", "java": None, "spark": "3.5.0", "requirements_hash": "a" * 64,
          "venv_stamp": None, "pins": {"pandas": "2.0.0", "pyspark": "3.5.0"},
          "frozen": {"pandas": "2.0.0", "pyspark": "3.5.0", "pip": "23.0", "wheel": "0.41.0"}}
    assert compare_reports(local, vm) == [
        "python: local 3.10.13, vm 3.10.12",
        "java: local 17.0.15, vm not found",
        "venv stamp: local aaaaaaaaaaaa, vm missing",
        "pandas: local 1.5.3, vm 2.0.0",
        "pip: local 24.3.1, vm 23.0",
        "tqdm: local 4.67.1, vm not installed",
        "wheel: local not installed, vm 0.41.0",
    ]
    assert compare_reports({"format": 1}, {"format": 2}, "a", "b")[0] == "report format: a 1, b 2"


def test_log_details_group_neighbouring_stages_with_one_outcome() -> None:
    results = [StageResult("pull", "ok", "up to date"), StageResult("vm copy", "skipped", "no VM"),
               StageResult("parity", "skipped", "no VM"), StageResult("pipeline", "ok", "done")]
    assert log_details(results) == "pull ok: up to date; vm copy, parity skipped: no VM; pipeline ok: done"


# --- Makefile ---------------------------------------------------------------------------------------

def test_make_sync_calls_the_entry_point() -> None:
    completed = subprocess.run(["make", "-n", "-C", str(PROJECT_ROOT), "sync", "SYNC_ARGS=--no-run"],
                               capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"-m scripts\.sync --no-run", completed.stdout)
    help_text = subprocess.run(["make", "-C", str(PROJECT_ROOT), "help"], capture_output=True, text=True,
                               timeout=60).stdout
    assert re.search(r"^\s+sync\s+.*on the VM, prove them identical", help_text, flags=re.MULTILINE)


# --- building blocks --------------------------------------------------------------------------------

def make_target(**overrides: object) -> sync.VmTarget:
    values = dict(host="vm.example.invalid", port=2222, user="etl", key_file="/keys/id_ed25519",
                  project_dir="~/soundtracks", known_hosts="/kh/known_hosts", connect_timeout=5,
                  python=".venv/bin/python", rebuild_cmd="./rebuild_venv.sh")
    values.update(overrides)
    return sync.VmTarget(**values)


def test_ssh_and_rsync_command_lines_keep_host_key_checking_on() -> None:
    target = make_target()
    ssh = target.ssh("true")
    assert ssh[0] == "ssh" and ssh[-2:] == ["vm.example.invalid", "true"]
    options = " ".join(ssh)
    for expected in ("-p 2222", "BatchMode=yes", "StrictHostKeyChecking=accept-new",
                     "UserKnownHostsFile=/kh/known_hosts", "ConnectTimeout=5", "-i /keys/id_ed25519",
                     "IdentitiesOnly=yes", "-l etl"):
        assert expected in options
    # Host-key checking is never switched off (accept-new is the only relaxation, first contact only).
    assert [o for o in options.split() if o.startswith("StrictHostKeyChecking=")] == \
        ["StrictHostKeyChecking=accept-new"]
    rsync = sync.rsync_command(target, PROJECT_ROOT)
    assert rsync[-2:] == [f"{PROJECT_ROOT}/", "etl@vm.example.invalid:soundtracks/"], "~/ is the login's home"
    assert rsync[rsync.index("-e") + 1] == shlex.join(["ssh", *target.ssh_options()])
    assert {"--exclude=/.venv", "--exclude=/data", "--exclude=.env*", "--exclude=/.git"} <= set(rsync)
    assert target.in_project("./rebuild_venv.sh") == "cd \"$HOME\"/soundtracks && ./rebuild_venv.sh"
    bare = make_target(host="fd00::5", user=None, key_file=None, project_dir="/srv/soundtracks/")
    assert bare.rsync_destination() == "[fd00::5]:/srv/soundtracks/"
    assert "-l" not in bare.ssh_options() and "-i" not in bare.ssh_options()
    assert bare.in_project("x") == "cd /srv/soundtracks/ && x"


@pytest.mark.parametrize("stderr, expected", [
    ("Host key verification failed.\n", "host key verification failed for vm.example.invalid:2222"),
    ("etl@vm.example.invalid: Permission denied (publickey).\n", "ssh login to etl@vm.example.invalid:2222 refused"),
    ("ssh: connect to host vm.example.invalid port 2222: Connection timed out\n",
     "VM etl@vm.example.invalid:2222 unreachable: ssh: connect to host vm.example.invalid port 2222: Connection "
     "timed out"),
    ("ssh: Could not resolve hostname vm.example.invalid: Name or service not known\n", "unreachable: ssh: Could not"),
    ("bash: line 1: ./rebuild_venv.sh: No such file or directory\n", None),
])
def test_ssh_failures_are_told_apart(stderr: str, expected: str | None) -> None:
    reason = sync.ssh_failure(stderr, make_target())
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason and "\n" not in reason


def test_runner_stops_a_command_that_hangs_and_reports_one_that_cannot_start() -> None:
    out = io.StringIO()
    runner = Runner(dict(os.environ), Masker([FAKE_TOKEN]), out)
    started = time.monotonic()
    done = runner.stream(["sh", "-c", f"echo {FAKE_TOKEN}; exec sleep 30"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert done.returncode is None and done.lines == ["***", "timed out after 0.5 s"]
    assert out.getvalue() == "    | ***\n"
    assert runner.stream(["/nonexistent/tool"]).returncode == 127
    assert runner.capture(["sleep", "30"], timeout=0.3) == (None, "", "timed out after 0.3 s")
    assert runner.capture(["/nonexistent/tool"])[0] == 127
    assert sync._parse_report(0, "not json", "", "on the VM") == (None,
                                                                  "env report on the VM printed no JSON: not json")
    assert sync._parse_report(0, "[1]", "", "locally")[1] == "env report locally printed no JSON object"


def test_an_interrupted_sync_is_logged_and_exits_130(isolated_env: Path, capsys: pytest.CaptureFixture,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object) -> StageResult:
        raise KeyboardInterrupt

    monkeypatch.setattr(sync, "stage_local_venv", interrupted)
    code, _, err = run_main(capsys)
    assert code == 130
    assert err.strip() == "sync FAILED at local venv: interrupted"
    row = log_rows(isolated_env)[0]
    assert row[4] == "failed (local venv)"
    assert "pipeline, vm raw, vm pipeline, gold skipped: an earlier stage failed" in row[10]


def test_an_interrupt_while_a_command_runs_stops_its_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "terminated"
    runner = Runner(dict(os.environ), Masker([]), io.StringIO())
    # A real SIGINT to the main thread, as Ctrl-C would send: it interrupts the blocking read.
    # Python's own handler, whatever this process inherited: a shell starts a background job
    # (`make test &`) with SIGINT ignored, and Python then leaves it ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.stream(["sh", "-c", f"trap 'touch {marker}; exit 143' TERM; echo started; sleep 30 & wait"],
                          timeout=60)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert marker.exists(), "the command was sent TERM and could clean up"


# --- drift repaired, private files kept: the real rebuild_venv.sh on both sides -------------------------

def build_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel, made by hand so pip can install it offline."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name.replace('-', '_')}-{version}"
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"{name.replace('-', '_')}/__init__.py", f"VERSION = {version!r}\n")
        archive.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{dist}.dist-info/WHEEL",
                         "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{dist}.dist-info/RECORD", "")
    return wheel


def make_project(root: Path, wheels: Path) -> Path:
    """A git checkout of this project's tools whose requirements pin one package from `wheels`."""
    shutil.copytree(PROJECT_ROOT / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("rebuild_venv.sh", ".gitignore", ".env.example"):
        shutil.copy2(PROJECT_ROOT / name, root / name)
    (root / "requirements_stable.txt").write_text(
        f"# python: 3.10\n--no-index\n--find-links {wheels}\ndrift-probe==1.0\n", encoding="utf-8")
    with open(root / ".gitignore", "a", encoding="utf-8") as handle:
        handle.write("private_notes.txt\nwanted.cfg\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["init", "--quiet", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "--quiet", "-m", "init"]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, env=env, timeout=60)
    return root


def test_drift_on_the_vm_is_repaired_and_private_files_are_never_copied(
        vm: Path, isolated_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    wheels = tmp_path / "wheels"
    for name, version in (("drift-probe", "1.0"), ("drift-probe", "2.0"), ("left-pad", "1.3.0")):
        build_wheel(wheels, name, version)
    project = make_project(tmp_path / "project", wheels)
    for name, text in ((".env", "DISCOGS_TOKEN=x\n"), (".env.local", "secret\n"), (".env.bak", "old secret\n"),
                       ("private_notes.txt", "git ignores me\n"), ("wanted.cfg", "ignored, but asked for\n")):
        (project / name).write_text(text, encoding="utf-8")
    (project / "scripts" / ".env.production").write_text("secret\n", encoding="utf-8")
    base_python = local_base_python()
    for name, value in (("VENV_DIR", str(project / ".venv")), ("PYTHON", base_python), ("PIP_VERSION", ""),
                        ("SYNC_REMOTE_REBUILD", f"PYTHON={shlex.quote(base_python)} PIP_VERSION= ./rebuild_venv.sh")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SYNC_LOCAL_REBUILD")

    def sync_project(**extra: object) -> tuple:
        out = io.StringIO()
        code = sync.run_sync(project, dict(os.environ), Path(os.devnull), pull=False, run=False, out=out,
                             copy_ignored=["wanted.cfg"], **extra)
        return code, out.getvalue(), capsys.readouterr().err

    started = time.time()
    code, out, err = sync_project()
    assert code == 0, out + err
    assert re.search(rf"local venv\s+ok\s+venv ready: {re.escape(str(project))}/\.venv \(python 3\.10", out), \
        "a venv built from scratch is not reported as up to date"
    assert re.search(r"vm venv\s+ok\s+venv ready: ", out)
    assert re.search(r"parity\s+ok\s+local and VM identical", out)
    assert sorted(p.name for p in vm.iterdir() if p.name.startswith(".env")) == [".env.example"]
    assert not (vm / "scripts" / ".env.production").exists()
    assert not (vm / "private_notes.txt").exists(), "what git ignores is not copied"
    assert (vm / "wanted.cfg").read_text() == "ignored, but asked for\n"

    # Someone changes the VM's venv by hand: a pin moved, a package added.
    vm_python = vm / ".venv" / "bin" / "python"
    subprocess.run([str(vm_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-index",
                    "--find-links", str(wheels), "drift-probe==2.0", "left-pad==1.3.0"],
                   check=True, capture_output=True, timeout=120)
    monkeypatch.setenv("SYNC_MAKE_STARTED", str(int(started) - 1))
    code, out, err = sync_project()
    assert code == 0, out + err
    drift = "drift-probe 2.0 (pinned 1.0), left-pad 1.3.0 (not pinned)"
    assert re.search(rf"vm venv\s+ok\s+venv repaired: {re.escape(drift)}, now as pinned", out), out
    assert f"vm| venv drifted from the pins: {drift}: repairing" in out
    assert re.search(r"parity\s+ok\s+local and VM identical", out), "the repair is checked by parity"
    assert "(by make's venv step just before)" in out
    versions = subprocess.run([str(vm_python), "-m", "scripts.env_report", "--freeze"], cwd=vm, capture_output=True,
                              text=True, timeout=60).stdout.splitlines()
    assert "drift-probe==1.0" in versions and not any(line.startswith("left-pad==") for line in versions)
    assert "venv repaired: drift-probe 2.0 (pinned 1.0)" in log_rows(isolated_env)[1][10]


def test_copying_an_env_file_is_refused_even_when_asked(isolated_env: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = run_main(capsys, "--copy-ignored", "config/.env.local")
    assert code == 2
    assert err.startswith("sync FAILED at config: --copy-ignored config/.env.local: .env files are never copied")


# --- remote commands end with the connection -----------------------------------------------------------

def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_dropped_connection_leaves_no_remote_process(vm: Path, tmp_path: Path) -> None:
    target = sync.vm_target(sync.load_settings(env=dict(os.environ), dotenv_path=Path(os.devnull)), os.environ)
    for guard in (None, 600):
        pid_file = tmp_path / f"remote-{guard}.pid"
        ssh = subprocess.Popen(target.ssh(f"echo $$ > {shlex.quote(str(pid_file))}; exec sleep 300", guard),
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
        try:
            assert wait_for(lambda pid_file=pid_file: pid_file.exists() and pid_file.read_text().strip()), \
                "the remote command started"
            remote_pid = int(pid_file.read_text())
            assert Path(f"/proc/{remote_pid}").exists()
            ssh.kill()  # the connection is lost: no goodbye, the local ssh just dies
            ssh.wait(timeout=10)
            gone = wait_for(lambda pid=remote_pid: not Path(f"/proc/{pid}").exists(), timeout=15 if guard else 3)
        finally:
            if ssh.poll() is None:
                ssh.kill()
        if guard:
            assert gone, "the guarded remote command ended with the connection"
        else:
            # The control: an unguarded command outlives its connection (this is what the guard is for).
            assert not gone
            os.kill(remote_pid, signal.SIGKILL)


def test_a_remote_command_stops_at_its_time_limit(vm: Path, isolated_env: Path, capsys: pytest.CaptureFixture,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync, "REBUILD_TIMEOUT", 2)
    monkeypatch.setenv("SYNC_REMOTE_REBUILD", "echo building; sleep 60")
    started = time.monotonic()
    code, out, err = run_main(capsys)
    assert code == 1
    assert time.monotonic() - started < 30
    assert err.strip() == "sync FAILED at vm venv: VM venv rebuild on the VM stopped at its time limit " \
                          "(VM_COMMAND_TIMEOUT=21600 s)"


def test_a_busy_or_stale_rebuild_lock_is_named(tmp_path: Path) -> None:
    venvs = tmp_path / "venvs"
    venvs.mkdir()
    venv = venvs / "venv"
    holder = subprocess.Popen(["flock", str(venvs), "sleep", "60"], start_new_session=True)
    try:
        env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
        env.update({"VENV_DIR": str(venv), "REBUILD_LOCK_WAIT": "1", "PYTHON": "/nonexistent/python3.10"})
        assert wait_for(lambda: subprocess.run(["flock", "-n", str(venvs), "true"]).returncode != 0)

        # The recorded holder still runs: named with its pid and start time.
        Path(f"{venv}.lock-holder").write_text(f"{holder.pid} 2026-01-01T00:00:00Z vm-1\n")
        busy = subprocess.run([str(PROJECT_ROOT / "rebuild_venv.sh")], env=env, capture_output=True, text=True,
                              timeout=60)
        assert busy.returncode == 4
        assert busy.stderr.strip() == (f"rebuild_venv: timed out after 1 s waiting for the rebuild lock on {venvs}, "
                                       f"held by rebuild_venv.sh pid {holder.pid} on vm-1, running since "
                                       "2026-01-01T00:00:00Z")

        # The recorded holder is gone but something it left keeps the lock: a stale lock, and who keeps it.
        Path(f"{venv}.lock-holder").write_text("4194999 2026-01-01T00:00:00Z vm-1\n")
        stale = subprocess.run([str(PROJECT_ROOT / "rebuild_venv.sh")], env=env, capture_output=True, text=True,
                               timeout=60)
        assert stale.returncode == 4
        assert ("held by a STALE lock: its recorded holder (rebuild_venv.sh pid 4194999, started "
                "2026-01-01T00:00:00Z) is gone, the lock is kept by pid ") in stale.stderr
        assert f"pid {holder.pid} (flock " in stale.stderr and "(sleep 60" in stale.stderr
        assert "rebuild_venv.sh )" not in stale.stderr, "the waiting script does not name itself"
        assert not venv.exists(), "nothing was built while waiting"
    finally:
        os.killpg(holder.pid, signal.SIGKILL)
        holder.wait()


# --- the sync log and the pull ---------------------------------------------------------------------------

def test_an_upstream_commit_to_the_log_is_pulled_without_losing_a_row(repos: dict[str, Path]) -> None:
    work, other = repos["work"], repos["other"]
    commit(other, "sync_log.md", sync_log.HEADER + "| upstream row |\n")
    git(other, "push", "--quiet")
    log = work / "sync_log.md"
    log.write_text(log.read_text() + "| this machine's row |\n")
    result = pull(work, log)
    assert result == StageResult("pull", "ok", "fast-forwarded main by 1 commit(s) from origin/main; "
                                               "1 sync log row(s) of this machine kept")
    assert log.read_text() == sync_log.HEADER + "| upstream row |\n| this machine's row |\n"
    assert git(work, "status", "--porcelain") == " M sync_log.md\n"
    assert not sync_log.aside_path(work).exists()
    assert pull(work, log).reason == "main is up to date with origin/main; 1 sync log row(s) of this machine kept"
    assert log.read_text() == sync_log.HEADER + "| upstream row |\n| this machine's row |\n"


def test_a_diverged_branch_leaves_a_clean_tree_and_the_rows_come_back(repos: dict[str, Path]) -> None:
    work, other = repos["work"], repos["other"]
    commit(other, "sync_log.md", "# log\n| upstream row |\n")
    git(other, "push", "--quiet")
    commit(work, "mine.py", "2\n")
    log = work / "sync_log.md"
    log.write_text(log.read_text() + "| first local row |\n")
    result = pull(work, log)
    assert result.status == "failed"
    assert result.reason.startswith("main and origin/main have diverged (1 local, 1 upstream commit(s)): rebase or "
                                    "merge by hand (git rebase origin/main), then sync again; the sync log's local "
                                    "rows wait in ")
    assert result.reason.endswith("out of the way of a stash, rebase or merge, until the next sync puts them back")
    # The failed sync's own row joins the rows set aside, so the tree stays clean for the advice to work.
    runner = Runner(dict(os.environ), Masker([]), io.StringIO())
    sync.write_log([StageResult("pull", "failed", "diverged")], "failed (pull)", 1.0, runner, work, log)
    assert git(work, "status", "--porcelain") == ""
    git(work, "rebase", "--quiet", "origin/main")  # the advice, followed

    assert pull(work, log).status == "ok"
    lines = log.read_text().splitlines()
    assert lines[:2] == ["# log", "| upstream row |"] and lines[2] == "| first local row |"
    assert len(lines) == 4 and "| failed (pull) |" in lines[3]


def test_a_fast_forward_refused_by_git_says_why(repos: dict[str, Path]) -> None:
    work, other = repos["work"], repos["other"]
    commit(other, "new.py", "upstream\n")
    git(other, "push", "--quiet")
    (work / "new.py").write_text("an untracked local file in the way\n")
    result = pull(work, work / "sync_log.md")
    assert result.status == "failed"
    assert result.reason.startswith("fast-forward to origin/main failed: error: The following untracked working tree "
                                    "files would be overwritten by merge:; new.py")


# --- gold digests ------------------------------------------------------------------------------------------

def write_parquet(folder: Path, rows: list[dict], files: int = 1, name: str = "part") -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        part = rows[i::files]
        if part:
            pq.write_table(pa.Table.from_pylist(part), folder / f"{name}-{i}.parquet")


def test_gold_digest_ignores_layout_but_not_content(tmp_path: Path) -> None:
    rows = [{"id": 1, "title": "Amélie", "score": 0.1 + 0.2, "tags": ["a", "b"]},
            {"id": 2, "title": None, "score": None, "tags": []},
            {"id": 3, "title": "千と千尋", "score": 1e-9, "tags": None}]
    write_parquet(tmp_path / "a" / "gold" / "films", rows)
    write_parquet(tmp_path / "a" / "gold" / "films_csv", rows)  # a folder of Parquet is a table, whatever its name
    shuffled = [{"tags": r["tags"], "score": r["score"], "title": r["title"], "id": r["id"]} for r in reversed(rows)]
    write_parquet(tmp_path / "b" / "gold" / "films", shuffled, files=2, name="other")
    (tmp_path / "b" / "gold" / "films" / "_SUCCESS").write_text("")
    (tmp_path / "b" / "gold" / "notes").mkdir()  # no Parquet: not a table
    a, b = gold_digests(tmp_path / "a"), gold_digests(tmp_path / "b")
    assert a["tables"]["films"] == b["tables"]["films"] and a["tables"]["films"]["rows"] == 3
    assert sorted(b["tables"]) == ["films"]
    assert compare_digests(a, b) == ["films_csv: local present, vm missing"]

    # A summation order difference (last bits of a float) is no difference; a real one is.
    write_parquet(tmp_path / "c" / "gold" / "films", [{**rows[0], "score": 0.3}, *rows[1:]])
    assert gold_digests(tmp_path / "c")["tables"]["films"]["digest"] == a["tables"]["films"]["digest"]
    write_parquet(tmp_path / "d" / "gold" / "films", [{**rows[0], "title": "Amelie"}, *rows[1:]])
    d = gold_digests(tmp_path / "d")
    assert compare_digests({"tables": {"films": a["tables"]["films"]}}, d) == [
        f"films: local {a['tables']['films']['digest'][:12]}, vm {d['tables']['films']['digest'][:12]} "
        "(same row count)"]
    assert gold_digests(tmp_path / "nothing") == {"gold": str(tmp_path / "nothing" / "gold"), "tables": {}}


def test_gold_digest_follows_the_current_pointer_and_reports_unreadable_tables(tmp_path: Path,
                                                                              capsys: pytest.CaptureFixture) -> None:
    write_parquet(tmp_path / "gold" / "run_2" / "films", [{"id": 1}])
    write_parquet(tmp_path / "gold" / "films", [{"id": 99}])  # an older layout beside it is not read
    (tmp_path / "gold" / "_CURRENT").write_text("run_2\n")
    (tmp_path / "gold" / "run_2" / "broken").mkdir()
    (tmp_path / "gold" / "run_2" / "broken" / "part-0.parquet").write_text("not parquet")
    from scripts import gold_digest
    assert gold_digest.main([str(tmp_path)]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["gold"] == str(tmp_path / "gold" / "run_2")
    assert found["tables"]["films"]["rows"] == 1 and "error" in found["tables"]["broken"]
    assert compare_digests(found, found)[0].startswith("broken: unreadable (local: ")


def test_java_is_compared_by_major_version_and_a_patch_is_only_reported() -> None:
    base = {"format": 1, "python": "3.10.13", "spark": "3.5.0", "pins": {}, "frozen": {}}
    local, vm = {**base, "java": "17.0.15"}, {**base, "java": "17.0.9"}
    assert compare_reports(local, vm) == []
    assert report_notes(local, vm) == ["java: local 17.0.15, vm 17.0.9 (same major version 17, which is what Spark "
                                       "needs; patch versions are reported, not compared)"]
    assert compare_reports(local, {**base, "java": "11.0.21"}) == ["java: local 17.0.15, vm 11.0.21"]
    assert compare_reports({**base, "java": "1.8.0_392"}, {**base, "java": "1.8.0_401"}) == []
    assert report_notes(local, local) == []


def test_make_sync_keeps_the_scripts_exit_code_visible(tmp_path: Path) -> None:
    # A stand-in venv (the base interpreter, no packages, stamped for requirements that pin nothing), so
    # make's `venv` step has nothing to build or repair and the shared .venv is never touched.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# python: 3.10\n", encoding="utf-8")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(local_base_python())
    (venv / "pyvenv.cfg").write_text("home = /nowhere\ninclude-system-site-packages = false\n", encoding="utf-8")
    from scripts.requirements_hash import requirements_hash
    (venv / ".requirements.sha256").write_text(requirements_hash(requirements) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARS}
    env.update({"VM_HOST": "vm.example.invalid", "SYNC_LOG": str(tmp_path / "log.md"),
                "REQUIREMENTS_FILE": str(requirements)})
    completed = subprocess.run(["make", "-s", "-C", str(PROJECT_ROOT), "sync", f"VENV={venv}"], env=env,
                               capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert completed.returncode == 2, "make's own code for any failure"
    assert "make sync: scripts.sync exited 2 (1 a stage failed, 2 configuration, 130 interrupted)" in completed.stderr
    assert "sync FAILED at config: VM_HOST is set but VM_PROJECT_DIR is empty" in completed.stderr


@pytest.mark.slow
def test_the_real_pipeline_on_both_sides_gives_identical_gold(vm: Path, isolated_env: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """run_pipeline_safe.sh and the Spark steps (local mode) on both sides, on a small generated sample.

    Opt-in: two Spark runs took 6 minutes on the shared 2-core test machine, too long for every run of
    the suite; the stand-in pipeline tests above cover the sync itself. SYNC_REAL_PIPELINE=1 runs it.
    """
    if os.environ.get("SYNC_REAL_PIPELINE") != "1":
        pytest.skip("two real Spark runs take minutes: set SYNC_REAL_PIPELINE=1 to run this test")
    if shutil.which("java") is None:
        pytest.skip("no java on PATH for Spark")
    monkeypatch.delenv("SYNC_PIPELINE_CMD")
    monkeypatch.setenv("LOG_DIR", str(tmp_path / "logs"))
    code, out, err = run_main(capsys, "--", "--steps", "1-5", "--films", "60")
    assert code == 0, out + err
    local = gold_digests(tmp_path / "local_data")["tables"]
    assert {"soundtrack_matches", "film_soundtracks"} <= set(local)
    assert gold_digests(vm / "data")["tables"] == local
    assert re.search(rf"gold\s+ok\s+{len(local)} gold table\(s\) identical by content digest", out)
    assert "vm| pipeline finished: exit 0" in out, "the VM ran run_pipeline_safe.sh itself"
