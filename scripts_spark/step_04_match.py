"""Step 04: match Discogs soundtrack albums to TMDB films with a Fellegi-Sunter model.

1. Eligibility: an album is a candidate when Discogs files it under a soundtrack genre or style,
   or its title says it is a soundtrack (`scripts.soundtrack_terms`), and it is not a TV, game,
   stage or many-film compilation album. Each reason is counted.
2. Blocking, by equi-joins only (no cross join): an album meets the films that share one of its
   block keys: the exact title keys (full, original, main title before a subtitle), the sorted
   words, and typo-tolerant keys (first and last four letters of the key without spaces, with
   its length +-1; the key less one letter, which two keys one typo apart share). A key shared
   by more than `MatchSettings.max_films_per_block_key` films is joined on the film year too, or
   on a composer the album names (a common typo-tolerant key likewise, for album pieces no exact
   key met), so candidates per album stay bounded however large the catalogue.
3. Scoring: four comparisons (title, year, composer, sequel numbers), each with graded levels.
   u probabilities come from random film-album pairs (an equi-join on a random bucket, not a cross
   join), the exact-title u from how many films carry that title (term frequency); each
   comparison's m is counted on the run's own candidate pairs that the other comparisons make
   near-certain (its anchors: `m_from_anchors`), and the share of true pairs comes from EM with m
   and u fixed. A pair's match weight is the sum of log2(m/u) of its levels plus the prior.
   Levels that rule a pair out (an album two or more years before its film, a sequel number
   that differs) veto it whatever the other evidence.
4. Decision: each album piece's best film is a match when its probability reaches the threshold,
   it is clearly ahead of the second-best film (`ambiguity_margin_bits`), and, for a title that
   several films share, there is positive evidence (a credited composer or the same year).
   Everything else that came close is written to the near-miss table with its reason.
Every match and near-miss carries its per-comparison level and weight.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from scripts_spark import runner, session, storage
from scripts_spark.context import StepContext
from scripts_spark.pair_quality import quality_figures
from scripts_spark.schemas import RAW_TRUE_PAIRS, TRUE_PAIRS_CSV
from scripts_spark.text_norm import LEADING_ARTICLES

logger = logging.getLogger(__name__)

NAME = "04_match"
WRITES_GOLD = True   # its tables go to the run's gold folder, published with step 05's (runner)


@dataclass(frozen=True)
class Level:
    """One graded outcome of a comparison with its starting m and u probabilities.

    `null` levels carry no evidence (weight 0, left out of EM); `veto` levels rule a pair out.
    """

    name: str
    m: float
    u: float
    null: bool = False
    veto: bool = False


@dataclass(frozen=True)
class Comparison:
    """A named comparison with its levels, best first. `u_from` says where u comes from:
    "random" (estimated on random film-album pairs, then held fixed) or "declared" (the levels'
    own u, the share of each level among candidate pairs that are not matches, re-estimated on the
    candidates whose year rules them out: `title_u_from_far_years`). Title u is
    declared: look-alike titles are common among candidates and almost absent among random pairs,
    so random pairs would make every similar title strong evidence, and EM left free to move both
    m and u of the title splits candidates into "same title" and "other" instead of match and
    non-match (seen on a 20,000-film world)."""

    name: str
    levels: tuple[Level, ...]
    u_from: str = "random"

    def level_names(self) -> list[str]:
        return [lvl.name for lvl in self.levels]


TITLE = Comparison("title", (
    Level("exact", 0.80, 0.02),
    Level("main_title", 0.06, 0.05),
    Level("same_letters", 0.04, 0.005),
    Level("typo", 0.06, 0.05),
    Level("similar", 0.02, 0.25),
    Level("different", 0.01, 0.625),
), u_from="declared")
YEAR = Comparison("year", (
    # The film's own year and the next are apart: most soundtracks come out with the film, and a
    # namesake's album a year off is common among candidates (seen on a 20,000-film world).
    Level("same_year", 0.65, 0.015),
    Level("next_year", 0.15, 0.015),
    Level("year_before", 0.05, 0.015),
    Level("2_to_3_after", 0.08, 0.03),
    Level("4_to_10_after", 0.05, 0.12),
    Level("over_10_after", 0.01, 0.40),
    Level("before_film", 0.01, 0.405, veto=True),
    Level("unknown", 0.5, 0.5, null=True),
))
COMPOSER = Comparison("composer", (
    Level("credited", 0.60, 0.001),
    Level("credits_differ", 0.10, 0.60),
    Level("artists_differ", 0.30, 0.399),
    Level("unknown", 0.5, 0.5, null=True),
))
NUMBERS = Comparison("numbers", (
    Level("same", 0.99, 0.95),
    Level("differ", 0.01, 0.05, veto=True),
))


@dataclass(frozen=True)
class MatchSettings:
    """Everything that decides a match, recorded with every run (`as_dict`)."""

    comparisons: tuple[Comparison, ...] = (TITLE, YEAR, COMPOSER, NUMBERS)
    prior_match: float = 0.3           # starting share of true pairs among candidates; EM refines it
    em_iterations: int = 30
    # Fellegi-Sunter's own decision point: a match is more likely than not (weight 0). Not tuned;
    # the vetoes, the ambiguity margin and the common-title rule are what make it abstain.
    threshold_probability: float = 0.5
    near_miss_probability: float = 0.05
    # Best film's weight minus the second's, in bits: below this the evidence cannot tell them apart.
    ambiguity_margin_bits: float = 4.0
    # The margin when the best film's composer is credited on the album and the second's is not:
    # the album names the best film's composer, what the namesake cannot claim, so only a closer
    # year keeps the second near; less is needed to tell them apart.
    credited_ambiguity_margin_bits: float = 3.0
    # A title key carried by at least this many films needs a credited composer or the same year.
    common_title_films: int = 2
    # A pair whose only support is its title, while year or composer speaks against it by at least
    # this many bits (and neither speaks for it), is not matched: the title is all it has, and a
    # namesake's album (a remake, a film not in the catalogue) has that too. On a 20,000-film
    # world written elsewhere, 40 of the 44 such matches were wrong.
    contrary_evidence_bits: float = 1.0
    max_films_per_block_key: int = 50
    # A typo-tolerant key shared by more films than this is joined on the year (or a named
    # composer), and only for album pieces no exact key met: for every album it would flood the
    # candidates and make correctly spelt common titles ambiguous against their one-letter
    # neighbours (20k world: recall 0.930 -> 0.915). Shared by more than the second, it is dropped.
    max_films_per_fuzzy_key: int = 12
    max_films_per_fuzzy_key_by_year: int = 400
    # Typo-tolerant keys: first/last letters of the key without spaces; keys shorter get none.
    fuzzy_affix_letters: int = 4
    fuzzy_min_letters: int = 5
    # Keys shorter than this (without spaces) take one letter less at each end.
    short_key_letters: int = 8
    similar_title_min: float = 0.80    # Levenshtein similarity of the keys without spaces
    typo_title_min: float = 0.88
    # One edit in a key this long (without spaces) is a typo ("vertiggo"); in a shorter one it is
    # often another word ("drive" / "driven").
    typo_one_edit_min_letters: int = 6
    u_random_pairs: int = 100_000      # about this many random film-album pairs estimate u
    # Where each comparison's m is counted (`m_from_anchors`): the candidate pairs whose *other*
    # comparisons make them near-certain matches. Conditions are (comparison, allowed levels);
    # "unique_title" (no other film carries the exact title) is a condition too.
    m_anchors: tuple[tuple[str, tuple[tuple[str, tuple]]], ...] = (
        ("title", (("composer", ("credited",)), ("numbers", ("same",)))),
        ("year", (("composer", ("credited",)), ("title", ("exact",)), ("numbers", ("same",)))),
        ("composer", (("title", ("exact",)), ("unique_title", (True,)), ("year", ("same_year", "next_year")),
                      ("numbers", ("same",)))),
        ("numbers", (("composer", ("credited",)), ("year", ("same_year", "next_year")))),
    )
    # m (and the far-year title u) is a posterior mean with the declared value as a prior worth
    # this many pairs, so a level that the run's data hardly shows keeps its declared value
    # instead of a weight from noise.
    m_prior_pairs: float = 20.0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


SETTINGS = MatchSettings()


# ---- Column functions: keys and comparisons (each tested value by value) ----

def without_spaces(key: Column) -> Column:
    """"godf ather" -> "godfather": a space moved or lost does not change it.

    A plain replace, not a regular expression: the block keys take it of every key several times,
    inside lambdas Spark evaluates without generated code. The block keys of a million films took
    31 s instead of 38-42 s, an album's 15-17 s instead of 18-19 s."""
    return F.replace(key, F.lit(" "), F.lit(""))


def sorted_words(key: Column) -> Column:
    """"towers two the" and "the two towers" both -> "the two towers".

    `sort_array`, not `array_sort`: `array_sort` is a higher-order function (a comparator lambda),
    which Spark evaluates without generated code and which keeps the whole plan node that holds it
    out of whole-stage code generation. With `sort_array`, making the block keys of a million
    films took 34 s instead of 44 s. Same order: the words are never null."""
    return F.array_join(F.sort_array(F.split(key, " ")), " ")


def sorted_letters(key: Column) -> Column:
    """The key's letters in alphabetical order, spaces left out: "casablnaca" and "casablanca"
    agree (a transposition, which costs two Levenshtein edits). `sort_array`: see `sorted_words`."""
    return F.array_join(F.sort_array(F.split(without_spaces(key), "")), "")


def without_volume(key: Column) -> Column:
    """The key without a trailing volume or disc number ("possession vol 1" -> "possession"):
    Discogs appends it after the soundtrack qualifier."""
    return F.regexp_replace(key, " (?:vol|volume|disc|cd) [0-9]+$", "")


