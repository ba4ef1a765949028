"""A stand-in for ADLS Gen2 on 127.0.0.1: the REST operations scripts/lake.py uses, with injected faults.

Azurite has no DFS endpoint, so the real `azure-storage-file-datalake` SDK is pointed at this server
(path-style URL `http://127.0.0.1:PORT/<account>`). It follows Microsoft's published REST reference
("Azure Data Lake Storage Gen2 REST API": Filesystem Create, Path Create/Update(append, flush)/Read/
Get Properties/List/Delete, Path Create with x-ms-rename-source) and the few Blob operations the
SDK routes through the blob endpoint (container create, blob GET with x-ms-range, blob HEAD):

- data appended with `action=append&position=N` stays uncommitted until `action=flush&position=N`
  commits it (a reader never sees it before); a flush whose position is not the committed length
  plus the contiguous uncommitted data is refused (400 InvalidFlushPosition);
- every committed change gets a new ETag; `If-Match` / `If-None-Match` (including `*`) are honoured
  on create, flush, delete, read and on a rename's destination (412 ConditionNotMet, 409
  PathAlreadyExists for `If-None-Match: *` on create);
- a rename replaces an existing destination atomically (one dict update under a lock);
- `x-ms-content-md5` given on flush is returned as `Content-MD5` by HEAD and GET.

Faults: `server.faults.add(op, kind, times=1, after=0)` where op is an operation name (see `_op`)
and kind is `503` (ServerBusy), `reset` (the connection is closed after reading the request, so
the client sees a reset mid-request), or `412` (a conditional-write conflict). `after` skips that
many matching requests first. `server.calls` counts operations; `server.bytes_appended` counts bytes.

Not modelled: authentication (a SAS `sig` or an Authorization header must be present, nothing is
verified), leases, ACLs, soft delete, the blob block API, request signing.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class _Path:
    is_dir: bool
    data: bytes = b""
    etag: str = ""
    modified: float = 0.0
    md5: str | None = None
    uncommitted: dict = field(default_factory=dict)  # position -> bytes

    def touch(self, clock: float) -> None:
        self.etag = f'"0x{uuid.uuid4().hex[:16].upper()}"'
        self.modified = clock


@dataclass
class _Fault:
    op: str
    kind: str
    times: int
    after: int


class Faults:
    """Faults to inject, consumed in order of arrival."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []

    def add(self, op: str, kind: str, times: int = 1, after: int = 0) -> None:
        with self._lock:
            self._faults.append(_Fault(op, str(kind), times, after))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, op: str) -> str | None:
        with self._lock:
            for fault in self._faults:
                if fault.op != op:
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    return None
                fault.times -= 1
                if fault.times <= 0:
                    self._faults.remove(fault)
                return fault.kind
        return None


class LakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, account: str = "devaccount"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.account = account
        self.filesystems: dict[str, dict[str, _Path]] = {}
        self.lock = threading.RLock()
        self.faults = Faults()
        self.calls: Counter = Counter()
        self.bytes_appended = 0
        self.unauthenticated = 0
        self._clock = 1_700_000_000.0
        self._thread: threading.Thread | None = None

    @property
    def account_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{self.account}"

    def tick(self) -> float:
        self._clock += 1.0
        return self._clock

    def start(self) -> LakeServer:
        self._thread = threading.Thread(target=self.serve_forever, name="lake-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def files(self, filesystem: str) -> dict[str, bytes]:
        """Committed content of every file, for assertions."""
        with self.lock:
            return {name: p.data for name, p in self.filesystems.get(filesystem, {}).items() if not p.is_dir}


def _http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LakeServer

    def log_message(self, fmt, *args):  # quiet: pytest shows failures, not access logs
        pass

    # --- plumbing -------------------------------------------------------------------------------
    def _parse(self):
        parts = urlsplit(self.path)
        segments = [unquote(s) for s in parts.path.split("/") if s]
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if not segments or segments[0] != self.server.account:
            return None, None, query
        fs = segments[1] if len(segments) > 1 else None
        path = "/".join(segments[2:]) if len(segments) > 2 else ""
        return fs, path, query

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: dict | None = None, body: bytes = b"") -> None:
        self.send_response(status)
        base = {"x-ms-request-id": str(uuid.uuid4()), "x-ms-version": self.headers.get("x-ms-version", "2023-08-03"),
                "Content-Length": str(len(body))}
        for key, value in {**base, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str = "") -> None:
        body = b"" if self.command == "HEAD" else json.dumps(
            {"error": {"code": code, "message": message or code}}).encode()
        self._send(status, {"x-ms-error-code": code, "Content-Type": "application/json"}, body)

    def _conditions_fail(self, node: _Path | None, prefix: str = "") -> tuple[int, str] | None:
        if_match = self.headers.get(f"{prefix}If-Match")
        if_none = self.headers.get(f"{prefix}If-None-Match")
        if if_match is not None and (node is None or (if_match != "*" and if_match != node.etag)):
            return 412, "SourceConditionNotMet" if prefix else "ConditionNotMet"
        if if_none is not None and node is not None and (if_none == "*" or if_none == node.etag):
            return 412, "ConditionNotMet"
        return None

    def _op(self, query: dict, path: str) -> str:
        method = self.command
        if method == "PUT" and (query.get("restype") == "container" or query.get("resource") == "filesystem"):
            return "filesystem_create"
        if method == "PUT" and self.headers.get("x-ms-rename-source"):
            return "rename"
        if method == "PUT":
            return "create"
        if method == "PATCH":
            return query.get("action", "patch")
        if method == "GET" and query.get("resource") == "filesystem":
            return "list"
        if method == "GET":
            return "read"
        if method == "HEAD":
            return "properties"
        if method == "DELETE":
            return "delete"
        return method.lower()

    def _dispatch(self) -> None:
        fs, path, query = self._parse()
        body = self._body()
        if "sig" not in query and not self.headers.get("Authorization"):
            self.server.unauthenticated += 1
        if fs is None:
            return self._error(400, "InvalidUri", "path-style URL /<account>/<filesystem>/<path> expected")
        op = self._op(query, path)
        self.server.calls[op] += 1
        fault = self.server.faults.take(op)
        if fault == "reset":
            # Close without a response: the client's socket sees a reset / remote disconnect.
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return None
        if fault == "503":
            return self._error(503, "ServerBusy", "Ingress is over the account limit (injected).")
        if fault == "412":
            return self._error(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) "
                                                       "is not met (injected).")
        with self.server.lock:
            return getattr(self, f"_do_{op}", self._unsupported)(fs, path, query, body)

    def _unsupported(self, fs, path, query, body):
        return self._error(400, "UnsupportedOperation", f"{self.command} {self.path} is not modelled by the stand-in")

    do_GET = do_PUT = do_PATCH = do_HEAD = do_DELETE = _dispatch

    # --- operations -----------------------------------------------------------------------------
    def _paths(self, fs: str) -> dict | None:
        return self.server.filesystems.get(fs)

    def _do_filesystem_create(self, fs, path, query, body):
        if fs in self.server.filesystems:
            return self._error(409, "ContainerAlreadyExists" if query.get("restype") else "FilesystemAlreadyExists")
        self.server.filesystems[fs] = {}
        return self._send(201, {"ETag": f'"0x{uuid.uuid4().hex[:16]}"', "Last-Modified": _http_date(self.server.tick())})

    def _ensure_parents(self, paths: dict, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            if parent not in paths:
                node = _Path(is_dir=True)
                node.touch(self.server.tick())
                paths[parent] = node

    def _do_create(self, fs, path, query, body):
        paths = self._paths(fs)
        if paths is None:
            return self._error(404, "FilesystemNotFound")
        node = paths.get(path)
        if self.headers.get("If-None-Match") == "*" and node is not None:
            return self._error(409, "PathAlreadyExists", "The specified path already exists.")
        failed = self._conditions_fail(node)
        if failed:
            return self._error(*failed)
        is_dir = query.get("resource") == "directory"
        if node is not None and node.is_dir and is_dir:
            return self._send(201, {"ETag": node.etag, "Last-Modified": _http_date(node.modified)})
        self._ensure_parents(paths, path)
        new = _Path(is_dir=is_dir)
        new.touch(self.server.tick())
        paths[path] = new
        return self._send(201, {"ETag": new.etag, "Last-Modified": _http_date(new.modified)})

    def _do_append(self, fs, path, query, body):
        node = (self._paths(fs) or {}).get(path)
        if node is None or node.is_dir:
            return self._error(404, "PathNotFound")
        position = int(query.get("position", "-1"))
        if position < len(node.data):
            return self._error(400, "InvalidFlushPosition", "append position is before the committed length")
        node.uncommitted[position] = body
        self.server.bytes_appended += len(body)
        return self._send(202)

    def _do_flush(self, fs, path, query, body):
        node = (self._paths(fs) or {}).get(path)
        if node is None or node.is_dir:
            return self._error(404, "PathNotFound")
        failed = self._conditions_fail(node)
        if failed:
            return self._error(*failed)
        position = int(query.get("position", "-1"))
        data = node.data
        while len(data) < position and len(data) in node.uncommitted:
            data += node.uncommitted.pop(len(data))
        if len(data) != position:
            return self._error(400, "InvalidFlushPosition",
                               f"flush position {position} does not match the appended data ({len(data)} bytes)")
        if position == len(node.data) and not query.get("close") and data == node.data and \
                self.headers.get("x-ms-content-md5") in (None, node.md5):
            # A repeated flush (the client retried after a lost response): nothing changes.
            return self._send(200, {"ETag": node.etag, "Last-Modified": _http_date(node.modified)})
        if query.get("retainUncommittedData", "false") != "true":
            node.uncommitted.clear()
        node.data = data
        node.md5 = self.headers.get("x-ms-content-md5")
        node.touch(self.server.tick())
        return self._send(200, {"ETag": node.etag, "Last-Modified": _http_date(node.modified)})

    def _props(self, node: _Path) -> dict:
        headers = {"ETag": node.etag, "Last-Modified": _http_date(node.modified),
                   "x-ms-creation-time": _http_date(node.modified), "x-ms-blob-type": "BlockBlob",
                   "x-ms-resource-type": "directory" if node.is_dir else "file",
                   "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if node.is_dir:
            headers["x-ms-meta-hdi_isfolder"] = "true"
        if node.md5:
            headers["Content-MD5"] = node.md5
        return headers

    def _do_properties(self, fs, path, query, body):
        paths = self._paths(fs)
        if paths is None:
            return self._error(404, "ContainerNotFound")
        if path == "":
            return self._send(200, {"ETag": '"0x1"', "Last-Modified": _http_date(self.server.tick())})
        node = paths.get(path)
        if node is None:
            return self._error(404, "BlobNotFound")
        failed = self._conditions_fail(node)
        if failed:
            return self._error(*failed)
        self.send_response(200)
        headers = {**self._props(node), "Content-Length": str(len(node.data)),
                   "x-ms-request-id": str(uuid.uuid4())}
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        return None

    def _do_read(self, fs, path, query, body):
        node = (self._paths(fs) or {}).get(path)
        if node is None or node.is_dir:
            return self._error(404, "BlobNotFound")
        failed = self._conditions_fail(node)
        if failed:
            return self._error(*failed)
        rng = self.headers.get("x-ms-range") or self.headers.get("Range")
        data = node.data
        headers = self._props(node)
        if rng:
            start, _, end = rng.split("=", 1)[1].partition("-")
            start = int(start)
            if start >= len(data):
                return self._error(416, "InvalidRange", "The range specified is invalid for the current size.")
            end = min(int(end) if end else len(data) - 1, len(data) - 1)
            chunk = data[start:end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            if self.headers.get("x-ms-range-get-content-md5") == "true":
                headers["Content-MD5"] = base64.b64encode(hashlib.md5(chunk).digest()).decode()
            return self._send(206, headers, chunk)
        return self._send(200, headers, data)

    def _do_list(self, fs, path, query, body):
        paths = self._paths(fs)
        if paths is None:
            return self._error(404, "FilesystemNotFound")
        directory = (query.get("directory") or "").strip("/")
        recursive = query.get("recursive", "false") == "true"
        if directory and directory not in paths:
            return self._error(404, "PathNotFound")
        prefix = f"{directory}/" if directory else ""
        listed = []
        for name in sorted(paths):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix):]
            if not recursive and "/" in rest:
                continue
            node = paths[name]
            entry = {"name": name, "lastModified": _http_date(node.modified), "etag": node.etag,
                     "contentLength": str(len(node.data)), "owner": "$superuser", "group": "$superuser",
                     "permissions": "rw-r-----"}
            if node.is_dir:
                entry["isDirectory"] = "true"
            listed.append(entry)
        # Page the listing as the service does (maxResults, x-ms-continuation) so the SDK's paging runs.
        start = int(query.get("continuation") or 0)
        size = int(query.get("maxResults") or 5000)
        page = listed[start:start + size]
        headers = {"Content-Type": "application/json"}
        if start + size < len(listed):
            headers["x-ms-continuation"] = str(start + size)
        return self._send(200, headers, json.dumps({"paths": page}).encode())

    def _do_delete(self, fs, path, query, body):
        paths = self._paths(fs)
        node = (paths or {}).get(path)
        if node is None:
            return self._error(404, "PathNotFound")
        failed = self._conditions_fail(node)
        if failed:
            return self._error(*failed)
        doomed = [name for name in paths if name == path or name.startswith(path + "/")]
        if node.is_dir and len(doomed) > 1 and query.get("recursive") != "true":
            return self._error(409, "DirectoryNotEmpty")
        for name in doomed:
            del paths[name]
        return self._send(200)

    def _do_rename(self, fs, path, query, body):
        paths = self._paths(fs)
        if paths is None:
            return self._error(404, "FilesystemNotFound")
        source = unquote(urlsplit(self.headers["x-ms-rename-source"]).path).lstrip("/")
        src_fs, _, src_path = source.partition("/")
        src_paths = self._paths(src_fs) or {}
        node = src_paths.get(src_path)
        if node is None:
            return self._error(404, "SourcePathNotFound")
        failed = self._conditions_fail(node, prefix="x-ms-source-")
        if failed:
            return self._error(*failed)
        target = paths.get(path)
        if self.headers.get("If-None-Match") == "*" and target is not None:
            return self._error(409, "PathAlreadyExists", "The specified path already exists.")
        failed = self._conditions_fail(target)
        if failed:
            return self._error(*failed)
        moved = {name: n for name, n in src_paths.items() if name == src_path or name.startswith(src_path + "/")}
        for name in moved:
            del src_paths[name]
        self._ensure_parents(paths, path)
        for name, n in moved.items():
            paths[path + name[len(src_path):]] = n
        return self._send(201, {"ETag": node.etag, "Last-Modified": _http_date(node.modified)})
