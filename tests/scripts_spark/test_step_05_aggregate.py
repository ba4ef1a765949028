"""Step 05: analytics tables computed in Spark, compared whole with hand-computed expectations."""
import math
import statistics

import pytest
from chispa import assert_approx_df_equality, assert_df_equality
from pyspark.sql import functions as F

from scripts_spark.gold_tables import ANY_SOUNDTRACK, GOLD_TABLES, NO_GENRE, NO_SOUNDTRACK, UNKNOWN_LANGUAGE
from scripts_spark.step_05_aggregate import (
    BUILDERS,
    composers,
    coverage_by_genre_decade,
    coverage_by_language,
    film_soundtracks,
    formats_by_year,
    style_vs_film,
    t_critical_95,
)
from scripts_spark.storage import csv_ready, row_counts

FILM_SCHEMA = (
    "tmdb_id long, genres array<string>, decade int, original_language string, has_soundtrack boolean, "
    "popularity double, vote_average double, album_ids array<string>, album_genres array<string>, "
    "album_styles array<string>, composer_names array<string>"
)


@pytest.fixture()
def film_df(spark):
    """Films as in gold/film_soundtracks (the columns the aggregations read), with the edge cases:
    no genre, no decade, no or empty language, null metrics, albums without genre, blank, doubled
    and non-Latin composer names, null composer list."""
    return spark.createDataFrame([
        (1, ["Drama"], 1990, "fr", True, 10.0, 8.0, ["m1"], ["Stage & Screen"], ["Score"], ["Yann Tiersen"]),
        (2, ["Drama", "Action"], 1990, "en", False, 4.0, 6.0, [], [], [], ["Yann Tiersen", "Hans Zimmer"]),
        (3, ["Action"], 2000, "ja", True, 30.0, 6.0, ["m2", "r9"], ["Rock", "Stage & Screen"],
         ["Score", "Soundtrack"], ["久石譲", " "]),
        (4, [], None, None, False, 2.0, None, [], [], [], None),
        (5, ["Comédie"], 2000, "", True, 20.0, None, ["m1"], ["Stage & Screen"], ["Score", "Musique concrète"],
         ["Yann Tiersen", "Yann Tiersen"]),
        (6, ["Drama"], 2010, "fr", True, None, 7.0, ["r5"], [], [], []),
    ], FILM_SCHEMA)


