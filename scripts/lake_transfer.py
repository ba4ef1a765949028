"""`make upload` / `make download`: move data layers between a local DATA_ROOT and an abfss:// one.

Resumable: a file already at the other side with the same size and MD5 is skipped (files Spark
wrote on Databricks carry no MD5: for those, same size and a local copy at least as new as the
lake's, which a finished download leaves, count as the same). Large files go up in chunks and a
killed upload continues where it stopped (scripts/lake.py `upload_file`); every file lands under
its final name only when complete. A progress bar (bytes, rate, ETA) runs on a terminal, and one
summary line ends every run. Nothing is deleted on either side.

Command line (exit codes: 0 ok, 1 some files failed, 2 usage or configuration error)::

    python -m scripts.lake_transfer upload   [--local DIR] [--lake abfss://...] [--layers raw]
    python -m scripts.lake_transfer download [--local DIR] [--lake abfss://...] [--layers gold,metrics,reports]
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from scripts.console import say
from scripts.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from scripts.lake import DEFAULT_CHUNK, Lake, LakeError, is_lake_uri, md5_of_file
from scripts.settings import PROJECT_ROOT, ConfigError, Settings, load_settings

logger = logging.getLogger(__name__)

UPLOAD_LAYERS = ("raw",)
DOWNLOAD_LAYERS = ("gold", "metrics", "reports")


@dataclass
class TransferSummary:
    direction: str
    files: int = 0
    sent: int = 0
    skipped: int = 0
    bytes: int = 0
    failed: list = field(default_factory=list)
    seconds: float = 0.0

    def line(self) -> str:
        text = (f"{self.direction}: {self.files} files, {self.sent} transferred ({self.bytes / 2**20:.1f} MiB), "
                f"{self.skipped} already there, {len(self.failed)} failed in {self.seconds:.1f} s")
        if self.failed:
            text += f"; failed: {', '.join(self.failed[:5])}{' ...' if len(self.failed) > 5 else ''}" \
                    " (run the same command again to resume)"
        return text


def _skip_local(name: str) -> bool:
    # Lock files, temporary and hidden files are a process's own, never data.
    return name.startswith(".") or name.endswith(".lock") or ".tmp-" in name


def _local_files(root: Path, layers: Sequence[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for layer in layers:
        base = root / layer
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if _skip_local(name):
                    continue
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    found[path.relative_to(root).as_posix()] = path
    return found


def _bar(total: int, desc: str, progress: bool | None):
    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, disable=not show,
                dynamic_ncols=True, file=sys.stderr)


def upload(local_root: Path, lake: Lake, layers: Sequence[str] = UPLOAD_LAYERS, *, chunk_size: int = DEFAULT_CHUNK,
           progress: bool | None = None) -> TransferSummary:
    """Upload `layers` of `local_root` into `lake`, skipping files already there (same size and MD5)."""
    started = time.monotonic()
    summary = TransferSummary("upload")
    local = _local_files(Path(local_root), layers)
    remote = {}
    for layer in layers:
        remote.update(lake.list_files(layer))
    summary.files = len(local)
    todo: list[tuple[str, Path, bytes]] = []
    for rel, path in local.items():
        md5 = md5_of_file(path)
        there = remote.get(rel)
        if there is not None and there.size == path.stat().st_size:
            props = lake.properties(rel)
            if props is not None and props.md5 == md5:
                summary.skipped += 1
                continue
        todo.append((rel, path, md5))
    with _bar(sum(p.stat().st_size for _, p, _ in todo), "upload", progress) as bar:
        for rel, path, md5 in todo:
            try:
                summary.bytes += lake.upload_file(path, rel, md5, chunk_size=chunk_size, on_bytes=bar.update)
                summary.sent += 1
            except (LakeError, OSError, _azure_errors()) as exc:
                logger.error("upload of %s failed: %s", rel, type(exc).__name__)
                summary.failed.append(rel)
    summary.seconds = time.monotonic() - started
    return summary


def _azure_errors():
    from azure.core.exceptions import AzureError

    return AzureError


def _same(local: Path, there) -> bool:
    if not local.is_file() or local.stat().st_size != there.size:
        return False
    if there.md5 is not None:
        return md5_of_file(local) == there.md5
    return local.stat().st_mtime >= there.modified


def download(lake: Lake, local_root: Path, layers: Sequence[str] = DOWNLOAD_LAYERS, *,
             progress: bool | None = None) -> TransferSummary:
    """Download `layers` of `lake` into `local_root`, skipping files already here and unchanged."""
    started = time.monotonic()
    summary = TransferSummary("download")
    local_root = Path(local_root)
    remote = {}
    for layer in layers:
        remote.update({rel: f for rel, f in lake.list_files(layer).items()
                       if not _skip_local(rel.rsplit("/", 1)[-1])})
    summary.files = len(remote)
    todo = []
    for rel, listed in remote.items():
        there = lake.properties(rel) or listed
        if _same(local_root / rel, there):
            summary.skipped += 1
        else:
            todo.append((rel, there))
    with _bar(sum(t.size for _, t in todo), "download", progress) as bar:
        for rel, there in todo:
            target = local_root / rel
            try:
                lake.download_to(rel, target, on_bytes=bar.update)
                if there.md5 is not None and md5_of_file(target) != there.md5:
                    target.unlink()
                    raise LakeError(f"{rel}: MD5 differs from the lake's after download")
                os.utime(target, (there.modified, max(there.modified, target.stat().st_mtime)))
                summary.bytes += there.size
                summary.sent += 1
            except (LakeError, OSError, _azure_errors()) as exc:
                logger.error("download of %s failed: %s", rel, exc if isinstance(exc, LakeError) else type(exc).__name__)
                summary.failed.append(rel)
    summary.seconds = time.monotonic() - started
    return summary


def _without_query(message: str) -> str:
    """First line of an SDK error with any URL query (where a SAS signature would be) cut off."""
    first = message.splitlines()[0] if message else ""
    return re.sub(r"\?[^\s'\"]*", "?<query hidden>", first)


def _layers(text: str) -> tuple[str, ...]:
    layers = tuple(part.strip().strip("/") for part in text.split(",") if part.strip())
    for layer in layers:
        if not layer or "/" in layer or layer in (".", "..") or layer.startswith("."):
            raise argparse.ArgumentTypeError(f"{layer!r} is not a layer name such as raw or gold")
    return layers


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.lake_transfer",
                                     description="Copy data layers between a local DATA_ROOT and ADLS Gen2.")
    parser.add_argument("direction", choices=("upload", "download"))
    parser.add_argument("--local", type=Path, metavar="DIR", help="local DATA_ROOT (default: DATA_ROOT if local, "
                                                                   "else <project>/data)")
    parser.add_argument("--lake", metavar="URI", help="abfss:// DATA_ROOT (default: LAKE_DATA_ROOT, or DATA_ROOT)")
    parser.add_argument("--layers", type=_layers, help="comma-separated layers (upload: raw; download: "
                                                       "gold,metrics,reports)")
    parser.add_argument("--chunk-mib", type=int, default=DEFAULT_CHUNK // 2**20, metavar="N",
                        help="upload chunk size in MiB (8)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar (default: when stderr is a terminal)")
    return parser


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The SDK logs every request at INFO; its policy redacts secrets, but the lines are noise here.
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        settings = settings or load_settings()
        lake_uri = args.lake or settings.lake_data_root
        if not lake_uri or not is_lake_uri(lake_uri):
            raise ConfigError("no lake: set LAKE_DATA_ROOT (or DATA_ROOT) to abfss://container@account.dfs."
                              "core.windows.net/path in .env, or pass --lake")
        local = args.local or (Path(settings.data_root) if not settings.is_remote_storage else PROJECT_ROOT / "data")
        lake = Lake.open(lake_uri, settings)
        if args.direction == "upload":
            if not local.is_dir():
                raise ConfigError(f"local DATA_ROOT {local} does not exist")
            lake.ensure_filesystem()
            summary = upload(local, lake, args.layers or UPLOAD_LAYERS, chunk_size=args.chunk_mib * 2**20,
                             progress=args.progress)
        else:
            summary = download(lake, local, args.layers or DOWNLOAD_LAYERS, progress=args.progress)
    except ConfigError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (LakeError, _azure_errors()) as exc:
        say(f"error: {type(exc).__name__}: {_without_query(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    say(f"{summary.line()}  [{local} <-> {lake_uri}]")
    return EXIT_FAILED if summary.failed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
