"""The Bicep template and its cloud-init keep the promises the project makes about Azure.

No Bicep compiler is available offline, so these are checks of the text: the things that must
hold (no password login, SSH from a named source only, ADLS Gen2, the manifest's Python on the VM).
"""
from __future__ import annotations

import re
from pathlib import Path

from scripts.requirements_hash import runtime_manifest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BICEP = (PROJECT_ROOT / "infrastructure" / "main.bicep").read_text(encoding="utf-8")
CLOUD_INIT = (PROJECT_ROOT / "infrastructure" / "cloud-init.yaml").read_text(encoding="utf-8")


def _param_default(name: str):
    match = re.search(rf"^param {name} \w+(?: = '([^']*)')?$", BICEP, flags=re.M)
    assert match, f"param {name} is declared"
    return match.group(1)


def test_vm_accepts_ssh_keys_only_from_a_named_source():
    assert "disablePasswordAuthentication: true" in BICEP
    assert _param_default("sshPublicKey") is None and _param_default("allowedSshSource") is None
    assert "sourceAddressPrefix: allowedSshSource" in BICEP
    assert not re.search(r"sourceAddressPrefix: '\*'", BICEP)
    assert "adminPassword" not in BICEP


def test_storage_is_adls_gen2_without_shared_keys_or_public_access():
    for setting in ("isHnsEnabled: true", "allowSharedKeyAccess: false", "allowBlobPublicAccess: false",
                    "minimumTlsVersion: 'TLS1_2'"):
        assert setting in BICEP
    assert "abfss://${dataContainer}@${storage.name}.dfs.core.windows.net" in BICEP


def test_vm_gets_the_manifest_python_and_the_ci_system_packages():
    manifest = runtime_manifest(PROJECT_ROOT / "requirements_stable.txt")
    python_default = _param_default("pythonVersion")
    assert python_default.startswith(manifest["python"] + ".")
    ci = (PROJECT_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for package in ("openjdk-17-jre-headless", "rsync", "git", "make", "util-linux", "procps", "fonts-noto-cjk"):
        assert package in ci and f"  - {package}\n" in CLOUD_INIT
    assert "pyenv install -s __PYTHON_VERSION__" in CLOUD_INIT and "'__PYTHON_VERSION__', pythonVersion" in BICEP
    assert CLOUD_INIT.startswith("#cloud-config\n")


def test_no_secret_is_a_default_or_an_output():
    outputs = re.findall(r"^output (\w+)", BICEP, flags=re.M)
    assert set(outputs) == {"vmHost", "vmUser", "dataRoot", "databricksWorkspaceUrl"}
    code = "\n".join(line.split("//")[0] for line in BICEP.splitlines() if not line.lstrip().startswith("@description"))
    assert not re.search(r"(?i)listKeys|password|secret", code.replace("disablePasswordAuthentication", ""))
