"""Title and name normalization shared by the normalize and match steps.

Pure Python, no Spark: each function maps one string to one string (or a small tuple), so it can be
unit-tested directly and wrapped once as a vectorized pandas UDF in `step_03_normalize`.

Design choices (each one a failure of the matcher this project replaces):
- Accents are removed only from Latin, Greek and Cyrillic letters ("Amélie" -> "amelie"); other
  scripts keep their marks, because stripping them changes meaning (Japanese "ガ" is not "カ").
- Symbols inside a word are dropped rather than turned into spaces ("M*A*S*H" -> "mash",
  "WALL·E" -> "wall e" is avoided: the middle dot joins, so it becomes "walle").
- Soundtrack qualifiers are removed only as whole phrases or whole words: "ost" inside "ghost"
  or "lost" is never touched.
- Numbers are compared as numbers: roman numerals II..XX and number words after "part"/"chapter"
  become digits, so "Rocky II" and "Rocky 2" agree while "Frozen" and "Frozen 2" stay apart.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_LATIN_LIKE = ("LATIN", "GREEK", "CYRILLIC")

# Characters that join the letters on both sides instead of separating words.
_JOINERS = {"*", "·", "•", "'", "’", "‘", "`", "´", "ʼ", "."}

_ROMAN = {
    "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8", "ix": "9",
    "x": "10", "xi": "11", "xii": "12", "xiii": "13", "xiv": "14", "xv": "15", "xvi": "16",
    "xvii": "17", "xviii": "18", "xix": "19", "xx": "20",
}
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10",
}
_ORDINAL_WORDS = {
    "first": "1", "second": "2", "third": "3", "fourth": "4", "fifth": "5", "sixth": "6",
    "seventh": "7", "eighth": "8", "ninth": "9", "tenth": "10",
}
_SEQUEL_MARKERS = ("part", "chapter", "episode", "vol", "volume")
LEADING_ARTICLES = (
    "the", "a", "an", "le", "la", "les", "l", "der", "die", "das", "el", "los", "las", "il", "lo",
    "gli", "un", "une", "o", "os", "as",
)

# Qualifier phrases Discogs uses for soundtrack albums. Matched on the folded text, as whole words.
_QUALIFIER_PATTERNS = [
    r"original (?:motion )?picture (?:soundtracks?|scores?|music)(?: album)?",
    r"original (?:movie |film )?(?:soundtracks?|scores?)(?: recording| album)?",
    r"original (?:motion picture )?soundtrack recording",
    r"(?:original )?music (?:from|of)(?: and inspired by)? (?:the )?(?:original )?(?:motion picture|movie|film)"
    r"(?: soundtrack)?",
    r"(?:music|songs)(?: from)?(?: and)? inspired by(?: the)?(?: original)?(?: motion picture| movie| film)?"
    r"(?: soundtrack)?",
    r"music inspired by (?:the )?(?:motion picture|movie|film)",
    r"songs? (?:from|inspired by) (?:the )?(?:original )?(?:motion picture|movie|film)(?: soundtrack)?",
    r"(?:selections|highlights|themes?) from (?:the )?(?:original )?(?:motion picture|movie|film)(?: soundtrack)?",
    r"(?:the )?(?:original )?(?:motion picture )?(?:soundtracks?|scores?)(?: album)?",
    r"o ?s ?t",
    r"(?:^|(?<= ))(?:songs|music|themes?|score) from",
    # Other languages' soundtrack wording, as Discogs titles carry it.
    r"(?:la )?(?:bande originale|musique originale|musique)(?: du film| de film)?",
    r"b ?o ?f",
    r"b ?s ?o",
    r"banda (?:sonora|original)(?: original)?(?: de sonido| de la pelicula)?",
    r"trilha sonora(?: original)?(?: do filme)?",
    r"colonna sonora(?: originale)?(?: del film)?",
    r"(?:original )?filmmusik",
    r"(?:original )?soundtrack zum film",
    r"(?:オリジナル )?サウンドトラック",
    r"(?:映画 )?オリジナル サウンドトラック",
    r"(?:오리지널 )?사운드트랙",
    r"(?:电影|電影)?原声(?:带|大碟)?|(?:电影|電影)?原聲(?:帶|大碟)?",
    # An edition word that is also an ordinary title word ("Midnight Special", "Limited") goes
    # only with "edition" or "version" after it; the others go alone too ("X (Remastered)").
    r"(?:deluxe|expanded|anniversary|remastered)(?: \d+(?:th|st|nd|rd)?)?(?: anniversary)?(?: edition| version)?",
    r"(?:special|collector s|limited|complete|definitive)(?: \d+(?:th|st|nd|rd)?)?(?: anniversary)?"
    r"(?: edition| version)",
    r"\d+(?:th|st|nd|rd)? anniversary(?: edition)?",
    r"(?:complete|original|expanded) score",
    r"(?:film|movie) score",
    r"scores?",
    r"soundtracks?",
]
_QUALIFIER_RE = re.compile(r"(?:^| )(?:" + "|".join(_QUALIFIER_PATTERNS) + r")(?= |$)")

# Albums that are soundtracks, but not of a film.
_TV_RE = re.compile(
    r"\b(?:television|tv series|tv soundtrack|tv show|series soundtrack|from the (?:\w+ ){0,2}series|"
    r"(?:hbo|netflix|amazon|bbc|amc|showtime|animated|web) series|"
    r"original series|season \d+|saison \d+|miniseries|anime series)\b"
)
_GAME_RE = re.compile(r"\b(?:video ?games?|gaming|playstation|nintendo|xbox)\b")
# A title that names a film outright is a film soundtrack, whatever else it mentions
# ("Bullets Over Broadway (Original Motion Picture Soundtrack)").
_FILM_RE = re.compile(r"\b(?:motion picture|from the (?:film|movie)|du film|del film|do filme|zum film)\b")
_STAGE_RE = re.compile(
    r"\b(?:broadway|cast recording|original cast|london cast|stage production|the musical|musical cast|"
    r"west end)\b"
)
_COMPILATION_RE = re.compile(
    r"\b(?:greatest|best of|movie themes|film themes|famous themes|great themes|hits from the movies|"
    r"at the movies|movie hits|film music of|music from the films|screen themes|cinema classics)\b"
)
_DISCOGS_SUFFIX_RE = re.compile(r"\s*\(\d+\)\s*$")
_SPACES_RE = re.compile(r"\s+")
_SUBTITLE_SPLIT_RE = re.compile(r"\s*(?::| - | – | — )\s*")


def _strip_marks(text: str) -> str:
    """Remove combining accents from Latin, Greek and Cyrillic letters, keep them elsewhere."""
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if unicodedata.combining(ch) and out:
            base_name = unicodedata.name(out[-1], "")
            if base_name.startswith(_LATIN_LIKE):
                continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


# Latin letters that Unicode does not decompose into a base letter and an accent, folded as
# Discogs' and TMDB's spellings without them have it ("Guðnadóttir" / "Gudnadottir").
_SPECIAL_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l",
                                  "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t"})
# A joiner between two letters or digits (of any script) is dropped; `[^\W_]` is str.isalnum().
_JOINED_RE = re.compile(r"(?<=[^\W_])[" + re.escape("".join(sorted(_JOINERS))) + r"](?=[^\W_])")
_NOT_ALNUM_RE = re.compile(r"[\W_]+")


@lru_cache(maxsize=1 << 16)
def fold(text: str | None) -> str:
    """Fold a title or name to comparable lower-case words separated by single spaces.

    Keeps letters and digits of every script, resolves compatibility forms (full-width, ligatures),
    removes Latin accents, joins letters across `*`, `·`, apostrophes and dots, and turns `&` into
    `and`. Returns "" for None or text without letters or digits.

    Cached: an album title is folded for its keys, its qualifiers and its kind, and titles repeat
    across releases. ASCII text (most titles) skips the Unicode normalization, which cannot change it.
    """
    if not text:
        return ""
    if text.isascii():
        text = text.lower()
    else:
        text = _strip_marks(unicodedata.normalize("NFKC", text).casefold().translate(_SPECIAL_LETTERS))
    text = _JOINED_RE.sub("", text).replace("&", " and ")
    return _NOT_ALNUM_RE.sub(" ", text).strip()


def _numbers_to_digits(words: list[str]) -> list[str]:
    out = []
    for i, word in enumerate(words):
        previous = words[i - 1] if i else ""
        if word in _ROMAN and (i > 0) and (i == len(words) - 1 or previous in _SEQUEL_MARKERS or word != "i"):
            # A roman numeral after the first word ("rocky ii", "part iv"); a lone "i" or "v"
            # at the start is a word, not a number ("i robot", "v for vendetta").
            if word in ("v", "x") and i != len(words) - 1 and previous not in _SEQUEL_MARKERS:
                out.append(word)
            else:
                out.append(_ROMAN[word])
        elif previous in _SEQUEL_MARKERS and word in _NUMBER_WORDS:
            out.append(_NUMBER_WORDS[word])
        elif previous in _SEQUEL_MARKERS and word in _ORDINAL_WORDS:
            out.append(_ORDINAL_WORDS[word])
        else:
            out.append(word)
    return out


# "part" mistyped (a letter doubled, swapped or lost, a space moved), taken for it only before a
# number. One-edit forms that are words of their own ("art", "par", "pat", "pert") are not.
_PART_TYPOS = frozenset({"ppart", "paart", "parrt", "partt", "aprt", "prat", "patr", "prt", "pt"})
_PART_SPLITS = {("p", "art"), ("pa", "rt"), ("par", "t")}


def _is_number_word(word: str) -> bool:
    return word.isdigit() or word in _ROMAN or word in _NUMBER_WORDS or word in _ORDINAL_WORDS


def _mended_part(words: list[str]) -> list[str]:
    """Words with a mistyped "part" before a number mended ("par t four" -> "part four")."""
    out: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if i + 2 < len(words) and (word, words[i + 1]) in _PART_SPLITS and _is_number_word(words[i + 2]):
            out.append("part")
            i += 2
            continue
        out.append("part" if word in _PART_TYPOS and i + 1 < len(words) and _is_number_word(words[i + 1]) else word)
        i += 1
    return out


@lru_cache(maxsize=1 << 16)
def title_key(text: str | None) -> str:
    """The blocking key of a title: folded, leading article dropped, numbers as digits.

    "The Lord of the Rings: The Two Towers" -> "lord of the rings the two towers";
    "Rocky II" -> "rocky 2"; "Léon" -> "leon"; "M*A*S*H" -> "mash". Sequel numbers are kept,
    so "frozen" and "frozen 2" are different keys.
    """
    words = fold(text).split()
    if len(words) > 1 and words[0] in LEADING_ARTICLES:
        words = words[1:]
    words = _numbers_to_digits(_mended_part(words))
    # "part 2" and plain "2" are the same sequel marker for blocking purposes.
    cleaned = [w for i, w in enumerate(words)
               if not (w in ("part", "chapter") and i + 1 < len(words) and words[i + 1].isdigit())]
    return " ".join(cleaned)


def main_title(text: str | None) -> str:
    """The part of a title before its subtitle separator (":", " - ", dashes), unfolded."""
    if not text:
        return ""
    parts = _SUBTITLE_SPLIT_RE.split(text, maxsplit=1)
    return parts[0].strip()


@lru_cache(maxsize=1 << 16)
def strip_qualifiers(text: str | None) -> tuple[str, bool]:
    """Remove soundtrack qualifiers from an album title.

    Returns the folded core title and whether any soundtrack qualifier was found. Bracketed
    parts are inspected first: "Heat (Music From The Motion Picture)" -> ("heat", True);
    "Ghost Stories" -> ("ghost stories", False): "ost" only counts as a whole word.
    """
    if not text:
        return "", False
    found = False
    core_parts = []
    # Split off bracketed segments; a bracket that is only a qualifier disappears.
    for segment in re.split(r"[\(\)\[\]\{\}]", text):
        folded = fold(segment)
        if not folded:
            continue
        stripped = _QUALIFIER_RE.sub(" ", folded)
        stripped = _SPACES_RE.sub(" ", stripped).strip()
        # A second pass catches qualifiers that became adjacent after the first removal.
        stripped2 = _SPACES_RE.sub(" ", _QUALIFIER_RE.sub(" ", stripped)).strip()
        if stripped2 != folded:
            found = True
        if stripped2:
            core_parts.append(stripped2)
    core = " ".join(core_parts)
    if not core:
        # The whole title is qualifier words ("The Score"): keep the unbracketed words as the title.
        core = fold(re.sub(r"[\(\[\{].*?[\)\]\}]", " ", text))
    # Trailing "from the motion picture x" style leftovers and edition words already removed;
    # drop dangling connector words left at the ends.
    core = re.sub(r"^(?:from|of|the|and)\s+|\s+(?:from|of|and|the)$", "", core).strip()
    return core, found


def split_artist_prefix(title: str | None, artist_names: Iterable[str]) -> str:
    """Drop an "Artist - " prefix from an album title when the prefix names one of the album's artists.

    "Hans Zimmer - Interstellar" with artist "Hans Zimmer" -> "Interstellar". A prefix that is
    not an artist ("Star Wars - A New Hope") is kept, because it is part of the title.
    """
    if not title or " - " not in title:
        return title or ""
    prefix, rest = title.split(" - ", 1)
    prefix_norm = person_name(prefix)
    names = {person_name(n) for n in artist_names if n}
    if prefix_norm and prefix_norm in names:
        return rest
    return title


def person_name(name: str | None) -> str:
    """Normalize a person's name for comparison across TMDB and Discogs.

    Drops the Discogs disambiguation suffix ("John Williams (4)"), swaps "Surname, Name" into
    "name surname", folds accents and case: "Morricone, Ennio" -> "ennio morricone".
    """
    if not name:
        return ""
    name = _DISCOGS_SUFFIX_RE.sub("", name.strip())
    if name.count(",") == 1:
        surname, given = (part.strip() for part in name.split(","))
        if surname and given and not given.lower().startswith(("jr", "sr", "ii", "iii")):
            name = f"{given} {surname}"
    return fold(name)


def album_kind(title: str | None, styles: Iterable[str] = ()) -> str:
    """Classify a soundtrack album by what it accompanies: film, tv, video_game, stage or compilation.

    Uses the title's wording and the Discogs styles ("Video Game Music", "Musical", "Theme").
    Film is the default: most "Stage & Screen" albums are film soundtracks.
    """
    folded = fold(title)
    style_set = {s.strip().lower() for s in styles or ()}
    if "video game music" in style_set or _GAME_RE.search(folded):
        return "video_game"
    if _FILM_RE.search(folded):
        return "film"
    if _TV_RE.search(folded):
        return "tv"
    if _STAGE_RE.search(folded):
        return "stage"
    if _COMPILATION_RE.search(folded):
        return "compilation"
    return "film"


def album_pieces(title: str | None, artist_names: Iterable[str] = ()) -> list[str]:
    """The film titles an album title names: one piece per film, artist prefix removed.

    "Thelma & Louise / Regarding Henry (Scores)" -> ["Thelma & Louise", "Regarding Henry (Scores)"].
    """
    if not title:
        return []
    title = split_artist_prefix(title, list(artist_names))
    return [p for p in re.split(r"\s+/\s+", title) if p.strip()]


def album_title_keys(title: str | None, artist_names: Iterable[str] = ()) -> list[str]:
    """The title key of each piece of an album title, aligned with `album_pieces`.

    One key per film the album covers: a two-film album "Thelma & Louise / Regarding Henry"
    gives two keys. Soundtrack qualifiers are removed. A piece that gives no key, or the same key
    as an earlier piece, gives "" so that position i always belongs to piece i.
    """
    return album_keys(title, artist_names)[0]


def has_soundtrack_qualifier(title: str | None) -> bool:
    """True when the album title says it is a soundtrack or score (whole words only)."""
    return strip_qualifiers(title)[1]


def main_title_key(title: str | None) -> str | None:
    """Key of the title before its subtitle ("Léon: The Professional" -> "leon"); None without subtitle."""
    if not title:
        return None
    main = main_title(title)
    return title_key(main) if main != title.strip() else None


def person_keys(names: Iterable[str | None] | None) -> list[str]:
    """Sorted distinct normalized person names, empty ones left out."""
    if names is None:
        return []
    return sorted({person_name(n) for n in names if n} - {""})


def album_main_keys(title: str | None, artist_names: Iterable[str] = ()) -> list[str]:
    """The key of each piece's main title, aligned with `album_pieces`, for "Film: Album Subtitle".

    "Guardians of the Galaxy: Awesome Mix Vol. 1" -> ["guardians of the galaxy"]; a piece
    without subtitle gives "" (its full key is already in `album_title_keys`).
    """
    return album_keys(title, artist_names)[1]


def album_alt_keys(title: str | None, artist_names: Iterable[str] = ()) -> list[str]:
    """A second key per piece, aligned with `album_pieces`: the piece with only its bracketed
    qualifiers removed, for film titles that begin like a qualifier ("Songs from the Second
    Floor", "Music from Another Room"). "" where it equals the main key.
    """
    return album_keys(title, artist_names)[2]


_BRACKETED_RE = re.compile(r"[\(\[\{][^\)\]\}]*[\)\]\}]")


def album_keys(title: str | None, artist_names: Iterable[str] = ()) -> tuple[list[str], list[str], list[str]]:
    """`album_title_keys`, `album_main_keys` and `album_alt_keys` from one split of the title."""
    keys: list[str] = []
    mains: list[str] = []
    alts: list[str] = []
    for piece in album_pieces(title, artist_names):
        key = title_key(strip_qualifiers(piece)[0])
        main = main_title(piece)
        alt = title_key(_BRACKETED_RE.sub(" ", piece))
        keys.append(key if key not in keys else "")
        mains.append(title_key(strip_qualifiers(main)[0]) if main != piece.strip() else "")
        alts.append(alt if alt and alt != keys[-1] else "")
    return keys, mains, alts
