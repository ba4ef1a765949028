"""scripts.eval_misses: what the matcher missed on a labelled world, on a hand-made DATA_ROOT."""
import csv
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from scripts import eval_misses as em

_LEVELS = ("title_level", "year_level", "composer_level")


def _gold(folder, table, rows):
    """One gold table as the pipeline writes it: a folder of Parquet parts."""
    (folder / table).mkdir(parents=True)
    columns = {name: [r[i] for r in rows] for i, name in
               enumerate(("tmdb_id", "album_id", "decision", "match_weight", *_LEVELS))}
    schema = pa.schema([("tmdb_id", pa.int64()), ("album_id", pa.string()), ("decision", pa.string()),
                        ("match_weight", pa.float64()), *[(c, pa.string()) for c in _LEVELS]])
    pq.write_table(pa.table(columns, schema=schema), folder / table / "part-00000.parquet")


@pytest.fixture()
def world(tmp_path):
    """Five true pairs: one matched, one whose true film was the best near-miss, one whose album's
    best near-miss was another film, one whose album matched another film, one with no trace."""
    (tmp_path / "raw").mkdir()
    with (tmp_path / "raw" / "true_pairs.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tmdb_id", "discogs_master_id", "discogs_release_id"])
        writer.writerows([[1, 10, 100], [2, 11, 110], [3, 12, 120], [4, 13, 130], [6, "", 14]])
    (tmp_path / "eval").mkdir()
    with gzip.open(tmp_path / "eval" / "album_labels.csv.gz", "wt", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["discogs_master_id", "discogs_release_id", "tmdb_ids", "is_true_album", "releases", "habits"])
        writer.writerows([[10, 100, 1, 1, 1, "form_ompst typo_missing"], [11, 110, 2, 1, 1, "typo_missing"],
                          [12, 120, 3, 1, 1, "two_film"], [13, 130, 4, 1, 1, ""], ["", 14, 6, 1, 1, "year_unknown"],
                          [15, 150, "", 0, 1, "ghost_film"]])
    run = tmp_path / "gold" / "runs" / "r1"
    _gold(run, "soundtrack_matches", [(1, "m10", "match", 9.0, "exact", "same_year", "credited"),
                                      (5, "m13", "match", 4.0, "exact", "next_year", "unknown")])
    _gold(run, "match_near_misses", [
        (2, "m11", "below_threshold", -0.5, "exact", "same_year", "unknown"),
        (9, "m12", "ambiguous", 1.0, "exact", "same_year", "unknown"),
        (8, "m12", "below_threshold", -2.0, "typo", "next_year", "unknown"),
        (7, "m15", "below_threshold", -0.7, "exact", "same_year", "unknown"),
    ])
    (tmp_path / "gold" / "_CURRENT").write_text("runs/r1\n", encoding="utf-8")
    return tmp_path


def test_each_miss_is_told_by_what_happened_and_by_habit(world):
    report = em.report_for(world)
    assert (report["true_pairs"], report["true_positives"], report["recall"]) == (5, 1, 0.2)
    assert report["misses_by_outcome"] == {
        "near-miss, the true film best: below_threshold": 1,
        "near-miss, another film best: ambiguous": 1,   # the album's heaviest near-miss, not the lighter one
        "the album matched to another film": 1,
        "no trace: never a candidate, or below the near-miss floor": 1,
    }
    habits = {h["habit"]: (h["true_pairs"], h["missed"], h["recall"]) for h in report["recall_by_habit"]}
    assert habits == {"typo_missing": (2, 1, 0.5), "form_ompst": (1, 0, 1.0), "two_film": (1, 1, 0.0),
                      "year_unknown": (1, 1, 0.0)}
    assert report["recall_by_habit"][-1]["habit"] == "form_ompst"   # most misses first
    groups = {tuple(g[k] for k in em.CALIBRATION_KEYS): (g["rows"], g["true_share"])
              for g in report["near_miss_calibration"]}
    assert groups == {("below_threshold", "exact", "same_year", "unknown"): (2, 0.5),
                      ("ambiguous", "exact", "same_year", "unknown"): (1, 0.0),
                      ("below_threshold", "typo", "next_year", "unknown"): (1, 0.0)}


def test_the_command_prints_text_or_json_and_refuses_a_world_without_labels(world, capsys):
    assert em.main([str(world), "--min-group", "2"]) == 0
    text = capsys.readouterr().out
    assert "recall 0.2" in text and "no trace" in text and "typo_missing" in text
    assert em.main([str(world), "--run", "r1", "--json", "--min-group", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["gold"].endswith("runs/r1") and len(report["near_miss_calibration"]) == 1
    (world / "eval" / "album_labels.csv.gz").unlink()
    assert em.main([str(world)]) == 2
    assert "album_labels.csv.gz is missing" in capsys.readouterr().err


def test_a_run_that_has_not_written_gold_is_a_clear_error(world):
    with pytest.raises(em.EvalError, match="run the pipeline"):
        em.report_for(world, run_id="r9")
