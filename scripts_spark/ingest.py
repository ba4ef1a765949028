"""Reading JSON-lines sources with an explicit schema, splitting off bad records with a reason.

Shared by the two extract steps: a line that is not valid UTF-8 or not valid JSON, has a field of
the wrong type, or lacks a usable id goes to quarantine with the reason and the original line;
nothing is dropped without being counted.

Quarantine rows hold `source_file`, `reason`, `record` (the line as text, invalid UTF-8 bytes
replaced by U+FFFD so every Parquet reader can load it) and `record_base64` (the original bytes,
for replay). Duplicated ids keep the last line of the newest file (file names sort by fetch date);
see `keep_latest_per_id`.
"""
from __future__ import annotations

import gzip

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from scripts_spark.schemas import CORRUPT_COLUMN

# Years a film or a recording can plausibly have: earlier or later values are typing errors
# ("0001-01-01", "20010-05-05") and dates before 1582 cannot even be written to Parquet.
FIRST_YEAR, LAST_YEAR = 1870, 2100
LINE_ORDER = "line_order"


class MissingInputError(RuntimeError):
    """A step found no input files where the contract says they must be."""


_JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_COLUMN}


def read_lines(spark: SparkSession, files: list[str]) -> DataFrame:
    """One row per non-blank line: `value` (the text), `source_file` (its file name) and
    `line_order` (orders the lines of one file as they appear in it).

    Gzip-compressed files are read transparently. The file name, not the full path, is kept so
    the same data gives the same rows wherever DATA_ROOT points. `line_order` is the line's split
    start in the file, then a per-partition increasing id: a split is read in order, and the
    splits of one file are ordered by their start, so the comparison holds however files are split.
    """
    lines = (
        spark.read.text(files)
        .withColumn("source_file", F.element_at(F.split(F.input_file_name(), "/"), -1))
        .withColumn(LINE_ORDER, F.struct(F.col("_metadata.file_block_start").alias("block"),
                                         F.monotonically_increasing_id().alias("line")))
        .filter(F.trim("value") != "")
    )
    # A gzip file is one split: read by one task, and without this parsed by one core too (a
    # 1M-film films.jsonl.gz). Spread over the cores after reading, the file name and line order
    # already taken (they cannot be read after a shuffle).
    cores = spark.sparkContext.defaultParallelism
    if any(f.endswith(".gz") for f in files) and lines.rdd.getNumPartitions() < cores:
        lines = lines.repartition(cores)
    return lines


def with_line_order(lines_df: DataFrame) -> DataFrame:
    """Add `line_order` to lines built without `read_lines` (tests, empty inputs): the row order."""
    if LINE_ORDER in lines_df.columns:
        return lines_df
    return lines_df.withColumn(LINE_ORDER, F.struct(F.lit(0).cast("long").alias("block"),
                                                    F.monotonically_increasing_id().alias("line")))


def is_valid_utf8(text_col: Column) -> Column:
    """True when the text's bytes are valid UTF-8 (decoding them replaces nothing)."""
    return F.decode(text_col.cast("binary"), "UTF-8") == text_col


def with_record_base64(quarantine_df: DataFrame) -> DataFrame:
    """Add `record_base64`, the record's bytes, to quarantine rows that have only `record` text."""
    return quarantine_df.withColumn("record_base64", F.base64(F.col("record").cast("binary")))


def parse_json_lines(lines_df: DataFrame, schema: T.StructType) -> DataFrame:
    """Parse `value` with `schema` into a struct column `rec`, keeping `value`, `source_file` and
    `line_order` (added when missing)."""
    return with_line_order(lines_df).withColumn("rec", F.from_json("value", schema, _JSON_OPTIONS))


def quarantine_reason(id_col: Column, title_col: Column) -> Column:
    """Why a parsed record is unusable, or null when it is fine."""
    corrupt = F.col(f"rec.{CORRUPT_COLUMN}")
    return (
        # Checked first: such text would reach bronze (and break every Parquet reader) or hide
        # a different fault behind the replaced bytes.
        F.when(~is_valid_utf8(F.col("value")), F.lit("invalid UTF-8"))
        .when(corrupt.isNotNull() & id_col.isNull() & title_col.isNull(), F.lit("malformed JSON"))
        .when(corrupt.isNotNull(), F.lit("a field has the wrong type for the schema"))
        .when(id_col.isNull(), F.lit("missing id"))
        .when(id_col <= 0, F.lit("id is not a positive integer"))
    )


