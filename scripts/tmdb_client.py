"""TMDB API v3 client: film lists (discover windows, daily ID export, explicit ids), details, genres.

Auth: the v4 read-access token goes in an `Authorization: Bearer` header (preferred). With only a v3
key, TMDB wants it as the `api_key` query parameter; it is then masked in every log line and message
by `scripts.http_client.redact`.

`/discover/movie` serves at most 500 pages of 20 films per query, so `iter_discover` walks release-date
windows and splits a window in halves while its `total_pages` exceeds the cap. It walks newest first
(`sort_by=primary_release_date.desc`, later halves before earlier ones): a fetch bounded by a limit
gets the most recent films, which is what a user of a film catalogue expects. Its progress lives in a
caller-owned JSON-safe `cursor` dict, which makes the walk resumable.
"""
from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from scripts.http_client import ApiClient, PoliteSession, RetryPolicy, shared_limiter
from scripts.settings import ConfigError, Settings

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.themoviedb.org/3"
DETAIL_APPENDS = "credits,keywords,external_ids"
MAX_DISCOVER_PAGES = 500
DEFAULT_RATE_PER_SECOND = 40
EARLIEST_RELEASE = date(1874, 1, 1)  # the oldest films TMDB lists are from the 1870s


def settings_policy(settings: Settings, read_timeout: float) -> RetryPolicy:
    """The retry policy the settings ask for, with the API's own read timeout."""
    return RetryPolicy(max_attempts=settings.fetch_retries, connect_timeout=settings.fetch_connect_timeout,
                       read_timeout=read_timeout, deadline=settings.fetch_deadline)


def missing_tmdb_key_error() -> ConfigError:
    return ConfigError("TMDB_API_TOKEN is not set: set TMDB_API_TOKEN (or TMDB_API_KEY) in .env")


