"""Does a soundtrack's genre or style relate to a film's popularity or rating? The tested answer.

Transforms from the gold `film_soundtracks` table (one row per film, with its matched albums'
genres and styles) to three gold tables, and the rule that turns them into the report's findings:

- `effect_tests`: each soundtrack genre and style (and "any soundtrack") against films without a
  soundtrack album, on popularity and vote average: medians with exact 95 % intervals (and the
  median of log1p(popularity)), Mann-Whitney U with its p-value, Cliff's delta, and Holm and
  Benjamini-Hochberg adjusted p-values over the family FAMILY describes.
- `effect_regression`: the same groups' effects on log1p(popularity) and on vote average, adjusted
  by least squares for release decade, film genres, original language and log1p(vote count),
  beside the raw difference of means on the same scale.
- `effect_sensitivity`: the headline comparisons again with only the films whose every match is
  confident (match score at least the threshold given), side by side with all matches, flagging a
  change of direction or of significance.

`findings` writes the report's main findings from those tables only: a comparison must be in the
family (at least MIN_GROUP_SIZE films), significant after Holm's correction, and is described with
its effect size and adjusted interval. Small groups are never a finding.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from scripts_spark import session, stats
from scripts_spark.gold_tables import ANY_SOUNDTRACK, MIN_GROUP_SIZE

SIGNIFICANCE = 0.05
# The names of the samples `effect_tests_of_samples` tests: every match, and confident matches only.
ALL_MATCHES = "all"
CONFIDENT_MATCHES = "confident"
METRICS = ("popularity", "vote_average")
LOG_POPULARITY = "log1p_popularity"
RESPONSES = (LOG_POPULARITY, "vote_average")
TOP_LANGUAGES = 10
FAMILY = (
    "every soundtrack genre, every soundtrack style and 'any soundtrack' with at least "
    f"{MIN_GROUP_SIZE} films, each against films without a soundtrack album, on popularity and on "
    "vote average (Mann-Whitney U, two-sided)"
)
CONTROLS = ("release decade", "film genres", "original language (10 most common, others pooled)",
            "log1p(vote count)")
NOT_CONTROLLED = ("budget", "marketing spend", "studio and distributor", "cast", "franchise membership")


def _groups(film_df: DataFrame) -> DataFrame:
    """`dimension`, `value`, `tmdb_id` and the metrics, one row per film and soundtrack genre/style."""
    columns = ["tmdb_id", *METRICS]
    with_st = film_df.filter("has_soundtrack")
    return (
        with_st.select(*columns, F.lit("genre").alias("dimension"), F.explode("album_genres").alias("value"))
        .unionByName(with_st.select(*columns, F.lit("style").alias("dimension"),
                                    F.explode("album_styles").alias("value")))
        .unionByName(with_st.select(*columns, F.lit("all").alias("dimension"), F.lit(ANY_SOUNDTRACK).alias("value")))
        .dropDuplicates(["dimension", "value", "tmdb_id"])
    )


def _long(df: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key, film and metric (`metric`, `y`), log1p(popularity) included."""
    metric_values = [("popularity", F.col("popularity")), ("vote_average", F.col("vote_average")),
                     (LOG_POPULARITY, F.log1p(F.greatest(F.col("popularity"), F.lit(0.0))))]
    stacked = F.explode(F.array(*[F.struct(F.lit(name).alias("metric"), value.cast("double").alias("y"))
                                  for name, value in metric_values]))
    return df.select(*keys, stacked.alias("_m")).select(*keys, "_m.metric", "_m.y")


def effect_tests(film_df: DataFrame) -> DataFrame:
    """The rank comparisons of every soundtrack genre/style against films without a soundtrack.

    Returns:
        `dimension`, `value`, `metric` ("popularity" or "vote_average"), `films`, the columns of
        `stats.rank_comparisons` (n, baseline_n, medians and their intervals, median_diff,
        u_statistic, z, p_value, cliffs_delta), `log1p_median` and `baseline_log1p_median` for
        popularity, `in_family`, `p_holm`, `p_bh` (adjusted over the rows in the family only),
        `is_small_group` and `is_significant` (in the family and p_holm below SIGNIFICANCE).
    """
    return effect_tests_of_samples({ALL_MATCHES: film_df}).drop("sample")


