"""Step 04's comparisons as Column functions, value by value, and its EM on known patterns."""
from __future__ import annotations

import pytest
from chispa import assert_column_equality
from pyspark.sql import functions as F

from scripts_spark import step_04_match as m


def _check(spark, rows, schema, expr, expected_type="int"):
    df = spark.createDataFrame(rows, f"{schema}, expected {expected_type}")
    assert_column_equality(df.withColumn("got", expr), "got", "expected")


def test_without_spaces_sorted_words_sorted_letters(spark):
    rows = [("godf ather", "godfather", "ather godf", "adefghort"), ("", "", "", ""), (None, None, None, None),
            ("amelie poulain", "ameliepoulain", "amelie poulain", "aaeeiillmnopu"), ("ガ カ", "ガカ", "カ ガ", "カガ")]
    df = spark.createDataFrame(rows, "k string, spaceless string, words string, letters string")
    df = df.withColumn("a", m.without_spaces(F.col("k"))).withColumn("b", m.sorted_words(F.col("k"))) \
        .withColumn("c", m.sorted_letters(F.col("k")))
    assert_column_equality(df, "a", "spaceless")
    assert_column_equality(df, "b", "words")
    assert_column_equality(df, "c", "letters")


def test_key_similarity(spark):
    rows = [("vertigo", "vertiggo", 1 - 1 / 8), ("casablanca", "casablanca", 1.0), ("heat", "", 0.0),
            ("", "", None), (None, "heat", None), ("godf ather", "godfather", 1.0)]
    df = spark.createDataFrame(rows, "a string, b string, expected double")
    df = df.withColumn("got", m.key_similarity(F.col("a"), F.col("b")))
    assert_column_equality(df, "got", "expected")


def test_affix_keys(spark):
    # Short keys take three-letter ends, so "womman" meets "woman" ("p:wom|5"); long keys four.
    rows = [("womman", ["p:wom|5", "s:man|5", "p:wom|6", "s:man|6", "l:ammnow"]),
            ("godf ather", ["p:godf|8", "s:ther|8", "p:godf|9", "s:ther|9", "l:adefghort"]),
            ("cty", []), ("", []), (None, [])]
    df = spark.createDataFrame(rows, "k string, expected array<string>")
    assert_column_equality(df.withColumn("got", m._affix_keys(F.col("k"), [-1, 0], m.SETTINGS)), "got", "expected")


def test_deletion_keys(spark):
    # A typo in one word, or a word more on one side, leaves a shared key; one word gets none.
    rows = [("dream of the gaame", ["d:dream of the gaame", "d:of the gaame", "d:dream the gaame",
                                    "d:dream of gaame", "d:dream of the"]),
            ("hte wild moon", ["d:hte wild moon", "d:wild moon", "d:hte moon", "d:hte wild"]),
            ("amélie ガカ", ["d:amélie ガカ", "d:ガカ", "d:amélie"]),
            ("wild", []), ("", []), (None, [])]
    df = spark.createDataFrame(rows, "k string, expected array<string>")
    assert_column_equality(df.withColumn("got", m._deletion_keys(F.col("k"))), "got", "expected")


def test_sequel_numbers(spark):
    rows = [("frozen 2", ["2"]), ("kill bill vol 1", []), ("blade runner 2049", []), ("rocky 4 3", ["3", "4"]),
            ("", []), (None, [])]
    df = spark.createDataFrame(rows, "k string, expected array<string>")
    assert_column_equality(df.withColumn("got", m.sequel_numbers(F.col("k"))), "got", "expected")


@pytest.mark.parametrize("album, alt, main, title, original, film_main, level", [
    ("heat", "", "", "heat", "heat", None, "exact"),
    ("amelie", "", "", "amelie", "fabuleux destin d amelie poulain", None, "exact"),
    ("fabuleux destin d amelie poulain", "", "", "amelie", "fabuleux destin d amelie poulain", None, "exact"),
    ("songs from second floor", "songs from second floor", "", "songs from second floor", None, None, "exact"),
    ("star wars a new hope", "", "star wars", "star wars", None, None, "main_title"),
    ("mission impossible", "", "", "mission impossible fallout", None, "mission impossible", "main_title"),
    ("godf ather", "", "", "godfather", None, None, "same_letters"),
    ("towers two", "", "", "two towers", None, None, "same_letters"),
    # A "the" glued to the next word or mistyped is not the title's; one leaving under four letters is.
    ("thewolf", "", "", "wolf", None, None, "same_letters"),
    ("hte wild moon", "", "", "wild moon", None, None, "same_letters"),
    ("theft", "", "", "ft", None, None, "different"),
    ("vertiggo", "", "", "vertigo", None, None, "typo"),
    ("casablnaca", "", "", "casablanca", None, None, "typo"),
    ("drive", "", "", "driven", None, None, "similar"),
    ("immortal", "", "", "immortals", None, None, "similar"),   # a plural is another word
    ("insomnia", "", "", "insomia", None, None, "typo"),
    ("heat", "", "", "the heat wave", None, None, "different"),
    ("", "", "", "", None, None, "different"),
    (None, None, None, "heat", None, None, "different"),
])
def test_title_level(spark, album, alt, main, title, original, film_main, level):
    df = spark.createDataFrame([(album, alt, main, title, original, film_main)],
                               "a string, alt string, main string, t string, o string, fm string")
    got = df.select(m.title_level(*[F.col(c) for c in df.columns]).alias("lvl")).first()["lvl"]
    assert m.TITLE.levels[got].name == level


