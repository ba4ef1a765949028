"""Step 01: ingest raw TMDB movie bodies (JSON lines) into typed bronze Parquet.

Input: `raw/tmdb/*.jsonl[.gz]`, one `/movie/{id}?append_to_response=credits` body per line.
Output: `bronze/tmdb_movies` (one row per film id) and `bronze/quarantine/tmdb` (bad lines with
their reason). Duplicated ids (a film fetched twice) keep the last line of the latest file.

Release dates are read leniently where the meaning is clear ("2001-5-5", "2001-05-05T00:00:00",
surrounding spaces); a date that is not one, or lies outside 1870-2100, and numbers out of their
range (vote_average outside 0-10, negative popularity, vote_count or runtime) send the record to
quarantine with the reason, so they never reach the statistics and never stop the run.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from scripts_spark import ingest, runner, storage
from scripts_spark.columns import array_or_empty
from scripts_spark.context import StepContext
from scripts_spark.schemas import CORRUPT_COLUMN, RAW_TMDB, TMDB_MOVIE_JSON, TMDB_SUFFIXES

logger = logging.getLogger(__name__)

NAME = "01_extract_tmdb"
READS_RAW = True
COMPOSER_JOBS = ("Original Music Composer", "Music", "Composer")


# Year, month, day and an optional time of day (which is dropped): 2001-05-05, 2001-5-5,
# 2001-05-05T00:00:00, 2001-05-05 00:00:00.000Z.
_DATE_PATTERN = r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$"
# (field, lowest, highest) for the numbers the statistics use; None is open.
NUMBER_RANGES = (("popularity", 0.0, None), ("vote_average", 0.0, 10.0), ("vote_count", 0.0, None),
                 ("runtime", 0.0, None))


def _number(name: str, type_name: str):
    """A numeric field sent as a number or as text; null when it is neither ("", "n/a")."""
    return F.expr(f"try_cast(try_cast({name} as double) as {type_name})").alias(name)


def _date_text(col_name: str) -> Column:
    return F.trim(F.col(col_name))


def parse_release_date(col_name: str = "release_date") -> Column:
    """The date in a TMDB `release_date`, read leniently; null when empty or not a valid date."""
    text = _date_text(col_name)
    # nullif before cast: no match gives "", which an ANSI-mode cast would reject with an error.
    parts = [F.nullif(F.regexp_extract(text, _DATE_PATTERN, i), F.lit("")).cast("int") for i in (1, 2, 3)]
    iso = F.format_string("%04d-%02d-%02d", *parts)
    # try_: an impossible day (2009-02-30) is null, not an error, whatever spark.sql.ansi.enabled says.
    parsed = F.to_date(F.try_to_timestamp(iso, F.lit("yyyy-MM-dd")))
    return F.when(text.rlike(_DATE_PATTERN), parsed)


def release_date_problem(col_name: str = "release_date") -> Column:
    """Why a non-empty `release_date` cannot be used, or null (an empty date is simply unknown)."""
    text = _date_text(col_name)
    parsed = parse_release_date(col_name)
    year = F.year(parsed)
    return (
        F.when(F.coalesce(text, F.lit("")) == "", F.lit(None).cast("string"))
        .when(~text.rlike(_DATE_PATTERN), F.lit("release_date is not a date like 2001-05-05"))
        .when(parsed.isNull(), F.lit("release_date is not a calendar date"))
        .when(~year.between(ingest.FIRST_YEAR, ingest.LAST_YEAR),
              F.lit(f"release_date outside {ingest.FIRST_YEAR}-{ingest.LAST_YEAR}"))
    )


def number_problem() -> Column:
    """Why a number the statistics use is out of its range (or NaN/infinite), or null."""
    reason = F.lit(None).cast("string")
    for name, low, high in reversed(NUMBER_RANGES):
        value = F.expr(f"try_cast({name} as double)")
        bounds = f"outside {low:g}-{high:g}" if high is not None else "negative"
        reason = (
            F.when(F.isnan(value) | value.isin(float("inf"), float("-inf")), F.lit(f"{name} is not a finite number"))
            .when(value < low, F.lit(f"{name} is {bounds}"))
            .when(value > high if high is not None else F.lit(False), F.lit(f"{name} is {bounds}"))
            .otherwise(reason)
        )
    return reason


def movie_columns() -> list[Column]:
    """The typed bronze columns, read from parsed TMDB bodies (the fields of `TMDB_MOVIE_JSON`
    flattened, plus `source_file`): `tmdb_id`, `imdb_id`, `title`, `original_title`,
    `original_language`, `release_date` (date, null when empty or invalid), `genres` (names),
    `popularity`, `vote_average`, `vote_count`, `runtime`, `adult`, `collection_id` (TMDB's
    `belongs_to_collection`: the franchise, null for a film of none), `composers` (crew with a
    composer job, as `{id, name}`), `source_file`."""
    crew = array_or_empty("credits.crew")
    composers = F.filter(crew, lambda c: c["job"].isin(*COMPOSER_JOBS))
    return [
        F.col("id").alias("tmdb_id"),
        F.nullif(F.trim("imdb_id"), F.lit("")).alias("imdb_id"),
        F.trim("title").alias("title"),
        F.coalesce(F.nullif(F.trim("original_title"), F.lit("")), F.trim("title")).alias("original_title"),
        F.lower(F.nullif(F.trim("original_language"), F.lit(""))).alias("original_language"),
        parse_release_date("release_date").alias("release_date"),
        F.transform(array_or_empty("genres"), lambda g: g["name"]).alias("genres"),
        _number("popularity", "double"),
        _number("vote_average", "double"),
        _number("vote_count", "bigint"),
        _number("runtime", "int"),
        F.col("adult"),
        F.col("belongs_to_collection.id").alias("collection_id"),
        F.array_distinct(F.transform(composers, lambda c: F.struct(c["id"].alias("id"), c["name"].alias("name"))))
        .alias("composers"),
        F.col("source_file"),
    ]


def extract_tmdb(lines_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Parse, validate and de-duplicate TMDB lines.

    Args:
        lines_df: `value` (one JSON body) and `source_file`, as from `ingest.read_lines`.

    Returns:
        (bronze movies, quarantine). A record without a title is quarantined too: a film nobody
        can name cannot be matched or reported; so is one with an unusable release date or a
        number out of range. Rejected records never compete as duplicates: an older good copy
        of the film is kept.
    """
    return split_checked_tmdb(checked_tmdb(ingest.parse_json_lines(lines_df, TMDB_MOVIE_JSON)))


