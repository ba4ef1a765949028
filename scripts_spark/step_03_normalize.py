"""Step 03: normalize films and albums into the silver layer.

Films (`silver/films`): one row per TMDB film with comparable title keys, release year and decade,
and normalized composer names.

Albums (`silver/albums`): one row per Discogs album, where an album is a master (with the formats,
labels and years of all its releases) or a release without a master. Each album carries its
title keys (soundtrack qualifiers and artist prefixes removed, one key per film for two-film
albums), its kind (film, tv, video_game, stage, compilation), whether Discogs files it under the
soundtrack genres/styles, and the normalized names of its artists and composer credits.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.functions import pandas_udf

from scripts import soundtrack_terms
from scripts_spark import runner, storage, text_norm
from scripts_spark.columns import ColumnOrName, array_or_empty, sorted_distinct
from scripts_spark.context import StepContext

logger = logging.getLogger(__name__)

NAME = "03_normalize"
VARIOUS_ARTIST_ID = 194
# Discogs credit roles that name who wrote the music of a soundtrack.
COMPOSER_ROLE_PATTERN = r"(?i)(compos|music by|score|written-by|written by|songwriter|original music)"


# Vectorized wrappers of the pure functions in text_norm (tested there, value by value). One UDF
# per table computes every derived column: each UDF is a round trip of its rows through Arrow and
# a Python worker, and the album features share one split of the title (step 03 at 1M films:
# Python time was most of the step).
def _list(value) -> list:
    return list(value) if value is not None else []


_KEYS = T.ArrayType(T.StringType())
FILM_FEATURES = T.StructType([
    T.StructField("title_key", T.StringType()),
    T.StructField("original_title_key", T.StringType()),
    T.StructField("main_title_key", T.StringType()),
    T.StructField("composer_keys", _KEYS),
])
ALBUM_FEATURES = T.StructType([
    T.StructField("title_keys", _KEYS),
    T.StructField("main_title_keys", _KEYS),
    T.StructField("alt_title_keys", _KEYS),
    T.StructField("has_soundtrack_qualifier", T.BooleanType()),
    T.StructField("has_soundtrack_title_term", T.BooleanType()),
    T.StructField("album_kind", T.StringType()),
    T.StructField("artist_keys", _KEYS),
    T.StructField("credit_keys", _KEYS),
])


def film_features(title: str | None, original_title: str | None, composer_names) -> tuple:
    """The FILM_FEATURES of one film (None keys for a missing title)."""
    return (
        text_norm.title_key(title) if title is not None else None,
        text_norm.title_key(original_title) if original_title is not None else None,
        text_norm.main_title_key(title) if title is not None else None,
        text_norm.person_keys(composer_names),
    )


def album_features(title: str | None, artist_names, credit_names, styles, name_variations) -> tuple:
    """The ALBUM_FEATURES of one album. A "Composer Name - Title" prefix is dropped when it names an
    artist or a credited composer, by name or as printed on the release ("H. Williams - X")."""
    artists, credits = _list(artist_names), _list(credit_names)
    keys, mains, alts = text_norm.album_keys(title, artists + credits + _list(name_variations))
    return (
        keys, mains, alts,
        text_norm.has_soundtrack_qualifier(title),
        soundtrack_terms.title_says_soundtrack(title),
        text_norm.album_kind(title, _list(styles)),
        text_norm.person_keys(artists),
        text_norm.person_keys(credits),
    )


@pandas_udf(FILM_FEATURES)
def film_features_udf(titles: pd.Series, original_titles: pd.Series, composer_names: pd.Series) -> pd.DataFrame:
    rows = [film_features(*row) for row in zip(titles, original_titles, composer_names)]
    return pd.DataFrame(rows, columns=FILM_FEATURES.fieldNames(), index=titles.index)


@pandas_udf(ALBUM_FEATURES)
def album_features_udf(titles: pd.Series, artist_names: pd.Series, credit_names: pd.Series,
                       styles: pd.Series, name_variations: pd.Series) -> pd.DataFrame:
    rows = [album_features(*row) for row in zip(titles, artist_names, credit_names, styles, name_variations)]
    return pd.DataFrame(rows, columns=ALBUM_FEATURES.fieldNames(), index=titles.index)


def normalize_films(movies_df: DataFrame) -> DataFrame:
    """Silver films from bronze TMDB movies.

    Returns:
        bronze columns plus `release_year`, `decade` (e.g. 1990), `title_key`,
        `original_title_key`, `main_title_key` (null without subtitle), `composer_names`
        (as credited) and `composer_keys` (normalized).
    """
    composer_names = F.transform("composers", lambda c: c["name"])
    features = film_features_udf("title", "original_title", composer_names)
    return (
        movies_df
        .withColumn("release_year", F.year("release_date"))
        .withColumn("decade", (F.floor(F.col("release_year") / 10) * 10).cast("int"))
        .withColumn("_features", features)
        .withColumns({name: F.col("_features")[name] for name in ("title_key", "original_title_key", "main_title_key")})
        .withColumn("composer_names", sorted_distinct(composer_names))
        .withColumn("composer_keys", F.col("_features")["composer_keys"])
        .drop("composers", "source_file", "_features")
    )


def _credits_various(artists_col: str) -> Column:
    """True when the artists credit Discogs' "Various" (a compilation of several artists)."""
    return F.exists(artists_col, lambda a: (a["id"] == VARIOUS_ARTIST_ID) | (F.lower(a["name"]) == "various"))


