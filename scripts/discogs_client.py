"""Discogs API client: soundtrack search (paged), masters and releases, within Discogs' rate limits.

Discogs asks for a descriptive `User-Agent` on every request and takes a personal token as
`Authorization: Discogs token=...`. It allows 60 requests a minute authenticated and 25 without a
token, counted over a moving 60-second window, and reports its view in `X-Discogs-Ratelimit`,
`X-Discogs-Ratelimit-Used` and `X-Discogs-Ratelimit-Remaining`. The client keeps its own sliding
window at the allowed rate, lowers it to the announced limit when that is lower, and spaces
requests one window-slot apart while the server says few requests remain (the server counts every
client behind the same token or address, so it may know of requests this process did not make).
The announced limit is followed both ways, within a configured ceiling (`DISCOGS_RATE_CEILING`):
Discogs raises the limit for some accounts and lowers it under load.

Lists come in pages with a `pagination` block (`page`, `pages`, `per_page`, `items`, `urls.next`).
`iter_pages` follows `urls.next` by its `page` number against the configured base URL, so a cursor
of plain page numbers can resume a walk and requests never leave the configured host. When `next`
is missing although `page < pages`, it goes on by page number and warns that the two disagree.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import date
from urllib.parse import parse_qs, urlsplit

import requests

from scripts.http_client import ApiClient, NotFoundError, PoliteSession, RetryPolicy, shared_limiter
from scripts.settings import ConfigError, Settings

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.discogs.com"
AUTHENTICATED_PER_MINUTE = 60
UNAUTHENTICATED_PER_MINUTE = 25
SEARCH_PER_PAGE = 100
SEARCH_TYPES = ("master", "release")
LOW_REMAINING = 2


def missing_discogs_token_error() -> ConfigError:
    return ConfigError("DISCOGS_TOKEN is not set (the Discogs search needs it): set DISCOGS_TOKEN in .env")


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers.get(name, ""))
    except (TypeError, ValueError):
        return None


def next_page_number(pagination: Mapping, page: int) -> tuple[int | None, str | None]:
    """The page after `page` according to a Discogs `pagination` block (None on the last page), and
    a warning when the block contradicts itself (None when it does not).

    `urls.next` (relative in old captures, absolute today) and `page < pages` should agree. When
    `next` is missing but `pages` says more remain, the walk goes on by number (a missing link must
    not end a search early and mark it complete); when `next` points beyond `pages`, it is followed.
    A next link that does not move forward is ignored in favour of `pages`, never looped on.
    """
    pages = pagination.get("pages")
    pages = pages if isinstance(pages, int) and not isinstance(pages, bool) else None
    by_count = page + 1 if pages is not None and page < pages else None
    urls = pagination.get("urls")
    next_url = urls.get("next") if isinstance(urls, Mapping) else None
    by_link = None
    if next_url:
        values = parse_qs(urlsplit(str(next_url)).query).get("page")
        try:
            by_link = int(values[0]) if values else page + 1
        except ValueError:
            by_link = page + 1
        if by_link <= page:
            by_link = None
    if by_link is not None:
        if pages is not None and by_count is None:
            return by_link, f"urls.next links page {by_link} although pagination.pages is {pages}; following it"
        return by_link, None
    if by_count is not None and isinstance(urls, Mapping):
        return by_count, (f"no usable urls.next on page {page} although pagination.pages is {pages}; "
                          f"going on with page {by_count}")
    return by_count, None


class DiscogsClient(ApiClient):
    """Rate-limited access to `/database/search`, `/masters/{id}` and `/releases/{id}`.

    Args:
        token: personal access token; without it the limit is 25 a minute and search is refused.
        user_agent: the application's User-Agent (Discogs rejects generic ones).
        base_url: API root; tests point it at 127.0.0.1.
        max_calls, period: client-side limit, `max_calls` per `period` seconds (default 60 or 25
            per 60 s by authentication); tests use e.g. 20 per 1 s. The limiter is shared by every
            client of this process with the same base URL and limit (`shared_limiter`).
        policy: retry, backoff and timeout settings.
        low_remaining: at or below this many remaining requests (server header), space requests out.
        ceiling: the most calls per `period` the client follows an announced `X-Discogs-Ratelimit`
            up to (default: `max_calls`, i.e. follow it down only).
        pool_size: HTTP connections kept per thread (match the number of worker threads).
    """

    def __init__(self, *, token: str | None, user_agent: str, base_url: str = DEFAULT_BASE_URL,
                 max_calls: int | None = None, period: float = 60.0, policy: RetryPolicy = RetryPolicy(),
                 low_remaining: int = LOW_REMAINING, safety: float = 0.02, ceiling: int | None = None,
                 pool_size: int = 4):
        if not user_agent or not user_agent.strip():
            raise ConfigError("DISCOGS_USER_AGENT is empty: Discogs requires one, set DISCOGS_USER_AGENT in .env")
        headers = {"User-Agent": user_agent, "Accept": "application/vnd.discogs.v2.discogs+json"}
        if token:
            headers["Authorization"] = f"Discogs token={token}"
        self.authenticated = bool(token)
        calls = max_calls or (AUTHENTICATED_PER_MINUTE if token else UNAUTHENTICATED_PER_MINUTE)
        self.limiter = shared_limiter("discogs", base_url, calls, period, safety=safety)
        self.ceiling = max(calls, int(ceiling or calls))
        self.low_remaining = low_remaining
        self.server_limit: int | None = None
        self.server_remaining: int | None = None
        self.http = PoliteSession(base_url, self.limiter, policy, headers=headers, secrets=(token,),
                                  on_response=self._steer, name="discogs", pool_size=pool_size)

    @classmethod
    def from_settings(cls, settings: Settings, base_url: str | None = None, **kwargs) -> DiscogsClient:
        """A client with the settings' token, User-Agent, base URL (`DISCOGS_API_BASE`, unless
        `base_url` is given), rate ceiling, workers and timeouts; keyword arguments override them."""
        from scripts.tmdb_client import settings_policy

        if kwargs.get("ceiling") is None:  # DISCOGS_RATE_CEILING is a minute's worth; scale it to the period
            kwargs["ceiling"] = max(1, round(settings.discogs_rate_ceiling * kwargs.get("period", 60.0) / 60.0))
        kwargs.setdefault("pool_size", settings.discogs_workers)
        kwargs.setdefault("policy", settings_policy(settings, settings.discogs_read_timeout))
        return cls(token=settings.discogs_token, user_agent=settings.discogs_user_agent,
                   base_url=base_url or settings.discogs_api_base, **kwargs)

    def _steer(self, response: requests.Response) -> None:
        limit = _header_int(response.headers, "X-Discogs-Ratelimit")
        remaining = _header_int(response.headers, "X-Discogs-Ratelimit-Remaining")
        self.server_limit, self.server_remaining = limit, remaining
        if limit and limit > 0:
            wanted = min(limit, self.ceiling)
            if wanted != self.limiter.max_calls:
                logger.info("discogs announces %d requests per window%s; client limit %d -> %d",
                            limit, f" (ceiling {self.ceiling})" if limit > self.ceiling else "",
                            self.limiter.max_calls, wanted)
                self.limiter.set_limit(wanted)
        if remaining is not None and remaining <= self.low_remaining:
            slot = self.limiter.period / max(1, limit or self.limiter.max_calls)
            logger.debug("discogs: %d requests remaining in the window; next request in >= %.2fs", remaining, slot)
            self.http.count("slowed_by_headers")
            self.limiter.defer(slot)

    def master(self, master_id: int) -> dict:
        """The `/masters/{id}` body, unchanged. Raises NotFoundError for an unknown id."""
        return self.http.get_json(f"/masters/{int(master_id)}")

    def release(self, release_id: int) -> dict:
        """The `/releases/{id}` body, unchanged. Raises NotFoundError for an unknown id."""
        return self.http.get_json(f"/releases/{int(release_id)}")

    def iter_pages(self, path: str, params: Mapping, items_key: str, cursor: dict | None = None, *,
                   max_pages: int | None = None, per_page: int = SEARCH_PER_PAGE) -> Iterator[list[dict]]:
        """Yield the `items_key` list of each page of a paginated Discogs list, resumably.

        `cursor` (mutated, JSON-safe) holds `next_page`, `pages`, `items` and, after the last page,
        `completed` (ISO date) with `next_page` None. A page's position advances only when the
        consumer asks for the next page. `max_pages` bounds the pages read by this call.
        A 404 for a page after the first ends the walk with a warning (`cursor["cut_at_page"]`):
        Discogs refuses deep pages of some lists rather than serving them.
        """
        cursor = cursor if cursor is not None else {}
        page = cursor.get("next_page") or 1
        cursor.update(next_page=page, completed=None)
        read = 0
        while max_pages is None or read < max_pages:
            try:
                body = self.http.get_json(path, {**params, "per_page": per_page, "page": page})
            except NotFoundError:
                if page == 1:
                    raise
                logger.warning("discogs %s: page %d refused (HTTP 404) of %s; the list ends there",
                               path, page, cursor.get("pages"))
                cursor.update(next_page=None, completed=date.today().isoformat(), cut_at_page=page)
                return
            pagination = body.get("pagination") or {}
            cursor["pages"], cursor["items"] = pagination.get("pages"), pagination.get("items")
            yield list(body.get(items_key) or [])
            read += 1
            following, disagreement = next_page_number(pagination, page)
            if disagreement:
                logger.warning("discogs %s %s: %s", path, dict(params), disagreement)
                cursor["pagination_warnings"] = cursor.get("pagination_warnings", 0) + 1
            if following is None:
                cursor.update(next_page=None, completed=date.today().isoformat())
                return
            page = cursor["next_page"] = following

    def iter_search(self, *, genre: str, style: str, kind: str, cursor: dict | None = None,
                    max_pages: int | None = None) -> Iterator[list[dict]]:
        """Pages of `/database/search` results for one genre, style and type (`master` or `release`)."""
        if not self.authenticated:
            raise missing_discogs_token_error()
        params = {"genre": genre, "style": style, "type": kind}
        return self.iter_pages("/database/search", params, "results", cursor, max_pages=max_pages)
