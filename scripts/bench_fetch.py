"""The `fetch` section of `make bench`: TMDB and Discogs fetches against the local fake API server
under the issue's fault mix; the sustained rate against the allowed one.

See `scripts_spark.bench` for what is measured and the targets.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from scripts.bench_common import Plan, format_table, verdict
from scripts.console import say

logger = logging.getLogger(__name__)


FETCH_RATE_TARGET = 0.9


def sustained_rate(arrivals: Sequence[float], limit: int, window: float) -> dict | None:
    """The request rate a client kept up against a sliding-window limit, as a fraction of it.

    Measured between the 5th and the 95th percentile request times: requests in that span over its
    length, so neither the opening burst a sliding window allows nor one slow retry at the tail
    (a stalled request given up and asked again) decides it. `min_gap_s`, the shortest time between
    a request and the one `limit` requests later, shows pacing: below `window` means a request over
    the limit. None when there are not more than `limit` arrivals.
    """
    arrivals = sorted(arrivals)
    gaps = [arrivals[i + limit] - arrivals[i] for i in range(len(arrivals) - limit)]
    if not gaps or sum(gaps) <= 0:
        return None
    low, high = int(0.05 * (len(arrivals) - 1)), int(0.95 * (len(arrivals) - 1))
    span = arrivals[high] - arrivals[low]
    if span <= 0:
        return None
    rate = (high - low) / span
    mean_gap = sum(gaps) / len(gaps)
    return {"requests": len(arrivals), "seconds": round(arrivals[-1] - arrivals[0], 3),
            "p5_p95_s": round(span, 3), "mean_gap_s": round(mean_gap, 4), "min_gap_s": round(min(gaps), 4),
            "rate_per_s": round(rate, 3), "allowed_per_s": round(limit / window, 3),
            "fraction": round(rate * window / limit, 4)}


# The stand-in server of issue 12: 5 % of requests fail, as 5xx, 12-second stalls, or bodies cut off
# mid-response (closed, or left hanging).
FETCH_FAULT_RATE = 0.05


FETCH_STALL_S = 12.0


def _fetch_policy(scale: float = 1.0):
    """The shipped retry policy (the Settings defaults), its times scaled like the API's window."""
    from scripts.http_client import RetryPolicy
    from scripts.settings import Settings

    return RetryPolicy(max_attempts=Settings.fetch_retries, backoff_base=1.0 * scale, backoff_max=60.0 * scale,
                       max_retry_after=300.0 * scale, connect_timeout=Settings.fetch_connect_timeout,
                       read_timeout=Settings.tmdb_read_timeout * scale, deadline=Settings.fetch_deadline * scale)


def _fetch_tmdb_run(fake, plan: Plan, folder: Path) -> dict:
    from scripts.acquire import FetchTuning, fetch_tmdb
    from scripts.settings import Settings
    from scripts.tmdb_client import TmdbClient

    ids = list(range(1, plan.tmdb_requests))  # + the genre list = tmdb_requests requests
    scale = plan.tmdb_window / 1.0  # TMDB's limit is per second
    tuning = FetchTuning(tmdb_workers=Settings.tmdb_workers, progress=False, checkpoint_seconds=2.0,
                         policy=_fetch_policy(scale))
    with fake.FakeApiServer(limit=plan.tmdb_limit, window=plan.tmdb_window, retry_after="1",
                            fault_rate=FETCH_FAULT_RATE, stall=FETCH_STALL_S * scale,
                            fault_paths=("/3/movie/",)) as server:
        fake.install_tmdb(server)
        # The client is told the real limit; TmdbClient's window is always 1 s.
        with TmdbClient(token="bench-token-not-a-secret", base_url=server.url + "/3",
                        rate_per_second=plan.tmdb_limit, policy=tuning.policy, pool_size=tuning.tmdb_workers,
                        safety=tuning.safety) as client:
            started = time.monotonic()
            summary = fetch_tmdb(client, folder, ids=ids, tuning=tuning)
            wall = time.monotonic() - started
        arrivals = [r.at for r in server.requests]
        violations = len(server.violations)
        faults = len(server.faults_played)
    return {"api": "tmdb", "limit": plan.tmdb_limit, "window_s": plan.tmdb_window, "wall_s": round(wall, 2),
            "records": summary.get("fetched", 0), "retries": summary.get("retries", 0), "violations_429": violations,
            "faults": faults, "failed": summary.get("failed", 0),
            "rate": sustained_rate(arrivals, plan.tmdb_limit, plan.tmdb_window)}