# The forms of the title key's leading articles (`text_norm.LEADING_ARTICLES`, which it drops
# when spelt right) one doubled letter or one space away that are words or names and so stay.
_ARTICLE_LOOKALIKES = frozenset({"lee", "lees", "less", "lass", "loss", "loo", "loos", "eel", "ell", "ill",
                                 "deer", "dass", "ann", "ass"})


def _mistyped_articles() -> list[str]:
    """Each leading article of two letters or more but "the" (whose mistypes `without_leading_article`
    lists with their lost letters and swaps) with one letter doubled ("lla", "daas") or split by a
    space ("e l", "d as"), minus `_ARTICLE_LOOKALIKES` and the articles themselves, longest first."""
    articles = [a for a in LEADING_ARTICLES if len(a) > 1 and a != "the"]
    forms = set()
    for article in articles:
        forms.update(article[:i + 1] + article[i] + article[i + 1:] for i in range(len(article)))
        forms.update(article[:i] + " " + article[i:] for i in range(1, len(article)))
    return sorted(forms - _ARTICLE_LOOKALIKES - set(LEADING_ARTICLES), key=lambda f: (-len(f), f))


_MISTYPED_ARTICLE = "|".join(_mistyped_articles())


def without_leading_article(key: Column) -> Column:
    """The key without a leading "the" that the title key, dropping only a spelled-out article,
    keeps: glued to the next word ("thewolf"), when at least four letters follow ("there" and
    "theft" stay), or mistyped as a word of its own, whatever follows: a letter swapped ("hte fog",
    "teh"), doubled ("thhe", "tthe"), lost ("th", "te") or a space moved ("t he", "th e"). Words
    one edit from "the" that are words ("he", "thee", "then", "they") are not taken for it.
    Likewise another language's article with a letter doubled or a space inside ("lla nuit",
    "daas boot", "e l mariachi"), when a word follows."""
    return F.regexp_replace(
        key, f"^(?:the(?=[^ ]{{4}})|(?:t he|th e|thhe|tthe|hte|teh|th|te|{_MISTYPED_ARTICLE}) (?=[^ ]))", "")


def squeezed(key: Column) -> Column:
    """The key without spaces, each run of a repeated letter cut to one: "bllue" and "blue" agree
    (a doubled letter), as do "luucy" and "lucy"."""
    return F.regexp_replace(without_spaces(key), r"(.)\1+", "$1")


def adjacent_swap(a: Column, b: Column) -> Column:
    """True when the keys (without spaces) differ only by two neighbouring letters swapped
    ("ursh" / "rush"), false otherwise, null when either is null."""
    sa, sb = without_spaces(a), without_spaces(b)
    n = F.length(sa)
    swapped = F.transform(F.sequence(F.lit(1), F.greatest(n - 1, F.lit(1))), lambda i: F.concat(
        sa.substr(F.lit(1), i - 1), sa.substr(i + 1, F.lit(1)), sa.substr(i, F.lit(1)), sa.substr(i + 2, n)))
    return F.when((n != F.length(sb)) | (n < 2) | (sa == sb), F.lit(False)) \
        .otherwise(F.array_contains(swapped, sb))


def _similarity(edits: Column, longest: Column) -> Column:
    return F.when(longest > 0, 1 - edits / longest)


def key_similarity(a: Column, b: Column) -> Column:
    """1 - Levenshtein distance / longer length, on the keys without spaces; null when either is
    null or empty."""
    sa, sb = without_spaces(a), without_spaces(b)
    return _similarity(F.levenshtein(sa, sb), F.greatest(F.length(sa), F.length(sb)))


# A word of one to three digits but "1" (words are what lies between spaces).
_SEQUEL_NUMBER = r"(?<![^ ])(?!1(?![^ ]))[0-9]{1,3}(?![^ ])"


def sequel_numbers(key: Column) -> Column:
    """The sorted distinct numbers of one to three digits in a key, "1" left out ("part 1" and
    "vol 1" are usually the first film itself); four-digit numbers are years, not sequels.

    A regular expression, not `filter` over the words: a higher-order function keeps the facts of
    every film and album piece out of generated code (see `sorted_words`)."""
    return F.sort_array(F.array_distinct(F.regexp_extract_all(F.coalesce(key, F.lit("")), F.lit(_SEQUEL_NUMBER), 0)))


def _let(value: Column, body) -> Column:
    """`body(value)` with `value` computed once: Spark SQL has no `let`, but a lambda variable is
    bound once, where a column named twice in a CASE is computed twice."""
    return F.transform(F.array(value), body)[0]


def _title_form_fields(key: Column, settings: MatchSettings) -> list[Column]:
    """The forms, each null where no comparison of `title_level_of_forms` can read it: the sorted
    letters of a key too short to be compared by them, the sorted words of a one-word key (equal
    sorted words would be equal keys, the exact level), the squeezed key longer than a short key
    (only short keys compare them). Every pair carries its film's forms through a shuffle (1.4 GB
    at 1M films)."""
    spaceless, squeezed_key = without_spaces(key), squeezed(key)
    return [key.alias("key"), spaceless.alias("spaceless"),
            F.when(F.length(spaceless) >= settings.fuzzy_min_letters, sorted_letters(key)).alias("letters"),
            F.when(key.contains(" "), sorted_words(key)).alias("words"),
            F.when(F.length(squeezed_key) <= settings.typo_one_edit_min_letters, squeezed_key).alias("squeezed")]


def film_title_forms(key: Column, settings: MatchSettings = SETTINGS) -> Column:
    """The forms of a film's title key that the title comparison reads, null for a null or empty
    key: computed once per film instead of once per candidate pair (sorting the letters of two
    keys for each of 18 million pairs was half of step 04 at 1M films)."""
    return F.when(key.isNotNull() & (key != ""), F.struct(*_title_form_fields(key, settings)))


def film_original_forms(title_key: Column, original_key: Column, settings: MatchSettings = SETTINGS) -> Column:
    """`film_title_forms` of a film's original title key, null where it is the title key (most
    films): the title's forms already say all they would."""
    return F.when(title_key.isNull() | (original_key != title_key), film_title_forms(original_key, settings))


def album_title_forms(key: Column, settings: MatchSettings = SETTINGS) -> Column:
    """`film_title_forms` of an album piece's key, with the forms only an album key has: the key
    without its volume number (`unvolumed`), without a leading article (`unarticled`, spaceless),
    and `trimmed`: the forms of the key without both, null where that changes nothing."""
    trimmed = without_leading_article(without_volume(key))
    return F.when(key.isNotNull() & (key != ""), F.struct(
        *_title_form_fields(key, settings), without_volume(key).alias("unvolumed"),
        without_spaces(without_leading_article(key)).alias("unarticled"),
        F.when(trimmed != key, film_title_forms(trimmed, settings)).alias("trimmed")))


def title_level(album_key: Column, album_alt_key: Column, album_main_key: Column,
                film_key: Column, film_original_key: Column, film_main_key: Column,
                settings: MatchSettings = SETTINGS) -> Column:
    """Index into TITLE.levels: exact key, main title (one side's title before its subtitle is the
    other's full title), same letters (spaces or word order differ), typo (Levenshtein similarity
    >= typo_title_min, one edit in a long key, the same letters in another order, or in a short
    key a doubled letter or two neighbours swapped; never a trailing "s" alone), similar,
    different.

    The typo levels also compare the album key without its volume number and mistyped leading
    article ("joourney vol 1", "hte fog"): a typo does not come alone when Discogs adds a volume.
    Step 04 calls `title_level_of_forms` with the forms computed once per side."""
    return title_level_of_forms(album_title_forms(album_key, settings), album_alt_key, album_main_key,
                                film_title_forms(film_key, settings),
                                film_original_forms(film_key, film_original_key, settings),
                                film_main_key,
                                settings)


def title_level_of_forms(album: Column, album_alt_key: Column, album_main_key: Column,
                         film: Column, film_original: Column, film_main_key: Column,
                         settings: MatchSettings = SETTINGS) -> Column:
    """`title_level` from `album_title_forms` of the album key and `film_title_forms` of the
    film's title and original title keys."""
    film_full = [film, film_original]
    film_keys = [f["key"] for f in film_full]

    def any_equal(left: list[Column], right: list[Column]) -> Column:
        tests = [F.coalesce((a == b) & (a != ""), F.lit(False)) for a in left for b in right]
        return tests[0] if len(tests) == 1 else F.greatest(*tests)

    album_forms = [album, album["trimmed"]]

    def any_pair(test) -> Column:
        return F.greatest(*[F.coalesce(test(a, k), F.lit(False)) for a in album_forms for k in film_full])

    same_letters = any_equal([album["spaceless"], album["unarticled"]], [k["spaceless"] for k in film_full]) \
        | any_equal([album["words"]], [k["words"] for k in film_full])
    transposed = any_pair(lambda a, k: (a["letters"] == k["letters"])
                          & (F.length(a["spaceless"]) >= settings.fuzzy_min_letters))
    # Only where the checks above cannot see it: in a longer key a doubled letter is one edit and a
    # swap keeps the letters (evaluated per pair on every candidate: the guard keeps it off most).
    short_typo = F.when(F.length(album["spaceless"]) <= settings.typo_one_edit_min_letters, any_pair(
        lambda a, k: (a["key"] != k["key"]) & ((a["squeezed"] == k["squeezed"])
                                               | adjacent_swap(a["spaceless"], k["spaceless"])))).otherwise(F.lit(False))
    # A trailing "s" more or less is another word, not a typo: "Immortal" is not "Immortals".
    plural_only = any_pair(lambda a, k: (F.concat(a["spaceless"], F.lit("s")) == k["spaceless"])
                           | (F.concat(k["spaceless"], F.lit("s")) == a["spaceless"]))
    # One Levenshtein distance per album form and film key, read by both typo tests and the
    # similar level.
    distances = F.array(*[F.struct(
        F.levenshtein(a["spaceless"], k["spaceless"]).alias("edits"),
        F.greatest(F.length(a["spaceless"]), F.length(k["spaceless"])).alias("longest"),
        F.length(a["spaceless"]).alias("letters")) for a in album_forms for k in film_full])

    def by_distance(ds: Column) -> Column:
        similarity = F.coalesce(F.array_max(F.transform(
            ds, lambda d: _similarity(d["edits"], d["longest"]))), F.lit(0.0))
        one_edit = F.coalesce(F.exists(
            ds, lambda d: (d["edits"] <= 1) & (d["letters"] >= settings.typo_one_edit_min_letters)), F.lit(False))
        return (
            F.when(~plural_only & ((similarity >= settings.typo_title_min) | transposed | one_edit | short_typo), 3)
            .when(similarity >= settings.similar_title_min, 4)
            .otherwise(5)
        )

    return (
        F.when(any_equal([album["key"], album_alt_key, album["unvolumed"]], film_keys), 0)
        .when(any_equal([album_main_key], film_keys) | any_equal([album["key"]], [film_main_key]), 1)
        .when(same_letters, 2)
        .otherwise(_let(distances, by_distance))
    )


