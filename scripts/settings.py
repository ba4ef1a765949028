"""Typed configuration, loaded once from the environment and the project's `.env`.

Precedence: a variable already in the process environment wins over `.env`, which wins over the
defaults below. Secrets are held in fields whose `repr` is masked, so logging a `Settings`
object never prints a token.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SOURCES = ("auto", "sample", "api", "dump", "kaggle")
DEFAULT_SOUNDTRACK_GENRES = ("Stage & Screen",)
DEFAULT_SOUNDTRACK_STYLES = ("Soundtrack", "Score", "Musical")
SECRET_FIELDS = frozenset({"tmdb_api_token", "tmdb_api_key", "discogs_token",
                           "azure_storage_sas_token", "azure_storage_connection_string"})


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable and the fix."""


# --- validation of SPARK_MASTER, LOG_LEVEL and STEPS (issue 10 item 9) ---------------------------
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# The master URL forms the pipeline supports; anything else would die inside Spark with a JVM
# traceback after the preflight said "configuration valid".
_SPARK_MASTER_FORMS = (
    re.compile(r"local"),
    re.compile(r"local\[(\*|[1-9][0-9]*)\]"),
    re.compile(r"local\[(\*|[1-9][0-9]*),\s*[1-9][0-9]*\]"),  # local[N,F]: F task failures allowed
    re.compile(r"spark://[A-Za-z0-9._-]+:[0-9]{1,5}(,[A-Za-z0-9._-]+:[0-9]{1,5})*"),
    re.compile(r"yarn"),
    re.compile(r"k8s://(https?://)?[A-Za-z0-9._-]+(:[0-9]{1,5})?(/\S*)?"),
)


def validate_spark_master(value: str) -> str:
    """Return `value` when it is a master URL Spark accepts; raise ConfigError naming the forms."""
    if any(form.fullmatch(value) for form in _SPARK_MASTER_FORMS):
        return value
    raise ConfigError(
        f"SPARK_MASTER={value!r} is not a Spark master URL: use local, local[N], local[*], "
        "spark://host:port, yarn or k8s://https://host:port (fix it in .env or --master)"
    )


def validate_log_level(value: str) -> str:
    """Return the upper-cased level when it is one Python's logging knows; raise ConfigError otherwise."""
    level = value.strip().upper()
    if level in LOG_LEVELS:
        return level
    raise ConfigError(f"LOG_LEVEL={value!r} is not one of {', '.join(LOG_LEVELS)}: fix it in .env")


def parse_steps(text: str, count: int | None = None) -> list[int]:
    """"1-5" -> [1..5], "3" -> [3], "1,3-4" -> [1, 3, 4], the numbers within 1..count.

    `count` is the number of steps the pipeline has (`len(scripts_spark.pipeline.STEPS)`); the
    preflight, which does not import Spark, passes None and checks the form only.

    Raises:
        ConfigError: anything else, with a message that names STEPS and the accepted forms.
    """
    within = f"within 1-{count}" if count else "of step numbers"
    hint = f"STEPS={text!r} is not valid: use a step, a range or a list {within} (e.g. 1-5, 3, 1,3-4)"
    chosen: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?", part)
        if not match:
            raise ConfigError(hint)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        if first > last:
            raise ConfigError(f"{hint}; the range {part.strip()!r} runs backwards")
        chosen.update(range(first, last + 1))
    if not chosen or min(chosen) < 1 or (count is not None and max(chosen) > count):
        raise ConfigError(hint)
    return sorted(chosen)
# --- end of validation block ----------------------------------------------------------------------


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _as_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number: set it to an integer in .env") from None
    if value < minimum:
        raise ConfigError(f"{name}={value} is below {minimum}: raise it in .env")
    return value


