"""Step 05: analytics tables that answer the research question, in `gold/`.

- `film_soundtracks`: each film with its matched albums' genres, styles, formats, labels, years.
- `coverage_by_genre_decade`: share of films with a soundtrack album by film genre and decade.
- `soundtrack_style_vs_film`: per soundtrack genre/style, the popularity and vote average of the
  films it accompanies (count, mean, median, standard deviation, 95% confidence interval of the
  mean), with films without a soundtrack as the comparison group; small groups are flagged.

Everything is computed in Spark; only the small final tables are coalesced to one ordered file.
"""
from __future__ import annotations

import logging
from typing import Optional

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from scripts_spark import storage
from scripts_spark.metrics import StepMetrics

logger = logging.getLogger(__name__)

NAME = "05_aggregate"
MIN_GROUP_SIZE = 10
NO_SOUNDTRACK = "(no soundtrack)"
NO_GENRE = "(no genre)"


def film_soundtracks(films_df: DataFrame, matches_df: DataFrame, albums_df: DataFrame) -> DataFrame:
    """One row per film with `has_soundtrack` and the sorted, distinct facts of its albums."""
    album_facts = matches_df.select("tmdb_id", "album_id").join(
        albums_df.select("album_id", "genres", "styles", "formats", "labels", "year"), on="album_id", how="inner"
    )
    per_film = album_facts.groupBy("tmdb_id").agg(
        F.array_sort(F.collect_set("album_id")).alias("album_ids"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("genres")))).alias("album_genres"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("styles")))).alias("album_styles"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("formats")))).alias("album_formats"),
        F.array_sort(F.array_distinct(F.flatten(F.collect_list("labels")))).alias("album_labels"),
        F.array_sort(F.collect_set("year")).alias("album_years"),
    )
    return (
        films_df.select("tmdb_id", "title", "original_title", "original_language", "release_year", "decade",
                        "genres", "popularity", "vote_average", "vote_count")
        .join(per_film, on="tmdb_id", how="left")
        .withColumn("n_albums", F.when(F.col("album_ids").isNull(), 0).otherwise(F.size("album_ids")))
        .withColumn("has_soundtrack", F.col("n_albums") > 0)
    )


def coverage_by_genre_decade(film_df: DataFrame) -> DataFrame:
    """Films, films with a soundtrack and their share, per film genre and decade."""
    genres = F.when(F.size("genres") > 0, F.col("genres")).otherwise(F.array(F.lit(NO_GENRE)))
    return (
        film_df.select(F.explode(genres).alias("film_genre"), "decade", "has_soundtrack")
        .groupBy("film_genre", "decade")
        .agg(F.count("*").alias("films"), F.sum(F.col("has_soundtrack").cast("int")).alias("films_with_soundtrack"))
        .withColumn("soundtrack_share", F.round(F.col("films_with_soundtrack") / F.col("films"), 4))
    )


def _describe(grouped) -> DataFrame:
    stats = []
    for metric in ("popularity", "vote_average"):
        stats += [
            F.round(F.avg(metric), 4).alias(f"{metric}_mean"),
            F.round(F.percentile_approx(metric, 0.5, 10000).cast("double"), 4).alias(f"{metric}_median"),
            F.round(F.stddev_samp(metric), 4).alias(f"{metric}_std"),
        ]
    return grouped.agg(F.countDistinct("tmdb_id").alias("films"), *stats)


def style_vs_film(film_df: DataFrame) -> DataFrame:
    """Popularity and vote average of films per soundtrack genre and style, with a comparison group.

    Returns:
        `dimension` ("genre" or "style"), `value`, `films`, mean/median/std of popularity and vote
        average, 95% confidence bounds of both means (normal approximation), and `is_small_group`
        when fewer than MIN_GROUP_SIZE films make the figures unreliable.
    """
    with_st = film_df.filter("has_soundtrack")
    genre_rows = with_st.select("tmdb_id", "popularity", "vote_average",
                                F.lit("genre").alias("dimension"), F.explode("album_genres").alias("value"))
    style_rows = with_st.select("tmdb_id", "popularity", "vote_average",
                                F.lit("style").alias("dimension"), F.explode("album_styles").alias("value"))
    baseline = film_df.filter(~F.col("has_soundtrack")).select(
        "tmdb_id", "popularity", "vote_average", F.lit("baseline").alias("dimension"), F.lit(NO_SOUNDTRACK).alias("value")
    )
    rows = genre_rows.unionByName(style_rows).unionByName(baseline)
    described = _describe(rows.groupBy("dimension", "value"))
    for metric in ("popularity", "vote_average"):
        half_width = 1.96 * F.col(f"{metric}_std") / F.sqrt(F.col("films"))
        described = described \
            .withColumn(f"{metric}_ci95_low", F.round(F.col(f"{metric}_mean") - half_width, 4)) \
            .withColumn(f"{metric}_ci95_high", F.round(F.col(f"{metric}_mean") + half_width, 4))
    return described.withColumn("is_small_group", F.col("films") < MIN_GROUP_SIZE)


def run(spark: SparkSession, layers: storage.Layers, step: StepMetrics) -> None:
    """Read silver and gold matches, write the analytics tables (Parquet and CSV)."""
    films_df = spark.read.parquet(layers.silver("films"))
    albums_df = spark.read.parquet(layers.silver("albums"))
    matches_df = spark.read.parquet(layers.gold("soundtrack_matches"))
    film_df = film_soundtracks(films_df, matches_df, albums_df)
    storage.write_parquet(film_df.orderBy("tmdb_id"), layers.gold("film_soundtracks"))
    film_df = spark.read.parquet(layers.gold("film_soundtracks"))
    tables = {
        "coverage_by_genre_decade": coverage_by_genre_decade(film_df).orderBy("film_genre", F.col("decade").asc_nulls_first()),
        "soundtrack_style_vs_film": style_vs_film(film_df).orderBy("dimension", "value"),
    }
    for name, df in tables.items():
        storage.write_parquet(df, layers.gold(name), partitions=1)
        _write_csv(spark.read.parquet(layers.gold(name)), layers.gold(f"{name}_csv"))
    step.rows_in = {"films": films_df.count(), "soundtrack_matches": matches_df.count()}
    step.rows_out = {name: spark.read.parquet(layers.gold(name)).count() for name in ["film_soundtracks", *tables]}
    with_st = film_df.filter("has_soundtrack").count()
    step.details = {"films_with_soundtrack": with_st,
                    "soundtrack_coverage": round(with_st / step.rows_out["film_soundtracks"], 4)
                    if step.rows_out["film_soundtracks"] else 0.0}


def _write_csv(df: DataFrame, path: str) -> None:
    """One CSV file with a header, for spreadsheets; the row order of `df` is kept."""
    tmp = f"{path}.__writing"
    storage.delete(df.sparkSession, tmp)
    df.coalesce(1).write.mode("overwrite").option("header", True).csv(tmp)
    storage.delete(df.sparkSession, path)
    storage.rename(df.sparkSession, tmp, path)


def main(argv: Optional[list[str]] = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_05_aggregate [--data-root DIR]`."""
    from scripts_spark.pipeline import main as pipeline_main

    return pipeline_main(["--steps", "5", *(argv or [])])


if __name__ == "__main__":
    raise SystemExit(main())