def year_level(album_year: Column, film_year: Column) -> Column:
    """Index into YEAR.levels from album year - film year; an album two or more years before its
    film is vetoed (a soundtrack is not released before its film is made)."""
    gap = album_year - film_year
    level = YEAR.level_names().index
    return (
        F.when(gap.isNull(), level("unknown"))
        .when(gap == 0, level("same_year"))
        .when(gap == 1, level("next_year"))
        .when(gap == -1, level("year_before"))
        .when(gap.between(2, 3), level("2_to_3_after"))
        .when(gap.between(4, 10), level("4_to_10_after"))
        .when(gap > 10, level("over_10_after"))
        .otherwise(level("before_film"))
    )


def composer_level(film_composers: Column, album_credits: Column, album_artists: Column,
                   album_films: Column | None = None) -> Column:
    """Index into COMPOSER.levels: a film composer is an album artist or composer credit; the album
    credits composers and none is the film's; the album names only artists (often performers of
    songs) and none is the film's composer; either side names nobody (no evidence).

    Given `album_films` (how many films the album's title names: "X / X 2" names two), an album of
    several films whose people are not this film's says nothing of it (unknown): Discogs credits
    the release, not each film, and a double feature often credits one film's composer only."""
    def size(col: Column) -> Column:
        return F.coalesce(F.size(col), F.lit(0))

    people = F.concat(F.coalesce(album_credits, F.array()), F.coalesce(album_artists, F.array()))
    several = F.lit(False) if album_films is None else F.coalesce(album_films > 1, F.lit(False))
    return (
        F.when((size(film_composers) == 0) | (size(people) == 0), 3)
        .when(F.arrays_overlap(film_composers, people), 0)
        .when(several, 3)
        .when(size(album_credits) > 0, 1)
        .otherwise(2)
    )


def numbers_level(album_key: Column, film_key: Column, film_original_key: Column) -> Column:
    """Index into NUMBERS.levels: the sequel numbers of the album key equal those of the film's
    title or original title ("Frozen 2" vs "Frozen II"), or they differ ("X: Part Two" vs "X").
    Step 04 calls `numbers_level_of` with the numbers taken once per side."""
    return numbers_level_of(sequel_numbers(album_key), sequel_numbers(film_key), sequel_numbers(film_original_key))


def numbers_level_of(album_numbers: Column, film_numbers: Column, film_original_numbers: Column) -> Column:
    """`numbers_level` from the `sequel_numbers` of the three keys."""
    same = (album_numbers == film_numbers) | (album_numbers == film_original_numbers)
    return F.when(F.coalesce(same, F.lit(False)), 0).otherwise(1)


# ---- Eligibility and blocking ----

def with_eligibility(albums_df: DataFrame) -> DataFrame:
    """Add `eligible_by`: "genre_style", "title_term", "both", or null for an album that cannot be a
    film's soundtrack (neither reason, or a TV, game, stage or compilation album)."""
    by_genre = F.coalesce(F.col("is_soundtrack"), F.lit(False))
    by_title = F.coalesce(F.col("has_soundtrack_title_term"), F.lit(False))
    reason = (
        F.when(by_genre & by_title, "both").when(by_genre, "genre_style").when(by_title, "title_term")
    )
    return albums_df.withColumn("eligible_by", F.when(F.col("album_kind") == "film", reason))


def soundtrack_albums(albums_df: DataFrame) -> DataFrame:
    """The albums that can be a film's soundtrack (see `with_eligibility`)."""
    return with_eligibility(albums_df).filter(F.col("eligible_by").isNotNull())


def _affix_keys(key: Column, lengths: list[int], settings: MatchSettings) -> Column:
    """Typo-tolerant block keys: "p:<first letters>|<length>" and "s:<last letters>|<length>" for
    each length given, and "l:<sorted letters>"; a typo leaves at least one end intact, a doubled or lost letter moves the
    length by one. None for keys too short to carry them."""
    s = without_spaces(key)
    # In a short key the four-letter ends overlap, so one typo in the middle breaks both
    # ("womman" / "woman"): up to seven letters the ends are three letters long.
    n = F.when(F.length(s) < settings.short_key_letters, settings.fuzzy_affix_letters - 1) \
        .otherwise(settings.fuzzy_affix_letters)
    keys = []
    for delta in lengths:
        size = (F.length(s) + delta).cast("string")
        keys += [F.concat(F.lit("p:"), s.substr(F.lit(1), n), F.lit("|"), size),
                 F.concat(F.lit("s:"), F.reverse(F.reverse(s).substr(F.lit(1), n)), F.lit("|"), size)]
    # The letters in alphabetical order meet a transposition, which breaks an end ("escpae").
    keys.append(F.concat(F.lit("l:"), sorted_letters(key)))
    return F.when(F.length(s) >= settings.fuzzy_min_letters, F.array(*keys)).otherwise(F.array())


def _deletion_keys(key: Column) -> Column:
    """"d:<key>" and "d:<key less one word>" for a key of two words or more: a typo, a glued or
    split word, or a word more or less on one side ("hte wild moon" / "wild moon", "dream of the
    gaame" / "dream of the game") leaves the other words intact, so the two titles share a key
    even when their ends are too common for the letter keys. None for a one-word key."""
    words = F.split(key, " ")
    n = F.size(words)
    dropped = F.transform(F.sequence(F.lit(0), n - 1), lambda i: F.array_join(
        F.filter(words, lambda _w, j: j != i), " "))
    return F.when(key.contains(" "), F.transform(F.concat(F.array(key), dropped),
                                                  lambda k: F.concat(F.lit("d:"), k))).otherwise(F.array())


def _edit_keys(key: Column, settings: MatchSettings) -> Column:
    """"e:<key without spaces>" and "e:<it less one letter>" for each letter: two keys one typo
    apart (a letter missing, doubled, changed, or two letters swapped) share one of these, whatever
    part of the key the typo hit and however common the key's ends are ("olaris" / "solaris",
    "wooman devil" / "woman devil", "casalbanca" / "casablanca"). None for a key shorter than
    `typo_one_edit_min_letters`, where one edit is as often another word.

    The key without spaces is bound once (`_let`): named inside the lambda over the letters, it
    would be computed again for every letter."""
    def of_spaceless(s: Column) -> Column:
        n = F.length(s)
        dropped = F.transform(F.sequence(F.lit(1), F.greatest(n, F.lit(1))),
                              lambda i: F.concat(s.substr(F.lit(1), i - 1), s.substr(i + 1, n)))
        keys = F.transform(F.array_distinct(F.concat(F.array(s), dropped)), lambda k: F.concat(F.lit("e:"), k))
        return F.when(n >= settings.typo_one_edit_min_letters, keys).otherwise(F.array())

    return _let(without_spaces(key), of_spaceless)


def _short_keys(key: Column, settings: MatchSettings, album: bool) -> Column:
    """Typo-tolerant keys of a key too short for the others (fewer than `fuzzy_min_letters`
    letters, or `typo_one_edit_min_letters` for a doubled letter): "l:<sorted letters>", which two
    neighbours swapped leave alone ("ursh" / "rush"), and "q:<squeezed key>", which a doubled
    letter leaves alone ("bllue" / "blue"). An album key carries "q:" only when it has a doubled
    letter, so a correctly spelt short title does not meet its films twice."""
    s = without_spaces(key)
    n = F.length(s)
    q = squeezed(key)
    letters = F.when((n >= 2) & (n < settings.fuzzy_min_letters), F.concat(F.lit("l:"), sorted_letters(key)))
    wants_q = (n < settings.typo_one_edit_min_letters) if not album else \
        (q != s) & (F.length(q) < settings.typo_one_edit_min_letters)
    doubled = F.when(wants_q & (F.length(q) > 0), F.concat(F.lit("q:"), q))
    return F.filter(F.array(letters, doubled), lambda k: k.isNotNull())


def _word_keys(keys: Column) -> Column:
    """"w:<sorted words>" for the keys of several words (a one-word key is met by its exact key)."""
    return F.transform(F.filter(keys, lambda k: k.contains(" ")), lambda k: F.concat(F.lit("w:"), sorted_words(k)))


