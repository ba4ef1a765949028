"""Step 04: matching on real-looking cases, including the look-alikes that must not match."""
import pytest

from scripts_spark.step_04_match import SETTINGS, match, match_quality
from tests.scripts_spark.helpers import film, master, release, silver


@pytest.fixture(scope="module")
def matched(spark):
    films = [
        film(13475, "Star Trek", "2009-05-06", ["Michael Giacchino"]),
        film(54138, "Star Trek Into Darkness", "2013-05-05", ["Michael Giacchino"]),
        film(109445, "Frozen", "2013-11-27", ["Christophe Beck"]),
        film(330457, "Frozen II", "2019-11-20", ["Christophe Beck"]),
        film(949, "Heat", "1995-12-15", ["Elliot Goldenthal"]),
        film(136795, "The Heat", "2013-06-27", ["Michael Andrews"]),
        film(194, "Amélie", "2001-04-25", ["Yann Tiersen"], original_title="Le Fabuleux Destin d'Amélie Poulain",
             language="fr"),
        film(157336, "Interstellar", "2014-11-05", ["Hans Zimmer"]),
        film(1541, "Thelma & Louise", "1991-05-24", ["Hans Zimmer"]),
        film(11382, "Regarding Henry", "1991-07-10", ["Hans Zimmer"]),
        film(1000, "Ghost", "1990-07-12", ["Maurice Jarre"]),
        film(1001, "Carrie", "1976-11-03", ["Pino Donaggio"]),
        film(1002, "Carrie", "2013-10-16", ["Marco Beltrami"]),
        film(1003, "Halo", "1996-01-01", []),
        film(1004, "Songs from the Second Floor", "2000-10-06", ["Benny Andersson"]),
        film(289, "Casablanca", "1942-11-26", ["Max Steiner"]),
    ]
    masters = [
        master(1, "Star Trek (Music From The Motion Picture)", 2009, ["Michael Giacchino"], main_release=11),
        master(2, "Frozen (Original Motion Picture Soundtrack)", 2013, ["Various"], main_release=21),
        master(3, "Frozen 2 (Original Motion Picture Soundtrack)", 2019, ["Various"], main_release=31),
        master(4, "Heat (Music From The Motion Picture)", 1995, ["Various"], main_release=41),
        master(5, "Amélie (Bande Originale Du Film)", 2001, ["Yann Tiersen"], main_release=51),
        master(6, "Hans Zimmer - Interstellar", 2014, ["Hans Zimmer"], styles=["Score"], main_release=61),
        master(7, "Thelma & Louise / Regarding Henry (The Original Motion Picture Scores)", 0, ["Hans Zimmer"],
               styles=["Score"], main_release=71),
        master(8, "Ghost Stories", 2014, ["Coldplay"], genres=["Rock"], styles=["Pop Rock"], main_release=81),
        master(9, "Carrie (Original Motion Picture Soundtrack)", 2013, ["Marco Beltrami"], main_release=91),
        master(10, "Halo 3 (Original Soundtrack)", 2007, styles=["Video Game Music"], main_release=101),
        master(11, "Ghost (Music From The Television Series)", 1990, main_release=111),
        master(12, "Songs From The Second Floor (Original Soundtrack)", 2000, ["Benny Andersson"], main_release=121),
        # Filed under Hip Hop only, a soundtrack by its title; its film spelled with a typo.
        master(13, "Casablnaca (Original Motion Picture Soundtrack)", 1943, ["Max Steiner"], genres=["Hip Hop"],
               styles=[], main_release=131),
        # Sequel trap: the sequel is not in the catalogue, the first film is.
        master(14, "Interstellar: Part Two (Original Motion Picture Soundtrack)", 2016, ["Hans Zimmer"],
               main_release=141),
        # Dated years before the film: not its soundtrack, whatever the title and composer say.
        master(15, "Regarding Henry", 1975, ["Hans Zimmer"], styles=["Score"], main_release=151),
        # A composer credited only as a prefix, not as the album artist.
        master(16, "Yann Tiersen - Amelie", 2002, ["Various"], styles=["Score"], main_release=161),
    ]
    releases = [release(r, "x", None, master_id=m, is_main=True) for m, r in
                [(1, 11), (2, 21), (3, 31), (4, 41), (5, 51), (6, 61), (7, 71), (8, 81), (9, 91), (10, 101), (11, 111),
                 (12, 121), (14, 141), (15, 151)]]
    releases.append(release(131, "x", None, master_id=13, is_main=True, genres=["Hip Hop"], styles=[]))
    releases.append(release(161, "x", None, master_id=16, is_main=True, credits=[("Yann Tiersen", "Composed By")]))
    releases.append(release(500, "Ghost OST", 1990, artists=["Maurice Jarre"]))
    films_df, albums_df = silver(spark, films, masters, releases)
    matches_df, near_df, candidates_df, _model = match(films_df, albums_df)
    return matches_df.cache(), near_df.cache(), candidates_df