def split_valid(parsed_df: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Split parsed records into (valid, quarantine).

    Args:
        parsed_df: output of `parse_json_lines`, with a `rec.id` and `rec.title`.

    Returns:
        valid rows (`rec.*` flattened, plus `source_file`, `_raw` (the line) and `_line_order`,
        without the corrupt-record column) and quarantine rows (see `to_quarantine`).
    """
    tagged = parsed_df.withColumn("reason", quarantine_reason(F.col("rec.id"), F.col("rec.title")))
    quarantine_df = to_quarantine(tagged.filter(F.col("reason").isNotNull()), F.col("reason"), F.col("value"))
    valid_df = (
        tagged.filter(F.col("reason").isNull())
        .select("rec.*", "source_file", F.col("value").alias("_raw"), F.col(LINE_ORDER).alias("_line_order"))
        .drop(CORRUPT_COLUMN)
    )
    return valid_df, quarantine_df


def to_quarantine(df: DataFrame, reason: Column, line: Column) -> DataFrame:
    """Quarantine rows: `source_file`, `reason`, `record` (the line, invalid UTF-8 bytes replaced by
    U+FFFD) and `record_base64` (the line's original bytes)."""
    raw_bytes = line.cast("binary")
    return df.select(
        "source_file",
        reason.alias("reason"),
        F.decode(raw_bytes, "UTF-8").alias("record"),
        F.base64(raw_bytes).alias("record_base64"),
    )


def plausible_year(year_col: Column) -> Column:
    """The year when it is within FIRST_YEAR..LAST_YEAR, else null (0 means unknown on Discogs)."""
    return F.when(year_col.between(FIRST_YEAR, LAST_YEAR), year_col.cast("int"))


def keep_latest_per_id(df: DataFrame, id_column: str = "id") -> DataFrame:
    """One row per id: the last line of the newest file wins.

    Files sort by name, and fetch files are named by date, so the last file by name is the newest
    fetch; within a file a later line is a later write (an appended re-fetch). The text never
    decides. Deterministic whatever the partitioning, so a re-run gives the same table. Expects
    `source_file`, `_line_order` and `_raw` (as from `split_valid`); drops the last two.
    """
    order = Window.partitionBy(id_column).orderBy(F.col("source_file").desc(), F.col("_line_order").desc())
    return (
        df.withColumn("_copy", F.row_number().over(order))
        .filter(F.col("_copy") == 1)
        .drop("_copy", "_raw", "_line_order")
    )



class UnusableInputError(RuntimeError):
    """The input files were read but give nothing to work with: no usable line, or too many bad ones."""


def check_usable_input(quarantine_df: DataFrame, source: str, files: list[str], lines: int, kept: int,
                       quarantined: int, max_share: float) -> None:
    """Fail the step when its input is unusable, before anything downstream is built from it.

    An empty file, a gzip file named `.jsonl` or a pretty-printed JSON array used to end "ok" with
    empty tables replacing good gold. The step fails instead when no line is usable, or when more
    than `max_share` (MAX_QUARANTINE_SHARE) of the lines went to quarantine; the message names the
    file with the most quarantined lines and its commonest reason. One bad line among good ones
    is still only counted.

    Args:
        quarantine_df: the step's quarantine (`source_file`, `reason`), read back after writing.
        source: "TMDB" or "Discogs", for the message.
        files: the input files read.
        lines: non-blank lines read; kept: records kept; quarantined: lines quarantined.
        max_share: the largest quarantined share of the lines that still passes (0..1).

    Raises:
        UnusableInputError: one line naming the file(s) and the reason.
    """
    names = ", ".join(path.rsplit("/", 1)[-1] for path in files) or "(no files)"
    if lines == 0:
        raise UnusableInputError(f"{source} input {names}: the files hold no lines (empty files?)")
    share = quarantined / lines
    if kept > 0 and share <= max_share:
        return
    worst = (quarantine_df.groupBy("source_file", "reason").count()
             .orderBy(F.col("count").desc(), "source_file", "reason").first())
    where = f"{worst['source_file']}: {worst['count']} lines '{worst['reason']}'" if worst else names
    if kept == 0:
        raise UnusableInputError(f"{source} input has no usable line: all {quarantined} of {lines} lines "
                                 f"quarantined (worst {where}; gzip named .jsonl, or not JSON lines?)")
    raise UnusableInputError(f"{source} input: {quarantined} of {lines} lines ({share:.0%}) quarantined, above "
                             f"MAX_QUARANTINE_SHARE={max_share:g} (worst {where})")


def unreadable_file(spark: SparkSession, files: list[str]) -> tuple[str, str] | None:
    """The first of `files` that cannot be read to its end, with the reason; None when all can.

    Called only after a step failed: Spark's own error for a truncated gzip ("EOFException:
    Unexpected end of input stream") does not say which file. Each file is read alone (a local
    gzip file by Python, anything else by a Spark count), so the cost falls on failed runs only.
    """
    from scripts_spark import storage

    for path in files:
        try:
            if storage.is_local(path) and path.endswith(".gz"):
                with gzip.open(storage.local_path(path), "rb") as handle:
                    while handle.read(1 << 20):
                        pass
            else:
                spark.read.text(path).count()
        except Exception as exc:  # the reason is reported; the step fails with it
            return path, storage.root_cause(exc) if hasattr(exc, "java_exception") else f"{type(exc).__name__}: {exc}"
    return None


def name_unreadable_input(spark: SparkSession, source: str, files: list[str], exc: BaseException) -> BaseException:
    """The error to raise for a failed read of `files`: one naming the unreadable file when there is
    one (`UnusableInputError`, chained to `exc`), else `exc` itself."""
    found = unreadable_file(spark, files)
    if found is None:
        return exc
    path, reason = found
    error = UnusableInputError(f"{source} input {path.rsplit('/', 1)[-1]} cannot be read: {reason} ({path})")
    error.__cause__ = exc
    return error
