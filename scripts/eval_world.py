"""Write an independent, labelled evaluation world for the TMDB -> Discogs soundtrack matcher.

This generator was written from a spec of real Discogs / TMDB naming habits, without reading the
matcher or the project's own sample generator, so it tests noise their authors may not have
thought of. It writes `DIR/raw/` exactly per the input contract (docs/contracts.md):

- `raw/tmdb/films.jsonl`: one TMDB `/movie/{id}?append_to_response=credits` body a line;
- `raw/discogs/<prefix>_masters.xml.gz`, `raw/discogs/<prefix>_releases.xml.gz`: the 2020 monthly
  dump format (images block, every artist field written, non-ASCII as character references,
  `<master_id is_main_release=...>` only on releases that have a master);
- `raw/true_pairs.csv`: `tmdb_id,discogs_master_id,discogs_release_id`, one row per true
  album -> film link (an album is a master, given with its main release, or a release without master);

and, outside `raw/` so no pipeline step reads it, `DIR/eval/album_labels.csv.gz` (every album with
its true film, whether that film is in the catalogue, and the habits it carries) and
`DIR/eval/summary.json` (counts per habit), so recall can be broken down by habit.

The world is built from "families": a film, sometimes its sequels and a remake, each either in the
TMDB catalogue or a "ghost" (a real film the catalogue does not hold, whose albums exist on
Discogs and must never be paired). Families are generated and written one at a time, so memory is
bounded by one family, whatever `--films` is; output is a pure function of (films, seed, title
vocabulary): the same arguments give the same bytes.

Proportions (chosen to be skewed, not uniform; "album" = a master or a release without master):

Catalogue
  - languages: en 76 %, fr 5, es 4, ja 3.5, it 3, de 2.5, zh 1.5, ko 1.5, ru 1.5, hi 1.5; a
    foreign film has an English `title` and a native `original_title` (native script for ja, zh,
    ko, ru, hi);
  - titles: 13 % from a list of short common titles ("Home", "Drive", "Alone" ...), 12 % real
    TMDB 5000 titles when ../shared/data/tmdb_5000 is present (else patterns), the rest patterns;
  - families: 14 % have sequels (1-3; styles "X 2", "X II", "X: Part Two", "X 2: Subtitle",
    "X Part III"), 9 % a catalogue remake with the same title 15-45 years later;
  - release_date "" for 2 % of films; composer credit ("Original Music Composer", sometimes a
    second one, 12 % job "Music" instead) on 88 % of films with an album, 60 % of the others;
    a "Music Supervisor" credit on 15 %.
Albums of a catalogue film: 31 % of films have >= 1 (of those 80 % one, 17 % two: score + songs,
3 % three); two-film albums "X / Y": 20 % of catalogue sequels with an album share one with the
previous catalogue film of their family ("X / X 2"), 0.6 % of other films with an album with the
film generated before them (a double-feature release).
Album shape: 72 % masters (20 % of masters get 1-3 reissue releases 10-40 years later, not main),
28 % releases without master.
Habits, applied independently to true albums:
  1. filed under another genre: 11 % of albums whose title carries a soundtrack qualifier get
     Hip Hop / Rock / Pop / Electronic / Funk / Soul (weights 30/25/20/15/10) and no "Stage &
     Screen" / "Soundtrack" / "Score"; 9 % more get "Stage & Screen" plus such a genre;
  2. typo in the film part of the title: 6 % (transposed 35 %, doubled 25 %, missing 25 %,
     moved space 15 %);
  3. title forms: "X (Original Motion Picture Soundtrack)" 28 %, plain "X" 13 %, "X (Music From
     The Motion Picture)" 8 %, "X (Original Soundtrack)" 6 %, "X (Original Score)" 6 %,
     "X (Soundtrack)" 4 %, "Music From And Inspired By X" 4 %, "X [Original Soundtrack
     Recording]" 3 %, "Music From The Film X" 3 %, "X (Original Music From The Film)" 2.5 %,
     "X: The Complete Score" 2.5 %, "X OST" 2 %, "Composer - X" (composer only in credits) 2.5 %,
     deluxe / anniversary editions 3 %, "Vol. 1" 2 %, and for fr / es / it films titled in their
     language (70 % of those) "Bande Originale Du Film X" / "Banda Sonora Original X" / "X -
     Colonna Sonora Originale"; foreign films are titled by `original_title` 55 % of the time;
     80 % of titles in Discogs capitalisation (Every Word Capitalised); a sequel numeral is
     swapped digit <-> Roman 35 % of the time ("Rocky 2" vs "Rocky II", also mid-title);
  4. year: film year +0 65 %, +1 17 %, -1 3 %, +3..+10 6 % (late release / re-recording),
     unknown (0, `released` empty) 5 %, +2 4 %; reissues under the same master 10-40 years later;
  5. sequel traps: sequel albums belong to the sequel (in the catalogue 70 %, a ghost 30 %);
  6. ghosts: 6 % of families get a ghost remake (same title, 8-30 years apart) with an album
     (90 % of ghosts have one), 30 % of sequels are ghosts (and every film past --films); their
     albums carry the same habits as true ones and are never in true_pairs;
  7. noise: a non-soundtrack album (Rock / Pop / Electronic ...) titled like a common-title film
     for 30 % of such families, plus 0.06 per family (a family is 1.2 films on average) of
     ordinary albums with pattern titles, 0.015 per family of film-theme compilations ("Greatest
     Movie Themes", Various, "Stage & Screen", style Theme); the main artist of a score album is
     the composer 50 %, "Various" 30 %, a band / orchestra 20 % (songs albums 20 / 70 / 10); the
     composer is in extraartists whenever not main artist (else half the time), with role
     "Composed By" 40 %, "Music By" 25 %, "Score" 15 %, "Composed By, Conductor" 10 %,
     "Written-By" 10 %;
  8. composer name on Discogs: as on TMDB 68 %, with a numbering suffix "(n)" 14 %, an ANV
     (initial + surname, or surname) 10 %, accents dropped 8 % (only when the name has some);
     and always "(n)" for the 4 % of composer picks that are a namesake of another composer (the
     pool holds films / 6 composers, at most ~45k, skewed so a few score many films);
  9. several albums per film and two-film albums: see "Albums of a catalogue film" above; a
     two-film album gives one true_pairs row per film.

Command line::

    python -m scripts.eval_world --films N --seed S --out DIR [--prefix discogs_20250901]
                                 [--tmdb-gzip] [--overwrite] [--titles-csv PATH | --no-reference-titles]
"""
from __future__ import annotations

import argparse
import bisect
import csv
import functools
import gzip
import itertools
import json
import logging
import os
import random
import shutil
import sys
import time
import unicodedata
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TITLES_CSV = PROJECT_ROOT.parent / "shared" / "data" / "tmdb_5000" / "tmdb_5000_movies.csv"
DEFAULT_PREFIX = "discogs_20250901"
LAST_YEAR = 2025
FLUSH_CHARS = 1 << 18  # buffered text per gzip sink: bounds memory, keeps compress calls few

