"""Text building blocks of the sample-data generator: JSON/XML fragments, hashing, unique names, sinks.

Pure helpers and precomputed fragments (no randomness of their own: callers pass their
`random.Random`), and the gzip sink that writes each output file under a temporary name.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import json.encoder
import math
import os
import random
import unicodedata
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

from scripts.sample_vocabulary import (
    ADJECTIVES,
    COUNTRY_WEIGHTS,
    DISCOGS_COUNTRIES,
    FIRST_NAMES,
    GENRE_WEIGHTS,
    LANGUAGE_WEIGHTS,
    LANGUAGES,
    LAST_NAMES,
    MUSIC_LABELS,
    NOUNS,
    SCORE_TITLE_FORMS,
    SONGS_TITLE_FORMS,
    SOUNDTRACK_LABELS,
    TMDB_GENRES,
)

# The C string encoder behind json.dumps(..., ensure_ascii=False): a quoted JSON string, UTF-8 kept.
json_str = json.encoder.encode_basestring
MASK64 = (1 << 64) - 1
PARTIAL_SUFFIX = ".partial"

# Level 1 because the files are regenerated at will and throughput matters more than size
# (level 6 is about three times slower on this text for ~25 % smaller files).
GZIP_LEVEL = 1
FLUSH_BYTES = 1 << 20


# --- small pure helpers ---------------------------------------------------------------------
def mix(*parts: int) -> int:
    """A 64-bit hash of integers (splitmix-style), for attributes that must not consume the RNG."""
    h = 0x9E3779B97F4A7C15
    for part in parts:
        h = ((h ^ (part & MASK64)) * 0xBF58476D1CE4E5B9) & MASK64
        h ^= h >> 31
        h = (h * 0x94D049BB133111EB) & MASK64
        h ^= h >> 29
    return h


def image_path(*parts: int) -> str:
    """A TMDB-looking image path ("/" + 27 characters + ".jpg") that is a function of the parts."""
    return f"/{(mix(*parts) << 44) | (mix(*parts, 7) >> 20):027x}.jpg"


def random_image_json(rng: random.Random, present: float) -> str:
    """A quoted random image path with probability `present`, else null."""
    return f'"/{rng.getrandbits(108):027x}.jpg"' if rng.random() < present else "null"


@lru_cache(maxsize=4096)
def genres_json(genres: tuple[str, ...]) -> str:
    return json.dumps([{"id": TMDB_GENRES[g], "name": g} for g in genres], separators=(",", ":"))


def person_name(k: int) -> str:
    """Name of person number k of the actor/crew space (names repeat, ids do not)."""
    return f"{FIRST_NAMES[k % len(FIRST_NAMES)]} {LAST_NAMES[(k // len(FIRST_NAMES)) % len(LAST_NAMES)]}"


@lru_cache(maxsize=1 << 15)
def actor_head(k: int) -> str:
    """The fixed part of a cast entry for actor k, up to and including the comma before "cast_id"."""
    name = json_str(person_name(k))
    path = json.dumps(image_path(2, k) if k % 5 else None)
    return (f'{{"adult":false,"gender":{1 + (k & 1)},"id":{2_000_000 + k},"known_for_department":"Acting",'
            f'"name":{name},"original_name":{name},"popularity":{(k * 7919) % 12_000 / 1000},"profile_path":{path},')


@lru_cache(maxsize=1 << 15)
def crew_head(pid: int, name: str, known_for: str) -> str:
    """The fixed part of a crew entry, up to and including the comma before "credit_id"."""
    quoted = json_str(name)
    return (f'{{"adult":false,"gender":{2 - (pid & 1)},"id":{pid},"known_for_department":"{known_for}",'
            f'"name":{quoted},"original_name":{quoted},"popularity":{(pid % 997) / 97:.4f},"profile_path":null,')


def expand(pairs: Sequence[tuple[object, int]]) -> tuple:
    """Each value repeated by its weight: one random index into it is a weighted draw."""
    return tuple(value for value, weight in pairs for _ in range(weight))


def xml_text(value: str) -> str:
    """Escape element text; non-ASCII becomes decimal references later, as in the 2020 dumps."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def xml_attr(value: str) -> str:
    """Escape an attribute value; the 2020 dumps write non-ASCII in attributes as hex references."""
    escaped = xml_text(value).replace('"', "&quot;")
    if escaped.isascii():
        return escaped
    return "".join(ch if ord(ch) < 128 else f"&#x{ord(ch):X};" for ch in escaped)


@lru_cache(maxsize=256)
def xml_tags(outer: str, inner: str, values: tuple[str, ...]) -> str:
    """`<outer><inner>v</inner>...</outer>`, or "" for no values (the dumps then omit the element)."""
    if not values:
        return ""
    return f"<{outer}>" + "".join(f"<{inner}>{xml_text(v)}</{inner}>" for v in values) + f"</{outer}>"


