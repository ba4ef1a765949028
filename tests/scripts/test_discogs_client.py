"""Tests for scripts.discogs_client against a local server replaying real recorded Discogs bodies."""
from __future__ import annotations

import json
import logging
import time

import pytest

from scripts.discogs_client import DiscogsClient, next_page_number
from scripts.fake_api_server import (
    DISCOGS_RES,
    SKIP_REASON,
    DiscogsCatalogue,
    FakeApiServer,
    install_discogs,
    shared_data_present,
)
from scripts.http_client import NotFoundError, RetryPolicy
from scripts.settings import ConfigError, Settings

pytestmark = [pytest.mark.realdata, pytest.mark.skipif(not shared_data_present(), reason=SKIP_REASON)]

TOKEN = "discogs-personal-token-ABCDEF123456"
USER_AGENT = "tmdb-discogs-soundtracks-tests/0.1 +https://example.invalid/tests"
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, read_timeout=0.3)


def catalogue() -> DiscogsCatalogue:
    return DiscogsCatalogue(masters={4242: 79, 129711: 1851231}, releases={5001: None, 5002: 129711})


@pytest.fixture()
def server():
    with FakeApiServer(limit=200, discogs_headers=True) as srv:
        install_discogs(srv, catalogue())
        yield srv


def client_for(srv: FakeApiServer, **kwargs) -> DiscogsClient:
    kwargs.setdefault("token", TOKEN)
    kwargs.setdefault("max_calls", 150)
    return DiscogsClient(user_agent=USER_AGENT, base_url=srv.url, period=1.0, policy=FAST, safety=0.1, **kwargs)


def test_requests_carry_the_token_header_and_the_user_agent(server):
    with client_for(server) as client:
        client.master(4242)
    headers = server.requests[0].headers
    assert headers["Authorization"] == f"Discogs token={TOKEN}"
    assert headers["User-Agent"] == USER_AGENT
    assert server.requests[0].query == {}


def test_master_and_its_main_release_are_the_recorded_bodies(server):
    with client_for(server) as client:
        master = client.master(4242)
        release = client.release(master["main_release"])
    assert master == json.loads((DISCOGS_RES / "masters" / "4242.json").read_text(encoding="utf-8"))
    assert release == json.loads((DISCOGS_RES / "releases" / "79.json").read_text(encoding="utf-8"))
    assert release["master_id"] == 4242
    assert server.paths() == ["/masters/4242", "/releases/79"]


def test_unknown_release_is_not_found_and_not_retried():
    with FakeApiServer(limit=200) as srv:
        install_discogs(srv, DiscogsCatalogue(missing_releases=(999,)))
        with client_for(srv) as client, pytest.raises(NotFoundError):
            client.release(999)
    assert len(srv.requests) == 1


def test_pagination_follows_the_real_two_page_artist_releases_recording(server):
    cursor: dict = {}
    with client_for(server) as client:
        pages = list(client.iter_pages("/artists/1/releases", {}, "releases", cursor, per_page=50))
    assert [len(page) for page in pages] == [50, 7]
    assert sum(len(page) for page in pages) == 57  # "items": 57 in the recording
    assert [r.param("page") for r in server.requests] == ["1", "2"]
    assert cursor["next_page"] is None and cursor["completed"] and cursor["pages"] == 2 and cursor["items"] == 57


def test_search_pages_follow_absolute_next_links_on_the_configured_host_only():
    server_catalogue = DiscogsCatalogue(masters={m: m + 1 for m in range(10, 35)}, per_page_override=10)
    with FakeApiServer(limit=200) as srv:
        install_discogs(srv, server_catalogue)
        with client_for(srv) as client:
            pages = list(client.iter_search(genre="Stage & Screen", style="Score", kind="master"))
    assert [len(page) for page in pages] == [10, 10, 5]
    assert [r.param("page") for r in srv.requests] == ["1", "2", "3"]
    first = srv.requests[0]
    assert (first.param("genre"), first.param("style"), first.param("type"), first.param("per_page")) == \
        ("Stage & Screen", "Score", "master", "100")


