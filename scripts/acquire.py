"""Fill `raw/` from live sources: TMDB and Discogs APIs, a downloaded Discogs dump, the Kaggle CSV pair.

Whatever the source, the result is the `raw/` input contract of docs/contracts.md:
- `raw/tmdb/api_movies_<UTC stamp>_<seq>.jsonl`: one `/movie/{id}?append_to_response=credits,keywords,
  external_ids` body per line; `raw/tmdb/_genres.json`: the `/genre/movie/list` body;
- `raw/discogs/api_masters_<stamp>_<seq>.jsonl` and `api_releases_...jsonl`: `/masters/{id}` and
  `/releases/{id}` bodies (the Spark step routes on "master"/"release" in the name);
- `raw/discogs/<dump file>` (+ its CHECKSUM file) for `dump`; `raw/tmdb/2017_kaggle_tmdb_5000.jsonl.gz`
  for `kaggle`.

Fetches keep the request pipeline full: detail look-ups run in a pool and are written as they
complete, out of order, so one slow or broken response never idles the others (a retry waits in its
own thread). Order matters only for the resume position: a discover or search position is saved as
the oldest page whose look-ups are not all written, so a killed run loses nothing.
Progress goes to a tqdm bar on a terminal and to a log line every `progress_seconds` otherwise, with
a total and an ETA; the expected duration is logged before a long fetch starts.

Fetches are resumable and incremental. Each folder has a checkpoint `_state.json` (ids fetched per
day, ids not found, search/discover positions, committed byte length of every part file), replaced
atomically after each batch (at most every `checkpoint_seconds`). Part files are append-only and a
new run opens new parts, so later fetches sort later (the Spark step keeps the latest copy of an id).
On start, bytes a killed run appended after its last checkpoint are re-read: complete lines count as
fetched, a partial last line is cut off. A re-run fetches only ids not fetched yet, or fetched more
than `--max-age-days` ago. Files starting with "_" or "." are skipped by the Spark step.

Command line (exit codes: 0 ok, 1 a fetch or check failed, 2 usage error or missing key)::

    python -m scripts.acquire tmdb [--ids 550,13475] [--ids-file F] [--id-export movie_ids_MM_DD_YYYY.json.gz]
                                   [--from YYYY-MM-DD --to YYYY-MM-DD] [--limit N] [--raw DIR]
    python -m scripts.acquire discogs [--max-pages N] [--limit N] [--raw DIR]
    (both: [--rate N] [--workers N] [--timeout S] [--retries N] [--backoff S] [--max-age-days D] [--rewalk];
    left out, rate, workers and timeouts come from Settings: TMDB_RATE_PER_SECOND, TMDB_WORKERS, ...)
    python -m scripts.acquire dump FILE [FILE ...] [--checksum CHECKSUM.txt] [--no-verify] [--raw DIR]
    python -m scripts.acquire kaggle MOVIES.csv [--credits CREDITS.csv] [--raw DIR]
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import filecmp
import json
import logging
import os
import queue
import shutil
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from scripts.console import say
from scripts.discogs_client import SEARCH_TYPES, DiscogsClient, missing_discogs_token_error
from scripts.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from scripts.http_client import AuthError, FetchError, NotFoundError, RetryPolicy, install_log_redaction, redact
from scripts.raw_folder import as_raw_folder, lake_raw_folder
from scripts.settings import ConfigError, Settings, load_settings
from scripts.tmdb_client import (
    EARLIEST_RELEASE,
    MAX_DISCOVER_PAGES,
    ExportStats,
    TmdbClient,
    iter_export_ids,
    missing_tmdb_key_error,
)

logger = logging.getLogger(__name__)


STATE_FILE = "_state.json"
LOCK_FILE = "_fetch.lock"
TMDB_KINDS = {"movies": "api_movies"}
DISCOGS_KINDS = {"masters": "api_masters", "releases": "api_releases"}
GENRES_FILE = "_genres.json"
STATE_VERSION = 1

DateLike = date | str


class StoreBusyError(RuntimeError):
    """Another fetch holds the lock on this raw folder."""


@dataclass
class FetchTuning:
    """Knobs of a fetch. Rate, worker, timeout and base-URL fields left None come from `Settings`
    (`FetchTuning.resolved`); tests and the benchmark set them to shrink the times.

    `tmdb_rate_per_second` is shared by `tmdb_workers` threads. Discogs starts at `discogs_max_calls`
    per `discogs_period` seconds (default 60 a minute with a token) and follows the server's
    announced limit up to `discogs_ceiling`, with `discogs_workers` threads.
    `max_age_days`: re-fetch records older than this (None: never). A finished search or discover
    walk is walked again when older than `search_max_age_days` (0: now, `--rewalk`).
    `on_record(kind, id)` is called after each record is written (progress hooks, tests).
    `max_consecutive_failures` look-ups failing for good in a row abort the run (the API is down);
    fewer are counted in `failed` and asked again by the next run.
    """

    tmdb_base_url: str | None = None
    discogs_base_url: str | None = None
    tmdb_rate_per_second: int | None = None
    tmdb_workers: int | None = None
    discogs_max_calls: int | None = None
    discogs_period: float = 60.0
    discogs_ceiling: int | None = None
    discogs_workers: int | None = None
    policy: RetryPolicy | None = None
    safety: float = 0.02
    checkpoint_seconds: float = 2.0
    batch_size: int = 100
    part_records: int = 50_000
    max_age_days: float | None = None
    search_max_age_days: float = 7.0
    max_discover_pages: int = MAX_DISCOVER_PAGES
    progress: bool | None = None
    progress_seconds: float = 30.0
    max_consecutive_failures: int = 20
    on_record: Callable[[str, int], None] | None = None


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _age_days(iso_day: str | None, today: date) -> float:
    if not iso_day:
        return float("inf")
    try:
        return (today - date.fromisoformat(iso_day[:10])).days
    except ValueError:
        return float("inf")


def _lines(data: bytes) -> list[bytes]:
    """`data` cut after each newline (only b"\\n": a stray \\r inside a line is the line's)."""
    lines = [line + b"\n" for line in data.split(b"\n")]
    lines[-1] = lines[-1][:-1]
    return [line for line in lines if line]


def _json_bytes(payload) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class RawStore:
    """Append-only JSON-lines part files of API bodies in one raw folder, with their checkpoint.

    Args:
        folder: e.g. `raw/tmdb`; created if missing.
        kinds: record kind -> file prefix, e.g. `{"masters": "api_masters"}`.
        part_records: start a new part after this many lines.
        checkpoint_seconds: `checkpoint()` writes at most this often unless forced.

    Use as a context manager: entering locks the folder and repairs what a killed run left;
    leaving writes a final checkpoint.
    """

    def __init__(self, folder: Path, kinds: Mapping[str, str], *, part_records: int = 50_000,
                 checkpoint_seconds: float = 2.0, today: Callable[[], date] = date.today):
        self.fs = as_raw_folder(folder)
        self.folder = self.fs  # shown in messages; file operations go through self.fs (local or lake)
        self.kinds = dict(kinds)
        self.part_records = part_records
        self.checkpoint_seconds = checkpoint_seconds
        self._today = today
        self.state: dict = {}
        self._fetched: dict[str, dict[int, str]] = {kind: {} for kind in self.kinds}
        self._missing: dict[str, dict[int, str]] = {kind: {} for kind in self.kinds}
        self._handles: dict[str, object] = {}
        self._part_lines: dict[str, int] = {}
        self._seq = 0
        self._stamp = _utc_stamp()
        self._last_checkpoint = 0.0
        self._lock_handle = None
        self.repaired = Counter()

    def __enter__(self) -> RawStore:
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        self.fs.mkdir()
        self.fs.lock(LOCK_FILE, StoreBusyError(f"another fetch is writing into {self.folder}; wait for it to finish"))
        self.state = self._load_state()
        self._fetched = {kind: self._ungroup(self.state["fetched"].get(kind, {})) for kind in self.kinds}
        self._missing = {kind: self._ungroup(self.state["missing"].get(kind, {})) for kind in self.kinds}
        self._reconcile()
        self.checkpoint(force=True)

    def close(self) -> None:
        try:
            if self.state:
                self.checkpoint(force=True)
        finally:
            for handle in self._handles.values():
                handle.close()
            self._handles.clear()
            self.fs.unlock()

    @staticmethod
    def _ungroup(grouped: Mapping[str, Iterable[int]]) -> dict[int, str]:
        flat: dict[int, str] = {}
        for day in sorted(grouped):
            for record_id in grouped[day]:
                flat[int(record_id)] = day
        return flat

    @staticmethod
    def _group(flat: Mapping[int, str]) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for record_id, day in flat.items():
            grouped.setdefault(day, []).append(record_id)
        return {day: sorted(ids) for day, ids in sorted(grouped.items())}

    def _load_state(self) -> dict:
        path = f"{self.folder}/{STATE_FILE}"
        fresh = {"version": STATE_VERSION, "parts": {}, "fetched": {}, "missing": {}, "cursors": {}}
        text = self.fs.read_text(STATE_FILE)
        if text is None:
            return fresh
        try:
            state = json.loads(text)
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
                raise ValueError(f"unknown state version {state.get('version') if isinstance(state, dict) else '?'}")
        except ValueError as exc:
            aside = f"{STATE_FILE}.unreadable-{_utc_stamp()}"
            self.fs.replace(STATE_FILE, aside)
            logger.warning("%s unreadable (%s): kept as %s; rebuilding it from the part files", path, exc, aside)
            return fresh
        for key, value in fresh.items():
            state.setdefault(key, value)
        return state

    def _kind_of(self, name: str) -> str | None:
        for kind, prefix in self.kinds.items():
            if name.startswith(prefix + "_") and name.endswith(".jsonl"):
                return kind
        return None

    def _reconcile(self) -> None:
        """Adopt complete lines written after the last checkpoint and cut a partial last line."""
        parts = self.state["parts"]
        for entry in self.fs.list():
            kind = self._kind_of(entry.name)
            if kind is None:
                continue
            committed = int(parts.get(entry.name, 0))
            size = entry.size
            if size < committed:
                logger.warning("%s/%s is shorter than checkpointed (%d < %d bytes): re-reading it", self.folder,
                               entry.name, size, committed)
                committed = 0
            if size > committed:
                parts[entry.name] = self._scan_tail(entry, kind, committed)
            else:
                parts[entry.name] = size

    def _scan_tail(self, entry, kind: str, offset: int) -> int:
        day = datetime.fromtimestamp(entry.mtime).date().isoformat()
        tail = self.fs.read_from(entry.name, offset)
        good_end = offset
        for line in _lines(tail):
            if not line.endswith(b"\n"):
                self.fs.truncate(entry.name, good_end)
                self.repaired["partial_lines_dropped"] += 1
                logger.warning("%s: dropped a partial last line (%d bytes) left by an interrupted fetch",
                               entry.name, len(line))
                break
            good_end += len(line)
            try:
                record = json.loads(line)
                record_id = int(record["id"])
            except (ValueError, KeyError, TypeError):
                self.repaired["unreadable_lines"] += 1
                logger.warning("%s: an unreadable complete line at byte %d is left for the Spark step to "
                               "quarantine", entry.name, good_end - len(line))
                continue
            if record_id not in self._fetched[kind]:
                self._fetched[kind][record_id] = day
                self._missing[kind].pop(record_id, None)
                self.repaired["records_adopted"] += 1
        return good_end

    def cursor(self, name: str) -> dict:
        """A named JSON-safe dict saved with the checkpoint (search and discover positions)."""
        return self.state["cursors"].setdefault(name, {})

    def is_done(self, kind: str, record_id: int, max_age_days: float | None = None) -> bool:
        """True when `record_id` was fetched (or found missing) and is not older than `max_age_days`."""
        day = self._fetched[kind].get(record_id) or self._missing[kind].get(record_id)
        if day is None:
            return False
        return max_age_days is None or _age_days(day, self._today()) < max_age_days

    def has(self, kind: str, record_id: int) -> bool:
        return record_id in self._fetched[kind]

    def count(self, kind: str) -> int:
        return len(self._fetched[kind])

    def _handle(self, kind: str):
        handle = self._handles.get(kind)
        if handle is not None and self._part_lines[kind] < self.part_records:
            return handle
        if handle is not None:
            self.state["parts"][Path(handle.name).name] = handle.commit()
            handle.close()
        while True:
            self._seq += 1
            name = f"{self.kinds[kind]}_{self._stamp}_{self._seq:04d}.jsonl"
            if not self.fs.exists(name):
                break
        handle = self.fs.open_append(name)
        self._handles[kind] = handle
        self._part_lines[kind] = 0
        self.state["parts"][name] = 0
        return handle

    def write(self, kind: str, record_id: int, body: Mapping) -> None:
        """Append one body as a line; `record_id` counts as fetched today."""
        line = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        self._handle(kind).write(line)
        self._part_lines[kind] += 1
        self._fetched[kind][int(record_id)] = self._today().isoformat()
        self._missing[kind].pop(int(record_id), None)

    def mark_missing(self, kind: str, record_id: int) -> None:
        """Record that the API has no such id (404), so re-runs do not ask again until stale."""
        if int(record_id) not in self._fetched[kind]:
            self._missing[kind][int(record_id)] = self._today().isoformat()

    def checkpoint(self, force: bool = False) -> bool:
        """Make written lines durable, then replace `_state.json` atomically. Returns True if written."""
        now = time.monotonic()
        if not force and now - self._last_checkpoint < self.checkpoint_seconds:
            return False
        for handle in self._handles.values():
            self.state["parts"][Path(handle.name).name] = handle.commit()
        self.state["fetched"] = {kind: self._group(ids) for kind, ids in self._fetched.items()}
        self.state["missing"] = {kind: self._group(ids) for kind, ids in self._missing.items()}
        self.state["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.fs.write_atomic(STATE_FILE, _json_bytes(self.state))
        self._last_checkpoint = now
        return True


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


class Progress:
    """Progress with a total and an ETA: a tqdm bar on a terminal, otherwise (logs, `make run`) one
    log line every `every` seconds. `enabled`: None = bar only on a terminal; False = neither."""

    def __init__(self, total: int | None, desc: str, unit: str, enabled: bool | None, every: float = 30.0):
        self.total, self.desc, self.unit, self.every = total, desc, unit.strip(), every
        self.done = 0
        self._started = self._last_log = time.monotonic()
        tty = sys.stderr.isatty()
        show_bar = tty if enabled is None else enabled
        self._log = enabled is not False and not show_bar
        self._bar = tqdm(total=total, desc=desc, unit=unit, disable=not show_bar, dynamic_ncols=True, smoothing=0.1,
                         file=sys.stderr)

    def set_total(self, total: int | None) -> None:
        self.total = total
        self._bar.total = total
        self._bar.refresh()

    def update(self, n: int = 1) -> None:
        self.done += n
        self._bar.update(n)
        now = time.monotonic()
        if self._log and now - self._last_log >= self.every:
            self._last_log = now
            logger.info("%s", self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = _duration((self.total - self.done) / rate) if rate > 0 else "?"
            return (f"{self.desc}: {self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%), "
                    f"{rate:.1f}/s, ETA {eta}")
        return f"{self.desc}: {self.done} {self.unit}, {rate:.1f}/s (total not known yet)"

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()


def say_expected_duration(api: str, count: int | None, per_second: float, what: str) -> None:
    """Log, before a fetch starts, how long `count` look-ups take at least at the allowed rate."""
    if not count:
        logger.info("%s: fetching %s at up to %.3g requests/s; the total is not known before discovery", api,
                    what, per_second)
        return
    logger.info("%s: up to %d %s to fetch at up to %.3g requests/s: at least %s", api, count, what, per_second,
                _duration(count / per_second))


def _as_date(value: DateLike | None, default: date) -> date:
    if value is None:
        return default
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _chunks(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    chunk: list[int] = []
    for record_id in ids:
        chunk.append(int(record_id))
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _write_genres(client: TmdbClient, folder) -> int:
    body = client.genres()
    as_raw_folder(folder).write_atomic(GENRES_FILE, _json_bytes(body))
    return len(body.get("genres") or [])


_END = object()


def _prefetch(make: Callable[[], Iterator], depth: int, stop: threading.Event) -> Iterator:
    """Run the iterator `make()` returns in a thread of its own, up to `depth` items ahead.

    Discover and search pages are requests too: fetched ahead, a slow page does not stall the
    detail look-ups. Exceptions are re-raised in the consumer; `stop` ends the producer early.
    """
    items: queue.Queue = queue.Queue(maxsize=max(1, depth))

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in make():
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put(("error", exc))

    thread = threading.Thread(target=produce, name="acquire-pages", daemon=True)
    thread.start()
    while True:
        kind, value = items.get()
        if kind == "end":
            return
        if kind == "error":
            raise value
        yield value


class _PagePositions:
    """The resume position of a paged walk (discover, search) while its pages' look-ups run out of order.

    `opened(snapshot)` registers a page with the walk's cursor as it was when the page was handed
    out (pointing at that page); `add`/`settle` count its look-ups; `safe()` is the snapshot of the
    oldest page with look-ups not yet written, else the newest snapshot. A look-up that fails for good
    stays unsettled, so the saved position keeps its page and the next run reads it again.
    """

    def __init__(self, saved: dict):
        self.saved = saved
        self._pages: dict[int, list] = {}  # token -> [snapshot, outstanding]
        self._latest: dict | None = None
        self._next = 0

    def opened(self, snapshot: dict) -> int:
        token, self._next = self._next, self._next + 1
        self._pages[token] = [snapshot, 0]
        self._latest = snapshot
        return token

    def add(self, token: int | None) -> None:
        if token is not None:
            self._pages[token][1] += 1

    def settle(self, token: int | None) -> None:
        if token is not None:
            self._pages[token][1] -= 1

    def finished(self, final: dict) -> None:
        self._latest = final

    def publish(self) -> None:
        """Copy the safe position into the checkpointed cursor (called before each checkpoint)."""
        for token in sorted(self._pages):
            if self._pages[token][1] > 0:
                safe = self._pages[token][0]
                break
            if token != max(self._pages):  # fully written and not the newest: no longer needed
                del self._pages[token]
        else:
            safe = self._latest
        if safe is not None:
            self.saved.clear()
            self.saved.update(copy.deepcopy(safe))


class _Pipeline:
    """Look-ups in a thread pool, at most `depth` in flight, handed back as they complete."""

    def __init__(self, pool: ThreadPoolExecutor, depth: int, max_consecutive_failures: int):
        self.pool, self.depth = pool, max(1, depth)
        self.max_consecutive_failures = max_consecutive_failures
        self.in_flight: dict[Future, Any] = {}
        self.consecutive_failures = 0

    def submit(self, unit: Any, fn: Callable, *args) -> None:
        self.in_flight[self.pool.submit(fn, *args)] = unit

    def full(self) -> bool:
        return len(self.in_flight) >= self.depth

    def completed(self, block: bool) -> list[tuple[Any, Future]]:
        if not self.in_flight:
            return []
        done, _ = wait(list(self.in_flight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        return [(self.in_flight.pop(future), future) for future in done]

    def failed(self, exc: FetchError) -> None:
        """Count a look-up that failed for good; re-raise once too many fail in a row (the API is down)."""
        if isinstance(exc, AuthError):
            raise exc
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.max_consecutive_failures:
            raise exc

    def succeeded(self) -> None:
        self.consecutive_failures = 0

    def cancel(self) -> None:
        for future in self.in_flight:
            future.cancel()


def fetch_tmdb(client: TmdbClient, folder: Path, *, ids: Iterable[int] | None = None,
               id_export: Path | None = None, discover: tuple[DateLike, DateLike] | None = None,
               limit: int | None = None, tuning: FetchTuning | None = None) -> dict:
    """Fetch film details into `folder` (raw/tmdb) for explicit ids, an ID export and/or a discover range.

    Each selection is walked in order (discover newest first); ids already in `folder` (and not
    older than `tuning.max_age_days`) are skipped. Look-ups run `tuning.tmdb_workers` at a time and
    are written as they complete. `limit` bounds the detail look-ups of this call.

    Returns:
        counts: `fetched`, `already_had`, `not_found` (+ `not_found_ids`, first 50), `failed` (+
        `failed_ids`: asked again next run), `discover_pages`, `discover_splits`, `export_bad_lines`,
        `genres`, `requests`, `retries`, `truncated`, `timeouts`, `seconds`, `folder`.

    Raises:
        FetchError: the API kept failing (`max_consecutive_failures` in a row) or refused the
            credentials; what was written so far is checkpointed.
    """
    tuning = tuning or FetchTuning()
    workers = max(1, tuning.tmdb_workers or client.http.pool_size)
    rate = client.http.limiter.max_calls / client.http.limiter.period
    started = time.monotonic()
    summary: Counter = Counter()
    not_found_ids: list[int] = []
    failed_ids: list[int] = []
    summary_text: dict = {}
    stop = threading.Event()
    with RawStore(folder, TMDB_KINDS, part_records=tuning.part_records,
                  checkpoint_seconds=tuning.checkpoint_seconds) as store:
        summary["genres"] = _write_genres(client, folder)
        sources: list[tuple[str, Callable[[], Iterator]]] = []
        total: int | None = None
        if ids is not None:
            id_list = [int(i) for i in ids]
            total = len(id_list)
            sources.append(("ids", lambda: _chunks(id_list, tuning.batch_size)))
        if id_export is not None:
            export_stats = ExportStats()
            export_ids = list(iter_export_ids(Path(id_export), stats=export_stats))
            summary["export_bad_lines"] = export_stats.bad
            total = (total or 0) + len(export_ids)
            sources.append(("export", lambda: _chunks(export_ids, tuning.batch_size)))
        positions: _PagePositions | None = None
        saved_cursor: dict | None = None
        if discover is not None:
            start, end = _as_date(discover[0], EARLIEST_RELEASE), _as_date(discover[1], date.today())
            # "|desc": a cursor of the former oldest-first walk must not be resumed newest first.
            saved_cursor = store.cursor("discover").setdefault(f"{start.isoformat()}..{end.isoformat()}|desc", {})
            finished = saved_cursor.get("finished")
            if finished and _age_days(finished, date.today()) < tuning.search_max_age_days:
                logger.info("tmdb discover %s..%s finished on %s: not walked again (--rewalk to force)",
                            start, end, finished)
            else:
                if finished:
                    saved_cursor.clear()
                positions = _PagePositions(saved_cursor)
                live = copy.deepcopy(saved_cursor)

                def walk_discover() -> Iterator:
                    for page_ids in client.iter_discover(start, end, live, max_pages=tuning.max_discover_pages):
                        yield page_ids, copy.deepcopy(live)
                    yield None, copy.deepcopy(live)

                sources.append(("discover", walk_discover))
                total = None
        if limit is not None:
            total = min(total, limit) if total is not None else limit
        say_expected_duration("tmdb", total, rate, "films")

        pipeline: _Pipeline | None = None

        def budget() -> int | None:
            if limit is None:
                return None
            busy = len(pipeline.in_flight) if pipeline else 0
            return max(0, limit - summary["fetched"] - summary["not_found"] - summary["failed"] - busy)

        def settle(block: bool) -> None:
            for (movie_id, token), future in pipeline.completed(block):
                try:
                    body = future.result()
                except NotFoundError:
                    store.mark_missing("movies", movie_id)
                    summary["not_found"] += 1
                    if len(not_found_ids) < 50:
                        not_found_ids.append(movie_id)
                    pipeline.succeeded()
                except FetchError as exc:
                    summary["failed"] += 1
                    if len(failed_ids) < 50:
                        failed_ids.append(movie_id)
                    summary_text["last_error"] = str(exc)
                    logger.warning("tmdb film %d: %s; it is asked again by the next run", movie_id, exc)
                    pipeline.failed(exc)
                    bar.update(1)
                    continue  # its page stays unsettled: the saved position keeps it
                else:
                    store.write("movies", movie_id, body)
                    summary["fetched"] += 1
                    pipeline.succeeded()
                    if tuning.on_record is not None:
                        tuning.on_record("movies", movie_id)
                if positions is not None:
                    positions.settle(token)
                bar.update(1)
            checkpoint()

        def checkpoint(force: bool = False) -> None:
            if positions is not None:
                positions.publish()
            store.checkpoint(force=force)

        bar = Progress(total, "tmdb films", " films", tuning.progress, tuning.progress_seconds)
        queued: set[int] = set()
        try:
            with bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tmdb") as pool:
                pipeline = _Pipeline(pool, 2 * workers, tuning.max_consecutive_failures)
                try:
                    for source, make in sources:
                        if budget() == 0:
                            break
                        stream = _prefetch(make, 4, stop) if source == "discover" else make()
                        for item in stream:
                            token = None
                            if source == "discover":
                                batch, snapshot = item
                                if batch is None:
                                    positions.finished(snapshot)
                                    break
                                token = positions.opened(snapshot)
                                summary["discover_pages"] += 1
                                if bar.total is None and snapshot.get("total_results"):
                                    expected = snapshot["total_results"] if limit is None else \
                                        min(limit, snapshot["total_results"])
                                    bar.set_total(expected)
                                    say_expected_duration("tmdb", expected, rate, "films (discover)")
                            else:
                                batch = item
                            for movie_id in batch:
                                if budget() == 0:
                                    break
                                if movie_id in queued or store.is_done("movies", movie_id, tuning.max_age_days):
                                    summary["already_had"] += 1
                                    continue
                                while pipeline.full():
                                    settle(block=True)
                                queued.add(movie_id)
                                if positions is not None:
                                    positions.add(token)
                                pipeline.submit((movie_id, token), client.movie, movie_id)
                            settle(block=False)
                            if budget() == 0:
                                break
                        stop.set()
                        stop = threading.Event()
                    while pipeline.in_flight:
                        settle(block=True)
                except BaseException:
                    stop.set()
                    pipeline.cancel()
                    raise
                finally:
                    checkpoint(force=True)
        finally:
            if saved_cursor is not None:
                summary["discover_splits"] = saved_cursor.get("splits", 0)
                summary["discover_capped_windows"] = saved_cursor.get("capped_windows", 0)
            summary.update({f"repaired_{k}": v for k, v in store.repaired.items()})
    result = dict(summary)
    result.update(summary_text)
    stats = client.http.stats
    result.update(not_found_ids=not_found_ids, failed_ids=failed_ids, requests=stats["requests"],
                  retries=stats["retries"], truncated=stats["truncated"], timeouts=stats["timeouts"],
                  seconds=round(time.monotonic() - started, 2), folder=str(folder))
    logger.info("tmdb: %d films fetched, %d already in %s, %d not found, %d failed, %d requests, %d retries",
                result.get("fetched", 0), result.get("already_had", 0), folder, result.get("not_found", 0),
                result.get("failed", 0), result["requests"], result["retries"])
    if not_found_ids:
        logger.info("tmdb ids not found (404, skipped): %s", ", ".join(map(str, not_found_ids)))
    return result


def fetch_discogs(client: DiscogsClient, folder: Path, *, genres: Sequence[str], styles: Sequence[str],
                  max_pages: int | None = None, limit: int | None = None,
                  tuning: FetchTuning | None = None) -> dict:
    """Search Discogs for soundtrack masters and releases and fetch their bodies into `folder` (raw/discogs).

    One search per genre x style x type (`master`, `release`), each paged to its end (or
    `max_pages` pages per search and run). A master is written after its main release, so a master
    in raw/ always has its main release there too. A release result that belongs to a master is
    taken as that master (plus main release); a release without master is fetched itself.
    Look-ups run `tuning.discogs_workers` at a time and are written as they complete; the
    checkpoint follows every few seconds (`checkpoint_seconds`), as for TMDB, not once per page.
    `limit` bounds the detail look-ups of this call.

    Returns:
        counts: `masters`, `releases` (written), `already_had`, `not_found` (+ `not_found_ids`, first 50),
        `failed` (+ `failed_ids`), `search_pages`, `searches_skipped`, `pagination_warnings`, `requests`,
        `retries`, `slowed_by_headers`, `seconds`, `folder`.
    """
    tuning = tuning or FetchTuning()
    workers = max(1, tuning.discogs_workers or client.http.pool_size)
    started = time.monotonic()
    summary: Counter = Counter()
    not_found_ids: list[str] = []
    failed_ids: list[str] = []
    summary_text: dict = {}
    rate = client.limiter.max_calls / client.limiter.period
    pipeline: _Pipeline | None = None

    def budget_left() -> bool:
        busy = len(pipeline.in_flight) if pipeline else 0
        return limit is None or \
            summary["masters"] + summary["releases"] + summary["not_found"] + summary["failed"] + busy < limit

    with RawStore(folder, DISCOGS_KINDS, part_records=tuning.part_records,
                  checkpoint_seconds=tuning.checkpoint_seconds) as store:
        say_expected_duration("discogs", limit, rate, "albums (masters, releases)")
        bar = Progress(limit, "discogs albums", " records", tuning.progress, tuning.progress_seconds)
        queued: set[tuple[str, int]] = set()
        searches: list[_PagePositions] = []

        def lookup(kind: str, record_id: int) -> dict:
            return client.master(record_id) if kind == "masters" else client.release(record_id)

        def missing(kind: str, record_id: int) -> None:
            store.mark_missing(kind, record_id)
            summary["not_found"] += 1
            if len(not_found_ids) < 50:
                not_found_ids.append(f"{kind[:-1]} {record_id}")
            bar.update(1)

        def keep(kind: str, record_id: int, body: dict) -> None:
            store.write(kind, record_id, body)
            summary[kind] += 1
            bar.update(1)
            if tuning.on_record is not None:
                tuning.on_record(kind, record_id)

        def want(kind: str, record_id: int) -> bool:
            if (kind, record_id) in queued or store.is_done(kind, record_id, tuning.max_age_days):
                summary["already_had"] += 1
                return False
            return budget_left()

        def start(unit: tuple) -> None:
            """unit: (kind, id, page, master body waiting for this release or None)."""
            while pipeline.full():
                settle(block=True)
            kind, record_id, _page = unit[0], unit[1], unit[2]
            queued.add((kind, record_id))
            pipeline.submit(unit, lookup, kind, record_id)

        def settle(block: bool) -> None:
            for unit, future in pipeline.completed(block):
                kind, record_id, page, waiting_master = unit
                try:
                    body = future.result()
                except NotFoundError:
                    missing(kind, record_id)
                    body = None
                    pipeline.succeeded()
                except FetchError as exc:
                    summary["failed"] += 1
                    if len(failed_ids) < 50:
                        failed_ids.append(f"{kind[:-1]} {record_id}")
                    summary_text["last_error"] = str(exc)
                    logger.warning("discogs %s %d: %s; it is asked again by the next run", kind[:-1], record_id, exc)
                    pipeline.failed(exc)
                    bar.update(1)
                    continue  # its page stays unsettled: the saved search position keeps it
                else:
                    pipeline.succeeded()
                if kind == "masters" and body is not None:
                    main = body.get("main_release")
                    if main and want("releases", int(main)):
                        start(("releases", int(main), page, (record_id, body)))
                        continue  # the master is written once its main release is
                    keep("masters", record_id, body)
                elif kind == "releases":
                    if body is not None:
                        keep("releases", record_id, body)
                    if waiting_master is not None:
                        keep("masters", *waiting_master)
                if page is not None:
                    page[0].settle(page[1])
            checkpoint()

        def checkpoint(force: bool = False) -> None:
            for positions in searches:
                positions.publish()
            store.checkpoint(force=force)

        stop = threading.Event()
        with bar, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="discogs") as pool:
            pipeline = _Pipeline(pool, 2 * workers, tuning.max_consecutive_failures)
            try:
                for genre in genres:
                    for style in styles:
                        for kind in SEARCH_TYPES:
                            if not budget_left():
                                break
                            saved = store.cursor("search").setdefault(f"{kind}|{genre}|{style}", {})
                            if saved.get("completed") and \
                                    _age_days(saved["completed"], date.today()) < tuning.search_max_age_days:
                                summary["searches_skipped"] += 1
                                continue
                            if saved.get("completed"):
                                saved.clear()
                            positions = _PagePositions(saved)
                            searches.append(positions)
                            live = copy.deepcopy(saved)

                            def walk(genre=genre, style=style, kind=kind, live=live) -> Iterator:
                                for results in client.iter_search(genre=genre, style=style, kind=kind, cursor=live,
                                                                  max_pages=max_pages):
                                    yield results, copy.deepcopy(live)
                                yield None, copy.deepcopy(live)

                            for results, snapshot in _prefetch(walk, 2, stop):
                                if results is None:
                                    positions.finished(snapshot)
                                    summary["pagination_warnings"] += snapshot.get("pagination_warnings", 0)
                                    break
                                page = (positions, positions.opened(snapshot))
                                summary["search_pages"] += 1
                                for result in results:
                                    if not budget_left():
                                        break
                                    if result.get("type") == "master" and result.get("id"):
                                        target = ("masters", int(result["id"]))
                                    elif result.get("type") == "release" and result.get("id"):
                                        target = ("masters", int(result["master_id"])) if result.get("master_id") \
                                            else ("releases", int(result["id"]))
                                    else:
                                        continue
                                    if want(*target):
                                        positions.add(page[1])
                                        start((*target, page, None))
                                settle(block=False)
                                if not budget_left():
                                    break
                            stop.set()
                            stop = threading.Event()
                while pipeline.in_flight:
                    settle(block=True)
            except BaseException:
                stop.set()
                pipeline.cancel()
                raise
            finally:
                checkpoint(force=True)
        summary.update({f"repaired_{k}": v for k, v in store.repaired.items()})
    result = dict(summary)
    result.update(summary_text)
    result.update(not_found_ids=not_found_ids, failed_ids=failed_ids, requests=client.http.stats["requests"],
                  retries=client.http.stats["retries"], slowed_by_headers=client.http.stats["slowed_by_headers"],
                  seconds=round(time.monotonic() - started, 2), folder=str(folder))
    logger.info("discogs: %d masters and %d releases fetched, %d already in %s, %d not found, %d failed, "
                "%d search pages, %d requests, %d retries", result.get("masters", 0), result.get("releases", 0),
                result.get("already_had", 0), folder, result.get("not_found", 0), result.get("failed", 0),
                result.get("search_pages", 0), result["requests"], result["retries"])
    if not_found_ids:
        logger.info("discogs ids not found (404, skipped): %s", ", ".join(not_found_ids))
    return result


def require_keys(settings: Settings, sources: Iterable[str]) -> None:
    """Raise ConfigError (one line naming the .env variable) when a source lacks its credentials."""
    sources = set(sources)
    if "tmdb" in sources and not (settings.tmdb_api_token or settings.tmdb_api_key):
        raise missing_tmdb_key_error()
    if "discogs" in sources and not settings.discogs_token:
        raise missing_discogs_token_error()


def _given(**kwargs) -> dict:
    """The keyword arguments that were set: the rest come from `Settings` (`from_settings`)."""
    return {k: v for k, v in kwargs.items() if v is not None}


def acquire(settings: Settings, raw_dir: Path, *, tmdb_ids: Iterable[int] | None = None,
            tmdb_id_export: Path | None = None, discover_from: DateLike | None = None,
            discover_to: DateLike | None = None, discogs_max_pages: int | None = None,
            limit: int | None = None, sources: Sequence[str] = ("tmdb", "discogs"),
            tuning: FetchTuning | None = None) -> dict:
    """Fetch TMDB films and Discogs soundtrack albums into `raw_dir/tmdb` and `raw_dir/discogs`.

    TMDB films come from `tmdb_ids`, `tmdb_id_export` and/or the discover range
    `discover_from`..`discover_to`; with none of them, the whole catalogue is discovered (bounded by
    `limit`, newest films first). Rates, workers, timeouts and base URLs come from `settings` unless
    `tuning` sets them. Discogs albums come from the soundtrack search of `settings.soundtrack_genres` x
    `settings.soundtrack_styles`, `discogs_max_pages` pages per search. `limit` bounds detail
    look-ups per source.

    Returns:
        `{"tmdb": {...counts}, "discogs": {...counts}}` for the sources fetched.

    Raises:
        ConfigError: a needed key is not set (the message names the .env variable).
        FetchError: a request kept failing (AuthError: credentials refused).
    """
    tuning = tuning or FetchTuning()
    unknown = set(sources) - {"tmdb", "discogs"}
    if unknown:
        raise ValueError(f"unknown source(s) {sorted(unknown)}: use tmdb and/or discogs")
    require_keys(settings, sources)
    raw_dir = as_raw_folder(raw_dir)
    summary: dict = {}
    if "tmdb" in sources:
        discover = None
        if discover_from is not None or discover_to is not None or (tmdb_ids is None and tmdb_id_export is None):
            discover = (discover_from, discover_to)
        with TmdbClient.from_settings(settings, base_url=tuning.tmdb_base_url, safety=tuning.safety,
                                      **_given(rate_per_second=tuning.tmdb_rate_per_second, policy=tuning.policy,
                                               pool_size=tuning.tmdb_workers)) as client:
            summary["tmdb"] = fetch_tmdb(client, raw_dir / "tmdb", ids=tmdb_ids, id_export=tmdb_id_export,
                                         discover=discover, limit=limit, tuning=tuning)
    if "discogs" in sources:
        with DiscogsClient.from_settings(settings, base_url=tuning.discogs_base_url, max_calls=tuning.discogs_max_calls,
                                         period=tuning.discogs_period, safety=tuning.safety,
                                         ceiling=tuning.discogs_ceiling,
                                         **_given(policy=tuning.policy, pool_size=tuning.discogs_workers)) as client:
            summary["discogs"] = fetch_discogs(client, raw_dir / "discogs", genres=settings.soundtrack_genres,
                                               styles=settings.soundtrack_styles, max_pages=discogs_max_pages,
                                               limit=limit, tuning=tuning)
    return summary


def _listing_checksum_file(path: Path, checksum_file: Path | None) -> Path | None:
    """The CHECKSUM file that lists `path`'s name: the one given, or one beside `path`."""
    candidates = [checksum_file] if checksum_file is not None else sorted(
        p for p in path.parent.iterdir() if p.is_file() and p.name.upper().endswith("CHECKSUM.TXT"))
    for candidate in candidates:
        for line in Path(candidate).read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split(maxsplit=1)
            if len(parts) == 2 and parts[1].strip().lstrip("*") == path.name:
                return Path(candidate)
    return None


def _same_content(source: Path, target: Path, expected_sha256: str | None) -> bool:
    """Whether `target` already holds `source`: the same file, or (with a published sha256) a file
    with that hash, or (without one) byte for byte the same. A size match alone proves nothing."""
    from scripts.discogs_dump import sha256_of

    if not target.is_file():
        return False
    if target.samefile(source):
        return True
    if target.stat().st_size != source.stat().st_size:
        return False
    if expected_sha256 is not None:
        return sha256_of(target) == expected_sha256
    return filecmp.cmp(source, target, shallow=False)


def _place_file(source: Path, target: Path, expected_sha256: str | None = None) -> str:
    """Hard-link `source` as `target` (no copy of a multi-GB dump), or copy across file systems,
    through a temporary name; with `expected_sha256`, the placed bytes are checked before they take
    the target's name, so raw/ never holds a file that fails its published checksum.

    Raises:
        ChecksumMismatchError: the placed copy does not match (the temporary file is removed).
    """
    from scripts.discogs_dump import ChecksumMismatchError, sha256_of

    if _same_content(source, target, expected_sha256):
        return "already there"
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    try:
        try:
            os.link(source, tmp)
            how = "linked"
        except OSError:
            shutil.copyfile(source, tmp)
            how = "copied"
        if expected_sha256 is not None:
            actual = sha256_of(tmp)
            if actual != expected_sha256:
                raise ChecksumMismatchError(f"{target}: the placed copy has sha256 {actual}, expected "
                                            f"{expected_sha256}; nothing was placed, copy it again")
        replaced = target.exists()
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return f"{how} (replaced a different file)" if replaced else how


def place_dump(paths: Sequence[Path], raw_discogs: Path, *, checksum_file: Path | None = None,
               verify: bool = True) -> dict:
    """Put downloaded Discogs dump files into `raw_discogs` after checking their sha256.

    The download is checked first (a damaged one is not placed at all), then what lands in
    `raw_discogs` is checked again before it takes its name: a target already there counts only when
    its own hash matches (a same-sized corrupt file is replaced). The CHECKSUM file that lists a dump
    is placed beside it, so the Spark step (which converts the XML) can verify it again. A dump no
    CHECKSUM file lists is placed with a warning (and compared byte for byte with a file already there).

    Raises:
        FileNotFoundError: a path does not exist.
        scripts.discogs_dump.ChecksumMismatchError: a file is damaged; nothing of it is placed.
    """
    from scripts.discogs_dump import _published_sha256, verify_checksum

    raw_discogs = Path(raw_discogs)
    raw_discogs.mkdir(parents=True, exist_ok=True)
    result = {"placed": [], "verified": 0, "unverified": 0, "folder": str(raw_discogs)}
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"dump file {path} not found")
        listing = _listing_checksum_file(path, checksum_file)
        expected = None
        if verify and listing is not None:
            verify_checksum(path, listing)
            expected = _published_sha256(listing, path.name)
        else:
            logger.warning("%s: %s; placed unverified", path.name,
                           "verification skipped (--no-verify)" if not verify else "no CHECKSUM file lists it")
        how = _place_file(path, raw_discogs / path.name, expected)
        result["verified" if expected is not None else "unverified"] += 1
        if listing is not None:
            _place_file(listing, raw_discogs / listing.name)
        logger.info("%s: %s into %s%s", path.name, how, raw_discogs, " (sha256 checked there)" if expected else "")
        result["placed"].append({"file": path.name, "how": how})
    return result


def import_kaggle(movies_csv: Path, raw_tmdb: Path, credits_csv: Path | None = None) -> dict:
    """Convert the Kaggle TMDB 5000 CSV pair into `raw_tmdb/2017_kaggle_tmdb_5000.jsonl.gz`."""
    from scripts.import_kaggle_tmdb import import_csv

    summary = import_csv(Path(movies_csv), Path(raw_tmdb), Path(credits_csv) if credits_csv else None)
    return {"rows": summary.rows, "written": summary.written, "with_credits": summary.with_credits,
            "bad_rows": len(summary.bad_rows), "folder": str(raw_tmdb)}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def _id_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of ids") from None


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-12-31") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts.acquire",
                                     description="Fill raw/ from TMDB, Discogs, a Discogs dump or the Kaggle CSV.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{tmdb,discogs,dump,kaggle}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--raw", type=Path, metavar="DIR", help="the raw/ folder (default: DATA_ROOT/raw)")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    def fetching(p: argparse.ArgumentParser, rate_help: str) -> None:
        common(p)
        p.add_argument("--limit", type=_positive_int, metavar="N", help="at most N detail look-ups this run")
        p.add_argument("--max-age-days", type=float, metavar="D", help="re-fetch records older than D days")
        p.add_argument("--rate", type=_positive_int, metavar="N", help=rate_help)
        p.add_argument("--workers", type=_positive_int, metavar="N",
                       help="requests in flight (TMDB_WORKERS / DISCOGS_WORKERS)")
        p.add_argument("--retries", type=_positive_int, metavar="N", help="attempts per request (FETCH_RETRIES)")
        p.add_argument("--backoff", type=float, metavar="S", help="backoff base in seconds (1.0)")
        p.add_argument("--timeout", type=float, metavar="S",
                       help="read timeout in seconds (TMDB_READ_TIMEOUT / DISCOGS_READ_TIMEOUT)")
        p.add_argument("--rewalk", action="store_true",
                       help="walk finished discover/search listings again now (default: after 7 days)")

    tmdb = sub.add_parser("tmdb", help="TMDB film details into raw/tmdb")
    fetching(tmdb, "requests per second (TMDB_RATE_PER_SECOND, 40)")
    tmdb.add_argument("--ids", type=_id_list, metavar="ID,ID", help="explicit TMDB ids")
    tmdb.add_argument("--ids-file", type=Path, metavar="FILE", help="a file of TMDB ids (whitespace or commas)")
    tmdb.add_argument("--id-export", type=Path, metavar="FILE", help="a TMDB daily export movie_ids_MM_DD_YYYY.json.gz")
    tmdb.add_argument("--from", dest="date_from", type=_iso_date, metavar="DATE",
                      help="discover from this release date")
    tmdb.add_argument("--to", dest="date_to", type=_iso_date, metavar="DATE", help="discover up to this date (today)")

    discogs = sub.add_parser("discogs", help="Discogs soundtrack masters and releases into raw/discogs")
    fetching(discogs, "starting requests per minute (60 with a token; then as X-Discogs-Ratelimit says)")
    discogs.add_argument("--max-pages", type=_positive_int, metavar="N", help="search pages per search this run")

    dump = sub.add_parser("dump", help="place verified Discogs dump files into raw/discogs")
    common(dump)
    dump.add_argument("files", nargs="+", type=Path, metavar="FILE", help="*_masters.xml.gz / *_releases.xml.gz")
    dump.add_argument("--checksum", type=Path, metavar="FILE", help="the dump's CHECKSUM.txt (default: beside FILE)")
    dump.add_argument("--no-verify", action="store_true", help="place without checking the sha256")

    kaggle = sub.add_parser("kaggle", help="convert the Kaggle TMDB 5000 CSV pair into raw/tmdb")
    common(kaggle)
    kaggle.add_argument("movies_csv", type=Path, metavar="MOVIES.csv")
    kaggle.add_argument("--credits", type=Path, metavar="CREDITS.csv", help="tmdb_5000_credits.csv (adds composers)")
    return parser


def _raw_dir(args: argparse.Namespace, settings: Settings) -> Path:
    if args.raw is not None:
        return args.raw
    if settings.data_root.startswith(("abfss://", "abfs://")) and args.command in ("tmdb", "discogs"):
        return lake_raw_folder(settings)  # fetches write through to the lake (scripts/raw_folder.py)
    if settings.is_remote_storage:
        raise ConfigError(f"DATA_ROOT={settings.data_root} is remote storage: pass --raw with a local folder "
                          "and copy it up afterwards")
    return Path(settings.data_root) / "raw"


def _read_ids_file(path: Path) -> list[int]:
    if not path.is_file():
        raise FileNotFoundError(f"ids file {path} not found")
    return _id_list(path.read_text(encoding="utf-8"))


def _tuning(args: argparse.Namespace, settings: Settings) -> FetchTuning:
    """Command-line overrides on top of the settings (flags left out keep the settings' values)."""
    from scripts.tmdb_client import settings_policy

    tuning = FetchTuning(max_age_days=args.max_age_days)
    if args.rewalk:
        tuning.search_max_age_days = 0.0
    if args.retries is not None or args.backoff is not None or args.timeout is not None:
        base = settings_policy(settings, settings.tmdb_read_timeout if args.command == "tmdb"
                               else settings.discogs_read_timeout)
        changes = {k: v for k, v in (("max_attempts", args.retries), ("backoff_base", args.backoff),
                                     ("read_timeout", args.timeout)) if v is not None}
        if args.timeout is not None:
            changes["deadline"] = max(base.deadline, args.timeout)
        tuning.policy = dataclasses.replace(base, **changes)
    if args.command == "tmdb":
        tuning.tmdb_workers = args.workers
        tuning.tmdb_rate_per_second = args.rate
    else:
        tuning.discogs_workers = args.workers
        tuning.discogs_max_calls = args.rate
    return tuning


def _describe(source: str, counts: Mapping) -> str:
    hidden = ("folder", "not_found_ids", "failed_ids", "placed", "last_error")
    shown = {k: v for k, v in counts.items() if k not in hidden and v}
    text = ", ".join(f"{k}={v}" for k, v in shown.items())
    line = f"{source}: {text or 'nothing to do'} -> {counts.get('folder', '')}"
    if counts.get("not_found_ids"):
        line += f"\n  not found (404, skipped): {', '.join(map(str, counts['not_found_ids']))}"
    if counts.get("failed_ids"):
        line += f"\n  failed (asked again by the next run): {', '.join(map(str, counts['failed_ids']))}"
    return line


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """Command-line entry point; returns 0 ok, 1 a fetch or check failed, 2 usage error or missing key."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on bad arguments
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction(logging.getLogger().handlers)
    try:
        settings = settings or load_settings()
        raw = _raw_dir(args, settings)
        if args.command == "dump":
            from scripts.discogs_dump import ChecksumMismatchError

            try:
                result = place_dump(args.files, raw / "discogs", checksum_file=args.checksum,
                                    verify=not args.no_verify)
            except ChecksumMismatchError as exc:
                say(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
            say(_describe("dump", {**result, "placed": None, "files": len(result["placed"])}))
            return EXIT_OK
        if args.command == "kaggle":
            for path in (args.movies_csv, args.credits):
                if path is not None and not path.is_file():
                    raise FileNotFoundError(f"{path} not found")
            result = import_kaggle(args.movies_csv, raw / "tmdb", args.credits)
            say(_describe("kaggle", result))
            return EXIT_FAILED if result["bad_rows"] and not result["written"] else EXIT_OK
        kwargs: dict = {}
        if args.command == "tmdb":
            ids = list(args.ids or [])
            if args.ids_file is not None:
                ids += _read_ids_file(args.ids_file)
            if args.id_export is not None and not args.id_export.is_file():
                raise FileNotFoundError(f"ID export {args.id_export} not found")
            kwargs = dict(tmdb_ids=ids or None, tmdb_id_export=args.id_export,
                          discover_from=args.date_from, discover_to=args.date_to)
        else:
            kwargs = dict(discogs_max_pages=args.max_pages)
        summary = acquire(settings, raw, limit=args.limit, sources=(args.command,), tuning=_tuning(args, settings),
                          **kwargs)
    except (ConfigError, FileNotFoundError, StoreBusyError) as exc:
        say(f"error: {redact(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except AuthError as exc:
        say(f"error: {exc}; check the key in .env (TMDB_API_TOKEN / TMDB_API_KEY / DISCOGS_TOKEN)",
              file=sys.stderr)
        return EXIT_USAGE
    except FetchError as exc:
        say(f"error: {exc}; what was fetched is kept, run the same command again to resume", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("interrupted: what was fetched is kept, run the same command again to resume", file=sys.stderr)
        return EXIT_FAILED
    for source, counts in summary.items():
        say(_describe(source, counts))
    failed = [counts for counts in summary.values() if counts.get("failed")]
    if failed:
        say(f"error: {failed[0].get('last_error', 'some look-ups failed')}; what was fetched is kept, run the same "
              "command again to resume (it asks only for what is missing)", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
