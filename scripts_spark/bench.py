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
  (`scripts.dump_stream`; 5 M releases, ~24 GB of XML, written to the scratch folder and
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

- `scale` (issue 13): the whole pipeline (`python -m scripts_spark.pipeline`, as `make run`) on a
  generated 20,000-film world, measured now against the small-run target (<= 65 s), then the
  20k / 100k / 1M table last recorded by `make bench-scale` in docs/performance.md.
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
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from scripts.bench_common import FULL, PROJECT_ROOT, QUICK, verdict_line
from scripts.bench_fetch import run_fetch
from scripts.bench_parse import _worker_parse_peak, run_parse
from scripts.console import say
from scripts.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from scripts_spark.bench_match import _worker_splink, default_splink_overlay, run_match
from scripts_spark.bench_scale import SMALL_WORLD_FILMS, run_scale_section
from scripts_spark.cli import PROJECT_LOGGERS, configure_logging

logger = logging.getLogger(__name__)


SECTIONS = ("parse", "fetch", "match", "scale")
QUICK_SCALE_FILMS = 500


EXIT_ERROR = EXIT_FAILED  # a section could not run


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
    parser.add_argument("--world", type=Path, action="append", default=[],
                        help="a labelled DATA_ROOT written elsewhere (raw/ with true_pairs.csv), matched and "
                             "scored too; repeatable")
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


def _report_dir(out: Path | None) -> Path | None:
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


def main(argv: Sequence[str] | None = None) -> int:
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
        say(f"bench {stamp}: sections {','.join(sections)}{' (quick)' if args.quick else ''}; "
             f"{os.cpu_count()} cpus, load {report['machine']['loadavg_start']}; scratch {scratch}")
        runners = {
            "parse": lambda: run_parse(plan, scratch),
            "fetch": lambda: run_fetch(plan, scratch),
            "match": lambda: run_match(plan, scratch, splink="off" if args.no_splink else "auto",
                                       splink_overlay=args.splink_overlay or default_splink_overlay(),
                                       worlds_dirs=args.world),
            "scale": lambda: run_scale_section(QUICK_SCALE_FILMS if args.quick else SMALL_WORLD_FILMS, scratch),
        }
        for section in sections:
            started = time.monotonic()
            try:
                result = runners[section]()
            except Exception as exc:  # reported and counted; the other sections still run
                logger.error("section %s failed", section, exc_info=True)
                report["errors"][section] = f"{type(exc).__name__}: {exc}"
                say(f"\nERROR {section}: {type(exc).__name__}: {exc}")
                continue
            result["seconds"] = round(time.monotonic() - started, 1)
            report["sections"][section] = result
        report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]

        say("\n== verdicts ==")
        for result in report["sections"].values():
            for check in result.get("checks", []):
                say(verdict_line(check))
        for section, error in report["errors"].items():
            say(f"ERROR {section}: {error}")
        target_dir = _report_dir(args.out)
        if target_dir is not None:
            target_dir.mkdir(parents=True, exist_ok=True)
            path = target_dir / f"bench_{stamp}.json"
            path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
            say(f"\nreport: {path}")
        else:
            say("\nreport: not written (DATA_ROOT is remote or the configuration is invalid): pass --out DIR")
    return EXIT_ERROR if report["errors"] else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
