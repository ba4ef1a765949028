"""Step 01: TMDB bodies to typed bronze, with bad lines quarantined and counted."""
import base64
import datetime as dt
import gzip
import json

from chispa import assert_df_equality
from pyspark.sql import functions as F

from scripts_spark import ingest
from scripts_spark.schemas import TMDB_MOVIE_JSON
from scripts_spark.step_01_extract_tmdb import checked_tmdb, extract_tmdb


def _lines(spark, bodies, source="a.jsonl"):
    rows = [(b if isinstance(b, str) else json.dumps(b, ensure_ascii=False), source) for b in bodies]
    return spark.createDataFrame(rows, "value string, source_file string")


STAR_TREK = {
    "id": 13475, "imdb_id": "tt0796366", "title": "Star Trek", "original_title": "Star Trek",
    "original_language": "en", "release_date": "2009-05-06",
    "genres": [{"id": 878, "name": "Science Fiction"}, {"id": 28, "name": "Action"}],
    "popularity": 73.6, "vote_average": 7.4, "vote_count": 4518, "runtime": 127, "adult": False,
    "credits": {"cast": [], "crew": [
        {"id": 15347, "name": "Michael Giacchino", "job": "Original Music Composer", "department": "Sound"},
        {"id": 15344, "name": "J.J. Abrams", "job": "Director", "department": "Directing"},
    ]},
    "keywords": {"keywords": []},
}


