"""How the running interpreter's installed packages differ from the pins; rebuild_venv.sh's drift check.

    VENV/bin/python -m scripts.venv_drift [REQUIREMENTS]      (PYTHONPATH=<project>)

Prints one line per difference, tab-separated, and nothing when the venv matches the pins:
  changed  NAME  INSTALLED  PINNED     a pinned package at another version (changed by hand)
  missing  NAME  -          PINNED     a pinned package not installed
  extra    NAME  INSTALLED  -          a package installed but not pinned (pip's own tools excepted)
The pins are a full closure of the runtime (requirements_stable.txt pins every dependency), so an
unpinned package was added by hand. pip, setuptools and wheel are the venv's tooling, managed by
rebuild_venv.sh's PIP_VERSION, and are not drift.

Standard library only. Exit codes: 0 printed (drift or none); 2 the requirements cannot be read.
"""
from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from scripts.console import say
from scripts.env_check import _release_equal, installed_versions
from scripts.requirements_hash import DEFAULT_REQUIREMENTS, RequirementsError, pins

TOOLING = frozenset({"pip", "setuptools", "wheel", "distribute"})


def drift(pinned: Mapping[str, str], installed: Mapping[str, str]) -> list[tuple[str, str, str, str]]:
    """(kind, name, installed or '-', pinned or '-') for every difference, sorted by name."""
    found = []
    for name in sorted(set(pinned) | set(installed)):
        have, want = installed.get(name), pinned.get(name)
        if want is None:
            if name not in TOOLING:
                found.append(("extra", name, have or "-", "-"))
        elif have is None:
            found.append(("missing", name, "-", want))
        elif not _release_equal(have, want):
            found.append(("changed", name, have, want))
    return found


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        say("usage: python -m scripts.venv_drift [REQUIREMENTS]", file=sys.stderr)
        return 2
    requirements = Path(argv[0]) if argv else DEFAULT_REQUIREMENTS
    try:
        pinned = pins(requirements)
    except (RequirementsError, OSError) as exc:
        say(f"venv_drift: {exc}", file=sys.stderr)
        return 2
    for row in drift(pinned, installed_versions()):
        say("\t".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