def test_film_soundtracks_collects_sorted_album_facts(spark):
    films_df = spark.createDataFrame([
        (1, "Amélie", "Le Fabuleux Destin d'Amélie Poulain", "fr", 2001, 2000, ["Comedy", "Romance"], 20.5, 7.9,
         1000, ["Yann Tiersen"], "amelie"),
        (2, "Spirited Away", "千と千尋の神隠し", "ja", 2001, 2000, ["Animation"], 80.0, 8.5, 5000, ["Joe Hisaishi"],
         "spirited away"),
        (3, "Nobody's Film", "Nobody's Film", "en", None, None, [], None, None, 0, None, "nobodys film"),
    ], "tmdb_id long, title string, original_title string, original_language string, release_year int, "
       "decade int, genres array<string>, popularity double, vote_average double, vote_count long, "
       "composer_names array<string>, title_key string")
    albums_df = spark.createDataFrame([
        ("m1", "Amélie (Bande Originale du Film)", ["Stage & Screen"], ["Score"], ["CD", "Vinyl"],
         ["Virgin", "Labels"], 2001, [2001, 2015], 5, True),
        ("r7", "Amélie – Les Chansons", ["Pop", "Stage & Screen"], ["Chanson", "Soundtrack"], ["CD"], ["Virgin"],
         None, [], 1, True),
        ("m3", "Spirited Away", ["Stage & Screen"], ["Score"], ["Vinyl"], ["徳間ジャパン", "Studio Ghibli Records"],
         2001, [2001, 2020], 3, True),
        ("m9", "Unmatched", ["Rock"], [], ["CD"], [], 1990, [1990], 1, False),
    ], "album_id string, title string, genres array<string>, styles array<string>, formats array<string>, "
       "labels array<string>, year int, release_years array<int>, n_releases long, is_soundtrack boolean")
    matches_df = spark.createDataFrame(
        [(1, "m1", 1.0), (1, "r7", 0.8), (2, "m3", 0.9), (2, "m3", 0.9), (2, "gone", 0.75)],
        "tmdb_id long, album_id string, match_score double",
    )
    expected = spark.createDataFrame([
        (1, "Amélie", "Le Fabuleux Destin d'Amélie Poulain", "fr", 2001, 2000, ["Comedy", "Romance"], 20.5, 7.9,
         1000, ["Yann Tiersen"], ["m1", "r7"], ["Amélie (Bande Originale du Film)", "Amélie – Les Chansons"],
         ["Pop", "Stage & Screen"], ["Chanson", "Score", "Soundtrack"], ["CD", "Vinyl"], ["Labels", "Virgin"],
         [2001], [2001, 2015], 6, 2, True),
        (2, "Spirited Away", "千と千尋の神隠し", "ja", 2001, 2000, ["Animation"], 80.0, 8.5, 5000, ["Joe Hisaishi"],
         ["m3"], ["Spirited Away"], ["Stage & Screen"], ["Score"], ["Vinyl"], ["Studio Ghibli Records", "徳間ジャパン"],
         [2001], [2001, 2020], 3, 1, True),
        (3, "Nobody's Film", "Nobody's Film", "en", None, None, [], None, None, 0, [], [], [], [], [], [], [], [], [],
         0, 0, False),
    ], "tmdb_id long, title string, original_title string, original_language string, release_year int, "
       "decade int, genres array<string>, popularity double, vote_average double, vote_count long, "
       "composer_names array<string>, album_ids array<string>, album_titles array<string>, "
       "album_genres array<string>, album_styles array<string>, album_formats array<string>, "
       "album_labels array<string>, album_years array<int>, album_release_years array<int>, n_releases long, "
       "n_albums int, has_soundtrack boolean")
    assert_df_equality(film_soundtracks(films_df, matches_df, albums_df), expected,
                       ignore_row_order=True, ignore_nullable=True)


def test_coverage_by_genre_decade(spark, film_df):
    expected = spark.createDataFrame([
        ("Action", 1990, 1, 0, 0.0, True), ("Action", 2000, 1, 1, 1.0, True), ("Comédie", 2000, 1, 1, 1.0, True),
        ("Drama", 1990, 2, 1, 0.5, True), ("Drama", 2010, 1, 1, 1.0, True), (NO_GENRE, None, 1, 0, 0.0, True),
    ], "film_genre string, decade int, films long, films_with_soundtrack long, soundtrack_share double, "
       "is_small_group boolean")
    assert_df_equality(coverage_by_genre_decade(film_df), expected, ignore_row_order=True, ignore_nullable=True)


def test_coverage_by_language_puts_missing_codes_together(spark, film_df):
    expected = spark.createDataFrame([
        ("en", 1, 0, 0.0, True), ("fr", 2, 2, 1.0, True), ("ja", 1, 1, 1.0, True), (UNKNOWN_LANGUAGE, 2, 1, 0.5, True),
    ], "original_language string, films long, films_with_soundtrack long, soundtrack_share double, "
       "is_small_group boolean")
    assert_df_equality(coverage_by_language(film_df), expected, ignore_row_order=True, ignore_nullable=True)


def test_coverage_of_many_films_is_not_small(spark):
    films = [(i, ["Drama"], 2000, "en", i % 4 == 0, 1.0, 5.0, [], [], [], []) for i in range(12)]
    expected = spark.createDataFrame([("en", 12, 3, 0.25, False)],
                                     "original_language string, films long, films_with_soundtrack long, "
                                     "soundtrack_share double, is_small_group boolean")
    assert_df_equality(coverage_by_language(spark.createDataFrame(films, FILM_SCHEMA)), expected,
                       ignore_nullable=True)


