"""The research-question tables and the rule that turns them into findings."""
from __future__ import annotations

import random

import numpy as np
import pytest
from pyspark.sql import functions as F

from scripts_spark import soundtrack_effects as fx

FILM_SCHEMA = ("tmdb_id long, original_language string, decade int, genres array<string>, popularity double, "
               "vote_average double, vote_count long, album_genres array<string>, album_styles array<string>, "
               "has_soundtrack boolean")


def _film(i, *, popularity, vote=6.0, decade=1990, genres=("Drama",), language="en", album_genres=(),
          album_styles=(), votes=100):
    return (i, language, decade, list(genres), float(popularity), float(vote), votes, list(album_genres),
            list(album_styles), bool(album_genres or album_styles))


def _world(spark, seed=1):
    """Baseline films, a clearly more popular 'Rock' group of 30, a 'Jazz' group like the baseline,
    and a 'Polka' group of 4 films (too small to be a finding however extreme)."""
    rng = random.Random(seed)
    rows, i = [], 0
    for _ in range(200):
        i += 1
        rows.append(_film(i, popularity=rng.lognormvariate(0, 1), vote=rng.gauss(6, 1)))
    for _ in range(30):
        i += 1
        rows.append(_film(i, popularity=rng.lognormvariate(1.5, 1), vote=rng.gauss(6, 1),
                          album_genres=("Rock", "Stage & Screen"), album_styles=("Soundtrack",)))
    for _ in range(25):
        i += 1
        rows.append(_film(i, popularity=rng.lognormvariate(0, 1), vote=rng.gauss(6, 1),
                          album_genres=("Jazz", "Stage & Screen"), album_styles=("Score",)))
    for _ in range(4):
        i += 1
        rows.append(_film(i, popularity=500.0, vote=9.9, album_genres=("Polka",), album_styles=("Score",)))
    return spark.createDataFrame(rows, FILM_SCHEMA)


@pytest.fixture(scope="module")
def world_tests(spark):
    """`effect_tests` of `_world(spark)`, computed once for the module (kept in memory)."""
    return fx.effect_tests(_world(spark)).localCheckpoint()


@pytest.fixture(scope="module")
def tests_rows(world_tests):
    return [r.asDict() for r in world_tests.collect()]


def _row(rows, dimension, value, metric="popularity"):
    return next(r for r in rows if (r["dimension"], r["value"], r["metric"]) == (dimension, value, metric))


def test_a_strong_group_is_significant_and_a_null_group_is_not(tests_rows):
    rock, jazz = _row(tests_rows, "genre", "Rock"), _row(tests_rows, "genre", "Jazz")
    assert rock["is_significant"] and rock["cliffs_delta"] > 0.3 and rock["p_holm"] < 0.05
    assert not jazz["is_significant"] and jazz["p_holm"] >= jazz["p_value"]
    assert rock["median"] > rock["baseline_median"] and rock["log1p_median"] > rock["baseline_log1p_median"]
    assert rock["median_ci_low"] <= rock["median"] <= rock["median_ci_high"]


def test_small_groups_are_tested_but_outside_the_family(tests_rows):
    polka = _row(tests_rows, "genre", "Polka")
    assert polka["films"] == 4 and polka["is_small_group"] and not polka["in_family"]
    assert polka["p_value"] is not None and polka["p_holm"] is None and not polka["is_significant"]


def test_family_size_is_what_the_adjustment_used(tests_rows):
    family = [r for r in tests_rows if r["in_family"]]
    smallest = min(family, key=lambda r: r["p_value"])
    assert smallest["p_holm"] == pytest.approx(min(1.0, len(family) * smallest["p_value"]))
    assert {r["metric"] for r in tests_rows} == {"popularity", "vote_average"}


def test_findings_never_come_from_small_or_non_significant_groups(tests_rows):
    sentences = fx.findings(tests_rows, [], [])
    assert any("Rock" in s for s in sentences)
    assert not any("Polka" in s or "Jazz" in s for s in sentences)
    # And directly: a significant-looking row of a small group, or a non-significant row, is never chosen.
    fake = dict(_row(tests_rows, "genre", "Rock"))
    small = {**fake, "value": "Tiny", "films": 9, "is_small_group": True}
    insignificant = {**fake, "value": "Noise", "p_holm": 0.2, "is_significant": False}
    assert fx.findings([small, insignificant], [], []) == []


