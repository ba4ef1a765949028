"""Generate a deterministic, realistic sample `raw/` folder in the input formats of docs/contracts.md.

Files written under OUT (normally `DATA_ROOT/raw`):

- `tmdb/sample_movies.jsonl.gz` - one TMDB `/movie/{id}?append_to_response=credits` body per line,
  plus a few deliberately broken lines for the pipeline's quarantine;
- `discogs/sample_masters.xml.gz`, `discogs/sample_releases.xml.gz` - Discogs monthly dump XML in the
  2020 layout (one record per line, non-ASCII as character references: decimal in text, hex in
  attributes), and `discogs/sample_CHECKSUM.txt` (`<sha256> <file name>` per line);
- `true_pairs.csv` - `tmdb_id,discogs_master_id,discogs_release_id`, one row per true album -> film
  pair (an album is a master, or a release without master).

How it is built: films come in small clusters - a standalone film, a franchise with sequels, an
original and its remake, or two films whose scores share one album. Each cluster writes its films,
their soundtrack albums, look-alike albums that must not match (same-title rock albums, sequel and
remake soundtracks of films that do not exist, TV, video-game, stage-cast and theme albums) and some
ordinary music. The first clusters walk through every case in turn so even a small sample holds
each of them; after that the case is drawn at random.

Guarantees: the same `(films, seed, bad_records)` gives byte-identical files (one `random.Random`,
gzip mtime 0, ids from counters, no clock); everything streams, so memory does not grow with the
number of films; each file is written under a temporary name and renamed into place only when the
whole run succeeded. Main titles are distinct across films except for deliberate remakes, so the
true pairs are the only right answer.

Usage: python -m scripts.generate_sample_data --out DATA_ROOT/raw --films 2000 --seed 42
"""
from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import json.encoder
import logging
import math
import os
import random
import sys
import time
import unicodedata
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TypeVar

from scripts.settings import ConfigError, load_settings

T = TypeVar("T")
logger = logging.getLogger(__name__)

# The C string encoder behind json.dumps(..., ensure_ascii=False): a quoted JSON string, UTF-8 kept.
_json_str = json.encoder.encode_basestring

TMDB_FILE = Path("tmdb") / "sample_movies.jsonl.gz"
MASTERS_FILE = Path("discogs") / "sample_masters.xml.gz"
RELEASES_FILE = Path("discogs") / "sample_releases.xml.gz"
CHECKSUM_FILE = Path("discogs") / "sample_CHECKSUM.txt"
TRUE_PAIRS_FILE = Path("true_pairs.csv")
TRUE_PAIRS_HEADER = ("tmdb_id", "discogs_master_id", "discogs_release_id")
PARTIAL_SUFFIX = ".partial"

# Level 1 because the files are regenerated at will and throughput matters more than size
# (level 6 is about three times slower on this text for ~25 % smaller files).
GZIP_LEVEL = 1
FLUSH_BYTES = 1 << 20
LATEST_YEAR = 2024
VARIOUS_ARTIST_ID = 194  # Discogs' own id for "Various"

# --- TMDB vocabulary ------------------------------------------------------------------------
TMDB_GENRES = {
    "Action": 28, "Adventure": 12, "Animation": 16, "Comedy": 35, "Crime": 80, "Documentary": 99,
    "Drama": 18, "Family": 10751, "Fantasy": 14, "History": 36, "Horror": 27, "Music": 10402,
    "Mystery": 9648, "Romance": 10749, "Science Fiction": 878, "TV Movie": 10770, "Thriller": 53,
    "War": 10752, "Western": 37,
}
# Drawn with these weights; Drama and Comedy dominate the real catalogue.
GENRE_WEIGHTS = (
    ("Drama", 30), ("Comedy", 20), ("Thriller", 12), ("Action", 11), ("Romance", 9), ("Horror", 8),
    ("Crime", 8), ("Adventure", 7), ("Documentary", 5), ("Science Fiction", 5), ("Family", 5),
    ("Fantasy", 4), ("Animation", 4), ("Mystery", 4), ("Music", 3), ("History", 3), ("War", 2),
    ("TV Movie", 2), ("Western", 1),
)


@dataclass(frozen=True)
class _Language:
    iso: str
    english_name: str
    native_name: str
    countries: tuple[tuple[str, str], ...]
    discogs_country: str
    album_suffixes: tuple[str, ...]


LANGUAGES = (
    _Language("en", "English", "English",
              (("US", "United States of America"), ("GB", "United Kingdom"), ("CA", "Canada"),
               ("AU", "Australia")), "US", ()),
    _Language("fr", "French", "Français", (("FR", "France"), ("BE", "Belgium")), "France",
              (" (Bande Originale Du Film)", " (Musique Originale Du Film)", " - Bande Originale")),
    _Language("es", "Spanish", "Español", (("ES", "Spain"), ("MX", "Mexico"), ("AR", "Argentina")),
              "Spain", (" (Banda Sonora Original)", " (Banda Original De Sonido)")),
    _Language("de", "German", "Deutsch", (("DE", "Germany"), ("AT", "Austria")), "Germany",
              (" (Original Filmmusik)", " (Original Soundtrack)", " - Die Filmmusik")),
    _Language("it", "Italian", "Italiano", (("IT", "Italy"),), "Italy",
              (" (Colonna Sonora Originale)", " (Original Soundtrack)")),
    _Language("ja", "Japanese", "日本語", (("JP", "Japan"),), "Japan",
              (" オリジナル・サウンドトラック", " (Original Soundtrack)", " サウンドトラック")),
    _Language("ko", "Korean", "한국어/조선말", (("KR", "South Korea"),), "South Korea",
              (" OST", " (Original Soundtrack)", " 오리지널 사운드트랙")),
)
LANGUAGE_WEIGHTS = (84, 5, 3, 3, 2, 2, 1)

# --- English title words (each list must hold distinct entries: titles are built to be unique) ---
ADJECTIVES = """Silent Broken Hidden Last Golden Crimson Hollow Wild Distant Burning Frozen Secret Lonely
Savage Gentle Endless Bitter Fading Restless Iron Velvet Paper Glass Electric Midnight Northern
Southern Western Little Final Perfect Dark Bright Quiet Lost Fallen Rising Sleeping Wandering
Forgotten Scarlet Silver Black White Blue Stolen Borrowed Strange Sweet Cruel Brave Hungry Empty
Narrow Long Deep Lucky Reckless Tender Violent Sacred Wicked Ancient Eternal Invisible Impossible
Beautiful Dangerous Ordinary Curious Faithful Fearless Hopeless Nameless Painted Shattered Twisted
Wounded Burnt Drowning Falling Howling Shining Winding Crooked Hunted Haunted Blind Proud Naked
Copper Marble Amber Ivory Emerald Cobalt Mercury Neon Pale Grey Summer Winter Autumn Spring""".split()
NOUNS = """River Harbor Kingdom Garden Mirror Shadow Empire Horizon Island Promise Stranger Witness
Frontier Circus Lighthouse Station Highway Orchard Canyon Desert Forest Ocean Thunder Storm Fire
Stone Crown Sword Arrow Engine Machine Signal Echo Memory Dream Heart Ghost Angel Saint Sinner
Hunter Dancer Soldier Doctor Teacher Driver Pilot Thief Liar Lover Widow Orphan Prince Bride
Sister Brother Daughter Father Mother Night Morning Evening Moon Star Planet Comet Rain Snow Wind
Tide Wave Bridge Tower Castle House Room Door Window Road Street City Town Village Valley
Mountain Lake Country Border Coast Shore Field Meadow Paradise Heaven Hell Letter Song
Ballad Anthem Secret Lie Truth Game Hand Eye Voice Blood Bone Skin Wolf Fox Raven Hawk Horse
Tiger Dragon Serpent Spider Butterfly Rose Lily Orchid Thorn Apple Cherry Clock Key Lock Chain
Ring Mask Carnival Parade Wedding Funeral Feast Harvest Voyage Journey Escape Return
Reckoning Silence Whisper Scream""".split()
PLACES = """Ash Glass Tomorrow Yesterday Fortune Shadows Thieves Kings Wolves Saints Sorrow Paris
Venice Tokyo Berlin Havana Cairo Lisbon Memphis Avalon Steel Dreams Heroes Strangers Angels
Ghosts Lions Giants Lovers Fools Dust Bones Roses Rain Stars Storms Secrets Mirrors Whispers
Monsters Spies Lanterns Tides Embers Feathers Marigolds Sparrows Orchids Comets Harbors
Rivers Mountains Islands Deserts Summers Winters Autumns Springs Mornings Evenings Nightfall
Daybreak Midsummer Midwinter Babylon Atlantis Eden Arcadia Zion Troy Sparta Thebes Marrakesh
Bombay Shanghai Moscow Vienna Prague Budapest Istanbul Athens Rome Naples Seville Madrid Dublin
Glasgow Boston Chicago Detroit Phoenix Denver Reno Tulsa Dallas""".split()
FIRST_NAMES = """John Mary Anna Léon Amélie Zoë Chloé José Björn Søren Ángel Iñigo Noémie François
Jürgen Ömer Łukasz Michael Sarah David Emma James Laura Robert Julia Thomas Clara Daniel Nora
Peter Eva Paul Lena Mark Rosa Henry Alice George Ines Frank Marta Oliver Vera Samuel Ada Victor
Ingrid Hugo Elena Felix Greta Oscar Mila Arthur Hana Ruben Lucia Elliot Sofia Max Irene Nils Maya
Anton Carmen Jonas Helga Marco Leila Pablo Yasmin Theo Agnes Ivan Olga Rafael Bianca Tomás Renée
Dmitri Siobhán Conor Aoife Kai Freya""".split()
LAST_NAMES = """Smith Carter Hale Moreau Dubois García Müller Novák Jóhannsson O'Connor Fitzgerald
Rossi Bianchi Schmidt Fischer Weber Wagner Becker Hoffmann Dupont Lefèvre Girard Martínez López
Sánchez Pérez Gómez Fernández Andersson Johansson Nilsson Larsen Hansen Jensen Kowalski Nowak
Wiśniewski Horváth Nagy Popescu Ionescu Petrov Ivanova Sokolov Kuznetsov Walsh Murphy Kelly
Byrne Ryan Doyle Brennan Quinn Reed Brooks Price Bennett Hayes Foster Graham Wallace Sullivan
Russell Griffin Barker Marsh Holt Stone Frost Winter Blackwood Ashford Whitaker Lindqvist
Sørensen Åberg Østergaard Çelik Yılmaz Demir Kaya Şahin Costa Ferreira Almeida Silva Santos
Oliveira Novotný Dvořák Král Lambert Fontaine Beaumont Castellano Delacroix Vasquez Navarro
Morales Ortega Delgado Romero Ramos""".split()
VERB_PHRASES = """Chasing Finding Saving Killing Leaving Loving Becoming Remembering Hunting
Burying Forgetting Waking Crossing Breaking Raising Stealing Catching Counting Following
Escaping""".split()
OVERVIEW_VERBS = "find save stop escape outwit protect expose survive rescue outrun forgive unmask".split()
SUBTITLES = (
    "A Love Story", "The Reckoning", "Origins", "Legacy", "The Beginning", "Redemption",
    "Revelations", "Dawn of Fire", "The Last Stand", "Homecoming", "A New Hope for Tomorrow",
    "Into the Dark", "The Awakening", "First Blood", "Resurrection", "The Final Chapter",
)
# Used at most once each: short, numeric and punctuated titles that stress title normalization.
SPECIAL_TITLES = (
    "Up", "Us", "It", "Her", "Elf", "Ran", "Ida", "9", "10", "Léon", "Amélie", "Zoë", "Chloé",
    "WALL·E", "ROVER·7", "M*A*S*K", "S.W.A.T.", "Mr. & Mrs. Lee", "What's Up, Doc?", "Ça Va!",
    "¡Ándale!", "Hello, Molly!", "E.T.A.", "Se7en Sins", "Æon", "Naïve", "Über", "Piñata", "1984½",
    "Who's Afraid?", "Ready <Set> Go", "Tom & Jerry & Me", "\"Quote\" Unquote", "Déjà Vu",
    "Crème Brûlée", "Señorita", "Fiancé", "Saló", "Noël",
)
SEQUEL_FORMS = ("{t} 2", "{t} II", "{t}: Part Two", "{t} 2: {s}")
THIRD_FORMS = ("{t} 3", "{t} III", "{t}: Part Three", "{t} 3: {s}")