def test_expected_pairs_and_nothing_else(matched):
    matches_df, _, _ = matched
    got = {(r.tmdb_id, r.discogs_master_id, r.discogs_release_id) for r in matches_df.collect()}
    assert got == {
        (13475, 1, 11),        # exact title, year and composer
        (109445, 2, 21),       # Frozen, not Frozen II
        (330457, 3, 31),       # Frozen 2 album = Frozen II film (roman vs arabic)
        (949, 4, 41),          # Heat 1995, not The Heat 2013
        (194, 5, 51),          # accent folding, French qualifier
        (157336, 6, 61),       # artist prefix removed
        (1541, 7, 71),         # a two-film album matches both films
        (11382, 7, 71),
        (1002, 9, 91),         # the 2013 remake, not the 1976 original
        (1000, None, 500),     # a release without master: "OST" as a whole word
        (1004, 12, 121),       # a film title that begins like a qualifier ("Songs from ...")
        (289, 13, 131),        # a typo, and filed under Hip Hop: eligible by its title
        (194, 16, 161),        # "Composer - Title" where the composer is only a credit
    }


def test_scores_and_evidence(matched):
    matches_df, _, _ = matched
    rows = {(r.tmdb_id, r.album_id): r for r in matches_df.collect()}
    star_trek = rows[(13475, "m1")]
    assert star_trek.match_score >= 0.99 and star_trek.composer_match == "michael giacchino"
    assert (star_trek.year_gap, star_trek.title_level, star_trek.year_level, star_trek.composer_level) == (
        0, "exact", "same_year", "credited")
    assert star_trek.match_weight > 0 and star_trek.decision == "match" and star_trek.eligible_by == "both"
    assert all(SETTINGS.threshold_probability <= r.match_score <= 1.0 for r in rows.values())
    # Unknown year on the two-film album: no year evidence either way, still matched on title and composer.
    assert (rows[(1541, "m7")].year_level, rows[(1541, "m7")].year_weight) == ("unknown", 0.0)
    assert rows[(289, "m13")].title_level == "typo" and rows[(289, "m13")].eligible_by == "title_term"


def test_vetoes_reach_the_near_misses_with_their_reason(matched):
    _, near_df, _ = matched
    near = {(r.album_id, r.tmdb_id): r for r in near_df.collect()}
    assert near[("m14", 157336)].decision == "vetoed" and near[("m14", 157336)].vetoed_by == "numbers:differ"
    assert near[("m15", 11382)].decision == "vetoed" and near[("m15", 11382)].vetoed_by == "year:before_film"


def test_lookalikes_not_matched(matched):
    matches_df, _, candidates_df = matched
    albums_matched = {r.album_id for r in matches_df.collect()}
    assert "m8" not in albums_matched      # Ghost Stories: not a soundtrack
    assert "m10" not in albums_matched     # video game
    assert "m11" not in albums_matched     # TV series
    assert "m14" not in albums_matched     # the sequel's album, its film absent
    assert "m15" not in albums_matched     # dated before the film
    films_for_star_trek = {r.tmdb_id for r in matches_df.filter("album_id = 'm1'").collect()}
    assert films_for_star_trek == {13475}


