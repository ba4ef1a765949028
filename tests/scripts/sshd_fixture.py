"""A real OpenSSH server for tests: /usr/sbin/sshd in the foreground on 127.0.0.1 at a free port.

Everything it uses lives in one temp folder: its config, its own ed25519 host key (which
`restart_with_new_host_key` replaces, keeping the port, to play a VM whose key changed), the pid
file, and an authorized_keys file holding a generated client key. Only public-key login is
accepted, for the current user (root in CI, hence `PermitRootLogin prohibit-password`). Always
`stop()` it, e.g. in a fixture's teardown.
"""
from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without its privilege separation folder


def sshd_unavailable_reason() -> str | None:
    """Why a test sshd cannot run here, or None when it can."""
    if not SSHD.is_file():
        return f"{SSHD} not installed (apt-get install openssh-server; .ci/run installs it)"
    if not PRIVSEP_DIR.is_dir() and os.geteuid() != 0:
        return f"{PRIVSEP_DIR} is missing and only root can create it"
    for tool in ("ssh", "ssh-keygen", "rsync"):
        if shutil.which(tool) is None:
            return f"{tool} not installed (apt-get install openssh-client rsync)"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def generate_key(path: Path) -> Path:
    """A new passphrase-less ed25519 key pair at `path` and `path`.pub; returns `path`."""
    for stale in (path, path.with_name(path.name + ".pub")):
        stale.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sync-test", "-f", str(path)],
                   check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    return path


class TestSshd:
    """One sshd process; `start()` waits until it accepts connections."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, workdir: Path, port: int | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.user = getpass.getuser()
        self.host_key = self.workdir / "ssh_host_ed25519_key"
        self.client_key = generate_key(self.workdir / "client_key")
        self.authorized_keys = self.workdir / "authorized_keys"
        shutil.copyfile(self.client_key.with_name("client_key.pub"), self.authorized_keys)
        self.config = self.workdir / "sshd_config"
        self.log = self.workdir / "sshd.log"
        self.process: subprocess.Popen | None = None
        generate_key(self.host_key)

    def _write_config(self) -> None:
        self.config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.host_key}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.authorized_keys}",
            "UsePAM no",
            "StrictModes no",  # the temp folders are not root-only
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            f"AllowUsers {self.user}",
            "PrintMotd no",
            "LogLevel VERBOSE",
            "",
        ]), encoding="utf-8")

    def start(self, timeout: float = 10.0) -> TestSshd:
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._write_config()
        log = open(self.log, "ab")
        try:
            self.process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(self.config)], stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart_with_new_host_key(self) -> None:
        """Stop, replace the host key, start again on the same port: the VM "changed its key"."""
        self.stop()
        generate_key(self.host_key)
        self.start()

    def env(self) -> dict:
        """The VM_* settings that point `make sync` at this server (VM_PROJECT_DIR not included)."""
        return {"VM_HOST": "127.0.0.1", "VM_PORT": str(self.port), "VM_USER": self.user,
                "VM_KEY_FILE": str(self.client_key)}

    def __repr__(self) -> str:
        return f"TestSshd(127.0.0.1:{self.port}, pid={self.process.pid if self.process else None})"