T_95 = {1: 12.706, 2: 4.303}  # Student t, two-sided 95 %, by degrees of freedom


def _stats(values, baseline_mean=None):
    """(n, mean, median, std, ci low, ci high, diff) as the table should hold them, by hand."""
    values = [v for v in values if v is not None]
    if not values:
        return (0, None, None, None, None, None, None)
    mean = statistics.mean(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    half = T_95[len(values) - 1] * std / math.sqrt(len(values)) if std is not None else None
    return (len(values), round(mean, 4), round(statistics.median(values), 4), None if std is None else round(std, 4),
            None if half is None else round(mean - half, 4), None if half is None else round(mean + half, 4),
            None if baseline_mean is None else round(mean - baseline_mean, 4))


def test_style_vs_film_against_hand_computed_statistics(spark, film_df):
    # Groups: film ids with their (popularity, vote_average); the baseline is films 2 and 4.
    facts = {1: (10.0, 8.0), 2: (4.0, 6.0), 3: (30.0, 6.0), 4: (2.0, None), 5: (20.0, None), 6: (None, 7.0)}
    groups = {
        ("genre", "Stage & Screen"): [1, 3, 5], ("genre", "Rock"): [3],
        ("style", "Score"): [1, 3, 5], ("style", "Soundtrack"): [3], ("style", "Musique concrète"): [5],
        ("all", ANY_SOUNDTRACK): [1, 3, 5, 6], ("baseline", NO_SOUNDTRACK): [2, 4],
    }
    base_pop, base_vote = statistics.mean([4.0, 2.0]), 6.0
    rows = []
    for (dimension, value), ids in groups.items():
        pop = _stats([facts[i][0] for i in ids], base_pop)
        vote = _stats([facts[i][1] for i in ids], base_vote)
        rows.append((dimension, value, len(ids), *pop, *vote, len(ids) < 10))
    metric_cols = ", ".join(f"{m}_n long, {m}_mean double, {m}_median double, {m}_std double, {m}_ci95_low double, "
                            f"{m}_ci95_high double, {m}_mean_diff double" for m in ("popularity", "vote_average"))
    expected = spark.createDataFrame(rows, f"dimension string, value string, films long, {metric_cols}, "
                                           "is_small_group boolean")
    # Spot checks of the hand computation itself: an interpolated median, a t interval on 3 values.
    assert rows[-1][4] == 3.0 and rows[0][7] == round(20 - 4.303 * 10 / math.sqrt(3), 4)
    assert_approx_df_equality(style_vs_film(film_df), expected, 1e-4, ignore_row_order=True, ignore_nullable=True)


def test_style_vs_film_without_baseline_or_films(film_df):
    only_soundtracks = style_vs_film(film_df.filter("has_soundtrack")).collect()
    assert {r.dimension for r in only_soundtracks} == {"genre", "style", "all"}
    assert all(r.popularity_mean_diff is None and r.vote_average_mean_diff is None for r in only_soundtracks)
    assert style_vs_film(film_df.limit(0)).count() == 0


def test_t_critical_values(spark):
    dofs = [None, 0, 1, 2, 30, 31, 39, 40, 59, 60, 119, 120, 999, 1000, 5000]
    expected = [None, None, 12.706, 4.303, 2.042, 2.042, 2.042, 2.021, 2.021, 2.0, 2.0, 1.98, 1.98, 1.96, 1.96]
    df = spark.createDataFrame([(d,) for d in dofs], "dof int")
    got = [r.t for r in df.select(t_critical_95(F.col("dof")).alias("t")).collect()]
    assert got == expected


def test_composers_from_tmdb_credits_of_matched_films(spark, film_df):
    expected = spark.createDataFrame([
        ("Yann Tiersen", 3, 2, 0.6667, 1, 8.0, 15.0, True),
        ("久石譲", 1, 1, 1.0, 2, 6.0, 30.0, True),
    ], "composer string, credited_films long, matched_films long, soundtrack_share double, matched_albums long, "
       "vote_average_mean double, popularity_mean double, is_small_group boolean")
    assert_df_equality(composers(film_df), expected, ignore_row_order=True, ignore_nullable=True)


def test_composers_of_no_films(film_df):
    assert composers(film_df.limit(0)).count() == 0


ALBUM_SCHEMA = "album_id string, year int, formats array<string>, release_years array<int>, n_releases long"
FORMATS_SCHEMA = (
    "album_year int, albums long, vinyl_albums long, cd_albums long, cassette_albums long, file_albums long, "
    "other_albums long, no_format_albums long, releases long, reissued_albums long, reissue_share double, "
    "mean_reissue_span_years double"
)


def test_formats_by_year_groups_formats_and_reissues(spark):
    albums_df = spark.createDataFrame([
        ("m1", 1977, ["Vinyl"], [1977, 1978, 2014], 3),
        ("m2", 1977, ["Box Set", "CD", "Cassette"], [1977], 2),
        ("m3", 1977, ["DVD", "File", "Lathe Cut"], [1977, None, 1990], 4),
        ("m4", 2001, [], [], 1),
        ("r5", 2001, None, None, None),
        ("m7", 2001, ["Cassette", "Flexi-disc", "Microcassette", "SACD"], [2001, 2001], 2),
        ("m8", 2001, ["Box Set"], [2001], 1),
        ("m6", None, ["All Media", "CDr"], [2005, 2007], 2),
    ], ALBUM_SCHEMA)
    expected = spark.createDataFrame([
        (1977, 3, 2, 1, 1, 1, 1, 0, 9, 2, 0.6667, 25.0),
        (2001, 4, 1, 1, 1, 0, 0, 3, 4, 0, 0.0, None),
        (None, 1, 0, 1, 0, 0, 0, 0, 2, 1, 1.0, 2.0),
    ], FORMATS_SCHEMA)
    assert_df_equality(formats_by_year(albums_df), expected, ignore_row_order=True, ignore_nullable=True)


def test_formats_by_year_of_no_albums(spark):
    out = formats_by_year(spark.createDataFrame([], ALBUM_SCHEMA))
    assert_df_equality(out, spark.createDataFrame([], FORMATS_SCHEMA), ignore_nullable=True)


def test_csv_ready_joins_arrays(spark):
    df = spark.createDataFrame(
        [(1, ["Varèse Sarabande", None, "徳間ジャパン"], [2001, 2015], "x"), (2, None, [], None)],
        "id long, labels array<string>, years array<int>, note string",
    )
    expected = spark.createDataFrame(
        [(1, "Varèse Sarabande; 徳間ジャパン", "2001; 2015", "x"), (2, None, "", None)],
        "id long, labels string, years string, note string",
    )
    assert_df_equality(csv_ready(df), expected, ignore_row_order=True, ignore_nullable=True)


def test_row_counts_count_each_table_by_name(spark, tmp_path, film_df):
    """Step 05's metrics count a dozen tables with `row_counts`: each name gets its own rows, an
    empty table 0 (not a missing key), a filtered or joined plan what `count()` says."""
    path = str(tmp_path / "films")
    film_df.write.parquet(path)
    written = spark.read.parquet(path)
    tables = {"written": written, "with_album": written.filter("has_soundtrack"),
              "none": written.filter(F.lit(False)), "joined": written.join(film_df.select("tmdb_id"), "tmdb_id")}
    assert row_counts(tables) == {name: df.count() for name, df in tables.items()} \
        == {"written": 6, "with_album": 4, "none": 0, "joined": 6}
    assert row_counts({}) == {}


def test_every_gold_table_has_one_builder():
    """A gold table is one GOLD_TABLES entry plus one builder; `film_soundtracks` (first) is built
    from silver, every other table by its builder."""
    names = [table.name for table in GOLD_TABLES]
    assert names[0] == "film_soundtracks" and len(set(names)) == len(names)
    assert list(BUILDERS) == names[1:]
