"""The benchmark behind `make bench`: figures, and ratios against a baseline run in the same process.

Machines are noisy (2 shared cores here), so every target is a ratio to something measured in the
same run, never an absolute time. Three sections, chosen with `--only`:

- `parse` (issue 3): Discogs releases dumps of growing size (the sample generator at 3 sizes);
  MB/s of uncompressed XML for a bare lxml iterparse loop that only clears elements (the baseline,
  same file, same process), for `discogs_dump.iter_records` and for `discogs_dump.convert_dump`,
  read from a plain `.xml` copy (parser cost alone) and from the `.xml.gz` (what a real dump costs);
  target ours / bare >= 0.7. Peak memory: the RSS high-water mark of a fresh subprocess per size and
  parser; target: flat (at most +20 % while the file grows 4x).
  Then (issue 13) a generated releases stream of the real record size with 3 % soundtracks
  (`scripts_spark.dump_stream`; 5 M releases, ~24 GB of XML, written to the scratch folder and
  deleted): `convert_dump` on all cores against one core's bare iterparse, same file, same process;
  target >= 1.4x. Also a smaller stream as .xml.gz, the process tree's peak RSS (large / small
  stream <= 1.2) and the minutes the real 80 GB dump would take at the .xml.gz rate (<= 20).
- `fetch` (issues 3, 12): our TMDB and Discogs fetches against the local `FakeApiServer` (sliding-window
  rate limit, counts every request over it) injecting the issue's fault mix into 5 % of requests (5xx,
  12-second stalls, bodies cut off mid-response; Discogs' times scaled with its window); target: the
  rate kept up (`sustained_rate`, between the 5th and 95th percentile request times) >= 0.9 of the
  allowed rate, with zero 429s. Skipped with the reason when ../shared/data (the recorded bodies) is absent.
- `match` (issue 4): on generated data with seed 7 (the pipeline's default is 42: nobody tuned on
  this one), precision, recall, F1 and seconds of our matcher (pipeline steps 1-4), of the replaced
  system's rule (RapidFuzz `token_set_ratio >= 85` on raw titles, +-2 years, Stage & Screen albums)
  and of a Splink 5 Fellegi-Sunter model on the Spark backend.

A MISS is a finding, not an error. Exit codes: 0 the sections ran (whatever their verdicts), 1 a
section failed to run, 2 bad arguments. Output: tables on stdout and `bench_<timestamp>.json` in
`--out` (default: scratch in a temporary folder, the JSON in DATA_ROOT/reports).

Splink 5.0.0 declares `pyarrow>=18` while this project pins pyarrow 8.0.0 (Databricks 14.3 LTS), so
it is never installed into the venv: it goes, with exact pins and `--no-deps`, into a separate
`--target` folder (`SPLINK_PACKAGES`, default `<venv>/bench-splink-overlay`) that only the Splink
subprocess puts on its path. `--no-splink` skips it.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import gzip
import io
import json
import logging
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from scripts.gold_digest import gold_folder
from scripts_spark.cli import PROJECT_LOGGERS, configure_logging

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("parse", "fetch", "match")
EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

# Targets from issues 3 and 4.
PARSE_RATIO_TARGET = 0.7
DUMP_RATIO_TARGET = 1.4  # issue 13: the whole converter on all cores / one core's bare iterparse
DUMP_SOUNDTRACK_SHARE = 0.03
REAL_DUMP_XML_GB = 80.0  # the monthly releases dump: ~18 M releases, ~11 GB gzip, ~80 GB of XML
REAL_DUMP_TARGET_MINUTES = 20.0
MEMORY_GROWTH_TARGET = 1.2  # peak RSS at the largest file / at the smallest, file 4x larger
FETCH_RATE_TARGET = 0.9
MATCH_PRECISION_TARGET, MATCH_RECALL_TARGET = 0.98, 0.95

PARSE_SEED = 11
MATCH_SEED = 7  # not the pipeline's default 42, which the matcher was developed on


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

# Splink and the packages it needs at versions that install for Python 3.10, in a folder of their
# own (see the module docstring). pyarrow is the one that conflicts with the project's pins.
SPLINK_PACKAGES = ("splink==5.0.0", "duckdb==1.5.6", "pyarrow==25.0.1", "sqlglot==30.30.0")
SPLINK_THRESHOLD = 0.5  # match probability; Fellegi-Sunter's own decision point (weight 0), not tuned


class BenchError(RuntimeError):
    """A section could not run (as opposed to a target missed)."""


def ratio(value: Optional[float], baseline: Optional[float]) -> Optional[float]:
    """value / baseline, or None when either is missing or the baseline is not positive."""
    if value is None or baseline is None or baseline <= 0:
        return None
    return value / baseline


def verdict(name: str, value: Optional[float], target: float, *, higher_is_better: bool = True,
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


def album_key(master_id, release_id) -> str:
    """The album a true pair names: `m<master>`, or `r<release>` for a release without master
    (the same key as silver `album_id`)."""
    if master_id not in (None, "") and not (isinstance(master_id, float) and math.isnan(master_id)):
        return f"m{int(master_id)}"
    return f"r{int(release_id)}"


def read_true_pairs(path: Path) -> set[tuple[int, str]]:
    """`raw/true_pairs.csv` as {(tmdb_id, album key)}."""
    with open(path, newline="", encoding="utf-8") as handle:
        return {(int(row["tmdb_id"]), album_key(row["discogs_master_id"], row["discogs_release_id"]))
                for row in csv.DictReader(handle)}


def pair_quality(predicted: set, truth: set) -> dict:
    """Precision, recall and F1 of predicted (tmdb_id, album key) pairs against the true ones."""
    true_pos = len(predicted & truth)
    precision = true_pos / len(predicted) if predicted else 0.0
    recall = true_pos / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"predicted": len(predicted), "true_pairs": len(truth), "true_positives": true_pos,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _year(value) -> Optional[int]:
    """A usable year (an int above 0) from an int, float or NaN; None otherwise."""
    if value is None:
        return None
    try:
        year = int(value)
    except (TypeError, ValueError):
        return None
    return year if year > 0 else None


def rule_pairs(films: Iterable[tuple], albums: Iterable[tuple], scorer: Callable[..., float], *,
               processor: Optional[Callable[[str], str]] = None, threshold: float = 85.0,
               year_window: int = 2) -> set[tuple[int, str]]:
    """The replaced system's rule: every (film, album) whose raw titles score >= `threshold` and
    whose years differ by at most `year_window`.

    Args:
        films: (tmdb_id, title, year) tuples.
        albums: (album_id, title, year) tuples, already restricted to soundtrack albums.
        scorer: `rapidfuzz.fuzz.token_set_ratio` or anything with its signature.
        processor: passed to the scorer (None: titles compared exactly as written).

    Returns:
        {(tmdb_id, album_id)}. Films are looked up by year (album year +-`year_window`) so the
        baseline finishes; the rule itself needs the years that close, so no pair is lost by it.
    """
    by_year: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for tmdb_id, title, year in films:
        year = _year(year)
        if year is not None and title:
            by_year[year].append((int(tmdb_id), title))
    pairs: set[tuple[int, str]] = set()
    for album_id, title, year in albums:
        year = _year(year)
        if year is None or not title:
            continue
        for film_year in range(year - year_window, year + year_window + 1):
            for tmdb_id, film_title in by_year.get(film_year, ()):
                if scorer(title, film_title, processor=processor, score_cutoff=threshold) >= threshold:
                    pairs.add((tmdb_id, album_id))
    return pairs


def sustained_rate(arrivals: Sequence[float], limit: int, window: float) -> Optional[dict]:
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


def growth(values: Sequence[float]) -> Optional[float]:
    """Last / first of a series (e.g. peak memory by growing file size)."""
    return ratio(values[-1], values[0]) if len(values) >= 2 else None


def bare_iterparse(path: Path) -> int:
    """The baseline: iterparse the release elements, clear each (and what precedes it), nothing else.

    Same options as `iter_records` (tag filter, huge_tree, no entities, no network).
    """
    from lxml import etree

    count = 0
    with gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb") as handle:
        for _event, elem in etree.iterparse(handle, events=("end",), tag="release", huge_tree=True,
                                            resolve_entities=False, no_network=True):
            count += 1
            elem.clear()
            parent = elem.getparent()
            while elem.getprevious() is not None:
                del parent[0]
    return count


def parse_iter_records(path: Path) -> int:
    from scripts.discogs_dump import iter_records

    return sum(1 for _ in iter_records(path, "releases"))


def parse_convert_dump(path: Path, dest: Path) -> int:
    """`convert_dump` as step 02 calls it: soundtrack subset, gzip JSON lines."""
    from scripts.discogs_dump import convert_dump

    return convert_dump(path, dest, kind="releases").records_seen


def _run_parser(method: str, path: Path, scratch: Path) -> int:
    if method == "bare":
        return bare_iterparse(path)
    if method == "iter_records":
        return parse_iter_records(path)
    if method == "convert_dump":
        return parse_convert_dump(path, scratch / "convert_dump_out.jsonl.gz")
    if method == "none":  # the floor: interpreter and imports only
        return 0
    raise ValueError(f"unknown parser {method!r}")


PARSERS = ("bare", "iter_records", "convert_dump")


def _peak_rss_child(method: str, path: Path, scratch: Path) -> dict:
    """Run one parser in a fresh interpreter; its own RSS high-water mark (so sizes do not mix)."""
    result = scratch / f"peak_{method}.json"
    cmd = [sys.executable, "-m", "scripts_spark.bench", "--worker", "parse-peak", "--method", method,
           "--path", str(path), "--result", str(result), "--out", str(scratch)]
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise BenchError(f"peak-memory child for {method} failed: {done.stderr.strip()[-500:]}")
    return json.loads(result.read_text(encoding="utf-8"))


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


def _worker_parse_peak(method: str, path: Path, result: Path, scratch: Path) -> int:
    import lxml.etree  # noqa: F401  (every child imports the same, so the floor is comparable)
    import scripts.discogs_dump  # noqa: F401

    records = _run_parser(method, path, scratch)
    result.write_text(json.dumps({"method": method, "records": records, "peak_rss_mb": peak_rss_mb()}),
                      encoding="utf-8")
    return EXIT_OK


def _best_seconds(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        count = fn()
        best = min(best, time.perf_counter() - started)
    return best, count


def _releases_dump(films: int, folder: Path) -> tuple[Path, Path]:
    """A generated releases dump (`.xml.gz`) and its plain `.xml` copy."""
    from scripts.generate_sample_data import RELEASES_FILE, generate

    raw = folder / "raw"
    if not (raw / RELEASES_FILE).is_file():
        generate(raw, films=films, seed=PARSE_SEED, bad_records=0, overwrite=True)
    gz_path = raw / RELEASES_FILE
    plain = folder / "releases.xml"
    if not plain.is_file():
        with gzip.open(gz_path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    return gz_path, plain


def _real_sample_row(scratch: Path, repeats: int) -> Optional[dict]:
    """The three parsers on the real 2020 releases sample (1,000 records, 36 soundtracks), when the
    shared data is there: the generated dumps are half soundtracks, a real dump a few percent."""
    sample = PROJECT_ROOT.parent / "shared" / "data" / "discogs_dump_xml" / "discogs_20200806_releases.xml.gz"
    if not sample.is_file():
        return None
    folder = scratch / "parse" / "real_2020"
    folder.mkdir(parents=True, exist_ok=True)
    plain = folder / "discogs_20200806_releases.xml"
    with gzip.open(sample, "rb") as src, open(plain, "wb") as dst:
        shutil.copyfileobj(src, dst)
    xml_mb = plain.stat().st_size / 1e6
    timings = {method: _best_seconds(lambda m=method: _run_parser(m, plain, folder), repeats) for method in PARSERS}
    row = {"films": "real", "source": "xml", "xml_mb": round(xml_mb, 2), "records": timings["bare"][1]}
    for method in PARSERS:
        row[f"{method}_mb_s"] = round(xml_mb / timings[method][0], 2)
        row[f"{method}_ratio"] = round(ratio(xml_mb / timings[method][0], xml_mb / timings["bare"][0]), 4)
    return row


def run_parse(plan: Plan, scratch: Path) -> dict:
    """The parse section; returns rows, peak memory and verdicts (also printed)."""
    rows, memory = [], []
    for films in plan.parse_films:
        folder = scratch / "parse" / f"films_{films}"
        gz_path, plain = _releases_dump(films, folder)
        xml_mb = plain.stat().st_size / 1e6
        for source, path in (("xml", plain), ("xml.gz", gz_path)):
            repeats = plan.parse_repeats if source == "xml" else 1
            timings = {}
            # The same file for all three, read once before (generation or the gunzip copy), so it is
            # in the page cache alike; best of N takes the least disturbed pass on a shared machine.
            for method in PARSERS:
                seconds, records = _best_seconds(lambda m=method, p=path: _run_parser(m, p, folder), repeats)
                timings[method] = (seconds, records)
            bare_mbps = xml_mb / timings["bare"][0]
            row = {"films": films, "source": source, "xml_mb": round(xml_mb, 2), "records": timings["bare"][1]}
            for method in PARSERS:
                row[f"{method}_mb_s"] = round(xml_mb / timings[method][0], 2)
                row[f"{method}_ratio"] = round(ratio(xml_mb / timings[method][0], bare_mbps), 4)
            rows.append(row)
        peaks = {"films": films, "xml_mb": round(xml_mb, 2),
                 "floor_mb": _peak_rss_child("none", plain, folder)["peak_rss_mb"]}
        for method in PARSERS:
            peaks[f"{method}_peak_mb"] = _peak_rss_child(method, plain, folder)["peak_rss_mb"]
        memory.append(peaks)

    checks = []
    plain_rows = [r for r in rows if r["source"] == "xml" and r["films"] != "real"]
    gz_rows = [r for r in rows if r["source"] == "xml.gz"]
    for method in ("iter_records", "convert_dump"):
        worst = min(r[f"{method}_ratio"] for r in plain_rows)
        checks.append(verdict(f"parse: {method} / bare iterparse, plain XML", worst, PARSE_RATIO_TARGET,
                              detail=f"worst of {len(plain_rows)} sizes"))
        worst_gz = min(r[f"{method}_ratio"] for r in gz_rows)
        checks.append(verdict(f"parse: {method} / bare iterparse, .xml.gz", worst_gz, PARSE_RATIO_TARGET,
                              detail=f"worst of {len(gz_rows)} sizes"))
    real = _real_sample_row(scratch, plan.parse_repeats)
    if real is not None:
        rows.append(real)
        checks.append(verdict("parse: convert_dump / bare iterparse, real 2020 sample", real["convert_dump_ratio"],
                              PARSE_RATIO_TARGET, detail="a real dump: few records are soundtracks"))
    file_growth = growth([m["xml_mb"] for m in memory])
    for method in ("iter_records", "convert_dump"):
        checks.append(verdict(f"parse: peak RSS growth, {method}", growth([m[f"{method}_peak_mb"] for m in memory]),
                              MEMORY_GROWTH_TARGET, higher_is_better=False,
                              detail=f"largest / smallest file; the file grows x{file_growth:.1f}"
                              if file_growth else ""))

    dump = run_dump_parse(plan, scratch)
    checks.extend(dump["checks"])

    _say("\n== parse: Discogs releases dump, MB/s of uncompressed XML (best of "
         f"{plan.parse_repeats} for .xml, 1 for .xml.gz) ==")
    _say(format_table(
        ["films", "source", "XML MB", "records", "bare MB/s", "iter_records MB/s", "ratio", "convert_dump MB/s",
         "ratio"],
        [[r["films"], r["source"], r["xml_mb"], r["records"], r["bare_mb_s"], r["iter_records_mb_s"],
          r["iter_records_ratio"], r["convert_dump_mb_s"], r["convert_dump_ratio"]] for r in rows]))
    _say("\npeak RSS (MB) of a fresh process per file and parser (floor: interpreter + imports only)")
    _say(format_table(["films", "XML MB", "floor", "bare", "iter_records", "convert_dump"],
                      [[m["films"], m["xml_mb"], m["floor_mb"], m["bare_peak_mb"], m["iter_records_peak_mb"],
                        m["convert_dump_peak_mb"]] for m in memory]))
    _say_dump(dump)
    return {"rows": rows, "memory": memory, "checks": checks, "dump": {k: v for k, v in dump.items() if k != "checks"}}


def _tree_rss_mb(pid: int) -> float:
    """Current RSS of `pid` and all its descendants, in MB (0 for a process that is gone)."""
    total_kb = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
                        break
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as children:
                pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return total_kb / 1024


class _TreePeak:
    """Samples the RSS of this process and its children every `interval` s; `.peak_mb` when done.

    The reader and its worker processes peak at different moments, so the sum of their own
    high-water marks would overstate the tree; sampling the sum sees the real peak (within one
    interval).
    """

    def __init__(self, interval: float = 0.1) -> None:
        import threading

        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(os.getpid()))
            self._stop.wait(interval)

    def __enter__(self) -> "_TreePeak":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = round(max(self.peak_mb, _tree_rss_mb(os.getpid())), 1)


def _write_stream(path: Path, releases: int, templates, compress: bool) -> dict:
    """The generated releases dump as a file (`gzip -1` when `compress`: the real dumps are gzip)."""
    from scripts_spark.dump_stream import write_release_stream

    if not compress:
        with open(path, "wb") as sink:
            return write_release_stream(sink, releases, templates, DUMP_SOUNDTRACK_SHARE)
    gzip_bin = shutil.which("gzip")
    if gzip_bin is None:  # the gzip module is slower, but the file is the same format
        with gzip.open(path, "wb", compresslevel=1) as sink:
            return write_release_stream(sink, releases, templates, DUMP_SOUNDTRACK_SHARE)
    with open(path, "wb") as target:
        proc = subprocess.Popen([gzip_bin, "-1", "-c"], stdin=subprocess.PIPE, stdout=target)
        try:
            info = write_release_stream(proc.stdin, releases, templates, DUMP_SOUNDTRACK_SHARE)
        finally:
            proc.stdin.close()
            code = proc.wait()
    if code != 0:
        raise BenchError(f"gzip -1 exited with {code} while writing {path}")
    return info


def _dump_row(label: str, path: Path, info: dict, workers: int, folder: Path) -> dict:
    """Bare iterparse, then `convert_dump` on `workers` processes, on the same file in this process."""
    from scripts.discogs_dump import DumpStats, convert_dump

    xml_mb = info["xml_bytes"] / 1e6
    own_before, _ = _cpu_seconds()
    started = time.perf_counter()
    bare_records = bare_iterparse(path)
    bare_s = time.perf_counter() - started
    own_after, children_before = _cpu_seconds()
    bare_cpu = own_after - own_before
    stats = DumpStats()
    with _TreePeak() as peak:
        started = time.perf_counter()
        convert_dump(path, folder / "dump_out.jsonl.gz", kind="releases", stats=stats, workers=workers)
        ours_s = time.perf_counter() - started
    own_end, children_end = _cpu_seconds()
    reader_cpu, workers_cpu = own_end - own_after, children_end - children_before
    # What an idle machine with `workers` cores would take: the reader alone, or all the CPU spread
    # over the cores, whichever is longer. Load-independent, unlike the wall clock.
    idle_s = max(reader_cpu, (reader_cpu + workers_cpu) / workers)
    if bare_records != info["releases"] or stats.records_seen != info["releases"] \
            or stats.records_kept != info["soundtracks"]:
        raise BenchError(f"{label}: {info['releases']} releases / {info['soundtracks']} soundtracks written, "
                         f"bare saw {bare_records}, convert_dump saw {stats.records_seen} and kept "
                         f"{stats.records_kept}")
    return {"stream": label, "releases": info["releases"], "soundtracks": info["soundtracks"],
            "xml_mb": round(xml_mb, 1), "workers": workers, "bare_s": round(bare_s, 2),
            "bare_mb_s": round(xml_mb / bare_s, 1), "ours_s": round(ours_s, 2),
            "ours_mb_s": round(xml_mb / ours_s, 1), "ratio": round(bare_s / ours_s, 4),
            "tree_peak_mb": peak.peak_mb, "bare_cpu_s": round(bare_cpu, 2), "reader_cpu_s": round(reader_cpu, 2),
            "workers_cpu_s": round(workers_cpu, 2), "ours_cpu_s": round(reader_cpu + workers_cpu, 2),
            "idle_ratio": round(bare_cpu / idle_s, 4) if idle_s > 0 else None,
            "idle_mb_s": round(xml_mb / idle_s, 1) if idle_s > 0 else None,
            "load_after": round(os.getloadavg()[0], 2)}


def _cpu_seconds() -> tuple[float, float]:
    """(user + system CPU of this process, of its finished children): the pool's workers are joined
    when `convert_dump` returns. On a loaded machine the wall-clock ratio also measures how the
    scheduler shares the cores among processes (three of ours against one baseline process); CPU
    seconds do not."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def run_dump_parse(plan: Plan, scratch: Path) -> dict:
    """Issue 13: the whole converter on all cores against one core's bare iterparse, on a generated
    releases stream of real record size with 3 % soundtracks (plain XML: the parser's cost; a
    smaller .xml.gz: what a real download costs), and the peak RSS of the whole process tree.

    Each stream is written to `scratch`, read by both parsers in turn, and deleted.
    """
    from scripts_spark.dump_stream import load_templates

    workers = os.cpu_count() or 1
    templates = load_templates()
    folder = scratch / "parse" / "dump_stream"
    folder.mkdir(parents=True, exist_ok=True)
    needed = plan.dump_releases * templates.mean_record_bytes * 1.05
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise BenchError(f"the {plan.dump_releases:,}-release stream needs ~{needed / 1e9:.1f} GB in {folder}, "
                         f"{free / 1e9:.1f} GB free: pass --out DIR on a larger disk")
    rows = []
    for label, releases, compress in (("small .xml.gz", plan.dump_small_releases, True),
                                      ("small .xml", plan.dump_small_releases, False),
                                      ("large .xml", plan.dump_releases, False)):
        path = folder / ("stream.xml.gz" if compress else "stream.xml")
        try:
            info = _write_stream(path, releases, templates, compress)
            rows.append(_dump_row(label, path, info, workers, folder))
        finally:
            path.unlink(missing_ok=True)
    large, small_gz, small = rows[2], rows[0], rows[1]
    gz_mb_s = small_gz["ours_mb_s"]
    extrapolated_min = REAL_DUMP_XML_GB * 1e3 / gz_mb_s / 60 if gz_mb_s else None
    idle_gz = small_gz["idle_mb_s"]
    idle_min = REAL_DUMP_XML_GB * 1e3 / idle_gz / 60 if idle_gz else None
    checks = [
        verdict("dump: convert_dump on all cores / bare iterparse, large .xml", large["ratio"], DUMP_RATIO_TARGET,
                detail=f"{large['releases']:,} releases, {large['xml_mb'] / 1e3:.1f} GB XML, {workers} workers"),
        verdict("dump: convert_dump on all cores / bare iterparse, .xml.gz", small_gz["ratio"], DUMP_RATIO_TARGET,
                detail=f"{small_gz['releases']:,} releases"),
        verdict("dump: peak RSS of the process tree, large / small stream", ratio(large["tree_peak_mb"],
                small["tree_peak_mb"]), MEMORY_GROWTH_TARGET, higher_is_better=False,
                detail=f"the stream grows x{large['xml_mb'] / small['xml_mb']:.0f}"),
        verdict("dump: convert_dump CPU on all cores / bare iterparse CPU, large .xml (idle machine)",
                large["idle_ratio"], DUMP_RATIO_TARGET, detail="from CPU seconds: what the ratio is without other load"),
        verdict("dump: minutes for the real 80 GB releases dump (.xml.gz), idle machine", idle_min,
                REAL_DUMP_TARGET_MINUTES, higher_is_better=False,
                detail=f"at {idle_gz} MB/s from CPU seconds; {extrapolated_min and round(extrapolated_min, 1)} "
                       f"min at the {gz_mb_s} MB/s measured under load {small_gz['load_after']}"),
    ]
    return {"rows": rows, "templates": templates.source, "extrapolated_minutes": extrapolated_min and
            round(extrapolated_min, 1), "idle_minutes": idle_min and round(idle_min, 1), "checks": checks}