def _printed_names(artists: ColumnOrName) -> Column:
    """The non-empty name variations (Discogs' ANV: the name as printed on the release, "H.
    Williams") of an artists or credits array, [] for a null one: how a "Composer - Title" album
    title names its composer."""
    return F.filter(array_or_empty(F.transform(artists, lambda a: a["anv"])), lambda n: n != "")


def _release_facts(releases_df: DataFrame) -> DataFrame:
    """Per release: format names, label names, composer-credit names, artist names."""
    credits = F.filter("extraartists", lambda a: a["role"].rlike(COMPOSER_ROLE_PATTERN))
    return releases_df.select(
        "release_id", "master_id", "is_main_release", "title", "year", "country", "genres", "styles",
        F.transform("formats", lambda f: f["name"]).alias("format_names"),
        F.transform("labels", lambda lab: lab["name"]).alias("label_names"),
        F.transform(credits, lambda a: a["name"]).alias("credit_names"),
        F.transform("artists", lambda a: a["name"]).alias("artist_names"),
        F.concat(_printed_names("artists"), _printed_names(credits)).alias("anv_names"),
        _credits_various("artists")
        .alias("is_various"),
    )


def build_albums(masters_df: DataFrame, releases_df: DataFrame) -> DataFrame:
    """One row per album: each master with its releases, and each release without a master.

    Releases whose master is not among the masters (a dump subset, or API bodies fetched without
    their master) are grouped under that master id and named after its main (or first) release.

    Returns:
        `album_id` ("m<id>" or "r<id>"), `discogs_master_id`, `discogs_release_id`, `title`,
        `year`, `genres`, `styles`, `artist_names`, `credit_names`, `name_variations` (the
        artists' and composer credits' names as printed, Discogs' ANV), `is_various`, `formats`,
        `labels`, `countries`, `release_years`, `n_releases`.
    """
    facts_df = _release_facts(releases_df)
    per_master_df = (
        facts_df.filter(F.col("master_id").isNotNull())
        .groupBy("master_id")
        .agg(
            F.min(F.when(F.col("is_main_release"), F.col("release_id"))).alias("flagged_main_id"),
            F.min("release_id").alias("first_release_id"),
            F.min_by("title", F.struct(~F.coalesce("is_main_release", F.lit(False)), "release_id"))
            .alias("main_title"),
            F.min("year").alias("first_year"),
            # The main release is the original ("usually the oldest"); a later release's year dates
            # a reissue, not the album. A flagged main release without a year leaves the year unknown.
            F.max(F.when(F.col("is_main_release"), F.col("year"))).alias("main_year"),
            F.flatten(F.collect_list("format_names")).alias("formats"),
            F.flatten(F.collect_list("label_names")).alias("labels"),
            F.flatten(F.collect_list("credit_names")).alias("credit_names"),
            F.flatten(F.collect_list("artist_names")).alias("release_artist_names"),
            F.flatten(F.collect_list("anv_names")).alias("release_anv_names"),
            F.flatten(F.collect_list("genres")).alias("release_genres"),
            F.flatten(F.collect_list("styles")).alias("release_styles"),
            F.collect_list("country").alias("countries"),
            F.collect_list("year").alias("release_years"),
            F.max(F.col("is_various").cast("int")).cast("boolean").alias("any_various"),
            F.count("*").alias("n_releases"),
        )
    )
    masters_sel = masters_df.select(
        "master_id", F.col("title").alias("master_title"), F.col("year").alias("master_year"),
        "main_release_id", F.col("genres").alias("master_genres"), F.col("styles").alias("master_styles"),
        F.transform("artists", lambda a: a["name"]).alias("master_artist_names"),
        _printed_names("artists").alias("master_anv_names"),
        _credits_various("artists")
        .alias("master_various"),
    )
    masters_albums_df = masters_sel.join(per_master_df, on="master_id", how="full_outer").select(
        F.concat(F.lit("m"), F.col("master_id").cast("string")).alias("album_id"),
        F.col("master_id").alias("discogs_master_id"),
        F.coalesce("main_release_id", "flagged_main_id", "first_release_id").alias("discogs_release_id"),
        F.coalesce("master_title", "main_title").alias("title"),
        F.coalesce("master_year", F.when(F.col("flagged_main_id").isNotNull(), F.col("main_year")).otherwise(F.col("first_year")))
        .alias("year"),
        sorted_distinct(F.concat(array_or_empty("master_genres"), array_or_empty("release_genres")))
        .alias("genres"),
        sorted_distinct(F.concat(array_or_empty("master_styles"), array_or_empty("release_styles")))
        .alias("styles"),
        sorted_distinct(array_or_empty(F.coalesce("master_artist_names", "release_artist_names"))).alias("artist_names"),
        sorted_distinct(array_or_empty("credit_names")).alias("credit_names"),
        sorted_distinct(F.concat(array_or_empty("master_anv_names"), array_or_empty("release_anv_names")))
        .alias("name_variations"),
        F.coalesce("master_various", "any_various", F.lit(False)).alias("is_various"),
        sorted_distinct(array_or_empty("formats")).alias("formats"),
        sorted_distinct(array_or_empty("labels")).alias("labels"),
        sorted_distinct(array_or_empty("countries")).alias("countries"),
        sorted_distinct(array_or_empty("release_years")).alias("release_years"),
        F.coalesce("n_releases", F.lit(0)).alias("n_releases"),
    )
    single_albums_df = facts_df.filter(F.col("master_id").isNull()).select(
        F.concat(F.lit("r"), F.col("release_id").cast("string")).alias("album_id"),
        F.lit(None).cast("long").alias("discogs_master_id"),
        F.col("release_id").alias("discogs_release_id"),
        "title", "year",
        sorted_distinct("genres").alias("genres"),
        sorted_distinct("styles").alias("styles"),
        sorted_distinct("artist_names").alias("artist_names"),
        sorted_distinct("credit_names").alias("credit_names"),
        sorted_distinct("anv_names").alias("name_variations"),
        "is_various",
        sorted_distinct("format_names").alias("formats"),
        sorted_distinct("label_names").alias("labels"),
        sorted_distinct(F.array("country")).alias("countries"),
        sorted_distinct(F.array("year")).alias("release_years"),
        F.lit(1).cast("long").alias("n_releases"),
    )
    return masters_albums_df.unionByName(single_albums_df)


