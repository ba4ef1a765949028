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


def test_sorted_forms_run_in_generated_code(spark):
    """The sorted words and letters keep the plan node that computes them in whole-stage code
    generation (marked "*(n)"): a higher-order function such as `array_sort`'s comparator would
    take the node out, and the block keys of a million films took 44 s instead of 34 s."""
    df = spark.range(3).select(F.concat(F.lit("b a "), F.col("id").cast("string")).alias("k")) \
        .select(m.sorted_words(F.col("k")).alias("w"), m.sorted_letters(F.col("k")).alias("l"))
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert plan.startswith("*(1) Project [array_join(sort_array"), plan
    assert [tuple(r) for r in df.collect()] == [("0 a b", "0ab"), ("1 a b", "1ab"), ("2 a b", "2ab")]


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


def test_edit_keys(spark):
    # The key without spaces and each of its one-letter deletions; none under six letters.
    rows = [("olaris", ["e:olaris", "e:laris", "e:oaris", "e:olris", "e:olais", "e:olars", "e:olari"]),
            ("the cty", ["e:thecty", "e:hecty", "e:tecty", "e:thcty", "e:thety", "e:thecy", "e:thect"]),
            ("aab bbb", ["e:aabbbb", "e:abbbb", "e:aabbb"]), ("aabbb", []),
            ("heat", []), ("", []), (None, [])]
    df = spark.createDataFrame(rows, "k string, expected array<string>")
    assert_column_equality(df.withColumn("got", m._edit_keys(F.col("k"), m.SETTINGS)), "got", "expected")


def test_one_typo_apart_keys_share_an_edit_key(spark):
    """A letter missing, doubled, changed or two swapped anywhere in the key: the two keys share an
    edit key; two typos apart they do not."""
    pairs = [("solaris", "olaris", True), ("woman devil", "wooman devil", True), ("casablanca", "casalbanca", True),
             ("vertigo", "vertiga", True), ("vertigo", "vretiga", False)]
    df = spark.createDataFrame(pairs, "a string, b string, expected boolean").withColumn(
        "got", F.arrays_overlap(m._edit_keys(F.col("a"), m.SETTINGS), m._edit_keys(F.col("b"), m.SETTINGS)))
    assert_column_equality(df, "got", "expected")


def test_sequel_numbers(spark):
    rows = [("frozen 2", ["2"]), ("kill bill vol 1", []), ("blade runner 2049", []), ("rocky 4 3", ["3", "4"]),
            ("", []), (None, []),
            # Whole words only, "1" alone left out, each number once, in string order.
            ("1 11 111 1111", ["11", "111"]), ("a1 12b 007", ["007"]), ("part 10 2 10", ["10", "2"]),
            ("2  x", ["2"])]
    df = spark.createDataFrame(rows, "k string, expected array<string>")
    assert_column_equality(df.withColumn("got", m.sequel_numbers(F.col("k"))), "got", "expected")


# (album, alt, main, title, original, film_main, level)
TITLE_LEVEL_CASES = [
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
    # The article mistyped as a word of its own, before a word of any length.
    ("hte fog", "", "", "fog", None, None, "same_letters"),
    ("thhe storm", "", "", "storm", None, None, "same_letters"),
    ("tthe black game", "", "", "black game", None, None, "same_letters"),
    ("te sky", "", "", "sky", None, None, "same_letters"),
    ("th e angel", "", "", "angel", None, None, "same_letters"),
    ("t he night 3", "", "", "night 3", None, None, "same_letters"),
    ("then came you", "", "", "came you", None, None, "different"),
    # Another language's article with a letter doubled or a space inside; the look-alikes that are
    # words or names stay.
    ("lla nuit", "", "", "nuit", None, None, "same_letters"),
    ("daas boot", "", "", "boot", None, None, "same_letters"),
    ("e l mariachi", "", "", "mariachi", None, None, "same_letters"),
    ("d er untergang", "", "", "untergang", None, None, "same_letters"),
    ("less than zero", "", "", "than zero", None, None, "different"),
    ("lee marvin", "", "", "marvin", None, None, "different"),
    ("vertiggo", "", "", "vertigo", None, None, "typo"),
    ("casablnaca", "", "", "casablanca", None, None, "typo"),
    ("drive", "", "", "driven", None, None, "similar"),
    ("immortal", "", "", "immortals", None, None, "similar"),   # a plural is another word
    ("insomnia", "", "", "insomia", None, None, "typo"),
    # A short key: a doubled letter or two neighbours swapped is a typo; a letter lost, or other
    # letters in another order, is not.
    ("bllue", "", "", "blue", None, None, "typo"),
    ("hher", "", "", "her", None, None, "typo"),
    ("ursh", "", "", "rush", None, None, "typo"),
    ("anel", "", "", "angel", None, None, "similar"),
    ("dog", "", "", "god", None, None, "different"),
    # A typo with a volume number or a mistyped article beside it.
    ("maxs joourney vol 1", "", "", "maxs journey", None, None, "typo"),
    ("se rving sara vol 1", "", "", "serving sara", None, None, "typo"),
    ("thhe blue ssummer", "", "", "blue summer", None, None, "typo"),
    ("heat", "", "", "the heat wave", None, None, "different"),
    ("", "", "", "", None, None, "different"),
    (None, None, None, "heat", None, None, "different"),
]