def _say_dump(dump: dict) -> None:
    _say(f"\n== parse: generated releases stream ({DUMP_SOUNDTRACK_SHARE:.0%} soundtracks, templates from "
         f"{dump['templates']}), bare iterparse on 1 core vs convert_dump on all cores ==")
    _say(format_table(
        ["stream", "releases", "XML MB", "workers", "bare MB/s", "ours MB/s", "ratio", "bare CPU s",
         "reader CPU s", "workers CPU s", "idle ratio", "tree peak MB", "load"],
        [[r["stream"], r["releases"], r["xml_mb"], r["workers"], r["bare_mb_s"], r["ours_mb_s"], r["ratio"],
          r["bare_cpu_s"], r["reader_cpu_s"], r["workers_cpu_s"], r["idle_ratio"], r["tree_peak_mb"],
          r["load_after"]] for r in dump["rows"]]))
    _say(f"extrapolated to the real releases dump ({REAL_DUMP_XML_GB:.0f} GB of XML, .xml.gz): "
         f"{dump['extrapolated_minutes']} minutes at the measured rate, {dump['idle_minutes']} on an idle machine")


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
        _say(f"\n== fetch: skipped: {fake.SKIP_REASON} ==")
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
    _say(f"\n== fetch: our clients against FakeApiServer on 127.0.0.1 (sliding-window limit, "
         f"{FETCH_FAULT_RATE:.0%} faults: 5xx, stalls, cut-off bodies) ==")
    _say("rate = requests between the 5th and 95th percentile request times / that span; min gap = shortest "
         "time from a request to the one `limit` later (below `window` means a request over the limit)")
    _say(format_table(
        ["api", "limit", "window s", "requests", "seconds", "p5-p95 s", "min gap s", "rate/s", "allowed/s",
         "fraction", "429s", "faults", "retries", "records"],
        [[r["api"], r["limit"], r["window_s"], r["rate"]["requests"] if r["rate"] else None,
          r["rate"]["seconds"] if r["rate"] else None, r["rate"]["p5_p95_s"] if r["rate"] else None,
          r["rate"]["min_gap_s"] if r["rate"] else None, r["rate"]["rate_per_s"] if r["rate"] else None,
          r["rate"]["allowed_per_s"] if r["rate"] else None, r["rate"]["fraction"] if r["rate"] else None,
          r["violations_429"], r["faults"], r["retries"], r["records"]] for r in runs]))
    return {"runs": runs, "checks": checks}


