"""Title and name normalization on real-looking cases, including the old matcher's failures."""
import pytest

from scripts_spark import text_norm as tn


@pytest.mark.parametrize("title, expected", [
    ("Amélie", "amelie"),
    ("Léon", "leon"),
    ("WALL·E", "walle"),
    ("M*A*S*H", "mash"),
    ("Schindler's List", "schindlers list"),
    ("Fast & Furious", "fast and furious"),
    ("ＡＫＩＲＡ", "akira"),                      # full-width letters
    ("千と千尋の神隠し", "千と千尋の神隠し"),          # non-Latin script kept as is
    ("Ла́рс", "ларс"),                           # Cyrillic accent removed
    ("ガンダム", "ガンダム"),                         # kana voicing marks kept
    ("", ""),
    (None, ""),
    ("***", ""),
    ("Won\u02bct", "wont"),                      # a modifier-letter apostrophe joins like "'"
    ("R.I.P.D.", "ripd"),                       # dots join letters; a trailing one separates
    ("a..b", "a b"),                            # two joiners in a row do not join
    ("Crème_Brûlée", "creme brulee"),           # an underscore separates words
    ("Rock'n'Roll & Co.", "rocknroll and co"),
    ("Hildur Guðnadóttir", "hildur gudnadottir"),  # letters Unicode does not decompose
    ("Þórður Sørensen", "thordur sorensen"),
    ("Kıvanç Tatlıtuğ", "kivanc tatlitug"),
])
def test_fold_keeps_meaning(title, expected):
    assert tn.fold(title) == expected


@pytest.mark.parametrize("title, expected", [
    ("The Godfather", "godfather"),
    ("Rocky II", "rocky 2"),
    ("The Godfather: Part II", "godfather 2"),
    ("Harry Potter and the Deathly Hallows: Part 2", "harry potter and the deathly hallows 2"),
    ("Frozen II", "frozen 2"),
    ("Frozen", "frozen"),
    ("I, Robot", "i robot"),
    ("V for Vendetta", "v for vendetta"),
    ("Up", "up"),
    ("It", "it"),
    ("9", "9"),
    ("Heat", "heat"),
    ("Star Wars: Episode IV - A New Hope", "star wars episode 4 a new hope"),
    # "Part" mistyped before a number is still the sequel marker; words one edit away are words.
    ("Empire Sky: Par t Four", "empire sky 4"),
    ("Island Empire: PPart Four", "island empire 4"),
    ("Marie's Line: aPrt Two", "maries line 2"),
    ("Kill Bill: Pt. 2", "kill bill 2"),
    ("The Art 2", "art 2"),
    ("Par 3", "par 3"),
    ("The Prat", "prat"),
])
def test_title_key(title, expected):
    assert tn.title_key(title) == expected


def test_sequels_stay_apart():
    assert tn.title_key("Frozen") != tn.title_key("Frozen II")
    assert tn.title_key("Rocky II") == tn.title_key("Rocky 2")
    assert tn.title_key("Alien") != tn.title_key("Aliens")


@pytest.mark.parametrize("album, core, qualified", [
    ("Heat (Music From The Motion Picture)", "heat", True),
    ("Ghost (Original Motion Picture Soundtrack)", "ghost", True),
    ("Ghost Stories", "ghost stories", False),
    ("Lost Highway OST", "lost highway", True),
    ("The Lost Boys", "lost boys", False),
    ("Jaws O.S.T.", "jaws", True),
    ("Amélie (Bande Originale Du Film)", "amelie", True),
    ("Titanic: Music From The Motion Picture", "titanic", True),
    ("Blade Runner (25th Anniversary Edition)", "blade runner", True),
    ("Frozen II (Original Motion Picture Soundtrack/Deluxe Edition)", "frozen ii", True),
    ("Music From And Inspired By The Motion Picture Spider-Man", "spider man", True),
    ("The Score (Original Soundtrack)", "score", True),
    # An edition word that is a title word stays unless "edition" or "version" follows it.
    ("Midnight Special (Original Motion Picture Soundtrack) Vol. 1", "midnight special vol 1", True),
    ("Limited (Special Edition)", "limited", True),
    ("Rocky (Remastered)", "rocky", True),
    ("", "", False),
])
def test_strip_qualifiers(album, core, qualified):
    assert tn.strip_qualifiers(album) == (core, qualified)


