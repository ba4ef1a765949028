"""A local HTTP server standing in for TMDB and Discogs: real recorded bodies, a rate limit, faults.

It ships in `scripts/` because `make bench` measures the fetch against it (shipped code never imports
`tests/`); the API-client tests use it too. It only ever listens on 127.0.0.1.

`FakeApiServer` listens on 127.0.0.1 (port 0, so the OS picks a free one) in a background thread
(`http.server.ThreadingHTTPServer`). It:
- answers routes registered with `route()` (a fixed `Reply`, a recorded file, or a callable);
- enforces a sliding-window rate limit itself: every request arriving when the last `window` seconds
  already hold `limit` requests is answered 429 and recorded in `violations`;
- can add Discogs' `X-Discogs-Ratelimit*` headers computed from that window;
- plays faults queued per path with `inject()`: "429" (with Retry-After), "500", "503", "timeout"
  (answers after `delay` seconds, past the client's timeout), "reset" (half the body then a TCP RST),
  "close" (half the body then a clean close), "truncate" (a cut JSON body with a matching
  Content-Length), "malformed" (a non-JSON body), "404", "stall" (nothing for `stall` seconds, then
  the answer: a hung upstream), "cut" (headers and part of the body, a pause, then the connection
  closed: a body cut off mid-response), "dribble" (part of the body, then nothing for `stall` seconds
  with the connection open);
- or draws faults at random: `fault_rate` of all requests (seeded, so runs repeat) get one of
  `fault_mix`, the issue's stand-in mix being 5xx, stalls and cut-off bodies;
- announces a limit that can change while it runs (`set_limit`), enforcing what it announces.
Every request is logged in `requests` (time, path, query, headers) for assertions.

`install_tmdb()` and `install_discogs()` register the routes of the two APIs: real recorded bodies
from ../shared/data where they exist, small bodies of the documented shape where they do not.
"""
from __future__ import annotations

import copy
import json
import random
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

# ../shared/data beside the project (the real recorded API bodies); never copied into the project.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TMDB_JSON = SHARED_DATA / "tmdb_api_json"
DISCOGS_RES = SHARED_DATA / "discogs_api_json" / "joalla_discogs_client" / "discogs_client" / "tests" / "res"
MOVIE_550 = (TMDB_JSON / "krelinga_go-tmdb_json"
             / "GET_movie_550__append_to_response=credits,keywords,release_dates.body.json")
MOVIE_404 = TMDB_JSON / "krelinga_go-tmdb_json" / "GET_movie_0.body.json"
GENRES = TMDB_JSON / "jdrouet_tmdb-api" / "genre-movie-list.json"
SKIP_REASON = f"real recorded API bodies not found at {SHARED_DATA} (../shared/data beside the project)"

FAULTS = ("429", "500", "503", "timeout", "reset", "close", "truncate", "malformed", "404", "stall", "cut",
          "dribble")
# What the stand-in server of the issue injected: 5xx, 12-second stalls, bodies cut off mid-response.
NETWORK_FAULT_MIX = ("500", "503", "stall", "cut", "dribble")


def shared_data_present() -> bool:
    return TMDB_JSON.is_dir() and DISCOGS_RES.is_dir()


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict | list = b""
    headers: dict = field(default_factory=dict)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass
class Request:
    at: float
    path: str
    query: dict
    headers: dict

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


Handler = Callable[[Request], Reply]