def _silver_frames(spark, data_root: Path):
    films = spark.read.parquet(str(data_root / "silver" / "films")) \
        .select("tmdb_id", "title", "release_year").toPandas()
    albums = spark.read.parquet(str(data_root / "silver" / "albums")) \
        .select("album_id", "title", "year", "genres").toPandas()
    return films, albums


def rapidfuzz_rule(films_pd, albums_pd, *, default_process: bool) -> set[tuple[int, str]]:
    """The replaced system's rule over collected silver tables (raw titles, Stage & Screen albums)."""
    from rapidfuzz import fuzz, utils

    soundtracks = albums_pd[albums_pd["genres"].map(lambda g: g is not None and "Stage & Screen" in list(g))]
    return rule_pairs(
        films_pd[["tmdb_id", "title", "release_year"]].itertuples(index=False, name=None),
        soundtracks[["album_id", "title", "year"]].itertuples(index=False, name=None),
        fuzz.token_set_ratio, processor=utils.default_process if default_process else None)


def _run_ours(data_root: Path, run_id: str) -> dict:
    """Steps 1-4 through the pipeline's own entry (it reuses the active SparkSession)."""
    from scripts_spark import pipeline

    captured = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(captured):
        code = pipeline.main(["--data-root", str(data_root), "--steps", "1-4", "--run-id", run_id])
    wall = time.monotonic() - started
    _quiet_project_loggers()  # the pipeline configured them for its own run
    if code != 0:
        raise BenchError(f"pipeline steps 1-4 failed with exit code {code}: {captured.getvalue().strip()[-500:]}")
    metrics = json.loads((data_root / "metrics" / f"run_{run_id}.json").read_text(encoding="utf-8"))
    return {"wall_s": round(wall, 2), "metrics": metrics,
            "step_seconds": {s["step"]: s["seconds"] for s in metrics.get("steps", [])}}