def split_checked_tmdb(checked_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """`extract_tmdb` from `checked_tmdb` lines (which the run caches: both outputs and the counts
    read them)."""
    rejected = F.col("_reason").isNotNull()
    quarantine_df = ingest.to_quarantine(checked_df.filter(rejected), F.col("_reason"), F.col("_raw"))
    movies_df = ingest.keep_latest_per_id(checked_df.filter(~rejected).drop("_reason"), "tmdb_id")
    return movies_df, quarantine_df


def checked_tmdb(parsed_df: DataFrame) -> DataFrame:
    """One row per parsed line: the bronze columns (`movie_columns`), `_reason` (why the line
    goes to quarantine, null for a good one), `_raw` (the line, kept for rejected lines only) and
    `_line_order`.

    What the bronze table, the quarantine and the counts all read, narrowed to what they read: the
    bodies' whole crews and text are 1.7 GB of JSON for a million films (their bronze table 35 MB
    of Parquet), and the step used to keep both for three passes and check every line's UTF-8
    twice. Why a line is rejected: `extract_tmdb`.
    """
    flat = parsed_df.select(
        "rec.*", "source_file", F.col("value").alias("_raw"), F.col(ingest.LINE_ORDER).alias("_line_order"),
        ingest.quarantine_reason(F.col("rec.id"), F.col("rec.title")).alias("_parse_reason"),
    ).drop(CORRUPT_COLUMN)
    reason = F.coalesce(
        F.col("_parse_reason"),
        F.when(F.coalesce(F.trim("title"), F.lit("")) == "", F.lit("missing title"))
        .otherwise(F.coalesce(release_date_problem("release_date"), number_problem())),
    )
    return flat.withColumn("_reason", reason).select(
        *movie_columns(), "_reason", F.when(F.col("_reason").isNotNull(), F.col("_raw")).alias("_raw"),
        "_line_order")


def run(ctx: StepContext) -> None:
    """Read `raw/tmdb`, write `bronze/tmdb_movies` and its quarantine, record counts in the step's metrics."""
    spark, layers, step = ctx.spark, ctx.layers, ctx.step_metrics
    files = storage.list_files(spark, layers.raw(RAW_TMDB), TMDB_SUFFIXES)
    if not files:
        raise ingest.MissingInputError(
            f"no TMDB input in {layers.raw(RAW_TMDB)}: expected *.jsonl or *.jsonl.gz files "
            "(run `make run` without DATA_ROOT to generate sample data, or see README 'Input contract')"
        )
    # Parsed and checked once and kept: without it the optimizer inlines the JSON parse into every
    # branch (bronze, each quarantine reason, the counts) and a 20k-film run parses each body ~6 times.
    checked_df = checked_tmdb(ingest.parse_json_lines(ingest.read_lines(spark, files), TMDB_MOVIE_JSON)).cache()
    movies_df, quarantine_df = split_checked_tmdb(checked_df)
    try:
        storage.write_parquet(storage.in_key_order(movies_df, "tmdb_id"), layers.bronze("tmdb_movies"))
    except storage.StorageError as exc:  # a truncated gzip: say which file (Spark does not)
        raise ingest.name_unreadable_input(spark, "TMDB", files, exc) from exc
    storage.write_parquet(storage.in_one_sorted_partition(quarantine_df, [F.col("source_file"), F.col("record")]),
                          layers.quarantine("tmdb"))
    # One job for the three counts (a small run is mostly such fixed costs).
    counts = storage.row_counts({"lines": checked_df, "movies": spark.read.parquet(layers.bronze("tmdb_movies")),
                                 "quarantined": spark.read.parquet(layers.quarantine("tmdb"))})
    checked_df.unpersist()
    lines, movies, quarantined = counts["lines"], counts["movies"], counts["quarantined"]
    step.rows_in = {"tmdb_lines": lines, "tmdb_files": len(files)}
    step.rows_out = {"tmdb_movies": movies}
    step.quarantined = {"tmdb": quarantined}
    step.details = {"duplicate_ids_dropped": lines - quarantined - movies}
    logger.info("TMDB: %d lines -> %d films, %d quarantined", lines, movies, quarantined)
    ingest.check_usable_input(spark.read.parquet(layers.quarantine("tmdb")), "TMDB", files, lines, movies,
                              quarantined, ctx.settings.max_quarantine_share)


def main(argv: Sequence[str] | None = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_01_extract_tmdb [--data-root DIR] ...` (see --help)."""
    return runner.step_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