# --- vocabulary --------------------------------------------------------------------------------

COMMON_TITLES = (
    "Home", "Drive", "Alone", "Crash", "Heat", "Gravity", "Frozen", "Taken", "Rush", "Her", "Up",
    "It", "Us", "Split", "Fury", "Trust", "Legend", "Contact", "Signs", "Speed", "Hero", "Ghost",
    "Brave", "Paranoia", "Insomnia", "Solaris", "Vertigo", "Network", "Possession", "Nightmare",
    "Vengeance", "Escape", "Chaos", "Revenge", "Eden", "Paradise", "Silence", "Desire", "Obsession",
    "Blackout", "Survivor", "The Gift", "The Host", "The Island", "The Ring", "The Hunt", "The Visit",
    "The Fog", "The Wave", "The Storm", "Run", "Lucy", "Carrie", "Annie", "Hunger", "Wild", "Fame",
    "Twister", "Psycho", "Casablanca", "Gladiator", "Titanic", "Arrival", "Prisoners", "Sicario",
    "Locke", "Drive Me Home", "Blue", "Red", "Boy", "Mother", "Father", "Sisters", "Brothers",
)
ADJECTIVES = (
    "Last", "Dark", "Silent", "Broken", "Golden", "Lost", "Hidden", "Final", "Wild", "Cold",
    "Secret", "Little", "Big", "Red", "Black", "White", "Endless", "Burning", "Forgotten", "Sweet",
    "Dangerous", "Invisible", "Eternal", "Crimson", "Hollow", "Savage", "Blue", "Bright", "Quiet",
)
NOUNS = (
    "Night", "River", "Heart", "City", "Road", "Storm", "Kingdom", "Shadow", "Dream", "Summer",
    "Winter", "Island", "Garden", "Mirror", "Empire", "Horizon", "Promise", "Journey", "Witness",
    "Stranger", "Hunter", "Soldier", "Angel", "Devil", "Ocean", "Mountain", "Train", "Star", "Moon",
    "Fire", "Rain", "Sky", "Wolf", "Game", "House", "Girl", "Man", "Woman", "King", "Queen", "Line",
)
PLACES = (
    "Paris", "Tokyo", "Brooklyn", "Texas", "Vegas", "Berlin", "Rome", "Havana", "Chinatown",
    "Manhattan", "Alaska", "Mars", "Babylon", "Casablanca", "Memphis", "Cairo", "Moscow", "Bombay",
)
NAMES = ("Max", "Lola", "Jack", "Annie", "Johnny", "Rosa", "Frank", "Marie", "Billy", "Elena", "Oscar")
SUBTITLES = ("The Return", "Reloaded", "Revenge", "The Reckoning", "Resurrection", "Judgment Day",
             "The Next Chapter", "Homecoming", "Rise of the Fallen", "Endgame", "Origins")

FOREIGN = {
    "fr": (("La Nuit", "Le Jour", "La Femme", "L'Homme", "Le Silence", "La Vie", "Les Enfants",
            "Le Temps", "La Mer", "L'Amour", "Le Cœur", "La Fête"),
           ("du Paradis", "de la Mer", "de Paris", "perdu", "sans fin", "d'été", "des Loups",
            "du Nord", "éternel", "de minuit", "à l'écran", "des Anges")),
    "es": (("El Laberinto", "La Casa", "El Secreto", "La Noche", "El Camino", "Los Olvidados",
            "La Lengua", "El Espinazo", "La Mala", "El Niño"),
           ("del Fauno", "de Papel", "de sus Ojos", "del Diablo", "de las Mariposas", "sin Fin",
            "del Sur", "de Agua", "de la Educación", "del Mañana")),
    "it": (("La Dolce", "Il Buono", "La Vita", "Il Postino", "La Grande", "Nuovo", "C'era una Volta",
            "Il Deserto", "La Notte", "Ladri"),
           ("Vita", "è Bella", "Bellezza", "Cinema", "dei Tartari", "di Biciclette", "il West",
            "del Nord", "Rossa", "Infinita")),
    "de": (("Das Leben", "Der Himmel", "Lola", "Die Blechtrommel", "Das Boot", "Der Untergang",
            "Die Welle", "Im Westen", "Der Name", "Die Nacht"),
           ("der Anderen", "über Berlin", "rennt", "nichts Neues", "der Rose", "im Sturm",
            "ohne Ende", "am Meer", "der Nacht", "aus Eis")),
    "ja": (("千と千尋の", "もののけ", "となりの", "風の谷の", "七人の", "羅生門の", "東京", "天空の", "火垂るの", "夢の"),
           ("神隠し", "姫", "トトロ", "ナウシカ", "侍", "物語", "城", "墓", "夜", "旅")),
    "ko": (("기생", "올드", "살인의", "괴물", "부산행", "아가씨", "버닝", "박하", "마더", "밀양"),
           ("충", "보이", "추억", "열차", "의 밤", "사탕", "의 노래", "의 시간", "의 집", "의 봄")),
    "ru": (("Сталкер", "Солярис", "Андрей", "Летят", "Зеркало", "Брат", "Война", "Москва", "Иди",
            "Левиафан"),
           ("Рублёв", "журавли", "и мир", "слезам не верит", "и смотри", "ночь", "дом", "зима",
            "навсегда", "2")),
    "zh": (("卧虎", "霸王", "英雄", "花样", "大红灯笼", "重庆", "春光", "活着", "阳光", "无间"),
           ("藏龙", "别姬", "年华", "高高挂", "森林", "乍泄", "灿烂的日子", "故事", "之夜", "道")),
    "hi": (("दिलवाले", "शोले", "लगान", "मदर", "दंगल", "अंदाज़", "दीवार", "क़यामत", "ज़िंदगी", "कल"),
           ("दुल्हनिया ले जायेंगे", "इंडिया", "अपना अपना", "से क़यामत तक", "ना मिलेगी दोबारा",
            "हो ना हो", "की रात", "का सफ़र", "का दिन", "की कहानी")),
}
LANGUAGES = ("en", "fr", "es", "ja", "it", "de", "zh", "ko", "ru", "hi")
LANGUAGE_WEIGHTS = (76, 5, 4, 3.5, 3, 2.5, 1.5, 1.5, 1.5, 1.5)
COUNTRY = {"en": "US", "fr": "France", "es": "Spain", "it": "Italy", "de": "Germany", "ja": "Japan",
           "zh": "China", "ko": "South Korea", "ru": "Russia", "hi": "India"}