class FakeApiServer:
    """See the module docstring. Use as a context manager; `url` is `http://127.0.0.1:<port>`."""

    def __init__(self, *, limit: int | None = None, window: float = 1.0, retry_after: str = "1",
                 delay: float = 1.0, discogs_headers: bool = False, stall: float = 12.0,
                 fault_rate: float = 0.0, fault_mix: tuple = NETWORK_FAULT_MIX, seed: int = 12,
                 fault_paths: tuple | None = None):
        unknown = set(fault_mix) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        self.limit, self.window = limit, window
        self.stall = stall
        self.fault_rate, self.fault_mix = fault_rate, tuple(fault_mix)
        self.fault_paths = fault_paths  # random faults only on paths starting with one of these
        self._random = random.Random(seed)
        self.retry_after, self.delay = retry_after, delay
        self.discogs_headers = discogs_headers
        self.report_remaining: int | None = None
        self.report_limit: int | None = None
        self.requests: list[Request] = []
        self.violations: list[Request] = []
        self.faults_played: list[tuple[str, str]] = []
        self._routes: list[tuple[str, bool, Handler]] = []
        self._faults: dict[str, deque] = {}
        self._arrivals: deque[float] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, path: str, answer: Reply | Handler | Path | dict | list, *, prefix: bool = False) -> None:
        """Answer GET `path` (or every path starting with it when `prefix`) with `answer`."""
        if isinstance(answer, Path):
            body = answer.read_bytes()
            def handler(request, body=body):
                return Reply(200, body, {"Content-Type": "application/json"})
        elif isinstance(answer, Reply):
            def handler(request, reply=answer):
                return reply
        elif isinstance(answer, (dict, list)):
            def handler(request, payload=answer):
                return Reply(200, payload)
        else:
            handler = answer
        self._routes.insert(0, (path, prefix, handler))

    def inject(self, path: str, *faults: str) -> None:
        """Play `faults` on the next requests to exactly `path`, in order, then answer normally."""
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {unknown}")
        with self._lock:
            self._faults.setdefault(path, deque()).extend(faults)

    def set_limit(self, limit: int) -> None:
        """Announce and enforce `limit` requests per window from now on (Discogs raising or lowering it)."""
        with self._lock:
            self.limit = self.report_limit = int(limit)

    def paths(self, prefix: str = "") -> list[str]:
        with self._lock:
            return [r.path for r in self.requests if r.path.startswith(prefix)]

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeApiServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        owner = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the second waits for a delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server naming)
                owner._serve(self)

        class _Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address) -> None:
                pass  # broken pipes after injected faults and client timeouts are expected

        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _admit(self, request: Request) -> tuple[bool, int]:
        """Count the request in the sliding window; False when it is one too many."""
        with self._lock:
            self.requests.append(request)
            while self._arrivals and self._arrivals[0] <= request.at - self.window:
                self._arrivals.popleft()
            self._arrivals.append(request.at)
            used = len(self._arrivals)
            if self.limit is not None and used > self.limit:
                self.violations.append(request)
                return False, used
            return True, used

    def _next_fault(self, path: str) -> str | None:
        with self._lock:
            queue = self._faults.get(path)
            if queue:
                fault = queue.popleft()
                self.faults_played.append((path, fault))
                return fault
            if self.fault_rate and (self.fault_paths is None or path.startswith(self.fault_paths)) \
                    and self._random.random() < self.fault_rate:
                fault = self._random.choice(self.fault_mix)
                self.faults_played.append((path, fault))
                return fault
        return None

    def _answer(self, request: Request) -> Reply:
        for path, prefix, handler in self._routes:
            if request.path == path or (prefix and request.path.startswith(path)):
                return handler(request)
        return Reply(404, {"message": "The requested resource was not found."})

    def _serve(self, http: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(http.path)
        request = Request(time.monotonic(), parts.path, parse_qs(parts.query), dict(http.headers.items()))
        admitted, used = self._admit(request)
        extra: dict = {}
        if self.discogs_headers:
            limit = self.report_limit or self.limit or 60
            remaining = max(0, limit - used) if self.report_remaining is None else self.report_remaining
            extra = {"X-Discogs-Ratelimit": str(limit), "X-Discogs-Ratelimit-Used": str(min(used, limit)),
                     "X-Discogs-Ratelimit-Remaining": str(remaining)}
        if not admitted:
            return self._send(http, Reply(429, {"message": "You are making requests too quickly."},
                                          {"Retry-After": self.retry_after, **extra}))
        fault = self._next_fault(request.path)
        if fault in ("429", "500", "503", "404"):
            headers = {"Retry-After": self.retry_after} if fault == "429" else {}
            return self._send(http, Reply(int(fault), {"status_message": f"injected {fault}"}, {**headers, **extra}))
        reply = self._answer(request)
        reply = Reply(reply.status, reply.body, {**reply.headers, **extra})
        if fault == "timeout":
            time.sleep(self.delay)
        elif fault == "stall":
            time.sleep(self.stall)
        elif fault == "malformed":
            reply = Reply(200, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "application/json"})
        elif fault == "truncate":
            body = reply.payload()
            reply = Reply(reply.status, body[: max(1, len(body) // 2)], reply.headers)
        elif fault in ("reset", "close"):
            return self._send_cut(http, reply, reset=fault == "reset")
        elif fault == "cut":
            return self._send_cut(http, reply, reset=False, pause=min(self.stall, 0.2))
        elif fault == "dribble":
            return self._send_cut(http, reply, reset=False, pause=self.stall)
        self._send(http, reply)

    @staticmethod
    def _head(http: BaseHTTPRequestHandler, reply: Reply, length: int) -> None:
        http.send_response(reply.status)
        headers = {"Content-Type": "application/json;charset=utf-8", **reply.headers}
        for name, value in headers.items():
            http.send_header(name, value)
        http.send_header("Content-Length", str(length))
        http.end_headers()

    def _send(self, http: BaseHTTPRequestHandler, reply: Reply) -> None:
        body = reply.payload()
        self._head(http, reply, len(body))
        http.wfile.write(body)

    def _send_cut(self, http: BaseHTTPRequestHandler, reply: Reply, *, reset: bool, pause: float = 0.0) -> None:
        """Announce the whole body, send half of it, wait `pause` seconds, then drop the connection."""
        body = reply.payload()
        self._head(http, reply, len(body))
        http.wfile.write(body[: len(body) // 2])
        http.wfile.flush()
        if pause:
            time.sleep(pause)
        http.close_connection = True
        if reset:  # SO_LINGER 0 turns close() into a TCP RST
            http.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            http.connection.close()
        else:
            http.connection.shutdown(socket.SHUT_RDWR)


def tmdb_movie_body(movie_id: int) -> dict:
    """The real recorded movie-550 body, with `id` and `title` changed for other ids."""
    body = json.loads(MOVIE_550.read_text(encoding="utf-8"))
    if movie_id != 550:
        body = copy.deepcopy(body)
        body["id"] = movie_id
        body["title"] = f"Film {movie_id} ({body['title']})"
    return body


def install_tmdb(server: FakeApiServer, *, missing: tuple[int, ...] = (0,), catalogue: dict | None = None,
                 dense_days: int = 16, single_day_pages: int | None = None) -> None:
    """TMDB v3 routes under `/3`: `/movie/{id}` (the real 550 body; 404 with the real error body for
    `missing` ids), `/genre/movie/list` (real), `/discover/movie` over `catalogue` {id: "YYYY-MM-DD"}.

    Discover pretends the catalogue is dense: a window longer than `dense_days` days reports 501
    pages, so a client must split it; shorter windows report their true page count (20 a page).
    `single_day_pages` forces that many pages for one-day windows (pages past the data are empty).
    """
    movie_bodies: dict[int, bytes] = {}
    not_found = MOVIE_404.read_bytes()

    def movie(request: Request) -> Reply:
        try:
            movie_id = int(request.path.rsplit("/", 1)[1])
        except ValueError:
            return Reply(404, not_found)
        if movie_id in missing:
            return Reply(404, not_found)
        if movie_id not in movie_bodies:
            movie_bodies[movie_id] = json.dumps(tmdb_movie_body(movie_id), ensure_ascii=False).encode("utf-8")
        return Reply(200, movie_bodies[movie_id])

    def discover(request: Request) -> Reply:
        gte = date.fromisoformat(request.param("primary_release_date.gte"))
        lte = date.fromisoformat(request.param("primary_release_date.lte"))
        page = int(request.param("page", "1"))
        films = sorted(((day, movie_id) for movie_id, day in (catalogue or {}).items()
                        if gte <= date.fromisoformat(day) <= lte),
                       reverse=request.param("sort_by", "") == "primary_release_date.desc")
        total_pages = max(1, -(-len(films) // 20))
        if (lte - gte).days + 1 > dense_days:
            total_pages = 501
        elif single_day_pages is not None and gte == lte:
            total_pages = single_day_pages
        if page > 500:
            return Reply(400, {"success": False, "status_code": 22, "status_message": "Invalid page."})
        chunk = films[(page - 1) * 20: page * 20]
        results = [{"adult": False, "id": movie_id, "title": f"Film {movie_id}", "release_date": day,
                    "genre_ids": [18], "popularity": 1.0, "video": False} for day, movie_id in chunk]
        return Reply(200, {"page": page, "results": results, "total_pages": total_pages,
                           "total_results": total_pages * 20 if total_pages == 501 else len(films)})

    server.route("/3/movie/", movie, prefix=True)
    server.route("/3/genre/movie/list", GENRES)
    server.route("/3/discover/movie", discover)


def write_id_export(path: Path, ids: list[int], *, adult: tuple[int, ...] = (), video: tuple[int, ...] = (),
                    bad_lines: int = 0) -> Path:
    """A TMDB daily ID export of the documented shape (gzip, one JSON object a line)."""
    import gzip

    lines = [json.dumps({"adult": i in adult, "id": i, "original_title": f"Film {i}", "popularity": 0.6,
                         "video": i in video}, separators=(",", ":")) for i in ids]
    lines += ["{not json"] * bad_lines
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def discogs_master_body(master_id: int, main_release: int) -> dict:
    """A soundtrack master of the documented shape (no real soundtrack body was recorded)."""
    return {"id": master_id, "title": f"Soundtrack {master_id}", "year": 2009, "main_release": main_release,
            "main_release_url": f"https://api.discogs.com/releases/{main_release}",
            "artists": [{"id": 1, "name": "Michael Giacchino", "anv": "", "join": "", "role": "",
                         "resource_url": "https://api.discogs.com/artists/1"}],
            "genres": ["Stage & Screen"], "styles": ["Soundtrack", "Score"], "data_quality": "Correct",
            "resource_url": f"https://api.discogs.com/masters/{master_id}"}


def discogs_release_body(release_id: int, master_id: int | None) -> dict:
    """A soundtrack release of the documented shape."""
    body = {"id": release_id, "status": "Accepted", "title": f"Soundtrack release {release_id}", "year": 2009,
            "released": "2009-05-05", "country": "US",
            "artists": [{"id": 1, "name": "Michael Giacchino", "anv": "", "join": "", "role": ""}],
            "extraartists": [{"id": 2, "name": "Michael Giacchino", "anv": "", "join": "", "role": "Composed By"}],
            "genres": ["Stage & Screen"], "styles": ["Score"],
            "formats": [{"name": "CD", "qty": "1", "text": "", "descriptions": ["Album"]}],
            "labels": [{"id": 5, "name": "Varèse Sarabande", "catno": "302 066 980 2"}], "data_quality": "Correct"}
    if master_id:
        body["master_id"] = master_id
    return body


@dataclass
class DiscogsCatalogue:
    """Search results and bodies served by `install_discogs`.

    masters: master id -> main release id; releases: release id -> master id (or None).
    Real recorded bodies are used for master 4242 and releases 79, 1, 2, 3 when listed.
    """

    masters: dict = field(default_factory=dict)
    releases: dict = field(default_factory=dict)
    missing_masters: tuple = ()
    missing_releases: tuple = ()
    per_page_override: int | None = None
    absolute_next: bool = True
    omit_next: bool = False  # pagination.urls without `next` although pages remain (seen in the wild)


def install_discogs(server: FakeApiServer, catalogue: DiscogsCatalogue) -> None:
    """Discogs routes: `/database/search` (paged over the catalogue for any style, with a documented
    `pagination` block whose `urls.next` points at api.discogs.com like today's API), `/masters/{id}`,
    `/releases/{id}` (real recorded bodies where they exist) and `/artists/1/releases` (the real two-page
    recording)."""

    def search(request: Request) -> Reply:
        kind = request.param("type")
        if kind == "master":
            items = [{"type": "master", "id": mid, "main_release": main, "master_id": mid,
                      "title": f"Soundtrack {mid}", "genre": ["Stage & Screen"], "style": [request.param("style")],
                      "resource_url": f"https://api.discogs.com/masters/{mid}"}
                     for mid, main in sorted(catalogue.masters.items())]
        else:
            items = [{"type": "release", "id": rid, "master_id": mid or 0, "title": f"Soundtrack release {rid}",
                      "genre": ["Stage & Screen"], "style": [request.param("style")],
                      "resource_url": f"https://api.discogs.com/releases/{rid}"}
                     for rid, mid in sorted(catalogue.releases.items())]
        per_page = catalogue.per_page_override or int(request.param("per_page", "50"))
        page = int(request.param("page", "1"))
        pages = max(1, -(-len(items) // per_page))
        urls = {}
        base = "https://api.discogs.com" if catalogue.absolute_next else ""
        query = f"genre={request.param('genre')}&style={request.param('style')}&type={kind}&per_page={per_page}"
        if page < pages and not catalogue.omit_next:
            urls["next"] = f"{base}/database/search?{query}&page={page + 1}"
        if page < pages:
            urls["last"] = f"{base}/database/search?{query}&page={pages}"
        return Reply(200, {"pagination": {"page": page, "pages": pages, "per_page": per_page, "items": len(items),
                                          "urls": urls},
                           "results": items[(page - 1) * per_page: page * per_page]})

    def master(request: Request) -> Reply:
        mid = int(request.path.rsplit("/", 1)[1])
        if mid in catalogue.missing_masters:
            return Reply(404, {"message": "Master not found."})
        recorded = DISCOGS_RES / "masters" / f"{mid}.json"
        if recorded.is_file():
            return Reply(200, recorded.read_bytes())
        if mid not in catalogue.masters:
            return Reply(404, {"message": "Master not found."})
        return Reply(200, discogs_master_body(mid, catalogue.masters[mid]))

    def release(request: Request) -> Reply:
        rid = int(request.path.rsplit("/", 1)[1])
        if rid in catalogue.missing_releases:
            return Reply(404, {"message": "Release not found."})
        recorded = DISCOGS_RES / "releases" / f"{rid}.json"
        if recorded.is_file():
            return Reply(200, recorded.read_bytes())
        master_of = catalogue.releases.get(rid)
        if master_of is None:
            master_of = next((m for m, main in catalogue.masters.items() if main == rid), None)
        return Reply(200, discogs_release_body(rid, master_of))

    def artist_releases(request: Request) -> Reply:
        page = request.param("page", "1")
        return Reply(200, (DISCOGS_RES / "artists" / "1" / f"releases_per_page=50&page={page}.json").read_bytes())

    server.route("/database/search", search)
    server.route("/masters/", master, prefix=True)
    server.route("/releases/", release, prefix=True)
    server.route("/artists/1/releases", artist_releases)
