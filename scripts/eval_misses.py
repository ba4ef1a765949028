"""What the matcher missed on a labelled world, and why: `python -m scripts.eval_misses DATA_ROOT`.

Reads a DATA_ROOT that `scripts.eval_world` wrote and the pipeline ran on: the true pairs
(`raw/true_pairs.csv`), the album labels with their naming habits (`eval/album_labels.csv.gz`) and
the published gold run's `soundtrack_matches` and `match_near_misses` (or `--run RUN_ID`'s). Prints,
for the true pairs not matched:

- what happened to each: a near-miss whose best film was the true one (with the reason it was not
  matched), a near-miss whose best film was another, the album matched to another film, or no trace
  (never a candidate, or below the near-miss floor);
- recall per naming habit of the album (`docs/eval_world.md`), the habits with most misses first;
- the near-misses' calibration: for each (decision, title, year, composer level) how many were
  true pairs. An abstention is right when most of its group are not: that share says which
  abstentions lose recall for nothing, which is where the matcher is worth improving.

Recall is counted on (tmdb_id, album) pairs, as step 04's match quality is; an album is its master,
or its release when it has none ("m<id>" / "r<id>", the silver `album_id`).
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

from scripts.console import say
from scripts.exit_codes import EXIT_OK, EXIT_USAGE
from scripts.gold_digest import gold_folder
from scripts.true_pairs import album_id_of, read_true_pairs

TRUE_PAIRS = Path("raw") / "true_pairs.csv"
LABELS = Path("eval") / "album_labels.csv.gz"
CALIBRATION_KEYS = ("decision", "title_level", "year_level", "composer_level")
_GOLD_COLUMNS = ["tmdb_id", "album_id", "decision", "match_weight", *CALIBRATION_KEYS[1:]]


class EvalError(Exception):
    """The DATA_ROOT lacks what the report reads."""


def read_habits(path: Path) -> dict[str, list[str]]:
    """album_id -> its naming habits (the first label row of each album)."""
    habits: dict[str, list[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            habits.setdefault(album_id_of(row["discogs_master_id"], row["discogs_release_id"]),
                              (row.get("habits") or "").split())
    return habits


def read_gold(folder: Path, table: str) -> list[dict]:
    """The rows of one gold table, only the columns the report reads."""
    path = folder / table
    if not path.is_dir():
        raise EvalError(f"{path} is missing: run the pipeline on this DATA_ROOT first")
    return pq.read_table(path, columns=_GOLD_COLUMNS).to_pylist()


def miss_report(truth: set[tuple[int, str]], habits: dict[str, list[str]], matches: list[dict],
                near_misses: list[dict], min_group: int = 1) -> dict:
    """The report's figures (see the module docstring) as a JSON-ready dict. `min_group`: the
    smallest near-miss group listed in the calibration."""
    matched = {(r["tmdb_id"], r["album_id"]) for r in matches}
    matched_albums = {r["album_id"] for r in matches}
    near_pairs = {(r["tmdb_id"], r["album_id"]): r for r in near_misses}
    best_near: dict[str, dict] = {}
    for row in near_misses:
        kept = best_near.get(row["album_id"])
        if kept is None or (row["match_weight"] or 0.0) > (kept["match_weight"] or 0.0):
            best_near[row["album_id"]] = row
    outcomes: Counter = Counter()
    habit_total: Counter = Counter()
    habit_missed: Counter = Counter()
    for pair in truth:
        hit = pair in matched
        for habit in habits.get(pair[1], []):
            habit_total[habit] += 1
            habit_missed[habit] += not hit
        if hit:
            continue
        if pair in near_pairs:
            outcomes[f"near-miss, the true film best: {near_pairs[pair]['decision']}"] += 1
        elif pair[1] in best_near:
            outcomes[f"near-miss, another film best: {best_near[pair[1]]['decision']}"] += 1
        elif pair[1] in matched_albums:
            outcomes["the album matched to another film"] += 1
        else:
            outcomes["no trace: never a candidate, or below the near-miss floor"] += 1
    groups: dict[tuple, list[int]] = {}
    for row in near_misses:
        tally = groups.setdefault(tuple(row[k] for k in CALIBRATION_KEYS), [0, 0])
        tally[0] += 1
        tally[1] += (row["tmdb_id"], row["album_id"]) in truth
    true_positives = len(truth & matched)
    return {
        "true_pairs": len(truth), "matched_pairs": len(matched), "true_positives": true_positives,
        "recall": round(true_positives / len(truth), 4) if truth else 0.0,
        "misses_by_outcome": dict(outcomes.most_common()),
        "recall_by_habit": [
            {"habit": h, "true_pairs": habit_total[h], "missed": habit_missed[h],
             "recall": round(1 - habit_missed[h] / habit_total[h], 4)}
            for h in sorted(habit_total, key=lambda h: (-habit_missed[h], h))],
        "near_miss_calibration": [
            {**dict(zip(CALIBRATION_KEYS, key)), "rows": n, "true_share": round(true / n, 4)}
            for key, (n, true) in sorted(groups.items(), key=lambda kv: (-kv[1][0], str(kv[0])))
            if n >= min_group],
    }


def report_for(data_root: Path, run_id: str | None = None, min_group: int = 1) -> dict:
    """`miss_report` of the published gold run of `data_root`, or of `run_id`'s."""
    for needed in (TRUE_PAIRS, LABELS):
        if not (data_root / needed).is_file():
            raise EvalError(f"{data_root / needed} is missing: this report reads a world written by "
                            "scripts.eval_world")
    folder = data_root / "gold" / "runs" / run_id if run_id else gold_folder(data_root)
    return {"gold": str(folder), **miss_report(read_true_pairs(data_root / TRUE_PAIRS), read_habits(data_root / LABELS),
                                                read_gold(folder, "soundtrack_matches"),
                                                read_gold(folder, "match_near_misses"), min_group)}


def render(report: dict, habits: int = 20, groups: int = 20) -> str:
    """The report as text: totals, outcomes, the `habits` habits and `groups` near-miss groups
    with most rows."""
    lines = [f"gold: {report['gold']}",
             f"true pairs {report['true_pairs']:,}, matched {report['true_positives']:,} "
             f"(recall {report['recall']}), missed {report['true_pairs'] - report['true_positives']:,}",
             "", "missed pairs, by what happened:"]
    lines += [f"  {n:9,}  {outcome}" for outcome, n in report["misses_by_outcome"].items()]
    lines += ["", "recall by habit (most misses first):"]
    lines += [f"  {h['habit']:34s} {h['missed']:8,} missed of {h['true_pairs']:9,}  recall {h['recall']:.3f}"
              for h in report["recall_by_habit"][:habits]]
    lines += ["", "near-misses: how many were true pairs (decision, title, year, composer):"]
    lines += [f"  {g['rows']:8,}  true {g['true_share']:.3f}  {g['decision']}, {g['title_level']}, "
              f"{g['year_level']}, {g['composer_level']}" for g in report["near_miss_calibration"][:groups]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.eval_misses",
                                     description="What the matcher missed on a world of scripts.eval_world, and why.")
    parser.add_argument("data_root", type=Path, help="the DATA_ROOT the world was written to and the pipeline ran on")
    parser.add_argument("--run", help="the gold run to read (default: the published one)")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--min-group", type=int, default=100,
                        help="smallest near-miss group in the calibration (default 100)")
    args = parser.parse_args(argv)
    try:
        report = report_for(args.data_root, args.run, args.min_group)
    except EvalError as exc:
        say(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    say(json.dumps(report, indent=1) if args.json else render(report))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
