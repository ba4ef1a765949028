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
import json
import json.encoder
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

from scripts.sample_vocabulary import (
    ADJECTIVES,
    CHARACTER_JSON,
    CJK_COMPOSER_NAMES,
    CREW_JOBS,
    EDITION_FORMS,
    FIRST_NAMES,
    GAME_FORMS,
    LANGUAGES,
    LAST_NAMES,
    LOOKALIKE_KINDS,
    LOOKALIKE_ODDS,
    MAIN_COMPOSERS,
    MUSIC_GENRE_NAMES,
    MUSIC_GENRES,
    NATIVE_WORDS,
    NOUNS,
    OVERVIEW_VERBS,
    PLACES,
    SCORE_TRACKS,
    SEQUEL_FORMS,
    SHOWCASE,
    SOUNDTRACK_SIDE_GENRES,
    SPECIAL_TITLES,
    STAGE_FORMS,
    SUBTITLES,
    THEME_FORMS,
    THIRD_FORMS,
    TV_FORMS,
    VERB_PHRASES,
    Language,
)
from scripts.sample_xml import (
    ADJECTIVES_LOWER,
    COUNTRY_TABLE,
    DURATIONS_XML,
    GENRE_TABLE,
    IMAGES_XML,
    LANGUAGE_TABLE,
    MUSIC_LABEL_XML,
    NOTES_XML,
    NOUNS_LOWER,
    PARTIAL_SUFFIX,
    QUALITY_XML,
    SCORE_FORM_TABLE,
    SONGS_FORM_TABLE,
    SOUNDTRACK_LABEL_XML,
    TRACKS_XML,
    VINYL_TEXTS,
    AtomicGzipSink,
    UniqueNames,
    actor_head,
    coprime_step,
    crew_head,
    discogs_case,
    format_fragment,
    genres_json,
    image_path,
    json_str,
    mix,
    person_name,
    random_image_json,
    strip_accents,
    track_positions,
    xml_tags,
    xml_text,
)
from scripts.settings import ConfigError, load_settings

T = TypeVar("T")
logger = logging.getLogger(__name__)