def _our_pairs(spark, data_root: Path) -> set[tuple[int, str]]:
    rows = spark.read.parquet(str(gold_folder(data_root) / "soundtrack_matches")).select("tmdb_id", "album_id").collect()
    return {(int(r["tmdb_id"]), r["album_id"]) for r in rows}


def default_splink_overlay() -> Path:
    return Path(sys.prefix) / "bench-splink-overlay"


def ensure_splink_overlay(target: Path, timeout: float = 600.0) -> tuple[Optional[Path], str]:
    """Install `SPLINK_PACKAGES` into `target` (pip --target --no-deps) unless already there.

    Returns:
        (folder, "") when usable, else (None, the reason).
    """
    marker = target / ".bench-packages"
    wanted = "\n".join(SPLINK_PACKAGES)
    if marker.is_file() and marker.read_text(encoding="utf-8") == wanted:
        return target, ""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
           "--target", str(staging), *SPLINK_PACKAGES]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"pip install {' '.join(SPLINK_PACKAGES)} did not finish: {exc}"
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        tail = " ".join(done.stderr.strip().splitlines()[-2:])
        return None, f"pip install {' '.join(SPLINK_PACKAGES)} failed: {tail}"
    (staging / ".bench-packages").write_text(wanted, encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target, ""


def _run_splink(data_root: Path, overlay: Path, scratch: Path, u_pairs: float) -> dict:
    result = scratch / "splink_result.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(overlay), str(PROJECT_ROOT), env.get("PYTHONPATH")) if p)
    cmd = [sys.executable, "-m", "scripts_spark.bench", "--worker", "splink", "--data-root", str(data_root),
           "--result", str(result), "--out", str(scratch), "--splink-u-pairs", str(u_pairs)]
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200)
    wall = time.monotonic() - started
    if done.returncode != 0 or not result.is_file():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"available": False, "reason": f"the Splink run failed (exit {done.returncode}): {tail[-600:]}"}
    payload = json.loads(result.read_text(encoding="utf-8"))
    payload.update(available=True, process_wall_s=round(wall, 2))
    return payload