def test_quality_against_truth(spark, matched):
    matches_df, _, candidates_df = matched
    truth = spark.createDataFrame(
        [(13475, 1, 11), (109445, 2, 21), (1001, None, 999)],
        "tmdb_id long, discogs_master_id long, discogs_release_id long",
    )
    quality = match_quality(matches_df, truth, candidates_df)
    assert quality["true_positives"] == 2 and quality["true_pairs"] == 3
    assert quality["recall"] == round(2 / 3, 4)
    assert quality["precision"] == round(2 / matches_df.count(), 4)
    assert quality["pair_completeness"] == round(2 / 3, 4)


def test_common_keys_are_blocked_on_year_too(spark):
    from scripts_spark.step_04_match import blocked_key_pairs

    fk = spark.createDataFrame(
        [(i, 1950 + i * 10, "k:love", "full") for i in range(5)] + [(99, 2001, "k:heat", "full")],
        "tmdb_id long, film_year int, block_key string, film_side string",
    )
    ak = spark.createDataFrame(
        [("m1", 1991, 0, "k:love", "full"), ("m2", None, 0, "k:love", "full"),
         ("m3", 1970, 0, "k:heat", "full")],
        "album_id string, album_year int, part int, block_key string, album_side string",
    )
    pairs = {(r.album_id, r.tmdb_id) for r in blocked_key_pairs(fk, ak, max_films_per_key=2).collect()}
    # "love" is common: only the film of 1990 (album 1991) is offered, the unknown-year album none;
    # "heat" is rare: offered whatever the years.
    assert pairs == {("m1", 4), ("m3", 99)}


def test_blocked_pairs_are_distinct_and_never_main_to_main(spark):
    """One row per (album piece, film) however many keys they share ("k:" and "e:" of one title),
    and a film's main title meets an album's whole title, never the album's main title."""
    from scripts_spark.step_04_match import blocked_key_pairs

    fk = spark.createDataFrame(
        [(1, 1979, "k:alien", "main"), (1, 1979, "k:heat", "full"), (1, 1979, "e:heat", "full"),
         (2, 1986, "k:alien", "full")],
        "tmdb_id long, film_year int, block_key string, film_side string",
    )
    ak = spark.createDataFrame(
        [("a1", 1986, 0, "k:alien", "main"), ("a2", 1995, 0, "k:heat", "full"), ("a2", 1995, 0, "e:heat", "full")],
        "album_id string, album_year int, part int, block_key string, album_side string",
    )
    pairs_df = blocked_key_pairs(fk, ak)
    assert pairs_df.columns == ["album_id", "part", "tmdb_id"]
    assert sorted(tuple(r) for r in pairs_df.collect()) == [("a1", 0, 2), ("a2", 0, 1)]


def test_common_keys_also_meet_through_a_named_composer(spark):
    """An album of unknown or late year under a common title still meets the film whose composer
    it names (and only that one): the year cannot block it, the composer can."""
    from scripts_spark.step_04_match import blocked_key_pairs

    fk = spark.createDataFrame(
        [(i, 1950 + i * 10, "k:love", "full") for i in range(5)],
        "tmdb_id long, film_year int, block_key string, film_side string",
    )
    ak = spark.createDataFrame(
        [("m1", None, 0, "k:love", "full"), ("m2", 2015, 0, "k:love", "full"), ("m3", None, 0, "k:love", "full")],
        "album_id string, album_year int, part int, block_key string, album_side string",
    )
    film_people = spark.createDataFrame([(1, "ennio morricone"), (3, "john barry")], "tmdb_id long, person string")
    album_people = spark.createDataFrame([("m1", "ennio morricone"), ("m2", "ennio morricone"), ("m3", "various")],
                                         "album_id string, person string")
    pairs = {(r.album_id, r.tmdb_id) for r in blocked_key_pairs(
        fk, ak, max_films_per_key=2, film_people=film_people, album_people=album_people).collect()}
    # m2 (2015) is 55 years after film 1 (1960), far outside the year window: the composer offers it.
    assert pairs == {("m1", 1), ("m2", 1)}