@lru_cache(maxsize=256)
def format_fragment(name: str, qty: str, text: str, descriptions: tuple[str, ...]) -> str:
    return (f'<formats><format name="{name}" qty="{qty}" text="{xml_attr(text)}">'
            f"{xml_tags('descriptions', 'description', descriptions)}</format></formats>")


@lru_cache(maxsize=64)
def track_positions(count: int, sided: bool) -> tuple[str, ...]:
    """Opening of each track with its position as on the medium: A1.. B1.. for vinyl and tape, 1.. otherwise."""
    if not sided:
        return tuple(f"<track><position>{n + 1}</position>" for n in range(count))
    half = (count + 1) // 2
    return tuple(f"<track><position>A{n + 1}</position>" if n < half else f"<track><position>B{n + 1 - half}</position>"
                 for n in range(count))


def label_fragments(labels: Sequence[tuple[int, str, str]]) -> tuple[tuple[str, str], ...]:
    """(text before the catalogue number, text after it) of a <labels> element, per label."""
    return tuple((f'<labels><label name="{xml_attr(name)}" catno="{xml_attr(prefix)}', f'" id="{label_id}"/></labels>')
                 for label_id, name, prefix in labels)


def strip_accents(value: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))


def discogs_case(title: str) -> str:
    """Discogs capitalizes every word of English titles ("Kingdom of Ash" -> "Kingdom Of Ash")."""
    return " ".join(w[:1].upper() + w[1:] if w[:1].islower() else w for w in title.split(" "))


def coprime_step(size: int) -> int:
    """An odd step near size/phi that is coprime with size, so k -> k*step mod size is a permutation."""
    step = max(1, int(size * 0.6180339887)) | 1
    while math.gcd(step, size) != 1:
        step += 2
    return step


# Tables derived once from the vocabulary above: XML fragments and weighted draws.
SOUNDTRACK_LABEL_XML = label_fragments(SOUNDTRACK_LABELS)
MUSIC_LABEL_XML = label_fragments(MUSIC_LABELS)
QUALITY_XML = expand((("<data_quality>Needs Vote</data_quality>", 85), ("<data_quality>Correct</data_quality>", 10),
                       ("<data_quality>Complete and Correct</data_quality>", 2),
                       ("<data_quality>Needs Minor Changes</data_quality>", 3)))
DURATIONS_XML = tuple(f"<duration>{s // 60}:{s % 60:02d}</duration>" for s in range(45, 400)) + ("<duration/>",) * 30
# Title, duration and end of a track, ready to follow a position: one draw per track.
TRACKS_XML = tuple(f"<title>{xml_text(title)}</title>{DURATIONS_XML[i * 131 % len(DURATIONS_XML)]}</track>"
                   for i, title in enumerate([f"{ADJECTIVES[i % len(ADJECTIVES)]} {NOUNS[i * 37 % len(NOUNS)]}"
                                              for i in range(2400)] + NOUNS))
IMAGES_XML = '<images><image type="primary" uri="" uri150="" width="600" height="600"/></images>'
NOTES_XML = "<notes>Includes a download card &amp; poster.</notes>"
VINYL_TEXTS = ("", "", "", "180g", "Red", "Gatefold", "Transparent Blue")
GENRE_TABLE = expand(GENRE_WEIGHTS)
ADJECTIVES_LOWER = tuple(word.lower() for word in ADJECTIVES)
NOUNS_LOWER = tuple(word.lower() for word in NOUNS)
LANGUAGE_TABLE = expand(tuple(zip(LANGUAGES, LANGUAGE_WEIGHTS)))
COUNTRY_TABLE = expand(tuple(zip(DISCOGS_COUNTRIES, COUNTRY_WEIGHTS)))
SCORE_FORM_TABLE = expand(SCORE_TITLE_FORMS)
SONGS_FORM_TABLE = expand(SONGS_TITLE_FORMS)


class UniqueNames:
    """Hands out distinct strings built from word lists, pattern after pattern.

    Each pattern is the cartesian product of its word lists; the k-th draw from a pattern takes
    product element `(k * step + offset) mod size`, a permutation, so no string repeats and
    consecutive draws share no word. A pattern is drawn with its weight until exhausted.
    """

    def __init__(self, patterns: Sequence[tuple[str, Sequence[Sequence[str]], int]], salt: int):
        self._patterns = [(fmt, lists) for fmt, lists, _ in patterns]
        self._weights = [w for _, _, w in patterns]
        self._sizes = [math.prod(len(lst) for lst in lists) for _, lists, _ in patterns]
        self._steps = [coprime_step(size) for size in self._sizes]
        self._offsets = [mix(salt, i) % size for i, size in enumerate(self._sizes)]
        self._used = [0] * len(patterns)
        self._table = expand(tuple(zip(range(len(patterns)), self._weights)))

    def draw(self, rng: random.Random) -> tuple[int, str] | None:
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


class AtomicGzipSink:
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
        self._in_flight: Future | None = None
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