FIRST_NAMES = (
    "John", "Hans", "Ennio", "Howard", "James", "Danny", "Alexandre", "Thomas", "Michael", "Jerry",
    "Bernard", "Max", "Jóhann", "Hildur", "Ryuichi", "Joe", "Rachel", "Carter", "Mica", "Bear",
    "Nicholas", "Gabriel", "Alan", "Marco", "Björn", "Zbigniew", "Éric", "Angelo", "Yann", "Mark",
    "Clint", "Trent", "Atticus", "Ludwig", "Jonny", "Anne", "Christopher", "David", "Harry", "Patrick",
)
LAST_NAMES = (
    "Williams", "Zimmer", "Morricone", "Shore", "Horner", "Elfman", "Desplat", "Newman", "Giacchino",
    "Goldsmith", "Herrmann", "Steiner", "Jóhannsson", "Guðnadóttir", "Sakamoto", "Hisaishi", "Portman",
    "Burwell", "Levi", "McCreary", "Britell", "Yared", "Silvestri", "Beltrami", "Preisner", "Serra",
    "Tiersen", "Badalamenti", "Mansell", "Reznor", "Göransson", "Greenwood", "Dudley", "Gregson-Williams",
    "Powell", "Doyle", "Navarrete", "Frizzell", "Isham", "Kilar", "Müller", "Ødegaard",
)
BANDS = ("The London Symphony Orchestra", "Hollywood Studio Orchestra", "The City Of Prague Philharmonic",
         "Nine Inch Nails", "Goblin", "Tangerine Dream", "Daft Punk", "Air", "Clint Mansell & Kronos Quartet",
         "The Chemical Brothers", "Simon & Garfunkel", "Various Artists Orchestra")
NOISE_ARTISTS = ("Vince Watson", "The Persuader", "Soleil (2)", "Depeche Mode", "GusGus", "Kraftwerk",
                 "Mogwai", "Slowdive", "Burial", "Röyksopp", "The National", "Beach House", "Low",
                 "Boards Of Canada", "Sade", "Madvillain", "Portishead", "Can")
COMPILATIONS = ("Greatest Movie Themes", "Great Film Themes No. 3", "Hollywood's Best", "Movie Hits",
                "The Best Of James Bond 30th Anniversary", "Music From The Movies", "Cinema Classics",
                "100 Greatest Film Scores", "Blockbusters", "Love Themes From The Movies",
                "Now That's What I Call Movies", "Themes From Classic Science Fiction Films")
LABELS = (("Varèse Sarabande", 5), ("Milan", 36), ("Sony Classical", 1866), ("Lakeshore Records", 26178),
          ("Decca", 1334), ("Atlantic", 6), ("Interscope Records", 2311), ("La-La Land Records", 33367),
          ("Intrada", 23139), ("Silva Screen Records", 1613), ("Cam", 10451), ("Beat Records Company", 50513),
          ("Warp Records", 23528), ("Polydor", 1100), ("Columbia", 1866))
OTHER_GENRES = ("Hip Hop", "Rock", "Pop", "Electronic", "Funk / Soul")
OTHER_GENRE_WEIGHTS = (30, 25, 20, 15, 10)
OTHER_STYLES = {"Hip Hop": ("Gangsta", "Conscious", "Boom Bap"), "Rock": ("Alternative Rock", "Indie Rock"),
                "Pop": ("Synth-pop", "Ballad"), "Electronic": ("Ambient", "Techno", "Synthwave"),
                "Funk / Soul": ("Soul", "Funk", "Rhythm & Blues")}
TMDB_GENRES = ((28, "Action"), (12, "Adventure"), (16, "Animation"), (35, "Comedy"), (80, "Crime"),
               (99, "Documentary"), (18, "Drama"), (10751, "Family"), (14, "Fantasy"), (36, "History"),
               (27, "Horror"), (10402, "Music"), (9648, "Mystery"), (10749, "Romance"),
               (878, "Science Fiction"), (53, "Thriller"), (10752, "War"), (37, "Western"))
NAME_COMBINATIONS = len(FIRST_NAMES) * len(LAST_NAMES) * 27  # 27: no middle initial, or A..Z
ROMAN = {2: "II", 3: "III", 4: "IV", 5: "V"}
ORDINAL = {2: "Two", 3: "Three", 4: "Four", 5: "Five"}

# Title forms (habit 3): (weight, template, tag). {x} is the film part of the title.
TITLE_FORMS = (
    (28, "{x} (Original Motion Picture Soundtrack)", "ompst"),
    (13, "{x}", "plain"),
    (8, "{x} (Music From The Motion Picture)", "music_from_motion_picture"),
    (6, "{x} (Original Soundtrack)", "original_soundtrack"),
    (6, "{x} (Original Score)", "original_score"),
    (4, "{x} (Soundtrack)", "soundtrack_paren"),
    (4, "Music From And Inspired By {x}", "inspired_by"),
    (3, "{x} [Original Soundtrack Recording]", "osr_brackets"),
    (3, "Music From The Film {x}", "music_from_film"),
    (2.5, "{x} (Original Music From The Film)", "original_music_from_film"),
    (2.5, "{x}: The Complete Score", "complete_score"),
    (2, "{x} OST", "ost"),
    (2.5, "{composer} - {x}", "composer_prefix"),
    (1.5, "{x} (Original Motion Picture Soundtrack) (Deluxe Edition)", "deluxe"),
    (1.5, "{x} ({n}th Anniversary Edition)", "anniversary"),
    (2, "{x} (Original Motion Picture Soundtrack) Vol. 1", "vol1"),
)
LOCAL_FORMS = {"fr": ("Bande Originale Du Film {x}", "bof"), "es": ("Banda Sonora Original {x}", "bso"),
               "it": ("{x} - Colonna Sonora Originale", "colonna")}
QUALIFIER_FREE = {"plain", "composer_prefix", "anniversary", "two_film"}
EXTRA_ROLES = (("Composed By", 40), ("Music By", 25), ("Score", 15), ("Composed By, Conductor", 10),
               ("Written-By", 10))
EXTRA_ROLE_NAMES = tuple(r for r, _ in EXTRA_ROLES)
EXTRA_ROLE_WEIGHTS = tuple(w for _, w in EXTRA_ROLES)
TITLE_FORM_CHOICES = tuple((t, tag) for _, t, tag in TITLE_FORMS)
TITLE_FORM_WEIGHTS = tuple(w for w, _, _ in TITLE_FORMS)


class _FastRandom(random.Random):
    """`random.Random` with one `random()` call per pick: the world makes ~50 picks a film.

    The stock `choice` / `randint` / `randrange` draw unbiased integers bit by bit; a float draw is
    about four times faster, and the tiny bias (< 2**-40 for these ranges) does not matter here.
    """

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]

    def randint(self, a: int, b: int) -> int:
        return a + int(self.random() * (b - a + 1))

    def randrange(self, stop: int) -> int:  # type: ignore[override]  # only randrange(stop) is used
        return int(self.random() * stop)