def _as_spark_conf(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """`spark.a=1,spark.b=x` -> (("spark.a", "1"), ("spark.b", "x")); only `spark.*` keys."""
    pairs = []
    for item in _split_list(env.get(name, "")):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key.startswith("spark.") or not value or any(c.isspace() for c in key):
            raise ConfigError(f"{name}: {item!r} is not spark.some.key=value: fix {name} in .env")
        pairs.append((key, value))
    return tuple(pairs)
def _as_float(env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number: fix it in .env") from None
    if not minimum <= value <= maximum:
        raise ConfigError(f"{name}={value:g} is outside {minimum:g}..{maximum:g}: fix it in .env")
    return value


def _as_http_url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or "").strip() or default
    from urllib.parse import urlsplit

    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ConfigError(f"{name}={raw!r} is not a plain http(s) URL without credentials or query: fix it in .env")
    return raw.rstrip("/")


def _as_date(env: Mapping[str, str], name: str) -> str | None:
    raw = env.get(name, "")
    if raw == "":
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a date like 2024-12-31: fix it in .env") from None


@dataclass(frozen=True)
class Settings:
    """Everything the pipeline and its tools can be configured with."""

    data_root: str
    source: str = "auto"
    spark_master: str = "local[2]"
    log_level: str = "INFO"
    sample_films: int = 2000
    sample_seed: int = 42
    # Issue 10: a step that reads input fails when more than this share of its lines is quarantined.
    max_quarantine_share: float = 0.5
    fetch_limit: int = 500
    discogs_max_pages: int = 2
    discover_from: str | None = None
    discover_to: str | None = None
    soundtrack_genres: tuple[str, ...] = DEFAULT_SOUNDTRACK_GENRES
    soundtrack_styles: tuple[str, ...] = DEFAULT_SOUNDTRACK_STYLES
    tmdb_api_token: str | None = field(default=None, repr=False)
    tmdb_api_key: str | None = field(default=None, repr=False)
    discogs_token: str | None = field(default=None, repr=False)
    discogs_user_agent: str = "tmdb-discogs-soundtracks/0.1 +https://example.invalid/soundtracks"
    vm_host: str | None = None
    vm_port: int = 22
    vm_user: str | None = None
    vm_key_file: str | None = None
    vm_project_dir: str | None = None
    # Spark settings applied last to a session the project starts itself (SPARK_CONF=k=v,k=v).
    spark_conf: tuple[tuple[str, str], ...] = ()
    # `make sync` (scripts/sync.py): how the VM is reached and what runs there.
    vm_known_hosts: str = "~/.ssh/known_hosts"
    vm_connect_timeout: int = 5
    vm_python: str = ".venv/bin/python"
    vm_data_root: str = "data"
    vm_command_timeout: int = 21600
    sync_vm_raw: str = "copy"
    sync_remote_rebuild: str | None = None
    # Azure (issue 14): the lake for make upload/download, its credentials, the Key Vault of the tokens.
    lake_data_root: str | None = None
    azure_storage_endpoint: str | None = None
    azure_storage_sas_token: str | None = field(default=None, repr=False)
    azure_storage_connection_string: str | None = field(default=None, repr=False)
    azure_key_vault_url: str | None = None
    # --- API fetch (issue 12): where the APIs are, how fast and how patiently to ask them ---
    tmdb_api_base: str = "https://api.themoviedb.org/3"
    discogs_api_base: str = "https://api.discogs.com"
    tmdb_rate_per_second: int = 40
    tmdb_workers: int = 16
    tmdb_read_timeout: float = 5.0
    discogs_rate_ceiling: int = 600
    discogs_workers: int = 4
    discogs_read_timeout: float = 10.0
    fetch_connect_timeout: float = 3.05
    fetch_deadline: float = 30.0
    fetch_retries: int = 6
    # Issue 13: processes that parse a Discogs dump in step 02 (1 = the sequential converter).
    dump_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    # Issue 16: the match score from which a match counts as confident (step 05's sensitivity check).
    confident_match_score: float = 0.9

    @property
    def is_remote_storage(self) -> bool:
        """True when DATA_ROOT is a URI (abfss://, s3a://, dbfs:/ ...) rather than a local folder."""
        return "://" in self.data_root or self.data_root.startswith("dbfs:")

    def describe(self) -> dict:
        """A loggable view: secrets are reported as set or not set, never by value."""
        view = {}
        for f in fields(self):
            value = getattr(self, f.name)
            view[f.name] = ("set" if value else "not set") if f.name in SECRET_FIELDS else value
        return view


SYNC_VM_RAW_MODES = ("copy", "own")
# A VM path must survive rsync's and the remote shell's parsing without quoting tricks.
_SAFE_REMOTE_PATH = re.compile(r"^[A-Za-z0-9._/+~-]+$")


def _sync_settings(env: Mapping[str, str]) -> dict:
    """The `make sync` fields of Settings, validated (see .env.example for their meaning)."""
    python = (env.get("VM_PYTHON") or "").strip() or Settings.vm_python
    if not _SAFE_REMOTE_PATH.match(python):
        raise ConfigError(f"VM_PYTHON={python!r} must be a plain path (letters, digits, . _ - + / ~): fix it in .env")
    data_root = (env.get("VM_DATA_ROOT") or "").strip() or Settings.vm_data_root
    if not _SAFE_REMOTE_PATH.match(data_root) or data_root.rstrip("/") in ("", "~", ".", ".."):
        raise ConfigError(f"VM_DATA_ROOT={data_root!r} must be a folder of its own on the VM (letters, digits, "
                          ". _ - + / ~ only): fix it in .env")
    known_hosts = str(Path((env.get("VM_KNOWN_HOSTS") or "").strip() or Settings.vm_known_hosts).expanduser())
    if re.search(r"\s", known_hosts):
        raise ConfigError(f"VM_KNOWN_HOSTS={known_hosts!r} contains white space, which ssh splits on: "
                          "choose another path in .env")
    raw_mode = (env.get("SYNC_VM_RAW") or "").strip() or Settings.sync_vm_raw
    if raw_mode not in SYNC_VM_RAW_MODES:
        raise ConfigError(f"SYNC_VM_RAW={raw_mode!r} is not one of {', '.join(SYNC_VM_RAW_MODES)}: fix it in .env")
    return dict(
        vm_known_hosts=known_hosts,
        vm_connect_timeout=_as_int(env, "VM_CONNECT_TIMEOUT", Settings.vm_connect_timeout, minimum=1),
        vm_python=python,
        vm_data_root=data_root,
        vm_command_timeout=_as_int(env, "VM_COMMAND_TIMEOUT", Settings.vm_command_timeout, minimum=60),
        sync_vm_raw=raw_mode,
        sync_remote_rebuild=(env.get("SYNC_REMOTE_REBUILD") or "").strip() or None,
    )


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=VALUE lines, comments, optional quotes) without touching os.environ."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


