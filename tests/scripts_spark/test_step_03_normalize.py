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