def film_block_keys(films_df: DataFrame, settings: MatchSettings = SETTINGS) -> DataFrame:
    """(tmdb_id, film_year, block_key, key_side): every key under which a film can be met.

    key_side "full" for the whole title or original title, "main" for the title before its
    subtitle (which meets only an album's whole title)."""
    full_keys = F.array_distinct(F.filter(F.array("title_key", "original_title_key"),
                                          lambda k: k.isNotNull() & (k != "")))
    exact = F.transform(full_keys, lambda k: F.concat(F.lit("k:"), k))
    words = _word_keys(full_keys)
    affix = F.flatten(F.transform(full_keys, lambda k: _affix_keys(k, [0], settings)))
    deletion = F.flatten(F.transform(full_keys, _deletion_keys))
    edits = F.flatten(F.transform(full_keys, lambda k: _edit_keys(k, settings)))
    short = F.flatten(F.transform(full_keys, lambda k: _short_keys(k, settings, album=False)))
    full = films_df.select(
        "tmdb_id", F.col("release_year").alias("film_year"),
        F.explode(F.array_distinct(F.concat(exact, words, affix, deletion, edits, short))).alias("block_key"),
        *[_exact_key_hash(F.col(c)).alias(alias) for c, alias in (("title_key", "title_k"),
                                                                  ("original_title_key", "original_k"))],
    ).withColumn("key_side", F.lit("full"))
    # A main title that is a whole title too is already met as one ("full" meets more): each
    # (film, key) once, so a key's film count is a count of rows (`blocked_key_pairs`).
    main = films_df.filter(F.col("main_title_key").isNotNull() & (F.col("main_title_key") != "")
                           & ~F.array_contains(full_keys, F.col("main_title_key"))).select(
        "tmdb_id", F.col("release_year").alias("film_year"),
        F.concat(F.lit("k:"), "main_title_key").alias("block_key"),
        F.lit(None).cast("long").alias("title_k"), F.lit(None).cast("long").alias("original_k"),
        F.lit("main").alias("key_side"))
    return full.unionByName(main)


def album_block_keys(albums_df: DataFrame, settings: MatchSettings = SETTINGS) -> DataFrame:
    """(album_id, album_year, part, block_key, key_side) for each title piece of each album.

    key_side "full" for the piece's whole key (and its unstripped alternative), "main" for its
    title before a subtitle (which meets only a film's whole title)."""
    pieces = albums_df.select(
        "album_id", F.col("year").alias("album_year"),
        F.posexplode("title_keys").alias("part", "key"),
        "alt_title_keys", "main_title_keys",
    ).select(
        "album_id", "album_year", "part", "key",
        F.col("alt_title_keys")[F.col("part")].alias("alt_key"),
        F.col("main_title_keys")[F.col("part")].alias("main_key"),
    )
    full_keys = F.array_distinct(F.filter(F.array("key", "alt_key", without_volume(F.col("key")),
                                                  without_leading_article(F.col("key"))),
                                          lambda k: k.isNotNull() & (k != "")))
    exact = F.transform(full_keys, lambda k: F.concat(F.lit("k:"), k))
    words = _word_keys(full_keys)
    affix = _affix_keys(F.col("key"), [-1, 0, 1], settings)
    deletion = F.flatten(F.transform(F.array_distinct(F.filter(F.array("key", without_volume(F.col("key"))),
                                                               lambda k: k.isNotNull() & (k != ""))),
                                     _deletion_keys))
    edits = _edit_keys(F.col("key"), settings)
    short = _short_keys(F.col("key"), settings, album=True)
    full = pieces.select(
        "album_id", "album_year", "part",
        F.explode(F.array_distinct(F.concat(exact, words, affix, deletion, edits, short))).alias("block_key"),
        _exact_key_hash(F.col("key")).alias("piece_k"),
    ).withColumn("key_side", F.lit("full"))
    main = pieces.filter(F.col("main_key").isNotNull() & (F.col("main_key") != "")).select(
        "album_id", "album_year", "part", F.concat(F.lit("k:"), "main_key").alias("block_key"),
        _exact_key_hash(F.col("key")).alias("piece_k"), F.lit("main").alias("key_side"))
    return full.unionByName(main)


def _exact_key_hash(key: Column) -> Column:
    """The hashed exact block key ("k:<key>") of a title key, as `blocked_key_pairs` joins it; null
    for a null or empty key. Film and album keys carry their own title's, so that a typo-tolerant
    key meeting a film of the album's very title can be told from one meeting a neighbour."""
    return F.when(key.isNotNull() & (key != ""), F.xxhash64(F.concat(F.lit("k:"), key)))


# The prefixes of the typo-tolerant block keys (`blocked_key_pairs`).
_FUZZY_KEY_PREFIXES = ("p:", "s:", "d:", "l:", "e:", "q:")


def blocked_key_pairs(fk: DataFrame, ak: DataFrame, max_films_per_key: int = SETTINGS.max_films_per_block_key,
                      max_films_per_fuzzy_key: int = SETTINGS.max_films_per_fuzzy_key,
                      max_films_per_fuzzy_key_by_year: int = SETTINGS.max_films_per_fuzzy_key_by_year,
                      film_people: DataFrame | None = None, album_people: DataFrame | None = None,
                      kept: list[DataFrame] | None = None) -> DataFrame:
    """Equi-join film keys with album keys on `block_key`: the distinct (album_id, part, tmdb_id)
    pairs that meet, a film's main title meeting only an album's whole title and the other way
    round (`film_side`, `album_side`).

    A rare key joins on the key alone. A common key (more than `max_films_per_key` films) joins on
    the key and the film year, the album being offered to films from two years before to one
    year after its own year; an album of unknown year gets no candidates through a common key.
    Given `film_people` (tmdb_id, person) and `album_people` (album_id, person), a common key also
    joins on the key and a person, whatever the years: an album naming a film's composer meets
    that film under its common title even when the album's year is unknown or late (a reissue
    filed as the master), and the few films of one title and one composer bound the pairs.

    A typo-tolerant key ("p:", "s:", "d:", "l:", "e:", "q:") is rare up to `max_films_per_fuzzy_key`
    films. Above that, up to `max_films_per_fuzzy_key_by_year`, it is joined on the year (or a
    composer) only for album pieces that no exact key met: a typo in a common title ("Sto newall")
    still finds its film, while a correctly spelled common title does not also collect the
    near-year films one letter away ("mirror in rome" / "mirrors in rome"), which would only make
    it ambiguous. Larger typo-tolerant keys meet only through a person (when the people are
    given), and likewise only for pieces no exact key met: a typo in a title that thousands of
    films carry ("Retunr to Cairo") still finds the one of them whose composer the album credits.

    `fk` holds each (tmdb_id, block_key, film_side) once, as `film_block_keys` writes it: a key's
    film count is its number of rows among the film keys.

    The keys are joined as 64-bit hashes (`xxhash64`), not as strings: the film keys are about 30
    a film, and longs are cheaper to shuffle, sort and compare than strings of 10 to 40 bytes.
    That any two keys hash alike is about one chance in 20,000 at a million films (some 40 million
    distinct keys); if they do, they only offer more candidate pairs, which the comparisons judge.
    The film keys are first cut to those some album carries (most film keys meet no album), and
    each key's film count is a window over them, so the film keys are read once, not once for
    the counts and again for the join.

    Given film keys carrying their film's own exact keys hashed (`title_k`, `original_k`) and album
    keys carrying their piece's (`piece_k`), as `film_block_keys` and `album_block_keys` write them,
    a typo-tolerant key meeting a film of the piece's very title is dropped where the exact key
    meets the same pair: when that key is rare, or when the typo key itself met on the year or a
    person (the exact key, common, met on the same). A title's every typo key meets its namesakes
    again: 74 million joined rows for 18.8 million pairs at 1M films, 38 million without them. The
    pairs are the same (the rows dropped say nothing the exact key's row does not). Not dropped: a
    rare typo key where the exact key is common, which happens, because the exact key also counts
    the films whose main title it is ("alien" from "Alien: Resurrection") and the typo keys do not.

    Given `kept`, the film and album keys with their film counts, which the three joins below
    each read, are persisted and appended to `kept` for the caller to unpersist once the pairs
    are materialized.
    """
    is_fuzzy = F.substring("block_key", 1, 2).isin(*_FUZZY_KEY_PREFIXES)
    with_people = film_people is not None and album_people is not None
    fk = fk.withColumn("fuzzy_key", is_fuzzy).withColumn("block_key", F.xxhash64("block_key"))
    ak = ak.withColumn("fuzzy_key", is_fuzzy).withColumn("block_key", F.xxhash64("block_key"))
    fk = fk.join(ak.select("block_key").distinct(), on="block_key", how="left_semi") \
        .withColumn("films_with_key", F.count(F.lit(1)).over(Window.partitionBy("block_key"))) \
        .withColumn("person_only", F.col("fuzzy_key") & (F.col("films_with_key") > max_films_per_fuzzy_key_by_year))
    if not with_people:
        fk = fk.filter(~F.col("person_only"))
    if kept is not None:
        fk = fk.persist()
        kept.append(fk)
    is_common = F.col("films_with_key") > F.when(F.col("fuzzy_key"), max_films_per_fuzzy_key) \
        .otherwise(max_films_per_key)
    # Which film keys meet only through a person is the film side's to say.
    ak = ak.join(fk.select("block_key", "films_with_key").distinct(), on="block_key", how="inner")
    if kept is not None:
        ak = ak.persist()
        kept.append(ak)
    own_keys = {"title_k", "original_k"} <= set(fk.columns) and "piece_k" in ak.columns
    if own_keys:
        # The pieces whose exact key is rare meet every film of their very title through it, so a
        # typo-tolerant key meeting one of those films again adds nothing (the docstring).
        rare_exact = ak.filter((F.col("block_key") == F.col("piece_k")) & ~is_common) \
            .select("album_id", "part", F.lit(True).alias("exact_is_rare")).distinct()
        ak = ak.join(F.broadcast(rare_exact), on=["album_id", "part"], how="left") \
            .fillna(False, subset=["exact_is_rare"])
    rare = fk.filter(~is_common).drop("films_with_key", "person_only").join(
        ak.filter(~is_common).drop("films_with_key", "fuzzy_key"), on="block_key", how="inner"
    ).withColumn("by_year", F.lit(False))
    common_films = fk.filter(is_common).drop("films_with_key")
    common_albums = ak.filter(is_common).drop("films_with_key", "fuzzy_key")
    by_year = common_films.filter(~F.col("person_only")).drop("person_only").join(
        common_albums.filter(F.col("album_year").isNotNull()).withColumn(
            "film_year", F.explode(F.sequence(F.col("album_year") - 2, F.col("album_year") + 1))),
        on=["block_key", "film_year"], how="inner").withColumn("by_year", F.lit(True))
    pairs = rare.unionByName(by_year)
    if with_people:
        by_person = common_films.drop("person_only").join(film_people, on="tmdb_id", how="inner").join(
            common_albums.join(album_people, on="album_id", how="inner"), on=["block_key", "person"], how="inner"
        ).drop("person").withColumn("by_year", F.lit(True))
        pairs = pairs.unionByName(by_person, allowMissingColumns=True)
    # Main to main is no meeting (the docstring): two unrelated subtitled titles sharing a prefix.
    pairs = pairs.filter(~((F.col("film_side") == "main") & (F.col("album_side") == "main")))
    if own_keys:
        own_title = F.coalesce((F.col("piece_k") == F.col("title_k")) | (F.col("piece_k") == F.col("original_k")),
                               F.lit(False))
        pairs = pairs.filter(~(F.col("fuzzy_key") & own_title & (F.col("exact_is_rare") | F.col("by_year"))))
    # A pair meets through several keys (74 million rows for 18.8 million pairs at 1M films): one
    # row per pair first, partitioned by album piece so that neither the grouping nor the piece
    # window below shuffles again, and the window sorts the pairs, not every key they met by.
    per_pair = pairs.repartition("album_id", "part").groupBy("album_id", "part", "tmdb_id").agg(
        F.max(~F.col("fuzzy_key")).alias("exact"),
        F.max(~(F.col("fuzzy_key") & F.col("by_year"))).alias("kept_anyway"))
    piece = Window.partitionBy("album_id", "part")
    return per_pair.withColumn("met_exactly", F.max("exact").over(piece)) \
        .filter(F.col("kept_anyway") | ~F.col("met_exactly")) \
        .select("album_id", "part", "tmdb_id")