@functools.cache
def _cumulative(weights: tuple) -> tuple:
    return tuple(itertools.accumulate(weights))


def _weighted(rng: random.Random, items: Sequence, weights: tuple):
    """One item of `items`, drawn with `weights` (a tuple, so its running sums are cached)."""
    cum = _cumulative(weights)
    return items[bisect.bisect(cum, rng.random() * cum[-1])]


def load_reference_titles(path: Path | None) -> tuple[str, ...]:
    """English-language titles of the TMDB 5000 CSV at `path`; () when it is None or absent."""
    if path is None or not Path(path).is_file():
        return ()
    titles = set()
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            title = (row.get("title") or "").strip()
            if title and row.get("original_language") == "en" and title.isascii():
                titles.add(title)
    return tuple(sorted(titles))


# --- text habits -------------------------------------------------------------------------------

def plural(noun: str) -> str:
    """English plural of the vocabulary's nouns ("Witnesses", "Skies", "Women")."""
    if noun.endswith("man"):
        return noun[:-3] + "men"
    if noun.endswith("Man"):
        return noun[:-3] + "Men"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith("f"):
        return noun[:-1] + "ves"
    return noun + "s"


def discogs_case(text: str) -> str:
    """Discogs capitalises every word of an English title ("Lord Of The Rings")."""
    return " ".join(word[:1].upper() + word[1:] for word in text.split(" "))


def strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)).replace(
        "ð", "d").replace("Ø", "O").replace("ø", "o")


def typo(rng: random.Random, text: str) -> tuple[str, str]:
    """One typo of the kinds seen on Discogs; returns (new text, kind)."""
    letters = [i for i in range(len(text) - 1) if text[i].isalpha() and text[i + 1].isalpha()]
    if len(letters) < 2:
        return text + text[-1], "doubled"
    kind = _weighted(rng, ("transposed", "doubled", "missing", "moved_space"), (35, 25, 25, 15))
    i = rng.choice(letters)
    if kind == "transposed" and text[i] == text[i + 1]:
        kind = "doubled"  # swapping "oo" would change nothing
    if kind == "transposed":
        return text[:i] + text[i + 1] + text[i] + text[i + 2:], kind
    if kind == "doubled":
        return text[:i + 1] + text[i] + text[i + 1:], kind
    if kind == "missing":
        return text[:i] + text[i + 1:], kind
    if " " in text and rng.random() < 0.5:  # "Star Wars" -> "StarWars"
        j = text.index(" ")
        return text[:j] + text[j + 1:], kind
    return text[:i + 1] + " " + text[i + 1:], kind  # "The Godf ather"


def swap_numeral(text: str) -> str:
    """Swap a sequel numeral between digits and Roman numerals wherever it stands in the title."""
    words = text.split(" ")
    for i, word in enumerate(words):
        core = word.rstrip(":")
        tail = word[len(core):]
        for n, roman in ROMAN.items():
            if core == str(n):
                words[i] = roman + tail
                return " ".join(words)
            if core == roman:
                words[i] = str(n) + tail
                return " ".join(words)
    return text


# --- output ------------------------------------------------------------------------------------

def _xml(text: str) -> str:
    """Escape for XML text and attributes; non-ASCII as character references, like the real dumps."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .encode("ascii", "xmlcharrefreplace").decode("ascii"))


def _artists_xml(tag: str, artists: list[dict]) -> str:
    if not artists:
        return f"<{tag}/>" if tag == "extraartists" else ""
    parts = [f"<{tag}>"]
    for a in artists:
        anv = f"<anv>{_xml(a['anv'])}</anv>" if a.get("anv") else "<anv/>"
        join = f"<join>{_xml(a['join'])}</join>" if a.get("join") else "<join/>"
        role = f"<role>{_xml(a['role'])}</role>" if a.get("role") else "<role/>"
        parts.append(f"<artist><id>{a['id']}</id><name>{_xml(a['name'])}</name>{anv}{join}{role}<tracks/></artist>")
    parts.append(f"</{tag}>")
    return "".join(parts)


def _list_xml(container: str, tag: str, values: list[str]) -> str:
    if not values:
        return ""
    return f"<{container}>" + "".join(f"<{tag}>{_xml(v)}</{tag}>" for v in values) + f"</{container}>"


class _GzipSink:
    """Buffered text sink into a gzip file with a fixed header (same input, same bytes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = open(path, "wb")
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=5)
        self._buffer: list[str] = []
        self._buffered = 0

    def write(self, text: str) -> None:
        self._buffer.append(text)
        self._buffered += len(text)
        if self._buffered >= FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        if self._buffer:
            self._gz.write("".join(self._buffer).encode("utf-8"))
            self._buffer.clear()
            self._buffered = 0

    def close(self) -> None:
        self.flush()
        self._gz.close()
        self._raw.close()


class _TextSink:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = open(path, "w", encoding="utf-8", newline="\n", buffering=FLUSH_CHARS)

    def write(self, text: str) -> None:
        self._handle.write(text)

    def close(self) -> None:
        self._handle.close()


# --- the world ---------------------------------------------------------------------------------

