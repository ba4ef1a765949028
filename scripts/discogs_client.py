"""Discogs API client: soundtrack search (paged), masters and releases, within Discogs' rate limits.

Discogs asks for a descriptive `User-Agent` on every request and takes a personal token as
`Authorization: Discogs token=...`. It allows 60 requests a minute authenticated and 25 without a
token, counted over a moving 60-second window, and reports its view in `X-Discogs-Ratelimit`,
`X-Discogs-Ratelimit-Used` and `X-Discogs-Ratelimit-Remaining`. The client keeps its own sliding
window at the allowed rate, lowers it to the announced limit when that is lower, and spaces
requests one window-slot apart while the server says few requests remain (the server counts every
client behind the same token or address, so it may know of requests this process did not make).

Lists come in pages with a `pagination` block (`page`, `pages`, `per_page`, `items`, `urls.next`).
`iter_pages` follows `urls.next` by its `page` number against the configured base URL, so a cursor
of plain page numbers can resume a walk and requests never leave the configured host.
"""
from __future__ import annotations

import logging
from datetime import date
from typing import Iterator, Mapping, Optional
from urllib.parse import parse_qs, urlsplit

import requests

from scripts.http_client import ApiClient, NotFoundError, PoliteSession, RetryPolicy, env_setting, shared_limiter
from scripts.settings import ConfigError, Settings

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.discogs.com"
BASE_URL_ENV = "DISCOGS_API_BASE"
AUTHENTICATED_PER_MINUTE = 60
UNAUTHENTICATED_PER_MINUTE = 25
SEARCH_PER_PAGE = 100
SEARCH_TYPES = ("master", "release")
LOW_REMAINING = 2


def missing_discogs_token_error() -> ConfigError:
    return ConfigError("DISCOGS_TOKEN is not set (the Discogs search needs it): set DISCOGS_TOKEN in .env")


def _header_int(headers: Mapping[str, str], name: str) -> Optional[int]:
    try:
        return int(headers.get(name, ""))
    except (TypeError, ValueError):
        return None


def next_page_number(pagination: Mapping, page: int) -> Optional[int]:
    """The page after `page` according to a Discogs `pagination` block, or None on the last page.

    When the block has `urls`, only `urls.next` (relative in old captures, absolute today) says there
    is a next page; without `urls`, `page < pages` does.
    A next link that does not move forward ends the walk rather than looping.
    """
    urls = pagination.get("urls")
    if isinstance(urls, Mapping):
        next_url = urls.get("next")
        if not next_url:
            return None
        values = parse_qs(urlsplit(next_url).query).get("page")
        try:
            number = int(values[0]) if values else page + 1
        except ValueError:
            number = page + 1
        return number if number > page else None
    pages = pagination.get("pages")
    return page + 1 if isinstance(pages, int) and page < pages else None


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
    """

    def __init__(self, *, token: Optional[str], user_agent: str, base_url: str = DEFAULT_BASE_URL,
                 max_calls: Optional[int] = None, period: float = 60.0, policy: RetryPolicy = RetryPolicy(),
                 low_remaining: int = LOW_REMAINING, safety: float = 0.05):
        if not user_agent or not user_agent.strip():
            raise ConfigError("DISCOGS_USER_AGENT is empty: Discogs requires one, set DISCOGS_USER_AGENT in .env")
        headers = {"User-Agent": user_agent, "Accept": "application/vnd.discogs.v2.discogs+json"}
        if token:
            headers["Authorization"] = f"Discogs token={token}"
        self.authenticated = bool(token)
        calls = max_calls or (AUTHENTICATED_PER_MINUTE if token else UNAUTHENTICATED_PER_MINUTE)
        self.limiter = shared_limiter("discogs", base_url, calls, period, safety=safety)
        self.low_remaining = low_remaining
        self.server_limit: Optional[int] = None
        self.server_remaining: Optional[int] = None
        self.http = PoliteSession(base_url, self.limiter, policy, headers=headers, secrets=(token,),
                                  on_response=self._steer, name="discogs", pool_size=2)

    @classmethod
    def from_settings(cls, settings: Settings, base_url: Optional[str] = None, **kwargs) -> "DiscogsClient":
        """A client with the settings' token and User-Agent; base URL from the argument,
        `DISCOGS_API_BASE` (environment or .env), or Discogs'."""
        return cls(token=settings.discogs_token, user_agent=settings.discogs_user_agent,
                   base_url=base_url or env_setting(BASE_URL_ENV, DEFAULT_BASE_URL), **kwargs)

    def _steer(self, response: requests.Response) -> None:
        limit = _header_int(response.headers, "X-Discogs-Ratelimit")
        remaining = _header_int(response.headers, "X-Discogs-Ratelimit-Remaining")
        self.server_limit, self.server_remaining = limit, remaining
        if limit and limit < self.limiter.max_calls:
            logger.info("discogs announces %d requests per window; lowering the client limit from %d",
                        limit, self.limiter.max_calls)
            self.limiter.set_limit(limit)
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

    def iter_pages(self, path: str, params: Mapping, items_key: str, cursor: Optional[dict] = None, *,
                   max_pages: Optional[int] = None, per_page: int = SEARCH_PER_PAGE) -> Iterator[list[dict]]:
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
            following = next_page_number(pagination, page)
            if following is None:
                cursor.update(next_page=None, completed=date.today().isoformat())
                return
            page = cursor["next_page"] = following

    def iter_search(self, *, genre: str, style: str, kind: str, cursor: Optional[dict] = None,
                    max_pages: Optional[int] = None) -> Iterator[list[dict]]:
        """Pages of `/database/search` results for one genre, style and type (`master` or `release`)."""
        if not self.authenticated:
            raise missing_discogs_token_error()
        params = {"genre": genre, "style": style, "type": kind}
        return self.iter_pages("/database/search", params, "results", cursor, max_pages=max_pages)
