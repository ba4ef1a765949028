"""Explicit schemas: what each raw source is read as, and what each bronze table holds.

Raw JSON is parsed with these schemas (never inferred), so a field of the wrong type makes the
record land in quarantine instead of silently changing a column's type for the whole table.
"""
from __future__ import annotations

from pyspark.sql import types as T

CORRUPT_COLUMN = "_corrupt_record"

_ID_NAME = T.StructType([T.StructField("id", T.LongType()), T.StructField("name", T.StringType())])

# A TMDB /movie/{id}?append_to_response=credits body: only the fields the pipeline uses.
TMDB_MOVIE_JSON = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("imdb_id", T.StringType()),
    T.StructField("title", T.StringType()),
    T.StructField("original_title", T.StringType()),
    T.StructField("original_language", T.StringType()),
    T.StructField("release_date", T.StringType()),
    T.StructField("genres", T.ArrayType(_ID_NAME)),
    # Read as text and converted in step 01: real bodies carry numbers as strings too (older API
    # versions sent popularity as "93.49"), which a numeric schema type would reject outright.
    T.StructField("popularity", T.StringType()),
    T.StructField("vote_average", T.StringType()),
    T.StructField("vote_count", T.StringType()),
    T.StructField("runtime", T.StringType()),
    T.StructField("adult", T.BooleanType()),
    # The franchise the film belongs to ("Back to the Future Collection"): null for most films.
    T.StructField("belongs_to_collection", _ID_NAME),
    T.StructField("credits", T.StructType([
        T.StructField("crew", T.ArrayType(T.StructType([
            T.StructField("id", T.LongType()),
            T.StructField("name", T.StringType()),
            T.StructField("job", T.StringType()),
            T.StructField("department", T.StringType()),
        ]))),
    ])),
    T.StructField(CORRUPT_COLUMN, T.StringType()),
])

_DISCOGS_ARTIST = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("name", T.StringType()),
    T.StructField("anv", T.StringType()),
    T.StructField("join", T.StringType()),
    T.StructField("role", T.StringType()),
])

DISCOGS_MASTER_JSON = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("title", T.StringType()),
    T.StructField("year", T.LongType()),
    T.StructField("main_release", T.LongType()),
    T.StructField("artists", T.ArrayType(_DISCOGS_ARTIST)),
    T.StructField("genres", T.ArrayType(T.StringType())),
    T.StructField("styles", T.ArrayType(T.StringType())),
    T.StructField("data_quality", T.StringType()),
    T.StructField(CORRUPT_COLUMN, T.StringType()),
])

_DISCOGS_FORMAT = T.StructType([
    T.StructField("name", T.StringType()),
    T.StructField("qty", T.StringType()),
    T.StructField("text", T.StringType()),
    T.StructField("descriptions", T.ArrayType(T.StringType())),
])
_DISCOGS_LABEL = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("name", T.StringType()),
    T.StructField("catno", T.StringType()),
])

DISCOGS_RELEASE_JSON = T.StructType([
    T.StructField("id", T.LongType()),
    T.StructField("status", T.StringType()),
    T.StructField("title", T.StringType()),
    T.StructField("year", T.LongType()),
    T.StructField("released", T.StringType()),
    T.StructField("country", T.StringType()),
    T.StructField("master_id", T.LongType()),
    T.StructField("is_main_release", T.BooleanType()),
    T.StructField("artists", T.ArrayType(_DISCOGS_ARTIST)),
    T.StructField("extraartists", T.ArrayType(_DISCOGS_ARTIST)),
    T.StructField("genres", T.ArrayType(T.StringType())),
    T.StructField("styles", T.ArrayType(T.StringType())),
    T.StructField("formats", T.ArrayType(_DISCOGS_FORMAT)),
    T.StructField("labels", T.ArrayType(_DISCOGS_LABEL)),
    T.StructField("data_quality", T.StringType()),
    T.StructField(CORRUPT_COLUMN, T.StringType()),
])

QUARANTINE = T.StructType([
    T.StructField("source_file", T.StringType()),
    T.StructField("reason", T.StringType()),
    T.StructField("record", T.StringType()),
])

TRUE_PAIRS_CSV = T.StructType([
    T.StructField("tmdb_id", T.LongType()),
    T.StructField("discogs_master_id", T.LongType()),
    T.StructField("discogs_release_id", T.LongType()),
])

# The raw input layout, declared once: the folders under `raw/` and the file names the extract
# steps read there. The runner checks for input with it, the steps list their files with it and
# the report lists the input files with it.
RAW_TMDB = "tmdb"
RAW_DISCOGS = "discogs"
RAW_TRUE_PAIRS = "true_pairs.csv"
TMDB_SUFFIXES = (".jsonl", ".jsonl.gz")
DISCOGS_JSON_SUFFIXES = (".jsonl", ".jsonl.gz")
DISCOGS_DUMP_SUFFIXES = ("_masters.xml", "_masters.xml.gz", "_releases.xml", "_releases.xml.gz")
# The monthly dump also has artists and labels files and a CHECKSUM file; users download them all
# into one folder. They are not read (the checksums are checked), but they are input all the same.
DISCOGS_OTHER_DUMP_SUFFIXES = ("_artists.xml", "_artists.xml.gz", "_labels.xml", "_labels.xml.gz")
DISCOGS_CHECKSUM_SUFFIXES = ("_CHECKSUM.txt",)
# What counts as a source's input being present (the runner), and every input file (the report).
RAW_INPUT_SUFFIXES = {
    RAW_TMDB: TMDB_SUFFIXES,
    RAW_DISCOGS: DISCOGS_JSON_SUFFIXES + DISCOGS_DUMP_SUFFIXES,
}
RAW_FILE_SUFFIXES = {
    RAW_TMDB: TMDB_SUFFIXES,
    RAW_DISCOGS: DISCOGS_JSON_SUFFIXES + DISCOGS_DUMP_SUFFIXES + DISCOGS_OTHER_DUMP_SUFFIXES
    + DISCOGS_CHECKSUM_SUFFIXES,
}