class EvalWorld:
    """Generates the world family by family and writes it through the sinks given to `write`."""

    def __init__(self, films: int, seed: int, reference_titles: Sequence[str] = ()) -> None:
        if films < 1:
            raise ValueError(f"films must be at least 1, got {films}")
        self.n_films = films
        self.rng = _FastRandom(seed)
        self.reference_titles = tuple(reference_titles)
        # One composer per ~6 films, capped below the number of distinct names so that the share
        # of same-name composers does not grow with the world (see _pick_composer).
        self.composer_pool = max(60, min(films // 6, NAME_COMBINATIONS - 1))
        self.next_tmdb = 11
        self.next_master = 10_003
        self.next_release = 100_007
        self.films_written = 0
        self.prev_film: dict | None = None
        self.counts: dict[str, int] = {}

    # ids: increasing with gaps, like the real sparse id spaces
    def _tmdb_id(self) -> int:
        self.next_tmdb += self.rng.randint(1, 9)
        return self.next_tmdb

    def _master_id(self) -> int:
        self.next_master += self.rng.randint(1, 40)
        return self.next_master

    def _release_id(self) -> int:
        self.next_release += self.rng.randint(1, 60)
        return self.next_release

    def _count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    # --- people --------------------------------------------------------------------------------
    def composer(self, k: int) -> dict:
        """Composer number k: a TMDB person and a Discogs artist; name collisions get "(n)" on Discogs."""
        nf, nl = len(FIRST_NAMES), len(LAST_NAMES)
        middle = (k // (nf * nl)) % 27  # 0: none, else a middle initial, as real credits vary
        initial = f" {chr(65 + (middle * 11 + k) % 26)}." if middle else ""
        name = f"{FIRST_NAMES[k % nf]}{initial} {LAST_NAMES[(k // nf + k) % nl]}"
        clash = k // (nf * nl * 27)
        return {"k": k, "name": name, "tmdb_id": 1_000_003 + 17 * k, "discogs_id": 200_011 + 13 * k,
                "discogs_name": f"{name} ({clash + 1})" if clash else name}

    def _pick_composer(self) -> dict:
        # A few composers score many films: a skewed pick over the pool. 4 % of picks are a
        # lesser-known namesake of a pool composer (same name, other person: "(2)".."(4)" on Discogs).
        k = int(self.composer_pool * self.rng.random() ** 2.5)
        if self.rng.random() < 0.04:
            k += NAME_COMBINATIONS * self.rng.randint(1, 3)
        return self.composer(k)

    # --- titles --------------------------------------------------------------------------------
    def _base_title(self) -> tuple[str, str]:
        rng = self.rng
        u = rng.random()
        if u < 0.13:
            return rng.choice(COMMON_TITLES), "common"
        if u < 0.25 and self.reference_titles:
            return rng.choice(self.reference_titles), "tmdb5000"
        pattern = rng.randrange(9)
        a, n, n2 = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(NOUNS)
        title = (f"The {a} {n}", f"{n} of the {n2}", f"{rng.choice(NAMES)}'s {n}", f"A {n} in {rng.choice(PLACES)}",
                 f"{n} {n2}", f"The {n}", f"{a} {plural(n)}", f"Return to {rng.choice(PLACES)}",
                 f"Last {n} in {rng.choice(PLACES)}")[pattern]
        return title, "pattern"

    def _native_title(self, lang: str) -> str:
        first, second = FOREIGN[lang]
        sep = "" if lang in ("ja", "zh") else " "
        return f"{self.rng.choice(first)}{sep}{self.rng.choice(second)}"

    @staticmethod
    def sequel_title(base: str, n: int, style: str, subtitle: str) -> str:
        if style == "digit":
            return f"{base} {n}"
        if style == "roman":
            return f"{base} {ROMAN[n]}"
        if style == "part":
            return f"{base}: Part {ORDINAL[n]}"
        if style == "digit_sub":
            return f"{base} {n}: {subtitle}"
        return f"{base} Part {ROMAN[n]}"

    # --- films ---------------------------------------------------------------------------------
    def _film(self, title: str, year: int, lang: str, original_title: str, *, family: str,
              sequel_of: str | None = None, in_catalogue: bool = True) -> dict:
        composers = [self._pick_composer()]
        if self.rng.random() < 0.08:
            composers.append(self._pick_composer())
        return {"tmdb_id": None, "title": title, "original_title": original_title, "lang": lang, "year": year,
                "composers": composers, "family": family, "sequel_of": sequel_of, "in_catalogue": in_catalogue}

    def _family(self) -> list[dict]:
        rng = self.rng
        base, source = self._base_title()
        lang = _weighted(rng, LANGUAGES, LANGUAGE_WEIGHTS)
        year = min(LAST_YEAR, int(1930 + 95 * rng.random() ** 0.6))
        original = base if lang == "en" else self._native_title(lang)
        first = self._film(base, year, lang, original, family=base)
        first["title_source"] = source
        films = [first]
        if rng.random() < 0.14:
            style = _weighted(rng, ("digit", "roman", "part", "digit_sub", "part_roman"), (35, 20, 20, 15, 10))
            for n in range(2, 2 + rng.choice((1, 1, 1, 2, 2, 3))):
                year = min(LAST_YEAR, year + rng.randint(2, 5))
                title = self.sequel_title(base, n, style, rng.choice(SUBTITLES))
                native = title if lang == "en" else self.sequel_title(original, n, "digit", "")
                films.append(self._film(title, year, lang, native, family=base, sequel_of=base,
                                        in_catalogue=rng.random() < 0.7))
                films[-1]["sequel_n"] = n
        if rng.random() < 0.09 and first["year"] <= LAST_YEAR - 15:
            films.append(self._film(base, rng.randint(first["year"] + 15, min(LAST_YEAR, first["year"] + 45)),
                                    "en", base, family=base))
            films[-1]["remake"] = True
        if rng.random() < 0.06:
            ghost_year = first["year"] - rng.randint(8, 30) if rng.random() < 0.5 else first["year"] + rng.randint(8, 30)
            films.append(self._film(base, max(1930, min(LAST_YEAR, ghost_year)), "en", base, family=base,
                                    in_catalogue=False))
            films[-1]["remake"] = True
        return films

    def _tmdb_body(self, film: dict) -> dict:
        rng = self.rng
        fid = film["tmdb_id"]
        crew = []
        has_album = film.get("has_album", False)
        if rng.random() < (0.88 if has_album else 0.60):
            for c in film["composers"]:
                job = "Music" if rng.random() < 0.12 else "Original Music Composer"
                crew.append({"adult": False, "gender": 2, "id": c["tmdb_id"], "known_for_department": "Sound",
                             "name": c["name"], "original_name": c["name"], "popularity": round(rng.random() * 3, 3),
                             "profile_path": None, "credit_id": f"{fid:012x}{c['k'] % 4096:04x}c0ffee00",
                             "department": "Sound", "job": job})
        director = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        crew.append({"adult": False, "gender": 2, "id": 3_000_001 + rng.randrange(500_000),
                     "known_for_department": "Directing", "name": director, "original_name": director,
                     "popularity": round(rng.random() * 5, 3), "profile_path": None,
                     "credit_id": f"{fid:012x}0000d1ec7000", "department": "Directing", "job": "Director"})
        if rng.random() < 0.15:
            sup = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
            crew.append({"adult": False, "gender": 1, "id": 3_600_001 + rng.randrange(100_000),
                         "known_for_department": "Sound", "name": sup, "original_name": sup, "popularity": 0.6,
                         "profile_path": None, "credit_id": f"{fid:012x}0000505e7000", "department": "Sound",
                         "job": "Music Supervisor"})
        cast = []
        for order in range(rng.randint(1, 3)):
            actor = f"{rng.choice(NAMES)} {rng.choice(LAST_NAMES)}"
            cast.append({"adult": False, "gender": rng.choice((1, 2)), "id": 4_000_001 + rng.randrange(900_000),
                         "known_for_department": "Acting", "name": actor, "original_name": actor,
                         "popularity": round(rng.random() * 10, 3), "profile_path": None, "cast_id": order + 1,
                         "character": rng.choice(NAMES), "credit_id": f"{fid:012x}{order:04x}ca570000",
                         "order": order})
        no_date = rng.random() < 0.02
        date = "" if no_date else f"{film['year']}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        genres = [{"id": g, "name": n} for g, n in rng.sample(TMDB_GENRES, rng.randint(1, 3))]
        popularity = round(0.6 + 80 * rng.random() ** 6, 4)
        collection = None
        if film.get("sequel_of") or film.get("has_sequels"):
            collection = {"id": 90_000 + zlib.crc32(film["family"].encode("utf-8")) % 900_000,
                          "name": f"{film['family']} Collection",
                          "poster_path": None, "backdrop_path": None}
        return {
            "adult": False, "backdrop_path": None, "belongs_to_collection": collection,
            "budget": rng.choice((0, 0, 1_000_000 * rng.randint(1, 200))), "genres": genres, "homepage": "",
            "id": fid, "imdb_id": f"tt{fid * 3 + 7:07d}" if rng.random() < 0.93 else None,
            "origin_country": [COUNTRY[film["lang"]][:2].upper()], "original_language": film["lang"],
            "original_title": film["original_title"], "overview": f"A film about {film['title'].lower()}.",
            "popularity": popularity, "poster_path": None,
            "production_companies": [], "production_countries": [],
            "release_date": date, "revenue": 0, "runtime": rng.randint(75, 170) if rng.random() < 0.95 else None,
            "spoken_languages": [{"english_name": film["lang"], "iso_639_1": film["lang"], "name": ""}],
            "status": "Released", "tagline": "", "title": film["title"], "video": False,
            "vote_average": round(rng.uniform(3, 9), 3), "vote_count": int(3000 * rng.random() ** 4),
            "credits": {"cast": cast, "crew": crew},
        }

    # --- albums --------------------------------------------------------------------------------
    def _film_part(self, film: dict, habits: list[str]) -> tuple[str, bool]:
        """The film's name as it appears in the album title; True when in the film's own language."""
        rng = self.rng
        native = film["lang"] != "en" and rng.random() < 0.55
        text = film["original_title"] if native else film["title"]
        if native:
            habits.append("foreign_original_title")
        if film.get("sequel_n") and rng.random() < 0.35:
            swapped = swap_numeral(text)
            if swapped != text:
                text = swapped
                habits.append("numeral_swapped")
        if not native and rng.random() < 0.8:
            text = discogs_case(text)
        if rng.random() < 0.06:
            text, kind = typo(rng, text)
            habits.append(f"typo_{kind}")
        return text, native

    def _album_title(self, film: dict, kind: str, habits: list[str], discogs_composer: str) -> str:
        rng = self.rng
        part, native = self._film_part(film, habits)
        if native and film["lang"] in LOCAL_FORMS and rng.random() < 0.7:
            template, tag = LOCAL_FORMS[film["lang"]]
        elif kind == "songs":
            template, tag = _weighted(rng, (("{x} (Original Motion Picture Soundtrack)", "ompst"),
                                            ("Music From And Inspired By {x}", "inspired_by"),
                                            ("{x} (Music From The Motion Picture)", "music_from_motion_picture"),
                                            ("{x} (Soundtrack)", "soundtrack_paren")), (50, 25, 15, 10))
        else:
            template, tag = _weighted(rng, TITLE_FORM_CHOICES, TITLE_FORM_WEIGHTS)
        habits.append(f"form_{tag}")
        return template.format(x=part, composer=discogs_composer, n=rng.choice((20, 25, 30, 40, 50)))

    def _discogs_composer(self, composer: dict, habits: list[str]) -> dict:
        """The composer as credited on Discogs: name (with variants, habit 8) and ANV."""
        rng = self.rng
        name, anv = composer["discogs_name"], ""
        u = rng.random()
        if composer["discogs_name"] != composer["name"]:
            habits.append("composer_numbered")
        elif u < 0.14:
            name = f"{composer['name']} ({rng.randint(2, 9)})"
            habits.append("composer_numbered")
        elif u < 0.24:
            first, last = composer["name"].split(" ", 1)
            last = last.split(". ", 1)[-1]
            anv = last if rng.random() < 0.5 else f"{first[0]}. {last}"
            habits.append("composer_anv")
        elif u < 0.32 and strip_accents(composer["name"]) != composer["name"]:
            name = strip_accents(composer["name"])
            habits.append("composer_accents_dropped")
        return {"id": composer["discogs_id"], "name": name, "anv": anv, "join": "", "role": ""}

    def _album_year(self, film_year: int, habits: list[str]) -> int:
        rng = self.rng
        shift = _weighted(rng, (0, 1, -1, 2, "late", "unknown"), (65, 17, 3, 4, 6, 5))
        if shift == "unknown":
            habits.append("year_unknown")
            return 0
        if shift == "late":
            habits.append("year_late")
            shift = rng.randint(3, 10)
        return min(LAST_YEAR, film_year + shift)

    def _genres(self, title_tag: str, habits: list[str]) -> tuple[list[str], list[str]]:
        rng = self.rng
        u = rng.random()
        if title_tag not in QUALIFIER_FREE and u < 0.11:
            genre = _weighted(rng, OTHER_GENRES, OTHER_GENRE_WEIGHTS)
            habits.append("genre_elsewhere")
            return [genre], [rng.choice(OTHER_STYLES[genre])]
        if u < 0.20:
            genre = _weighted(rng, OTHER_GENRES, OTHER_GENRE_WEIGHTS)
            habits.append("genre_mixed")
            return [genre, "Stage & Screen"], [rng.choice(OTHER_STYLES[genre]), "Soundtrack"]
        styles = _weighted(rng, (["Soundtrack"], ["Score"], ["Soundtrack", "Score"], ["Score", "Modern Classical"]),
                           (45, 25, 20, 10))
        return ["Stage & Screen"], list(styles)

    def _soundtrack_album(self, films: list[dict], kind: str, sinks: dict) -> None:
        """One album (master + releases, or a lone release) made for `films` (1, or 2 for "X / Y")."""
        rng = self.rng
        film = films[0]
        habits: list[str] = []
        composer = self._discogs_composer(film["composers"][0], habits)
        shown = composer["anv"] or composer["name"]
        if len(films) == 2:
            habits.append("two_film")
            title = " / ".join(discogs_case(f["title"]) for f in films)
            habits.append("form_two_film")
        else:
            title = self._album_title(film, kind, habits, shown)
        if kind == "songs":
            habits.append("songs_album")
        tag = next(h[5:] for h in habits if h.startswith("form_"))
        genres, styles = self._genres(tag, habits)
        year = self._album_year(max(f["year"] for f in films), habits)
        who = _weighted(rng, ("composer", "various", "band"), (20, 70, 10) if kind == "songs" else (50, 30, 20))
        if tag == "composer_prefix":
            who = "various"  # the composer is only in the title and the credits
        if who == "composer":
            artists = [composer]
            habits.append("artist_composer")
        elif who == "various":
            artists = [{"id": 194, "name": "Various", "anv": "", "join": "", "role": ""}]
            habits.append("artist_various")
        else:
            band = rng.choice(BANDS)
            artists = [{"id": 500_000 + BANDS.index(band), "name": band, "anv": "", "join": "", "role": ""}]
            habits.append("artist_band")
        role = _weighted(rng, EXTRA_ROLE_NAMES, EXTRA_ROLE_WEIGHTS)
        extra = [dict(composer, role=role)] if who != "composer" or rng.random() < 0.5 else []
        if extra:
            habits.append("extraartist_" + role.split(",")[0].lower().replace(" ", "_").replace("-", "_"))
        if film["sequel_of"]:
            habits.append("sequel_album")
        if film.get("remake"):
            habits.append("remake_album")
        true_film = film["tmdb_id"] if film["in_catalogue"] else None
        if not film["in_catalogue"]:
            habits.append("ghost_film")
        self._write_album(title, year, artists, extra, genres, styles, habits, [f["tmdb_id"] for f in films
                          if f["in_catalogue"]], true_film, sinks, allow_reissue=True)

    def _write_album(self, title: str, year: int, artists: list[dict], extra: list[dict], genres: list[str],
                     styles: list[str], habits: list[str], pair_ids: list[int], true_film: int | None,
                     sinks: dict, allow_reissue: bool) -> None:
        rng = self.rng
        has_master = rng.random() < 0.72
        label, label_id = rng.choice(LABELS)
        n_reissues = rng.choice((1, 1, 2, 3)) if has_master and allow_reissue and rng.random() < 0.2 else 0
        master_id = self._master_id() if has_master else None
        release_ids = [self._release_id() for _ in range(1 + n_reissues)]
        if n_reissues:
            habits.append("reissues")
        for i, rid in enumerate(release_ids):
            if i == 0:
                ryear = year
                rtitle = title
            else:
                base = year or rng.randint(1960, 2000)
                ryear = min(LAST_YEAR, base + rng.randint(10, 40))
                round_ages = [age for age in (10, 20, 25, 30, 40) if age <= ryear - base]
                edition = f" ({round_ages[-1]}th Anniversary Edition)" if round_ages else " (Remastered)"
                rtitle = title + rng.choice(("", "", " (Remastered)", edition))
            released = "" if ryear == 0 else _weighted(
                rng, (f"{ryear}", f"{ryear}-{rng.randint(1, 12):02d}-00",
                      f"{ryear}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"),
                (30, 20, 50))
            fmt = _weighted(rng, ("CD", "Vinyl", "File", "Cassette"), (50, 25, 20, 5))
            desc = {"CD": ["Album"], "Vinyl": ["LP", "Album"], "File": ["FLAC", "Album"], "Cassette": ["Album"]}[fmt]
            master_xml = (f'<master_id is_main_release="{"true" if i == 0 else "false"}">{master_id}</master_id>'
                          if master_id else "")
            sinks["releases"].write(
                f'<release id="{rid}" status="Accepted"><images><image type="primary" uri="" uri150="" '
                f'width="600" height="600"/></images>{_artists_xml("artists", artists)}<title>{_xml(rtitle)}</title>'
                f'<labels><label name="{_xml(label)}" catno="{label_id % 97}-{rid % 100000}" id="{label_id}"/></labels>'
                f'{_artists_xml("extraartists", extra)}<formats><format name="{fmt}" qty="1" text="">'
                f'{_list_xml("descriptions", "description", desc)}</format></formats>'
                f'{_list_xml("genres", "genre", genres)}{_list_xml("styles", "style", styles)}'
                f'<country>{_xml(rng.choice(("US", "UK", "Europe", "Germany", "Japan", "France", "Italy")))}</country>'
                f'<released>{released}</released><data_quality>{rng.choice(("Correct", "Needs Vote", "Needs Vote"))}'
                f'</data_quality>{master_xml}<tracklist><track><position>1</position><title>Main Title</title>'
                f'<duration>{rng.randint(1, 6)}:{rng.randint(0, 59):02d}</duration></track></tracklist></release>\n')
        if master_id:
            sinks["masters"].write(
                f'<master id="{master_id}"><main_release>{release_ids[0]}</main_release><images><image type="primary" '
                f'uri="" uri150="" width="300" height="300"/></images>{_artists_xml("artists", artists)}'
                f'{_list_xml("genres", "genre", genres)}{_list_xml("styles", "style", styles)}<year>{year}</year>'
                f'<title>{_xml(title)}</title><data_quality>Correct</data_quality></master>\n')
        for tmdb_id in pair_ids:
            sinks["pairs"].write(f"{tmdb_id},{master_id or ''},{release_ids[0]}\n")
        self._count("albums")
        self._count("true_pairs", len(pair_ids))
        for habit in habits:
            self._count(habit)
        film_field = ";".join(str(i) for i in pair_ids)
        sinks["labels"].write(
            f"{master_id or ''},{release_ids[0]},{film_field},{int(bool(pair_ids))},"
            f"{len(release_ids)},{' '.join(habits)}\n")

    def _noise_album(self, title: str, kind: str, sinks: dict) -> None:
        rng = self.rng
        year = rng.randint(1965, LAST_YEAR)
        if kind == "compilation":
            artists = [{"id": 194, "name": "Various", "anv": "", "join": "", "role": ""}]
            genres, styles = ["Stage & Screen"], rng.choice((["Theme"], ["Soundtrack", "Theme"], ["Score"]))
            habits = ["noise_compilation"]
        else:
            artist = rng.choice(NOISE_ARTISTS)
            artists = [{"id": 600_000 + NOISE_ARTISTS.index(artist), "name": artist, "anv": "", "join": "", "role": ""}]
            genre = _weighted(rng, OTHER_GENRES, OTHER_GENRE_WEIGHTS)
            genres, styles = [genre], [rng.choice(OTHER_STYLES[genre])]
            habits = [f"noise_{kind}"]
        self._write_album(title, year, artists, [], genres, styles, habits, [], None, sinks, allow_reissue=True)

    # --- driver --------------------------------------------------------------------------------
    def _emit_family(self, films: list[dict], sinks: dict) -> None:
        rng = self.rng
        for film in films:
            if film["in_catalogue"] and self.films_written < self.n_films:
                film["tmdb_id"] = self._tmdb_id()
                self.films_written += 1
            else:
                film["in_catalogue"] = False
            film["has_album"] = rng.random() < (0.31 if film["in_catalogue"] else 0.9)
        films[0]["has_sequels"] = len([f for f in films if f["sequel_of"]]) > 0
        family_prev: dict | None = None  # the previous catalogue film of this family
        for film in films:
            previous_in_family, family_prev = family_prev, (film if film["in_catalogue"] else family_prev)
            if film["in_catalogue"]:
                sinks["films"].write(json.dumps(self._tmdb_body(film), ensure_ascii=False,
                                                separators=(",", ":")) + "\n")
                self._count("films")
                if film.get("title_source"):
                    self._count(f"film_title_{film['title_source']}")
                if film["lang"] != "en":
                    self._count("films_foreign")
            else:
                self._count("ghost_films")
            if not film["has_album"]:
                continue
            if film["in_catalogue"]:
                self._count("films_with_album")
            if film["in_catalogue"] and film["sequel_of"] and previous_in_family and rng.random() < 0.2:
                self._soundtrack_album([previous_in_family, film], "score", sinks)  # "X / X 2"
            elif film["in_catalogue"] and self.prev_film is not None and rng.random() < 0.006:
                self._soundtrack_album([self.prev_film, film], "score", sinks)  # a double-feature release
            n = _weighted(rng, (1, 2, 3), (80, 17, 3))
            for i in range(n):
                self._soundtrack_album([film], "songs" if i == 1 else "score", sinks)
            if film["in_catalogue"]:
                self.prev_film = {k: film[k] for k in ("tmdb_id", "title", "original_title", "lang", "year",
                                                         "composers", "family", "sequel_of", "in_catalogue")}
        if films[0]["title_source"] == "common" and rng.random() < 0.30:
            self._noise_album(films[0]["title"], "namesake_record", sinks)
        if rng.random() < 0.015:
            self._noise_album(rng.choice(COMPILATIONS), "compilation", sinks)
        if rng.random() < 0.06:
            title, _ = self._base_title()
            self._noise_album(discogs_case(title), "ordinary", sinks)

    def families(self) -> Iterator[list[dict]]:
        while self.films_written < self.n_films:
            yield self._family()

    def write(self, sinks: dict) -> None:
        sinks["masters"].write("<masters>\n")
        sinks["releases"].write("<releases>\n")
        sinks["pairs"].write("tmdb_id,discogs_master_id,discogs_release_id\n")
        sinks["labels"].write("discogs_master_id,discogs_release_id,tmdb_ids,is_true_album,releases,habits\n")
        for family in self.families():
            self._emit_family(family, sinks)
        sinks["masters"].write("</masters>\n")
        sinks["releases"].write("</releases>\n")


class OutputExistsError(FileExistsError):
    """`--out` already holds a world (or other raw files) that this run would mix with."""


def _check_target(out: Path, names: Sequence[str], overwrite: bool) -> None:
    """Refuse to mix a new world with raw files already under `out`.

    A pipeline reads every `raw/tmdb/*.jsonl*` and `raw/discogs/*` file, so a leftover file from
    another run would silently join the new world. Only the files this run writes may be replaced,
    and only with `overwrite`.
    """
    raw = out / "raw"
    existing = sorted(str(p.relative_to(out)) for p in raw.rglob("*") if p.is_file()) if raw.is_dir() else []
    foreign = [name for name in existing if name not in names]
    if foreign:
        raise OutputExistsError(f"{raw} holds files this run would not replace ({', '.join(foreign[:5])}); "
                                "choose an empty --out")
    if existing and not overwrite:
        raise OutputExistsError(f"{raw} already holds a world; pass --overwrite to replace it")


def generate(out: Path, films: int, seed: int, *, prefix: str = DEFAULT_PREFIX,
             reference_titles: Sequence[str] = (), tmdb_gzip: bool = False, overwrite: bool = False) -> dict:
    """Write the world under `out` (raw/ and eval/) and return the summary counts.

    Files are written under `out/.eval_world.part/` and moved into place only when complete, so an
    interrupted run never leaves a half-written world that looks whole. `tmdb_gzip` writes
    `raw/tmdb/films.jsonl.gz` instead of the plain (splittable, but ~1.7 kB a film) `films.jsonl`.
    """
    films_name = "raw/tmdb/films.jsonl.gz" if tmdb_gzip else "raw/tmdb/films.jsonl"
    names = (films_name, f"raw/discogs/{prefix}_masters.xml.gz", f"raw/discogs/{prefix}_releases.xml.gz",
             "raw/true_pairs.csv", "eval/album_labels.csv.gz", "eval/summary.json")
    out = Path(out)
    _check_target(out, names, overwrite)
    work = out / ".eval_world.part"
    if work.exists():
        shutil.rmtree(work)
    (work / "raw" / "tmdb").mkdir(parents=True)
    (work / "raw" / "discogs").mkdir(parents=True)
    (work / "eval").mkdir(parents=True)
    world = EvalWorld(films, seed, reference_titles)
    started = time.monotonic()
    sinks = {
        "films": (_GzipSink if tmdb_gzip else _TextSink)(work / films_name),
        "masters": _GzipSink(work / "raw" / "discogs" / f"{prefix}_masters.xml.gz"),
        "releases": _GzipSink(work / "raw" / "discogs" / f"{prefix}_releases.xml.gz"),
        "pairs": _TextSink(work / "raw" / "true_pairs.csv"),
        "labels": _GzipSink(work / "eval" / "album_labels.csv.gz"),
    }
    try:
        try:
            world.write(sinks)
        finally:
            for sink in sinks.values():
                sink.close()
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)  # our own scratch folder, never a published file
        raise
    summary = {"films": films, "seed": seed, "prefix": prefix, "reference_titles": len(reference_titles),
               "seconds": round(time.monotonic() - started, 1), "counts": dict(sorted(world.counts.items()))}
    (work / "eval" / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for sub in names:
        dest = out / sub
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(work / sub, dest)
    shutil.rmtree(work)
    return summary


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m scripts.eval_world",
                                     description="Write an independent labelled evaluation world (DIR/raw, DIR/eval).")
    parser.add_argument("--films", type=int, required=True, help="number of TMDB films in the catalogue")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="dump file prefix (default %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace a world generated before in DIR")
    parser.add_argument("--tmdb-gzip", action="store_true", help="write raw/tmdb/films.jsonl.gz (about 7x smaller)")
    titles = parser.add_mutually_exclusive_group()
    titles.add_argument("--titles-csv", type=Path, default=DEFAULT_TITLES_CSV,
                        help="TMDB 5000 movies CSV to borrow titles from (default: ../shared/data/tmdb_5000, if present)")
    titles.add_argument("--no-reference-titles", action="store_true",
                        help="built-in vocabulary only: the same world on every machine")
    args = parser.parse_args(argv)
    if args.films < 1:
        parser.error("--films must be at least 1")
    if not args.prefix.replace("_", "").replace("-", "").isalnum():
        parser.error("--prefix may hold only letters, digits, '_' and '-'")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reference = () if args.no_reference_titles else load_reference_titles(args.titles_csv)
    if not args.no_reference_titles and not reference:
        logger.info("no reference titles at %s: built-in vocabulary only", args.titles_csv)
    try:
        summary = generate(args.out, args.films, args.seed, prefix=args.prefix, reference_titles=reference,
                           tmdb_gzip=args.tmdb_gzip, overwrite=args.overwrite)
    except OutputExistsError as exc:
        logger.error("%s", exc)
        return 2
    counts = summary["counts"]
    logger.info("%d films, %d albums, %d true pairs in %.1f s -> %s", counts.get("films", 0),
                counts.get("albums", 0), counts.get("true_pairs", 0), summary["seconds"], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