def _people(df: DataFrame, id_col: str, people: Column) -> DataFrame:
    """(id, person) for each distinct person key a film or an album names."""
    return df.select(id_col, F.explode(F.array_distinct(people)).alias("person")) \
        .filter(F.col("person").isNotNull() & (F.col("person") != ""))


def candidate_pairs(films_df: DataFrame, albums_df: DataFrame, settings: MatchSettings = SETTINGS,
                    kept: list[DataFrame] | None = None) -> DataFrame:
    """Distinct blocked (album_id, part, tmdb_id) pairs of `films_df` and `albums_df`
    (`blocked_key_pairs` of their block keys). `kept`: see `blocked_key_pairs`."""
    fk = film_block_keys(films_df, settings).withColumnRenamed("key_side", "film_side")
    ak = album_block_keys(albums_df, settings).withColumnRenamed("key_side", "album_side")
    return blocked_key_pairs(
        fk, ak, settings.max_films_per_block_key, settings.max_films_per_fuzzy_key,
        settings.max_films_per_fuzzy_key_by_year, film_people=_people(films_df, "tmdb_id", F.col("composer_keys")),
        album_people=_people(albums_df, "album_id", F.concat("artist_keys", "credit_keys")), kept=kept)


# ---- Comparison vectors, u, EM, weights ----

def _film_facts(films_df: DataFrame, settings: MatchSettings = SETTINGS) -> DataFrame:
    """Film columns for the comparisons, with `films_with_title` and `films_with_original`: how
    many films carry the film's title key, and its original title key, as a title or an original
    title (the namesakes of each)."""
    keys = films_df.select("tmdb_id", F.explode(F.array_distinct(F.filter(
        F.array("title_key", "original_title_key"), lambda k: k.isNotNull() & (k != "")))).alias("key"))
    counts = keys.groupBy("key").agg(F.countDistinct("tmdb_id").alias("films"))
    return _with_composer_films(films_df.select(
        "tmdb_id", F.col("title").alias("film_title"), F.col("release_year").alias("film_year"),
        "title_key", "original_title_key", "main_title_key", "composer_keys", "vote_count",
        film_title_forms(F.col("title_key"), settings).alias("title_forms"),
        film_original_forms(F.col("title_key"), F.col("original_title_key"), settings).alias("original_forms"),
        sequel_numbers(F.col("title_key")).alias("title_numbers"),
        sequel_numbers(F.col("original_title_key")).alias("original_numbers"),
    ).join(counts.select(F.col("key").alias("title_key"), F.col("films").alias("films_with_title")),
           on="title_key", how="left") \
        .join(counts.select(F.col("key").alias("original_title_key"), F.col("films").alias("films_with_original")),
              on="original_title_key", how="left") \
        .fillna({"films_with_title": 1, "films_with_original": 1}))


def _with_composer_films(film_facts_df: DataFrame) -> DataFrame:
    """Add `composer_films`: a map from each of the film's composer keys to the number of films in
    the catalogue that composer scored (null for a film without composer): the composer's term
    frequency (`score_pairs`)."""
    # One row per film and composer (`_people` keeps each person once per film).
    people = _people(film_facts_df, "tmdb_id", F.col("composer_keys")) \
        .withColumn("films", F.count(F.lit(1)).over(Window.partitionBy("person")))
    per_film = people.groupBy("tmdb_id").agg(
        F.map_from_entries(F.collect_list(F.struct("person", "films"))).alias("composer_films"))
    return film_facts_df.join(per_film, on="tmdb_id", how="left")


def _album_facts(albums_df: DataFrame, settings: MatchSettings = SETTINGS) -> DataFrame:
    """One row per album piece (each title of the album: a two-film album has two), with what the
    comparisons read of it: each pair carries its own piece's title forms and sequel numbers, not
    those of all the album's pieces, through the shuffle that joins it."""
    pieces = albums_df.select(
        "album_id", "discogs_master_id", "discogs_release_id", F.col("year").alias("album_year"),
        "artist_keys", "credit_keys", F.array_distinct(F.concat("artist_keys", "credit_keys")).alias("album_people"),
        F.size("title_keys").alias("album_films"), F.posexplode("title_keys").alias("part", "album_key"),
        "alt_title_keys", "main_title_keys",
    )
    return pieces.select(
        "album_id", "part", "discogs_master_id", "discogs_release_id", "album_year", "artist_keys", "credit_keys",
        "album_people", "album_films", "album_key",
        F.col("alt_title_keys")[F.col("part")].alias("album_alt_key"),
        F.col("main_title_keys")[F.col("part")].alias("album_main_key"),
        album_title_forms(F.col("album_key"), settings).alias("piece_forms"),
        sequel_numbers(F.col("album_key")).alias("piece_numbers"),
    )


def comparison_vectors(pairs_df: DataFrame, film_facts_df: DataFrame, album_facts_df: DataFrame,
                       settings: MatchSettings = SETTINGS, for_random_u: bool = False) -> DataFrame:
    """(album_id, part, tmdb_id) pairs with both sides' facts and the level index of each
    comparison (`title_lvl`, `year_lvl`, `composer_lvl`, `numbers_lvl`).

    With `for_random_u` (random pairs, read only for the u of comparisons whose u is "random"),
    the title, whose u is declared and never read from random pairs, is not compared: `title_lvl`
    is its last level. It is the costliest comparison (four Levenshtein distances a pair), and
    the random pairs are 100,000 whatever the run's size."""
    # Films first: the pairs leave partitioned by album piece, as the ranking of each piece's
    # films (`decide`) reads them, so the kept vectors are ranked without another shuffle.
    pairs = pairs_df.join(film_facts_df, on="tmdb_id", how="inner") \
        .join(album_facts_df, on=["album_id", "part"], how="inner")
    alt, main, piece = F.col("album_alt_key"), F.col("album_main_key"), F.col("piece_forms")
    key = piece["key"]   # the piece's key: each pair carries it once, in its forms
    title_comparison = next(c for c in settings.comparisons if c.name == "title")
    if for_random_u and title_comparison.u_from != "random":
        title = F.lit(len(title_comparison.levels) - 1)
    else:
        title = title_level_of_forms(piece, alt, main, F.col("title_forms"),
                                     F.col("original_forms"), F.col("main_title_key"), settings)
    return (
        pairs.withColumn("year_gap", F.col("album_year") - F.col("film_year"))
        .withColumn("title_lvl", title)
        # The namesakes of the key that agreed: an album titled with the film's original title
        # ("La Nuit des Anges") is as rare as that title, however common the English one ("The Fire").
        .withColumn("films_with_title", F.when(
            (F.col("title_lvl") == 0) & ~F.greatest(*[F.coalesce((k == F.col("title_forms")["key"]) & (k != ""),
                                                                 F.lit(False))
                                                     for k in (key, alt, piece["unvolumed"])]),
            F.col("films_with_original")).otherwise(F.col("films_with_title")))
        .drop("films_with_original")
        .withColumn("year_lvl", year_level(F.col("album_year"), F.col("film_year")))
        .withColumn("composer_lvl", composer_level(F.col("composer_keys"), F.col("credit_keys"),
                                                   F.col("artist_keys"), F.col("album_films")))
        .withColumn("numbers_lvl", numbers_level_of(F.col("piece_numbers"), F.col("title_numbers"),
                                                    F.col("original_numbers")))
        .withColumn("composer_match", F.array_join(F.array_intersect("composer_keys", "album_people"), "; "))
        # The rarest composer the two share: how many films of the catalogue that one scored.
        .withColumn("composer_films", F.array_min(F.transform(F.array_intersect("composer_keys", "album_people"),
                                                             lambda p: F.col("composer_films")[p])))
        .drop("album_alt_key", "album_main_key", "album_films", "piece_forms", "title_forms", "original_forms",
              "piece_numbers", "title_numbers", "original_numbers")
    )


_LEVEL_COLS = ("title_lvl", "year_lvl", "composer_lvl", "numbers_lvl")
# What `match` keeps of the comparison vectors: ids, levels and what the weights and ranking read.
_VECTOR_COLUMNS = ("album_id", "part", "tmdb_id", "discogs_master_id", "discogs_release_id", *_LEVEL_COLS,
                   "films_with_title", "year_gap", "vote_count", "composer_match", "composer_films")


