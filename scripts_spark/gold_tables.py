"""The gold analytics tables: their names, the order each is written in, and the constants that
define their groups. Step 05 computes the tables from these definitions; the report reads them.

Adding a gold table: one `GoldTable` entry below, and its builder in `step_05_aggregate.BUILDERS`
(a test checks that the two name the same tables).
"""
from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

# Groups with fewer films than this are flagged `is_small_group`: their figures are unreliable.
MIN_GROUP_SIZE = 10
NO_SOUNDTRACK = "(no soundtrack)"
ANY_SOUNDTRACK = "(any soundtrack)"
NO_GENRE = "(no genre)"
UNKNOWN_LANGUAGE = "(unknown)"

# Discogs format names per reported format; containers ("Box Set", "All Media") are not a medium
# and are left out, every other medium (DVD, Blu-ray, Minidisc, 8-Track ...) is "other".
FORMAT_GROUPS = {
    "vinyl": ("Vinyl", "Lathe Cut", "Flexi-disc"),
    "cd": ("CD", "CDr", "CDV", "SACD"),
    "cassette": ("Cassette", "Microcassette"),
    "file": ("File",),
}
FORMAT_CONTAINERS = ("Box Set", "All Media")


@dataclass(frozen=True)
class GoldTable:
    """One analytics table of `gold/`.

    Attributes:
        name: the table folder (Parquet) and, with `_csv`, its one-file CSV copy.
        order: the total ordering it is written in: column names, "-" for descending; nulls come
            first in ascending order and last in descending order (Spark's defaults).
        partitions: Parquet files to write (1 for small tables; None leaves Spark's partitioning).
    """

    name: str
    order: tuple[str, ...]
    partitions: int | None = 1


# In the order step 05 writes them; `film_soundtracks` comes first, the others are built from it.
GOLD_TABLES = (
    GoldTable("film_soundtracks", ("tmdb_id",), partitions=None),
    GoldTable("coverage_by_genre_decade", ("film_genre", "decade")),
    GoldTable("coverage_by_language", ("original_language",)),
    GoldTable("soundtrack_style_vs_film", ("dimension", "value")),
    GoldTable("composers", ("-matched_films", "-matched_albums", "composer")),
    GoldTable("formats_by_year", ("album_year",)),
    # Issue 16: the tested answer to the research question (scripts_spark.soundtrack_effects).
    GoldTable("effect_tests", ("dimension", "value", "metric")),
    GoldTable("effect_regression", ("dimension", "value", "response")),
    GoldTable("effect_sensitivity", ("dimension", "value", "metric")),
)
TABLE_ORDER = {table.name: table.order for table in GOLD_TABLES}


def table_order(name: str) -> list[Column]:
    """The sort columns of gold table `name` (see GOLD_TABLES)."""
    return [F.col(c[1:]).desc() if c.startswith("-") else F.col(c).asc() for c in TABLE_ORDER[name]]
