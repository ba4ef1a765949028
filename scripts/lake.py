"""ADLS Gen2 access through the Azure SDK (`azure-storage-file-datalake`): one small client for the tools.

`Lake` is a folder in a lake (`abfss://<filesystem>@<account>.dfs.core.windows.net/<path>`), with
the few operations the tools need, all on paths relative to that folder:

- `list_files`, `properties` (size, ETag, MD5), `read`, `download_to`;
- `upload_file`: chunked appends into a hidden staging file named after the content's MD5, then
  one flush that commits it with its MD5, then a rename onto the final name. A reader never sees a
  partial file; an interrupted upload of the same content continues from the staging file's
  committed length (flushed every `flush_every` chunks);
- `write_atomic`: the same staging + rename for small payloads, with an optional ETag condition on
  the destination (a conditional write: fails with `ConflictError` if someone else changed it);
- `create_exclusive` (If-None-Match: *), `append` (append + flush at a known offset, conditional on
  the file's ETag), `rename`, `delete`.

Authentication (`credential_for`): a connection string, else a SAS token, else
`DefaultAzureCredential` (Azure CLI login, managed identity, a service principal from
AZURE_CLIENT_ID / AZURE_TENANT_ID / AZURE_CLIENT_SECRET). None of them is ever logged: the SDK's
HTTP logging policy redacts `sig` and `Authorization`, and this module logs paths only.
"""
from __future__ import annotations

import hashlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scripts.settings import ConfigError, Settings

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 8 * 1024 * 1024
_URI = re.compile(r"^abfss?://(?P<fs>[^@/]+)@(?P<account>[a-z0-9]{3,24})\.dfs\.(?P<suffix>[a-z0-9.-]+?)(?P<path>/.*)?$")
_FILESYSTEM = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


class LakeError(RuntimeError):
    """A lake operation failed; the message names the path and what to do."""


class ConflictError(LakeError):
    """A conditional write lost: the path exists already, or changed since it was read."""


@dataclass(frozen=True)
class LakeUri:
    filesystem: str
    account: str
    suffix: str
    path: str

    @property
    def account_url(self) -> str:
        return f"https://{self.account}.dfs.{self.suffix}"

    def __str__(self) -> str:
        return f"abfss://{self.filesystem}@{self.account}.dfs.{self.suffix}/{self.path}".rstrip("/")


def is_lake_uri(value: str) -> bool:
    return value.startswith(("abfss://", "abfs://"))


def parse_lake_uri(uri: str) -> LakeUri:
    """Split `abfss://fs@account.dfs.core.windows.net/path`.

    Raises:
        ConfigError: not such a URI, or a file system name ADLS would refuse.
    """
    match = _URI.match(uri.strip())
    if not match:
        raise ConfigError(f"{uri!r} is not an ADLS Gen2 URI like abfss://container@account.dfs.core.windows.net/path")
    if not _FILESYSTEM.match(match["fs"]):
        raise ConfigError(f"container {match['fs']!r} in {uri!r} is not a valid name (3-63 lower-case letters, "
                          "digits and single hyphens)")
    path = (match["path"] or "").strip("/")
    if any(part in (".", "..") for part in path.split("/")):
        raise ConfigError(f"{uri!r}: '.' and '..' are not allowed in a lake path")
    return LakeUri(match["fs"], match["account"], match["suffix"], path)


_SAS_SIG = re.compile(r"(?i)\b(sig|se|skoid|sktid|skt|ske|sks|skv|AccountKey|SharedAccessSignature)(=|%3D)([^&;#\s'\"]+)")


class _LakeSecretFilter(logging.Filter):
    """Masks SAS signatures and account keys in log records: urllib3 logs every request's full URL
    (query included) at DEBUG, which would print a SAS token's `sig` when a user runs with -v."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _SAS_SIG.sub(lambda m: f"{m.group(1)}{m.group(2)}***", message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _LakeSecretFilter()
_GUARDED = ("urllib3.connectionpool", "azure", "azure.core.pipeline.policies.http_logging_policy", __name__)


def install_secret_filter(settings: Settings) -> None:
    """Guard the loggers that may see lake URLs, and have the project's `redact` mask the secrets too."""
    from scripts.http_client import register_secret

    for name in _GUARDED:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    register_secret(settings.azure_storage_sas_token)
    register_secret(settings.azure_storage_connection_string)


def credential_for(settings: Settings):
    """The credential the settings name: SAS token, else DefaultAzureCredential (lazy import)."""
    if settings.azure_storage_sas_token:
        return settings.azure_storage_sas_token.lstrip("?")
    from azure.identity import DefaultAzureCredential

    # The interactive browser would hang a job or a test; everything else in the chain stays.
    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


def md5_of_file(path: Path, chunk: int = 1024 * 1024) -> bytes:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.digest()


