"""Fingerprint, pins and runtime manifest of a pip requirements file and everything it includes.

Standard library only, and no imports from the rest of the project: `rebuild_venv.sh` runs this file
with whatever `python3` is on the machine, before the virtualenv exists.

Includes: `-r FILE` / `--requirement FILE` and `-c FILE` / `--constraint FILE` are followed, each
path relative to the file that names it (absolute paths are used as they are). An include cycle or a
missing include is an error.

What the hash covers (`requirements_hash`): the flattened stream of *meaningful* lines, in include
order, where an include line is replaced by `-r <name>` / `-c <name>` followed by the included file's
own meaningful lines. A meaningful line is
  * a requirement or pip option line, with its inline ` # comment` removed and runs of whitespace
    collapsed, and
  * a runtime-manifest header line `# key: value` (e.g. `# python: 3.10`), because changing the
    Python or Spark a runtime declares must rebuild the virtualenv even when no pin moved.
Other comments and blank lines are excluded, so rewording a comment does not force a rebuild, while
changing any pin, in any included file, does. The digest also covers a format tag, so a change to
these rules changes every hash once.

Pins (`pins`): `name==version` lines from the file and its `-r` includes, names normalized per
PEP 503 (lower case, runs of `-_.` become `-`). Constraint files (`-c`) restrict versions but do not
ask for an install, so their pins are left out. Extras and environment markers are dropped.

CLI (exit 0 on success, 1 when `--get KEY` is not declared, 2 on a usage or file error):
    python3 scripts/requirements_hash.py [FILE]               the sha256 hex digest
    python3 scripts/requirements_hash.py --short [FILE]       its first 12 characters
    python3 scripts/requirements_hash.py --pins [FILE]        name==version, one a line
    python3 scripts/requirements_hash.py --manifest [FILE]    key=value, one a line
    python3 scripts/requirements_hash.py --get python [FILE]  one manifest value
FILE defaults to `requirements_stable.txt` at the project root.
"""
from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REQUIREMENTS = PROJECT_ROOT / "requirements_stable.txt"
HASH_FORMAT = "requirements-hash/v1"

_INCLUDE_RE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s+|=)(\S.*)$")
_MANIFEST_RE = re.compile(r"^#\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(\S(?:.*\S)?)\s*$")
_PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;,=]+)$")
_INLINE_COMMENT_RE = re.compile(r"(^|\s)#.*$")


class RequirementsError(ValueError):
    """A requirements file or one of its includes is missing, cyclic, or pins a package twice."""


def normalize_name(name: str) -> str:
    """PEP 503 normalized project name: `Typing_Extensions` -> `typing-extensions`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _strip_line(raw: str) -> str:
    line = _INLINE_COMMENT_RE.sub("", raw).strip()
    return " ".join(line.split())


def _walk(path: Path, stack: tuple[Path, ...] = ()) -> Iterator[tuple[str, str, Path]]:
    """Yield (kind, text, file) for every meaningful line, depth first through includes.

    kind is one of: "req" (requirement or option line), "manifest" (a `# key: value` header line),
    "include-r" / "include-c" (an include marker; its file's lines follow, with kinds
    "req"/"manifest" from `-r` files and "constraint"/"manifest" from `-c` files).
    """
    path = Path(path)
    resolved = path.resolve()
    if resolved in stack:
        chain = " -> ".join(str(p) for p in (*stack, resolved))
        raise RequirementsError(f"include cycle: {chain}")
    try:
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        where = f" (included from {stack[-1]})" if stack else ""
        raise RequirementsError(f"requirements file not found: {path}{where}") from None
    for raw in text.splitlines():
        stripped = raw.strip()
        manifest = _MANIFEST_RE.match(stripped)
        if manifest:
            yield "manifest", f"# {manifest.group(1).lower()}: {manifest.group(2)}", resolved
            continue
        line = _strip_line(raw)
        if not line:
            continue
        include = _INCLUDE_RE.match(line)
        if include:
            flag = "-c" if include.group(1) in ("-c", "--constraint") else "-r"
            target = include.group(2).strip()
            yield f"include{flag}", f"{flag} {target}", resolved
            child = Path(target) if Path(target).is_absolute() else resolved.parent / target
            for kind, child_text, child_file in _walk(child, (*stack, resolved)):
                if flag == "-c" and kind == "req":
                    kind = "constraint"
                yield kind, child_text, child_file
            continue
        yield "req", line, resolved


def requirements_hash(path: Path = DEFAULT_REQUIREMENTS) -> str:
    """sha256 hex digest of the normalized content of `path` and its includes (see module doc)."""
    digest = hashlib.sha256(HASH_FORMAT.encode("utf-8") + b"\n")
    for _kind, text, _file in _walk(Path(path)):
        digest.update(text.encode("utf-8") + b"\n")
    return digest.hexdigest()


def pins(path: Path = DEFAULT_REQUIREMENTS) -> dict[str, str]:
    """`{normalized name: version}` for every `name==version` line of `path` and its `-r` includes.

    Raises:
        RequirementsError: a file is missing or cyclic, or one package is pinned to two versions.
    """
    found: dict[str, str] = {}
    origin: dict[str, Path] = {}
    for kind, text, file in _walk(Path(path)):
        if kind != "req":
            continue
        spec = text.split(";", 1)[0]
        spec = re.sub(r"\s--hash[=\s]\S+", "", spec).strip()
        match = _PIN_RE.match(spec)
        if not match:
            continue
        name, version = normalize_name(match.group(1)), match.group(2)
        if name in found and found[name] != version:
            raise RequirementsError(
                f"{name} pinned twice: {found[name]} in {origin[name]} and {version} in {file}"
            )
        found[name] = version
        origin[name] = file
    return found


def runtime_manifest(path: Path = DEFAULT_REQUIREMENTS) -> dict[str, str]:
    """The `# key: value` header lines of `path` and its includes, keys lower case.

    The first declaration of a key wins (the runtime manifest is included at the top of
    requirements_stable.txt, so its values are the ones returned).
    """
    manifest: dict[str, str] = {}
    for kind, text, _file in _walk(Path(path)):
        if kind != "manifest":
            continue
        key, value = text[2:].split(":", 1)
        manifest.setdefault(key.strip(), value.strip())
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Hash, pins or runtime manifest of a requirements file and its includes."
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--short", action="store_true", help="print the first 12 hex digits of the hash")
    mode.add_argument("--pins", action="store_true", help="print name==version, one a line")
    mode.add_argument("--manifest", action="store_true", help="print the runtime manifest as key=value")
    mode.add_argument("--get", metavar="KEY", help="print one runtime manifest value (e.g. python)")
    parser.add_argument("file", nargs="?", default=str(DEFAULT_REQUIREMENTS), help="requirements file")
    args = parser.parse_args(argv)
    path = Path(args.file)
    try:
        if args.pins:
            for name, version in sorted(pins(path).items()):
                print(f"{name}=={version}")  # noqa: T201
        elif args.manifest:
            for key, value in runtime_manifest(path).items():
                print(f"{key}={value}")  # noqa: T201
        elif args.get:
            value = runtime_manifest(path).get(args.get.lower())
            if value is None:
                print(f"error: {path} declares no '# {args.get.lower()}: ...' line", file=sys.stderr)  # noqa: T201
                return 1
            print(value)  # noqa: T201
        else:
            digest = requirements_hash(path)
            print(digest[:12] if args.short else digest)  # noqa: T201
    except RequirementsError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
