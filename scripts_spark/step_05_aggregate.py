"""Step 05: analytics tables that answer the research question, in `gold/`.

- `film_soundtracks`: each film with its matched albums' titles, genres, styles, formats, labels,
  years and release counts.
- `coverage_by_genre_decade`, `coverage_by_language`: share of films with a soundtrack album by
  film genre and decade, and by the film's original language.
- `soundtrack_style_vs_film`: per soundtrack genre/style, the popularity and vote average of the
  films it accompanies (count, mean, median, standard deviation, 95% confidence interval of the
  mean, difference from the films without a soundtrack), with films without a soundtrack and
  films with any soundtrack as comparison groups; small groups are flagged.
- `composers`: TMDB-credited composers of films with a matched album, with film and album counts
  and the mean vote average and popularity of those films.
- `formats_by_year`: matched albums per album year by format (Vinyl, CD, Cassette, File, other),
  and their reissue activity.
- `effect_tests`, `effect_regression`, `effect_sensitivity`: the tested answer to the research
  question (rank tests with Holm/BH-adjusted p-values, regression-adjusted effects, and the tests
  again with confident matches only); see `scripts_spark.soundtrack_effects`. Descriptive means
  stay in `soundtrack_style_vs_film`; the report's findings come from these three only.

Each table is Parquet plus one CSV file with a header (`<name>_csv/<name>.csv`). Everything is
computed in Spark; only the small final tables are coalesced, after a total ordering, to one file.
The tables' names, orders and group constants are in `scripts_spark.gold_tables`; the runner
writes the report from them once the run's metrics are written (FEEDS_REPORT).
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from scripts_spark import runner, storage
from scripts_spark import soundtrack_effects as effects
from scripts_spark.columns import array_or_empty, sorted_distinct
from scripts_spark.context import StepContext
from scripts_spark.gold_tables import (
    ANY_SOUNDTRACK,
    FORMAT_CONTAINERS,
    FORMAT_GROUPS,
    GOLD_TABLES,
    MIN_GROUP_SIZE,
    NO_GENRE,
    NO_SOUNDTRACK,
    UNKNOWN_LANGUAGE,
    GoldTable,
    table_order,
)

logger = logging.getLogger(__name__)

NAME = "05_aggregate"
FEEDS_REPORT = True
METRICS = ("popularity", "vote_average")

# Two-sided 95% critical values of Student's t by degrees of freedom (1-30 exact). Above 30 the
# value of the largest tabulated degrees of freedom not above the actual one is used, which keeps
# the interval slightly conservative; from 1000 on the normal 1.96.
T_CRITICAL_95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
    10: 2.228, 11: 2.201, 12: 2.179, 13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
    18: 2.101, 19: 2.093, 20: 2.086, 21: 2.080, 22: 2.074, 23: 2.069, 24: 2.064, 25: 2.060,
    26: 2.056, 27: 2.052, 28: 2.048, 29: 2.045, 30: 2.042, 40: 2.021, 60: 2.000, 120: 1.980,
    1000: 1.960,
}

def _flat_distinct(col: str) -> Column:
    return sorted_distinct(F.flatten(F.collect_list(array_or_empty(col))))


def film_soundtracks(films_df: DataFrame, matches_df: DataFrame, albums_df: DataFrame) -> DataFrame:
    """One row per film with `has_soundtrack` and the sorted, distinct facts of its matched albums.

    Args:
        films_df: silver films.
        matches_df: gold soundtrack matches (`tmdb_id`, `album_id`).
        albums_df: silver albums.

    Returns:
        film columns (`tmdb_id`, titles, `original_language`, `release_year`, `decade`, `genres`,
        `popularity`, `vote_average`, `vote_count`, `composer_names`), the albums' `album_ids`,
        `album_titles`, `album_genres`, `album_styles`, `album_formats`, `album_labels`,
        `album_years`, `album_release_years` (empty arrays for a film without album),
        `n_releases` (summed over its albums), `n_albums` and `has_soundtrack`.
    """
    album_facts = matches_df.select("tmdb_id", "album_id").distinct().join(
        albums_df.select("album_id", "title", "genres", "styles", "formats", "labels", "year",
                         "release_years", "n_releases"),
        on="album_id", how="inner",
    )
    per_film = album_facts.groupBy("tmdb_id").agg(
        F.array_sort(F.collect_set("album_id")).alias("album_ids"),
        F.array_sort(F.collect_set("title")).alias("album_titles"),
        _flat_distinct("genres").alias("album_genres"),
        _flat_distinct("styles").alias("album_styles"),
        _flat_distinct("formats").alias("album_formats"),
        _flat_distinct("labels").alias("album_labels"),
        F.array_sort(F.collect_set("year")).alias("album_years"),
        _flat_distinct("release_years").alias("album_release_years"),
        F.sum("n_releases").alias("n_releases"),
    )
    array_columns = ("album_ids", "album_titles", "album_genres", "album_styles", "album_formats", "album_labels",
                     "album_years", "album_release_years")
    out = films_df.select(
        "tmdb_id", "title", "original_title", "original_language", "release_year", "decade", "genres",
        "popularity", "vote_average", "vote_count",
        array_or_empty("composer_names").alias("composer_names"),
    ).join(per_film, on="tmdb_id", how="left")
    for name in array_columns:
        out = out.withColumn(name, array_or_empty(name))
    return (
        out.withColumn("n_albums", F.size("album_ids"))
        .withColumn("n_releases", F.coalesce(F.col("n_releases"), F.lit(0)).cast("long"))
        .withColumn("has_soundtrack", F.col("n_albums") > 0)
    )


def _coverage(grouped) -> DataFrame:
    return (
        grouped.agg(F.count("*").alias("films"),
                    F.sum(F.col("has_soundtrack").cast("long")).alias("films_with_soundtrack"))
        .withColumn("soundtrack_share", F.round(F.col("films_with_soundtrack") / F.col("films"), 4))
        .withColumn("is_small_group", F.col("films") < MIN_GROUP_SIZE)
    )


def coverage_by_genre_decade(film_df: DataFrame) -> DataFrame:
    """Films, films with a soundtrack and their share, per film genre and decade.

    A film counts once in each of its genres; a film without genre is under NO_GENRE, a film
    without release year has a null decade.
    """
    genres = F.when(F.size("genres") > 0, F.col("genres")).otherwise(F.array(F.lit(NO_GENRE)))
    exploded = film_df.select(F.explode(genres).alias("film_genre"), "decade", "has_soundtrack")
    return _coverage(exploded.groupBy("film_genre", "decade"))


def coverage_by_language(film_df: DataFrame) -> DataFrame:
    """Films, films with a soundtrack and their share, per original language (ISO 639-1 code as
    TMDB gives it; UNKNOWN_LANGUAGE when missing)."""
    language = F.coalesce(F.nullif(F.trim("original_language"), F.lit("")), F.lit(UNKNOWN_LANGUAGE))
    return _coverage(film_df.select(language.alias("original_language"), "has_soundtrack")
                     .groupBy("original_language"))


def t_critical_95(dof: Column) -> Column:
    """The two-sided 95% Student t critical value for `dof` degrees of freedom (null below 1)."""
    expr = F.when(dof < 1, F.lit(None).cast("double"))
    for limit in sorted(T_CRITICAL_95, reverse=True):
        expr = expr.when(dof >= limit, F.lit(T_CRITICAL_95[limit]))
    return expr


def _describe(grouped) -> DataFrame:
    stats = [F.countDistinct("tmdb_id").alias("films")]
    for metric in METRICS:
        stats += [
            F.count(metric).alias(f"{metric}_n"),
            F.avg(metric).alias(f"{metric}_mean"),
            F.median(metric).alias(f"{metric}_median"),
            F.stddev_samp(metric).alias(f"{metric}_std"),
        ]
    return grouped.agg(*stats)


def style_vs_film(film_df: DataFrame) -> DataFrame:
    """Popularity and vote average of films per soundtrack genre and style, with comparison groups.

    A film counts once in each genre and style of its albums. Comparison groups: dimension
    "baseline" (NO_SOUNDTRACK, films without a soundtrack album) and "all" (ANY_SOUNDTRACK).

    Returns:
        `dimension` ("genre", "style", "all", "baseline"), `value`, `films`; per metric
        (popularity, vote_average): `_n` (films with a value), `_mean`, `_median` (exact),
        `_std` (sample), `_ci95_low`/`_ci95_high` (Student t interval of the mean, null below two
        values) and `_mean_diff` (mean minus the baseline mean, null without baseline); and
        `is_small_group` when fewer than MIN_GROUP_SIZE films make the figures unreliable.
        Statistics are rounded to 4 decimals.
    """
    columns = ["tmdb_id", *METRICS]
    with_st = film_df.filter("has_soundtrack")
    rows = (
        with_st.select(*columns, F.lit("genre").alias("dimension"), F.explode("album_genres").alias("value"))
        .unionByName(with_st.select(*columns, F.lit("style").alias("dimension"),
                                    F.explode("album_styles").alias("value")))
        .unionByName(with_st.select(*columns, F.lit("all").alias("dimension"), F.lit(ANY_SOUNDTRACK).alias("value")))
        .unionByName(film_df.filter(~F.col("has_soundtrack"))
                     .select(*columns, F.lit("baseline").alias("dimension"), F.lit(NO_SOUNDTRACK).alias("value")))
    )
    described = _describe(rows.groupBy("dimension", "value"))
    baseline = described.filter(F.col("dimension") == "baseline").select(
        F.lit(1).alias("_one"), *[F.col(f"{m}_mean").alias(f"_{m}_base") for m in METRICS]
    )
    described = described.withColumn("_one", F.lit(1)).join(baseline, on="_one", how="left")
    out = []
    for metric in METRICS:
        n, mean, std = F.col(f"{metric}_n"), F.col(f"{metric}_mean"), F.col(f"{metric}_std")
        half_width = t_critical_95(n - 1) * std / F.sqrt(n)
        out += [
            f"{metric}_n",
            F.round(mean, 4).alias(f"{metric}_mean"),
            F.round(F.col(f"{metric}_median"), 4).alias(f"{metric}_median"),
            F.round(std, 4).alias(f"{metric}_std"),
            F.round(mean - half_width, 4).alias(f"{metric}_ci95_low"),
            F.round(mean + half_width, 4).alias(f"{metric}_ci95_high"),
            F.round(mean - F.col(f"_{metric}_base"), 4).alias(f"{metric}_mean_diff"),
        ]
    return described.select("dimension", "value", "films", *out,
                            (F.col("films") < MIN_GROUP_SIZE).alias("is_small_group"))


def composers(film_df: DataFrame) -> DataFrame:
    """Composers credited by TMDB on films that have a matched soundtrack album.

    The composer is the name as TMDB credits it (crew with a composer job), not the Discogs album
    artist: the film side names the person who wrote the score even when the album is credited to
    "Various" or an orchestra.

    Returns:
        `composer`, `credited_films` (films crediting the composer), `matched_films` (those with a
        soundtrack album), `soundtrack_share`, `matched_albums` (distinct albums of those films),
        `vote_average_mean` and `popularity_mean` of the matched films (4 decimals),
        `is_small_group` (matched_films below MIN_GROUP_SIZE). Composers without a matched film are
        left out.
    """
    credited = film_df.select(
        F.explode("composer_names").alias("composer"), "tmdb_id", "has_soundtrack", "album_ids",
        "popularity", "vote_average",
    ).withColumn("composer", F.trim("composer")).filter(F.col("composer") != "").dropDuplicates(["composer", "tmdb_id"])
    matched = F.col("has_soundtrack")
    return (
        credited.groupBy("composer")
        .agg(
            F.count("*").alias("credited_films"),
            F.sum(matched.cast("long")).alias("matched_films"),
            F.size(sorted_distinct(F.flatten(F.collect_list("album_ids")))).cast("long").alias("matched_albums"),
            F.round(F.avg(F.when(matched, F.col("vote_average"))), 4).alias("vote_average_mean"),
            F.round(F.avg(F.when(matched, F.col("popularity"))), 4).alias("popularity_mean"),
        )
        .filter(F.col("matched_films") > 0)
        .withColumn("soundtrack_share", F.round(F.col("matched_films") / F.col("credited_films"), 4))
        .withColumn("is_small_group", F.col("matched_films") < MIN_GROUP_SIZE)
        .select("composer", "credited_films", "matched_films", "soundtrack_share", "matched_albums",
                "vote_average_mean", "popularity_mean", "is_small_group")
    )


def with_format_groups(albums_df: DataFrame) -> DataFrame:
    """Add `format_groups`: the sorted distinct FORMAT_GROUPS keys (or "other") of `formats`."""
    def group_of(name: Column) -> Column:
        expr = F.when(name.isin(*FORMAT_CONTAINERS) | name.isNull(), F.lit(None).cast("string"))
        for group, names in FORMAT_GROUPS.items():
            expr = expr.when(name.isin(*names), F.lit(group))
        return expr.otherwise(F.lit("other"))

    groups = F.transform(array_or_empty("formats"), group_of)
    return albums_df.withColumn("format_groups", sorted_distinct(groups))


def formats_by_year(albums_df: DataFrame) -> DataFrame:
    """Albums per album year by format, and reissue activity.

    Args:
        albums_df: silver albums (normally only the matched ones) with `year`, `formats`,
            `release_years` and `n_releases`.

    Returns:
        `album_year` (the master's year, or the release's; null when unknown), `albums`,
        `vinyl_albums`, `cd_albums`, `cassette_albums`, `file_albums`, `other_albums` (albums with
        at least one release in that format: an album can count under several),
        `no_format_albums`, `releases` (sum of the albums' releases), `reissued_albums` (albums
        with releases in more than one year, i.e. released again after their first year),
        `reissue_share`, `mean_reissue_span_years` (last minus first release year, over
        reissued albums).
    """
    years = F.filter(array_or_empty("release_years"), lambda y: y.isNotNull())
    is_reissued = F.size(F.array_distinct(years)) > 1
    grouped = with_format_groups(albums_df).select(
        F.col("year").cast("int").alias("album_year"), "format_groups", "n_releases",
        is_reissued.alias("is_reissued"), (F.array_max(years) - F.array_min(years)).alias("span"),
    ).groupBy("album_year")
    counts = [F.sum(F.array_contains("format_groups", g).cast("long")).alias(f"{g}_albums")
              for g in (*FORMAT_GROUPS, "other")]
    return (
        grouped.agg(
            F.count("*").alias("albums"), *counts,
            F.sum((F.size("format_groups") == 0).cast("long")).alias("no_format_albums"),
            F.sum(F.coalesce(F.col("n_releases"), F.lit(0))).cast("long").alias("releases"),
            F.sum(F.col("is_reissued").cast("long")).alias("reissued_albums"),
            F.round(F.avg(F.when(F.col("is_reissued"), F.col("span"))), 2).alias("mean_reissue_span_years"),
        )
        .withColumn("reissue_share", F.round(F.col("reissued_albums") / F.col("albums"), 4))
        .select("album_year", "albums", *[f"{g}_albums" for g in (*FORMAT_GROUPS, "other")], "no_format_albums",
                "releases", "reissued_albums", "reissue_share", "mean_reissue_span_years")
    )


@dataclass(frozen=True)
class AnalyticsInputs:
    """What the analytics builders read.

    Attributes:
        film_df: gold `film_soundtracks` as written (one row per film).
        albums_df: the silver albums that have a match.
        matches_df: gold `soundtrack_matches` (`tmdb_id`, `album_id`, `match_score` in [0, 1]).
        confident_match_score: the match score from which a match counts as confident
            (CONFIDENT_MATCH_SCORE) for `effect_sensitivity`.
        written: the tables this step has written so far, read back, by name (a builder may
            build on an earlier table instead of computing it again).
        derived: what a builder computed for a later one beside its table, by name
            (CONFIDENT_TESTS).
    """

    film_df: DataFrame
    albums_df: DataFrame
    matches_df: DataFrame
    confident_match_score: float
    written: dict[str, DataFrame] = field(default_factory=dict)
    derived: dict[str, DataFrame | None] = field(default_factory=dict)


# `derived` entry: `effect_tests` on the films whose every match is confident, or None when every
# match is (the confident films are then all films, and their tests the written ones).
CONFIDENT_TESTS = "confident_effect_tests"


def tests_with_confident_sample(inputs: AnalyticsInputs) -> DataFrame:
    """`effect_tests` on all matches. When a match scores below `confident_match_score`, the same
    tests on the confident films are computed in the same pass (`effects.effect_tests_of_samples`)
    and kept in `inputs.derived` for `effect_sensitivity`: one run of the rank statistics instead
    of two."""
    threshold = inputs.confident_match_score
    samples = {effects.ALL_MATCHES: inputs.film_df}
    if inputs.matches_df.filter(F.col("match_score") < threshold).limit(1).count() > 0:
        samples[effects.CONFIDENT_MATCHES] = effects.confident_films(inputs.film_df, inputs.matches_df, threshold)
    tested = effects.effect_tests_of_samples(samples)
    inputs.derived[CONFIDENT_TESTS] = (
        tested.filter(F.col("sample") == effects.CONFIDENT_MATCHES).drop("sample") if len(samples) > 1 else None
    )
    return tested.filter(F.col("sample") == effects.ALL_MATCHES).drop("sample")


def sensitivity_to_match_error(inputs: AnalyticsInputs) -> DataFrame:
    """`effect_sensitivity`: the written `effect_tests` (all matches) beside the same tests on the
    films whose every match scores at least `confident_match_score` (computed with them by
    `tests_with_confident_sample`)."""
    all_tests_df = inputs.written["effect_tests"]
    confident_tests_df = inputs.derived[CONFIDENT_TESTS]
    # None: every match is confident, the confident films are all films, the tests already written.
    return effects.effect_sensitivity(all_tests_df, all_tests_df if confident_tests_df is None else confident_tests_df,
                                      inputs.confident_match_score)


# How each analytics table is built from `film_soundtracks` (as written), the matched albums and
# the matches; the tables' names and orders are `gold_tables.GOLD_TABLES`. In write order: a
# builder may use the tables before it (`inputs.written`).
BUILDERS: dict[str, Callable[[AnalyticsInputs], DataFrame]] = {
    "coverage_by_genre_decade": lambda inputs: coverage_by_genre_decade(inputs.film_df),
    "coverage_by_language": lambda inputs: coverage_by_language(inputs.film_df),
    "soundtrack_style_vs_film": lambda inputs: style_vs_film(inputs.film_df),
    "composers": lambda inputs: composers(inputs.film_df),
    "formats_by_year": lambda inputs: formats_by_year(inputs.albums_df),
    "effect_tests": tests_with_confident_sample,
    "effect_regression": lambda inputs: effects.effect_regression(inputs.film_df),
    "effect_sensitivity": sensitivity_to_match_error,
}


def write_analytics(layers: storage.Layers, inputs: AnalyticsInputs) -> None:
    """Write every table of GOLD_TABLES after `film_soundtracks`, in order, each read back into
    `inputs.written` for the builders after it."""
    spark = inputs.film_df.sparkSession
    for table in GOLD_TABLES[1:]:
        _write_table(BUILDERS[table.name](inputs), layers, table)
        inputs.written[table.name] = spark.read.parquet(layers.gold(table.name))


def run(ctx: StepContext) -> None:
    """Read silver and gold matches, write `film_soundtracks`, then every other table of
    GOLD_TABLES from it (Parquet and CSV); record counts in the step's metrics."""
    spark, layers, step = ctx.spark, ctx.layers, ctx.step_metrics
    films_df = spark.read.parquet(layers.silver("films"))
    albums_df = spark.read.parquet(layers.silver("albums"))
    matches_df = spark.read.parquet(layers.gold("soundtrack_matches"))
    first = GOLD_TABLES[0]
    _write_table(film_soundtracks(films_df, matches_df, albums_df), layers, first)
    # Every analytics table (and each of the six regression fits) starts from the films: read the
    # Parquet once into memory rather than once per table.
    film_df = spark.read.parquet(layers.gold(first.name)).cache()
    try:
        matched_albums_df = albums_df.join(matches_df.select("album_id"), on="album_id", how="left_semi")
        inputs = AnalyticsInputs(film_df, matched_albums_df, matches_df, ctx.settings.confident_match_score)
        write_analytics(layers, inputs)
        # Every count in one job (a job each would be a dozen jobs of fixed cost).
        inputs_read = {"films": films_df, "albums": albums_df, "soundtrack_matches": matches_df}
        counts = storage.row_counts({
            **{f"in:{name}": df for name, df in inputs_read.items()},
            # The tables as written, already read back: film_df and `inputs.written`.
            **{f"out:{name}": df for name, df in {first.name: film_df, **inputs.written}.items()},
            "films_with_soundtrack": film_df.filter("has_soundtrack"), "matched_albums": matched_albums_df,
        })
        step.rows_in = {name: counts[f"in:{name}"] for name in inputs_read}
        step.rows_out = {table.name: counts[f"out:{table.name}"] for table in GOLD_TABLES}
        with_st = counts["films_with_soundtrack"]
        films = step.rows_out[first.name]
        tests = inputs.written["effect_tests"].agg(
            F.coalesce(F.sum(F.col("in_family").cast("long")), F.lit(0)).alias("family"),
            F.coalesce(F.sum(F.col("is_significant").cast("long")), F.lit(0)).alias("significant"),
        ).first()
        step.details = {"films_with_soundtrack": with_st,
                        "soundtrack_coverage": round(with_st / films, 4) if films else 0.0,
                        "matched_albums": counts["matched_albums"],
                        "effect_family_tests": tests["family"], "effect_significant_tests": tests["significant"],
                        "confident_match_score": ctx.settings.confident_match_score}
    finally:
        film_df.unpersist()


def _write_table(df: DataFrame, layers: storage.Layers, table: GoldTable) -> None:
    storage.write_gold(df, layers, table.name, table_order(table.name), partitions=table.partitions, with_csv=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_05_aggregate [--data-root DIR] ...` (see --help)."""
    return runner.step_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