def test_typed_columns_and_composers(spark):
    amelie = {"id": 194, "title": "Amélie", "original_title": "Le Fabuleux Destin d'Amélie Poulain",
              "original_language": "fr", "release_date": "2001-04-25", "genres": [], "popularity": 20,
              "vote_average": 7.8, "vote_count": 3310, "runtime": None, "credits": {"crew": []}}
    movies_df, quarantine_df = extract_tmdb(_lines(spark, [STAR_TREK, amelie]))
    got = movies_df.select("tmdb_id", "title", "original_title", "original_language", "release_date",
                           "genres", "popularity", "runtime", F.col("composers.name").alias("composer_names"))
    expected = spark.createDataFrame(
        [
            (13475, "Star Trek", "Star Trek", "en", dt.date(2009, 5, 6), ["Science Fiction", "Action"], 73.6, 127,
             ["Michael Giacchino"]),
            (194, "Amélie", "Le Fabuleux Destin d'Amélie Poulain", "fr", dt.date(2001, 4, 25), [], 20.0, None, []),
        ],
        got.schema,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert quarantine_df.count() == 0


def test_bad_lines_are_quarantined_with_a_reason(spark):
    bodies = [
        STAR_TREK,
        '{"id": 7, "title": "Cut off',              # truncated line
        {"title": "No id"},
        {"id": "abc", "title": "Text id"},
        {"id": -3, "title": "Negative"},
        {"id": 9, "title": "  "},
        {"id": 10, "title": "Bad genres", "genres": "Drama"},
    ]
    movies_df, quarantine_df = extract_tmdb(_lines(spark, bodies))
    assert [r.tmdb_id for r in movies_df.collect()] == [13475]
    reasons = sorted(r.reason for r in quarantine_df.collect())
    assert reasons == sorted([
        "malformed JSON", "missing id", "a field has the wrong type for the schema",
        "id is not a positive integer", "missing title", "a field has the wrong type for the schema",
    ])
    # The original text is kept, so the record can be inspected and replayed.
    assert '{"id": 7, "title": "Cut off' in {r.record for r in quarantine_df.collect()}


def test_empty_dates_become_null_and_invalid_ones_are_quarantined(spark):
    bodies = [dict(STAR_TREK, id=1, release_date=""), dict(STAR_TREK, id=2, release_date="2009-13-45"),
              dict(STAR_TREK, id=3, release_date=None), dict(STAR_TREK, id=4, release_date="  ")]
    movies_df, quarantine_df = extract_tmdb(_lines(spark, bodies))
    assert {r.tmdb_id: r.release_date for r in movies_df.collect()} == {1: None, 3: None, 4: None}
    assert [r.reason for r in quarantine_df.collect()] == ["release_date is not a calendar date"]


def test_duplicate_ids_keep_the_latest_file(spark):
    old = _lines(spark, [dict(STAR_TREK, vote_count=1)], source="2024-01-01.jsonl")
    new = _lines(spark, [dict(STAR_TREK, vote_count=2)], source="2025-01-01.jsonl")
    movies_df, _ = extract_tmdb(old.unionByName(new))
    assert [(r.tmdb_id, r.vote_count) for r in movies_df.collect()] == [(13475, 2)]


def test_empty_input_gives_empty_tables(spark):
    movies_df, quarantine_df = extract_tmdb(spark.createDataFrame([], "value string, source_file string"))
    assert movies_df.count() == 0 and quarantine_df.count() == 0
    assert "composers" in movies_df.columns


def test_the_collection_is_kept_as_its_id_and_a_malformed_one_quarantined(spark):
    """`belongs_to_collection` (the franchise) becomes `collection_id`: null when absent or null; a
    collection that is not an object is a wrong type, quarantined like any other."""
    bodies = [dict(STAR_TREK, id=1, belongs_to_collection={"id": 115575, "name": "Star Trek: Alternate Reality"}),
              dict(STAR_TREK, id=2, belongs_to_collection=None), dict(STAR_TREK, id=3),
              dict(STAR_TREK, id=4, belongs_to_collection="Star Trek")]
    movies_df, quarantine_df = extract_tmdb(_lines(spark, bodies))
    assert {r.tmdb_id: r.collection_id for r in movies_df.collect()} == {1: 115575, 2: None, 3: None}
    assert [r.reason for r in quarantine_df.collect()] == ["a field has the wrong type for the schema"]


def test_numbers_sent_as_text_are_read(spark):
    body = dict(STAR_TREK, popularity="93.4917224393659", vote_average=6, vote_count="625", runtime="n/a")
    movies_df, quarantine_df = extract_tmdb(_lines(spark, [body]))
    row = movies_df.collect()[0]
    assert (row.popularity, row.vote_average, row.vote_count, row.runtime) == (93.4917224393659, 6.0, 625, None)
    assert quarantine_df.count() == 0


def test_real_api_bodies_are_ingested(spark, shared_data):
    """Every recorded full /movie body: Riddick (popularity as text), Fight Club with credits."""
    folder = shared_data / "tmdb_api_json"
    files = [folder / "php-tmdb_api" / "movie_all.json",
             folder / "krelinga_go-tmdb_json" / "GET_movie_550__append_to_response=credits,keywords,release_dates.body.json"]
    bodies = [json.loads(f.read_text(encoding="utf-8")) for f in files]
    movies_df, quarantine_df = extract_tmdb(_lines(spark, bodies))
    assert quarantine_df.count() == 0
    rows = {r.tmdb_id: r for r in movies_df.collect()}
    assert rows[87421].title == "Riddick" and rows[87421].popularity > 90
    # Riddick belongs to "The Chronicles of Riddick Collection"; Fight Club's is null.
    assert (rows[87421].collection_id, rows[550].collection_id) == (2794, None)
    assert [c.name for c in rows[550].composers] == ["John King", "Michael Simpson"]
    assert rows[550].release_date == dt.date(1999, 10, 15)


# --- issue 10 items 4-7: bad dates, out-of-range numbers, duplicates, invalid UTF-8 ----------------

def _write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def test_release_dates_are_read_leniently_where_the_meaning_is_clear(spark):
    forms = ["2001-05-05", "2001-05-05T00:00:00", "2001-5-5", " 2001-05-05 ", "2001-05-05 00:00:00.000Z",
             "2001-05-05T12:30:00+02:00"]
    bodies = [dict(STAR_TREK, id=i + 1, release_date=form) for i, form in enumerate(forms)]
    movies_df, quarantine_df = extract_tmdb(_lines(spark, bodies))
    got = movies_df.select("tmdb_id", "release_date")
    expected = spark.createDataFrame([(i + 1, dt.date(2001, 5, 5)) for i in range(len(forms))], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert quarantine_df.count() == 0


def test_bad_release_dates_are_quarantined_with_the_reason_and_the_rest_is_written(spark, tmp_path):
    bad = {"20010-05-05": "release_date is not a date like 2001-05-05",
           "May 5, 2001": "release_date is not a date like 2001-05-05",
           "2001/05/05": "release_date is not a date like 2001-05-05",
           "2009-02-30": "release_date is not a calendar date",
           "0001-01-01": "release_date outside 1870-2100",
           "1582-10-10": "release_date outside 1870-2100",
           "2999-01-01": "release_date outside 1870-2100"}
    bodies = [STAR_TREK] + [dict(STAR_TREK, id=100 + i, release_date=d) for i, d in enumerate(bad)]
    movies_df, quarantine_df = extract_tmdb(_lines(spark, bodies))
    got = quarantine_df.select("reason", F.get_json_object("record", "$.release_date").alias("release_date"))
    expected = spark.createDataFrame([(reason, date) for date, reason in bad.items()], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    # 0001-01-01 used to abort the run at the Parquet write (dates before 1582 are rejected there).
    movies_df.write.parquet(str(tmp_path / "movies"))
    assert [r.tmdb_id for r in spark.read.parquet(str(tmp_path / "movies")).collect()] == [13475]


def test_numbers_out_of_range_are_quarantined_and_bounds_are_kept(spark):
    bad = [({"vote_average": 99}, "vote_average is outside 0-10"),
           ({"vote_average": -0.5}, "vote_average is outside 0-10"),
           ({"popularity": -1}, "popularity is negative"),
           ({"vote_count": "-5"}, "vote_count is negative"),
           ({"runtime": -3}, "runtime is negative"),
           ({"popularity": "NaN"}, "popularity is not a finite number"),
           ({"vote_average": "Infinity"}, "vote_average is not a finite number")]
    good = [{"vote_average": 0, "popularity": 0, "vote_count": 0, "runtime": 0}, {"vote_average": 10},
            {"vote_average": None, "popularity": ""}]
    bodies = [dict(STAR_TREK, id=100 + i, **fields) for i, (fields, _) in enumerate(bad)]
    bodies += [dict(STAR_TREK, id=200 + i, **fields) for i, fields in enumerate(good)]
    movies_df, quarantine_df = extract_tmdb(_lines(spark, bodies))
    got = quarantine_df.select(F.get_json_object("record", "$.id").cast("long").alias("id"), "reason")
    expected = spark.createDataFrame([(100 + i, reason) for i, (_, reason) in enumerate(bad)], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    got = movies_df.select("tmdb_id", "vote_average", "popularity")
    expected = spark.createDataFrame([(200, 0.0, 0.0), (201, 10.0, 73.6), (202, None, None)], got.schema)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_duplicates_the_last_line_of_the_newest_file_wins(spark, tmp_path):
    """Within a file the later line wins even when its JSON text sorts first (the old tie-break)."""
    def line(votes, title="Star Trek"):
        return json.dumps(dict(STAR_TREK, vote_count=votes, title=title)).encode() + b"\n"

    older = _write(tmp_path / "raw" / "2024-01-01.jsonl", line(9) + line(1))
    newer = _write(tmp_path / "raw" / "2025-01-01.jsonl.gz", gzip.compress(line(8) + line(3) + line(2, "Z")))
    movies_df, _ = extract_tmdb(ingest.read_lines(spark, [older]))
    assert [(r.tmdb_id, r.vote_count) for r in movies_df.collect()] == [(13475, 1)]
    movies_df, _ = extract_tmdb(ingest.read_lines(spark, [newer, older]))
    assert [(r.vote_count, r.title) for r in movies_df.collect()] == [(2, "Z")]
    # A rejected copy never wins: an older valid copy is kept instead.
    rejected_last = _write(tmp_path / "raw" / "2026-01-01.jsonl", line(-4))
    movies_df, quarantine_df = extract_tmdb(ingest.read_lines(spark, [older, newer, rejected_last]))
    assert [r.vote_count for r in movies_df.collect()] == [2]
    assert [r.reason for r in quarantine_df.collect()] == ["vote_count is negative"]


def test_invalid_utf8_is_quarantined_in_a_form_every_reader_loads(spark, tmp_path):
    pandas = __import__("pandas")
    broken = b'{"id": 5, "title": "Caf\xe9 \xff"}'
    source = _write(tmp_path / "raw" / "films.jsonl", json.dumps(STAR_TREK).encode() + b"\n" + broken + b"\n")
    movies_df, quarantine_df = extract_tmdb(ingest.read_lines(spark, [source]))
    assert [r.tmdb_id for r in movies_df.collect()] == [13475]
    quarantine_df.write.parquet(str(tmp_path / "quarantine"))
    frame = pandas.read_parquet(tmp_path / "quarantine")  # failed on the raw bytes before
    assert list(frame["reason"]) == ["invalid UTF-8"]
    assert frame["record"][0] == '{"id": 5, "title": "Caf\ufffd \ufffd"}'
    assert base64.b64decode(frame["record_base64"][0]) == broken


def test_hostile_files_are_quarantined_line_by_line(spark, tmp_path):
    """A gzip file named .jsonl, a pretty-printed JSON array and an empty file never stop the step."""
    gz_named_jsonl = _write(tmp_path / "a.jsonl", gzip.compress(json.dumps(dict(STAR_TREK, id=1)).encode() + b"\n"))
    pretty = _write(tmp_path / "b.jsonl", json.dumps([dict(STAR_TREK, id=2)], indent=2).encode())
    empty = _write(tmp_path / "c.jsonl", b"")
    good = _write(tmp_path / "d.jsonl", json.dumps(STAR_TREK).encode() + b"\n")
    lines_df = ingest.read_lines(spark, [gz_named_jsonl, pretty, empty, good])
    movies_df, quarantine_df = extract_tmdb(lines_df)
    assert [r.tmdb_id for r in movies_df.collect()] == [13475]
    reasons = {r.source_file: set() for r in quarantine_df.select("source_file").collect()}
    for r in quarantine_df.collect():
        reasons[r.source_file].add(r.reason)
    assert set(reasons) == {"a.jsonl", "b.jsonl"}
    assert reasons["a.jsonl"] <= {"invalid UTF-8", "malformed JSON"} and reasons["b.jsonl"] == {"malformed JSON"}
    assert quarantine_df.filter(F.col("source_file") == "b.jsonl").count() == lines_df.filter(
        F.col("source_file") == "b.jsonl").count(), "every line of the array is counted, none dropped"


def test_a_gzip_file_is_parsed_on_every_core(spark, tmp_path):
    """A gzip file is one split; its lines are spread over the session's cores after reading, with
    the file name and line order taken before (a shuffle would lose them)."""
    body = b"".join(json.dumps(dict(STAR_TREK, id=i)).encode() + b"\n" for i in range(1, 201))
    source = _write(tmp_path / "raw" / "films.jsonl.gz", gzip.compress(body))
    lines_df = ingest.read_lines(spark, [source])
    assert lines_df.rdd.getNumPartitions() == spark.sparkContext.defaultParallelism >= 2
    rows = lines_df.collect()
    assert {r.source_file for r in rows} == {"films.jsonl.gz"}
    ordered = [json.loads(r.value)["id"] for r in sorted(rows, key=lambda r: (r.line_order.block, r.line_order.line))]
    assert ordered == list(range(1, 201))


def test_checked_lines_keep_the_raw_text_of_rejected_lines_only(spark):
    # What the run caches for its three passes: the bronze columns of every line, and the line's
    # text only where the quarantine needs it (a million bodies' text is 1.7 GB).
    bad = '{"id": 11, "title": "Bad date", "release_date": "2001-13-45"}'
    checked = checked_tmdb(ingest.parse_json_lines(_lines(spark, [STAR_TREK, bad]), TMDB_MOVIE_JSON))
    rows = {r["tmdb_id"]: r for r in checked.collect()}
    assert rows[13475]["_reason"] is None and rows[13475]["_raw"] is None
    assert rows[11]["_reason"] == "release_date is not a calendar date" and rows[11]["_raw"] == bad
    assert "credits" not in checked.columns and "composers" in checked.columns