SECRET_ENV_NAMES = ("TMDB_API_TOKEN", "TMDB_API_KEY", "DISCOGS_TOKEN", "AZURE_STORAGE_SAS_TOKEN",
                    "AZURE_STORAGE_CONNECTION_STRING")


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: Path | None = None) -> Settings:
    """Build `Settings` from `.env` overlaid with the environment (or the mapping given).

    Raises:
        ConfigError: a value is malformed; the message names the variable and how to fix it.
    """
    merged: dict[str, str] = dict(read_dotenv(dotenv_path or PROJECT_ROOT / ".env"))
    merged.update(os.environ if env is None else env)
    if any((merged.get(name) or "").startswith("keyvault:") for name in SECRET_ENV_NAMES):
        from scripts import key_vault  # issue 14: `keyvault:<secret>` values are read at run time, in memory

        try:
            merged = key_vault.resolve(merged)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    data_root = merged.get("DATA_ROOT") or str(PROJECT_ROOT / "data")
    if "://" not in data_root and not data_root.startswith("dbfs:"):
        data_root = str(Path(data_root).expanduser().resolve())
    source = merged.get("SOURCE", "auto") or "auto"
    if source not in SOURCES:
        raise ConfigError(f"SOURCE={source!r} is not one of {', '.join(SOURCES)}: fix SOURCE in .env")
    return Settings(
        data_root=data_root,
        source=source,
        spark_master=validate_spark_master((merged.get("SPARK_MASTER") or "local[2]").strip()),
        log_level=validate_log_level(merged.get("LOG_LEVEL") or "INFO"),
        sample_films=_as_int(merged, "SAMPLE_FILMS", 2000, minimum=10),
        sample_seed=_as_int(merged, "SAMPLE_SEED", 42),
        max_quarantine_share=_as_float(merged, "MAX_QUARANTINE_SHARE", 0.5, minimum=0.0, maximum=1.0),
        fetch_limit=_as_int(merged, "FETCH_LIMIT", 500, minimum=1),
        discogs_max_pages=_as_int(merged, "DISCOGS_MAX_PAGES", 2, minimum=1),
        discover_from=_as_date(merged, "DISCOVER_FROM"),
        discover_to=_as_date(merged, "DISCOVER_TO"),
        soundtrack_genres=_split_list(merged.get("SOUNDTRACK_GENRES", "")) or DEFAULT_SOUNDTRACK_GENRES,
        soundtrack_styles=_split_list(merged.get("SOUNDTRACK_STYLES", "")) or DEFAULT_SOUNDTRACK_STYLES,
        tmdb_api_token=merged.get("TMDB_API_TOKEN") or None,
        tmdb_api_key=merged.get("TMDB_API_KEY") or None,
        discogs_token=merged.get("DISCOGS_TOKEN") or None,
        discogs_user_agent=merged.get("DISCOGS_USER_AGENT") or Settings.discogs_user_agent,
        vm_host=merged.get("VM_HOST") or None,
        vm_port=_as_int(merged, "VM_PORT", 22, minimum=1),
        vm_user=merged.get("VM_USER") or None,
        vm_key_file=merged.get("VM_KEY_FILE") or None,
        vm_project_dir=merged.get("VM_PROJECT_DIR") or None,
        spark_conf=_as_spark_conf(merged, "SPARK_CONF"),
        **_sync_settings(merged),
        **_azure_settings(merged, data_root),
        **_fetch_settings(merged),
        dump_workers=_as_int(merged, "DUMP_WORKERS", os.cpu_count() or 1, minimum=1),
        **_analysis_settings(merged),
    )