def test_findings_carry_the_adjusted_interval_and_the_sensitivity_verdict(tests_rows):
    rock = _row(tests_rows, "genre", "Rock")
    fit = {"dimension": "genre", "value": "Rock", "response": fx.LOG_POPULARITY, "adjusted_effect": 0.8,
           "ci95_low": 0.5, "ci95_high": 1.1, "raw_difference": 1.2}
    check = {"dimension": "genre", "value": "Rock", "metric": "popularity", "is_robust": False}
    (sentence,) = [s for s in fx.findings([rock], [fit], [check])]
    assert "+0.800 (95 % CI +0.500 to +1.100; unadjusted +1.200)" in sentence
    assert "does not hold with confident matches only" in sentence


def test_regression_removes_a_confounder(spark):
    """Soundtrack films are all from the 2010s, and 2010s films are more popular whatever their
    soundtrack: the raw difference is large, the adjusted effect is near zero."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(600):
        recent = i % 2 == 0
        has_st = recent and rng.random() < 0.5
        pop = float(np.expm1(1.0 + (1.5 if recent else 0.0) + rng.normal(scale=0.3)))
        rows.append(_film(i, popularity=pop, decade=2010 if recent else 1970, vote=6.0 + rng.normal(scale=0.5),
                          album_genres=("Rock",) if has_st else (), album_styles=("Soundtrack",) if has_st else ()))
    film_df = spark.createDataFrame(rows, FILM_SCHEMA)
    got = {(r["dimension"], r["value"], r["response"]): r for r in fx.effect_regression(film_df).collect()}
    any_st = got[("all", fx.ANY_SOUNDTRACK, fx.LOG_POPULARITY)]
    assert any_st["raw_difference"] > 0.9
    assert any_st["ci95_low"] < 0 < any_st["ci95_high"] and abs(any_st["adjusted_effect"]) < 0.15
    assert ("genre", "Rock", "vote_average") in got and any_st["n"] == 600


def test_sensitivity_flags_a_finding_that_rests_on_doubtful_matches(spark, world_tests):
    film_df = _world(spark)
    # Every Rock film's match is doubtful except three: with confident matches only, Rock is a small group.
    rock_ids = [r["tmdb_id"] for r in film_df.filter(_has_album_genre("Rock")).collect()]
    matches = spark.createDataFrame([(t, 0.5 if k >= 3 else 0.99) for k, t in enumerate(rock_ids)],
                                    "tmdb_id long, match_score double")
    confident = fx.confident_films(film_df, matches, 0.9)
    assert confident.count() == film_df.count() - (len(rock_ids) - 3)
    rows = {(r["dimension"], r["value"], r["metric"]): r
            for r in fx.effect_sensitivity(world_tests, fx.effect_tests(confident), 0.9).collect()}
    rock = rows[("genre", "Rock", "popularity")]
    assert rock["significant_all"] and not rock["significant_confident"] and rock["significance_changed"]
    assert not rock["is_robust"] and rock["films_confident"] == 3
    jazz = rows[("genre", "Jazz", "popularity")]
    assert jazz["films_confident"] == jazz["films_all"] == 25


def _has_album_genre(value):
    return F.array_contains("album_genres", value)


def _sensitivity_through_the_builders(film_df, matches_df, threshold=0.9):
    """effect_tests then effect_sensitivity as step 05 builds them: (written tests, sensitivity rows)."""
    from scripts_spark import step_05_aggregate as s5

    inputs = s5.AnalyticsInputs(film_df, None, matches_df, threshold)
    inputs.written["effect_tests"] = s5.BUILDERS["effect_tests"](inputs).localCheckpoint()
    return inputs, s5.BUILDERS["effect_sensitivity"](inputs)


def _rows(df):
    return df.orderBy("dimension", "value", "metric").collect()


def test_all_confident_matches_reuse_the_written_tests_with_the_same_result(spark, world_tests):
    from scripts_spark import step_05_aggregate as s5

    film_df = _world(spark)
    ids = [r["tmdb_id"] for r in film_df.filter("has_soundtrack").collect()]
    confident = spark.createDataFrame([(t, 0.95) for t in ids], "tmdb_id long, match_score double")
    inputs, shortcut = _sensitivity_through_the_builders(film_df, confident)
    assert inputs.derived[s5.CONFIDENT_TESTS] is None
    written = inputs.written["effect_tests"]
    assert _rows(written) == _rows(world_tests)
    recomputed = fx.effect_sensitivity(written, fx.effect_tests(fx.confident_films(film_df, confident, 0.9)), 0.9)
    assert _rows(shortcut) == _rows(recomputed)
    assert _rows(shortcut) and all(r["is_robust"] and r["films_all"] == r["films_confident"] for r in _rows(shortcut))


def test_confident_tests_computed_with_the_written_ones_equal_tests_of_their_own(spark, world_tests):
    """With doubtful matches, step 05 tests both samples in one pass (`effect_tests_of_samples`):
    each sample's rows, and its Holm and BH adjustments (a family per sample), are what testing
    it alone gives."""
    from scripts_spark import step_05_aggregate as s5

    film_df = _world(spark)
    rock_ids = [r["tmdb_id"] for r in film_df.filter(_has_album_genre("Rock")).collect()]
    doubtful = spark.createDataFrame([(t, 0.5 if k % 2 else 0.99) for k, t in enumerate(rock_ids)],
                                     "tmdb_id long, match_score double")
    inputs, sensitivity = _sensitivity_through_the_builders(film_df, doubtful)
    confident_alone = fx.effect_tests(fx.confident_films(film_df, doubtful, 0.9)).localCheckpoint()
    assert _rows(inputs.derived[s5.CONFIDENT_TESTS]) == _rows(confident_alone)
    assert _rows(inputs.written["effect_tests"]) == _rows(world_tests)
    assert _rows(sensitivity) == _rows(fx.effect_sensitivity(world_tests, confident_alone, 0.9))
    rock = {r["metric"]: r for r in _rows(sensitivity) if r["value"] == "Rock"}
    assert rock["popularity"]["films_confident"] == len(rock_ids) // 2 + len(rock_ids) % 2


def test_control_levels_rank_by_frequency_break_ties_by_name_and_keep_large_groups(spark):
    """The levels the regression is built from, collected in one pass: decades and languages by
    film count (ties by name, the first is the reference), only the TOP_LANGUAGES most common,
    every film genre, and soundtrack genres and styles with at least MIN_GROUP_SIZE films."""
    rows, i = [], 0
    # Twelve languages: "xa" with 3 films, then ten with 2 (ties), and "zz" with 1.
    languages = ["xa"] * 3 + [lang for lang in ("la", "lb", "lc", "ld", "le", "lf", "lg", "lh", "li", "lj")
                              for _ in range(2)] + ["zz"]
    for k, lang in enumerate(languages):
        i += 1
        rows.append(_film(i, popularity=1.0, language=lang, decade=1990 if k % 3 else 1970,
                          genres=("Drama", "Comedy") if k % 2 else ("Drama",)))
    for k in range(fx.MIN_GROUP_SIZE):
        i += 1
        rows.append(_film(i, popularity=1.0, decade=2000, album_genres=("Rock",) if k else ("Rock", "Polka"),
                          album_styles=("Score",)))
    levels = fx.control_levels(spark.createDataFrame(rows, FILM_SCHEMA))
    assert levels.languages == ["en", "xa", "la", "lb", "lc", "ld", "le", "lf", "lg", "lh"]
    assert len(levels.languages) == fx.TOP_LANGUAGES
    assert levels.decades == ["1990", "2000", "1970"]  # 15, 10 and 8 films
    assert levels.film_genres == ["Comedy", "Drama"]
    assert levels.album_genres == ["Rock"] and levels.album_styles == ["Score"]