def _worker_splink(data_root: Path, result: Path, scratch: Path, u_pairs: float) -> int:
    """Link silver films and soundtrack albums with Splink 5 on Spark; write pairs and timings.

    Runs in its own interpreter with the overlay first on the path (see the module docstring) and
    its own SparkSession, since the similarity jar must be on the classpath from the start.
    """
    import splink
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from pyspark.sql import functions as F
    from splink import Linker, SettingsCreator, SparkAPI, block_on
    from splink.backends.spark import similarity_jar_location

    from scripts_spark.session import build_spark

    started = time.monotonic()
    spark = build_spark(app_name="bench-splink", master="local[2]",
                        extra_conf={"spark.jars": similarity_jar_location()})
    spark.sparkContext.setCheckpointDir(str(scratch / "splink_checkpoints"))
    ready = time.monotonic()
    films = spark.read.parquet(str(data_root / "silver" / "films"))
    albums = spark.read.parquet(str(data_root / "silver" / "albums"))
    # Our silver features (title keys, composers) and the same eligible albums as our matcher, so
    # what is compared is the scoring model. Each title key of an album is a record of its own
    # (a two-film album can link to both films).
    films_df = films.select(
        F.col("tmdb_id").cast("string").alias("unique_id"), "tmdb_id", F.lit(None).cast("string").alias("album_id"),
        "title_key", F.coalesce("original_title_key", "title_key").alias("original_title_key"),
        F.coalesce("main_title_key", "title_key").alias("main_key"), F.col("release_year").cast("int").alias("year"),
        F.coalesce("composer_keys", F.array().cast("array<string>")).alias("composer_keys"))
    eligible = albums.filter(F.col("is_soundtrack") & (F.col("album_kind") == "film"))
    pieces = eligible.select(
        "album_id", F.posexplode("title_keys").alias("pos", "title_key"),
        F.element_at("main_title_keys", 1).alias("album_main_key"), F.col("year").cast("int").alias("year"),
        F.array_union(F.coalesce("artist_keys", F.array().cast("array<string>")),
                      F.coalesce("credit_keys", F.array().cast("array<string>"))).alias("composer_keys"))
    albums_df = pieces.select(
        F.concat_ws("#", "album_id", F.col("pos").cast("string")).alias("unique_id"),
        F.lit(None).cast("long").alias("tmdb_id"), "album_id", "title_key",
        F.col("title_key").alias("original_title_key"), F.coalesce("album_main_key", "title_key").alias("main_key"),
        "year", "composer_keys")
    settings = SettingsCreator(
        link_type="link_only",
        # Symmetric equi-joins only, like ours: title key, film original title vs album key, main title.
        blocking_rules_to_generate_predictions=[
            block_on("title_key"), "l.original_title_key = r.original_title_key", block_on("main_key")],
        comparisons=[
            cl.JaroWinklerAtThresholds("title_key", [0.97, 0.9]),
            cl.CustomComparison(output_column_name="year", comparison_levels=[
                cll.NullLevel("year"), cll.ExactMatchLevel("year"), cll.AbsoluteDifferenceLevel("year", 1),
                cll.AbsoluteDifferenceLevel("year", 3), cll.ElseLevel()]),
            cl.ArrayIntersectAtSizes("composer_keys", [1]),
        ],
        additional_columns_to_retain=["tmdb_id", "album_id"],
    )
    db_api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    linker = Linker([db_api.register(films_df, dataset_display_name="films"),
                     db_api.register(albums_df, dataset_display_name="albums")], settings, log_level="WARNING")
    train_started = time.monotonic()
    linker.training.estimate_probability_two_random_records_match(
        ["l.title_key = r.title_key and abs(l.year - r.year) <= 1"], recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=MATCH_SEED)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("title_key"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("year"))
    predict_started = time.monotonic()
    scored = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD).as_spark_dataframe()
    # Orientation of l/r is Splink's business: take whichever side holds the film.
    pairs_df = scored.select(
        F.coalesce("tmdb_id_l", "tmdb_id_r").alias("tmdb_id"), F.coalesce("album_id_l", "album_id_r").alias("album_id"),
        F.when(F.col("album_id_l").isNotNull(), F.col("unique_id_l")).otherwise(F.col("unique_id_r")).alias("piece"),
        "match_probability")
    best = {}
    for row in pairs_df.collect():
        kept = best.get(row["piece"])
        if kept is None or (row["match_probability"], -row["tmdb_id"]) > (kept[2], -kept[0]):
            best[row["piece"]] = (int(row["tmdb_id"]), row["album_id"], row["match_probability"])
    finished = time.monotonic()
    result.write_text(json.dumps({
        "splink_version": splink.__version__, "pyarrow_version": __import__("pyarrow").__version__,
        "threshold_match_probability": SPLINK_THRESHOLD, "scored_pairs": len(best),
        "pairs": sorted({(t, a) for t, a, _p in best.values()}),
        "seconds": {"session_start": round(ready - started, 2), "train": round(predict_started - train_started, 2),
                    "predict": round(finished - predict_started, 2), "model": round(finished - ready, 2)},
    }), encoding="utf-8")
    spark.stop()
    return EXIT_OK