def test_edit_keys_are_typo_keys_dropped_when_very_common(spark):
    """An edit key ("e:") is a typo-tolerant key: carried by more films than
    `max_films_per_fuzzy_key_by_year` it is dropped, so a short common word's one-letter variants
    cannot flood an album with candidates; a rare one is joined whatever the year."""
    from scripts_spark.step_04_match import blocked_key_pairs

    fk = spark.createDataFrame(
        [(i, 1950 + i, "e:vegas", "full") for i in range(20)] + [(100, 1930, "e:olaris", "full")],
        "tmdb_id long, film_year int, block_key string, film_side string",
    )
    ak = spark.createDataFrame(
        [("m1", 1960, 0, "e:vegas", "full"), ("m2", 2000, 0, "e:olaris", "full")],
        "album_id string, album_year int, part int, block_key string, album_side string",
    )
    pairs = {(r.album_id, r.tmdb_id) for r in
             blocked_key_pairs(fk, ak, max_films_per_key=10, max_films_per_fuzzy_key=12,
                               max_films_per_fuzzy_key_by_year=15).collect()}
    assert pairs == {("m2", 100)}


def test_very_common_typo_keys_meet_only_through_a_named_composer(spark):
    """A typo-tolerant key carried by more films than `max_films_per_fuzzy_key_by_year` (the
    one-letter variants of a title thousands of films carry) still offers the film whose composer
    the misspelt album credits, and only to a piece no exact key met."""
    from scripts_spark.step_04_match import blocked_key_pairs

    fk = spark.createDataFrame(
        [(i, 1950 + i, "e:returntocairo", "full") for i in range(20)] + [(5, 1955, "k:return to cairo", "full")],
        "tmdb_id long, film_year int, block_key string, film_side string",
    )
    ak = spark.createDataFrame(
        [("m1", None, 0, "e:returntocairo", "full"),   # "Retunr To Cairo", year unknown
         ("m2", 1960, 0, "e:returntocairo", "full"),   # misspelt, crediting nobody known
         ("m3", 1955, 0, "e:returntocairo", "full"), ("m3", 1955, 0, "k:return to cairo", "full")],
        "album_id string, album_year int, part int, block_key string, album_side string",
    )
    film_people = spark.createDataFrame([(3, "hans zimmer"), (5, "hans zimmer"), (7, "john barry")],
                                        "tmdb_id long, person string")
    album_people = spark.createDataFrame([("m1", "hans zimmer"), ("m3", "hans zimmer")], "album_id string, person string")
    settings = dict(max_films_per_key=10, max_films_per_fuzzy_key=3, max_films_per_fuzzy_key_by_year=15)
    pairs = {(r.album_id, r.tmdb_id) for r in
             blocked_key_pairs(fk, ak, film_people=film_people, album_people=album_people, **settings).collect()}
    # m1 meets the two films scored by the composer it credits; m2 names nobody and meets none;
    # m3, spelt right, meets its film by the exact key and gets no neighbour through the typo key.
    assert pairs == {("m1", 3), ("m1", 5), ("m3", 5)}
    # Without people the very common typo key is dropped, as before.
    assert {(r.album_id, r.tmdb_id) for r in blocked_key_pairs(fk, ak, **settings).collect()} == {("m3", 5)}
    # Kept: the same pairs, with the keyed tables persisted for the caller to release.
    kept = []
    kept_pairs = {(r.album_id, r.tmdb_id) for r in blocked_key_pairs(
        fk, ak, film_people=film_people, album_people=album_people, kept=kept, **settings).collect()}
    assert kept_pairs == pairs
    assert len(kept) == 2 and all(df.is_cached for df in kept)
    for df in kept:
        df.unpersist()
    assert not any(df.is_cached for df in kept)


def test_film_block_keys_hold_each_film_and_key_once(spark):
    """`blocked_key_pairs` counts a key's films as its rows: a main title that is also a whole
    title (no subtitle, or the original title) adds no second row; a real main title adds one."""
    from scripts_spark.step_04_match import film_block_keys

    films = spark.createDataFrame(
        [(1, 1990, "heat", "heat", "heat"), (2, 1991, "alien resurrection", "alien resurrection", "alien"),
         (3, 1992, "the fire", "la nuit des anges", "la nuit des anges")],
        "tmdb_id long, release_year int, title_key string, original_title_key string, main_title_key string",
    )
    rows = film_block_keys(films).collect()
    assert len(rows) == len({(r.tmdb_id, r.block_key) for r in rows})
    assert {(r.tmdb_id, r.key_side) for r in rows if r.block_key.startswith("k:")} == {
        (1, "full"), (2, "full"), (2, "main"), (3, "full")}
    assert [r.block_key for r in rows if r.key_side == "main"] == ["k:alien"]


