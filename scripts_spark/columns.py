"""Small `Column -> Column` helpers for patterns the steps repeat (in the style of quinn).

Each takes a column or a column name and returns a new column; none reads or writes anything.
Tested value by value in tests/scripts_spark/test_columns.py.
"""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

ColumnOrName = Column | str


def _column(col: ColumnOrName) -> Column:
    return F.col(col) if isinstance(col, str) else col


def array_or_empty(col: ColumnOrName) -> Column:
    """`col`, or an empty array where it is null, so that array functions (size, transform,
    concat, flatten) see `[]` for a missing list instead of turning the whole value null.

    The empty array takes the element type of `col` (Spark widens `array<void>` in coalesce).
    """
    return F.coalesce(_column(col), F.array())


def sorted_distinct(col: ColumnOrName) -> Column:
    """The distinct non-null elements of array `col`, in ascending order; null stays null."""
    return F.array_sort(F.array_distinct(F.filter(_column(col), lambda x: x.isNotNull())))
