"""The words by which an album title says it is a film soundtrack, in several languages.

Shared by the dump converter (`scripts.discogs_dump`, deciding which records to keep) and the
normalize step (`has_soundtrack_title_term` on silver albums), so both decide alike. Discogs files
many soundtracks under Hip Hop, Rock, Pop, Electronic or Funk / Soul without a Soundtrack or
Score style; their titles still say "(Original Motion Picture Soundtrack)".

Whole words only: "ost" in "Ghost" or "Lost" is not a soundtrack. Plain "score" is left out on
purpose ("Shaft's Big Score!", "The Score"): only "original/film/complete score" counts.
"""
from __future__ import annotations

import re

# Each alternative is a phrase found in real soundtrack titles; the surrounding lookarounds make
# them whole words without relying on \b next to dots ("O.S.T.").
_PHRASES = (
    r"soundtracks?",
    r"o\.? ?s\.? ?t\.?",
    r"original (?:motion picture |film |movie )?score",
    r"(?:complete|film|movie) score",
    r"motion picture",
    r"music from (?:the )?(?:film|movie)",
    r"(?:music|songs) (?:from and )?inspired by",
    r"bande originale",
    r"musique (?:originale )?du film",
    r"b\.? ?o\.? ?f\.?",
    r"banda sonora",
    r"b\.? ?s\.? ?o\.?",
    r"trilha sonora",
    r"colonna sonora",
    r"filmmusik",
    r"soundtrack zum film",
    r"саундтрек",
    r"музыка из (?:кино)?фильма",
)
# Scripts without spaces between words: the term itself is the boundary.
_UNSPACED = (r"サウンドトラック", r"サントラ", r"原声", r"原聲", r"사운드트랙")

SOUNDTRACK_TITLE_RE = re.compile(
    r"(?<![^\W_])(?:" + "|".join(_PHRASES) + r")(?![^\W_])|" + "|".join(_UNSPACED),
    re.IGNORECASE,
)


def title_says_soundtrack(title: str | None) -> bool:
    """True when an album title carries a soundtrack qualifier (any of the languages above)."""
    return bool(title) and SOUNDTRACK_TITLE_RE.search(title) is not None
