"""Import the Kaggle "TMDB 5000" CSV pair into the raw TMDB input contract.

`tmdb_5000_movies.csv` (+ optionally `tmdb_5000_credits.csv`) become one JSON line per film in the
shape of a `/movie/{id}?append_to_response=credits` body, so the pipeline reads them like API data.
The CSV cells hold JSON lists (genres, crew, ...), quoted with doubled quotes; some text cells
span lines. Rows that cannot be read are counted and reported, not dropped silently.

Usage: python -m scripts.import_kaggle_tmdb MOVIES.csv [--credits CREDITS.csv] --out RAW_TMDB_DIR
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from scripts.console import say

logger = logging.getLogger(__name__)

_JSON_COLUMNS = ("genres", "keywords", "production_companies", "production_countries", "spoken_languages")
_FLOAT_COLUMNS = ("popularity", "vote_average")
_INT_COLUMNS = ("budget", "revenue", "vote_count")


@dataclass
class ImportSummary:
    """What an import read and wrote."""

    rows: int = 0
    written: int = 0
    with_credits: int = 0
    bad_rows: list[dict] = field(default_factory=list)


def _number(value: str, kind):
    value = (value or "").strip()
    if value == "":
        return None
    return kind(float(value)) if kind is int else kind(value)


def _read_credits(path: Path | None) -> dict[int, dict]:
    if path is None:
        return {}
    credits: dict[int, dict] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                movie_id = int(row["movie_id"])
                cast = json.loads(row.get("cast") or "[]")
                crew = json.loads(row.get("crew") or "[]")
            except (ValueError, KeyError) as exc:
                logger.warning("credits row skipped (%s): %.80s", exc, row)
                continue
            credits[movie_id] = {"cast": cast, "crew": crew}
    return credits


def movie_body(row: dict, credits: dict | None) -> dict:
    """One CSV row as a TMDB movie body; raises ValueError when a cell cannot be read."""
    body: dict = {"id": int(row["id"])}
    for key in ("title", "original_title", "original_language", "overview", "status", "tagline",
                "homepage", "release_date"):
        body[key] = row.get(key, "") or ""
    for key in _JSON_COLUMNS:
        body[key] = json.loads(row.get(key) or "[]")
    for key in _FLOAT_COLUMNS:
        body[key] = _number(row.get(key, ""), float)
    for key in _INT_COLUMNS:
        body[key] = _number(row.get(key, ""), int)
    body["runtime"] = _number(row.get("runtime", ""), int)
    if credits is not None:
        body["credits"] = credits
    return body


def iter_bodies(movies_csv: Path, credits_csv: Path | None, summary: ImportSummary) -> Iterator[dict]:
    """Yield movie bodies in file order, counting unreadable rows in `summary`."""
    credits = _read_credits(credits_csv)
    with open(movies_csv, newline="", encoding="utf-8") as handle:
        for line_no, row in enumerate(csv.DictReader(handle), start=2):
            summary.rows += 1
            try:
                movie_id = int(row["id"])
                body = movie_body(row, credits.get(movie_id))
            except (ValueError, KeyError, TypeError) as exc:
                summary.bad_rows.append({"row": line_no, "reason": str(exc)[:200]})
                continue
            summary.with_credits += "credits" in body
            yield body


def import_csv(movies_csv: Path, out_dir: Path, credits_csv: Path | None = None) -> ImportSummary:
    """Write `out_dir/2017_kaggle_tmdb_5000.jsonl.gz` atomically; return counts.

    The name starts with the data set's year because step 01 keeps, for a film found in several
    files, the copy from the file whose name sorts last: an API fetch (`api_movies_<date>...`)
    is newer than this 2017 snapshot and must win.
    """
    summary = ImportSummary()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "2017_kaggle_tmdb_5000.jsonl.gz"
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        for body in iter_bodies(movies_csv, credits_csv, summary):
            gz.write(json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n")
            summary.written += 1
    os.replace(tmp, target)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.import_kaggle_tmdb", description=__doc__.splitlines()[0])
    parser.add_argument("movies_csv", type=Path)
    parser.add_argument("--credits", type=Path, help="tmdb_5000_credits.csv (adds crew, so composers)")
    parser.add_argument("--out", type=Path, required=True, help="the raw/tmdb folder to write into")
    args = parser.parse_args(argv)
    for path in (args.movies_csv, args.credits):
        if path is not None and not path.is_file():
            say(f"error: {path} not found", file=sys.stderr)
            return 2
    summary = import_csv(args.movies_csv, args.out, args.credits)
    say(f"imported {summary.written} of {summary.rows} films ({summary.with_credits} with credits); "
          f"{len(summary.bad_rows)} unreadable rows")
    for bad in summary.bad_rows[:20]:
        say(f"  row {bad['row']}: {bad['reason']}")
    return 1 if summary.bad_rows and not summary.written else 0


if __name__ == "__main__":
    raise SystemExit(main())