def run_match(plan: Plan, scratch: Path, *, splink: str, splink_overlay: Path) -> dict:
    """The match section: ours, the replaced rule and Splink on the same generated data."""
    from scripts.generate_sample_data import TRUE_PAIRS_FILE, generate
    from scripts.settings import load_settings
    from scripts_spark.session import build_spark

    data_root = scratch / f"match_films_{plan.match_films}"
    raw = data_root / "raw"
    if not (raw / TRUE_PAIRS_FILE).is_file():
        generate(raw, films=plan.match_films, seed=MATCH_SEED, overwrite=True)
    truth = read_true_pairs(raw / TRUE_PAIRS_FILE)
    settings = load_settings()
    spark = build_spark(app_name="bench", master=settings.spark_master)
    run_id = "bench_" + datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    ours_run = _run_ours(data_root, run_id)
    steps = ours_run["step_seconds"]
    ours_match_s = steps.get("04_match")
    normalize_s = steps.get("03_normalize") or 0.0
    methods = [{"method": "ours (step 04)", "key": "ours", "seconds": ours_match_s,
                "from_bronze_s": round(normalize_s + (ours_match_s or 0.0), 2),
                **pair_quality(_our_pairs(spark, data_root), truth),
                "pipeline_quality": ours_run["metrics"].get("quality")}]

    started = time.monotonic()
    films_pd, albums_pd = _silver_frames(spark, data_root)
    collect_s = time.monotonic() - started
    try:
        import rapidfuzz
    except ImportError:
        rapidfuzz = None
    for default_process, label in ((False, "replaced rule: rapidfuzz, raw titles"),
                                   (True, "replaced rule + rapidfuzz default_process")):
        key = "rapidfuzz_default_process" if default_process else "rapidfuzz"
        if rapidfuzz is None:
            methods.append({"method": label, "key": key, "available": False,
                            "reason": "rapidfuzz not installed: pip install -r requirements_bench.txt"})
            continue
        started = time.monotonic()
        predicted = rapidfuzz_rule(films_pd, albums_pd, default_process=default_process)
        rule_s = time.monotonic() - started
        seconds = collect_s + rule_s
        methods.append({"method": label, "key": key, "seconds": round(seconds, 2), "collect_s": round(collect_s, 2),
                        "rule_s": round(rule_s, 2),
                        "from_bronze_s": round(normalize_s + seconds, 2), "rapidfuzz_version": rapidfuzz.__version__,
                        **pair_quality(predicted, truth)})

    label = f"splink {SPLINK_PACKAGES[0].split('==')[1]} (spark)"
    if splink == "off":
        methods.append({"method": label, "key": "splink", "available": False, "reason": "--no-splink"})
    else:
        overlay, reason = ensure_splink_overlay(splink_overlay)
        result = _run_splink(data_root, overlay, scratch, plan.splink_u_pairs) if overlay else \
            {"available": False, "reason": reason}
        if result.get("available"):
            predicted = {(int(t), a) for t, a in result.pop("pairs")}
            result["splink_seconds"] = result.pop("seconds")
            model_s = result["splink_seconds"]["model"]
            methods.append({"method": label, "key": "splink", **result, "seconds": model_s,
                            "from_bronze_s": round(normalize_s + model_s, 2), **pair_quality(predicted, truth)})
        else:
            methods.append({"method": label, "key": "splink", **result})

    for method in methods:
        method["time_vs_ours"] = ratio(method.get("seconds"), ours_match_s)
    ours = methods[0]
    checks = [verdict("match: ours precision", ours["precision"], MATCH_PRECISION_TARGET),
              verdict("match: ours recall", ours["recall"], MATCH_RECALL_TARGET)]
    for method in methods[1:]:
        if "f1" in method:
            checks.append(verdict(f"match: ours F1 / {method['key']} F1", ratio(ours["f1"], method["f1"]), 1.0,
                                  detail="ours at least as good"))

    _say(f"\n== match: seed {MATCH_SEED}, {plan.match_films} films, {len(truth)} true pairs; "
         f"steps 1-4 took {ours_run['wall_s']:.1f} s ({', '.join(f'{k} {v:.1f}s' for k, v in steps.items())}) ==")
    _say(format_table(
        ["method", "precision", "recall", "F1", "predicted", "seconds", "time/ours", "from bronze s"],
        [[m["method"], m.get("precision"), m.get("recall"), m.get("f1"), m.get("predicted"), m.get("seconds"),
          m.get("time_vs_ours"), m.get("from_bronze_s")] for m in methods]))
    for method in methods:
        if method.get("available") is False:
            _say(f"  {method['key']}: not available: {method['reason']}")
    _say("  replaced rule: fuzz.token_set_ratio(album title, film title) >= 85 and |year gap| <= 2 on Stage & "
         "Screen albums, every passing pair kept; raw titles as written (processor None), and once with "
         "rapidfuzz's utils.default_process (lowercase, symbols out) as a kinder variant.\n"
         f"  splink: Fellegi-Sunter on our silver title keys, year and composers, the same eligible albums "
         f"and equi-join blocking as ours; best film per album title key with match probability >= "
         f"{SPLINK_THRESHOLD} (weight 0, not tuned).\n"
         "  seconds: ours = step 04 (blocking, scoring, assignment, gold writes, quality counts); replaced "
         "rule = silver collected to pandas + the rule in plain Python, films looked up by album year +-2 "
         "(the rule needs that closeness anyway, so no pair is lost); splink = training + prediction in its "
         "own process (excluding its JVM start). from bronze = + step 03 (silver), which all of them read.")
    return {"films": plan.match_films, "seed": MATCH_SEED, "true_pairs": len(truth), "ours_steps_s": steps,
            "methods": methods, "checks": checks}