def test_common_typo_keys_are_a_year_blocked_fallback(spark):
    """A typo-tolerant key carried by more than `max_films_per_fuzzy_key` films (but not too many)
    is joined on the year, and only for an album piece that no exact key met: the misspelt "vegsa"
    finds the films of its years; "vegas", spelt right and met by its exact key, gets no
    one-letter neighbours on top."""
    from scripts_spark.step_04_match import blocked_key_pairs

    fk = spark.createDataFrame(
        [(i, 1950 + i, "e:vegas", "full") for i in range(20)] + [(10, 1960, "k:vegas", "full")],
        "tmdb_id long, film_year int, block_key string, film_side string",
    )
    ak = spark.createDataFrame(
        [("m1", 1960, 0, "e:vegas", "full"), ("m2", 1960, 0, "e:vegas", "full"), ("m2", 1960, 0, "k:vegas", "full")],
        "album_id string, album_year int, part int, block_key string, album_side string",
    )
    pairs = {(r.album_id, r.tmdb_id) for r in
             blocked_key_pairs(fk, ak, max_films_per_key=10, max_films_per_fuzzy_key=12,
                               max_films_per_fuzzy_key_by_year=400).collect()}
    assert pairs == {("m1", 8), ("m1", 9), ("m1", 10), ("m1", 11), ("m2", 10)}


def test_typo_keys_meeting_a_film_of_the_very_title_are_dropped_only_where_the_exact_key_meets_it(spark):
    """The film and album keys carry their own title's exact key, and a typo-tolerant key that
    meets a film of the album's very title is dropped before the pairs are shuffled, but only where
    the exact key meets that pair too: rare, or common and met on the same year. "alien" is common
    under its exact key (two films have it as a main title) but rare under its typo keys (main titles
    make none), so the 2010 album meets the 1979 film only through a typo key, which must stay."""
    from scripts_spark.step_04_match import album_block_keys, blocked_key_pairs, film_block_keys

    films = spark.createDataFrame(
        [(1, 1979, "alien", "alien", "alien"), (2, 1997, "alien resurrection", None, "alien"),
         (3, 2017, "alien covenant", None, "alien"), (4, 1960, "vegas", None, None), (5, 1961, "vegass", None, None)],
        "tmdb_id long, release_year int, title_key string, original_title_key string, main_title_key string")
    albums = spark.createDataFrame(
        [("a1", 2010, ["alien"], [None], [None]), ("a2", 1960, ["vegas"], [None], [None]),
         ("a3", 1980, ["alien"], [None], [None])],
        "album_id string, year int, title_keys array<string>, alt_title_keys array<string>, "
        "main_title_keys array<string>")
    fk = film_block_keys(films).withColumnRenamed("key_side", "film_side")
    ak = album_block_keys(albums).withColumnRenamed("key_side", "album_side")

    def pairs(fk, ak):
        return {(r.album_id, r.tmdb_id) for r in blocked_key_pairs(fk, ak, max_films_per_key=2).collect()}

    expected = {("a1", 1), ("a2", 4), ("a2", 5), ("a3", 1)}
    assert pairs(fk, ak) == expected
    # The same pairs as from keys that do not say whose title they are (nothing dropped).
    assert pairs(fk.drop("title_k", "original_k"), ak.drop("piece_k")) == expected


def test_ambiguous_namesakes_abstain(spark):
    """Two films of the same title and year, nobody credited on either side: the evidence cannot
    tell them apart, so the album goes to the near-misses marked ambiguous."""
    films = [film(1, "Drive", "2011-09-15"), film(2, "Drive", "2011-03-01"), film(3, "Heat", "1995-12-15")]
    masters = [master(1, "Drive (Original Motion Picture Soundtrack)", 2011, main_release=11),
               master(2, "Heat (Original Motion Picture Soundtrack)", 1995, main_release=21)]
    releases = [release(11, "x", None, master_id=1, is_main=True), release(21, "x", None, master_id=2, is_main=True)]
    films_df, albums_df = silver(spark, films, masters, releases)
    matches_df, near_df, _, _ = match(films_df, albums_df)
    assert {(r.album_id, r.tmdb_id) for r in matches_df.collect()} == {("m2", 3)}
    assert [(r.album_id, r.decision) for r in near_df.collect()] == [("m1", "ambiguous")]