# --- original-title words per language: (first slot, second slot, third slot for overflow, joiner)
NATIVE_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], str]] = {
    "fr": (("La Nuit", "Le Rêve", "L'Été", "Le Cœur", "La Mémoire", "Les Étoiles", "La Fête",
            "Le Silence", "L'Hiver", "La Route", "Le Château", "La Chambre", "Les Enfants",
            "Le Voyage", "La Vie", "L'Amour", "Le Secret", "La Fille", "Le Garçon", "Les Ombres"),
           ("de Marseille", "sans fin", "d'automne", "du silence", "des anges", "à Paris",
            "sans retour", "de la mer", "d'Amélie", "du soir", "de Lyon", "à l'aube",
            "des loups", "en été", "de Noël", "du désert", "sous la pluie", "de minuit"),
           ("et la mer", "et le vent", "et l'oubli", "et la ville", "et les autres", "et nous"), " "),
    "es": (("La Noche", "El Sueño", "El Verano", "El Corazón", "La Memoria", "Las Estrellas",
            "La Fiesta", "El Silencio", "El Invierno", "El Camino", "La Casa", "Los Niños",
            "El Viaje", "La Vida", "El Amor", "El Secreto", "La Niña", "Los Lobos"),
           ("de Sevilla", "sin fin", "de otoño", "del silencio", "de los ángeles", "en Madrid",
            "sin retorno", "del mar", "de la tarde", "de Buenos Aires", "al amanecer",
            "de Navidad", "del desierto", "bajo la lluvia", "de medianoche", "de mañana"),
           ("y el mar", "y el viento", "y el olvido", "y la ciudad", "y los otros", "y nosotros"), " "),
    "de": (("Die Nacht", "Der Traum", "Der Sommer", "Das Herz", "Die Erinnerung", "Die Sterne",
            "Das Fest", "Das Schweigen", "Der Winter", "Der Weg", "Das Haus", "Die Kinder",
            "Die Reise", "Das Leben", "Die Liebe", "Das Geheimnis", "Das Mädchen", "Die Wölfe"),
           ("von Berlin", "ohne Ende", "im Herbst", "der Stille", "der Engel", "in München",
            "ohne Wiederkehr", "am Meer", "am Abend", "von Köln", "im Morgengrauen",
            "zu Weihnachten", "der Wüste", "im Regen", "um Mitternacht", "über Hamburg"),
           ("und das Meer", "und der Wind", "und die Stadt", "und die anderen", "und wir", "und ich"), " "),
    "it": (("La Notte", "Il Sogno", "L'Estate", "Il Cuore", "La Memoria", "Le Stelle", "La Festa",
            "Il Silenzio", "L'Inverno", "La Strada", "La Casa", "I Bambini", "Il Viaggio",
            "La Vita", "L'Amore", "Il Segreto", "La Ragazza", "I Lupi"),
           ("di Roma", "senza fine", "d'autunno", "del silenzio", "degli angeli", "a Milano",
            "senza ritorno", "del mare", "della sera", "di Napoli", "all'alba", "di Natale",
            "del deserto", "sotto la pioggia", "di mezzanotte", "a Venezia"),
           ("e il mare", "e il vento", "e la città", "e gli altri", "e noi", "e io"), " "),
    "ja": (("夏の", "夜の", "風の", "海の", "星の", "雪の", "花の", "月の", "空の", "森の", "春の",
            "秋の", "冬の", "雨の", "街の", "光の"),
           ("約束", "記憶", "物語", "少女", "旅人", "王国", "手紙", "庭", "声", "光", "夢", "城",
            "歌", "果て", "扉", "向こう"),
           ("と僕", "と君", "の終わり", "の始まり", "をもう一度", "へ"), ""),
    "ko": (("여름의", "밤의", "바람의", "바다의", "별의", "눈의", "꽃의", "달의", "하늘의", "숲의",
            "봄의", "가을의", "겨울의", "비의", "도시의", "빛의"),
           ("약속", "기억", "이야기", "소녀", "나그네", "왕국", "편지", "정원", "목소리", "꿈",
            "성", "노래", "끝", "문", "저편", "시간"),
           ("그리고 나", "그리고 너", "너머", "다시", "속으로", "이후"), " "),
}
# Japanese and Korean composers: TMDB credits them romanized, Discogs keeps the native name as ANV.
CJK_COMPOSER_NAMES = {
    "ja": (
        (("Tanaka", "田中"), ("Suzuki", "鈴木"), ("Takahashi", "高橋"), ("Watanabe", "渡辺"),
         ("Ito", "伊藤"), ("Yamamoto", "山本"), ("Nakamura", "中村"), ("Kobayashi", "小林")),
        (("Hiroshi", "浩"), ("Takeshi", "武"), ("Yuki", "雪"), ("Kenji", "健二"), ("Akira", "明"),
         ("Haruki", "春樹"), ("Naoko", "直子"), ("Emi", "恵美")),
    ),
    "ko": (
        (("Kim", "김"), ("Lee", "이"), ("Park", "박"), ("Choi", "최"), ("Jung", "정"), ("Kang", "강"),
         ("Cho", "조"), ("Yoon", "윤")),
        (("Min-ho", "민호"), ("Ji-woo", "지우"), ("Seo-yeon", "서연"), ("Hyun-woo", "현우"),
         ("Ji-hoon", "지훈"), ("Soo-jin", "수진"), ("Dong-hyun", "동현"), ("Eun-ji", "은지")),
    ),
}

# --- Discogs vocabulary ---------------------------------------------------------------------
SOUNDTRACK_LABELS = (
    (65412, "Varèse Sarabande", "VSD-"), (20934, "Milan", "CD MIL "), (39711, "Lakeshore Records", "LKS "),
    (2701, "Sony Classical", "SK "), (1502, "Decca", "478 "), (14823, "Silva Screen Records", "SILCD"),
    (88213, "Intrada", "MAF "), (124503, "La-La Land Records", "LLLCD "), (31177, "Quartet Records", "QR"),
    (402117, "Mondo", "MOND-"), (780220, "Waxwork Records", "WW0"), (221871, "Music On Vinyl", "MOVATM"),
    (9104, "Walt Disney Records", "D"), (64003, "Hollywood Records", "HR-"), (5320, "Atlantic", "7567-"),
    (11340, "Interscope Records", "INTR-"), (45871, "Beat Records Company", "BCM"),
    (70615, "Cam", "CAM "), (318223, "Rambling Records", "RBCP-"), (93017, "Universal Music", "06007 "),
)
MUSIC_LABELS = (
    (1000, "Warner Bros. Records", "9 "), (1866, "Columbia", "CK "), (5, "Svek", "SK"),
    (23528, "Matador", "OLE "), (1818, "Sub Pop", "SP"), (25386, "Warp Records", "WARP"),
    (17, "Blue Note", "BST-"), (6, "Ruffhouse Records", "RH "), (157, "Island Records", "ILPS "),
    (895, "RCA", "PL "), (42, "Ninja Tune", "ZEN"), (3290, "Domino", "WIGCD"),
)
DISCOGS_COUNTRIES = ("US", "UK", "Europe", "Germany", "France", "Japan", "Italy", "Netherlands",
                     "Canada", "Australia", "Spain", "UK & Europe", "USA & Canada")
