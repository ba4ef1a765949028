"""A polite JSON-over-HTTP session shared by the TMDB and Discogs clients.

What it adds to a `requests.Session`:
- a client-side rate limiter (`RateLimiter`, a thread-safe sliding window) that every attempt, retries
  included, passes through, so no window of `period` seconds ever holds more than `max_calls` requests;
- retries with `tenacity`: 429 honours `Retry-After`; 5xx, timeouts, connection resets, truncated and
  malformed JSON bodies back off exponentially with full jitter, up to `RetryPolicy.max_attempts`;
  then one `FetchError` whose one-line message names the endpoint and the last status. A retry
  sleeps in its own thread: the callers run requests in a pool, so the others go on meanwhile;
- time bounds sized to the API: a connect timeout, a read timeout (seconds without a byte) and a
  deadline for the whole attempt, checked while the body is read in chunks, so a server that stalls
  or trickles costs at most `deadline` seconds, never an unbounded wait. A body cut off by a closed
  connection is reported as truncated (and counted), like one shorter than its Content-Length;
- 404 raised at once as `NotFoundError` (callers count it), other 4xx as `FetchError` (401/403 as
  `AuthError`), never retried;
- secret-free logging: every URL that reaches a log line or an exception goes through `redact()`, the
  session's secrets are registered with a `RedactingFilter` that also guards urllib3's debug log
  (it prints request URLs, query string included), and no `requests` exception is chained (their
  text holds the full URL).
"""
from __future__ import annotations

import email.utils
import json
import logging
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_attempt

logger = logging.getLogger(__name__)

REDACTED = "***"
_SECRET_PARAM = re.compile(
    r"(?i)\b(api_key|apikey|access_token|token|secret|password|session_id|key)(=|%3D)([^&#\s'\"<>]+)"
)
_BEARER = re.compile(r"(?i)\b(bearer)(\s+)([A-Za-z0-9._~+/=-]+)")
_known_secrets: set[str] = set()
_known_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Have `redact()` (and so every `RedactingFilter`) mask `value` wherever it appears."""
    if value and len(value) >= 4:
        with _known_secrets_lock:
            _known_secrets.add(value)


def redact(text: Any, secrets: Iterable[str | None] = ()) -> str:
    """`text` with secrets masked: values of key/token-like query parameters, `Bearer` tokens, and
    every registered or given secret value.

    >>> redact("https://api.themoviedb.org/3/movie/550?api_key=abc123&language=en")
    'https://api.themoviedb.org/3/movie/550?api_key=***&language=en'
    """
    out = _SECRET_PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", str(text))
    out = _BEARER.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", out)
    with _known_secrets_lock:
        values = set(_known_secrets)
    values.update(s for s in secrets if s)
    for value in sorted(values, key=len, reverse=True):
        out = out.replace(value, REDACTED)
    return out


class RedactingFilter(logging.Filter):
    """Rewrites a record's message through `redact()` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = RedactingFilter()
# urllib3 logs "GET /3/movie/1?api_key=... HTTP/1.1" at DEBUG: its logger gets the filter too.
GUARDED_LOGGERS = ("urllib3.connectionpool", "scripts.http_client", "scripts.tmdb_client",
                   "scripts.discogs_client", "scripts.acquire")


def install_log_redaction(handlers: Iterable[logging.Handler] = ()) -> None:
    """Attach the shared `RedactingFilter` to the loggers that may see URLs and to `handlers`
    (an entry point passes the handlers it configured, so whatever reaches them is redacted).
    Idempotent."""
    targets = [logging.getLogger(name) for name in GUARDED_LOGGERS] + list(handlers)
    for target in targets:
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)


class FetchError(RuntimeError):
    """A request failed for good. The message is one line, secret-free, naming endpoint and status."""

    def __init__(self, message: str, *, endpoint: str = "", status: int | None = None):
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status


class NotFoundError(FetchError):
    """HTTP 404: the resource does not exist (deleted film, merged Discogs release). Not retried."""


class AuthError(FetchError):
    """HTTP 401/403: the credentials were refused. Not retried."""