def test_namesakes_are_counted_for_the_key_that_agreed(spark):
    """An album titled with a film's original title is as rare as that title: its namesake count
    is the films carrying "welle der rose", not the three called "The Fire"."""
    from scripts_spark import step_04_match as m

    films = [film(1, "The Fire", "1991-01-01", original_title="Die Welle der Rose", language="de"),
             film(2, "The Fire", "1991-05-01"), film(3, "The Fire", "1980-05-01")]
    masters = [master(1, "Die Welle Der Rose (Original Motion Picture Soundtrack)", 1991, main_release=11),
               master(2, "The Fire (Original Motion Picture Soundtrack)", 1991, main_release=21)]
    releases = [release(11, "x", None, master_id=1, is_main=True), release(21, "x", None, master_id=2, is_main=True)]
    films_df, albums_df = silver(spark, films, masters, releases)
    eligible = m.soundtrack_albums(albums_df)
    vectors = m.comparison_vectors(m.candidate_pairs(films_df, eligible), m._film_facts(films_df),
                                   m._album_facts(eligible))
    counts = {(r.album_id, r.tmdb_id): (r.title_lvl, r.films_with_title) for r in vectors.collect()}
    assert counts[("m1", 1)] == (0, 1)
    assert counts[("m2", 1)] == (0, 3) and counts[("m2", 2)] == (0, 3)


def test_a_credited_pair_carries_how_many_films_its_composer_scored(spark):
    """`composer_films` is the number of catalogue films scored by the rarest composer a pair
    shares (null when they share none): what the credited weight is adjusted by."""
    from scripts_spark import step_04_match as m

    films = [film(1, "Island", "2001-01-01", ["Ann Lee", "Bo Park"]), film(2, "Island", "1980-01-01", ["Ann Lee"]),
             film(3, "Harbour", "1990-01-01", ["Ann Lee"]), film(4, "Island", "2001-06-01", ["Cy Ode"])]
    masters = [master(1, "Island (Original Score)", 2001, ["Ann Lee", "Bo Park"], main_release=11)]
    films_df, albums_df = silver(spark, films, masters, [release(11, "x", None, master_id=1, is_main=True)])
    eligible = m.soundtrack_albums(albums_df)
    vectors = m.comparison_vectors(m.candidate_pairs(films_df, eligible), m._film_facts(films_df),
                                   m._album_facts(eligible))
    got = {r.tmdb_id: (r.composer_match, r.composer_films) for r in vectors.collect()}
    # Film 1 shares Ann Lee (3 films) and Bo Park (1): the rarer counts. Film 4 shares nobody.
    assert got == {1: ("ann lee; bo park", 1), 2: ("ann lee", 3), 4: ("", None)}


def test_short_titles_meet_their_one_typo_forms(spark):
    """A title too short for the affix and edit keys, mistyped by a doubled letter or two
    neighbours swapped, is blocked with its film and compared as a typo; an anagram is not."""
    from scripts_spark import step_04_match as m

    films = [film(1, "Blue", "2012-01-01", ["Ann Lee"]), film(2, "Rush", "1987-01-01", ["Bo Park"]),
             film(3, "God", "1990-01-01", ["Cy Ode"])]
    masters = [master(1, "Bllue (Original Motion Picture Soundtrack)", 2012, ["Ann Lee"], main_release=11),
               master(2, "uRsh (Original Motion Picture Soundtrack)", 1987, ["Bo Park"], main_release=21),
               master(3, "Dog (Original Motion Picture Soundtrack)", 1990, ["Cy Ode"], main_release=31)]
    releases = [release(r, "x", None, master_id=i, is_main=True) for i, r in [(1, 11), (2, 21), (3, 31)]]
    films_df, albums_df = silver(spark, films, masters, releases)
    eligible = m.soundtrack_albums(albums_df)
    vectors = m.comparison_vectors(m.candidate_pairs(films_df, eligible), m._film_facts(films_df),
                                   m._album_facts(eligible))
    levels = {(r.album_id, r.tmdb_id): m.TITLE.levels[r.title_lvl].name for r in vectors.collect()}
    assert levels[("m1", 1)] == "typo" and levels[("m2", 2)] == "typo"
    assert levels.get(("m3", 3), "different") == "different"
    matches_df, _, _, _ = match(films_df, albums_df)
    assert {("m1", 1), ("m2", 2)} <= {(r.album_id, r.tmdb_id) for r in matches_df.collect()}