def effect_tests_of_samples(samples: Mapping[str, DataFrame]) -> DataFrame:
    """`effect_tests` of several samples of the films in one pass, each row with its `sample` (the
    name given) first, each sample's family adjusted on its own.

    The samples differ only in which films with a soundtrack they keep (all matches, confident
    matches only: `confident_films`): the films without a soundtrack, the baseline of every
    comparison, are taken from the first sample. Tested together, the rank statistics, medians and
    their intervals are computed by one plan instead of one per sample.
    """
    keys = ["sample", "dimension", "value"]
    named = list(samples.items())
    groups = _groups(named[0][1]).withColumn("sample", F.lit(named[0][0]))
    for name, df in named[1:]:
        groups = groups.unionByName(_groups(df).withColumn("sample", F.lit(name)))
    baseline = named[0][1].filter(~F.col("has_soundtrack"))
    # Read by a dozen branches below (counts, ranks, medians and their intervals, films per
    # group): exploded and deduplicated once and kept, instead of once per branch (measured on
    # 100,000 films: twelve scans and shuffles of the groups for one).
    long_groups = _long(groups, [*keys, "tmdb_id"]).persist()
    long_base = _long(baseline, []).persist()
    tested = stats.rank_comparisons(long_groups.filter(F.col("metric").isin(*METRICS)),
                                    long_base.filter(F.col("metric").isin(*METRICS)), keys=tuple(keys))
    log_values = long_groups.filter((F.col("metric") == LOG_POPULARITY) & F.col("y").isNotNull())
    # Only the median is reported on the log scale: a plain aggregate, no interval ranks.
    log_groups = log_values.groupBy(*keys).agg(F.median("y").alias("log1p_median"))
    log_base = long_base.filter((F.col("metric") == LOG_POPULARITY) & F.col("y").isNotNull()) \
        .agg(F.median("y").alias("baseline_log1p_median"))
    log_medians = log_groups.crossJoin(log_base).withColumn("metric", F.lit("popularity"))
    # One row per group, film and metric (the groups are deduplicated by film): a group's films
    # are its rows of one metric, whatever their values.
    films = long_groups.filter(F.col("metric") == METRICS[0]).groupBy(*keys).agg(F.count("*").alias("films"))
    tested = (
        tested.join(films, on=keys, how="left").join(log_medians, on=[*keys, "metric"], how="left")
        .withColumn("is_small_group", F.col("films") < MIN_GROUP_SIZE)
        .withColumn("in_family", ~F.col("is_small_group") & F.col("p_value").isNotNull())
    )
    # A few rows per soundtrack genre/style, read by three branches below (the family's adjusted
    # p-values, its rows without a p-value, the rest): materialise them once instead of running the
    # rank tests (windows, joins, Python UDFs) once per branch. Computed here, while the long
    # tables are still cached (a lazy checkpoint ran after their unpersist, without them).
    tested = session.kept(tested)
    long_groups.unpersist()
    long_base.unpersist()
    family = stats.with_adjusted_p(tested.filter("in_family"), by=("sample",))
    outside = tested.filter(~F.col("in_family")).withColumn("p_holm", F.lit(None).cast("double")) \
        .withColumn("p_bh", F.lit(None).cast("double"))
    out = family.unionByName(outside)
    return out.withColumn("is_significant", F.coalesce(F.col("p_holm") < SIGNIFICANCE, F.lit(False))).select(
        "sample", "dimension", "value", "metric", "films", "n", "baseline_n", "median", "median_ci_low",
        "median_ci_high", "baseline_median", "baseline_median_ci_low", "baseline_median_ci_high", "median_diff",
        "log1p_median", "baseline_log1p_median", "u_statistic", "z", "p_value", "cliffs_delta",
        "in_family", "p_holm", "p_bh", "is_small_group", "is_significant",
    )