def _analysis_settings(merged: Mapping[str, str]) -> dict:
    """CONFIDENT_MATCH_SCORE (issue 16): a match score, so a number in [0, 1]."""
    raw = (merged.get("CONFIDENT_MATCH_SCORE") or "").strip()
    if raw == "":
        return dict(confident_match_score=Settings.confident_match_score)
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"CONFIDENT_MATCH_SCORE={raw!r} is not a number: set a match score in [0, 1] in .env") \
            from None
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise ConfigError(f"CONFIDENT_MATCH_SCORE={raw} is outside 0..1 (match scores are in [0, 1]): fix it in .env")
    return dict(confident_match_score=value)


def _azure_settings(merged: Mapping[str, str], data_root: str) -> dict:
    """LAKE_DATA_ROOT, AZURE_STORAGE_* and AZURE_KEY_VAULT_URL, validated (issue 14)."""
    source = "LAKE_DATA_ROOT" if merged.get("LAKE_DATA_ROOT") else "DATA_ROOT"
    lake = merged.get("LAKE_DATA_ROOT") or (data_root if data_root.startswith(("abfss://", "abfs://")) else "")
    if lake and not re.match(r"^abfss?://[a-z0-9-]+@[a-z0-9]{3,24}\.dfs\.[a-z0-9.-]+(/.*)?$", lake):
        raise ConfigError(f"{source}={lake!r} is not abfss://container@account.dfs.core.windows.net/path "
                          "(an account name has 3 to 24 letters and digits): fix it in .env")
    endpoint = merged.get("AZURE_STORAGE_ENDPOINT") or ""
    if endpoint and not re.match(r"^https?://[^\s?#]+$", endpoint):
        raise ConfigError(f"AZURE_STORAGE_ENDPOINT={endpoint!r} is not an http(s) URL without query: fix it in .env")
    vault = merged.get("AZURE_KEY_VAULT_URL") or ""
    if vault and not re.match(r"^https://[a-z0-9-]{3,24}\.vault\.(azure\.net|azure\.cn|usgovcloudapi\.net)/?$", vault):
        # (the same rule as scripts.key_vault.VAULT_URL, kept here so settings never import the SDK layer)
        raise ConfigError(f"AZURE_KEY_VAULT_URL={vault!r} is not https://<name>.vault.azure.net: fix it in .env")
    sas = merged.get("AZURE_STORAGE_SAS_TOKEN") or ""
    if sas and "sig=" not in sas:
        raise ConfigError("AZURE_STORAGE_SAS_TOKEN has no sig= part: paste the whole SAS token (value not shown)")
    return dict(lake_data_root=lake or None, azure_storage_endpoint=endpoint.rstrip("/") or None,
                azure_storage_sas_token=sas or None,
                azure_storage_connection_string=merged.get("AZURE_STORAGE_CONNECTION_STRING") or None,
                azure_key_vault_url=vault.rstrip("/") or None)


