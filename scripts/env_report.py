"""Environment fingerprint of the running interpreter, as JSON, and the comparison of two fingerprints.

    .venv/bin/python -m scripts.env_report            one JSON object on stdout
    .venv/bin/python -m scripts.env_report --freeze   the frozen package list, `name==version` a line

`make sync` runs this with each side's venv python, locally and on the VM over ssh, and fails on any
difference `compare_reports` finds. Java is compared by major version only (8, 11, 17: what Spark
3.5 supports and what changes its behaviour): a patch or security update on one side is reported by
`report_notes`, not failed, so applying a JDK update on the VM does not break the sync.

The report holds: the Python version; the version of the java Spark would use (JAVA_HOME first,
else PATH); the installed pyspark; the requirements hash and the venv's stamp (the hash
rebuild_venv.sh last built it for); every pinned package's installed version; and the full
`pip freeze --all`-style list of the distributions this interpreter sees, read with
importlib.metadata (no pip, no JVM start). Where one name is installed twice on sys.path, the first
one wins, as it does for `import`.

The requirements file is env REQUIREMENTS_FILE, else `requirements_stable.txt` next to this folder.
Nothing secret is read or printed. Exit codes: 0 report printed; 2 usage error.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Mapping
from pathlib import Path

from scripts.console import say
from scripts.env_check import STAMP_NAME, installed_versions, java_version, parse_java_version
from scripts.requirements_hash import RequirementsError, pins, requirements_hash

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REPORT_FORMAT = 1
NOT_INSTALLED = "not installed"


def frozen_packages() -> dict[str, str]:
    """`{normalized name: version}` of every distribution on sys.path (pip, setuptools included)."""
    return dict(sorted(installed_versions().items()))


def _venv_stamp() -> str | None:
    try:
        return (Path(sys.prefix) / STAMP_NAME).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def build_report(env: Mapping[str, str] | None = None) -> dict:
    """The fingerprint of this interpreter and its project checkout (see the module docstring)."""
    env = os.environ if env is None else env
    requirements = Path(env.get("REQUIREMENTS_FILE") or PROJECT_ROOT / "requirements_stable.txt")
    frozen = frozen_packages()
    report: dict = {
        "format": REPORT_FORMAT,
        "python": platform.python_version(),
        "java": None,
        "spark": frozen.get("pyspark"),
        "requirements_hash": None,
        "venv_stamp": _venv_stamp(),
        "pins": {},
        "frozen": frozen,
    }
    found_java = java_version(env)
    if found_java:
        report["java"] = found_java[0]
    try:
        report["requirements_hash"] = requirements_hash(requirements)
        report["pins"] = {name: frozen.get(name) for name in sorted(pins(requirements))}
    except (RequirementsError, OSError) as exc:
        report["requirements_error"] = str(exc)
    return report


def java_major(version: str | None) -> int | None:
    """17 for `17.0.15`, 8 for `1.8.0_392`; None when absent or unparseable."""
    if not version:
        return None
    parsed = parse_java_version(f'version "{version}"')
    return parsed[1] if parsed else None


def report_notes(left: Mapping, right: Mapping, left_name: str = "local", right_name: str = "vm") -> list[str]:
    """Differences shown but not failed: a Java patch version on the same major version."""
    a, b = left.get("java"), right.get("java")
    if a and b and a != b and java_major(a) is not None and java_major(a) == java_major(b):
        return [f"java: {left_name} {a}, {right_name} {b} (same major version {java_major(a)}, which is what "
                "Spark needs; patch versions are reported, not compared)"]
    return []


def compare_reports(left: Mapping, right: Mapping, left_name: str = "local",
                    right_name: str = "vm") -> list[str]:
    """Every difference between two reports, one line each, by name: `pandas: local 1.5.3, vm 2.0.0`.

    Order: python, java, spark, requirements hash, venv stamp, then pinned packages, then the other
    packages of the frozen lists (a pinned package that differs is listed once, with the pins).
    [] means identical.
    """
    differences: list[str] = []

    def differ(label: str, a: object, b: object, absent: str = NOT_INSTALLED) -> None:
        if a != b:
            shown_a = absent if a is None else str(a)
            shown_b = absent if b is None else str(b)
            differences.append(f"{label}: {left_name} {shown_a}, {right_name} {shown_b}")

    if left.get("format") != right.get("format"):
        differ("report format", left.get("format"), right.get("format"), absent="none")
    differ("python", left.get("python"), right.get("python"), absent="unknown")
    a_java, b_java = left.get("java"), right.get("java")
    if java_major(a_java) != java_major(b_java) or (java_major(a_java) is None and a_java != b_java):
        differ("java", a_java, b_java, absent="not found")
    differ("spark", left.get("spark"), right.get("spark"))
    differ("requirements hash", _short(left.get("requirements_hash")), _short(right.get("requirements_hash")),
           absent="unreadable")
    differ("venv stamp", _short(left.get("venv_stamp")), _short(right.get("venv_stamp")), absent="missing")

    left_pins, right_pins = left.get("pins") or {}, right.get("pins") or {}
    reported = set()
    for name in sorted(set(left_pins) | set(right_pins)):
        a, b = left_pins.get(name), right_pins.get(name)
        if a != b:
            differ(name, a, b)
            reported.add(name)

    left_frozen, right_frozen = left.get("frozen") or {}, right.get("frozen") or {}
    for name in sorted(set(left_frozen) | set(right_frozen)):
        if name not in reported:
            differ(name, left_frozen.get(name), right_frozen.get(name))
    return differences


def _short(digest: str | None) -> str | None:
    return digest[:12] if digest else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print this interpreter's environment fingerprint as JSON.")
    parser.add_argument("--freeze", action="store_true",
                        help="print only the frozen package list, name==version one a line")
    args = parser.parse_args(argv)
    if args.freeze:
        for name, version in frozen_packages().items():
            say(f"{name}=={version}")
        return 0
    say(json.dumps(build_report(), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