@dataclass(frozen=True)
class RemoteFile:
    path: str
    size: int
    etag: str
    modified: float
    md5: bytes | None = None


def _retry_policy(total: int, backoff: float):
    from azure.storage.filedatalake import ExponentialRetry

    return ExponentialRetry(initial_backoff=backoff, increment_base=2, retry_total=total, random_jitter_range=0)


class Lake:
    """A folder in ADLS Gen2 (see the module docstring). Build with `Lake.from_settings` or `Lake.open`."""

    def __init__(self, file_system_client, root: str, uri: str):
        self._fs = file_system_client
        self.root = root.strip("/")
        self.uri = uri

    @classmethod
    def open(cls, uri: str, settings: Settings, *, retries: int = 5, backoff: float = 2.0) -> Lake:
        """Connect to the folder `uri` with the credential and endpoint `settings` name."""
        from azure.storage.filedatalake import DataLakeServiceClient

        parsed = parse_lake_uri(uri)
        install_secret_filter(settings)
        policy = _retry_policy(retries, backoff)
        if settings.azure_storage_connection_string:
            service = DataLakeServiceClient.from_connection_string(
                settings.azure_storage_connection_string, retry_policy=policy)
        else:
            account_url = settings.azure_storage_endpoint or parsed.account_url
            service = DataLakeServiceClient(account_url, credential=credential_for(settings), retry_policy=policy)
        return cls(service.get_file_system_client(parsed.filesystem), parsed.path, str(parsed))

    def full(self, rel: str) -> str:
        rel = rel.strip("/")
        return f"{self.root}/{rel}".strip("/") if self.root else rel

    def child(self, rel: str) -> Lake:
        return Lake(self._fs, self.full(rel), f"{self.uri}/{rel.strip('/')}")

    def ensure_filesystem(self) -> None:
        from azure.core.exceptions import ResourceExistsError

        try:
            self._fs.create_file_system()
        except ResourceExistsError:
            pass

    # --- reading ---------------------------------------------------------------------------------
    def list_files(self, rel: str = "") -> dict[str, RemoteFile]:
        """Every file below `rel` (recursive), keyed by its path relative to this folder."""
        from azure.core.exceptions import ResourceNotFoundError

        base = self.full(rel)
        cut = len(self.root) + 1 if self.root else 0
        found: dict[str, RemoteFile] = {}
        try:
            for item in self._fs.get_paths(path=base or None, recursive=True):
                if item.is_directory:
                    continue
                found[item.name[cut:]] = RemoteFile(item.name[cut:], int(item.content_length or 0), item.etag,
                                                    item.last_modified.timestamp())
        except ResourceNotFoundError:
            return {}
        return found

    def properties(self, rel: str) -> RemoteFile | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            props = self._fs.get_file_client(self.full(rel)).get_file_properties()
        except ResourceNotFoundError:
            return None
        md5 = props.content_settings.content_md5
        return RemoteFile(rel, props.size, props.etag, props.last_modified.timestamp(), bytes(md5) if md5 else None)

    def exists(self, rel: str) -> bool:
        return self.properties(rel) is not None

    def read(self, rel: str, offset: int = 0, length: int | None = None) -> bytes:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._fs.get_file_client(self.full(rel)).download_file(offset=offset or None,
                                                                          length=length).readall()
        except ResourceNotFoundError:
            raise FileNotFoundError(f"{self.uri}/{rel} not found") from None

    def download_to(self, rel: str, target: Path, on_bytes: Callable[[int], None] = lambda n: None) -> None:
        """Stream `rel` into `target` through a hidden temporary file, renamed when complete."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.download-{uuid.uuid4().hex[:8]}")
        try:
            stream = self._fs.get_file_client(self.full(rel)).download_file()
            with open(tmp, "wb") as handle:
                for chunk in stream.chunks():
                    handle.write(chunk)
                    on_bytes(len(chunk))
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)

    # --- writing ---------------------------------------------------------------------------------
    def _conditions(self, etag: str | None, must_not_exist: bool = False) -> dict:
        from azure.core import MatchConditions

        if must_not_exist:
            return {"match_condition": MatchConditions.IfMissing}  # If-None-Match: * (no etag argument)
        if etag:
            return {"etag": etag, "match_condition": MatchConditions.IfNotModified}
        return {}

    def _raise_conflict(self, exc: Exception, rel: str) -> None:
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError

        if isinstance(exc, (ResourceExistsError, ResourceModifiedError)):
            raise ConflictError(f"{self.uri}/{rel} changed or exists already (another writer?)") from None
        raise exc

    def create_exclusive(self, rel: str, data: bytes) -> str:
        """Create `rel` holding `data` only if it does not exist; returns its ETag."""
        client = self._fs.get_file_client(self.full(rel))
        try:
            etag = client.create_file(**self._conditions(None, must_not_exist=True))["etag"]
        except Exception as exc:  # noqa: BLE001 - mapped to ConflictError or re-raised
            self._raise_conflict(exc, rel)
        return self.append(rel, data, 0, etag)

    def append(self, rel: str, data: bytes, offset: int, etag: str | None = None) -> str:
        """Append `data` at `offset` (the committed length) and commit it; returns the new ETag.

        With `etag`, the commit happens only if the file is unchanged since (ConflictError otherwise),
        so two writers can never interleave lines. The file is created when `offset` is 0 and it
        does not exist.
        """
        from azure.core.exceptions import ResourceNotFoundError

        client = self._fs.get_file_client(self.full(rel))
        if not data:
            return etag or ""
        try:
            client.append_data(data, offset=offset, length=len(data))
        except ResourceNotFoundError:
            if offset != 0:
                raise
            etag = client.create_file(**self._conditions(None, must_not_exist=True))["etag"]
            client.append_data(data, offset=0, length=len(data))
        try:
            return client.flush_data(offset + len(data), **self._conditions(etag))["etag"]
        except Exception as exc:  # noqa: BLE001
            self._raise_conflict(exc, rel)

    def write_atomic(self, rel: str, data: bytes, *, etag: str | None = None,
                     must_not_exist: bool = False) -> str:
        """Replace `rel` with `data` in one step (staging file + rename); returns the new ETag.

        `etag`: replace only if `rel` still has this ETag; `must_not_exist`: only if absent.
        """
        from azure.storage.filedatalake import ContentSettings

        staging = self._staging_name(rel, uuid.uuid4().hex)
        client = self._fs.get_file_client(self.full(staging))
        client.create_file()
        if data:
            client.append_data(data, offset=0, length=len(data))
        client.flush_data(len(data), content_settings=ContentSettings(content_md5=hashlib.md5(data).digest()))
        self.rename(staging, rel, etag=etag, must_not_exist=must_not_exist)
        props = self.properties(rel)
        return props.etag if props else ""

    def rename(self, src: str, dst: str, *, etag: str | None = None, must_not_exist: bool = False) -> None:
        """Move `src` onto `dst` atomically (the lake's rename replaces `dst`), with `dst` conditions."""
        client = self._fs.get_file_client(self.full(src))
        try:
            client.rename_file(f"{self._fs.file_system_name}/{self.full(dst)}",
                               **self._conditions(etag, must_not_exist))
        except Exception as exc:  # noqa: BLE001
            try:
                client.delete_file()
            except Exception:  # noqa: BLE001 - best effort: a staging file is hidden anyway
                pass
            self._raise_conflict(exc, dst)

    def delete(self, rel: str, etag: str | None = None) -> bool:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            self._fs.get_file_client(self.full(rel)).delete_file(**self._conditions(etag))
        except ResourceNotFoundError:
            return False
        except Exception as exc:  # noqa: BLE001
            self._raise_conflict(exc, rel)
        return True

    @staticmethod
    def _staging_name(rel: str, tag: str) -> str:
        head, _, name = rel.strip("/").rpartition("/")
        return f"{head}/.{name}.upload-{tag}" if head else f".{name}.upload-{tag}"

    def upload_file(self, source: Path, rel: str, md5: bytes, *, chunk_size: int = DEFAULT_CHUNK,
                    flush_every: int = 4, on_bytes: Callable[[int], None] = lambda n: None) -> int:
        """Upload `source` as `rel` in chunks; returns the bytes sent (less than its size on a resume).

        The staging file is named after the content's MD5, so what a killed upload committed there is
        a prefix of this same content and the upload continues after it.
        """
        from azure.storage.filedatalake import ContentSettings

        size = source.stat().st_size
        staging = self._staging_name(rel, md5.hex())
        client = self._fs.get_file_client(self.full(staging))
        existing = self.properties(staging)
        offset = existing.size if existing is not None and existing.size <= size else 0
        if existing is None or offset == 0:
            client.create_file()
        elif offset:
            logger.info("%s: resuming at byte %d of %d", rel, offset, size)
            on_bytes(0)
        sent = 0
        pending = 0
        with open(source, "rb") as handle:
            handle.seek(offset)
            position = offset
            for block in iter(lambda: handle.read(chunk_size), b""):
                client.append_data(block, offset=position, length=len(block))
                position += len(block)
                sent += len(block)
                pending += 1
                on_bytes(len(block))
                if pending >= flush_every and position < size:
                    # An intermediate commit: what a killed upload leaves is kept for the next try.
                    client.flush_data(position, retain_uncommitted_data=False)
                    pending = 0
        client.flush_data(size, content_settings=ContentSettings(content_md5=bytearray(md5)))
        self.rename(staging, rel)
        return sent