def test_artist_prefix_removed_only_when_it_is_the_artist():
    assert tn.album_title_keys("Hans Zimmer - Interstellar", ["Hans Zimmer"]) == ["interstellar"]
    assert tn.album_title_keys("Hans Zimmer - Interstellar", ["Zimmer, Hans"]) == ["interstellar"]
    assert tn.album_title_keys("Star Wars - A New Hope", ["John Williams (4)"]) == ["star wars a new hope"]


def test_two_film_album_gives_a_key_per_film():
    assert tn.album_title_keys("Thelma & Louise / Regarding Henry") == ["thelma and louise", "regarding henry"]


@pytest.mark.parametrize("name, expected", [
    ("John Williams (4)", "john williams"),
    ("Williams, John", "john williams"),
    ("Morricone, Ennio", "ennio morricone"),
    ("Jóhann Jóhannsson", "johann johannsson"),
    ("Davis Jr., Sammy", "sammy davis jr"),
    ("", ""),
    (None, ""),
])
def test_person_name(name, expected):
    assert tn.person_name(name) == expected


@pytest.mark.parametrize("title, styles, kind", [
    ("Interstellar (Original Motion Picture Soundtrack)", ["Score"], "film"),
    ("Game Of Thrones (Music From The HBO Series)", ["Soundtrack"], "tv"),
    ("Twin Peaks (Music From The Television Series)", ["Soundtrack"], "tv"),
    ("Halo 3 (Original Soundtrack)", ["Video Game Music"], "video_game"),
    ("Cats (Original Broadway Cast Recording)", ["Musical"], "stage"),
    ("Greatest Movie Themes Vol. 3", ["Soundtrack", "Theme"], "compilation"),
    (None, [], "film"),
])
def test_album_kind(title, styles, kind):
    assert tn.album_kind(title, styles) == kind


@pytest.mark.parametrize("title, expected", [
    ("Léon: The Professional", "leon"),
    ("Star Wars: Episode IV - A New Hope", "star wars"),
    ("Heat", None),
    ("", None),
    (None, None),
])
def test_main_title_key(title, expected):
    assert tn.main_title_key(title) == expected


def test_person_keys_sorted_distinct():
    assert tn.person_keys(["Williams, John", "John Williams (4)", None, "", "Ennio Morricone"]) == \
        ["ennio morricone", "john williams"]
    assert tn.person_keys(None) == []


@pytest.mark.parametrize("title, artists, expected", [
    ("Guardians of the Galaxy: Awesome Mix Vol. 1", [], ["guardians of the galaxy"]),
    ("Hans Zimmer - Interstellar: Expanded Edition", ["Hans Zimmer"], ["interstellar"]),
    ("Heat (Music From The Motion Picture)", [], [""]),
    ("Thelma & Louise / Regarding Henry: The Scores", [], ["", "regarding henry"]),
    (None, [], []),
])
def test_album_main_keys(title, artists, expected):
    assert tn.album_main_keys(title, artists) == expected


@pytest.mark.parametrize("album, keys", [
    ("Songs From La Fête À Paris", ["fete a paris"]),
    ("L'Hiver des anges (Musique Originale Du Film)", ["lhiver des anges"]),
    ("The Tide Of Angels 오리지널 사운드트랙", ["tide of angels"]),
    ("La Memoria al amanecer (Banda Original De Sonido)", ["memoria al amanecer"]),
    ("星の果て サウンドトラック", ["星の果て"]),
    ("秋の光 オリジナル・サウンドトラック", ["秋の光"]),
    ("Das Haus im Herbst und wir (Original Filmmusik)", ["haus im herbst und wir"]),
    ("El Verano de otoño (Banda Sonora Original)", ["verano de otono"]),
])
def test_foreign_language_qualifiers(album, keys):
    assert tn.album_title_keys(album) == keys


def test_piece_keys_stay_aligned():
    assert tn.album_title_keys("Heat / Heat") == ["heat", ""]
    assert tn.album_title_keys("Score / Up (OST)") == ["score", "up"]
    assert tn.album_pieces("Hans Zimmer - A / B", ["Hans Zimmer"]) == ["A", "B"]


@pytest.mark.parametrize("album, keys", [
    ("Songs From The Second Floor (Original Soundtrack)", ["songs from the second floor"]),
    ("Music From Another Room", ["music from another room"]),
    ("Star Trek (Music From The Motion Picture)", [""]),
    ("Heat / Songs From Heaven (OST)", ["", "songs from heaven"]),
    (None, []),
])
def test_album_alt_keys_keep_qualifier_like_title_words(album, keys):
    assert tn.album_alt_keys(album) == keys