def random_pairs(films_df: DataFrame, albums_df: DataFrame, n_films: int, n_pieces: int,
                 settings: MatchSettings = SETTINGS, seed: int = 42) -> DataFrame:
    """Random (album_id, part, tmdb_id) pairs for estimating u: both sides get a hashed bucket and
    meet on it (an equi-join, never a cross join), with as many buckets as give about
    `u_random_pairs` pairs in all."""
    films = films_df.select("tmdb_id")
    albums = albums_df.select("album_id", F.posexplode("title_keys").alias("part", "key")) \
        .filter(F.col("key") != "").select("album_id", "part")
    n_buckets = max(1, math.ceil(n_films * n_pieces / settings.u_random_pairs))
    films = films.withColumn("bucket", F.abs(F.xxhash64("tmdb_id", F.lit(seed))) % n_buckets)
    albums = albums.withColumn("bucket", F.abs(F.xxhash64("album_id", "part", F.lit(seed))) % n_buckets)
    return films.join(albums, on="bucket", how="inner").drop("bucket")


def level_counts(vectors_df: DataFrame) -> list[tuple[tuple[int, ...], int]]:
    """The comparison patterns and how many pairs have each (a few hundred at most)."""
    rows = vectors_df.groupBy(*_LEVEL_COLS).count().collect()
    return [(tuple(int(r[c]) for c in _LEVEL_COLS), int(r["count"])) for r in rows]


def pattern_stats(vectors_df: DataFrame) -> list[tuple[tuple[int, ...], bool, int, float]]:
    """(pattern, unique title, pairs, sum of log2 films carrying the title) per comparison pattern,
    split by whether the film is the only one carrying its exact title: what `m_from_anchors`,
    `title_u_from_far_years` and `reference_bits` read, in one pass over the vectors."""
    bits = F.log2(F.greatest(F.col("films_with_title"), F.lit(1)))
    rows = vectors_df.groupBy(*_LEVEL_COLS, (F.col("films_with_title") <= 1).alias("unique_title")) \
        .agg(F.count("*").alias("count"), F.sum(bits).alias("bits")).collect()
    return [(tuple(int(r[c]) for c in _LEVEL_COLS), bool(r["unique_title"]), int(r["count"]), float(r["bits"] or 0.0))
            for r in rows]


def m_from_anchors(counts: list[tuple[tuple[int, ...], bool, int]],
                   settings: MatchSettings = SETTINGS) -> list[list[float]]:
    """m of each comparison counted on its anchors: the candidate pairs whose other comparisons
    make them near-certain matches (`MatchSettings.m_anchors`, e.g. the title's m on pairs whose
    album credits the film's composer). Under Fellegi-Sunter's conditional independence the
    levels of one comparison among matches do not depend on the others, so those pairs show its
    m without asking EM which pairs are matches. EM on all candidates did ask, and on a
    1,000,000-film world with thousands of namesakes per common title it took same-title,
    near-year namesakes for the matches: the typo level's m fell to 0.00008 and an album 4 to 10
    years late to 0. The declared m is a prior worth `m_prior_pairs` pairs (a comparison whose
    anchors are few keeps about its declared m)."""
    names = [c.name for c in settings.comparisons]
    anchors = dict(settings.m_anchors)
    out = []
    for i, comparison in enumerate(settings.comparisons):
        conditions = []
        for name, allowed in anchors.get(comparison.name, ()):
            if name == "unique_title":
                conditions.append((None, set(allowed)))
            else:
                levels = settings.comparisons[names.index(name)].level_names()
                conditions.append((names.index(name), {levels.index(level) for level in allowed}))
        tallies = [0.0] * len(comparison.levels)
        for pattern, unique, n in counts:
            if all((unique in allowed) if j is None else (pattern[j] in allowed) for j, allowed in conditions):
                tallies[pattern[i]] += n
        out.append(_posterior_mean(tallies, comparison.levels, [lvl.m for lvl in comparison.levels],
                                   settings.m_prior_pairs))
    return out


def estimate_share(patterns: list[tuple[tuple[int, ...], int]], m: list[list[float]], u: list[list[float]],
                   settings: MatchSettings = SETTINGS, share_bound: float | None = None) -> tuple[float, int]:
    """EM for the share of matches among the candidates alone, m and u held fixed; capped at
    `share_bound`: each album piece has at most one film, so at most (pieces with candidates) /
    (candidate pairs) of the pairs are matches. Returns (share, iterations)."""
    comparisons = settings.comparisons
    share = settings.prior_match if share_bound is None else min(settings.prior_match, share_bound)
    iterations = 0
    for iterations in range(1, settings.em_iterations + 1):  # noqa: B007 - read after the loop
        matched, total = 0.0, 0.0
        for pattern, n in patterns:
            pm, pu = share, 1 - share
            for i, level in enumerate(pattern):
                if not comparisons[i].levels[level].null:
                    pm *= m[i][level]
                    pu *= u[i][level]
            matched += n * (pm / (pm + pu) if pm + pu > 0 else 0.0)
            total += n
        new_share = matched / total if total else share
        if share_bound is not None:
            new_share = min(new_share, share_bound)
        change, share = abs(new_share - share), new_share
        if change < 1e-6:
            break
    return share, iterations


def estimate_u(patterns: list[tuple[tuple[int, ...], int]], settings: MatchSettings = SETTINGS) -> list[list[float]]:
    """u per comparison and level from random pairs, with add-one smoothing so that a level never
    seen among random pairs still has a small positive u."""
    out = []
    for i, comparison in enumerate(settings.comparisons):
        counts = [0.0] * len(comparison.levels)
        for pattern, n in patterns:
            counts[pattern[i]] += n
        informative = [j for j, lvl in enumerate(comparison.levels) if not lvl.null]
        total = sum(counts[j] for j in informative) + len(informative)
        out.append([(counts[j] + 1) / total if j in informative else 1.0 for j in range(len(comparison.levels))])
    return out


def _posterior_mean(counts: list[float], levels: tuple[Level, ...], prior: list[float], alpha: float) -> list[float]:
    """Level probabilities from weighted counts, with the declared ones as a prior worth `alpha`
    pairs, so a level that the run's data hardly shows keeps its declared value instead of a
    weight from noise. Null levels get 1.0 (they are never multiplied in)."""
    informative = sum(counts[j] for j, lvl in enumerate(levels) if not lvl.null)
    declared = sum(prior[j] for j, lvl in enumerate(levels) if not lvl.null)
    return [1.0 if lvl.null else (counts[j] + alpha * prior[j] / declared) / (informative + alpha)
            for j, lvl in enumerate(levels)]


@dataclass(frozen=True)
class TrainedModel:
    """m, u and the prior share of true pairs, as estimated on one run's data."""

    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    prior_match: float
    em_iterations: int
    # Mean log2(films carrying the title) over the pairs that estimated the exact-title u
    # (`reference_bits`): the namesake count that u already stands for.
    title_tf_reference_bits: float = 0.0
    # Films in the catalogue: a credited composer who scored n of them has u = n / films (`score_pairs`).
    # 0 leaves the credited weight unadjusted.
    films: int = 0

    def level_weights(self, settings: MatchSettings = SETTINGS) -> list[list[float]]:
        """log2(m/u) per comparison and level; 0 for null levels."""
        return [[0.0 if lvl.null else math.log2(self.m[i][j] / self.u[i][j]) for j, lvl in enumerate(c.levels)]
                for i, c in enumerate(settings.comparisons)]

    def as_dict(self, settings: MatchSettings = SETTINGS) -> dict:
        weights = self.level_weights(settings)
        return {
            "prior_match": round(self.prior_match, 6), "em_iterations": self.em_iterations,
            "title_tf_reference_bits": round(self.title_tf_reference_bits, 3), "films": self.films,
            "levels": {c.name: {lvl.name: {"m": round(self.m[i][j], 6), "u": round(self.u[i][j], 6),
                                           "weight_bits": round(weights[i][j], 3)}
                                for j, lvl in enumerate(c.levels)}
                       for i, c in enumerate(settings.comparisons)},
        }


def _far_year_levels(settings: MatchSettings) -> tuple[int, set[int]]:
    """(index of the year comparison, its levels that rule a pair out by year alone: the album
    before the film, or over ten years after it)."""
    year_index = [c.name for c in settings.comparisons].index("year")
    levels = settings.comparisons[year_index].level_names()
    return year_index, {levels.index(n) for n in ("before_film", "over_10_after")}


def title_u_from_far_years(patterns: list[tuple[tuple[int, ...], int]], u: list[list[float]],
                           settings: MatchSettings = SETTINGS) -> list[list[float]]:
    """u of the title comparisons whose u is declared, re-estimated on the candidate pairs whose
    year alone rules them out (album before the film, or over ten years after it): those are
    non-matches that blocking chose by title, so their title levels are what a non-match among
    candidates looks like. With too few of them the declared u stays."""
    year_index, far = _far_year_levels(settings)
    out = [row[:] for row in u]
    for i, comparison in enumerate(settings.comparisons):
        if comparison.u_from != "declared":
            continue
        counts = [0.0] * len(comparison.levels)
        for pattern, n in patterns:
            if pattern[year_index] in far:
                counts[pattern[i]] += n
        if sum(counts) >= settings.m_prior_pairs:
            out[i] = _posterior_mean(counts, comparison.levels, [lvl.u for lvl in comparison.levels],
                                     settings.m_prior_pairs)
        else:
            out[i] = [lvl.u for lvl in comparison.levels]
    return out