def test_title_level(spark):
    """Every case in one DataFrame (the expression is large: one Spark job per case took 5 s each)."""
    df = spark.createDataFrame([(i, *case[:6]) for i, case in enumerate(TITLE_LEVEL_CASES)],
                               "i int, a string, alt string, main string, t string, o string, fm string")
    got = {r["i"]: m.TITLE.levels[r["lvl"]].name for r in df.select(
        "i", m.title_level(*[F.col(c) for c in df.columns[1:]]).alias("lvl")).collect()}
    wrong = [(case, got[i]) for i, case in enumerate(TITLE_LEVEL_CASES) if got[i] != case[6]]
    assert not wrong, wrong


def test_title_forms_are_computed_once_per_side(spark):
    """The forms step 04 computes once per film and album piece, which `title_level_of_forms` reads."""
    df = spark.createDataFrame([("hte wolf vol 2",), ("",), (None,)], "k string")
    rows = df.select(m.album_title_forms(F.col("k")).alias("a"), m.film_title_forms(F.col("k")).alias("f")).collect()
    album, film = rows[0]["a"], rows[0]["f"]
    # No squeezed form of a key longer than a short key; no sorted letters of a key too short to
    # be compared by them, no sorted words of one word: no comparison reads them.
    assert (album.key, album.spaceless, album.letters, album.words, album.squeezed) == (
        "hte wolf vol 2", "htewolfvol2", "2efhllootvw", "2 hte vol wolf", None)
    assert (album.unvolumed, album.unarticled) == ("hte wolf", "wolfvol2")
    assert album.trimmed.asDict() == {"key": "wolf", "spaceless": "wolf", "letters": None, "words": None,
                                      "squeezed": "wolf"}
    assert film.asDict() == {k: album[k] for k in ("key", "spaceless", "letters", "words", "squeezed")}
    # No trimmed forms where trimming changes nothing; no forms at all for an empty or null key.
    assert spark.createDataFrame([("wolf",)], "k string").select(
        m.album_title_forms(F.col("k"))["trimmed"].alias("t")).first()["t"] is None
    assert [tuple(r) for r in rows[1:]] == [(None, None), (None, None)]
    # A film's original title has forms of its own only where it is not its title.
    originals = spark.createDataFrame([("heat", "heat"), ("the fire", "la nuit"), (None, "la nuit")], "t string, o string")
    assert [r["f"] and r["f"]["key"] for r in originals.select(
        m.film_original_forms(F.col("t"), F.col("o")).alias("f")).collect()] == [None, "la nuit", "la nuit"]


def test_squeezed_and_adjacent_swap(spark):
    rows = [("bllue", "blue"), ("luu cy", "lucy"), ("ursh", "ursh"), ("", ""), (None, None)]
    df = spark.createDataFrame(rows, "k string, expected string")
    assert_column_equality(df.withColumn("got", m.squeezed(F.col("k"))), "got", "expected")
    rows = [("ursh", "rush", True), ("rsuh", "rush", True), ("rush", "rush", False), ("dog", "god", False),
            ("ab", "ba", True), ("a", "a", False), ("ur sh", "rush", True), ("rush", "rushh", False),
            ("", "", False), (None, "rush", None)]
    _check(spark, rows, "a string, b string", m.adjacent_swap(F.col("a"), F.col("b")), "boolean")


