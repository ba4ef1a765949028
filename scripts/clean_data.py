"""Remove the derived layers of a local DATA_ROOT: `python -m scripts.clean_data [--data-root DIR] [-n]`.

Called by `make clean-data`. It cleans only a folder the pipeline marked as its own
(`.soundtracks-data-root`, see scripts/data_root.py), never `/`, `$HOME` or a folder holding the
project or the home folder, never a remote URI, never `raw/`. It takes the root's run lock, so it
cannot empty a root while a run writes it. Each removed path is printed; a layer that is a symlink
is unlinked, its target left alone, and nothing inside a layer is followed out of it.

DATA_ROOT comes from --data-root, else the environment, else `.env`, else <project>/data
(the same precedence as the pipeline).

Exit codes: 0 cleaned (or nothing to clean); 1 refused (not a pipeline root, or a protected
folder); 2 usage or configuration error; 75 a run holds the root's lock.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from scripts import data_root
from scripts.console import say
from scripts.exit_codes import EXIT_BUSY, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from scripts.settings import PROJECT_ROOT, ConfigError, load_settings

# Layers the pipeline re-creates from raw/ (docs/contracts.md); raw/ is never listed.
DERIVED_LAYERS = ("staging", "bronze", "silver", "gold", "metrics", "reports")
EXIT_REFUSED = EXIT_FAILED  # a folder that is not the pipeline's own


def protected_folders() -> list[Path]:
    """Folders never cleaned as a DATA_ROOT, nor any folder that contains one of them."""
    folders = [Path("/"), PROJECT_ROOT]
    home = os.environ.get("HOME")
    if home:
        folders.append(Path(home))
    folders.append(Path.home())
    return [Path(os.path.realpath(f)) for f in folders]


def refusal_for(root: Path) -> str | None:
    """Why `root` (already resolved) must not be cleaned, or None."""
    for folder in protected_folders():
        if root == folder or folder.is_relative_to(root):
            what = "is" if root == folder else f"holds {folder}, which is"
            return f"{root} {what} a protected folder (/, $HOME or the project): never cleaned as a DATA_ROOT"
    marker = root / data_root.MARKER_NAME
    if marker.is_symlink() or not marker.is_file():
        return (f"{root} has no {data_root.MARKER_NAME} marker, so it is not known to be a pipeline DATA_ROOT. "
                f"If it is (a root from before the marker existed), add the marker and run again: "
                f"touch '{marker}'")
    return None


def clean(root: Path, out=sys.stdout) -> list[Path]:
    """Remove the derived layers directly under `root`; return what was removed."""
    removed = []
    for layer in DERIVED_LAYERS:
        path = root / layer
        if path.is_symlink():
            say(f"removing link {path} (its target is left alone)", file=out)
            path.unlink()
        elif path.is_dir():
            say(f"removing {path}/", file=out)
            shutil.rmtree(path)  # removes links inside a layer without following them
        elif path.exists():
            say(f"removing {path}", file=out)
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.clean_data", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", help="the DATA_ROOT to clean (default: as the pipeline finds it)")
    parser.add_argument("-n", "--dry-run", action="store_true", help="print what would be removed, remove nothing")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.data_root is not None:
        env["DATA_ROOT"] = args.data_root
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        say(f"clean-data: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if settings.is_remote_storage:
        say(f"clean-data: DATA_ROOT={settings.data_root} is remote: not touching it", file=sys.stderr)
        return EXIT_REFUSED
    root = Path(os.path.realpath(settings.data_root))
    if not root.is_dir():
        say(f"clean-data: DATA_ROOT={settings.data_root} does not exist or is not a folder: nothing cleaned",
              file=sys.stderr)
        return EXIT_USAGE
    reason = refusal_for(root)
    if reason:
        say(f"clean-data: refused: {reason}", file=sys.stderr)
        return EXIT_REFUSED
    present = [root / layer for layer in DERIVED_LAYERS if os.path.lexists(root / layer)]
    say(f"clean-data: DATA_ROOT={root}; removing {', '.join(p.name for p in present) or 'nothing'} "
          "(raw/ is kept)")
    if args.dry_run or not present:
        return EXIT_OK
    busy = data_root.lock_root(root)
    if busy:
        say(f"clean-data: {busy.message}", file=sys.stderr)
        return EXIT_BUSY
    try:
        clean(root)
    finally:
        data_root.release(root)
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