def test_search_resumes_at_the_saved_page_and_honours_max_pages():
    cat = DiscogsCatalogue(releases={r: None for r in range(100, 130)}, per_page_override=10, absolute_next=False)
    with FakeApiServer(limit=200) as srv:
        install_discogs(srv, cat)
        cursor: dict = {}
        with client_for(srv) as client:
            first = list(client.iter_search(genre="Stage & Screen", style="Soundtrack", kind="release",
                                            cursor=cursor, max_pages=1))
            assert cursor["next_page"] == 2 and cursor["completed"] is None
            rest = list(client.iter_search(genre="Stage & Screen", style="Soundtrack", kind="release",
                                           cursor=json.loads(json.dumps(cursor))))
    ids = [r["id"] for page in first + rest for r in page]
    assert ids == list(range(100, 130))
    assert [r.param("page") for r in srv.requests] == ["1", "2", "3"]


def test_a_refused_deep_page_ends_the_walk_but_a_missing_list_is_an_error(server, caplog):
    server.inject("/artists/1/releases", "404")
    with client_for(server) as client, pytest.raises(NotFoundError):
        list(client.iter_pages("/artists/1/releases", {}, "releases", per_page=50))
    cursor: dict = {}
    with caplog.at_level(logging.WARNING), client_for(server) as client:
        walk = client.iter_pages("/artists/1/releases", {}, "releases", cursor, per_page=50)
        assert len(next(walk)) == 50
        server.inject("/artists/1/releases", "404")
        assert list(walk) == []
    assert cursor["cut_at_page"] == 2 and cursor["next_page"] is None and cursor["completed"]
    assert "page 2 refused" in caplog.text


def test_search_without_a_token_is_a_config_error_naming_the_variable(server):
    with client_for(server, token=None) as client:
        assert client.limiter.max_calls == 150  # explicit limit kept; default would be 25
        with pytest.raises(ConfigError, match="DISCOGS_TOKEN"):
            client.iter_search(genre="Stage & Screen", style="Score", kind="master")
    assert DiscogsClient(token=None, user_agent=USER_AGENT).limiter.max_calls == 25
    assert DiscogsClient(token=TOKEN, user_agent=USER_AGENT).limiter.max_calls == 60
    assert "Authorization" not in DiscogsClient(token=None, user_agent=USER_AGENT).http.headers


def test_an_empty_user_agent_is_refused():
    with pytest.raises(ConfigError, match="DISCOGS_USER_AGENT"):
        DiscogsClient(token=TOKEN, user_agent="  ")


def test_from_settings_uses_token_agent_base_url_and_ceiling_from_settings(server):
    settings = Settings(data_root="/tmp/unused", discogs_token=TOKEN, discogs_user_agent=USER_AGENT,
                        discogs_api_base=server.url, discogs_rate_ceiling=321, discogs_workers=3)
    with DiscogsClient.from_settings(settings, max_calls=100, period=60.0, policy=FAST) as client:
        client.master(4242)
    assert server.requests[0].headers["User-Agent"] == USER_AGENT
    assert client.ceiling == 321 and client.http.pool_size == 3
    with DiscogsClient.from_settings(settings, max_calls=2, period=1.0, policy=FAST) as scaled:
        assert scaled.ceiling == 5  # 321 a minute is 5 a second


def test_announced_lower_limit_is_adopted(server, caplog):
    server.report_limit = 25
    with caplog.at_level(logging.INFO, logger="scripts.discogs_client"), client_for(server) as client:
        client.master(4242)
        assert client.server_limit == 25
        assert client.limiter.max_calls == 25
    assert "client limit 150 -> 25" in caplog.text


def test_the_announced_limit_is_followed_up_and_down_within_the_ceiling():
    with FakeApiServer(limit=10, window=1.0, discogs_headers=True) as srv:
        install_discogs(srv, catalogue())
        with client_for(srv, max_calls=10, ceiling=40) as client:
            client.master(4242)
            assert client.limiter.max_calls == 10
            srv.set_limit(30)  # the server raises the limit: follow it
            client.master(4242)
            assert client.limiter.max_calls == 30
            srv.set_limit(100)  # beyond the ceiling: stop at the ceiling
            client.master(4242)
            assert client.limiter.max_calls == 40
            srv.set_limit(5)  # lowered: follow it down at once
            client.master(4242)
            assert client.limiter.max_calls == 5