def _say(text: str) -> None:
    """Command-line output for the person running the benchmark."""
    print(text, flush=True)




@contextlib.contextmanager
def _project_logging():
    """Quiet the project's loggers (warnings to stderr) for a run, then put them back as they were,
    so calling `main()` in a test process leaves other tests' logging alone."""
    saved = {name: (list(log.handlers), log.level, log.propagate)
             for name, log in ((n, logging.getLogger(n)) for n in PROJECT_LOGGERS)}
    _quiet_project_loggers()
    try:
        yield
    finally:
        for name, (handlers, level, propagate) in saved.items():
            log = logging.getLogger(name)
            log.handlers[:] = handlers
            log.setLevel(level)
            log.propagate = propagate


def _quiet_project_loggers() -> None:
    configure_logging("WARNING")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m scripts_spark.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections to run (default: {','.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", help="small sizes: a fast check that everything runs")
    parser.add_argument("--out", type=Path, help="scratch folder, kept, and where bench_<timestamp>.json goes "
                        "(default: a temporary folder, removed; the JSON goes to DATA_ROOT/reports)")
    parser.add_argument("--no-splink", action="store_true", help="skip Splink in the match section")
    parser.add_argument("--splink-overlay", type=Path, default=None,
                        help="folder for the Splink packages (default: <venv>/bench-splink-overlay)")
    # Internal: the same module re-run as a child process for one measurement.
    parser.add_argument("--worker", choices=("parse-peak", "splink"), help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--splink-u-pairs", type=float, default=FULL.splink_u_pairs, help=argparse.SUPPRESS)
    return parser


def parse_sections(text: str) -> list[str]:
    """"parse,match" -> ["parse", "match"] in the benchmark's order; ValueError on unknown names."""
    chosen = {part.strip() for part in text.split(",") if part.strip()}
    unknown = chosen - set(SECTIONS)
    if not chosen or unknown:
        raise ValueError(f"--only takes sections from {','.join(SECTIONS)}, got {text!r}")
    return [s for s in SECTIONS if s in chosen]


def _report_dir(out: Optional[Path]) -> Optional[Path]:
    if out is not None:
        return out
    from scripts.settings import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError:
        return None
    if settings.is_remote_storage:
        return None
    root = Path(settings.data_root)
    return (root if root.is_absolute() else PROJECT_ROOT / root) / "reports"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the chosen sections; 0 when they ran (targets met or not), 1 a section failed, 2 bad arguments."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        sections = parse_sections(args.only)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad arguments (2)
        return int(exc.code or 0)
    except ValueError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    with _project_logging():
        if args.worker == "parse-peak":
            return _worker_parse_peak(args.method, args.path, args.result, args.out)
        if args.worker == "splink":
            return _worker_splink(args.data_root, args.result, args.out, args.splink_u_pairs)
        return _run(args, sections)


def _run(args: argparse.Namespace, sections: list[str]) -> int:
    plan = QUICK if args.quick else FULL
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    report = {"bench_at": stamp, "quick": args.quick, "sections": {}, "errors": {},
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                          "loadavg_start": [round(x, 2) for x in os.getloadavg()]}}
    scratch_ctx = contextlib.nullcontext(args.out) if args.out else tempfile.TemporaryDirectory(prefix="bench-")
    with scratch_ctx as scratch_name:
        scratch = Path(scratch_name)
        scratch.mkdir(parents=True, exist_ok=True)
        _say(f"bench {stamp}: sections {','.join(sections)}{' (quick)' if args.quick else ''}; "
             f"{os.cpu_count()} cpus, load {report['machine']['loadavg_start']}; scratch {scratch}")
        runners = {
            "parse": lambda: run_parse(plan, scratch),
            "fetch": lambda: run_fetch(plan, scratch),
            "match": lambda: run_match(plan, scratch, splink="off" if args.no_splink else "auto",
                                       splink_overlay=args.splink_overlay or default_splink_overlay()),
        }
        for section in sections:
            started = time.monotonic()
            try:
                result = runners[section]()
            except Exception as exc:  # reported and counted; the other sections still run
                logger.error("section %s failed", section, exc_info=True)
                report["errors"][section] = f"{type(exc).__name__}: {exc}"
                _say(f"\nERROR {section}: {type(exc).__name__}: {exc}")
                continue
            result["seconds"] = round(time.monotonic() - started, 1)
            report["sections"][section] = result
        report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

        _say("\n== verdicts ==")
        for section, result in report["sections"].items():
            for check in result.get("checks", []):
                _say(verdict_line(check))
        for section, error in report["errors"].items():
            _say(f"ERROR {section}: {error}")
        target_dir = _report_dir(args.out)
        if target_dir is not None:
            target_dir.mkdir(parents=True, exist_ok=True)
            path = target_dir / f"bench_{stamp}.json"
            path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
            _say(f"\nreport: {path}")
        else:
            _say("\nreport: not written (DATA_ROOT is remote or the configuration is invalid): pass --out DIR")
    return EXIT_ERROR if report["errors"] else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