TMDB_FILE = Path("tmdb") / "sample_movies.jsonl.gz"
MASTERS_FILE = Path("discogs") / "sample_masters.xml.gz"
RELEASES_FILE = Path("discogs") / "sample_releases.xml.gz"
CHECKSUM_FILE = Path("discogs") / "sample_CHECKSUM.txt"
TRUE_PAIRS_FILE = Path("true_pairs.csv")
TRUE_PAIRS_HEADER = ("tmdb_id", "discogs_master_id", "discogs_release_id")
LATEST_YEAR = 2024
VARIOUS_ARTIST_ID = 194  # Discogs' own id for "Various"



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
    h = mix(seed, k, 0xC0)
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
    position = (k * coprime_step(size) + seed) % size
    first, last = FIRST_NAMES[position // len(LAST_NAMES)], LAST_NAMES[position % len(LAST_NAMES)]
    name = f"{first} {last}"
    # Discogs disambiguates namesakes with " (2)"; album credits often use a name variation.
    discogs_name = f"{name} ({2 + (h >> 8) % 5})" if h % 100 < 12 else name
    anv_roll = (h >> 16) % 100
    if anv_roll < 12:
        anv = f"{first[0]}. {last}"
    elif anv_roll < 20 and strip_accents(name) != name:
        anv = strip_accents(name)
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
    language: Language
    release_date: str
    composers: list[_Person]
    genres: list[str]
    collection: tuple[int, str] | None = None
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
        self.titles = UniqueNames((
            ("{} {}", (ADJECTIVES, NOUNS), 6),
            ("{} of {}", (NOUNS, PLACES), 4),
            ("{}'s {}", (FIRST_NAMES, NOUNS), 2),
            ("{} the {}", (VERB_PHRASES, NOUNS), 2),
            ("{} {} of {}", (ADJECTIVES, NOUNS, PLACES), 1),
            ("{}'s {} {} of {}", (FIRST_NAMES, ADJECTIVES, NOUNS, PLACES), 1),
        ), salt=seed)
        self.native_titles = {
            iso: UniqueNames((
                ("{}" + joiner + "{}", (first, second), 4),
                ("{}" + joiner + "{}" + joiner + "{}", (first, second, third), 1),
            ), salt=seed + i)
            for i, (iso, (first, second, third, joiner)) in enumerate(sorted(NATIVE_WORDS.items()))
        }
        self.band_names = UniqueNames((
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
                  language: Language | None = None, release_date: str | None = None,
                  composers: list[_Person] | None = None, max_year: int = LATEST_YEAR,
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
        crew = [f'{crew_head(p.tmdb_id, p.name, "Sound")}"credit_id":"{getrandbits(96):024x}",'
                f'"department":"Sound","job":"Original Music Composer"}}' for p in film.composers]
        for n, (department, job) in enumerate(CREW_JOBS):
            if n >= 3 and random_() < 0.5:
                continue
            k = int(random_() * self.actor_pool) + 7
            crew.append(f'{crew_head(3_000_000 + k, person_name(k), department)}"credit_id":"{getrandbits(96):024x}",'
                        f'"department":"{department}","job":"{job}"}}')
        cast = [f'{actor_head(int(random_() * self.actor_pool))}"cast_id":{order + 1},'
                f'"character":{CHARACTER_JSON[int(random_() * len(CHARACTER_JSON))]},'
                f'"credit_id":"{getrandbits(96):024x}","order":{order}}}'
                for order in range(2 + int(random_() * 4))]
        collection_json = "null" if collection is None else (
            f'{{"id":{collection[0]},"name":{json_str(collection[1])},"poster_path":"{image_path(3, collection[0])}",'
            f'"backdrop_path":"{image_path(4, collection[0])}"}}')
        status = "Released" if film.release_date else self._pick(("In Production", "Planned", "Post Production"))
        vote_average = 0.0 if votes == 0 else round(min(10.0, max(1.0, rng.gauss(6.3, 0.9))), 3)
        return (
            f'{{"adult":false,"backdrop_path":{random_image_json(rng, 0.85)},'
            f'"belongs_to_collection":{collection_json},"budget":{budget},"genres":{genres_json(tuple(film.genres))},'
            f'"homepage":"",{id_json}"imdb_id":{self._imdb_id_json(fid)},"origin_country":["{country[0]}"],'
            f'"original_language":"{language.iso}","original_title":{json_str(film.original_title)},'
            f'"overview":{json_str(self._overview())},"popularity":{round(math.exp(rng.gauss(1.2, 1.1)), 4)},'
            f'"poster_path":{random_image_json(rng, 0.9)},"production_companies":[],'
            f'"production_countries":[{{"iso_3166_1":"{country[0]}","name":"{country[1]}"}}],'
            f'"release_date":"{film.release_date}","revenue":{revenue},"runtime":{"null" if runtime is None else runtime},'
            f'"spoken_languages":[{{"english_name":"{language.english_name}","iso_639_1":"{language.iso}",'
            f'"name":{json_str(language.native_name)}}}],"status":"{status}","tagline":"",'
            f'"title":{json_str(film.title)},"video":false,"vote_average":{vote_average},"vote_count":{votes},'
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
            credits.append((*self._new_artist(person_name(int(rng.random() * 5000)))[:2], "",
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
        return discogs_case(title) if rng.random() < 0.8 else title

    def _country(self) -> str:
        return self._pick(COUNTRY_TABLE)

    def _release_count(self) -> int:
        roll = self.rng.random()
        return 1 if roll < 0.45 else 2 if roll < 0.75 else 3 if roll < 0.9 else 4

    def _lookalike(self, film: _Film, kind: str) -> _Album | None:
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
            return _Album(title=f"{discogs_case(film.main_title)} 2 (Original Motion Picture Soundtrack)",
                          artists=self._composer_artists(composers), genres=["Stage & Screen"],
                          styles=["Score", "Soundtrack"], year=min(LATEST_YEAR, year + 2 + int(rng.random() * 3)),
                          labels=SOUNDTRACK_LABEL_XML, country=self._country(), track_names=SCORE_TRACKS)
        if kind == "remake_lookalike":
            other = self._random_composer(film.language.iso)
            if other in composers:
                other = _composer(self.seed, "main", self.composer_pool + 1)
            shift = 18 + int(rng.random() * 20)
            remake_year = year + shift if year + shift <= LATEST_YEAR else year - shift
            return _Album(title=f"{discogs_case(film.main_title)} (Original Motion Picture Soundtrack)",
                          artists=self._composer_artists([other]), genres=["Stage & Screen"],
                          styles=["Score", "Soundtrack"], year=remake_year, labels=SOUNDTRACK_LABEL_XML,
                          country=self._country(), track_names=SCORE_TRACKS)
        base = discogs_case(film.main_title)
        if kind == "tv":
            return _Album(title=self._pick(TV_FORMS).format(t=base),
                          artists=self._composer_artists([self._random_composer("en")]), genres=["Stage & Screen"],
                          styles=["Soundtrack"], year=min(LATEST_YEAR, year + 3 + int(rng.random() * 20)),
                          labels=SOUNDTRACK_LABEL_XML, country=self._country(), track_names=SCORE_TRACKS)
        if kind == "game":
            return _Album(title=self._pick(GAME_FORMS).format(t=base), artists=[self._new_artist(
                              person_name(int(rng.random() * 5000) + 7))],
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
            anv_xml = f"<anv>{xml_text(anv)}</anv>" if anv else "<anv/>"
            if role_slot:
                parts.append(f"<artist><id>{aid}</id><name>{xml_text(name)}</name>{anv_xml}<join/>"
                             f"<role>{xml_text(last)}</role><tracks/></artist>")
            else:
                join = f"<join>{xml_text(last)}</join>" if last else "<join/>"
                parts.append(f"<artist><id>{aid}</id><name>{xml_text(name)}</name>{anv_xml}{join}<role/><tracks/></artist>")
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
        return format_fragment(name, qty, text, descriptions), name

    def _tracklist_xml(self, named_tracks: Sequence[str], medium: str) -> str:
        """A <tracklist> of 4-12 tracks; named_tracks (title and duration XML) open it and recur."""
        random_ = self.rng.random
        count = 4 + int(random_() * 9)
        positions = track_positions(count, medium in ("Vinyl", "Cassette"))
        parts = ["<tracklist>"]
        for n in range(count):
            if named_tracks and (n == 0 or random_() < 0.2):
                parts.append(positions[n] + named_tracks[int(random_() * len(named_tracks))])
            else:
                parts.append(positions[n] + TRACKS_XML[int(random_() * len(TRACKS_XML))])
        parts.append("</tracklist>")
        return "".join(parts)

    def _emit_album(self, album: _Album, masters: AtomicGzipSink, releases: AtomicGzipSink,
                    write_pair: Callable[[Sequence[object]], object]) -> None:
        """Write the album's master (if any) and releases, and its true pairs."""
        random_ = self.rng.random
        master_id = self._next_master_id() if album.has_master else 0
        count = album.releases if album.has_master else 1
        artists_xml = self._artists_xml(album.artists)
        genres_xml = xml_tags("genres", "genre", tuple(album.genres))
        styles_xml = xml_tags("styles", "style", tuple(album.styles))
        credits_xml = self._artists_xml(album.credits, role_slot=True)
        extraartists_xml = f"<extraartists>{credits_xml}</extraartists>" if credits_xml else "<extraartists/>"
        named_tracks = [f"<title>{xml_text(name)}</title>{self._pick(DURATIONS_XML)}</track>" for name in album.track_names]
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
                f"<artists>{artists_xml}</artists><title>{xml_text(title)}</title>"
                f"{label_head}{int(random_() * 99_999):05d}{label_tail}{extraartists_xml}{format_xml}{genres_xml}"
                f"{styles_xml}<country>{xml_text(country)}</country>{released}{NOTES_XML if random_() < 0.1 else ''}"
                f"{self._pick(QUALITY_XML)}{master_xml}{self._tracklist_xml(named_tracks, medium)}"
                f"<identifiers/><companies/></release>\n")
            self.releases_written += 1
        if master_id:
            masters.add(
                f'<master id="{master_id}"><main_release>{main_release}</main_release>'
                f"<artists>{artists_xml}</artists>{genres_xml}{styles_xml}<year>{album.year}</year>"
                f"<title>{xml_text(album.title)}</title><data_quality>Correct</data_quality></master>\n")
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

    def _cluster_albums(self, kind: str, extra: str | None, films: list[_Film],
                        showcase: bool) -> Iterator[_Album]:
        """The albums of a cluster: true soundtracks, look-alikes and ordinary music, in that order."""
        rng = self.rng
        if kind == "double" and len(films) == 2:
            a, b = films
            album = self._score_album(a, title_base=f"{discogs_case(a.main_title)} / {discogs_case(b.main_title)}")
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

    def _random_lookalike_kind(self) -> str | None:
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

    def run(self, tmdb: AtomicGzipSink, masters: AtomicGzipSink, releases: AtomicGzipSink,
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
    sinks: list[AtomicGzipSink] = []
    text_files = [out_dir / TRUE_PAIRS_FILE, out_dir / CHECKSUM_FILE]
    text_partials = [path.with_name(path.name + PARTIAL_SUFFIX) for path in text_files]
    try:
        for name in (TMDB_FILE, MASTERS_FILE, RELEASES_FILE):
            sinks.append(AtomicGzipSink(out_dir / name, xml=name != TMDB_FILE))
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


def _build_parser(default_out: Path | None, default_films: int, default_seed: int) -> argparse.ArgumentParser:
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


def main(argv: Sequence[str] | None = None) -> int:
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
