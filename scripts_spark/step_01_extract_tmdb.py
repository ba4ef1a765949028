"""Step 01: ingest raw TMDB movie bodies (JSON lines) into typed bronze Parquet.

Input: `raw/tmdb/*.jsonl[.gz]`, one `/movie/{id}?append_to_response=credits` body per line.
Output: `bronze/tmdb_movies` (one row per film id) and `bronze/quarantine/tmdb` (bad lines with
their reason). Duplicated ids (a film fetched twice) keep the copy from the latest file.
"""
from __future__ import annotations

import logging
import sys
from typing import Optional, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from scripts_spark import ingest, runner, storage
from scripts_spark.columns import array_or_empty
from scripts_spark.context import StepContext
from scripts_spark.schemas import RAW_TMDB, TMDB_MOVIE_JSON, TMDB_SUFFIXES

logger = logging.getLogger(__name__)

NAME = "01_extract_tmdb"
READS_RAW = True
COMPOSER_JOBS = ("Original Music Composer", "Music", "Composer")


def _number(name: str, type_name: str):
    """A numeric field sent as a number or as text; null when it is neither ("", "n/a")."""
    return F.expr(f"try_cast(try_cast({name} as double) as {type_name})").alias(name)


def select_movie_columns(movies_df: DataFrame) -> DataFrame:
    """Typed bronze columns from parsed TMDB bodies.

    Args:
        movies_df: rows with the fields of `TMDB_MOVIE_JSON` flattened, plus `source_file`.

    Returns:
        `tmdb_id`, `imdb_id`, `title`, `original_title`, `original_language`, `release_date` (date,
        null when empty or invalid), `genres` (names), `popularity`, `vote_average`, `vote_count`,
        `runtime`, `adult`, `composers` (crew with a composer job, as `{id, name}`), `source_file`.
    """
    crew = array_or_empty("credits.crew")
    composers = F.filter(crew, lambda c: c["job"].isin(*COMPOSER_JOBS))
    return movies_df.select(
        F.col("id").alias("tmdb_id"),
        F.nullif(F.trim("imdb_id"), F.lit("")).alias("imdb_id"),
        F.trim("title").alias("title"),
        F.coalesce(F.nullif(F.trim("original_title"), F.lit("")), F.trim("title")).alias("original_title"),
        F.lower(F.nullif(F.trim("original_language"), F.lit(""))).alias("original_language"),
        F.expr("try_to_timestamp(release_date, 'yyyy-MM-dd')").cast("date").alias("release_date"),
        F.transform(array_or_empty("genres"), lambda g: g["name"]).alias("genres"),
        _number("popularity", "double"),
        _number("vote_average", "double"),
        _number("vote_count", "bigint"),
        _number("runtime", "int"),
        F.col("adult"),
        F.array_distinct(F.transform(composers, lambda c: F.struct(c["id"].alias("id"), c["name"].alias("name"))))
        .alias("composers"),
        F.col("source_file"),
    )


def extract_tmdb(lines_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Parse, validate and de-duplicate TMDB lines.

    Args:
        lines_df: `value` (one JSON body) and `source_file`, as from `ingest.read_lines`.

    Returns:
        (bronze movies, quarantine). A record without a title is quarantined too: a film nobody
        can name cannot be matched or reported.
    """
    valid_df, quarantine_df = ingest.split_valid(ingest.parse_json_lines(lines_df, TMDB_MOVIE_JSON))
    untitled = F.coalesce(F.trim("title"), F.lit("")) == ""
    quarantine_df = quarantine_df.unionByName(
        valid_df.filter(untitled).select(
            "source_file", F.lit("missing title").alias("reason"), F.col("_raw").alias("record")
        )
    )
    movies_df = ingest.keep_latest_per_id(valid_df.filter(~untitled), "id")
    return select_movie_columns(movies_df), quarantine_df


def run(ctx: StepContext) -> None:
    """Read `raw/tmdb`, write `bronze/tmdb_movies` and its quarantine, record counts in the step's metrics."""
    spark, layers, step = ctx.spark, ctx.layers, ctx.step_metrics
    files = storage.list_files(spark, layers.raw(RAW_TMDB), TMDB_SUFFIXES)
    if not files:
        raise ingest.MissingInputError(
            f"no TMDB input in {layers.raw(RAW_TMDB)}: expected *.jsonl or *.jsonl.gz files "
            "(run `make run` without DATA_ROOT to generate sample data, or see README 'Input contract')"
        )
    lines_df = ingest.read_lines(spark, files).cache()
    movies_df, quarantine_df = extract_tmdb(lines_df)
    storage.write_parquet(movies_df.orderBy("tmdb_id"), layers.bronze("tmdb_movies"))
    storage.write_parquet(quarantine_df.orderBy("source_file", "record"), layers.quarantine("tmdb"), partitions=1)
    lines = lines_df.count()
    lines_df.unpersist()
    movies = spark.read.parquet(layers.bronze("tmdb_movies")).count()
    quarantined = spark.read.parquet(layers.quarantine("tmdb")).count()
    step.rows_in = {"tmdb_lines": lines, "tmdb_files": len(files)}
    step.rows_out = {"tmdb_movies": movies}
    step.quarantined = {"tmdb": quarantined}
    step.details = {"duplicate_ids_dropped": lines - quarantined - movies}
    logger.info("TMDB: %d lines -> %d films, %d quarantined", lines, movies, quarantined)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_01_extract_tmdb [--data-root DIR] ...` (see --help)."""
    return runner.step_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