def reference_bits(stats: list[tuple[tuple[int, ...], bool, int, float]], settings: MatchSettings = SETTINGS) -> float:
    """Mean log2(films carrying the title) over the exact-title candidate pairs whose year rules
    them out: the pairs that `title_u_from_far_years` estimates the exact-title u on.

    That u is an average over titles as common as those namesakes, so it already stands for
    2**reference films per title; a pair's own title count adjusts the weight relative to it
    (Splink's term-frequency adjustment is relative to the level's u in the same way). Subtracting
    log2 of the whole count instead counts the namesakes twice and leaves an exact title with a
    unique key barely above no evidence. 0.0 (the count adjusts alone) when there are fewer than
    `m_prior_pairs` such pairs, as the declared u then stays too."""
    year_index, far = _far_year_levels(settings)
    title_index = [c.name for c in settings.comparisons].index("title")
    exact = TITLE.level_names().index("exact")
    chosen = [(n, bits) for pattern, _, n, bits in stats if pattern[year_index] in far and pattern[title_index] == exact]
    n = sum(c for c, _ in chosen)
    if n < settings.m_prior_pairs:
        return 0.0
    return sum(b for _, b in chosen) / n


def train(vectors_df: DataFrame, random_vectors_df: DataFrame, settings: MatchSettings = SETTINGS,
          films: int = 0) -> TrainedModel:
    """u from random pairs (the title's from far-year candidates), m counted on each comparison's
    anchors (`m_from_anchors`), then the prior share of matches by EM with m and u fixed. `films`
    (the catalogue's size) is kept for the composer's term-frequency adjustment."""
    u = estimate_u(level_counts(random_vectors_df), settings)
    stats = pattern_stats(vectors_df)
    counts = [(pattern, unique, n) for pattern, unique, n, _ in stats]
    merged: dict[tuple[int, ...], int] = {}
    for pattern, _, n in counts:
        merged[pattern] = merged.get(pattern, 0) + n
    patterns = sorted(merged.items())
    u = title_u_from_far_years(patterns, u, settings)
    pieces = vectors_df.select("album_id", "part").distinct().count()
    pairs = sum(n for _, n in patterns)
    m = m_from_anchors(counts, settings)
    share, iterations = estimate_share(patterns, m, u, settings, share_bound=pieces / pairs if pairs else None)
    return TrainedModel(tuple(map(tuple, m)), tuple(map(tuple, u)), share, iterations, reference_bits(stats, settings),
                        films)


def _lookup(values: list, index: Column) -> Column:
    return F.array(*[F.lit(v) for v in values])[index]


def score_pairs(vectors_df: DataFrame, model: TrainedModel, settings: MatchSettings = SETTINGS) -> DataFrame:
    """Add each comparison's level name and weight (`<name>_level`, `<name>_weight`), `match_weight`
    (bits), `match_probability` and `vetoed_by` (the first veto level met, else null).

    The exact-title weight is adjusted for how common the title is: a title that k films carry is
    k times weaker evidence for any one of them, so "Home", carried by twenty films, weighs less
    than "Casablanca". The adjustment is relative to the namesake count the exact-title u already
    stands for (`TrainedModel.title_tf_reference_bits`): log2 k - reference bits less.

    The credited-composer weight is adjusted for how many films the shared composer scored (the
    rarest, when several are shared; `composer_films`), as Splink adjusts an exact match for its
    term frequency: a film that does not match shares a composer who scored n of N films with
    probability n / N, so the weight is log2(m * N / n). The random-pair u is that probability for
    the average credited album, dominated by prolific composers; a composer of a handful of films
    names the film far more surely than one of hundreds, which is what decides between thousands
    of same-titled films. Applied when the model knows the catalogue's size (`TrainedModel.films`).
    """
    weights = model.level_weights(settings)
    out = vectors_df
    vetoes = []
    for i, (comparison, col) in enumerate(zip(settings.comparisons, _LEVEL_COLS)):
        index = F.col(col)
        weight = _lookup(weights[i], index)
        if comparison.name == "title":
            tf_bits = F.log2(F.greatest(F.col("films_with_title"), F.lit(1))) - F.lit(model.title_tf_reference_bits)
            weight = F.when(index == 0, weight - tf_bits).otherwise(weight)
        if comparison.name == "composer" and model.films > 0:
            credited = comparison.level_names().index("credited")
            tf_bits = F.log2(F.col("composer_films") / F.lit(model.films * model.u[i][credited]))
            weight = F.when((index == credited) & F.col("composer_films").isNotNull(), weight - tf_bits) \
                .otherwise(weight)
        out = out.withColumn(f"{comparison.name}_level", _lookup(comparison.level_names(), index)) \
            .withColumn(f"{comparison.name}_weight", F.round(weight, 3))
        for j, lvl in enumerate(comparison.levels):
            if lvl.veto:
                vetoes.append(F.when(index == j, F.lit(f"{comparison.name}:{lvl.name}")))
    prior_bits = math.log2(model.prior_match / (1 - model.prior_match)) if 0 < model.prior_match < 1 else 0.0
    total = F.lit(prior_bits)
    for comparison in settings.comparisons:
        total = total + F.col(f"{comparison.name}_weight")
    return (
        out.withColumn("match_weight", F.round(total, 3))
        .withColumn("match_probability", F.round(1 / (1 + F.pow(F.lit(2.0), -F.col("match_weight"))), 4))
        .withColumn("vetoed_by", F.coalesce(*vetoes) if vetoes else F.lit(None).cast("string"))
    )


def decide(pairs_df: DataFrame, settings: MatchSettings = SETTINGS,
           score: Callable[[DataFrame], DataFrame] = lambda df: df) -> DataFrame:
    """Rank each album piece's films and decide.

    Adds `rank`, `candidates`, `second_tmdb_id`, `second_weight`, `second_composer_level`,
    `margin_bits` and `decision`:
    "match", or why not: "vetoed", "below_threshold", "title_too_different" (only `similar` or
    `different` titles), "ambiguous" (the second-best film is not clearly worse),
    "common_title_without_evidence", "title_only_against_evidence" (nothing but the title agrees and
    year or composer disagrees). Vetoed pairs are ranked last, so a vetoed
    sequel never hides the right film behind it.

    Returns the best film of each piece only (`rank` 1). The ranking window sorts only the columns
    it reads, and the best films take their other columns from `pairs_df` by a hash join: the
    window over whole scored rows sorted 18.8 million of them at 1M films and spilled 5.6 GB.

    Args:
        pairs_df: scored pairs (`score_pairs`), or the comparison vectors with `score` turning
            them into scored pairs (`score_pairs` with the model). Given `score`, the ranking
            computes only the weights it reads for every pair, and the level names, weights and
            probability the decision and the output read are computed for the best pairs only,
            after the join: at 1M films, for about 0.5 million of 18.8 million pairs.
        settings: thresholds and margins.
        score: pairs -> scored pairs; the identity when `pairs_df` is scored already.
    """
    ids = ["album_id", "part", "tmdb_id"]
    piece = Window.partitionBy("album_id", "part")
    order = piece.orderBy(
        F.col("vetoed_by").isNotNull().asc(), F.col("match_weight").desc(),
        F.abs(F.coalesce("year_gap", F.lit(99))).asc(), F.col("vote_count").desc_nulls_last(), F.col("tmdb_id").asc(),
    )
    best = (
        score(pairs_df).select(*ids, "vetoed_by", "match_weight", "year_gap", "vote_count", "composer_level")
        .withColumn("rank", F.row_number().over(order))
        .withColumn("candidates", F.count("*").over(piece))
        .withColumn("second_tmdb_id", F.lead("tmdb_id").over(order))
        .withColumn("second_weight",
                    F.when(F.lead("vetoed_by").over(order).isNull(), F.lead("match_weight").over(order)))
        .withColumn("second_composer_level", F.lead("composer_level").over(order))
        .filter(F.col("rank") == 1)
        .select("album_id", "part", F.col("tmdb_id").alias("best_tmdb_id"), "rank", "candidates", "second_tmdb_id",
                "second_weight", "second_composer_level")
    )
    # Joined on the piece alone (it has one best film) and the film kept as a condition, not a key:
    # both sides are partitioned by piece as the pairs were cached, and Spark co-partitions a join
    # only on all its keys, so a third key shuffled both (18.8M scored rows, 1.1 GB at 1M films).
    # A difference, because an equality would be taken for a join key.
    ranked = score(pairs_df.join(best.hint("shuffle_hash"), on=["album_id", "part"], how="inner")
                   .filter((F.col("tmdb_id") - F.col("best_tmdb_id")) == 0).drop("best_tmdb_id"))
    margin = F.col("match_weight") - F.col("second_weight")
    only_best_credited = (F.col("composer_level") == "credited") \
        & (F.coalesce(F.col("second_composer_level"), F.lit("")) != "credited")
    margin_needed = F.when(only_best_credited, settings.credited_ambiguity_margin_bits) \
        .otherwise(settings.ambiguity_margin_bits)
    positive = (F.col("composer_level") == "credited") | F.col("year_level").isin("same_year", "next_year")
    others = [F.coalesce(F.col(f"{c}_weight"), F.lit(0.0)) for c in ("year", "composer")]
    title_only_against = (F.greatest(*others) <= 0) & (F.least(*others) <= -settings.contrary_evidence_bits)
    decision = (
        F.when(F.col("vetoed_by").isNotNull(), "vetoed")
        .when(F.col("match_probability") < settings.threshold_probability, "below_threshold")
        # Year and composer cannot make up for a title that does not agree at least up to a typo.
        .when(F.col("title_level").isin("similar", "different"), "title_too_different")
        .when(F.coalesce(margin, F.lit(999.0)) < margin_needed, "ambiguous")
        .when(title_only_against, "title_only_against_evidence")
        .when((F.col("films_with_title") >= settings.common_title_films) & (F.col("title_level") == "exact")
              & ~positive, "common_title_without_evidence")
        .otherwise("match")
    )
    return ranked.withColumn("margin_bits", F.round(margin, 3)).withColumn("decision", decision)


