"""Tests for scripts.http_client against a real HTTP server on 127.0.0.1 that injects faults."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from scripts.fake_api_server import FAULTS, FakeApiServer, Reply
from scripts.http_client import (
    AuthError,
    FetchError,
    NotFoundError,
    PoliteSession,
    RateLimiter,
    RedactingFilter,
    RetryPolicy,
    parse_retry_after,
    redact,
    register_secret,
    shared_limiter,
)

SECRET_KEY = "v3key-0123456789abcdef"
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05, read_timeout=0.3, connect_timeout=0.5)
BODY = {"id": 550, "title": "Fight Club", "genres": [{"id": 18, "name": "Drama"}]}


@pytest.fixture()
def server():
    with FakeApiServer(limit=100, delay=0.6, stall=0.6) as srv:
        srv.route("/3/movie/550", Reply(200, BODY))
        yield srv


def session_for(srv: FakeApiServer, *, policy: RetryPolicy = FAST, calls: int = 100, safety: float = 0.1,
                **kwargs) -> PoliteSession:
    # safety 0.1: the server stamps arrivals after thread start-up and parsing, which on two busy shared
    # cores (client and server share one interpreter here) can lag the client's start by tens of ms.
    return PoliteSession(srv.url + "/3", RateLimiter(calls, 1.0, safety=safety), policy, name="test", **kwargs)


@pytest.mark.parametrize("text, expected", [
    ("https://api.themoviedb.org/3/movie/550?api_key=abc123&language=en",
     "https://api.themoviedb.org/3/movie/550?api_key=***&language=en"),
    ("/search?q=x&token=tok-1&page=2", "/search?q=x&token=***&page=2"),
    ("Authorization: Discogs token=zzTOPzz", "Authorization: Discogs token=***"),
    ("Authorization: Bearer eyJhbGciOi.x-y_z", "Authorization: Bearer ***"),
    ("api_key%3Dabc123", "api_key%3D***"),
    ("GET /3/movie/550?append_to_response=credits HTTP/1.1", "GET /3/movie/550?append_to_response=credits HTTP/1.1"),
    ("", ""),
    ("Zoë – Bjørk ? ünïcode=ok", "Zoë – Bjørk ? ünïcode=ok"),
])
def test_redact_masks_secret_parameters_and_tokens(text, expected):
    assert redact(text) == expected


def test_redact_masks_given_and_registered_secret_values_anywhere():
    assert redact("a plain-text-secret-1 in a message", ["plain-text-secret-1"]) == "a *** in a message"
    register_secret("registered-secret-77")
    assert redact("oops registered-secret-77 leaked") == "oops *** leaked"
    assert redact(None) == "None"


def test_redacting_filter_rewrites_formatted_messages(caplog):
    log = logging.getLogger("tests.redaction")
    log.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="tests.redaction"):
        log.info("GET %s -> %d", "/movie/1?api_key=hidden-value-9", 200)
    assert caplog.records[0].getMessage() == "GET /movie/1?api_key=*** -> 200"


def test_parse_retry_after_reads_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("  ") is None
    assert parse_retry_after("soon") is None
    later = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 <= parse_retry_after(format_datetime(later, usegmt=True)) <= 31
    assert parse_retry_after(format_datetime(later - timedelta(hours=1), usegmt=True)) == 0.0


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_rate_limiter_spaces_starts_evenly_and_never_exceeds_the_window():
    clock = FakeClock()
    limiter = RateLimiter(3, 1.0, safety=0.0, clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(4)]
    # no burst: one start every period / max_calls, so arrivals do not queue up on the way
    assert waits == pytest.approx([0.0, 1 / 3, 1 / 3, 1 / 3])
    clock.now += 2.0  # idle: the next start is not held back
    assert limiter.acquire() == 0.0
    assert limiter.waited == pytest.approx(1.0)


def test_rate_limiter_window_holds_when_starts_were_deferred():
    clock = FakeClock()
    limiter = RateLimiter(3, 1.0, safety=0.0, clock=clock, sleep=clock.sleep)
    limiter.set_limit(3)
    starts = []
    for _ in range(7):
        limiter.acquire()
        starts.append(clock.now)
        if len(starts) == 2:
            limiter.defer(0.0)
    assert all(starts[i + 3] - starts[i] >= 1.0 - 1e-9 for i in range(len(starts) - 3))


def test_rate_limiter_defer_and_set_limit():
    clock = FakeClock()
    limiter = RateLimiter(5, 10.0, safety=0.1, clock=clock, sleep=clock.sleep)
    assert limiter.window == pytest.approx(11.0)
    limiter.defer(2.0)
    assert limiter.acquire() == pytest.approx(2.0)
    limiter.set_limit(1)
    assert limiter.max_calls == 1
    assert limiter.acquire() == pytest.approx(11.0)  # one call per 11 s window
    limiter.set_limit(0)  # never below one call
    assert limiter.max_calls == 1
    with pytest.raises(ValueError):
        RateLimiter(0, 1.0)


def test_clients_of_one_api_share_a_limiter():
    first = shared_limiter("tmdb", "http://127.0.0.1:9/3/", 40, 1.0)
    assert shared_limiter("tmdb", "http://127.0.0.1:9/3", 40, 1.0) is first
    assert shared_limiter("tmdb", "http://127.0.0.1:9/3", 20, 1.0) is not first
    assert shared_limiter("discogs", "http://127.0.0.1:9/3", 40, 1.0) is not first


def test_no_request_beyond_the_limit_under_a_threaded_burst():
    """6 threads fire 60 requests at once; the server (20 per 1 s sliding window) sees no excess."""
    with FakeApiServer(limit=20, window=1.0) as srv:
        srv.route("/3/movie/550", Reply(200, BODY))
        session = session_for(srv, calls=20)
        errors: list[BaseException] = []

        def worker():
            try:
                for _ in range(10):
                    assert session.get_json("/movie/550") == BODY
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        session.close()
    assert errors == []
    assert srv.violations == []
    assert len(srv.requests) == 60
    assert session.stats["status_429"] == 0
    assert elapsed >= 2.0  # 60 requests at 20 a second: the third window cannot start before 2 s


def test_server_does_count_violations_when_the_client_ignores_the_limit():
    """The control for the test above: without the client limiter the same burst is caught."""
    with FakeApiServer(limit=5, window=1.0, retry_after="0") as srv:
        srv.route("/3/movie/550", Reply(200, BODY))
        session = session_for(srv, calls=1000, policy=RetryPolicy(max_attempts=1))
        outcomes = []
        for _ in range(8):
            try:
                outcomes.append(session.get_json("/movie/550")["id"])
            except FetchError as exc:
                outcomes.append(exc.status)
        session.close()
    assert outcomes == [550] * 5 + [429] * 3
    assert len(srv.violations) == 3


@pytest.mark.parametrize("fault", ["500", "503", "timeout", "reset", "close", "truncate", "malformed", "stall",
                                   "cut", "dribble"])
def test_each_transient_fault_is_retried_until_the_body_arrives(server, fault, caplog):
    server.inject("/3/movie/550", fault)
    with caplog.at_level(logging.WARNING, logger="scripts.http_client"), session_for(server) as session:
        assert session.get_json("/movie/550") == BODY
    assert server.paths() == ["/3/movie/550", "/3/movie/550"]
    assert session.stats["retries"] == 1
    assert "retry 1/3" in caplog.text


def test_several_faults_in_a_row_then_success(server):
    server.inject("/3/movie/550", "500", "malformed", "reset")
    with session_for(server) as session:
        assert session.get_json("/movie/550") == BODY
    assert len(server.requests) == 4
    assert session.stats["status_500"] == 1 and session.stats["bad_json"] == 1


def test_429_waits_as_long_as_retry_after_says(server):
    server.retry_after = "1"
    server.inject("/3/movie/550", "429")
    with session_for(server) as session:
        started = time.monotonic()
        assert session.get_json("/movie/550") == BODY
        assert time.monotonic() - started >= 1.0
    assert session.stats["status_429"] == 1


def test_retry_after_is_capped_by_the_policy(server):
    server.retry_after = "3600"
    server.inject("/3/movie/550", "429")
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, max_retry_after=0.05)
    with session_for(server, policy=policy) as session:
        started = time.monotonic()
        assert session.get_json("/movie/550") == BODY
        assert time.monotonic() - started < 1.0


def test_exhausted_retries_fail_with_one_redacted_line_naming_endpoint_and_status(server, caplog, capsys):
    server.inject("/3/movie/550", "503", "503", "503", "503")
    with caplog.at_level(logging.DEBUG), session_for(server, params={"api_key": SECRET_KEY},
                                                      secrets=[SECRET_KEY]) as session:
        with pytest.raises(FetchError) as info:
            session.get_json("/movie/550", {"append_to_response": "credits"})
    message = str(info.value)
    assert "\n" not in message
    assert "/3/movie/550?api_key=***&append_to_response=credits" in message
    assert "failed after 4 attempts" in message and "last: HTTP 503" in message
    assert info.value.status == 503 and info.value.__cause__ is None and info.value.__suppress_context__
    assert len(server.requests) == 4
    captured = capsys.readouterr()
    assert SECRET_KEY not in caplog.text + message + captured.out + captured.err
    assert "api_key=***" in caplog.text


def test_exhausted_timeouts_report_no_status(server):
    server.inject("/3/movie/550", "timeout", "timeout")
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, read_timeout=0.2)
    with session_for(server, policy=policy) as session, pytest.raises(FetchError) as info:
        session.get_json("/movie/550")
    assert "last: no HTTP status (no answer within 0.2s)" in str(info.value)
    assert info.value.status is None


def test_404_is_raised_at_once_and_not_retried(server):
    server.inject("/3/movie/550", "404")
    with session_for(server) as session, pytest.raises(NotFoundError) as info:
        session.get_json("/movie/550")
    assert info.value.status == 404
    assert len(server.requests) == 1


@pytest.mark.parametrize("status, error", [(401, AuthError), (403, AuthError), (400, FetchError)])
def test_other_client_errors_are_not_retried(server, status, error):
    server.route("/3/refused", Reply(status, {"status_message": "Invalid API key: You must be granted a valid key."}))
    with session_for(server) as session, pytest.raises(error) as info:
        session.get_json("/refused")
    assert info.value.status == status and not isinstance(info.value, NotFoundError)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_reported():
    with FakeApiServer() as srv:
        url = srv.url
    session = PoliteSession(url, RateLimiter(100, 1.0), RetryPolicy(max_attempts=2, backoff_base=0.01,
                                                                     connect_timeout=0.2), name="gone")
    with session, pytest.raises(FetchError) as info:
        session.get_json("/anything")
    assert "connection broken" in str(info.value)
    assert session.stats["connection_errors"] == 2


def test_headers_params_and_response_hook_reach_the_server(server):
    seen = []
    with session_for(server, headers={"User-Agent": "tests/1.0"}, params={"language": "en-US"},
                     on_response=lambda response: seen.append(response.status_code)) as session:
        session.get_json("/movie/550", {"page": 2})
    request = server.requests[0]
    assert request.headers["User-Agent"] == "tests/1.0"
    assert request.query == {"language": ["en-US"], "page": ["2"]}
    assert seen == [200]


def test_urllib3_debug_log_never_shows_the_key(server, caplog):
    with caplog.at_level(logging.DEBUG), session_for(server, params={"api_key": SECRET_KEY},
                                                      secrets=[SECRET_KEY]) as session:
        session.get_json("/movie/550")
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("api_key=***" in line for line in urllib3_lines)
    assert SECRET_KEY not in caplog.text


def test_every_fault_name_is_known_to_the_server():
    assert set(FAULTS) == {"429", "500", "503", "timeout", "reset", "close", "truncate", "malformed", "404",
                           "stall", "cut", "dribble"}
    with pytest.raises(ValueError):
        FakeApiServer().inject("/x", "explode")


def test_a_body_cut_off_with_the_connection_closed_counts_as_truncated_not_broken(server, caplog):
    server.inject("/3/movie/550", "cut")
    with caplog.at_level(logging.WARNING, logger="scripts.http_client"), session_for(server) as session:
        assert session.get_json("/movie/550") == BODY
    assert session.stats["truncated"] == 1 and session.stats["connection_errors"] == 0
    assert "truncated body" in caplog.text and "connection broken" not in caplog.text


def test_a_body_that_stops_mid_way_waits_only_the_read_timeout(server):
    server.stall = 5.0
    server.inject("/3/movie/550", "dribble")
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, read_timeout=0.3, connect_timeout=0.5)
    with session_for(server, policy=policy) as session:
        started = time.monotonic()
        assert session.get_json("/movie/550") == BODY
        assert time.monotonic() - started < 2.0  # not the 5 s stall
    assert session.stats["truncated"] == 1


def test_the_deadline_bounds_a_body_that_trickles_in(server):
    def trickle(request):
        return Reply(200, b" " * 400_000 + b'{"id": 550}')

    server.route("/3/slow", trickle)
    policy = RetryPolicy(max_attempts=1, backoff_base=0.01, read_timeout=5.0, deadline=0.5)
    session = session_for(server, policy=policy)
    real = session._read_body

    def slow_read(response, status, deadline):  # the client reading slowly is the same race
        time.sleep(0.6)
        return real(response, status, deadline)

    session._read_body = slow_read
    with session, pytest.raises(FetchError) as info:
        session.get_json("/slow")
    assert "body too slow" in str(info.value)
    assert session.stats["deadline_exceeded"] == 1


def test_a_retry_waits_in_its_own_thread_while_others_complete(server):
    server.stall = 3.0
    server.inject("/3/movie/550", "stall")
    server.route("/3/movie/1", Reply(200, {"id": 1}))
    policy = RetryPolicy(max_attempts=3, backoff_base=0.01, read_timeout=0.5, connect_timeout=0.5)
    done: list[tuple[str, float]] = []
    with session_for(server, policy=policy) as session:
        started = time.monotonic()

        def get(path):
            session.get_json(path)
            done.append((path, time.monotonic() - started))

        threads = [threading.Thread(target=get, args=("/movie/550",))]
        threads += [threading.Thread(target=get, args=("/movie/1",)) for _ in range(5)]
        for thread in threads:
            thread.start()
            time.sleep(0.01)
        for thread in threads:
            thread.join()
    assert [path for path, _ in done][-1] == "/movie/550"
    assert all(at < 0.5 for path, at in done if path == "/movie/1")
