"""Preflight: is this machine ready to run the pipeline? Run inside the project virtualenv.

    .venv/bin/python -m scripts.env_check [--json]      (normally through ./check_env.sh)

Every check yields one `CheckResult(name, ok, detail, fix)`; the command prints one line per result
(`ok   java: ...` / `FAIL pins: ... -> fix`), or a JSON object with `--json`, and exits 0 when all
are ok, 1 when any failed, 2 on a usage error.

Checks: the interpreter's Python matches the runtime manifest; Java is present (JAVA_HOME first,
else PATH) with a major version Spark 3.5 supports; every pin of the requirements file (env
REQUIREMENTS_FILE, default requirements_stable.txt) is installed at exactly its version; the
virtualenv's stamp (written by rebuild_venv.sh) equals the current requirements hash; the
configuration loads; API credentials are present when SOURCE=api (reported as set / not set, never
by value); DATA_ROOT is writable or creatable; DATA_ROOT has at least MIN_FREE_GB (env or .env,
default 2) GiB free.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from scripts.console import say
from scripts.requirements_hash import (
    RequirementsError,
    normalize_name,
    pins,
    requirements_hash,
    runtime_manifest,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STAMP_NAME = ".requirements.sha256"
SPARK_JAVA_MAJORS = (8, 11, 17)
SECRET_ENV_VARS = ("TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN")
DEFAULT_MIN_FREE_GB = 2.0
REBUILD_FIX = "run ./rebuild_venv.sh"
JAVA_FIX = "install a Java 17 runtime (apt-get install openjdk-17-jre-headless) or set JAVA_HOME"


@dataclass(frozen=True)
class CheckResult:
    """One preflight check: what was checked, whether it passed, what was seen, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        text = f"{status} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text} -> {self.fix}"


def requirements_path(env: Mapping[str, str] | None = None) -> Path:
    """The requirements file to check against: env REQUIREMENTS_FILE, else requirements_stable.txt."""
    env = os.environ if env is None else env
    return Path(env.get("REQUIREMENTS_FILE") or PROJECT_ROOT / "requirements_stable.txt")


def find_java(env: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """Locate the java launcher Spark would use: `$JAVA_HOME/bin/java` when JAVA_HOME is set, else PATH.

    Returns (path or None, a one-line note saying where it was looked for).
    """
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME", "")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate), f"JAVA_HOME={java_home}"
        return None, f"JAVA_HOME={java_home} has no bin/java"
    found = shutil.which("java", path=env.get("PATH", os.defpath))
    return (found, "PATH") if found else (None, "JAVA_HOME unset and no java on PATH")


def parse_java_version(output: str) -> tuple[str, int] | None:
    """(`17.0.15`, 17) from `java -version` output; `1.8.0_392` gives major 8. None if unparseable."""
    match = re.search(r'version "([^"]+)"', output)
    if not match:
        return None
    version = match.group(1)
    parts = re.split(r"[._+-]", version)
    try:
        major = int(parts[1]) if parts[0] == "1" and len(parts) > 1 else int(parts[0])
    except ValueError:
        return None
    return version, major


@lru_cache(maxsize=8)
def _java_version_output(java: str) -> str:
    completed = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=60, check=False
    )
    return completed.stderr + completed.stdout


def java_version(env: Mapping[str, str] | None = None) -> tuple[str, int] | None:
    """The (version, major) of the java Spark would use, or None when absent or unparseable."""
    java, _where = find_java(env)
    if java is None:
        return None
    try:
        return parse_java_version(_java_version_output(java))
    except (OSError, subprocess.SubprocessError):
        return None


def check_python(manifest: Mapping[str, str], version_info: tuple[int, ...] = sys.version_info[:3]) -> CheckResult:
    """The running interpreter's major.minor equals the manifest's `# python:`."""
    have = ".".join(str(p) for p in version_info[:3])
    want = manifest.get("python")
    if not want:
        return CheckResult("python", False, f"{have}; the runtime manifest declares no python version",
                           "add '# python: X.Y' to the runtime manifest")
    if ".".join(have.split(".")[:2]) != want:
        return CheckResult("python", False, f"{have} running, runtime manifest wants {want}",
                           f"{REBUILD_FIX} --force (it picks Python {want})")
    return CheckResult("python", True, f"{have} (runtime manifest: {want})")


def check_java(manifest: Mapping[str, str], env: Mapping[str, str] | None = None) -> CheckResult:
    """Java is present and its major version is one Spark 3.5 runs on."""
    java, where = find_java(env)
    supported = "/".join(str(m) for m in SPARK_JAVA_MAJORS)
    if java is None:
        return CheckResult("java", False, f"not found ({where})", JAVA_FIX)
    try:
        output = _java_version_output(java)
    except (OSError, subprocess.SubprocessError) as exc:
        return CheckResult("java", False, f"{java} -version failed: {exc}", JAVA_FIX)
    parsed = parse_java_version(output)
    if parsed is None:
        first = output.strip().splitlines()[0] if output.strip() else "no output"
        return CheckResult("java", False, f"cannot read the version of {java} ({first})", JAVA_FIX)
    version, major = parsed
    want = manifest.get("java")
    note = f"runtime manifest: {want}; " if want and want != str(major) else ""
    detail = f"{version} ({note}Spark 3.5 supports {supported})"
    if major not in SPARK_JAVA_MAJORS:
        return CheckResult("java", False, f"{version} from {where} is not supported by Spark 3.5 ({supported})",
                           JAVA_FIX)
    return CheckResult("java", True, detail)