class TmdbClient(ApiClient):
    """Thin, rate-limited access to the TMDB endpoints the pipeline needs.

    Args:
        token: v4 read-access token (sent as `Authorization: Bearer`).
        api_key: v3 key, used only when no token is given (sent as `api_key` query parameter).
        base_url: API root; tests point it at 127.0.0.1.
        rate_per_second: client-side cap on requests per second, shared by all threads and by every
            client of this process with the same base URL and rate (`shared_limiter`).
        policy: retry, backoff and timeout settings.
        pool_size: HTTP connections kept per thread (match the number of worker threads).

    Raises:
        ConfigError: neither token nor key given.
    """

    def __init__(self, *, token: str | None = None, api_key: str | None = None,
                 base_url: str = DEFAULT_BASE_URL, rate_per_second: int = DEFAULT_RATE_PER_SECOND,
                 policy: RetryPolicy = RetryPolicy(), pool_size: int = 8, safety: float = 0.02):
        if not token and not api_key:
            raise missing_tmdb_key_error()
        headers = {"Accept": "application/json"}
        params = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        else:
            params["api_key"] = api_key
        self.http = PoliteSession(
            base_url, shared_limiter("tmdb", base_url, rate_per_second, 1.0, safety=safety), policy,
            headers=headers, params=params, secrets=(token, api_key), name="tmdb", pool_size=pool_size,
        )

    @classmethod
    def from_settings(cls, settings: Settings, base_url: str | None = None, **kwargs) -> TmdbClient:
        """A client with the settings' credentials, base URL (`TMDB_API_BASE`, unless `base_url` is
        given), rate, workers and timeouts; keyword arguments override the settings."""
        kwargs.setdefault("rate_per_second", settings.tmdb_rate_per_second)
        kwargs.setdefault("pool_size", settings.tmdb_workers)
        kwargs.setdefault("policy", settings_policy(settings, settings.tmdb_read_timeout))
        return cls(token=settings.tmdb_api_token, api_key=settings.tmdb_api_key,
                   base_url=base_url or settings.tmdb_api_base, **kwargs)

    def genres(self) -> dict:
        """The `/genre/movie/list` body: `{"genres": [{"id", "name"}, ...]}`."""
        return self.http.get_json("/genre/movie/list")

    def movie(self, movie_id: int) -> dict:
        """The `/movie/{id}` body with credits, keywords and external ids appended, unchanged.

        Raises:
            NotFoundError: TMDB has no film with this id (deleted or never existed).
        """
        return self.http.get_json(f"/movie/{int(movie_id)}", {"append_to_response": DETAIL_APPENDS})

    def discover_page(self, gte: str, lte: str, page: int) -> dict:
        """One `/discover/movie` page of films first released between `gte` and `lte` (ISO dates, inclusive)."""
        return self.http.get_json("/discover/movie", {
            "primary_release_date.gte": gte,
            "primary_release_date.lte": lte,
            "sort_by": "primary_release_date.desc",
            "include_adult": "false",
            "include_video": "false",
            "page": page,
        })

    def iter_discover(self, date_from: date, date_to: date, cursor: dict, *,
                      max_pages: int = MAX_DISCOVER_PAGES) -> Iterator[list[int]]:
        """Yield the film ids of each discover page between two release dates, resumably.

        The walk keeps its position in `cursor` (mutated in place, JSON-safe): `pending` windows,
        the `current` window with its next `page`, `windows_done`, `splits` and, at the end,
        `finished` (ISO date), and `total_results` (TMDB's count for the whole range, from its first
        page: the total a progress bar needs). A page's position advances only after the consumer
        asks for the next page, so a cursor saved while a page is being processed points at that
        page again. Windows are walked newest first.
        A one-day window that still exceeds `max_pages` cannot be split: its first `max_pages` pages
        are read and `capped_windows` counts it.
        """
        if not cursor.get("pending") and not cursor.get("current"):
            cursor.update(pending=[[date_from.isoformat(), date_to.isoformat()]], current=None,
                          windows_done=0, splits=0, capped_windows=0, finished=None)
        while cursor.get("current") or cursor.get("pending"):
            if not cursor.get("current"):
                gte, lte = cursor["pending"].pop(0)
                cursor["current"] = {"gte": gte, "lte": lte, "page": 1, "total_pages": None}
            current = cursor["current"]
            body = self.discover_page(current["gte"], current["lte"], current["page"])
            total_pages = int(body.get("total_pages") or 0)
            if cursor.get("total_results") is None:
                cursor["total_results"] = int(body.get("total_results") or 0)
            start, end = date.fromisoformat(current["gte"]), date.fromisoformat(current["lte"])
            if total_pages > max_pages and start < end:
                middle = start + timedelta(days=(end - start).days // 2)
                # Newest first: the later half is walked before the earlier one.
                halves = [[(middle + timedelta(days=1)).isoformat(), end.isoformat()],
                          [start.isoformat(), middle.isoformat()]]
                logger.info("tmdb discover %s..%s has %d pages (cap %d): split into %s..%s and %s..%s",
                            current["gte"], current["lte"], total_pages, max_pages, *halves[0], *halves[1])
                cursor["pending"][:0] = halves
                cursor["current"] = None
                cursor["splits"] = cursor.get("splits", 0) + 1
                continue
            if total_pages > max_pages and current["total_pages"] is None:
                logger.warning("tmdb discover %s has %d pages; only the first %d can be read",
                               current["gte"], total_pages, max_pages)
                cursor["capped_windows"] = cursor.get("capped_windows", 0) + 1
            current["total_pages"] = min(total_pages, max_pages)
            yield [int(result["id"]) for result in body.get("results") or [] if "id" in result]
            if current["page"] >= current["total_pages"]:
                cursor["current"] = None
                cursor["windows_done"] = cursor.get("windows_done", 0) + 1
            else:
                current["page"] += 1
        cursor["finished"] = date.today().isoformat()


@dataclass
class ExportStats:
    """What `iter_export_ids` read from a daily ID export."""

    lines: int = 0
    ids: int = 0
    skipped_adult: int = 0
    skipped_video: int = 0
    bad: int = 0
    bad_lines: list[dict] = field(default_factory=list)


def iter_export_ids(path: Path, *, include_adult: bool = False, include_video: bool = False,
                    stats: ExportStats | None = None) -> Iterator[int]:
    """Yield film ids from a TMDB daily ID export (`movie_ids_MM_DD_YYYY.json.gz`, or uncompressed).

    Each line is `{"adult":false,"id":...,"original_title":"...","popularity":...,"video":false}`.
    Adult and video entries are skipped unless asked for (as `/discover/movie` does by default).
    Unreadable lines are counted in `stats.bad` (the first 100 described in `stats.bad_lines`), not raised.
    """
    stats = stats if stats is not None else ExportStats()
    path = Path(path)
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            stats.lines += 1
            try:
                entry: Any = json.loads(line)
                movie_id = int(entry["id"])
            except (ValueError, KeyError, TypeError) as exc:
                stats.bad += 1
                if len(stats.bad_lines) < 100:
                    stats.bad_lines.append({"line": line_no, "reason": f"{type(exc).__name__}: {str(exc)[:100]}"})
                continue
            if entry.get("adult") and not include_adult:
                stats.skipped_adult += 1
                continue
            if entry.get("video") and not include_video:
                stats.skipped_video += 1
                continue
            stats.ids += 1
            yield movie_id