def normalize_albums(albums_df: DataFrame, genres: tuple[str, ...], styles: tuple[str, ...]) -> DataFrame:
    """Add matching features to albums.

    Args:
        albums_df: output of `build_albums`.
        genres, styles: the Discogs genres and styles that make an album a soundtrack.

    Returns:
        album columns plus `title_keys`, `main_title_keys`, `alt_title_keys` (one entry per title
        piece each, "" where none), `has_soundtrack_qualifier` (any qualifier, editions included),
        `has_soundtrack_title_term` (the title says soundtrack: `scripts.soundtrack_terms`),
        `album_kind`, `is_soundtrack` (filed under a soundtrack genre or style),
        `artist_keys` and `credit_keys`.
    """
    in_genres = F.arrays_overlap("genres", F.array(*[F.lit(g) for g in genres]))
    in_styles = F.arrays_overlap("styles", F.array(*[F.lit(s) for s in styles]))
    features = album_features_udf("title", "artist_names", "credit_names", "styles", "name_variations")
    names = ALBUM_FEATURES.fieldNames()
    return (
        albums_df
        .withColumn("_features", features)
        .withColumns({name: F.col("_features")[name] for name in names[:5]})
        .withColumn("album_kind", F.col("_features")["album_kind"])
        .withColumn("is_soundtrack", F.coalesce(in_genres | in_styles, F.lit(False)))
        .withColumns({name: F.col("_features")[name] for name in names[6:]})
        .drop("_features")
    )


def run(ctx: StepContext) -> None:
    """Read bronze, write `silver/films` and `silver/albums`, record counts in the step's metrics."""
    spark, layers, step, settings = ctx.spark, ctx.layers, ctx.step_metrics, ctx.settings
    movies_df = spark.read.parquet(layers.bronze("tmdb_movies"))
    masters_df = spark.read.parquet(layers.bronze("discogs_masters"))
    releases_df = spark.read.parquet(layers.bronze("discogs_releases"))
    storage.write_parquet(storage.in_key_order(normalize_films(movies_df), "tmdb_id"), layers.silver("films"))
    albums_df = normalize_albums(
        build_albums(masters_df, releases_df), settings.soundtrack_genres, settings.soundtrack_styles
    )
    storage.write_parquet(storage.in_key_order(albums_df, "album_id"), layers.silver("albums"))
    films_out = spark.read.parquet(layers.silver("films"))
    albums_out = spark.read.parquet(layers.silver("albums"))
    step.rows_in = storage.row_counts({"tmdb_movies": movies_df, "discogs_masters": masters_df,
                                       "discogs_releases": releases_df})
    # One job per written table for all its figures (each count of its own is a job and a scan).
    films = films_out.agg(F.count(F.lit(1)).alias("n"),
                          F.count(F.when(F.col("release_year").isNull(), 1)).alias("no_year")).first()
    kinds = albums_out.groupBy("album_kind").agg(
        F.count(F.lit(1)).alias("n"), F.count(F.when(F.col("is_soundtrack"), 1)).alias("soundtrack")).collect()
    step.rows_out = {"films": films["n"], "albums": sum(r["n"] for r in kinds)}
    step.details = {
        "albums_by_kind": {r["album_kind"]: r["n"] for r in sorted(kinds, key=lambda r: str(r["album_kind"]))},
        "soundtrack_albums": sum(r["soundtrack"] for r in kinds),
        "films_without_year": films["no_year"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_03_normalize [--data-root DIR] ...` (see --help)."""
    return runner.step_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