def _release_equal(installed: str, pinned: str) -> bool:
    """`==` for plain release versions, ignoring trailing `.0` (PEP 440: 2.0 == 2.0.0)."""
    if installed == pinned:
        return True
    plain = re.compile(r"^\d+(\.\d+)*$")
    if plain.match(installed) and plain.match(pinned):
        a = [int(part) for part in installed.split(".")]
        b = [int(part) for part in pinned.split(".")]
        width = max(len(a), len(b))
        return a + [0] * (width - len(a)) == b + [0] * (width - len(b))
    return installed.lower() == pinned.lower()


def installed_versions() -> dict[str, str]:
    """`{normalized name: version}` of every distribution the running interpreter can import."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            found.setdefault(normalize_name(name), dist.version)
    return found


def check_pins(pinned: Mapping[str, str], installed: Mapping[str, str]) -> list[CheckResult]:
    """One failure per package missing or at another version than pinned; one ok row otherwise."""
    failures = []
    for name, want in sorted(pinned.items()):
        have = installed.get(name)
        if have is None:
            failures.append(CheckResult("pins", False, f"{name} not installed, {want} pinned", REBUILD_FIX))
        elif not _release_equal(have, want):
            failures.append(CheckResult("pins", False, f"{name} {have} installed, {want} pinned", REBUILD_FIX))
    if failures:
        return failures
    return [CheckResult("pins", True, f"{len(pinned)} packages installed at their pinned versions")]


def check_stamp(current_hash: str, venv_dir: Path) -> CheckResult:
    """The stamp rebuild_venv.sh writes last equals the hash of the current requirements."""
    if Path(sys.prefix) == Path(sys.base_prefix) and venv_dir == Path(sys.prefix):
        return CheckResult("venv", False, f"{sys.executable} is not inside a virtualenv", REBUILD_FIX)
    stamp = venv_dir / STAMP_NAME
    try:
        recorded = stamp.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return CheckResult("venv", False, f"no {STAMP_NAME} in {venv_dir} (not built by rebuild_venv.sh, "
                                          "or its last build was interrupted)", REBUILD_FIX)
    if recorded != current_hash:
        return CheckResult("venv", False, f"built for requirements {recorded[:12]}, current are "
                                          f"{current_hash[:12]}", REBUILD_FIX)
    return CheckResult("venv", True, f"{venv_dir} built for the current requirements {current_hash[:12]}")


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_data_root(data_root: str, is_remote: bool, may_create: bool = True) -> CheckResult:
    """A local DATA_ROOT is a writable folder, or can be created (nothing is left behind).

    `may_create` is False for an explicit DATA_ROOT without SOURCE=sample: the pipeline refuses to
    create it (a typo must not silently get sample data), so the preflight says so first.
    """
    if is_remote:
        return CheckResult("data_root", True, f"{data_root} is a URI: not checked locally (skipped)")
    root = Path(data_root)
    if root.exists() and not root.is_dir():
        return CheckResult("data_root", False, f"{root} exists and is not a folder",
                           "point DATA_ROOT at a folder in .env")
    if not root.exists() and not may_create:
        return CheckResult("data_root", False, f"{root} does not exist",
                           "check DATA_ROOT for a typo, create the folder, or use SOURCE=sample to generate "
                           "sample data there")
    probe_dir = _nearest_existing(root)
    if not probe_dir.is_dir():
        return CheckResult("data_root", False, f"{probe_dir} (on the way to {root}) is not a folder",
                           "point DATA_ROOT at a folder in .env")
    try:
        with tempfile.NamedTemporaryFile(dir=probe_dir, prefix=".env_check_"):
            pass
    except OSError as exc:
        return CheckResult("data_root", False, f"cannot write in {probe_dir}: {exc.strerror or exc}",
                           "make it writable, or point DATA_ROOT elsewhere in .env")
    if probe_dir == root:
        return CheckResult("data_root", True, f"{root} is writable")
    return CheckResult("data_root", True, f"{root} does not exist yet; {probe_dir} is writable, so it can be created")


def min_free_gb(env: Mapping[str, str]) -> float:
    """MIN_FREE_GB from the environment or .env (already merged into `env`); default 2.

    Raises:
        ValueError: the value is not a non-negative number.
    """
    raw = (env.get("MIN_FREE_GB") or "").strip()
    if not raw:
        return DEFAULT_MIN_FREE_GB
    value = float(raw)
    if value < 0 or value != value:
        raise ValueError(raw)
    return value


def check_disk(data_root: str, is_remote: bool, env: Mapping[str, str]) -> CheckResult:
    """At least MIN_FREE_GB GiB free on the filesystem that holds (or will hold) DATA_ROOT."""
    try:
        minimum = min_free_gb(env)
    except ValueError:
        return CheckResult("disk", False, f"MIN_FREE_GB={env.get('MIN_FREE_GB')!r} is not a non-negative number",
                           "set MIN_FREE_GB to a number of GiB in .env")
    if is_remote:
        return CheckResult("disk", True, f"{data_root} is a URI: free space not checked locally (skipped)")
    where = _nearest_existing(Path(data_root))
    free_gb = shutil.disk_usage(where).free / 2**30
    detail = f"{free_gb:.1f} GiB free at {where} (MIN_FREE_GB={minimum:g})"
    if free_gb < minimum:
        return CheckResult("disk", False, detail, "free some space, or move DATA_ROOT to a larger disk")
    return CheckResult("disk", True, detail)


def check_credentials(settings) -> CheckResult:
    """SOURCE=api needs a TMDB token or key and a Discogs token; presence only, never values."""
    def state(value: str | None) -> str:
        return "set" if value else "not set"

    seen = (f"TMDB_API_TOKEN {state(settings.tmdb_api_token)}, TMDB_API_KEY {state(settings.tmdb_api_key)}, "
            f"DISCOGS_TOKEN {state(settings.discogs_token)}")
    if settings.source != "api":
        return CheckResult("credentials", True, f"not required for SOURCE={settings.source} ({seen})")
    missing = []
    if not (settings.tmdb_api_token or settings.tmdb_api_key):
        missing.append("TMDB_API_TOKEN or TMDB_API_KEY")
    if not settings.discogs_token:
        missing.append("DISCOGS_TOKEN")
    if missing:
        return CheckResult("credentials", False, f"SOURCE=api but {' and '.join(missing)} missing ({seen})",
                           f"set {' and '.join(missing)} in .env (see .env.example), or use SOURCE=sample")
    return CheckResult("credentials", True, f"SOURCE=api ({seen})")


def _merged_env() -> dict[str, str]:
    """The environment overlaid on .env, as load_settings sees it (for MIN_FREE_GB, not in Settings)."""
    from scripts.settings import read_dotenv

    merged = dict(read_dotenv(PROJECT_ROOT / ".env"))
    merged.update(os.environ)
    return merged


def run_checks(env: Mapping[str, str] | None = None, venv_dir: Path | None = None) -> list[CheckResult]:
    """Run every check in order and return all results (a failing check never stops the others)."""
    from scripts import data_root as data_root_rules
    from scripts.settings import ConfigError, load_settings, parse_steps

    env = _merged_env() if env is None else dict(env)
    venv_dir = Path(sys.prefix) if venv_dir is None else venv_dir
    requirements = requirements_path(env)
    results: list[CheckResult] = []

    try:
        manifest = runtime_manifest(requirements)
        pinned = pins(requirements)
        current_hash = requirements_hash(requirements)
    except RequirementsError as exc:
        manifest, pinned, current_hash = {}, None, None
        results.append(CheckResult("requirements", False, str(exc), "fix REQUIREMENTS_FILE or its includes"))

    results.append(check_python(manifest))
    results.append(check_java(manifest, env))
    if pinned is not None and current_hash is not None:
        results.extend(check_pins(pinned, installed_versions()))
        results.append(check_stamp(current_hash, venv_dir))

    try:
        settings = load_settings(env=env, dotenv_path=Path(os.devnull))
        if env.get("STEPS"):  # set by `make run STEPS=...`; the pipeline would refuse it later
            parse_steps(env["STEPS"])
    except ConfigError as exc:
        results.append(CheckResult("config", False, str(exc), "fix the variable in .env (see .env.example)"))
        return results
    results.append(CheckResult("config", True, f"SOURCE={settings.source}, DATA_ROOT={settings.data_root}, "
                                               f"SPARK_MASTER={settings.spark_master}, LOG_LEVEL={settings.log_level}"))
    results.append(check_credentials(settings))
    results.append(check_data_root(settings.data_root, settings.is_remote_storage,
                                   may_create=data_root_rules.is_default_root(settings.data_root)
                                   or settings.source == "sample"))
    results.append(check_disk(settings.data_root, settings.is_remote_storage, env))
    return results


def mask_secrets(text: str, env: Mapping[str, str]) -> str:
    """Belt and braces: replace any secret value that slipped into a message with `***`."""
    for name in SECRET_ENV_VARS:
        value = env.get(name) or ""
        if value:
            text = text.replace(value, "***")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check this machine can run the pipeline.")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    args = parser.parse_args(argv)
    env = _merged_env()
    results = run_checks(env)
    all_ok = all(r.ok for r in results)
    if args.json:
        payload = {"ok": all_ok, "checks": [asdict(r) for r in results]}
        say(mask_secrets(json.dumps(payload, indent=2), env))
    else:
        for result in results:
            say(mask_secrets(result.line(), env))
        failed = sum(not r.ok for r in results)
        say(mask_secrets("preflight ok" if all_ok else f"preflight FAILED: {failed} check(s)", env))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