def test_short_keys_meet_a_doubled_letter_and_a_swap(spark):
    """A key too short for the affix and edit keys still meets its one-typo forms: films carry
    "l:" and "q:", an album "q:" only when it has a doubled letter."""
    rows = [("rush", False, ["l:hrsu", "q:rush"]), ("ursh", True, ["l:hrsu"]), ("bllue", True, ["q:blue"]),
            ("blue", False, ["l:belu", "q:blue"]), ("heaven", False, []), ("heavven", True, []),
            ("a", False, ["q:a"]), ("", False, []), (None, False, [])]
    for key, album, expected in rows:
        df = spark.createDataFrame([(key,)], "k string")
        got = df.select(m._short_keys(F.col("k"), m.SETTINGS, album=album).alias("keys")).first()["keys"]
        assert got == expected, (key, album, got)


def test_year_level(spark):
    names = m.YEAR.level_names()
    rows = [(2000, 2000, names.index("same_year")), (2001, 2000, names.index("next_year")),
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


def test_an_album_of_several_films_says_nothing_against_a_composer_it_does_not_name(spark):
    names = m.COMPOSER.level_names()
    rows = [(["hans zimmer"], ["john williams"], ["various"], 2, names.index("unknown")),
            (["hans zimmer"], [], ["coldplay"], 2, names.index("unknown")),
            (["hans zimmer"], ["hans zimmer"], ["various"], 2, names.index("credited")),
            (["hans zimmer"], ["john williams"], ["various"], 1, names.index("credits_differ")),
            (["hans zimmer"], ["john williams"], ["various"], None, names.index("credits_differ"))]
    _check(spark, rows, "film array<string>, credits array<string>, artists array<string>, films int",
           m.composer_level(F.col("film"), F.col("credits"), F.col("artists"), F.col("films")))


def test_numbers_level(spark):
    same, differ = m.NUMBERS.level_names().index("same"), m.NUMBERS.level_names().index("differ")
    rows = [("frozen 2", "frozen 2", "frozen 2", same), ("frozen", "frozen 2", "frozen 2", differ),
            ("interstellar 2", "interstellar", "interstellar", differ), ("heat", "heat", None, same),
            ("kill bill vol 1", "kill bill vol 1", None, same), ("x 2", "x", "x 2", same), (None, "x", None, same)]
    _check(spark, rows, "album string, title string, original string",
           m.numbers_level(F.col("album"), F.col("title"), F.col("original")))


def _drawn_counts(settings, true_m, true_u, share, total, unique_m=0.7, unique_u=0.2):
    """(pattern, unique title, pairs) drawn from known m and u, independent given match status."""
    import itertools
    import math

    informative = [[j for j, lvl in enumerate(c.levels) if not lvl.null] for c in settings.comparisons]
    counts = []
    for combo in itertools.product(*informative):
        for unique in (True, False):
            pm = share * math.prod(true_m[i][j] for i, j in enumerate(combo)) * (unique_m if unique else 1 - unique_m)
            pu = (1 - share) * math.prod(true_u[i][j] for i, j in enumerate(combo)) * (
                unique_u if unique else 1 - unique_u)
            n = round(total * (pm + pu))
            if n:
                counts.append((combo, unique, n))
    return counts


# Known m and u of every comparison (the title's u is declared in the shipped settings).
_TRUE_M = [[0.85, 0.05, 0.02, 0.05, 0.02, 0.01], [0.65, 0.15, 0.05, 0.05, 0.05, 0.03, 0.02, 1],
           [0.6, 0.1, 0.3, 1], [0.99, 0.01]]
_TRUE_U = [[0.05, 0.05, 0.01, 0.1, 0.2, 0.59], [0.03, 0.02, 0.03, 0.07, 0.2, 0.45, 0.2, 1],
           [0.002, 0.6, 0.398, 1], [0.8, 0.2]]


def test_m_from_anchors_recovers_m_and_em_the_share():
    """Pairs drawn from known m and u: each comparison's m, counted where the others make a pair
    near-certain, is close to the true one, the typo level included (EM on all candidates let it
    fall to almost nothing on a world with many namesakes); EM with m and u fixed finds the share."""
    settings = m.MatchSettings(m_prior_pairs=4)
    counts = _drawn_counts(settings, _TRUE_M, _TRUE_U, share=0.2, total=1_000_000)
    est = m.m_from_anchors(counts, settings)
    typo = m.TITLE.level_names().index("typo")
    for i, row in enumerate(_TRUE_M):
        for j, value in enumerate(row):
            if not settings.comparisons[i].levels[j].null:
                assert est[i][j] == pytest.approx(value, abs=0.02), (settings.comparisons[i].name, j)
    assert est[0][typo] == pytest.approx(0.05, abs=0.01)
    merged = {}
    for pattern, _, n in counts:
        merged[pattern] = merged.get(pattern, 0) + n
    share, _ = m.estimate_share(sorted(merged.items()), est, _TRUE_U, settings)
    assert share == pytest.approx(0.2, abs=0.02)
    capped, _ = m.estimate_share(sorted(merged.items()), est, _TRUE_U, settings, share_bound=0.1)
    assert capped == pytest.approx(0.1)


def test_m_from_anchors_keeps_the_declared_m_without_anchors():
    """No pair credits a composer: the title's anchors are empty and its declared m stays."""
    settings = m.MatchSettings()
    unknown = m.COMPOSER.level_names().index("unknown")
    est = m.m_from_anchors([((0, 0, unknown, 0), True, 500), ((3, 1, unknown, 0), False, 40)], settings)
    declared = [lvl.m for lvl in m.TITLE.levels]
    assert est[0] == pytest.approx([value / sum(declared) for value in declared], rel=1e-6)


def test_estimate_u_smooths_unseen_levels():
    settings = m.MatchSettings()
    u = m.estimate_u([((5, 4, 2, 0), 98), ((5, 0, 3, 1), 2)], settings)
    assert all(0 < value <= 1 for row in u for value in row)
    year_unknown = m.YEAR.level_names().index("unknown")
    assert u[1][year_unknown] == 1.0   # a null level carries no evidence
    assert sum(u[0]) == pytest.approx(1.0)


def _vectors(spark, rows):
    """(title_lvl, year_lvl, films_with_title) rows as the comparison vectors the model reads
    (composer unknown, sequel numbers the same)."""
    from pyspark.sql import functions as F

    return spark.createDataFrame(rows, "title_lvl int, year_lvl int, films_with_title int").withColumns(
        {"composer_lvl": F.lit(m.COMPOSER.level_names().index("unknown")),
         "numbers_lvl": F.lit(m.NUMBERS.level_names().index("same"))})


def test_title_tf_reference_is_the_mean_namesake_bits_of_far_year_exact_pairs(spark):
    """Only exact-title pairs whose year rules them out count (the pairs the exact-title u is
    estimated on); near-year, non-exact and unknown-year pairs are left out."""
    exact, typo = m.TITLE.level_names().index("exact"), m.TITLE.level_names().index("typo")
    before, over_10, same, unknown = (m.YEAR.level_names().index(n)
                                      for n in ("before_film", "over_10_after", "same_year", "unknown"))
    settings = m.MatchSettings(m_prior_pairs=4)
    rows = [(exact, before, 2), (exact, before, 8), (exact, over_10, 32), (exact, over_10, None),
            (exact, same, 1024), (typo, before, 1024), (exact, unknown, 1024)]
    # log2 of 2, 8, 32 and of a missing count taken as one film: (1 + 3 + 5 + 0) / 4
    assert m.reference_bits(m.pattern_stats(_vectors(spark, rows)), settings) == pytest.approx(2.25)


def test_title_tf_reference_needs_enough_pairs(spark):
    """Fewer far-year exact pairs than `m_prior_pairs`: no reference, the count adjusts alone (as
    the declared u then stays too); no pairs at all is no error."""
    exact, before = m.TITLE.level_names().index("exact"), m.YEAR.level_names().index("before_film")
    settings = m.MatchSettings(m_prior_pairs=4)
    assert m.reference_bits(m.pattern_stats(_vectors(spark, [(exact, before, 8)] * 3)), settings) == 0.0
    assert m.reference_bits(m.pattern_stats(_vectors(spark, [])), settings) == 0.0


def _declared_levels(settings: m.MatchSettings) -> dict:
    """The declared m and u of every level, as `TrainedModel` takes them."""
    return dict(m=tuple(tuple(lvl.m for lvl in c.levels) for c in settings.comparisons),
                u=tuple(tuple(lvl.u for lvl in c.levels) for c in settings.comparisons))


def test_exact_title_weight_is_relative_to_the_reference(spark):
    """k films carrying the title take log2 k - reference bits off the exact-title weight: a title
    rarer than the reference gains, a commoner one loses; other title levels are untouched."""
    settings = m.SETTINGS
    model = m.TrainedModel(**_declared_levels(settings), prior_match=0.5, em_iterations=1,
                           title_tf_reference_bits=3.0)
    exact_bits = model.level_weights(settings)[0][0]
    typo = m.TITLE.level_names().index("typo")
    typo_bits = model.level_weights(settings)[0][typo]
    year_same = m.YEAR.level_names().index("same_year")
    rows = [(0, year_same, 0, 0, 1), (0, year_same, 0, 0, 8), (0, year_same, 0, 0, 64), (0, year_same, 0, 0, None),
            (typo, year_same, 0, 0, 64)]
    df = spark.createDataFrame(rows, "title_lvl int, year_lvl int, composer_lvl int, numbers_lvl int, "
                                     "films_with_title int")
    got = [r["title_weight"] for r in m.score_pairs(df, model, settings).collect()]
    expected = [exact_bits + 3, exact_bits, exact_bits - 3, exact_bits + 3, typo_bits]
    assert got == pytest.approx([round(x, 3) for x in expected], abs=1e-3)


def test_a_credited_composer_weighs_by_how_many_films_they_scored(spark):
    """A credited composer who scored n of the catalogue's N films weighs log2(m * N / n): with
    N * u = 8 (the average credited pair's composer scored 8 films), one of a single film gains
    3 bits, one of 64 loses 3; other composer levels, and a model without the catalogue's size,
    keep the level's weight."""
    settings = m.SETTINGS
    levels = dict(**_declared_levels(settings), prior_match=0.5, em_iterations=1)
    credited, differ = (m.COMPOSER.level_names().index(n) for n in ("credited", "credits_differ"))
    films = round(8 / m.COMPOSER.levels[credited].u)
    model = m.TrainedModel(**levels, films=films)
    base = model.level_weights(settings)[2]
    rows = [(0, 0, credited, 0, 1, 1), (0, 0, credited, 0, 1, 8), (0, 0, credited, 0, 1, 64),
            (0, 0, credited, 0, 1, None), (0, 0, differ, 0, 1, None)]
    df = spark.createDataFrame(rows, "title_lvl int, year_lvl int, composer_lvl int, numbers_lvl int, "
                                     "films_with_title int, composer_films int")
    got = [r["composer_weight"] for r in m.score_pairs(df, model, settings).collect()]
    expected = [base[credited] + 3, base[credited], base[credited] - 3, base[credited], base[differ]]
    assert got == pytest.approx([round(x, 3) for x in expected], abs=1e-3)
    unadjusted = [r["composer_weight"] for r in m.score_pairs(df, m.TrainedModel(**levels), settings).collect()]
    assert unadjusted == pytest.approx([round(base[credited], 3)] * 4 + [round(base[differ], 3)], abs=1e-3)


def test_a_credited_composer_needs_a_smaller_margin_than_a_closer_year(spark):
    """Each album is (best film, second film); the margin needed is `ambiguity_margin_bits` (4)
    unless only the best film's composer is credited on the album (then
    `credited_ambiguity_margin_bits`, 3). No second film, or a vetoed one, is no ambiguity."""
    settings = m.MatchSettings(ambiguity_margin_bits=4.0, credited_ambiguity_margin_bits=3.0)
    rows = [
        # album, film, weight, composer, vetoed_by
        ("a", 1, 10.0, "credited", None), ("a", 2, 6.5, "unknown", None),           # 3.5 bits, only best credited
        ("b", 1, 10.0, "credited", None), ("b", 2, 6.5, "credited", None),          # 3.5 bits, both credited
        ("c", 1, 10.0, "unknown", None), ("c", 2, 6.5, "credited", None),           # 3.5 bits, the second credited
        ("d", 1, 10.0, "credited", None), ("d", 2, 7.5, "credits_differ", None),    # 2.5 bits: too close
        ("e", 1, 10.0, "unknown", None), ("e", 2, 5.5, "unknown", None),            # 4.5 bits
        ("f", 1, 10.0, "credited", None),                                           # alone
        ("g", 1, 10.0, "unknown", None), ("g", 2, 9.5, None, "numbers:differ"),     # second vetoed
        ("h", 1, 10.0, None, None), ("h", 2, 7.0, None, None),                      # composer null on both
    ]
    df = spark.createDataFrame(
        [(a, 0, t, v, w, 0, 100, 0.99, "exact", c, "same_year", 1, 5.0, 0.0) for a, t, w, c, v in rows],
        "album_id string, part int, tmdb_id int, vetoed_by string, match_weight double, year_gap int, "
        "vote_count int, match_probability double, title_level string, composer_level string, year_level string, "
        "films_with_title int, year_weight double, composer_weight double")
    got = {r["album_id"]: r["decision"] for r in m.decide(df, settings).filter("rank = 1").collect()}
    assert got == {"a": "match", "b": "ambiguous", "c": "ambiguous", "d": "ambiguous", "e": "match", "f": "match",
                   "g": "match", "h": "ambiguous"}


def test_deciding_on_vectors_scores_the_best_pairs_as_deciding_on_scored_pairs(spark):
    """`decide(vectors, score=...)`, which scores every pair's weights for the ranking and the
    best pairs in full after the join, gives the rows `decide(score_pairs(vectors))` gives: same
    best film, second film, margin, levels, weights and decision for every piece, vetoed and tied
    candidates included."""
    settings = m.SETTINGS
    model = m.TrainedModel(**_declared_levels(settings), prior_match=0.01, em_iterations=1,
                           title_tf_reference_bits=1.0, films=1000)
    title, year, composer, numbers = (c.level_names() for c in settings.comparisons)
    differ = numbers.index("differ")
    rows = []
    for piece, films in enumerate([1, 2, 3, 5]):
        for film in range(films):
            rows.append((f"a{piece}", piece % 2, 100 * piece + film, film % len(title), (film + piece) % len(year),
                         film % len(composer), differ if film == 1 else 0, 1 + film, film - 2, 10 * film,
                         None if film % 2 else 4))
    rows.append(("tie", 0, 7, 0, 0, 0, 0, 1, 0, 5, None))
    rows.append(("tie", 0, 8, 0, 0, 0, 0, 1, 0, 5, None))
    vectors = spark.createDataFrame(
        rows, "album_id string, part int, tmdb_id int, title_lvl int, year_lvl int, composer_lvl int, "
              "numbers_lvl int, films_with_title int, year_gap int, vote_count int, composer_films int")

    def collected(df):
        return sorted(tuple(r) for r in df.select(*sorted(df.columns)).collect())

    scored_first = m.decide(m.score_pairs(vectors, model, settings), settings)
    scored_after = m.decide(vectors, settings, score=lambda df: m.score_pairs(df, model, settings))
    assert sorted(scored_after.columns) == sorted(scored_first.columns)
    expected = collected(scored_first)
    assert len(expected) == 5 and collected(scored_after) == expected


def test_a_title_alone_against_the_other_evidence_is_not_a_match(spark):
    """Only the title agrees and year or composer speaks against the pair by a bit or more: not a
    match, whatever its probability; one agreeing piece of evidence, or disagreement under a bit,
    leaves it a match."""
    settings = m.MatchSettings(contrary_evidence_bits=1.0)
    rows = [  # album, year weight, composer weight
        ("against_composer", 0.0, -2.3), ("against_year", -5.1, 0.0), ("both_against", -1.0, -2.3),
        ("composer_for", -5.1, 8.2), ("year_for", 5.4, -2.3), ("under_a_bit", -0.5, 0.0),
        ("no_evidence", 0.0, 0.0), ("null_weights", None, None),
    ]
    df = spark.createDataFrame(
        [(a, 0, 1, None, 6.0, 0, 100, 0.6, "exact", "unknown", "unknown", 1, y, c) for a, y, c in rows],
        "album_id string, part int, tmdb_id int, vetoed_by string, match_weight double, year_gap int, "
        "vote_count int, match_probability double, title_level string, composer_level string, year_level string, "
        "films_with_title int, year_weight double, composer_weight double")
    got = {r["album_id"]: r["decision"] for r in m.decide(df, settings).collect()}
    against = "title_only_against_evidence"
    assert got == {"against_composer": against, "against_year": against, "both_against": against,
                   "composer_for": "match", "year_for": "match", "under_a_bit": "match", "no_evidence": "match",
                   "null_weights": "match"}
