"""What every section of `make bench` shares: the run plan, ratios, verdicts and the table printer.

The sections: `scripts.bench_parse` and `scripts.bench_fetch` (plain Python), and
`scripts_spark.bench_match` (Spark); `scripts_spark.bench` runs them (see its docstring).
"""
from __future__ import annotations

import logging
import math
import resource
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    """Sizes of one benchmark run (`FULL` for `make bench`, `QUICK` for `--quick`)."""

    parse_films: tuple[int, ...]
    parse_repeats: int
    tmdb_limit: int
    tmdb_window: float
    tmdb_requests: int
    discogs_limit: int
    discogs_window: float
    discogs_requests: int
    match_films: int
    splink_u_pairs: float
    # The large generated releases stream of issue 13 (real record size, 3 % soundtracks), and a
    # smaller one read as .xml.gz and for the memory comparison.
    dump_releases: int = 5_000_000
    dump_small_releases: int = 250_000


# Full: the parse files are ~9, 19 and 38 MB of XML (~30 s); the fetch section ~20 s; the match
# section ~2.5 min on 2 cores. Discogs' real 60 a minute is scaled to 60 per 10 s. Request counts
# are whole multiples of the limit.
FULL = Plan(parse_films=(3000, 6000, 12000), parse_repeats=2, tmdb_limit=40, tmdb_window=1.0,
            tmdb_requests=240, discogs_limit=60, discogs_window=10.0, discogs_requests=120,
            match_films=3000, splink_u_pairs=1e6)


QUICK = Plan(parse_films=(100, 200, 400), parse_repeats=1, tmdb_limit=20, tmdb_window=1.0,
             tmdb_requests=60, discogs_limit=10, discogs_window=1.0, discogs_requests=30,
             match_films=300, splink_u_pairs=1e5, dump_releases=20_000, dump_small_releases=5_000)


class BenchError(RuntimeError):
    """A section could not run (as opposed to a target missed)."""


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing or the baseline is not positive."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def verdict(name: str, value: float | None, target: float, *, higher_is_better: bool = True,
            detail: str = "") -> dict:
    """One target check: PASS, MISS, or N/A when nothing could be measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        status = "N/A"
    elif higher_is_better:
        status = "PASS" if value >= target else "MISS"
    else:
        status = "PASS" if value <= target else "MISS"
    return {"name": name, "value": None if value is None else round(value, 4), "target": target,
            "op": ">=" if higher_is_better else "<=", "status": status, "detail": detail}


def verdict_line(check: dict) -> str:
    value = "n/a" if check["value"] is None else f"{check['value']:.3f}"
    detail = f"  ({check['detail']})" if check["detail"] else ""
    return f"{check['status']:<4} {check['name']} = {value} (target {check['op']} {check['target']}){detail}"


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def format_table(headers: Sequence[str], rows: Iterable[Sequence]) -> str:
    """A plain-text table: text left-aligned, numbers right-aligned, `-` for missing values."""
    raw_rows = [list(row) for row in rows]
    cells = [[_cell(v) for v in row] for row in raw_rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in raw_rows) if raw_rows else False
               for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)).rstrip()

    out = [line(list(headers)), line(["-" * w for w in widths])]
    out.extend(line(row) for row in cells)
    return "\n".join(out)


def growth(values: Sequence[float]) -> float | None:
    """Last / first of a series (e.g. peak memory by growing file size)."""
    return ratio(values[-1], values[0]) if len(values) >= 2 else None


def peak_rss_mb() -> float:
    """This process's RSS high-water mark in MB.

    `VmHWM` from /proc/self/status where there is one: `getrusage(RUSAGE_SELF).ru_maxrss` also
    counts the RSS the forking parent had (Linux keeps it across exec), which would mix sizes.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)  # kB
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def _best_seconds(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - started)
    return best, count