_OUTPUT_COLUMNS = [
    "tmdb_id", "discogs_master_id", "discogs_release_id", "match_score",
    "album_id", "part", "album_title", "film_title", "album_year", "film_year", "year_gap",
    "match_weight", "title_level", "title_weight", "year_level", "year_weight",
    "composer_level", "composer_weight", "composer_match", "composer_films", "numbers_level", "numbers_weight",
    "films_with_title", "candidates", "second_tmdb_id", "margin_bits", "decision", "eligible_by",
]


def match(films_df: DataFrame, albums_df: DataFrame, settings: MatchSettings = SETTINGS
          ) -> tuple[DataFrame, DataFrame, DataFrame, TrainedModel]:
    """Match albums to films.

    Args:
        films_df: silver films.
        albums_df: silver albums.
        settings: the model's declared levels and thresholds.

    Returns:
        (matches, near_misses, candidates, model): matches follow the output contract
        (`match_score` is the match probability) plus per-comparison evidence; near-misses are
        each album piece's best film that was not matched although its probability reached
        `near_miss_probability` or it was vetoed or ambiguous, with `decision` saying why;
        candidates are all blocked (album piece, film) pairs, the comparison vectors' ids (an album
        of two titles meets a film once per title); model holds the estimated m and u.
    """
    eligible_df = soundtrack_albums(albums_df)
    film_facts_df = _film_facts(films_df, settings)
    album_facts_df = _album_facts(eligible_df, settings)
    blocking: list[DataFrame] = []
    candidates_df = candidate_pairs(films_df, eligible_df, settings, kept=blocking)
    # Training reads the comparison vectors once, scoring once more: computed once, kept, and only
    # the columns the model and the ranking read (the titles and keys of 18.6M pairs at 1M films
    # would be cached and sorted for nothing: the best pairs get them back below). In local mode a
    # checkpoint (`session.kept`): every later query then plans over a leaf instead of the blocking
    # and comparison plan (tens of stages, task binaries of 6 MB), which Spark otherwise re-analyses,
    # re-optimises and re-plans for each of them: 8-10 s of the 20k-film step's 35 s, about the same
    # at 1M films. `runner.run_step` releases it (`session.release_cached`).
    vectors_df = session.kept(comparison_vectors(candidates_df, film_facts_df, album_facts_df, settings)
                              .select(*_VECTOR_COLUMNS))
    # The vectors are computed: the blocking's keys are read no more.
    for df in blocking:
        df.unpersist()
    n_films = films_df.count()
    n_pieces = eligible_df.select(F.sum(F.size("title_keys"))).first()[0] or 0
    random_df = comparison_vectors(random_pairs(films_df, eligible_df, n_films, n_pieces, settings),
                                   film_facts_df, album_facts_df, settings, for_random_u=True)
    model = train(vectors_df, random_df, settings, films=n_films)
    # Matches and near-misses are both cut from the best candidates: decided once, and only those
    # joined with the titles and years they are shown with.
    best_df = decide(vectors_df, settings, score=lambda df: score_pairs(df, model, settings)) \
        .join(eligible_df.select("album_id", "eligible_by", F.col("title").alias("album_title"),
                                 F.col("year").alias("album_year")), on="album_id", how="inner") \
        .join(films_df.select("tmdb_id", F.col("title").alias("film_title"), F.col("release_year").alias("film_year")),
              on="tmdb_id", how="inner") \
        .withColumn("match_score", F.col("match_probability")).persist()
    matches_df = (
        best_df.filter(F.col("decision") == "match")
        # A two-film album whose pieces both point at the same film is one match: its first piece
        # (dropDuplicates kept either, so a re-run could publish the other piece and its margin).
        .withColumn("_piece", F.row_number().over(Window.partitionBy("album_id", "tmdb_id").orderBy("part")))
        .filter(F.col("_piece") == 1)
        .select(*_OUTPUT_COLUMNS)
    )
    near_df = best_df.filter(
        (F.col("decision") != "match")
        & ((F.col("match_probability") >= settings.near_miss_probability)
           | F.col("decision").isin("vetoed", "ambiguous", "common_title_without_evidence", "title_too_different",
                                   "title_only_against_evidence"))
        & (F.col("title_level") != "different")
    ).select(*_OUTPUT_COLUMNS, "vetoed_by")
    # From the kept vectors, not from candidates_df: that would run the blocking a second time. Not
    # made distinct per album: counting and filtering the cached pairs costs no shuffle of them all.
    pairs_df = vectors_df.select("album_id", "part", "tmdb_id", "discogs_master_id", "discogs_release_id")
    return matches_df, near_df, pairs_df, model


def _album_id_of(df: DataFrame) -> DataFrame:
    """(tmdb_id, album_id) of each row, album_id rebuilt as in `with_album_id`."""
    return df.select(
        "tmdb_id",
        F.when(F.col("discogs_master_id").isNotNull(), F.concat(F.lit("m"), F.col("discogs_master_id")))
        .otherwise(F.concat(F.lit("r"), F.col("discogs_release_id"))).alias("album_id"),
    )


def with_album_id(df: DataFrame) -> DataFrame:
    """(tmdb_id, album_id) where album_id is "m<master id>", or "r<release id>" for a release
    without master: the silver `album_id`, rebuilt from a true-pairs row."""
    return _album_id_of(df).distinct()


def match_quality(matches_df: DataFrame, truth_df: DataFrame, candidates_df: DataFrame) -> dict:
    """Precision, recall, F1 and pair completeness of matches against true pairs, counted in one job
    (predicted, true and blocked pairs flagged on one full outer join).

    The candidates (18.7 million at 1M films) are only filtered against the true pairs, which are
    broadcast (one per film at most: a few hundred thousand), instead of being shuffled whole for
    a join and a distinct."""
    keys = ["tmdb_id", "album_id"]
    truth = with_album_id(truth_df)
    blocked = _album_id_of(candidates_df).join(F.broadcast(truth), on=keys, how="left_semi").distinct()
    flagged = with_album_id(matches_df).withColumn("predicted", F.lit(1)) \
        .join(truth.withColumn("true", F.lit(1)), on=keys, how="full") \
        .join(blocked.withColumn("blocked", F.lit(1)), on=keys, how="left")
    row = flagged.agg(F.count("predicted").alias("predicted"), F.count("true").alias("true"),
                      F.count(F.when(F.col("predicted").isNotNull(), F.col("true"))).alias("true_pos"),
                      F.count(F.when(F.col("true").isNotNull(), F.col("blocked"))).alias("survived")).first()
    n_true = row["true"]
    return {**quality_figures(row["true_pos"], row["predicted"], n_true),
            "pair_completeness": round(row["survived"] / n_true, 4) if n_true else 0.0}


def read_true_pairs(spark: SparkSession, layers: storage.Layers) -> DataFrame | None:
    """`raw/true_pairs.csv` as a DataFrame, or None when there is none."""
    path = layers.raw(RAW_TRUE_PAIRS)
    if not storage.exists(spark, path):
        return None
    return spark.read.csv(path, header=True, schema=TRUE_PAIRS_CSV, mode="FAILFAST")


def run(ctx: StepContext) -> None:
    """Read silver, write `gold/soundtrack_matches` and `gold/match_near_misses`; record the counts
    in the step's metrics and, when true pairs are present, the match quality in the run's."""
    spark, layers, step = ctx.spark, ctx.layers, ctx.step_metrics
    films_df = spark.read.parquet(layers.silver("films"))
    albums_df = spark.read.parquet(layers.silver("albums"))
    matches_df, near_df, candidates_df, model = match(films_df, albums_df)
    storage.write_gold(matches_df, layers, "soundtrack_matches", [F.col("tmdb_id"), F.col("album_id")])
    storage.write_gold(near_df, layers, "match_near_misses", [F.col("album_id"), F.col("tmdb_id")])
    matches_out = spark.read.parquet(layers.gold("soundtrack_matches"))
    near_out = spark.read.parquet(layers.gold("match_near_misses"))
    # Each figure below is one job over a table just written or kept: counts that share a table are
    # taken together (a count is a job, and a small run is mostly such fixed costs).
    eligible = {r["eligible_by"]: r["count"] for r in
                with_eligibility(albums_df).groupBy("eligible_by").count().collect()}
    n_albums = sum(eligible.values())
    eligible.pop(None, None)
    matched = matches_out.agg(F.count("*").alias("rows"), F.countDistinct("tmdb_id").alias("films")).first()
    near_by_decision = {r["decision"]: r["count"] for r in near_out.groupBy("decision").count().collect()}
    step.rows_in = {"films": films_df.count(), "albums": n_albums, "soundtrack_film_albums": sum(eligible.values())}
    step.rows_out = {"soundtrack_matches": matched["rows"], "match_near_misses": sum(near_by_decision.values())}
    # Pairs compared: (album piece, film), the unit the comparisons and the ranking work on.
    per_album = candidates_df.groupBy("album_id").count() \
        .agg(F.sum("count").alias("pairs"), F.max("count").alias("most")).first()
    step.details = {"candidate_pairs": per_album["pairs"] or 0, "max_candidates_per_album": per_album["most"] or 0,
                    "eligible_albums_by_reason": dict(sorted(eligible.items())),
                    "near_misses_by_decision": near_by_decision,
                    "settings": SETTINGS.as_dict(), "model": model.as_dict(),
                    "films_matched": matched["films"]}
    truth_df = read_true_pairs(spark, layers)
    quality = match_quality(matches_out, truth_df, candidates_df) if truth_df is not None else {}
    # match() keeps its comparison vectors and decisions in memory: the runner releases them.
    if not quality:
        return
    ctx.run_metrics.quality = quality
    logger.info("match quality: precision %.3f recall %.3f F1 %.3f pair completeness %.3f",
                quality["precision"], quality["recall"], quality["f1"], quality["pair_completeness"])


def main(argv: Sequence[str] | None = None) -> int:
    """Run this step alone: `python -m scripts_spark.step_04_match [--data-root DIR] ...` (see --help)."""
    return runner.step_main(sys.modules[__name__], argv)


if __name__ == "__main__":
    sys.exit(main())
