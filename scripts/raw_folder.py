"""Where the acquisition's raw store keeps its files: a local folder, or a folder in ADLS Gen2.

Both have the same small API, the operations `scripts.acquire.RawStore` needs for its exactly-once
and resume guarantees:

- `lock(name, busy)` / `unlock()`: one writer per folder. Locally an advisory `flock`; in the
  lake a lock file created with If-None-Match: * (a conditional create), holding an expiry that
  each state write renews; an expired lock (a killed fetch) is taken over with If-Match on its ETag,
  so two takers cannot both win.
- `open_append(name)`: an append-only part file; `write` buffers, `commit()` makes the bytes
  durable (fsync; in the lake append + flush at the committed offset, conditional on the file's
  ETag) and returns the committed length. Lines reach the lake only whole: flushed data is exactly
  what was committed, so a killed run never leaves half a line there.
- `write_atomic(name, data)`: replace a file in one step (temporary file + rename). In the lake the
  rename carries the ETag this folder last saw on the destination, so a second writer that slipped
  past the lock makes the write fail (ConflictError) instead of losing a checkpoint.
- `list()`, `read_text`, `read_from`, `exists`, `replace`, `truncate`, `mkdir`, and `/` for a subfolder.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock
    fcntl = None

LAKE_LOCK_SECONDS = 15 * 60


@dataclass(frozen=True)
class Entry:
    name: str
    size: int
    mtime: float


class _LocalAppender:
    def __init__(self, path: Path):
        self.name = str(path)  # the full path, as a file object's name
        self._handle = open(path, "ab")

    def write(self, data: bytes) -> None:
        self._handle.write(data)

    def tell(self) -> int:
        return self._handle.tell()

    def flush(self) -> None:
        """To the OS (visible to readers), not yet durable: `commit` is."""
        self._handle.flush()

    def commit(self) -> int:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self._handle.tell()

    def close(self) -> None:
        self._handle.close()


class LocalRawFolder:
    """A raw folder on the local file system (or a mounted one)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock_handle = None

    def __truediv__(self, name: str) -> LocalRawFolder:
        return LocalRawFolder(self.path / name)

    def __str__(self) -> str:
        return str(self.path)

    def mkdir(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    def lock(self, name: str, busy: Exception) -> None:
        if fcntl is None:  # pragma: no cover
            return
        handle = open(self.path / name, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise busy from None
        self._lock_handle = handle

    def unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def list(self) -> list[Entry]:
        if not self.path.is_dir():
            return []
        entries = []
        for path in sorted(self.path.iterdir()):
            if path.is_file():
                stat = path.stat()
                entries.append(Entry(path.name, stat.st_size, stat.st_mtime))
        return entries

    def exists(self, name: str) -> bool:
        return (self.path / name).exists()

    def read_text(self, name: str) -> str | None:
        path = self.path / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    def read_from(self, name: str, offset: int) -> bytes:
        with open(self.path / name, "rb") as handle:
            handle.seek(offset)
            return handle.read()

    def truncate(self, name: str, size: int) -> None:
        with open(self.path / name, "r+b") as handle:
            handle.truncate(size)

    def open_append(self, name: str) -> _LocalAppender:
        return _LocalAppender(self.path / name)

    def write_atomic(self, name: str, data: bytes) -> None:
        tmp = self.path / f".{name}.tmp-{os.getpid()}"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path / name)

    def replace(self, src: str, dst: str) -> None:
        os.replace(self.path / src, self.path / dst)


class _LakeAppender:
    def __init__(self, folder: LakeRawFolder, name: str):
        self.name = name
        self._folder = folder
        self._committed = 0
        self._etag: str | None = None
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data

    def tell(self) -> int:
        return self._committed + len(self._buffer)

    def flush(self) -> None:
        self.commit()  # the lake has no "visible but not durable": a flush commits

    def commit(self) -> int:
        if self._buffer:
            self._etag = self._folder.lake.append(self.name, bytes(self._buffer), self._committed, self._etag)
            self._committed += len(self._buffer)
            self._buffer.clear()
        return self._committed

    def close(self) -> None:
        self.commit()


class LakeRawFolder:
    """A raw folder in ADLS Gen2 (`scripts.lake.Lake`), same API as `LocalRawFolder`."""

    def __init__(self, lake, lock_seconds: float = LAKE_LOCK_SECONDS):
        self.lake = lake
        self.lock_seconds = lock_seconds
        self._etags: dict[str, str | None] = {}
        self._lock_name: str | None = None
        self._lock_etag: str | None = None
        self._lock_renewed = 0.0

    def __truediv__(self, name: str) -> LakeRawFolder:
        return LakeRawFolder(self.lake.child(name), self.lock_seconds)

    def __str__(self) -> str:
        return self.lake.uri

    def mkdir(self) -> None:
        pass  # the lake creates parent folders with the first file

    def _lock_body(self) -> bytes:
        return json.dumps({"owner": f"{socket.gethostname()}:{os.getpid()}",
                           "expires": time.time() + self.lock_seconds}).encode()

    def lock(self, name: str, busy: Exception) -> None:
        from scripts.lake import ConflictError

        try:
            self._lock_etag = self.lake.create_exclusive(name, self._lock_body())
        except ConflictError:
            held = self.lake.properties(name)
            try:
                expires = float(json.loads(self.lake.read(name)).get("expires", 0))
            except (ValueError, FileNotFoundError, AttributeError):
                expires = 0.0
            if held is None or expires > time.time():
                raise busy from None
            try:  # a killed fetch's lock: take it over, unless someone else just did
                self._lock_etag = self.lake.write_atomic(name, self._lock_body(), etag=held.etag)
            except ConflictError:
                raise busy from None
        self._lock_name = name
        self._lock_renewed = time.monotonic()

    def _renew_lock(self) -> None:
        if self._lock_name and time.monotonic() - self._lock_renewed > self.lock_seconds / 3:
            # Conditional on the lock's ETag: a lock taken over by another writer fails this write.
            self._lock_etag = self.lake.write_atomic(self._lock_name, self._lock_body(), etag=self._lock_etag)
            self._lock_renewed = time.monotonic()

    def unlock(self) -> None:
        if self._lock_name:
            from scripts.lake import ConflictError

            try:
                self.lake.delete(self._lock_name, etag=self._lock_etag)
            except ConflictError:
                pass  # taken over after it expired: it is the other writer's now
            self._lock_name = None

    def list(self) -> list[Entry]:
        return [Entry(rel, f.size, f.modified) for rel, f in sorted(self.lake.list_files().items()) if "/" not in rel]

    def exists(self, name: str) -> bool:
        return self.lake.exists(name)

    def read_text(self, name: str) -> str | None:
        props = self.lake.properties(name)
        if props is None:
            self._etags[name] = None
            return None
        self._etags[name] = props.etag
        return self.lake.read(name).decode("utf-8")

    def read_from(self, name: str, offset: int) -> bytes:
        return self.lake.read(name, offset)

    def truncate(self, name: str, size: int) -> None:
        self.lake.write_atomic(name, self.lake.read(name)[:size])

    def open_append(self, name: str) -> _LakeAppender:
        return _LakeAppender(self, name)

    def write_atomic(self, name: str, data: bytes) -> None:
        self._renew_lock()
        if name in self._etags:
            known = self._etags[name]
            etag = self.lake.write_atomic(name, data, etag=known, must_not_exist=known is None)
        else:
            etag = self.lake.write_atomic(name, data)
        self._etags[name] = etag

    def replace(self, src: str, dst: str) -> None:
        self.lake.rename(src, dst)
        if src in self._etags:
            self._etags[src] = None  # gone now: the next write must create it


RawFolder = LocalRawFolder | LakeRawFolder


def as_raw_folder(folder) -> RawFolder:
    """`folder` itself when it is a raw folder already, else a local one for the path given."""
    if isinstance(folder, (LocalRawFolder, LakeRawFolder)):
        return folder
    return LocalRawFolder(folder)


def lake_raw_folder(settings, uri: str | None = None) -> LakeRawFolder:
    """The `raw/` folder of the abfss:// DATA_ROOT (or `uri`), with the settings' credentials."""
    from scripts.lake import Lake

    lake = Lake.open(uri or settings.data_root, settings)
    lake.ensure_filesystem()
    return LakeRawFolder(lake.child("raw"))