COUNTRY_WEIGHTS = (30, 14, 14, 8, 6, 7, 4, 3, 3, 2, 3, 4, 2)
MUSIC_GENRES = {
    "Electronic": ("Techno", "House", "Ambient", "Synth-pop", "IDM", "Downtempo", "Drum n Bass"),
    "Rock": ("Indie Rock", "Alternative Rock", "Punk", "Hard Rock", "Pop Rock", "Shoegaze"),
    "Pop": ("Synth-pop", "Ballad", "Vocal", "Europop", "Indie Pop"),
    "Jazz": ("Hard Bop", "Cool Jazz", "Fusion", "Swing", "Soul-Jazz"),
    "Hip Hop": ("Boom Bap", "Conscious", "Trap", "Instrumental"),
    "Funk / Soul": ("Soul", "Funk", "Disco", "Rhythm & Blues"),
    "Classical": ("Modern", "Baroque", "Romantic", "Contemporary"),
    "Folk, World, & Country": ("Folk", "Country", "Bluegrass"),
    "Latin": ("Salsa", "Bossa Nova", "Cumbia"),
    "Reggae": ("Roots Reggae", "Dub", "Dancehall"),
}
MUSIC_GENRE_NAMES = tuple(MUSIC_GENRES)
# A soundtrack sometimes carries a second genre besides Stage & Screen, as on Discogs.
SOUNDTRACK_SIDE_GENRES = (
    ("Classical", ("Modern Classical", "Contemporary")), ("Electronic", ("Ambient", "Experimental")),
    ("Rock", ("Pop Rock", "Alternative Rock")), ("Pop", ("Vocal", "Ballad")), ("Jazz", ("Big Band",)),
    ("Hip Hop", ("Instrumental",)),
)
SCORE_TRACKS = ("Main Title", "Prologue", "Opening", "End Credits", "Finale", "Epilogue", "Suite",
                "Overture", "Main Theme", "Love Theme")

# Suffix forms Discogs uses for film albums, weighted as they appear; "{c}" is the composer.
SCORE_TITLE_FORMS = (
    ("{t} (Original Motion Picture Soundtrack)", 25), ("{t} (Music From The Motion Picture)", 10),
    ("{t} (Original Score)", 10), ("{t} (Original Motion Picture Score)", 8),
    ("{t} (Original Soundtrack)", 8), ("{t} OST", 4), ("{t} (O.S.T.)", 3),
    ("{t} (Original Soundtrack Recording)", 5), ("{t}", 8), ("{c} - {t}", 4),
    ("{t}: Original Soundtrack", 3), ("{t} - Original Motion Picture Soundtrack", 3),
)
SONGS_TITLE_FORMS = (
    ("{t} (Music From And Inspired By The Motion Picture)", 5),
    ("{t} (Original Motion Picture Soundtrack)", 4), ("{t} (Music From The Motion Picture)", 3),
    ("Songs From {t}", 1),
)
EDITION_FORMS = ("{t} (Deluxe Edition)", "{t} ({n}th Anniversary Edition)", "{t} (Expanded Edition)",
                 "{t} (Remastered)")
TV_FORMS = ("{t} (Music From The Television Series)", "{t} (Original Television Soundtrack)",
            "{t}: Season 1 (Original Series Soundtrack)", "{t} (Music From The TV Series)")
GAME_FORMS = ("{t} (Original Game Soundtrack)", "{t}: The Video Game (Original Soundtrack)",
              "{t} (Video Game Soundtrack)")
STAGE_FORMS = ("{t} (Original Broadway Cast Recording)", "{t} (Original London Cast Recording)",
               "{t} - The Musical (Original Cast Recording)")
THEME_FORMS = ("Greatest Movie Themes Vol. {n}", "The Best Of Hollywood Vol. {n}", "Cinema Classics {n}",
               "Movie Themes Of The {d}s", "Big Screen Themes Volume {n}")

# Which cases the first clusters walk through before cases are drawn at random.
SHOWCASE = (
    ("standalone", "same_title"), ("franchise", None), ("standalone", "sequel_lookalike"),
    ("remake", None), ("standalone", "remake_lookalike"), ("double", None), ("standalone", "tv"),
    ("standalone", "game"), ("standalone", "stage"), ("standalone", "theme"),
    ("standalone", "masterless"), ("standalone", "songs"), ("double", None),
    ("standalone", "composer_solo"),
)
# Look-alike albums a standalone film gets, as cumulative probabilities.
LOOKALIKE_ODDS = (("same_title", 0.06), ("sequel_lookalike", 0.09), ("remake_lookalike", 0.12), ("tv", 0.14),
                  ("game", 0.155), ("stage", 0.17), ("theme", 0.18), ("composer_solo", 0.19))
LOOKALIKE_KINDS = tuple(kind for kind, _ in LOOKALIKE_ODDS)
MASK64 = (1 << 64) - 1
MAIN_COMPOSERS = len(FIRST_NAMES) * len(LAST_NAMES)
CREW_JOBS = (("Directing", "Director"), ("Writing", "Screenplay"), ("Production", "Producer"),
             ("Editing", "Editor"), ("Sound", "Music Supervisor"))
CHARACTER_JSON = tuple(json.dumps(name, ensure_ascii=False) for name in FIRST_NAMES)


@dataclass(frozen=True)
class GenerationSummary:
    """What one run wrote: counts of records and the files, in the order they were renamed into place."""

    films: int
    masters: int
    releases: int
    true_pairs: int
    bad_records: int
    files: tuple[Path, ...]


class OutputExistsError(FileExistsError):
    """The output folder already holds files and overwriting was not asked for."""


# --- small pure helpers ---------------------------------------------------------------------
def _mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix-style), for attributes that must not consume the RNG."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & MASK64)) * 0xBF58476D1CE4E5B9) & MASK64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & MASK64
        h ^= h >> 29
    return h


def _image_path(*parts: int) -> str:
    """A TMDB-looking image path ("/" + 27 characters + ".jpg") that is a function of the parts."""
    return f"/{(_mix(*parts) << 44) | (_mix(*parts, 7) >> 20):027x}.jpg"


def _random_image_json(rng: random.Random, present: float) -> str:
    """A quoted random image path with probability `present`, else null."""
    return f'"/{rng.getrandbits(108):027x}.jpg"' if rng.random() < present else "null"


@lru_cache(maxsize=4096)
def _genres_json(genres: tuple[str, ...]) -> str:
    return json.dumps([{"id": TMDB_GENRES[g], "name": g} for g in genres], separators=(",", ":"))


def _person_name(k: int) -> str:
    """Name of person number k of the actor/crew space (names repeat, ids do not)."""
    return f"{FIRST_NAMES[k % len(FIRST_NAMES)]} {LAST_NAMES[(k // len(FIRST_NAMES)) % len(LAST_NAMES)]}"


@lru_cache(maxsize=1 << 15)
def _actor_head(k: int) -> str:
    """The fixed part of a cast entry for actor k, up to and including the comma before "cast_id"."""
    name = _json_str(_person_name(k))
    path = json.dumps(_image_path(2, k) if k % 5 else None)
    return (f'{{"adult":false,"gender":{1 + (k & 1)},"id":{2_000_000 + k},"known_for_department":"Acting",'
            f'"name":{name},"original_name":{name},"popularity":{(k * 7919) % 12_000 / 1000},"profile_path":{path},')


@lru_cache(maxsize=1 << 15)
def _crew_head(pid: int, name: str, known_for: str) -> str:
    """The fixed part of a crew entry, up to and including the comma before "credit_id"."""
    quoted = _json_str(name)
    return (f'{{"adult":false,"gender":{2 - (pid & 1)},"id":{pid},"known_for_department":"{known_for}",'
            f'"name":{quoted},"original_name":{quoted},"popularity":{(pid % 997) / 97:.4f},"profile_path":null,')


def _expand(pairs: Sequence[tuple[object, int]]) -> tuple:
    """Each value repeated by its weight: one random index into it is a weighted draw."""
    return tuple(value for value, weight in pairs for _ in range(weight))


