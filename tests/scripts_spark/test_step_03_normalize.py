"""Step 03: albums are masters with their releases, or releases without a master."""
from tests.scripts_spark.helpers import film, master, release, silver


def test_albums_from_masters_orphans_and_single_releases(spark):
    masters = [master(1, "Star Trek (Music From The Motion Picture)", 2009, ["Michael Giacchino"], main_release=11)]
    releases = [
        release(11, "Star Trek (Music From The Motion Picture)", 2009, master_id=1, formats=["CD"], is_main=True,
                credits=[("Giacchino, Michael", "Composed By")]),
        release(12, "Star Trek (Music From The Motion Picture)", 2016, master_id=1, formats=["Vinyl"],
                labels=["Varèse Sarabande"], is_main=False),
        # Its master is not in the data (a dump subset): grouped under the master id.
        release(21, "Heat (Music From The Motion Picture)", 1995, master_id=2, is_main=False),
        release(20, "Heat (Music From The Motion Picture)", 1995, master_id=2, is_main=True),
        # No master at all.
        release(31, "Unrest (Original Motion Picture Soundtrack)", 2017, artists=["Bear McCreary"]),
    ]
    _, albums_df = silver(spark, [film(1, "Anything", "2000-01-01")], masters, releases)
    albums = {r.album_id: r for r in albums_df.collect()}
    assert sorted(albums) == ["m1", "m2", "r31"]
    st = albums["m1"]
    assert (st.discogs_master_id, st.discogs_release_id, st.year, st.n_releases) == (1, 11, 2009, 2)
    assert st.formats == ["CD", "Vinyl"] and st.release_years == [2009, 2016]
    assert st.labels == ["Label", "Varèse Sarabande"]
    assert st.title_keys == ["star trek"] and st.has_soundtrack_qualifier and st.album_kind == "film"
    assert st.artist_keys == ["michael giacchino"] and st.credit_keys == ["michael giacchino"]
    heat = albums["m2"]
    assert (heat.discogs_master_id, heat.discogs_release_id, heat.n_releases) == (2, 20, 2)
    unrest = albums["r31"]
    assert (unrest.discogs_master_id, unrest.discogs_release_id) == (None, 31)


def test_an_album_is_dated_by_its_main_release_never_by_a_reissue(spark):
    masters = [master(1, "Arrival (Original Motion Picture Soundtrack)", 0, ["Jóhann Jóhannsson"], main_release=11),
               master(2, "Heat (Music From The Motion Picture)", 0, ["Elliot Goldenthal"], main_release=21)]
    releases = [
        # The master and its main release carry no date; the reissue's 1986 is not the album's year.
        release(11, "Arrival (Original Motion Picture Soundtrack)", 0, master_id=1, is_main=True),
        release(12, "Arrival (Original Motion Picture Soundtrack)", 1986, master_id=1, is_main=False),
        # An undated master whose main release has a year takes that year, not the earlier other one.
        release(21, "Heat (Music From The Motion Picture)", 1995, master_id=2, is_main=True),
        release(22, "Heat (Music From The Motion Picture)", 1994, master_id=2, is_main=False),
        # Without master nor a flagged main release, the earliest release dates the album.
        release(31, "Ronin (Original Soundtrack)", 2004, master_id=3, is_main=False),
        release(32, "Ronin (Original Soundtrack)", 1998, master_id=3, is_main=False),
    ]
    _, albums_df = silver(spark, [film(1, "Anything", "2000-01-01")], masters, releases)
    years = {r.album_id: (r.year, r.release_years) for r in albums_df.collect()}
    assert years == {"m1": (None, [1986]), "m2": (1995, [1994, 1995]), "m3": (1998, [1998, 2004])}


def test_album_flags(spark):
    masters = [
        master(1, "Ghost Stories", 2014, ["Coldplay"], genres=["Rock"], styles=["Pop Rock"]),
        master(2, "Halo 3 (Original Soundtrack)", 2007, styles=["Video Game Music"]),
        master(3, "Thelma & Louise / Regarding Henry (The Original Motion Picture Scores)", 0, ["Hans Zimmer"],
               styles=["Score"]),
        master(4, "Cats (Original Broadway Cast Recording)", 1983, styles=["Musical"]),
    ]
    _, albums_df = silver(spark, [film(1, "X", "2000-01-01")], masters)
    albums = {r.album_id: r for r in albums_df.collect()}
    assert not albums["m1"].is_soundtrack and albums["m1"].album_kind == "film"
    assert albums["m2"].album_kind == "video_game"
    assert albums["m3"].title_keys == ["thelma and louise", "regarding henry"] and albums["m3"].year is None
    assert albums["m4"].album_kind == "stage"


def test_films_keys_and_composers(spark):
    films_df, _ = silver(spark, [
        film(1, "Léon: The Professional", "1994-09-14", ["Éric Serra"], original_title="Léon"),
        film(2, "No date", "", []),
    ])
    rows = {r.tmdb_id: r for r in films_df.collect()}
    leon = rows[1]
    assert (leon.title_key, leon.original_title_key, leon.main_title_key) == ("leon the professional", "leon", "leon")
    assert (leon.release_year, leon.decade, leon.composer_keys) == (1994, 1990, ["eric serra"])
    assert (rows[2].release_year, rows[2].decade, rows[2].main_title_key) == (None, None, None)


def test_a_composer_prefix_printed_as_a_name_variation_is_dropped(spark):
    """Discogs prints an artist on a release as credited there (its ANV, "H. Williams"), and a
    "Composer - Title" album title names the composer that way; the artist's own name stays the
    canonical one. The prefix is dropped whether it is the name or the variation, from the master's
    artists or from a release's composer credit; a prefix naming nobody on the album stays."""
    m = master(1, "H. Williams - The Red Promise", 2001, ["Harry Williams"], main_release=11)
    m["artists"][0]["anv"] = "H. Williams"
    r = release(21, "Müller - Chaos", 1999, credits=[("Hans Müller (3)", "Composed By")])
    r["extraartists"][0]["anv"] = "Müller"
    kept = release(31, "Serra - The Line", 2005, credits=[("Eric Serra", "Music By")])
    # No credits at all (an API body without extraartists): the artists' variations still count.
    bare = release(41, "M. Jarre - Ghost", 1990, artists=["Maurice Jarre"])
    bare["artists"][0]["anv"], bare["extraartists"] = "M. Jarre", None
    _, albums_df = silver(spark, [film(1, "X", "2000-01-01")], [m],
                          [release(11, "H. Williams - The Red Promise", 2001, master_id=1, is_main=True), r, kept,
                           bare])
    albums = {row.album_id: row for row in albums_df.collect()}
    assert albums["m1"].title_keys == ["red promise"] and albums["m1"].name_variations == ["H. Williams"]
    assert albums["m1"].artist_keys == ["harry williams"]
    assert albums["r21"].title_keys == ["chaos"] and albums["r21"].credit_keys == ["hans muller"]
    # No variation printed, and "Serra" alone is not a name on the album: part of the title.
    assert albums["r31"].title_keys == ["serra the line"] and albums["r31"].name_variations == []
    assert albums["r41"].title_keys == ["ghost"] and albums["r41"].name_variations == ["M. Jarre"]
