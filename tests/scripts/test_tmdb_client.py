"""Tests for scripts.tmdb_client against a local server replaying real recorded TMDB bodies."""
from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from pathlib import Path

import pytest

from scripts.fake_api_server import (
    GENRES,
    MOVIE_550,
    SKIP_REASON,
    FakeApiServer,
    install_tmdb,
    shared_data_present,
    write_id_export,
)
from scripts.http_client import FetchError, NotFoundError, RetryPolicy
from scripts.settings import ConfigError
from scripts.tmdb_client import (
    DETAIL_APPENDS,
    ExportStats,
    TmdbClient,
    iter_export_ids,
)

pytestmark = [pytest.mark.realdata, pytest.mark.skipif(not shared_data_present(), reason=SKIP_REASON)]

TOKEN = "eyJhbGciOiJIUzI1NiJ9.fake-read-access-token-for-tests"
API_KEY = "0123456789abcdef0123456789abcdef"
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, read_timeout=0.3)


def catalogue_2020(n: int = 90) -> dict[int, str]:
    """`n` films spread over 2020 (ids 1000..), about one every four days."""
    start = date(2020, 1, 1)
    return {1000 + i: (start + timedelta(days=(i * 4) % 366)).isoformat() for i in range(n)}


@pytest.fixture()
def server():
    with FakeApiServer(limit=200, delay=0.6) as srv:
        install_tmdb(srv, catalogue=catalogue_2020())
        yield srv


def client_for(srv: FakeApiServer, **kwargs) -> TmdbClient:
    kwargs.setdefault("token", TOKEN)
    return TmdbClient(base_url=srv.url + "/3", rate_per_second=150, policy=FAST, safety=0.1, **kwargs)


def test_movie_returns_the_recorded_body_unchanged_with_bearer_auth(server):
    with client_for(server) as client:
        body = client.movie(550)
    assert body == json.loads(MOVIE_550.read_text(encoding="utf-8"))
    assert body["title"] == "Fight Club" and body["credits"]["crew"]
    request = server.requests[0]
    assert request.path == "/3/movie/550"
    assert request.query == {"append_to_response": [DETAIL_APPENDS]}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_genres_returns_the_recorded_list(server):
    with client_for(server) as client:
        assert client.genres() == json.loads(GENRES.read_text(encoding="utf-8"))
    assert server.paths() == ["/3/genre/movie/list"]


def test_unknown_movie_raises_not_found_from_the_real_404_body(server):
    with client_for(server) as client, pytest.raises(NotFoundError) as info:
        client.movie(0)
    assert info.value.status == 404
    assert len(server.requests) == 1


def test_api_key_goes_as_query_parameter_and_never_into_logs_or_errors(server, caplog, capsys):
    server.inject("/3/movie/551", "500", "500", "500", "500")
    with caplog.at_level(logging.DEBUG), client_for(server, token=None, api_key=API_KEY) as client:
        assert client.movie(550)["id"] == 550
        with pytest.raises(FetchError) as info:
            client.movie(551)
    assert server.requests[0].query["api_key"] == [API_KEY]
    assert "Authorization" not in server.requests[0].headers
    assert "api_key=***" in str(info.value)
    captured = capsys.readouterr()
    everything = caplog.text + str(info.value) + captured.out + captured.err
    assert API_KEY not in everything
    assert "api_key=***" in caplog.text


def test_token_wins_over_key_and_missing_credentials_are_a_config_error(server):
    with client_for(server, api_key=API_KEY) as client:
        client.genres()
    assert "api_key" not in server.requests[0].query
    with pytest.raises(ConfigError, match="TMDB_API_TOKEN"):
        TmdbClient()


def test_from_settings_takes_base_url_rate_workers_and_timeouts_from_settings(server):
    from scripts.settings import load_settings

    settings = load_settings({"DATA_ROOT": "/tmp/unused", "TMDB_API_TOKEN": TOKEN,
                              "TMDB_API_BASE": server.url + "/3/", "TMDB_RATE_PER_SECOND": "33",
                              "TMDB_WORKERS": "7", "TMDB_READ_TIMEOUT": "2.5", "FETCH_DEADLINE": "12",
                              "FETCH_RETRIES": "3"}, dotenv_path=Path("/nonexistent/.env"))
    with TmdbClient.from_settings(settings) as client:
        assert client.genres()["genres"]
    assert client.http.base_url == server.url + "/3"
    assert client.http.limiter.max_calls == 33 and client.http.pool_size == 7
    assert (client.http.policy.read_timeout, client.http.policy.deadline, client.http.policy.max_attempts) == \
        (2.5, 12.0, 3)