def _fetch_settings(merged: Mapping[str, str]) -> dict:
    """The API fetch settings (issue 12), validated; defaults are the APIs' documented limits."""
    values = dict(
        tmdb_api_base=_as_http_url(merged, "TMDB_API_BASE", Settings.tmdb_api_base),
        discogs_api_base=_as_http_url(merged, "DISCOGS_API_BASE", Settings.discogs_api_base),
        tmdb_rate_per_second=_as_int(merged, "TMDB_RATE_PER_SECOND", Settings.tmdb_rate_per_second, minimum=1),
        tmdb_workers=_as_int(merged, "TMDB_WORKERS", Settings.tmdb_workers, minimum=1),
        tmdb_read_timeout=_as_float(merged, "TMDB_READ_TIMEOUT", Settings.tmdb_read_timeout, 0.1, 600.0),
        discogs_rate_ceiling=_as_int(merged, "DISCOGS_RATE_CEILING", Settings.discogs_rate_ceiling, minimum=1),
        discogs_workers=_as_int(merged, "DISCOGS_WORKERS", Settings.discogs_workers, minimum=1),
        discogs_read_timeout=_as_float(merged, "DISCOGS_READ_TIMEOUT", Settings.discogs_read_timeout, 0.1, 600.0),
        fetch_connect_timeout=_as_float(merged, "FETCH_CONNECT_TIMEOUT", Settings.fetch_connect_timeout, 0.1, 120.0),
        fetch_deadline=_as_float(merged, "FETCH_DEADLINE", Settings.fetch_deadline, 0.5, 3600.0),
        fetch_retries=_as_int(merged, "FETCH_RETRIES", Settings.fetch_retries, minimum=1),
    )
    if values["tmdb_workers"] > 64 or values["discogs_workers"] > 64:
        raise ConfigError("TMDB_WORKERS and DISCOGS_WORKERS must be at most 64: lower them in .env")
    for api in ("tmdb", "discogs"):
        if values["fetch_deadline"] < values[f"{api}_read_timeout"]:
            raise ConfigError(f"FETCH_DEADLINE={values['fetch_deadline']:g} is below {api.upper()}_READ_TIMEOUT="
                              f"{values[f'{api}_read_timeout']:g}: a request could never wait out its read timeout")
    return values