def test_year_level(spark):
    names = m.YEAR.level_names()
    rows = [(2000, 2000, names.index("same_or_next")), (2001, 2000, names.index("same_or_next")),
            (1999, 2000, names.index("year_before")), (2003, 2000, names.index("2_to_3_after")),
            (2010, 2000, names.index("4_to_10_after")), (2011, 2000, names.index("over_10_after")),
            (1998, 2000, names.index("before_film")), (1950, 2000, names.index("before_film")),
            (None, 2000, names.index("unknown")), (2000, None, names.index("unknown"))]
    _check(spark, rows, "album int, film int", m.year_level(F.col("album"), F.col("film")))
    assert m.YEAR.levels[names.index("before_film")].veto


def test_composer_level(spark):
    names = m.COMPOSER.level_names()
    rows = [(["hans zimmer"], [], ["hans zimmer"], names.index("credited")),
            (["hans zimmer"], ["hans zimmer"], ["various"], names.index("credited")),
            (["hans zimmer"], ["john williams"], ["various"], names.index("credits_differ")),
            (["hans zimmer"], [], ["coldplay"], names.index("artists_differ")),
            ([], ["john williams"], [], names.index("unknown")),
            (["hans zimmer"], [], [], names.index("unknown")),
            (None, None, None, names.index("unknown"))]
    _check(spark, rows, "film array<string>, credits array<string>, artists array<string>",
           m.composer_level(F.col("film"), F.col("credits"), F.col("artists")))


def test_numbers_level(spark):
    same, differ = m.NUMBERS.level_names().index("same"), m.NUMBERS.level_names().index("differ")
    rows = [("frozen 2", "frozen 2", "frozen 2", same), ("frozen", "frozen 2", "frozen 2", differ),
            ("interstellar 2", "interstellar", "interstellar", differ), ("heat", "heat", None, same),
            ("kill bill vol 1", "kill bill vol 1", None, same), ("x 2", "x", "x 2", same), (None, "x", None, same)]
    _check(spark, rows, "album string, title string, original string",
           m.numbers_level(F.col("album"), F.col("title"), F.col("original")))


def test_em_separates_matches_from_non_matches():
    """Patterns drawn from known m and u: EM finds the share of matches and puts the exact title,
    the same year and a credited composer on the match side."""
    import dataclasses
    import itertools
    import math

    # u of every comparison given here (the title's u is declared in the shipped settings).
    settings = m.MatchSettings(comparisons=(dataclasses.replace(m.TITLE, u_from="random"), m.YEAR, m.COMPOSER,
                                            m.NUMBERS))
    true_m = [[0.85, 0.05, 0.02, 0.05, 0.02, 0.01], [0.8, 0.05, 0.05, 0.05, 0.03, 0.02, 1],
              [0.6, 0.1, 0.3, 1], [0.99, 0.01]]
    true_u = [[0.05, 0.05, 0.01, 0.1, 0.2, 0.59], [0.05, 0.03, 0.07, 0.2, 0.45, 0.2, 1],
              [0.002, 0.6, 0.398, 1], [0.8, 0.2]]
    share, total = 0.2, 100_000
    patterns = []
    informative = [[j for j, lvl in enumerate(c.levels) if not lvl.null] for c in settings.comparisons]
    for combo in itertools.product(*informative):
        pm = share * math.prod(true_m[i][j] for i, j in enumerate(combo))
        pu = (1 - share) * math.prod(true_u[i][j] for i, j in enumerate(combo))
        n = round(total * (pm + pu))
        if n:
            patterns.append((combo, n))
    u = [row[:] for row in true_u]
    est_m, _u, share_hat, _ = m.estimate_m(patterns, u, settings)
    assert share_hat == pytest.approx(0.2, abs=0.03)
    assert est_m[0][0] == pytest.approx(0.85, abs=0.05)
    assert est_m[2][0] == pytest.approx(0.6, abs=0.05)


def test_estimate_u_smooths_unseen_levels():
    settings = m.MatchSettings()
    u = m.estimate_u([((5, 4, 2, 0), 98), ((5, 0, 3, 1), 2)], settings)
    assert all(0 < value <= 1 for row in u for value in row)
    year_unknown = m.YEAR.level_names().index("unknown")
    assert u[1][year_unknown] == 1.0   # a null level carries no evidence
    assert sum(u[0]) == pytest.approx(1.0)
