"""Step 01: TMDB bodies to typed bronze, with bad lines quarantined and counted."""
import datetime as dt
import json

from chispa import assert_df_equality
from pyspark.sql import functions as F

from scripts_spark.step_01_extract_tmdb import extract_tmdb


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


def test_empty_and_invalid_dates_become_null(spark):
    bodies = [dict(STAR_TREK, id=1, release_date=""), dict(STAR_TREK, id=2, release_date="2009-13-45"),
              dict(STAR_TREK, id=3, release_date=None)]
    movies_df, _ = extract_tmdb(_lines(spark, bodies))
    assert {r.tmdb_id: r.release_date for r in movies_df.collect()} == {1: None, 2: None, 3: None}


def test_duplicate_ids_keep_the_latest_file(spark):
    old = _lines(spark, [dict(STAR_TREK, vote_count=1)], source="2024-01-01.jsonl")
    new = _lines(spark, [dict(STAR_TREK, vote_count=2)], source="2025-01-01.jsonl")
    movies_df, _ = extract_tmdb(old.unionByName(new))
    assert [(r.tmdb_id, r.vote_count) for r in movies_df.collect()] == [(13475, 2)]


def test_empty_input_gives_empty_tables(spark):
    movies_df, quarantine_df = extract_tmdb(spark.createDataFrame([], "value string, source_file string"))
    assert movies_df.count() == 0 and quarantine_df.count() == 0
    assert "composers" in movies_df.columns


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
    assert [c.name for c in rows[550].composers] == ["John King", "Michael Simpson"]
    assert rows[550].release_date == dt.date(1999, 10, 15)
