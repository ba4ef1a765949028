"""Reading JSON-lines sources with an explicit schema, splitting off bad records with a reason.

Shared by the two extract steps: a line that is not valid JSON, has a field of the wrong type,
or lacks a usable id goes to quarantine with the reason and the original text; nothing is dropped
without being counted.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from scripts_spark.schemas import CORRUPT_COLUMN

class MissingInputError(RuntimeError):
    """A step found no input files where the contract says they must be."""


_JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}


def read_lines(spark: SparkSession, files: list[str]) -> DataFrame:
    """One row per non-blank line: `value` (the text) and `source_file` (its file name).

    Gzip-compressed files are read transparently. The file name, not the full path, is kept so
    the same data gives the same rows wherever DATA_ROOT points.
    """
    return (
        spark.read.text(files)
        .withColumn("source_file", F.element_at(F.split(F.input_file_name(), "/"), -1))
        .filter(F.trim("value") != "")
    )


def parse_json_lines(lines_df: DataFrame, schema: T.StructType) -> DataFrame:
    """Parse `value` with `schema` into a struct column `rec`, keeping `value` and `source_file`."""
    return lines_df.withColumn("rec", F.from_json("value", schema, _JSON_OPTIONS))


def quarantine_reason(id_col: Column, title_col: Column) -> Column:
    """Why a parsed record is unusable, or null when it is fine."""
    corrupt = F.col(f"rec.{CORRUPT_COLUMN}")
    return (
        F.when(corrupt.isNotNull() & id_col.isNull() & title_col.isNull(), F.lit("malformed JSON"))
        .when(corrupt.isNotNull(), F.lit("a field has the wrong type for the schema"))
        .when(id_col.isNull(), F.lit("missing id"))
        .when(id_col <= 0, F.lit("id is not a positive integer"))
    )


def split_valid(parsed_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split parsed records into (valid, quarantine).

    Args:
        parsed_df: output of `parse_json_lines`, with a `rec.id` and `rec.title`.

    Returns:
        valid rows (`rec.*` flattened, plus `source_file`, without the corrupt-record column) and
        quarantine rows (`source_file`, `reason`, `record`).
    """
    tagged = parsed_df.withColumn("reason", quarantine_reason(F.col("rec.id"), F.col("rec.title")))
    quarantine_df = tagged.filter(F.col("reason").isNotNull()).select(
        "source_file", "reason", F.col("value").alias("record")
    )
    valid_df = (
        tagged.filter(F.col("reason").isNull())
        .select("rec.*", "source_file", F.col("value").alias("_raw"))
        .drop(CORRUPT_COLUMN)
    )
    return valid_df, quarantine_df


def keep_latest_per_id(df: DataFrame, id_column: str = "id") -> DataFrame:
    """One row per id: the copy from the last file by name (later fetches win), ties broken by text.

    Deterministic whatever the partitioning, so a re-run gives the same table. Expects `_raw`
    (the record text) and `source_file`; drops `_raw`.
    """
    order = Window.partitionBy(id_column).orderBy(F.col("source_file").desc(), F.col("_raw").desc())
    return (
        df.withColumn("_copy", F.row_number().over(order))
        .filter(F.col("_copy") == 1)
        .drop("_copy", "_raw")
    )

