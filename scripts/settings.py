"""Typed configuration, loaded once from the environment and the project's `.env`.

Precedence: a variable already in the process environment wins over `.env`, which wins over the
defaults below. Secrets are held in fields whose `repr` is masked, so logging a `Settings`
object never prints a token.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Mapping, Optional

PROJECT_ROOT = Path(__file__).resolve().parent.parent

SOURCES = ("auto", "sample", "api", "dump", "kaggle")
DEFAULT_SOUNDTRACK_GENRES = ("Stage & Screen",)
DEFAULT_SOUNDTRACK_STYLES = ("Soundtrack", "Score", "Musical")
SECRET_FIELDS = frozenset({"tmdb_api_token", "tmdb_api_key", "discogs_token"})


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable and the fix."""


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


def _as_date(env: Mapping[str, str], name: str) -> Optional[str]:
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
    fetch_limit: int = 500
    discogs_max_pages: int = 2
    discover_from: Optional[str] = None
    discover_to: Optional[str] = None
    soundtrack_genres: tuple[str, ...] = DEFAULT_SOUNDTRACK_GENRES
    soundtrack_styles: tuple[str, ...] = DEFAULT_SOUNDTRACK_STYLES
    tmdb_api_token: Optional[str] = field(default=None, repr=False)
    tmdb_api_key: Optional[str] = field(default=None, repr=False)
    discogs_token: Optional[str] = field(default=None, repr=False)
    discogs_user_agent: str = "tmdb-discogs-soundtracks/0.1 +https://example.invalid/soundtracks"
    vm_host: Optional[str] = None
    vm_port: int = 22
    vm_user: Optional[str] = None
    vm_key_file: Optional[str] = None
    vm_project_dir: Optional[str] = None
    # Issue 13: processes that parse a Discogs dump in step 02 (1 = the sequential converter).
    dump_workers: int = field(default_factory=lambda: os.cpu_count() or 1)

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


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file (KEY=VALUE lines, comments, optional quotes) without touching os.environ."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def load_settings(env: Optional[Mapping[str, str]] = None, dotenv_path: Optional[Path] = None) -> Settings:
    """Build `Settings` from `.env` overlaid with the environment (or the mapping given).

    Raises:
        ConfigError: a value is malformed; the message names the variable and how to fix it.
    """
    merged: dict[str, str] = dict(read_dotenv(dotenv_path or PROJECT_ROOT / ".env"))
    merged.update(os.environ if env is None else env)

    data_root = merged.get("DATA_ROOT") or str(PROJECT_ROOT / "data")
    if "://" not in data_root and not data_root.startswith("dbfs:"):
        data_root = str(Path(data_root).expanduser().resolve())
    source = merged.get("SOURCE", "auto") or "auto"
    if source not in SOURCES:
        raise ConfigError(f"SOURCE={source!r} is not one of {', '.join(SOURCES)}: fix SOURCE in .env")
    return Settings(
        data_root=data_root,
        source=source,
        spark_master=merged.get("SPARK_MASTER") or "local[2]",
        log_level=(merged.get("LOG_LEVEL") or "INFO").upper(),
        sample_films=_as_int(merged, "SAMPLE_FILMS", 2000, minimum=10),
        sample_seed=_as_int(merged, "SAMPLE_SEED", 42),
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
        dump_workers=_as_int(merged, "DUMP_WORKERS", os.cpu_count() or 1, minimum=1),
    )