def test_a_double_feature_matches_the_film_whose_composer_it_does_not_credit(spark):
    """"X / X 2" credits the first film's composer only: the sequel's own composer is not named,
    which says nothing against it, so both pieces match."""
    films = [film(1, "The Storm", "1966-01-01", ["Ann Lee"]), film(2, "The Storm 2", "1970-01-01", ["Bo Park"]),
             film(3, "Harbour", "1990-01-01", ["Cy Ode"])]
    masters = [master(1, "The Storm / The Storm 2", 1970, ["Various"], main_release=11)]
    releases = [release(11, "x", None, master_id=1, is_main=True, credits=[("Ann Lee", "Composed By")])]
    films_df, albums_df = silver(spark, films, masters, releases)
    matches_df, _, _, _ = match(films_df, albums_df)
    assert {(r.album_id, r.tmdb_id, r.composer_level) for r in matches_df.collect()} == {
        ("m1", 1, "credited"), ("m1", 2, "unknown")}


def test_random_pairs_need_no_title_comparison(spark):
    """The title's u is declared (re-estimated on far-year candidates), never read from random
    pairs: the model trained without comparing their titles is the one trained with them, though
    the random pairs here (every film with every album) hold exact titles that would move it."""
    from scripts_spark import step_04_match as m

    films = [film(1, "Heat", "1995-12-15", ["Elliot Goldenthal"]), film(2, "The Heat", "2013-06-27"),
             film(3, "Drive", "2011-09-15"), film(4, "Carrie", "1976-11-03", ["Pino Donaggio"])]
    masters = [master(1, "Heat (Music From The Motion Picture)", 1995, ["Elliot Goldenthal"], main_release=11),
               master(2, "Drive (Original Motion Picture Soundtrack)", 2011, main_release=21),
               master(3, "Carrie (Original Motion Picture Soundtrack)", 2013, main_release=31)]
    releases = [release(r, "x", None, master_id=i, is_main=True) for i, r in [(1, 11), (2, 21), (3, 31)]]
    films_df, albums_df = silver(spark, films, masters, releases)
    eligible = m.soundtrack_albums(albums_df)
    facts = (m._film_facts(films_df), m._album_facts(eligible))
    vectors = m.comparison_vectors(m.candidate_pairs(films_df, eligible), *facts)
    random = m.random_pairs(films_df, eligible, 4, 3)
    with_titles = m.comparison_vectors(random, *facts)
    assert {r.title_lvl for r in with_titles.collect()} > {len(m.TITLE.levels) - 1}   # exact titles among them
    assert m.train(vectors, m.comparison_vectors(random, *facts, for_random_u=True)) == m.train(vectors, with_titles)


def test_an_album_naming_one_film_twice_is_one_match_from_its_first_title(spark):
    """An album titled with a film's title and its original title: both pieces pick the same
    film; the match is one row, the first piece's, whatever order the pieces are decided in (a
    re-run publishes the same row)."""
    films = [film(194, "Amélie", "2001-04-25", ["Yann Tiersen"],
                  original_title="Le Fabuleux Destin d'Amélie Poulain", language="fr")]
    masters = [master(1, "Amélie / Le Fabuleux Destin D'Amélie Poulain (Bande Originale Du Film)", 2001,
                      ["Yann Tiersen"], main_release=11)]
    releases = [release(11, "x", None, master_id=1, is_main=True)]
    films_df, albums_df = silver(spark, films, masters, releases)
    assert albums_df.first()["title_keys"] == ["amelie", "fabuleux destin damelie poulain"]
    matches_df, _, _, _ = match(films_df, albums_df.repartition(3))
    assert [(r.album_id, r.part, r.tmdb_id) for r in matches_df.collect()] == [("m1", 0, 194)]