def test_a_raised_announced_limit_is_used_without_a_429():
    with FakeApiServer(limit=40, window=1.0, discogs_headers=True) as srv:
        install_discogs(srv, catalogue())
        with client_for(srv, max_calls=10, ceiling=40) as client:
            started = time.monotonic()
            for _ in range(60):
                client.master(4242)
            elapsed = time.monotonic() - started
    assert srv.violations == []
    assert elapsed < 4.0  # 60 requests at 10 a second would take 5 s or more


def test_few_remaining_requests_space_the_next_ones_out(server):
    server.report_limit = 20
    server.report_remaining = 1
    with client_for(server, max_calls=20) as client:
        started = time.monotonic()
        for _ in range(4):
            client.master(4242)
        elapsed = time.monotonic() - started
        assert client.http.stats["slowed_by_headers"] == 4
        assert client.server_remaining == 1
    # each response said "1 left", so each following request waited one slot (1 s / 20 requests)
    assert elapsed >= 3 * 0.05


def test_no_request_beyond_the_limit_with_discogs_headers():
    with FakeApiServer(limit=20, window=1.0, discogs_headers=True) as srv:
        install_discogs(srv, catalogue())
        with client_for(srv, max_calls=20) as client:
            for _ in range(45):
                client.master(129711)
    assert srv.violations == []
    assert len(srv.requests) == 45


def test_429_from_discogs_is_honoured(server):
    server.retry_after = "0"
    server.inject("/masters/4242", "429", "reset")
    with client_for(server) as client:
        assert client.master(4242)["id"] == 4242
    assert client.http.stats["status_429"] == 1 and client.http.stats["retries"] == 2


@pytest.mark.parametrize("pagination, page, expected, warns", [
    ({"page": 1, "pages": 2, "urls": {"next": "/artists/1/releases?per_page=50&page=2"}}, 1, 2, False),
    ({"page": 2, "pages": 2, "urls": {"prev": "/x?page=1"}}, 2, None, False),
    ({"page": 1, "pages": 1, "urls": {}}, 1, None, False),
    ({"page": 3, "pages": 9}, 3, 4, False),
    ({"page": 9, "pages": 9}, 9, None, False),
    ({"page": 1, "pages": 3, "urls": {}}, 1, 2, True),  # next link missing: go on by count, warn
    ({"page": 1, "pages": 3, "urls": {"last": "/x?page=3"}}, 1, 2, True),
    ({"page": 3, "pages": 3, "urls": {"next": "/x?page=4"}}, 3, 4, True),  # the two disagree the other way
    ({"urls": {"next": "https://api.discogs.com/database/search?q=x&page=5"}}, 4, 5, False),
    ({"urls": {"next": "https://api.discogs.com/database/search?q=x"}}, 4, 5, False),
    ({"urls": {"next": "https://api.discogs.com/database/search?page=abc"}}, 4, 5, False),
    ({"urls": {"next": "https://api.discogs.com/database/search?page=2"}}, 4, None, False),
    ({"pages": "9", "urls": {}}, 1, None, False),
    ({}, 1, None, False),
])
def test_next_page_number(pagination, page, expected, warns):
    following, warning = next_page_number(pagination, page)
    assert following == expected
    assert bool(warning) is warns


def test_a_search_without_next_links_is_read_to_its_last_page_with_a_warning(caplog):
    cat = catalogue()
    cat.releases = {100 + i: None for i in range(30)}
    cat.per_page_override = 10
    cat.omit_next = True
    with FakeApiServer(limit=200) as srv:
        install_discogs(srv, cat)
        cursor: dict = {}
        with caplog.at_level(logging.WARNING), client_for(srv) as client:
            pages = list(client.iter_search(genre="Stage & Screen", style="Soundtrack", kind="release",
                                            cursor=cursor))
    assert [r["id"] for page in pages for r in page] == list(range(100, 130))
    assert cursor["completed"] and cursor["pagination_warnings"] == 2
    assert "no usable urls.next on page 1 although pagination.pages is 3" in caplog.text