def test_discover_splits_windows_over_the_page_cap_and_finds_every_film_once(server):
    films = catalogue_2020()
    cursor: dict = {}
    with client_for(server) as client:
        pages = list(client.iter_discover(date(2020, 1, 1), date(2020, 12, 31), cursor))
    ids = [movie_id for page in pages for movie_id in page]
    assert sorted(ids) == sorted(films)
    assert len(ids) == len(set(ids))
    assert cursor["splits"] > 0 and cursor["finished"] == date.today().isoformat()
    assert cursor["pending"] == [] and cursor["current"] is None
    discover = [r for r in server.requests if r.path == "/3/discover/movie"]
    assert all(int(r.param("page")) <= 500 for r in discover)
    for request in discover:  # every window read beyond page 1 is one the server reports <= 500 pages for
        gte, lte = date.fromisoformat(request.param("primary_release_date.gte")), \
            date.fromisoformat(request.param("primary_release_date.lte"))
        if int(request.param("page")) > 1:
            assert (lte - gte).days + 1 <= 16
    assert {r.param("sort_by") for r in discover} == {"primary_release_date.desc"}
    assert cursor["total_results"] == 501 * 20  # the dense whole-year window's count, kept for progress
    assert {r.param("include_adult") for r in discover} == {"false"}


def test_discover_resumes_from_its_cursor_without_losing_or_repeating_pages():
    films = {2000 + i: "2021-03-02" for i in range(50)}  # the newer day (walked first), 3 pages
    films.update({3000 + i: "2021-03-01" for i in range(5)})
    with FakeApiServer(limit=200) as srv:
        install_tmdb(srv, catalogue=films, dense_days=1)
        cursor: dict = {}
        first: list[int] = []
        with client_for(srv) as client:
            walk = client.iter_discover(date(2021, 3, 1), date(2021, 3, 2), cursor)
            first += next(walk)
            first += next(walk)
            walk.close()  # "killed" while the second page was being processed
            saved = json.loads(json.dumps(cursor))
            assert saved["current"]["page"] == 2
            rest = [i for page in client.iter_discover(date(2021, 3, 1), date(2021, 3, 2), saved) for i in page]
    assert sorted(set(first) | set(rest)) == sorted(films)
    assert set(first[20:]) <= set(rest)  # the interrupted page is read again, the first one is not
    assert not set(first[:20]) & set(rest)


def test_a_single_day_over_the_cap_is_read_up_to_the_cap_and_counted(caplog):
    films = {4000 + i: "2022-05-05" for i in range(30)}
    with FakeApiServer(limit=200) as srv:
        install_tmdb(srv, catalogue=films, dense_days=0, single_day_pages=9)
        cursor: dict = {}
        with caplog.at_level(logging.WARNING), client_for(srv) as client:
            pages = list(client.iter_discover(date(2022, 5, 5), date(2022, 5, 5), cursor, max_pages=3))
    assert [len(page) for page in pages] == [20, 10, 0]
    assert cursor["capped_windows"] == 1 and cursor["splits"] == 0
    assert "only the first 3 can be read" in caplog.text


def test_discover_page_faults_are_retried(server):
    server.inject("/3/discover/movie", "503", "truncate")
    with client_for(server) as client:
        ids = [i for page in client.iter_discover(date(2020, 1, 1), date(2020, 1, 10), {}) for i in page]
    assert sorted(ids) == sorted(i for i, day in catalogue_2020().items() if day <= "2020-01-10")


def test_iter_export_ids_reads_the_daily_export_shape(tmp_path):
    path = write_id_export(tmp_path / "movie_ids_05_15_2024.json.gz", [3, 5, 7, 11, 13],
                           adult=(5,), video=(7,), bad_lines=2)
    stats = ExportStats()
    assert list(iter_export_ids(path, stats=stats)) == [3, 11, 13]
    assert (stats.lines, stats.ids, stats.skipped_adult, stats.skipped_video, stats.bad) == (7, 3, 1, 1, 2)
    assert stats.bad_lines[0]["line"] == 6
    assert list(iter_export_ids(path, include_adult=True, include_video=True)) == [3, 5, 7, 11, 13]


def test_iter_export_ids_reads_an_uncompressed_export_and_skips_blank_lines(tmp_path):
    path = tmp_path / "movie_ids.json"
    path.write_text('{"adult":false,"id":42,"original_title":"Zoë","popularity":0.6,"video":false}\n\n'
                    '{"adult":false,"original_title":"no id"}\n', encoding="utf-8")
    stats = ExportStats()
    assert list(iter_export_ids(path, stats=stats)) == [42]
    assert stats.bad == 1 and stats.lines == 2


def test_discover_walks_newest_first_so_a_limit_gets_the_latest_films():
    films = {100 + i: f"2019-0{1 + i % 9}-1{i % 9}" for i in range(40)}
    films.update({900 + i: f"2020-0{1 + i % 9}-2{i % 9}" for i in range(40)})
    with FakeApiServer(limit=200) as srv:
        install_tmdb(srv, catalogue=films, dense_days=200)
        with client_for(srv) as client:
            walk = client.iter_discover(date(2019, 1, 1), date(2020, 12, 31), {})
            first_page = next(walk)
            walk.close()
    first_days = sorted((films[i] for i in first_page), reverse=True)
    assert [films[i] for i in first_page] == first_days  # newest first within the page
    assert all(films[i] >= "2020-01-01" for i in first_page)
