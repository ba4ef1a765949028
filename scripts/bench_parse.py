"""The `parse` section of `make bench`: Discogs dump parsing against a bare lxml iterparse baseline.

See `scripts_spark.bench` for what is measured and the targets.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from scripts.bench_common import PROJECT_ROOT, BenchError, Plan, _best_seconds, format_table, growth, peak_rss_mb, ratio, verdict
from scripts.console import say
from scripts.exit_codes import EXIT_OK
from scripts.proc_tree import TreeSampler

logger = logging.getLogger(__name__)


# Targets from issues 3 and 4.
PARSE_RATIO_TARGET = 0.7


DUMP_RATIO_TARGET = 1.4  # issue 13: the whole converter on all cores / one core's bare iterparse


DUMP_SOUNDTRACK_SHARE = 0.03


REAL_DUMP_XML_GB = 80.0  # the monthly releases dump: ~18 M releases, ~11 GB gzip, ~80 GB of XML


REAL_DUMP_TARGET_MINUTES = 20.0


MEMORY_GROWTH_TARGET = 1.2  # peak RSS at the largest file / at the smallest, file 4x larger


PARSE_SEED = 11


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


def _worker_parse_peak(method: str, path: Path, result: Path, scratch: Path) -> int:
    import lxml.etree  # noqa: F401  (every child imports the same, so the floor is comparable)

    import scripts.discogs_dump  # noqa: F401

    records = _run_parser(method, path, scratch)
    result.write_text(json.dumps({"method": method, "records": records, "peak_rss_mb": peak_rss_mb()}),
                      encoding="utf-8")
    return EXIT_OK


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


def _real_sample_row(scratch: Path, repeats: int) -> dict | None:
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
                seconds, records = _best_seconds(lambda m=method, p=path, f=folder: _run_parser(m, p, f), repeats)
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

    say("\n== parse: Discogs releases dump, MB/s of uncompressed XML (best of "
         f"{plan.parse_repeats} for .xml, 1 for .xml.gz) ==")
    say(format_table(
        ["films", "source", "XML MB", "records", "bare MB/s", "iter_records MB/s", "ratio", "convert_dump MB/s",
         "ratio"],
        [[r["films"], r["source"], r["xml_mb"], r["records"], r["bare_mb_s"], r["iter_records_mb_s"],
          r["iter_records_ratio"], r["convert_dump_mb_s"], r["convert_dump_ratio"]] for r in rows]))
    say("\npeak RSS (MB) of a fresh process per file and parser (floor: interpreter + imports only)")
    say(format_table(["films", "XML MB", "floor", "bare", "iter_records", "convert_dump"],
                      [[m["films"], m["xml_mb"], m["floor_mb"], m["bare_peak_mb"], m["iter_records_peak_mb"],
                        m["convert_dump_peak_mb"]] for m in memory]))
    _say_dump(dump)
    return {"rows": rows, "memory": memory, "checks": checks, "dump": {k: v for k, v in dump.items() if k != "checks"}}


def _write_stream(path: Path, releases: int, templates, compress: bool) -> dict:
    """The generated releases dump as a file (`gzip -1` when `compress`: the real dumps are gzip)."""
    from scripts.dump_stream import write_release_stream

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
    with TreeSampler(os.getpid(), interval=0.1) as peak:
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
            "tree_peak_mb": round(peak.peaks.tree, 1), "bare_cpu_s": round(bare_cpu, 2), "reader_cpu_s": round(reader_cpu, 2),
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
    from scripts.dump_stream import load_templates

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
    say(f"\n== parse: generated releases stream ({DUMP_SOUNDTRACK_SHARE:.0%} soundtracks, templates from "
         f"{dump['templates']}), bare iterparse on 1 core vs convert_dump on all cores ==")
    say(format_table(
        ["stream", "releases", "XML MB", "workers", "bare MB/s", "ours MB/s", "ratio", "bare CPU s",
         "reader CPU s", "workers CPU s", "idle ratio", "tree peak MB", "load"],
        [[r["stream"], r["releases"], r["xml_mb"], r["workers"], r["bare_mb_s"], r["ours_mb_s"], r["ratio"],
          r["bare_cpu_s"], r["reader_cpu_s"], r["workers_cpu_s"], r["idle_ratio"], r["tree_peak_mb"],
          r["load_after"]] for r in dump["rows"]]))
    say(f"extrapolated to the real releases dump ({REAL_DUMP_XML_GB:.0f} GB of XML, .xml.gz): "
         f"{dump['extrapolated_minutes']} minutes at the measured rate, {dump['idle_minutes']} on an idle machine")