def _fetch_discogs_run(fake, plan: Plan, folder: Path) -> dict:
    from scripts.acquire import FetchTuning, fetch_discogs
    from scripts.discogs_client import DiscogsClient
    from scripts.settings import Settings

    # One search page lists the catalogue, then each master costs two look-ups (master + main
    # release): requests = 1 + details, rounded down to a whole master so no request spills into
    # one more window.
    details = (plan.discogs_requests - 1) // 2 * 2
    catalogue = fake.DiscogsCatalogue(masters={8_000_000 + i: 9_000_000 + i for i in range(details // 2 + 1)})
    scale = plan.discogs_window / 60.0  # Discogs' limit is per minute; faults and timeouts shrink with it
    policy = _fetch_policy(scale)
    policy = type(policy)(**{**policy.__dict__,
                             "read_timeout": Settings.discogs_read_timeout * scale})
    tuning = FetchTuning(discogs_workers=Settings.discogs_workers, progress=False, checkpoint_seconds=2.0,
                         policy=policy)
    with fake.FakeApiServer(limit=plan.discogs_limit, window=plan.discogs_window, retry_after="1",
                            discogs_headers=True, fault_rate=FETCH_FAULT_RATE, stall=FETCH_STALL_S * scale) as server:
        fake.install_discogs(server, catalogue)
        with DiscogsClient(token="bench-token-not-a-secret", user_agent="tmdb-discogs-soundtracks-bench/0.1",
                           base_url=server.url, max_calls=plan.discogs_limit, period=plan.discogs_window,
                           policy=tuning.policy, safety=tuning.safety, pool_size=tuning.discogs_workers) as client:
            started = time.monotonic()
            summary = fetch_discogs(client, folder, genres=("Stage & Screen",), styles=("Soundtrack",),
                                    limit=details, tuning=tuning)
            wall = time.monotonic() - started
        arrivals = [r.at for r in server.requests]
        violations = len(server.violations)
        faults = len(server.faults_played)
    return {"api": "discogs", "limit": plan.discogs_limit, "window_s": plan.discogs_window, "wall_s": round(wall, 2),
            "records": summary.get("masters", 0) + summary.get("releases", 0), "retries": summary.get("retries", 0),
            "violations_429": violations, "faults": faults, "failed": summary.get("failed", 0),
            "rate": sustained_rate(arrivals, plan.discogs_limit, plan.discogs_window)}


def run_fetch(plan: Plan, scratch: Path) -> dict:
    """The fetch section; skipped (with the reason) without the recorded API bodies."""
    from scripts import fake_api_server as fake

    if not fake.shared_data_present():
        say(f"\n== fetch: skipped: {fake.SKIP_REASON} ==")
        return {"skipped": fake.SKIP_REASON, "checks": []}
    # A fresh folder per run: a kept --out scratch would hold the last run's records, and a fetch
    # skips what it already has.
    (scratch / "fetch").mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="run_", dir=scratch / "fetch"))
    # The fake server shares this interpreter (and its GIL) with the client; the default 5 ms switch
    # interval would let up to 16 busy client threads hold a request's arrival back by tens of ms,
    # jitter a real server on its own machine does not add. Restored afterwards.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        runs = [_fetch_tmdb_run(fake, plan, folder / "tmdb"), _fetch_discogs_run(fake, plan, folder / "discogs")]
    finally:
        sys.setswitchinterval(interval)
    checks = []
    for run in runs:
        fraction = run["rate"]["fraction"] if run["rate"] else None
        checks.append(verdict(f"fetch: {run['api']} rate / allowed rate", fraction, FETCH_RATE_TARGET,
                              detail=f"{run['limit']} per {run['window_s']:g} s, {run['faults']} faults injected"))
        checks.append(verdict(f"fetch: {run['api']} 429 answers", float(run["violations_429"]), 0.0,
                              higher_is_better=False))
    say(f"\n== fetch: our clients against FakeApiServer on 127.0.0.1 (sliding-window limit, "
         f"{FETCH_FAULT_RATE:.0%} faults: 5xx, stalls, cut-off bodies) ==")
    say("rate = requests between the 5th and 95th percentile request times / that span; min gap = shortest "
         "time from a request to the one `limit` later (below `window` means a request over the limit)")
    say(format_table(
        ["api", "limit", "window s", "requests", "seconds", "p5-p95 s", "min gap s", "rate/s", "allowed/s",
         "fraction", "429s", "faults", "retries", "records"],
        [[r["api"], r["limit"], r["window_s"], r["rate"]["requests"] if r["rate"] else None,
          r["rate"]["seconds"] if r["rate"] else None, r["rate"]["p5_p95_s"] if r["rate"] else None,
          r["rate"]["min_gap_s"] if r["rate"] else None, r["rate"]["rate_per_s"] if r["rate"] else None,
          r["rate"]["allowed_per_s"] if r["rate"] else None, r["rate"]["fraction"] if r["rate"] else None,
          r["violations_429"], r["faults"], r["retries"], r["records"]] for r in runs]))
    return {"runs": runs, "checks": checks}
