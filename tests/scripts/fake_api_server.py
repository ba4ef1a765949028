"""The fake API server moved to `scripts.fake_api_server` (the benchmark ships it); kept as a re-export
so test modules that still import it from here keep working."""
from scripts.fake_api_server import *  # noqa: F401,F403
from scripts.fake_api_server import (  # noqa: F401 (names without __all__ coverage)
    DISCOGS_RES,
    FAULTS,
    GENRES,
    MOVIE_404,
    MOVIE_550,
    SHARED_DATA,
    SKIP_REASON,
    TMDB_JSON,
)