class _RetryableError(Exception):
    """One attempt failed in a way worth retrying; `describe` is secret-free."""

    def __init__(self, describe: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(describe)
        self.describe = describe
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Times in seconds; tests shrink them (e.g. `backoff_base=0.01`).

    `read_timeout` is the longest silence while waiting for a byte; `deadline` bounds one whole
    attempt (connect, headers and body). Both are sized to the API (a TMDB detail body arrives in
    well under a second), so a hung request is given up and retried rather than waited on.
    """

    max_attempts: int = 6
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    max_retry_after: float = 300.0
    connect_timeout: float = 3.05
    read_timeout: float = 5.0
    deadline: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or min(self.connect_timeout, self.read_timeout, self.deadline) <= 0:
            raise ValueError(f"RetryPolicy needs max_attempts >= 1 and positive timeouts, got {self}")

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before retry number `attempt` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_base * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)


class RateLimiter:
    """At most `max_calls` request starts in any `period` seconds (a sliding window), thread-safe.

    `safety` widens the window by that fraction (a margin for the server's own clock). Jitter between
    the moment a request starts here and the moment the server counts it is handled by `confirm`:
    the window counts each request from when its response began to arrive, by which time the server
    has surely counted it.
    Starts are also spaced at least `window / max_calls` apart (no bursts; see `acquire`).
    `defer()` lets response headers slow the pace further (Discogs' remaining-requests header).
    """

    def __init__(self, max_calls: int, period: float, *, safety: float = 0.02,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        if max_calls < 1 or period <= 0:
            raise ValueError(f"rate limit needs max_calls >= 1 and period > 0, got {max_calls}/{period}s")
        self.max_calls = int(max_calls)
        self.period = float(period)
        self.safety = float(safety)
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._starts: deque[list] = deque(maxlen=self.max_calls)
        self.max_confirm_delay = 0.25
        self._not_before = 0.0
        self.waited = 0.0

    @property
    def window(self) -> float:
        return self.period * (1.0 + self.safety)

    def acquire(self) -> float:
        """Block until a request may start; return the seconds waited. See `take` for the slot."""
        return self.take()[0]

    def take(self) -> tuple[float, list]:
        """Block until a request may start; return the seconds waited and the request's slot, which
        `confirm()` moves to when the server has surely seen the request."""
        with self._lock:
            now = self._clock()
            start = max(now, self._not_before)
            if self._starts:
                # Evenly spaced, not in bursts: a burst queues up on the way (connection set-up, the
                # server's accept loop), arrives spread out, and its late arrivals then share the
                # server's window with the next burst's early ones: 429s although the client kept count.
                start = max(start, self._starts[-1][0] + self.window / self.max_calls)
            if len(self._starts) >= self.max_calls:
                start = max(start, self._starts[0][0] + self.window)
            slot = [start, start]  # [when the window counts it from, when it was planned]
            self._starts.append(slot)
            wait = start - now
            self.waited += max(wait, 0.0)
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0), slot

    def confirm(self, slot: list, at: float | None = None) -> None:
        """The response to the request of `slot` began to arrive at `at` (default now): the server
        counted the request between its planned start and then. The window counts it from the later
        of the two (up to `max_confirm_delay` of the window after the plan), so a thread that woke
        late or a request that took long to reach the server cannot make the request `max_calls`
        later land inside the server's window of this one."""
        at = self._clock() if at is None else at
        with self._lock:
            slot[0] = max(slot[0], min(at, slot[1] + self.max_confirm_delay * self.period))

    def set_limit(self, max_calls: int) -> None:
        """Change the number of calls allowed per period (e.g. to what the server announces)."""
        max_calls = max(1, int(max_calls))
        with self._lock:
            if max_calls != self.max_calls:
                self.max_calls = max_calls
                self._starts = deque(list(self._starts)[-max_calls:], maxlen=max_calls)

    def defer(self, seconds: float) -> None:
        """Let no request start earlier than `seconds` from now."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + max(0.0, seconds))


_shared_limiters: dict[tuple, RateLimiter] = {}
_shared_limiters_lock = threading.Lock()


def shared_limiter(api: str, base_url: str, max_calls: int, period: float, *, safety: float = 0.02) -> RateLimiter:
    """The process-wide limiter for one API at one base URL and limit.

    Clients created one after another (a fetch per call of `acquire`) then share one window: a fresh
    limiter per client would let a new client burst while the old one's requests still count.
    """
    key = (api, base_url.rstrip("/"), int(max_calls), float(period), float(safety))
    with _shared_limiters_lock:
        limiter = _shared_limiters.get(key)
        if limiter is None:
            limiter = _shared_limiters[key] = RateLimiter(max_calls, period, safety=safety)
        return limiter


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None if absent/bad."""
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class PoliteSession:
    """GET JSON from one API with a rate limit, retries and secret-free logging.

    Args:
        base_url: the API root, e.g. `https://api.themoviedb.org/3`; paths are appended to it.
        limiter: shared by every thread using this session.
        policy: retries, backoff and timeouts.
        headers: sent with every request (auth, User-Agent).
        params: query parameters sent with every request (TMDB's v3 `api_key`).
        secrets: values to mask in logs and messages (they are also registered globally).
        on_response: called with each `requests.Response` before its status is judged.
        name: a short label for log lines ("tmdb", "discogs").
    """

    def __init__(self, base_url: str, limiter: RateLimiter, policy: RetryPolicy = RetryPolicy(), *,
                 headers: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                 secrets: Iterable[str | None] = (),
                 on_response: Callable[[requests.Response], None] | None = None,
                 name: str = "http", pool_size: int = 8, sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.policy = policy
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.secrets = tuple(s for s in secrets if s)
        for secret in self.secrets:
            register_secret(secret)
        install_log_redaction()
        self.on_response = on_response
        self.name = name
        self.pool_size = pool_size
        self._sleep = sleep
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self.stats: Counter = Counter()

    def _session(self) -> requests.Session:
        # One Session per thread: requests does not promise a shared Session is thread-safe.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=self.pool_size, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self.headers)
            session.trust_env = False  # no proxies or .netrc credentials picked up from the environment
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def count(self, key: str, n: int = 1) -> None:
        """Add `n` to the counter `key` of `stats` (thread-safe)."""
        with self._lock:
            self.stats[key] += n

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()

    def __enter__(self) -> PoliteSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def url_for(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """The full request URL (secrets included: never log it without `redact`)."""
        merged = {**self.params, **(params or {})}
        return requests.Request("GET", f"{self.base_url}/{path.lstrip('/')}", params=merged).prepare().url

    def redact(self, text: Any) -> str:
        return redact(text, self.secrets)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `base_url/path` with `params` and return the decoded JSON body.

        Raises:
            NotFoundError: HTTP 404.
            AuthError: HTTP 401 or 403.
            FetchError: another 4xx, or retries exhausted (5xx, 429, timeouts, broken bodies).
        """
        url = self.url_for(path, params)
        shown = self.redact(url)
        policy = self.policy

        def wait(retry_state) -> float:
            exc = retry_state.outcome.exception()
            if isinstance(exc, _RetryableError) and exc.retry_after is not None:
                # The server said how long; a little jitter keeps parallel workers from returning together.
                return min(exc.retry_after, policy.max_retry_after) + random.uniform(0, policy.backoff_base)
            return policy.backoff(retry_state.attempt_number)

        def before_sleep(retry_state) -> None:
            exc = retry_state.outcome.exception()
            self.count("retries")
            logger.warning("%s GET %s: %s; retry %d/%d in %.2fs", self.name, shown, getattr(exc, "describe", exc),
                           retry_state.attempt_number, policy.max_attempts - 1, retry_state.next_action.sleep)

        retrying = Retrying(stop=stop_after_attempt(policy.max_attempts), wait=wait,
                            retry=retry_if_exception_type(_RetryableError), before_sleep=before_sleep,
                            sleep=self._sleep, reraise=False)
        try:
            return retrying(self._attempt, url, shown)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            status = getattr(last, "status", None)
            what = f"HTTP {status}" if status else "no HTTP status"
            self.count("failed")
            raise FetchError(
                f"{self.name} GET {shown} failed after {policy.max_attempts} attempts; "
                f"last: {what} ({getattr(last, 'describe', type(last).__name__)})",
                endpoint=shown, status=status,
            ) from None

    def _attempt(self, url: str, shown: str) -> Any:
        _, slot = self.limiter.take()
        self.count("requests")
        started = time.monotonic()
        deadline = started + self.policy.deadline
        timeout = (self.policy.connect_timeout, self.policy.read_timeout)
        try:
            response = self._session().get(url, timeout=timeout, stream=True)
        except requests.Timeout:
            self.count("timeouts")
            raise _RetryableError(f"no answer within {self.policy.read_timeout:g}s") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            self.count("connection_errors")
            raise _RetryableError(f"connection broken ({type(exc).__name__})") from None
        self.limiter.confirm(slot)
        try:
            status = response.status_code
            self.count(f"status_{status}")
            if self.on_response is not None:
                self.on_response(response)
            body = self._read_body(response, status, deadline)
        finally:
            response.close()
        logger.debug("%s GET %s -> %d in %.0f ms", self.name, shown, status, 1000 * (time.monotonic() - started))
        if status == 429:
            raise _RetryableError("HTTP 429 rate limited", 429, parse_retry_after(response.headers.get("Retry-After")))
        if status >= 500:
            raise _RetryableError(f"HTTP {status}", status, parse_retry_after(response.headers.get("Retry-After")))
        if status == 404:
            raise NotFoundError(f"{self.name} GET {shown}: HTTP 404 not found", endpoint=shown, status=404)
        if status in (401, 403):
            raise AuthError(f"{self.name} GET {shown}: HTTP {status}, the credentials were refused",
                            endpoint=shown, status=status)
        if status >= 400:
            text = body[:200].decode("utf-8", errors="replace")
            raise FetchError(f"{self.name} GET {shown}: HTTP {status} {self.redact(text)!r}",
                             endpoint=shown, status=status)
        try:
            return json.loads(body)
        except ValueError:
            self.count("bad_json")
            raise _RetryableError(f"malformed JSON body ({len(body)} bytes)", status) from None

    def _read_body(self, response: requests.Response, status: int, deadline: float) -> bytes:
        """The whole body, read in chunks against the attempt's deadline.

        A server that stops sending mid-body (read timeout), closes the connection mid-body, sends
        fewer bytes than its Content-Length, or trickles past the deadline gives a retryable
        "truncated"/"too slow" error, never a silent short body or an unbounded wait.
        """
        declared = response.headers.get("Content-Length")
        # Compare lengths only for a body sent as is: requests decompresses gzip bodies as it reads.
        expected = int(declared) if declared and declared.isdigit() and \
            not response.headers.get("Content-Encoding") else None
        chunks: list[bytes] = []
        got = 0
        try:
            for chunk in response.iter_content(chunk_size=65536):
                chunks.append(chunk)
                got += len(chunk)
                if time.monotonic() > deadline:
                    self.count("deadline_exceeded")
                    raise _RetryableError(f"body too slow: {got} bytes in the {self.policy.deadline:g}s deadline",
                                          status)
        except (requests.exceptions.ChunkedEncodingError, requests.ConnectionError,
                requests.exceptions.ContentDecodingError, requests.Timeout) as exc:
            self.count("truncated")
            of = f" of {expected}" if expected is not None else ""
            raise _RetryableError(f"truncated body ({got}{of} bytes; {type(exc).__name__})", status) from None
        body = b"".join(chunks)
        if expected is not None and len(body) < expected:
            self.count("truncated")
            raise _RetryableError(f"truncated body ({len(body)} of {expected} bytes)", status)
        return body


class ApiClient:
    """What the API clients share: a `PoliteSession` in `self.http`, closed on `close()` or at the
    end of a `with` block."""

    http: PoliteSession

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