def _text(value: str) -> str:
    """Escape element text; non-ASCII becomes decimal references later, as in the 2020 dumps."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    """Escape an attribute value; the 2020 dumps write non-ASCII in attributes as hex references."""
    escaped = _text(value).replace('"', "&quot;")
    if escaped.isascii():
        return escaped
    return "".join(ch if ord(ch) < 128 else f"&#x{ord(ch):X};" for ch in escaped)


@lru_cache(maxsize=256)
def _tags(outer: str, inner: str, values: tuple[str, ...]) -> str:
    """`<outer><inner>v</inner>...</outer>`, or "" for no values (the dumps then omit the element)."""
    if not values:
        return ""
    return f"<{outer}>" + "".join(f"<{inner}>{_text(v)}</{inner}>" for v in values) + f"</{outer}>"


@lru_cache(maxsize=256)
def _format_fragment(name: str, qty: str, text: str, descriptions: tuple[str, ...]) -> str:
    return (f'<formats><format name="{name}" qty="{qty}" text="{_attr(text)}">'
            f"{_tags('descriptions', 'description', descriptions)}</format></formats>")


@lru_cache(maxsize=64)
def _track_positions(count: int, sided: bool) -> tuple[str, ...]:
    """Opening of each track with its position as on the medium: A1.. B1.. for vinyl and tape, 1.. otherwise."""
    if not sided:
        return tuple(f"<track><position>{n + 1}</position>" for n in range(count))
    half = (count + 1) // 2
    return tuple(f"<track><position>A{n + 1}</position>" if n < half else f"<track><position>B{n + 1 - half}</position>"
                 for n in range(count))


def _label_fragments(labels: Sequence[tuple[int, str, str]]) -> tuple[tuple[str, str], ...]:
    """(text before the catalogue number, text after it) of a <labels> element, per label."""
    return tuple((f'<labels><label name="{_attr(name)}" catno="{_attr(prefix)}', f'" id="{label_id}"/></labels>')
                 for label_id, name, prefix in labels)


def _strip_accents(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))


def _discogs_case(title: str) -> str:
    """Discogs capitalizes every word of English titles ("Kingdom of Ash" -> "Kingdom Of Ash")."""
    return " ".join(w[:1].upper() + w[1:] if w[:1].islower() else w for w in title.split(" "))


def _coprime_step(size: int) -> int:
    """An odd step near size/phi that is coprime with size, so k -> k*step mod size is a permutation."""
    step = max(1, int(size * 0.6180339887)) | 1
    while math.gcd(step, size) != 1:
        step += 2
    return step


# Tables derived once from the vocabulary above: XML fragments and weighted draws.
SOUNDTRACK_LABEL_XML = _label_fragments(SOUNDTRACK_LABELS)
MUSIC_LABEL_XML = _label_fragments(MUSIC_LABELS)
QUALITY_XML = _expand((("<data_quality>Needs Vote</data_quality>", 85), ("<data_quality>Correct</data_quality>", 10),
                       ("<data_quality>Complete and Correct</data_quality>", 2),
                       ("<data_quality>Needs Minor Changes</data_quality>", 3)))
DURATIONS_XML = tuple(f"<duration>{s // 60}:{s % 60:02d}</duration>" for s in range(45, 400)) + ("<duration/>",) * 30
# Title, duration and end of a track, ready to follow a position: one draw per track.
TRACKS_XML = tuple(f"<title>{_text(title)}</title>{DURATIONS_XML[i * 131 % len(DURATIONS_XML)]}</track>"
                   for i, title in enumerate([f"{ADJECTIVES[i % len(ADJECTIVES)]} {NOUNS[i * 37 % len(NOUNS)]}"
                                              for i in range(2400)] + NOUNS))
IMAGES_XML = '<images><image type="primary" uri="" uri150="" width="600" height="600"/></images>'
NOTES_XML = "<notes>Includes a download card &amp; poster.</notes>"
VINYL_TEXTS = ("", "", "", "180g", "Red", "Gatefold", "Transparent Blue")
GENRE_TABLE = _expand(GENRE_WEIGHTS)
ADJECTIVES_LOWER = tuple(word.lower() for word in ADJECTIVES)
NOUNS_LOWER = tuple(word.lower() for word in NOUNS)
LANGUAGE_TABLE = _expand(tuple(zip(LANGUAGES, LANGUAGE_WEIGHTS)))
COUNTRY_TABLE = _expand(tuple(zip(DISCOGS_COUNTRIES, COUNTRY_WEIGHTS)))
SCORE_FORM_TABLE = _expand(SCORE_TITLE_FORMS)
SONGS_FORM_TABLE = _expand(SONGS_TITLE_FORMS)


class _UniqueNames:
    """Hands out distinct strings built from word lists, pattern after pattern.

    Each pattern is the cartesian product of its word lists; the k-th draw from a pattern takes
    product element `(k * step + offset) mod size`, a permutation, so no string repeats and
    consecutive draws share no word. A pattern is drawn with its weight until exhausted.
    """

    def __init__(self, patterns: Sequence[tuple[str, Sequence[Sequence[str]], int]], salt: int):
        self._patterns = [(fmt, lists) for fmt, lists, _ in patterns]
        self._weights = [w for _, _, w in patterns]
        self._sizes = [math.prod(len(lst) for lst in lists) for _, lists, _ in patterns]
        self._steps = [_coprime_step(size) for size in self._sizes]
        self._offsets = [_mix(salt, i) % size for i, size in enumerate(self._sizes)]
        self._used = [0] * len(patterns)
        self._table = _expand(tuple(zip(range(len(patterns)), self._weights)))

    def draw(self, rng: random.Random) -> Optional[tuple[int, str]]:
        """Return (pattern index, a string never returned before), or None once all are used up."""
        index = self._table[int(rng.random() * len(self._table))] if self._table else -1
        if index < 0:
            return None
        k = self._used[index]
        self._used[index] = k + 1
        if k + 1 == self._sizes[index]:  # exhausted: draw from the remaining patterns from now on
            self._table = tuple(i for i in self._table if i != index)
        position = (k * self._steps[index] + self._offsets[index]) % self._sizes[index]
        fmt, lists = self._patterns[index]
        words = []
        for lst in reversed(lists):
            position, r = divmod(position, len(lst))
            words.append(lst[r])
        return index, fmt.format(*reversed(words))


@dataclass(frozen=True)
class _Person:
    tmdb_id: int
    name: str
    discogs_id: int
    discogs_name: str
    anv: str = ""
    credit_anv: str = ""


@lru_cache(maxsize=8192)
def _composer(seed: int, pool: str, k: int) -> _Person:
    """Composer number k of a pool ("main", "ja" or "ko") with its TMDB and Discogs identities.

    Pure (hence cached): distinct k < MAIN_COMPOSERS give distinct names in the main pool, 0 <= k < 64
    in the Japanese and Korean pools.
    """
    h = _mix(seed, k, 0xC0)
    if pool in CJK_COMPOSER_NAMES:
        families, givens = CJK_COMPOSER_NAMES[pool]
        family, given = families[k // len(givens) % len(families)], givens[k % len(givens)]
        name = f"{given[0]} {family[0]}"
        native = family[1] + given[1]
        offset = 1 if pool == "ja" else 2
        return _Person(
            tmdb_id=1_500_000 + k * 4 + offset, name=name, discogs_id=3_000_000 + k * 4 + offset,
            discogs_name=f"{name} ({2 + h % 3})" if h % 4 == 0 else name, anv=native,
            credit_anv="" if h % 3 else native,
        )
    size = MAIN_COMPOSERS
    position = (k * _coprime_step(size) + seed) % size
    first, last = FIRST_NAMES[position // len(LAST_NAMES)], LAST_NAMES[position % len(LAST_NAMES)]
    name = f"{first} {last}"
    # Discogs disambiguates namesakes with " (2)"; album credits often use a name variation.
    discogs_name = f"{name} ({2 + (h >> 8) % 5})" if h % 100 < 12 else name
    anv_roll = (h >> 16) % 100
    if anv_roll < 12:
        anv = f"{first[0]}. {last}"
    elif anv_roll < 20 and _strip_accents(name) != name:
        anv = _strip_accents(name)
    elif anv_roll < 24:
        anv = last
    else:
        anv = ""
    credit_anv = f"{last}, {first}" if (h >> 24) % 100 < 20 else ""
    return _Person(tmdb_id=100_000 + k * 4, name=name, discogs_id=500_000 + k * 4,
                   discogs_name=discogs_name, anv=anv, credit_anv=credit_anv)


@dataclass
class _Film:
    tmdb_id: int
    title: str
    original_title: str
    language: _Language
    release_date: str
    composers: list[_Person]
    genres: list[str]
    collection: Optional[tuple[int, str]] = None
    main_title: str = ""  # the title without subtitle, which Discogs albums sometimes use

    @property
    def year(self) -> int:
        return int(self.release_date[:4]) if self.release_date else 0

    @property
    def month(self) -> int:
        return int(self.release_date[5:7]) if self.release_date else 0


@dataclass
class _Album:
    """One Discogs album: a master with its releases, or (masterless) a single release."""

    title: str
    artists: list[tuple[int, str, str, str]]  # (id, name, anv, join)
    genres: list[str]
    styles: list[str]
    year: int
    labels: Sequence[tuple[str, str]]  # label XML fragments, one drawn per release
    country: str
    films: list[int] = field(default_factory=list)  # TMDB ids this album truly belongs to
    credits: list[tuple[int, str, str, str]] = field(default_factory=list)  # (id, name, anv, role)
    has_master: bool = True
    releases: int = 1
    track_names: Sequence[str] = ()


class _AtomicGzipSink:
    """Buffers text and writes it gzip-compressed to `<name>.partial`; the caller renames it into place.

    The gzip header carries the final file name and mtime 0 so that output is byte-reproducible.
    XML sinks encode non-ASCII as decimal character references, like the 2020 Discogs dumps.
    Compression runs on a worker thread (zlib releases the GIL) with at most one chunk in flight,
    so it overlaps with generation while memory stays bounded; bytes are written in order.
    """

    def __init__(self, path: Path, xml: bool):
        self.path = path
        self.partial = path.with_name(path.name + PARTIAL_SUFFIX)
        self._xml = xml
        self._sha = hashlib.sha256()
        self._raw = open(self.partial, "wb")
        self._gz = gzip.GzipFile(filename=path.name, mode="wb", compresslevel=GZIP_LEVEL, fileobj=self, mtime=0)
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"gzip-{path.name}")
        self._in_flight: Optional[Future] = None
        self._parts: list[str] = []
        self._size = 0

    def write(self, data: bytes) -> int:
        """File protocol for GzipFile: hash and store the compressed bytes."""
        self._sha.update(data)
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()

    def add(self, text: str) -> None:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= FLUSH_BYTES:
            self._drain()

    def _drain(self) -> None:
        text = "".join(self._parts)
        self._parts, self._size = [], 0
        data = text.encode("ascii", "xmlcharrefreplace") if self._xml else text.encode("utf-8")
        if self._in_flight is not None:
            self._in_flight.result()  # re-raises a failed write here
        self._in_flight = self._worker.submit(self._gz.write, data)

    def finish(self) -> str:
        """Flush and close the partial file; return the sha256 of the compressed bytes."""
        self._drain()
        self._in_flight.result()
        self._worker.shutdown()
        self._gz.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        return self._sha.hexdigest()

    def abort(self) -> None:
        """Stop and delete the partial file (used when the run fails)."""
        self._worker.shutdown(cancel_futures=True)
        if not self._raw.closed:
            self._raw.close()
        self.partial.unlink(missing_ok=True)


# --- the generator --------------------------------------------------------------------------
class _Generator:
    """Streams clusters of films and albums into the sinks; all randomness comes from `self.rng`."""

    def __init__(self, films: int, seed: int, bad_records: int):
        self.rng = random.Random(seed)
        self.seed = seed
        self.films_wanted = films
        self.bad_records = bad_records
        # Indices composer_pool and above are kept free for "another composer" (remakes).
        self.composer_pool = max(40, min(films // 5, MAIN_COMPOSERS - 8))
        # Actor ids stay below the crew id range (3_000_000 + k) at any size.
        self.actor_pool = min(max(200, films), 900_000)
        self.titles = _UniqueNames((
            ("{} {}", (ADJECTIVES, NOUNS), 6),
            ("{} of {}", (NOUNS, PLACES), 4),
            ("{}'s {}", (FIRST_NAMES, NOUNS), 2),
            ("{} the {}", (VERB_PHRASES, NOUNS), 2),
            ("{} {} of {}", (ADJECTIVES, NOUNS, PLACES), 1),
            ("{}'s {} {} of {}", (FIRST_NAMES, ADJECTIVES, NOUNS, PLACES), 1),
        ), salt=seed)
        self.native_titles = {
            iso: _UniqueNames((
                ("{}" + joiner + "{}", (first, second), 4),
                ("{}" + joiner + "{}" + joiner + "{}", (first, second, third), 1),
            ), salt=seed + i)
            for i, (iso, (first, second, third, joiner)) in enumerate(sorted(NATIVE_WORDS.items()))
        }
        self.band_names = _UniqueNames((
            ("The {} {}", (ADJECTIVES, PLACES), 3), ("{} {} Band", (FIRST_NAMES, LAST_NAMES), 1),
            ("DJ {}", (NOUNS,), 1), ("{} {}", (ADJECTIVES, NOUNS), 2),
        ), salt=seed + 99)
        self.next_special = 0
        self.film_id = 10
        self.master_id = 1000
        self.release_id = 10_000
        self.extra_artist_id = 5_000_000
        self.collection_id = 80_000
        self.films_written = 0
        self.masters_written = 0
        self.releases_written = 0
        self.pairs_written = 0
        self.bad_written = 0
        self.clusters = 0
        # Bad lines go after evenly spaced films, so they are spread over the file.
        self.bad_after = [(i + 1) * films // (bad_records + 1) for i in range(bad_records)]

    # -- drawing helpers --
    def _pick(self, seq: Sequence[T]) -> T:
        return seq[int(self.rng.random() * len(seq))]

    def _next_film_id(self) -> int:
        self.film_id += 1 + int(self.rng.random() * 24)
        return self.film_id

    def _next_master_id(self) -> int:
        self.master_id += 1 + int(self.rng.random() * 40)
        return self.master_id

    def _next_release_id(self) -> int:
        self.release_id += 1 + int(self.rng.random() * 90)
        return self.release_id

    def _new_artist(self, name: str) -> tuple[int, str, str, str]:
        self.extra_artist_id += 1 + int(self.rng.random() * 7)
        return (self.extra_artist_id, name, "", "")

    def _random_composer(self, language: str) -> _Person:
        if language in CJK_COMPOSER_NAMES and self.rng.random() < 0.7:
            return _composer(self.seed, language, int(self.rng.random() * 64))
        # A skewed draw: a few composers score many films, as in reality.
        return _composer(self.seed, "main", int(self.composer_pool * self.rng.random() ** 1.7))

    def _release_date(self, max_year: int = LATEST_YEAR, allow_empty: bool = True) -> str:
        """A "YYYY-MM-DD" date skewed to recent years (as the TMDB catalogue is), rarely ""."""
        if allow_empty and self.rng.random() < 0.015:
            return ""
        year = max(1920, max_year - int(abs(self.rng.gauss(0, 24))))
        return self._date_in(year)

    def _date_in(self, year: int) -> str:
        return f"{year:04d}-{1 + int(self.rng.random() * 12):02d}-{1 + int(self.rng.random() * 28):02d}"

    # -- films --
    def _english_title(self) -> tuple[str, str]:
        """Return (full title, main title) of a new film."""
        if self.next_special < len(SPECIAL_TITLES) and self.rng.random() < 0.03:
            title = SPECIAL_TITLES[self.next_special]
            self.next_special += 1
            return title, title
        drawn = self.titles.draw(self.rng)
        if drawn is None:
            raise RuntimeError("title space exhausted: add words to the title lists")
        pattern, main = drawn
        if pattern in (0, 1) and self.rng.random() < 0.3:
            main = "The " + main
        roll = self.rng.random()
        if roll < 0.07:
            return f"{main}: {self._pick(SUBTITLES)}", main
        if roll < 0.09:
            return f"{main} - {self._pick(SUBTITLES)}", main
        return main, main

    def _new_film(self, *, title: str = "", main: str = "", original_title: str = "",
                  language: Optional[_Language] = None, release_date: Optional[str] = None,
                  composers: Optional[list[_Person]] = None, max_year: int = LATEST_YEAR,
                  need_composer: bool = False) -> _Film:
        """A new film; arguments left out are drawn. A given title needs its original_title too."""
        rng = self.rng
        if language is None:
            language = self._pick(LANGUAGE_TABLE)
        if not title:
            title, main = self._english_title()
            original_title = title
            if language.iso != "en":
                drawn = self.native_titles[language.iso].draw(rng)
                if drawn is not None:
                    original_title = drawn[1]
                    # European films are often known abroad under their original title.
                    if language.iso not in ("ja", "ko") and rng.random() < 0.3:
                        title = main = original_title
        if composers is None:
            roll = rng.random()
            if roll < 0.12 and not need_composer:
                composers = []
            elif roll < 0.2:
                composers = [self._random_composer(language.iso), self._random_composer(language.iso)]
                if composers[0] == composers[1]:
                    composers.pop()
            else:
                composers = [self._random_composer(language.iso)]
        genres: list[str] = []
        for _ in range(1 + int(rng.random() * 2.6)):
            genre = self._pick(GENRE_TABLE)
            if genre not in genres:
                genres.append(genre)
        if release_date is None:
            release_date = self._release_date(max_year, allow_empty=max_year == LATEST_YEAR and not need_composer)
        return _Film(
            tmdb_id=self._next_film_id(), title=title, original_title=original_title or title,
            language=language, release_date=release_date, composers=composers, genres=genres,
            main_title=main or title,
        )

    def _film_json(self, film: _Film, id_value: object = None, drop_id: bool = False) -> str:
        """The TMDB body of a film, keys in the API's order; id_value/drop_id make broken bodies."""
        rng = self.rng
        random_ = rng.random
        fid = film.tmdb_id
        language = film.language
        country = language.countries[int(random_() * len(language.countries))]
        votes = 0 if random_() < 0.06 else int(math.exp(rng.gauss(4.0, 2.0)))
        roll = random_()
        runtime = None if roll < 0.02 else 0 if roll < 0.05 else int(max(3.0, rng.gauss(104, 22)))
        budget = revenue = 0
        if random_() < 0.35:  # TMDB reports 0 when budget and revenue are unknown, most of the time
            budget = int(math.exp(rng.gauss(16.5, 1.2))) // 1000 * 1000
            revenue = int(budget * math.exp(rng.gauss(0.6, 1.0))) if random_() < 0.8 else 0
        collection = film.collection
        if drop_id:
            id_json = ""
        else:
            id_json = f'"id":{fid},' if id_value is None else f'"id":{json.dumps(id_value)},'
        # Cast and crew entries come from cached JSON fragments and the body from this template
        # (same key order as the API): encoding a dict per film was the generator's largest cost.
        getrandbits = rng.getrandbits
        crew = [f'{_crew_head(p.tmdb_id, p.name, "Sound")}"credit_id":"{getrandbits(96):024x}",'
                f'"department":"Sound","job":"Original Music Composer"}}' for p in film.composers]
        for n, (department, job) in enumerate(CREW_JOBS):
            if n >= 3 and random_() < 0.5:
                continue
            k = int(random_() * self.actor_pool) + 7
            crew.append(f'{_crew_head(3_000_000 + k, _person_name(k), department)}"credit_id":"{getrandbits(96):024x}",'
                        f'"department":"{department}","job":"{job}"}}')
        cast = [f'{_actor_head(int(random_() * self.actor_pool))}"cast_id":{order + 1},'
                f'"character":{CHARACTER_JSON[int(random_() * len(CHARACTER_JSON))]},'
                f'"credit_id":"{getrandbits(96):024x}","order":{order}}}'
                for order in range(2 + int(random_() * 4))]
        collection_json = "null" if collection is None else (
            f'{{"id":{collection[0]},"name":{_json_str(collection[1])},"poster_path":"{_image_path(3, collection[0])}",'
            f'"backdrop_path":"{_image_path(4, collection[0])}"}}')
        status = "Released" if film.release_date else self._pick(("In Production", "Planned", "Post Production"))
        vote_average = 0.0 if votes == 0 else round(min(10.0, max(1.0, rng.gauss(6.3, 0.9))), 3)
        return (
            f'{{"adult":false,"backdrop_path":{_random_image_json(rng, 0.85)},'
            f'"belongs_to_collection":{collection_json},"budget":{budget},"genres":{_genres_json(tuple(film.genres))},'
            f'"homepage":"",{id_json}"imdb_id":{self._imdb_id_json(fid)},"origin_country":["{country[0]}"],'
            f'"original_language":"{language.iso}","original_title":{_json_str(film.original_title)},'
            f'"overview":{_json_str(self._overview())},"popularity":{round(math.exp(rng.gauss(1.2, 1.1)), 4)},'
            f'"poster_path":{_random_image_json(rng, 0.9)},"production_companies":[],'
            f'"production_countries":[{{"iso_3166_1":"{country[0]}","name":"{country[1]}"}}],'
            f'"release_date":"{film.release_date}","revenue":{revenue},"runtime":{"null" if runtime is None else runtime},'
            f'"spoken_languages":[{{"english_name":"{language.english_name}","iso_639_1":"{language.iso}",'
            f'"name":{_json_str(language.native_name)}}}],"status":"{status}","tagline":"",'
            f'"title":{_json_str(film.title)},"video":false,"vote_average":{vote_average},"vote_count":{votes},'
            f'"credits":{{"cast":[{",".join(cast)}],"crew":[{",".join(crew)}]}}}}'
        )

    def _imdb_id_json(self, fid: int) -> str:
        # An odd multiplier modulo 2**26 is a bijection, so distinct film ids keep distinct IMDb ids.
        return "null" if self.rng.random() < 0.03 else f'"tt{(fid * 0x2545F49) % (1 << 26):07d}"'

    def _overview(self) -> str:
        pick = self._pick
        if self.rng.random() < 0.04:
            return ""
        return (f"{pick(FIRST_NAMES)}, a {pick(ADJECTIVES_LOWER)} {pick(NOUNS_LOWER)}, "
                f"must {pick(OVERVIEW_VERBS)} the {pick(NOUNS_LOWER)} "
                f"of {pick(PLACES)} before \"{pick(NOUNS)}\" ends.")

    # -- albums --
    def _album_year(self, film: _Film) -> int:
        if not film.year or self.rng.random() < 0.03:
            return 0
        # A film out in November or December often gets its album dated the next year.
        if film.month >= 11 and self.rng.random() < 0.5:
            return min(film.year + 1, LATEST_YEAR)
        return film.year

    def _composer_artists(self, composers: Sequence[_Person]) -> list[tuple[int, str, str, str]]:
        join = self._pick(("&", ",", "And"))
        return [(p.discogs_id, p.discogs_name, p.anv, join if i < len(composers) - 1 else "")
                for i, p in enumerate(composers)]

    def _score_album(self, film: _Film, kind: str = "score", title_base: str = "") -> _Album:
        rng = self.rng
        base = title_base or self._album_base_title(film)
        composers = film.composers
        if kind == "songs" or not composers:
            kind = "songs"
            form = self._pick(SONGS_FORM_TABLE)
            artists = [(VARIOUS_ARTIST_ID, "Various", "", "")]
            side = self._pick(SOUNDTRACK_SIDE_GENRES[2:])
            genres, styles = [side[0], "Stage & Screen"], ["Soundtrack", self._pick(side[1])]
        else:
            form = self._pick(SCORE_FORM_TABLE)
            if film.language.album_suffixes and rng.random() < 0.5:
                form = "{t}" + self._pick(film.language.album_suffixes)
            artists = self._composer_artists(composers)
            styles = ["Score", "Soundtrack"] if rng.random() < 0.6 else ["Soundtrack"]
            if "Music" in film.genres:
                styles = ["Musical", "Soundtrack"]
            genres = ["Stage & Screen"]
            if rng.random() < 0.3:
                side = self._pick(SOUNDTRACK_SIDE_GENRES)
                genres.insert(0, side[0])
                styles.append(self._pick(side[1]))
        composer_name = composers[0].discogs_name.split(" (")[0] if composers else "Various"
        credits = [(p.discogs_id, p.discogs_name, p.credit_anv,
                    self._pick(("Composed By", "Music By", "Score", "Composed By, Conductor")))
                   for p in composers] if kind == "score" else []
        if rng.random() < 0.4:
            credits.append((*self._new_artist(_person_name(int(rng.random() * 5000)))[:2], "",
                            self._pick(("Conductor", "Orchestrated By", "Producer", "Mastered By"))))
        return _Album(
            title=form.format(t=base, c=composer_name), artists=artists, genres=genres, styles=styles,
            year=self._album_year(film), labels=SOUNDTRACK_LABEL_XML,
            country=film.language.discogs_country if film.language.iso != "en" else self._country(),
            films=[film.tmdb_id], credits=credits, has_master=rng.random() > 0.12,
            releases=self._release_count(), track_names=SCORE_TRACKS,
        )

    def _album_base_title(self, film: _Film) -> str:
        rng = self.rng
        if film.language.iso != "en" and film.original_title != film.title and rng.random() < 0.5:
            return film.original_title
        title = film.title
        if title != film.main_title:
            roll = rng.random()
            if roll < 0.25:
                title = film.main_title
            elif roll < 0.4:
                title = title.replace(": ", " - ", 1)
        return _discogs_case(title) if rng.random() < 0.8 else title

    def _country(self) -> str:
        return self._pick(COUNTRY_TABLE)

    def _release_count(self) -> int:
        roll = self.rng.random()
        return 1 if roll < 0.45 else 2 if roll < 0.75 else 3 if roll < 0.9 else 4

    def _lookalike(self, film: _Film, kind: str) -> Optional[_Album]:
        """An album that shares something with the film but is not its soundtrack (never a true pair)."""
        rng = self.rng
        year = film.year
        if kind == "same_title":
            genre = self._pick(("Rock", "Pop", "Jazz", "Electronic"))
            band = self._band()
            same_year = year and rng.random() < 0.3
            return _Album(title=film.title, artists=[band], genres=[genre], styles=[self._pick(MUSIC_GENRES[genre])],
                          year=year if same_year else self._music_year(), labels=MUSIC_LABEL_XML,
                          country=self._country(), releases=self._release_count())
        if kind == "composer_solo":
            if not film.composers:
                return None
            # The film's composer, in the film's year, with a concert album: not a soundtrack.
            return _Album(title=f"{self._pick(('Piano Works', 'Solo Piano', 'Chamber Music', 'Etudes'))} "
                                f"{self._pick(('I', 'II', 'Vol. 1', '1999-2004'))}",
                          artists=self._composer_artists(film.composers[:1]), genres=["Classical"],
                          styles=["Modern", "Contemporary"], year=year, labels=MUSIC_LABEL_XML,
                          country=self._country())
        if not year:
            return None
        composers = film.composers or [self._random_composer(film.language.iso)]
        if kind == "sequel_lookalike":
            return _Album(title=f"{_discogs_case(film.main_title)} 2 (Original Motion Picture Soundtrack)",
                          artists=self._composer_artists(composers), genres=["Stage & Screen"],
                          styles=["Score", "Soundtrack"], year=min(LATEST_YEAR, year + 2 + int(rng.random() * 3)),
                          labels=SOUNDTRACK_LABEL_XML, country=self._country(), track_names=SCORE_TRACKS)
        if kind == "remake_lookalike":
            other = self._random_composer(film.language.iso)
            if other in composers:
                other = _composer(self.seed, "main", self.composer_pool + 1)
            shift = 18 + int(rng.random() * 20)
            remake_year = year + shift if year + shift <= LATEST_YEAR else year - shift
            return _Album(title=f"{_discogs_case(film.main_title)} (Original Motion Picture Soundtrack)",
                          artists=self._composer_artists([other]), genres=["Stage & Screen"],
                          styles=["Score", "Soundtrack"], year=remake_year, labels=SOUNDTRACK_LABEL_XML,
                          country=self._country(), track_names=SCORE_TRACKS)
        base = _discogs_case(film.main_title)
        if kind == "tv":
            return _Album(title=self._pick(TV_FORMS).format(t=base),
                          artists=self._composer_artists([self._random_composer("en")]), genres=["Stage & Screen"],
                          styles=["Soundtrack"], year=min(LATEST_YEAR, year + 3 + int(rng.random() * 20)),
                          labels=SOUNDTRACK_LABEL_XML, country=self._country(), track_names=SCORE_TRACKS)
        if kind == "game":
            return _Album(title=self._pick(GAME_FORMS).format(t=base), artists=[self._new_artist(
                              _person_name(int(rng.random() * 5000) + 7))],
                          genres=["Electronic", "Stage & Screen"], styles=["Video Game Music"],
                          year=min(LATEST_YEAR, year + int(rng.random() * 2)), labels=SOUNDTRACK_LABEL_XML,
                          country=self._country(), track_names=("Title Screen", "Level 1", "Boss Battle"))
        if kind == "stage":
            return _Album(title=self._pick(STAGE_FORMS).format(t=base),
                          artists=[self._new_artist(f'"{base}" Original Broadway Cast')],
                          genres=["Stage & Screen"], styles=["Musical"],
                          year=min(LATEST_YEAR, year + 2 + int(rng.random() * 15)), labels=SOUNDTRACK_LABEL_XML,
                          country="US", track_names=("Overture", "Act One Finale", "Entr'acte"))
        if kind == "theme":
            n = 1 + int(rng.random() * 12)
            return _Album(title=self._pick(THEME_FORMS).format(n=n, d=year // 10 * 10),
                          artists=[(VARIOUS_ARTIST_ID, "Various", "", "")], genres=["Stage & Screen"],
                          styles=["Soundtrack", "Theme"], year=min(LATEST_YEAR, year + 1 + int(rng.random() * 10)),
                          labels=MUSIC_LABEL_XML, country=self._country(),
                          track_names=(f"Theme From {base}", f"Love Theme From {base}"))
        raise ValueError(f"unknown look-alike kind {kind!r}")

    def _band(self) -> tuple[int, str, str, str]:
        drawn = self.band_names.draw(self.rng)
        name = drawn[1] if drawn else f"Band {self.extra_artist_id}"
        return self._new_artist(name)

    def _music_year(self) -> int:
        return 0 if self.rng.random() < 0.03 else LATEST_YEAR - int(abs(self.rng.gauss(0, 20)))

    def _noise_album(self) -> _Album:
        rng = self.rng
        genre = self._pick(MUSIC_GENRE_NAMES)
        title = f"{self._pick(ADJECTIVES)} {self._pick(NOUNS)}" if rng.random() < 0.5 else self._pick(PLACES)
        return _Album(title=title, artists=[self._band()], genres=[genre], styles=[self._pick(MUSIC_GENRES[genre])],
                      year=self._music_year(), labels=MUSIC_LABEL_XML, country=self._country(),
                      has_master=rng.random() < 0.6, releases=self._release_count())

    # -- XML --
    @staticmethod
    def _artists_xml(artists: Sequence[tuple[int, str, str, str]], role_slot: bool = False) -> str:
        parts = []
        for aid, name, anv, last in artists:
            anv_xml = f"<anv>{_text(anv)}</anv>" if anv else "<anv/>"
            if role_slot:
                parts.append(f"<artist><id>{aid}</id><name>{_text(name)}</name>{anv_xml}<join/>"
                             f"<role>{_text(last)}</role><tracks/></artist>")
            else:
                join = f"<join>{_text(last)}</join>" if last else "<join/>"
                parts.append(f"<artist><id>{aid}</id><name>{_text(name)}</name>{anv_xml}{join}<role/><tracks/></artist>")
        return "".join(parts)

    def _format_xml(self, year: int, reissue: bool) -> tuple[str, str]:
        """The <formats> element and the medium name (Vinyl, CD, File, Cassette)."""
        random_ = self.rng.random
        roll = random_()
        if year and year < 1984:
            name = "Vinyl" if roll < 0.85 or reissue else "Cassette"
        elif reissue:
            name = "Vinyl" if roll < 0.55 else "CD" if roll < 0.8 else "File" if roll < 0.95 else "Cassette"
        else:
            name = "CD" if roll < 0.65 else "Vinyl" if roll < 0.8 else "File" if roll < 0.95 else "Cassette"
        if name == "Vinyl":
            qty = "2" if random_() < 0.2 else "1"
            text = self._pick(VINYL_TEXTS)
            descriptions = ("LP", "Album", "Reissue") if reissue else ("LP", "Album")
        elif name == "CD":
            qty, text = "1", ""
            descriptions = ("Album", "Reissue", "Remastered") if reissue else ("Album",)
        elif name == "File":
            qty = str(8 + int(random_() * 12))
            text, codec = ("", "FLAC") if random_() < 0.4 else ("320 kbps", "MP3")
            descriptions = (codec, "Album")
        else:
            qty, text = "1", ""
            descriptions = ("Album", "Reissue") if reissue else ("Album",)
        return _format_fragment(name, qty, text, descriptions), name

    def _tracklist_xml(self, named_tracks: Sequence[str], medium: str) -> str:
        """A <tracklist> of 4-12 tracks; named_tracks (title and duration XML) open it and recur."""
        random_ = self.rng.random
        count = 4 + int(random_() * 9)
        positions = _track_positions(count, medium in ("Vinyl", "Cassette"))
        parts = ["<tracklist>"]
        for n in range(count):
            if named_tracks and (n == 0 or random_() < 0.2):
                parts.append(positions[n] + named_tracks[int(random_() * len(named_tracks))])
            else:
                parts.append(positions[n] + TRACKS_XML[int(random_() * len(TRACKS_XML))])
        parts.append("</tracklist>")
        return "".join(parts)

    def _emit_album(self, album: _Album, masters: _AtomicGzipSink, releases: _AtomicGzipSink,
                    write_pair: Callable[[Sequence[object]], object]) -> None:
        """Write the album's master (if any) and releases, and its true pairs."""
        random_ = self.rng.random
        master_id = self._next_master_id() if album.has_master else 0
        count = album.releases if album.has_master else 1
        artists_xml = self._artists_xml(album.artists)
        genres_xml = _tags("genres", "genre", tuple(album.genres))
        styles_xml = _tags("styles", "style", tuple(album.styles))
        credits_xml = self._artists_xml(album.credits, role_slot=True)
        extraartists_xml = f"<extraartists>{credits_xml}</extraartists>" if credits_xml else "<extraartists/>"
        named_tracks = [f"<title>{_text(name)}</title>{self._pick(DURATIONS_XML)}</track>" for name in album.track_names]
        main_release = 0
        for n in range(count):
            release_id = self._next_release_id()
            reissue = n > 0
            year = album.year
            title = album.title
            if reissue:
                base_year = album.year or 1990
                year = base_year + 3 + int(random_() * 30)
                if year > LATEST_YEAR:
                    year = min(LATEST_YEAR, base_year + 1)
                if random_() < 0.35:
                    anniversary = (year - base_year) // 5 * 5
                    form = self._pick(EDITION_FORMS)
                    if "{n}" not in form or anniversary >= 10:
                        title = form.format(t=album.title, n=anniversary)
            else:
                main_release = release_id
            label_head, label_tail = album.labels[int(random_() * len(album.labels))]
            format_xml, medium = self._format_xml(year, reissue)
            if not year or random_() < 0.03:
                released = "" if random_() < 0.7 else "<released/>"
            else:
                roll = random_()
                if roll < 0.55:
                    released = f"<released>{year}-{1 + int(random_() * 12):02d}-{1 + int(random_() * 28):02d}</released>"
                elif roll < 0.9:
                    released = f"<released>{year}</released>"
                else:
                    released = f"<released>{year}-{1 + int(random_() * 12):02d}-00</released>"
            country = album.country if not reissue else self._country()
            master_xml = (f'<master_id is_main_release="{"false" if reissue else "true"}">{master_id}</master_id>'
                          if master_id else "")
            releases.add(
                f'<release id="{release_id}" status="Accepted">{IMAGES_XML if random_() < 0.3 else ""}'
                f"<artists>{artists_xml}</artists><title>{_text(title)}</title>"
                f"{label_head}{int(random_() * 99_999):05d}{label_tail}{extraartists_xml}{format_xml}{genres_xml}"
                f"{styles_xml}<country>{_text(country)}</country>{released}{NOTES_XML if random_() < 0.1 else ''}"
                f"{self._pick(QUALITY_XML)}{master_xml}{self._tracklist_xml(named_tracks, medium)}"
                f"<identifiers/><companies/></release>\n")
            self.releases_written += 1
        if master_id:
            masters.add(
                f'<master id="{master_id}"><main_release>{main_release}</main_release>'
                f"<artists>{artists_xml}</artists>{genres_xml}{styles_xml}<year>{album.year}</year>"
                f"<title>{_text(album.title)}</title><data_quality>Correct</data_quality></master>\n")
            self.masters_written += 1
        for tmdb_id in album.films:
            write_pair((tmdb_id, master_id or "", main_release))
            self.pairs_written += 1

    # -- clusters --
    def _cluster_films(self, kind: str, room: int) -> list[_Film]:
        """The films of one cluster (at most `room` of them); falls back to one film when room is 1."""
        rng = self.rng
        if kind == "franchise" and room >= 2:
            first = self._new_film(max_year=LATEST_YEAR - 8)
            films = [first]
            collection = (self.collection_id, f"{first.main_title} Collection")
            self.collection_id += 1 + int(rng.random() * 50)
            first.collection = collection
            for n in range(min(room, 3 if rng.random() < 0.35 else 2) - 1):
                form = self._pick((SEQUEL_FORMS, THIRD_FORMS)[n])
                title = form.format(t=first.main_title, s=self._pick(SUBTITLES))
                # "X 2: Subtitle" is known as "X 2"; "X: Part Two" has no shorter name.
                main = title.split(":")[0] if form.endswith(": {s}") else title
                original = title if first.language.iso == "en" else f"{first.original_title} {n + 2}"
                sequel = self._new_film(
                    title=title, main=main, original_title=original, language=first.language,
                    release_date=self._date_in(films[-1].year + 2 + int(rng.random() * 3)),
                    composers=first.composers if rng.random() < 0.7 else None)
                sequel.collection = collection
                films.append(sequel)
            return films
        if kind == "remake" and room >= 2:
            first = self._new_film(max_year=LATEST_YEAR - 15)
            year = first.year + 15 + int(rng.random() * (LATEST_YEAR - first.year - 14))
            other = self._random_composer(first.language.iso)
            if other in first.composers:  # main-pool indices from composer_pool up are never drawn
                other = _composer(self.seed, "main", self.composer_pool + 2)
            remake = self._new_film(title=first.title, main=first.main_title, original_title=first.original_title,
                                    language=first.language, release_date=self._date_in(year), composers=[other])
            return [first, remake]
        if kind == "double" and room >= 2:
            first = self._new_film(need_composer=True)
            first.composers = first.composers[:1]
            year = min(LATEST_YEAR, first.year + int(rng.random() * 2))
            second = self._new_film(language=first.language, release_date=self._date_in(year),
                                    composers=first.composers)
            return [first, second]
        return [self._new_film()]

    def _cluster_albums(self, kind: str, extra: Optional[str], films: list[_Film],
                        showcase: bool) -> Iterator[_Album]:
        """The albums of a cluster: true soundtracks, look-alikes and ordinary music, in that order."""
        rng = self.rng
        if kind == "double" and len(films) == 2:
            a, b = films
            album = self._score_album(a, title_base=f"{_discogs_case(a.main_title)} / {_discogs_case(b.main_title)}")
            album.title = album.title.replace("Soundtrack)", "Soundtracks)").replace("Score)", "Scores)")
            album.films = [a.tmdb_id, b.tmdb_id]
            album.year = max(a.year, b.year) if rng.random() > 0.2 else 0
            album.has_master = True
            yield album
        else:
            for index, film in enumerate(films):
                forced = extra if index == 0 else None
                if showcase or rng.random() < (0.48 if film.composers else 0.2):
                    album = self._score_album(film)
                    if forced == "masterless":
                        album.has_master = False
                    yield album
                    # A second album for the film: the songs next to the score.
                    if forced == "songs" or (film.composers and rng.random() < 0.07):
                        yield self._score_album(film, kind="songs")
                if kind != "standalone":
                    continue
                wanted = forced if showcase else self._random_lookalike_kind()
                if wanted in LOOKALIKE_KINDS:
                    lookalike = self._lookalike(film, wanted)
                    if lookalike is not None:
                        yield lookalike
        for _ in range(int(rng.random() * 1.3 * len(films) + 0.5)):
            yield self._noise_album()

    def _random_lookalike_kind(self) -> Optional[str]:
        roll = self.rng.random()
        for kind, threshold in LOOKALIKE_ODDS:
            if roll < threshold:
                return kind
        return None

    def _bad_line(self, n: int) -> str:
        """A broken TMDB line: truncated JSON, a body without id, or a non-numeric id (in turn)."""
        film = _Film(tmdb_id=900_000_000 + n, title=f"Lost Reel {n}", original_title=f"Lost Reel {n}",
                     language=LANGUAGES[0], release_date="", composers=[], genres=["Drama"])
        kind = n % 3
        if kind == 0:
            text = self._film_json(film)
            return text[: len(text) * 2 // 3]
        if kind == 1:
            return self._film_json(film, drop_id=True)
        return self._film_json(film, id_value=f"tt{900_000 + n}x")

    def run(self, tmdb: _AtomicGzipSink, masters: _AtomicGzipSink, releases: _AtomicGzipSink,
            write_pair: Callable[[Sequence[object]], object]) -> None:
        """Write every film, bad line, master, release and true pair, cluster by cluster."""
        masters.add("<masters>\n")
        releases.add("<releases>\n")
        while self.films_written < self.films_wanted:
            showcase = self.clusters < len(SHOWCASE)
            if showcase:
                kind, extra = SHOWCASE[self.clusters]
            else:
                roll = self.rng.random()
                kind = "franchise" if roll < 0.05 else "remake" if roll < 0.07 else "double" if roll < 0.075 else "standalone"
                extra = None
            self.clusters += 1
            films = self._cluster_films(kind, self.films_wanted - self.films_written)
            for film in films:
                tmdb.add(self._film_json(film) + "\n")
                self.films_written += 1
                while self.bad_written < self.bad_records and self.bad_after[self.bad_written] <= self.films_written:
                    tmdb.add(self._bad_line(self.bad_written) + "\n")
                    self.bad_written += 1
            for album in self._cluster_albums(kind, extra, films, showcase):
                self._emit_album(album, masters, releases, write_pair)
        masters.add("</masters>")
        releases.add("</releases>")


def _has_content(out_dir: Path) -> bool:
    """True when out_dir holds any file other than partial files a killed run left behind."""
    for _, _, files in os.walk(out_dir):
        if any(not name.endswith(PARTIAL_SUFFIX) for name in files):
            return True
    return False


def generate(out_dir: Path, films: int = 2000, seed: int = 42, bad_records: int = 3, *,
             overwrite: bool = False) -> GenerationSummary:
    """Write the sample `raw/` folder under out_dir and return what was written.

    Args:
        out_dir: the `raw/` folder to fill (created if missing).
        films: number of valid TMDB films (>= 1); albums scale with it.
        seed: the only source of randomness; same arguments give byte-identical files.
        bad_records: extra broken TMDB lines for the quarantine (>= 0).
        overwrite: replace this generator's files when out_dir already holds files.

    Raises:
        OutputExistsError: out_dir holds files and overwrite is False; nothing is written.
        ValueError: films < 1 or bad_records < 0.
    """
    if films < 1:
        raise ValueError(f"films must be at least 1, got {films}")
    if bad_records < 0:
        raise ValueError(f"bad_records must be 0 or more, got {bad_records}")
    out_dir = Path(out_dir)
    if out_dir.exists() and _has_content(out_dir) and not overwrite:
        raise OutputExistsError(f"{out_dir} is not empty: pass --force (overwrite=True) to replace the sample files")
    for sub in (TMDB_FILE.parent, MASTERS_FILE.parent):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)

    started = time.monotonic()
    generator = _Generator(films, seed, bad_records)
    sinks: list[_AtomicGzipSink] = []
    text_files = [out_dir / TRUE_PAIRS_FILE, out_dir / CHECKSUM_FILE]
    text_partials = [path.with_name(path.name + PARTIAL_SUFFIX) for path in text_files]
    try:
        for name in (TMDB_FILE, MASTERS_FILE, RELEASES_FILE):
            sinks.append(_AtomicGzipSink(out_dir / name, xml=name != TMDB_FILE))
        with open(text_partials[0], "w", newline="", encoding="utf-8") as pairs_file:
            pairs = csv.writer(pairs_file, lineterminator="\n")
            pairs.writerow(TRUE_PAIRS_HEADER)
            generator.run(*sinks, pairs.writerow)
        digests = [sink.finish() for sink in sinks]
        with open(text_partials[1], "w", encoding="utf-8", newline="") as checksum_file:
            for sink, digest in zip(sinks[1:], digests[1:]):
                checksum_file.write(f"{digest} {sink.path.name}\n")
    except BaseException:
        for sink in sinks:
            sink.abort()
        for partial in text_partials:
            partial.unlink(missing_ok=True)
        raise
    # Renamed only now, so an interrupted run never leaves a half file under a real name.
    written = []
    for sink in sinks:
        os.replace(sink.partial, sink.path)
        written.append(sink.path)
    for partial, path in zip(text_partials, text_files):
        os.replace(partial, path)
        written.append(path)
    elapsed = max(time.monotonic() - started, 1e-9)
    summary = GenerationSummary(
        films=generator.films_written, masters=generator.masters_written,
        releases=generator.releases_written, true_pairs=generator.pairs_written,
        bad_records=generator.bad_written, files=tuple(written),
    )
    logger.info("generated %d films, %d masters, %d releases, %d true pairs, %d bad lines in %.1f s (%.0f films/s)",
                summary.films, summary.masters, summary.releases, summary.true_pairs, summary.bad_records,
                elapsed, summary.films / elapsed)
    return summary


def _build_parser(default_out: Optional[Path], default_films: int, default_seed: int) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.generate_sample_data",
        description="Generate a deterministic sample raw/ folder (TMDB JSON lines, Discogs dump XML, true pairs).")
    parser.add_argument("--out", type=Path, default=default_out, required=default_out is None,
                        help="the raw/ folder to write (default: DATA_ROOT/raw)")
    parser.add_argument("--films", type=int, default=default_films, help="number of valid films (default %(default)s)")
    parser.add_argument("--seed", type=int, default=default_seed, help="random seed (default %(default)s)")
    parser.add_argument("--bad-records", type=int, default=3, help="broken TMDB lines to add (default %(default)s)")
    parser.add_argument("--force", action="store_true", help="replace the sample files in a non-empty folder")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry. Exit codes: 0 written, 2 bad arguments/configuration or output not empty."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    default_out = None if settings.is_remote_storage else Path(settings.data_root) / "raw"
    parser = _build_parser(default_out, settings.sample_films, settings.sample_seed)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help (0) and on bad arguments (2)
        return int(exc.code or 0)
    if args.films < 1 or args.bad_records < 0:
        sys.stderr.write("--films must be at least 1 and --bad-records 0 or more\n")
        return 2
    try:
        summary = generate(args.out, films=args.films, seed=args.seed, bad_records=args.bad_records,
                           overwrite=args.force)
    except OutputExistsError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    sys.stdout.write(
        f"wrote {summary.films} films ({summary.bad_records} bad lines), {summary.masters} masters, "
        f"{summary.releases} releases, {summary.true_pairs} true pairs under {args.out}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