def _safe(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_") or "x"


@dataclass(frozen=True)
class ControlLevels:
    """The levels of the regression's categorical columns, collected once: decades by frequency
    (the first is the reference), film genres, the TOP_LANGUAGES most common languages (the first
    is the reference), and the soundtrack genres and styles with at least MIN_GROUP_SIZE films."""

    decades: list[str]
    film_genres: list[str]
    languages: list[str]
    album_genres: list[str] = field(default_factory=list)
    album_styles: list[str] = field(default_factory=list)


def _decade() -> Column:
    return F.coalesce(F.col("decade").cast("string"), F.lit("unknown"))


def _language() -> Column:
    return F.coalesce(F.col("original_language"), F.lit("unknown"))


def control_levels(film_df: DataFrame) -> ControlLevels:
    """The levels of `film_df`, all counted in one small collect (films per decade, film genre,
    language, soundtrack genre and style)."""
    kinds = [("decade", _decade()), ("film_genre", F.explode("genres")), ("language", _language()),
             ("album_genre", F.explode("album_genres")), ("album_style", F.explode("album_styles"))]
    values = functools.reduce(DataFrame.unionByName, [film_df.select(F.lit(kind).alias("kind"), value.alias("value"))
                                                      for kind, value in kinds])
    counts: dict[str, dict[str, int]] = {kind: {} for kind, _ in kinds}
    for row in values.filter(F.col("value").isNotNull()).groupBy("kind", "value").count().collect():
        counts[row["kind"]][row["value"]] = row["count"]

    def by_frequency(kind: str) -> list[str]:
        return sorted(counts[kind], key=lambda value: (-counts[kind][value], value))

    def large_groups(kind: str) -> list[str]:
        return sorted(value for value, n in counts[kind].items() if n >= MIN_GROUP_SIZE)

    return ControlLevels(decades=by_frequency("decade"), film_genres=sorted(counts["film_genre"]),
                         languages=by_frequency("language")[:TOP_LANGUAGES],
                         album_genres=large_groups("album_genre"), album_styles=large_groups("album_style"))


DIMENSIONS = ("all", "genre", "style")


def _effect_columns(levels: ControlLevels, dimension: str) -> list[tuple[str, Column, tuple[str, str]]]:
    """(column name, indicator, (dimension, value)) of each soundtrack group of `dimension` ("all"
    for any soundtrack) with at least MIN_GROUP_SIZE films."""
    if dimension == "all":
        return [("st_any", F.col("has_soundtrack").cast("double"), ("all", ANY_SOUNDTRACK))]
    source = "album_genres" if dimension == "genre" else "album_styles"
    values = levels.album_genres if dimension == "genre" else levels.album_styles
    return [(f"st_{dimension}_{i}_{_safe(value)}", F.array_contains(source, value).cast("double"), (dimension, value))
            for i, value in enumerate(values)]


def _control_columns(levels: ControlLevels) -> list[tuple[str, Column]]:
    columns = []
    decade, decades = _decade(), levels.decades
    for d in decades[1:]:
        columns.append((f"decade_{_safe(d)}", (decade == d).cast("double")))
    for g in levels.film_genres:
        columns.append((f"film_genre_{_safe(g)}", F.array_contains("genres", g).cast("double")))
    language, languages = _language(), levels.languages
    for lang in languages[1:]:
        columns.append((f"language_{_safe(lang)}", (language == lang).cast("double")))
    if len(languages) == TOP_LANGUAGES:
        columns.append(("language_other", (~language.isin(*languages)).cast("double")))
    columns.append(("log1p_vote_count",
                    F.log1p(F.greatest(F.coalesce(F.col("vote_count"), F.lit(0)), F.lit(0))).cast("double")))
    return columns


def _responses() -> list[Column]:
    return [F.log1p(F.greatest(F.col("popularity"), F.lit(0.0))).alias(LOG_POPULARITY),
            F.col("vote_average").cast("double").alias("vote_average")]


def effect_regression(film_df: DataFrame) -> DataFrame:
    """Adjusted and raw effects of each soundtrack genre/style (and any soundtrack).

    Every model (any soundtrack, the genres, the styles; on each response) has the same rows and
    controls, so one pass over the films sums the cross products of all their columns and each
    model is solved from its own block of them (`stats.cross_products`, `stats.ols`).

    Returns:
        `dimension`, `value`, `response` (log1p_popularity or vote_average), `raw_difference`
        (mean of the response for the group's films minus films without a soundtrack),
        `adjusted_effect`, `std_error`, `t_value`, `p_value`, `ci95_low`, `ci95_high` (of the
        adjusted effect) and `n` (films in the fit). A group whose effect cannot be estimated
        (constant, or collinear with the controls or a group before it) is left out.
    """
    spark = film_df.sparkSession
    groups = _groups(film_df)
    levels = control_levels(film_df)  # the same controls in every model: collect their levels once
    effect_columns = {dimension: _effect_columns(levels, dimension) for dimension in DIMENSIONS}
    controls = _control_columns(levels)
    every_effect = [item for dimension in DIMENSIONS for item in effect_columns[dimension]]
    design_df = film_df.select(*_responses(), *[column.alias(name) for name, column, _ in every_effect],
                               *[column.alias(name) for name, column in controls])
    control_names = [name for name, _ in controls]
    products = stats.cross_products(design_df, RESPONSES, [name for name, _, _ in every_effect] + control_names)
    rows = []
    for dimension in DIMENSIONS:
        effects = {name: group for name, _, group in effect_columns[dimension]}
        if not effects:
            continue
        for response in RESPONSES:
            # Controls first: a group collinear with them is the one left out, never a control.
            for r in stats.ols(products, response, control_names + list(effects), report=list(effects)):
                rows.append((*effects[r["term"]], response, r["estimate"], r["std_error"], r["t_value"],
                             r["p_value"], r["ci95_low"], r["ci95_high"], r["n"]))
    if not rows:
        return spark.createDataFrame([], "dimension string, value string, response string, raw_difference double, "
                                         "adjusted_effect double, std_error double, t_value double, p_value double, "
                                         "ci95_low double, ci95_high double, n long")
    adjusted = spark.createDataFrame(
        rows, "dimension string, value string, response string, adjusted_effect double, std_error double, "
              "t_value double, p_value double, ci95_low double, ci95_high double, n long")
    responses = film_df.select("tmdb_id", *_responses())
    base_means = film_df.filter(~F.col("has_soundtrack")).select(*_responses()) \
        .agg(*[F.avg(r).alias(r) for r in RESPONSES])
    means = groups.select("dimension", "value", "tmdb_id").join(responses, on="tmdb_id", how="inner") \
        .groupBy("dimension", "value").agg(*[F.avg(r).alias(r) for r in RESPONSES])
    raw = means.crossJoin(base_means.select(*[F.col(r).alias(f"_base_{r}") for r in RESPONSES])).select(
        "dimension", "value",
        F.explode(F.array(*[F.struct(F.lit(r).alias("response"),
                                     (F.col(r) - F.col(f"_base_{r}")).alias("raw_difference"))
                            for r in RESPONSES])).alias("_r"),
    ).select("dimension", "value", "_r.response", "_r.raw_difference")
    return adjusted.join(raw, on=["dimension", "value", "response"], how="left").select(
        "dimension", "value", "response", "raw_difference", "adjusted_effect", "std_error", "t_value", "p_value",
        "ci95_low", "ci95_high", "n",
    )


def confident_films(film_df: DataFrame, matches_df: DataFrame, threshold: float) -> DataFrame:
    """`film_df` without the films that have a match scored below `threshold`: films without a
    soundtrack stay, films all of whose matches are confident stay, the rest are left out (they
    belong neither to their soundtrack group nor, with certainty, to the baseline)."""
    doubtful = matches_df.filter(F.col("match_score") < threshold).select("tmdb_id").distinct()
    return film_df.join(doubtful, on="tmdb_id", how="left_anti")


def effect_sensitivity(all_tests_df: DataFrame, confident_tests_df: DataFrame, threshold: float) -> DataFrame:
    """The family's comparisons with all matches and with confident matches only, side by side.

    Returns:
        `dimension`, `value`, `metric`, `threshold`, `films_all`, `films_confident`,
        `cliffs_delta_all`, `cliffs_delta_confident`, `p_holm_all`, `p_holm_confident`,
        `significant_all`, `significant_confident`, `direction_changed` (Cliff's delta changes
        sign), `significance_changed`, and `is_robust` (neither changed).
    """
    keys = ["dimension", "value", "metric"]
    left = all_tests_df.filter("in_family").select(
        *keys, F.col("films").alias("films_all"), F.col("cliffs_delta").alias("cliffs_delta_all"),
        F.col("p_holm").alias("p_holm_all"), F.col("is_significant").alias("significant_all"))
    right = confident_tests_df.select(
        *keys, F.col("films").alias("films_confident"), F.col("cliffs_delta").alias("cliffs_delta_confident"),
        F.col("p_holm").alias("p_holm_confident"), F.col("is_significant").alias("significant_confident"))
    joined = left.join(right, on=keys, how="left")
    direction = F.coalesce(F.signum("cliffs_delta_all") != F.signum("cliffs_delta_confident"), F.lit(True))
    significance = F.coalesce(F.col("significant_all") != F.col("significant_confident"), F.col("significant_all"))
    return joined.select(
        *keys, F.lit(float(threshold)).alias("threshold"), "films_all",
        F.coalesce("films_confident", F.lit(0)).cast("long").alias("films_confident"),
        "cliffs_delta_all", "cliffs_delta_confident", "p_holm_all", "p_holm_confident", "significant_all",
        F.coalesce("significant_confident", F.lit(False)).alias("significant_confident"),
        direction.alias("direction_changed"), significance.alias("significance_changed"),
        (~direction & ~significance).alias("is_robust"),
    )


def _describe_group(dimension: str, value: str) -> str:
    if dimension == "all":
        return "Films with a soundtrack album"
    return f"Films whose soundtrack albums are filed under the {dimension} \u201c{value}\u201d"


def _size_word(delta: float) -> str:
    # Romano et al.'s thresholds for |Cliff's delta|: negligible, small, medium, large.
    size = abs(delta)
    return "negligible" if size < 0.147 else "small" if size < 0.33 else "medium" if size < 0.474 else "large"


def findings(tests: list[dict], regression: list[dict], sensitivity: list[dict]) -> list[str]:
    """Plain sentences for the comparisons that carry a finding, strongest first.

    Only rows of `effect_tests` that are in the family (at least MIN_GROUP_SIZE films) and
    significant after Holm's correction qualify; each sentence gives the medians, Cliff's delta,
    the adjusted p-value, the adjusted effect with its 95 % interval when the regression estimated
    it, and whether it survives using confident matches only.
    """
    adjusted = {(r["dimension"], r["value"], r["response"]): r for r in regression}
    robust = {(r["dimension"], r["value"], r["metric"]): r for r in sensitivity}
    chosen = [t for t in tests if t.get("in_family") and t.get("is_significant") and not t.get("is_small_group")
              and (t.get("films") or 0) >= MIN_GROUP_SIZE]
    chosen.sort(key=lambda t: (-abs(t["cliffs_delta"]), t["dimension"], t["value"], t["metric"]))
    sentences = []
    for t in chosen:
        metric = "popularity" if t["metric"] == "popularity" else "vote average"
        direction = "higher" if t["cliffs_delta"] > 0 else "lower"
        text = (
            f"{_describe_group(t['dimension'], t['value'])} have a {direction} median {metric} than films "
            f"without one ({t['median']:.2f} vs {t['baseline_median']:.2f}; Cliff's delta {t['cliffs_delta']:+.2f}, "
            f"{_size_word(t['cliffs_delta'])}; Holm-adjusted p = {t['p_holm']:.2g}; {t['films']} films)."
        )
        response = LOG_POPULARITY if t["metric"] == "popularity" else "vote_average"
        fit = adjusted.get((t["dimension"], t["value"], response))
        if fit is not None:
            scale = "log1p(popularity)" if response == LOG_POPULARITY else "vote average"
            text += (
                f" Adjusted for {', '.join(CONTROLS[:3])} and vote count, the difference in {scale} is "
                f"{fit['adjusted_effect']:+.3f} (95 % CI {fit['ci95_low']:+.3f} to {fit['ci95_high']:+.3f}; "
                f"unadjusted {fit['raw_difference']:+.3f})."
            )
        check = robust.get((t["dimension"], t["value"], t["metric"]))
        if check is not None:
            text += (" It holds with confident matches only." if check["is_robust"] else
                     " It does not hold with confident matches only: treat it with caution.")
        sentences.append(text)
    return sentences
