"""Step 05: analytics tables computed in Spark, compared with hand-computed expectations."""
import math

import pytest
from chispa import assert_df_equality

from scripts_spark.step_05_aggregate import NO_GENRE, NO_SOUNDTRACK, coverage_by_genre_decade, style_vs_film


@pytest.fixture()
def film_df(spark):
    schema = ("tmdb_id long, genres array<string>, decade int, has_soundtrack boolean, popularity double, "
              "vote_average double, album_genres array<string>, album_styles array<string>")
    return spark.createDataFrame([
        (1, ["Drama"], 1990, True, 10.0, 8.0, ["Stage & Screen"], ["Score"]),
        (2, ["Drama", "Action"], 1990, False, 4.0, 6.0, None, None),
        (3, ["Action"], 2000, True, 30.0, 6.0, ["Stage & Screen", "Rock"], ["Score", "Soundtrack"]),
        (4, [], None, False, 2.0, None, None, None),
    ], schema)


def test_coverage(spark, film_df):
    expected = spark.createDataFrame([
        ("Action", 1990, 1, 0, 0.0), ("Action", 2000, 1, 1, 1.0),
        ("Drama", 1990, 2, 1, 0.5), (NO_GENRE, None, 1, 0, 0.0),
    ], "film_genre string, decade int, films long, films_with_soundtrack long, soundtrack_share double")
    assert_df_equality(coverage_by_genre_decade(film_df), expected, ignore_row_order=True, ignore_nullable=True)


def test_style_groups_with_baseline(film_df):
    rows = {(r.dimension, r.value): r for r in style_vs_film(film_df).collect()}
    assert set(rows) == {("genre", "Stage & Screen"), ("genre", "Rock"), ("style", "Score"),
                         ("style", "Soundtrack"), ("baseline", NO_SOUNDTRACK)}
    score = rows[("style", "Score")]
    assert score.films == 2 and score.popularity_mean == 20.0
    sd = math.sqrt(((10 - 20) ** 2 + (30 - 20) ** 2) / 1)
    assert score.popularity_std == pytest.approx(sd, abs=1e-4)
    assert score.popularity_ci95_low == pytest.approx(20 - 1.96 * sd / math.sqrt(2), abs=1e-3)
    assert score.is_small_group
    baseline = rows[("baseline", NO_SOUNDTRACK)]
    # A null vote average is left out of the mean, not counted as zero.
    assert baseline.films == 2 and baseline.vote_average_mean == 6.0 and baseline.popularity_mean == 3.0
    single = rows[("style", "Soundtrack")]
    assert single.films == 1 and single.popularity_std is None
