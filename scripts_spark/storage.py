"""Layer paths and the few file operations the steps need, for local folders and `abfss://` alike.

Paths are strings joined with "/", so the same code addresses `./data/bronze/x` and
`abfss://container@account.dfs.core.windows.net/soundtracks/bronze/x`. File operations go through
the Hadoop FileSystem of the running Spark session, which is what Spark itself uses for every
scheme it can read (local, ABFS on Databricks, HDFS on a cluster).
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)


def join(root: str, *parts: str) -> str:
    """Join path parts with "/" without doubling separators; works for URIs and local paths."""
    path = root.rstrip("/")
    for part in parts:
        if part:
            path = f"{path}/{part.strip('/')}"
    return path


def is_local(path: str) -> bool:
    """True for a plain path or a file: URI."""
    return "://" not in path or path.startswith("file:")


def local_path(path: str) -> str:
    """The local filesystem path of a plain path or file: URI."""
    if path.startswith("file:"):
        return "/" + path[len("file:"):].lstrip("/")
    return path


# Gold publication (issue 10 item 3). Every run that writes gold writes it under
# gold/runs/<run_id>/ and, once its tables, CSVs and report are complete, switches gold/_CURRENT
# to that folder; readers follow the pointer. The pointer holds one line: the folder relative to
# gold/ ("runs/<run_id>"), the format scripts/gold_digest.py reads.
GOLD_POINTER = "_CURRENT"
GOLD_RUNS = "runs"
PUBLISHED_MARKER = "_PUBLISHED"


class StorageError(OSError):
    """A read or write of one table failed; the message names the table and the root cause."""


@dataclass(frozen=True)
class Layers:
    """The data layers under DATA_ROOT (see docs/contracts.md).

    `gold_folder` is the folder under gold/ that holds the gold tables: "runs/<run_id>" while a run
    writes them (`for_run`) or once the pointer is followed (`published`); "" for the layout before
    run folders (tables directly under gold/), still read when no pointer exists.
    """

    root: str
    gold_folder: str = ""

    def for_run(self, run_id: str) -> Layers:
        """These layers with gold in the run folder of `run_id`."""
        return Layers(self.root, f"{GOLD_RUNS}/{run_id}")

    def gold_base(self, *parts: str) -> str:
        """DATA_ROOT/gold itself (pointer, run folders), whatever `gold_folder` is."""
        return join(self.root, "gold", *parts)

    def raw(self, *parts: str) -> str:
        return join(self.root, "raw", *parts)

    def staging(self, *parts: str) -> str:
        return join(self.root, "staging", *parts)

    def bronze(self, *parts: str) -> str:
        return join(self.root, "bronze", *parts)

    def quarantine(self, *parts: str) -> str:
        return join(self.root, "bronze", "quarantine", *parts)

    def silver(self, *parts: str) -> str:
        return join(self.root, "silver", *parts)

    def gold(self, *parts: str) -> str:
        return join(self.root, "gold", self.gold_folder, *parts)

    def metrics(self, *parts: str) -> str:
        return join(self.root, "metrics", *parts)

    def reports(self, *parts: str) -> str:
        return join(self.root, "reports", *parts)


def _fs_and_path(spark: SparkSession, path: str):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return fs, hadoop_path


def exists(spark: SparkSession, path: str) -> bool:
    """True when the file or folder exists."""
    fs, hpath = _fs_and_path(spark, path)
    return bool(fs.exists(hpath))


def list_files(spark: SparkSession, folder: str, suffixes: Iterable[str]) -> list[str]:
    """Files directly in `folder` whose names end with one of `suffixes`, sorted by name.

    Hidden and temporary files (leading "." or "_") are skipped, as Spark does. A missing folder
    gives an empty list.
    """
    fs, hpath = _fs_and_path(spark, folder)
    if not fs.exists(hpath):
        return []
    suffixes = tuple(suffixes)
    found = []
    for status in fs.listStatus(hpath):
        name = status.getPath().getName()
        if status.isFile() and not name.startswith((".", "_")) and name.endswith(suffixes):
            found.append(join(folder, name))
    return sorted(found)


def file_signature(spark: SparkSession, path: str) -> str:
    """A cheap identity of a file's version: its length and modification time."""
    fs, hpath = _fs_and_path(spark, path)
    status = fs.getFileStatus(hpath)
    return f"{status.getLen()}:{status.getModificationTime()}"


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write a small UTF-8 text file atomically: a temporary sibling is renamed into place."""
    fs, hpath = _fs_and_path(spark, path)
    tmp = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(f"{path}.tmp-{os.getpid()}")
    stream = fs.create(tmp, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    if fs.exists(hpath):
        fs.delete(hpath, False)
    if not fs.rename(tmp, hpath):
        raise OSError(f"could not move {tmp} to {path}")


def read_text(spark: SparkSession, path: str) -> str | None:
    """Read a small UTF-8 text file, or None when it does not exist."""
    if is_local(path):
        try:
            with open(local_path(path), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None
    if not exists(spark, path):
        return None
    return "\n".join(spark.read.text(path, wholetext=True).first())


def delete(spark: SparkSession, path: str) -> None:
    """Delete a file or folder tree if it exists."""
    fs, hpath = _fs_and_path(spark, path)
    if fs.exists(hpath):
        fs.delete(hpath, True)


def write_parquet(df: DataFrame, path: str, partitions: int | None = None) -> None:
    """Replace the Parquet table at `path` so that readers never see a half-written table.

    Spark writes into a temporary sibling folder; only a completed write is renamed into place,
    so a killed run leaves the previous table (or none) and a re-run gives the same result.

    Args:
        df: the data to write; its row order is kept within each output file.
        path: the table folder.
        partitions: coalesce to this many files first (small tables: 1, for stable output).
    """
    spark = df.sparkSession
    tmp = f"{path}.__writing"
    delete(spark, tmp)
    out = df.coalesce(partitions) if partitions else df
    try:
        out.write.mode("overwrite").parquet(tmp)
    except Exception as exc:  # Py4JJavaError "...o123.parquet" says nothing: name the table and the cause
        raise StorageError(f"writing {path} failed: {root_cause(exc)}") from exc
    delete(spark, path)
    rename(spark, tmp, path)


def write_gold(df: DataFrame, layers: Layers, name: str, order: Iterable[Column],
               partitions: int | None = 1, with_csv: bool = False) -> None:
    """Publish gold table `name`: the one function every gold write goes through.

    Parquet in the table's total order (atomically, see `write_parquet`); with `with_csv`, then
    `gold/<name>_csv/<name>.csv`, one CSV file with a header read back from the written Parquet,
    for spreadsheets. How gold becomes visible to readers is decided here, in one place.
    """
    order = list(order)
    path = layers.gold(name)
    if partitions == 1:
        write_parquet(in_one_sorted_partition(df, order), path)
    else:
        write_parquet(df.orderBy(*order), path, partitions=partitions)
    if with_csv:
        written = df.sparkSession.read.parquet(path)
        _write_csv(in_one_sorted_partition(csv_ready(written), order), layers.gold(f"{name}_csv"), f"{name}.csv")


def in_one_sorted_partition(df: DataFrame, order: Iterable[Column]) -> DataFrame:
    """`df` in one partition, sorted by `order`: what `orderBy(...).coalesce(1)` gives, without the
    job that samples the data for orderBy's range partitioning (one job less per small table,
    eleven tables a run). The rows are shuffled to one task and sorted there; what computes them
    keeps its own partitions, unlike a coalesce(1) before the sort."""
    return df.repartition(1).sortWithinPartitions(*order)


def in_key_order(df: DataFrame, *keys: str) -> DataFrame:
    """`df` sorted by `keys` within each of its partitions: how bronze and silver tables are
    written. Each file is in key order and the same input writes the same files, without a
    global `orderBy`, whose range partitioning first samples its input: one more evaluation of
    all that computes `df` (at 1M films step 03 normalized every title in Python twice, and steps
    01 and 02 ran their de-duplication window twice). Readers of these tables never rely on an
    order across files; gold tables, which people read, are globally sorted (`write_gold`)."""
    return df.sortWithinPartitions(*keys)


def csv_ready(df: DataFrame) -> DataFrame:
    """Arrays joined with "; " so the table fits a CSV file (which has no array type)."""
    columns = [
        F.array_join(F.col(name).cast("array<string>"), "; ").alias(name) if dtype.startswith("array") else F.col(name)
        for name, dtype in df.dtypes
    ]
    return df.select(*columns)


def _write_csv(df: DataFrame, path: str, file_name: str) -> None:
    """One CSV file `path/file_name` with a header; the row order of `df` is kept (coalesce after a
    sort concatenates the sorted partitions in order). Replaced as a whole, like a Parquet table."""
    spark = df.sparkSession
    tmp = f"{path}.__writing"
    delete(spark, tmp)
    try:
        df.coalesce(1).write.mode("overwrite").option("header", True).option("encoding", "UTF-8").csv(tmp)
    except Exception as exc:
        raise StorageError(f"writing {path} failed: {root_cause(exc)}") from exc
    parts = list_files(spark, tmp, (".csv",))
    if len(parts) != 1:
        raise OSError(f"expected one CSV part file in {tmp}, found {len(parts)}")
    rename(spark, parts[0], join(tmp, file_name))
    delete(spark, path)
    rename(spark, tmp, path)


def row_counts(tables: Mapping[str, DataFrame]) -> dict[str, int]:
    """The rows of each DataFrame by name, counted in one job instead of one job each (a small run
    is mostly such fixed costs). Only row counts are read: no column of a Parquet table is."""
    tagged = [df.select(F.lit(name).alias("_table")) for name, df in tables.items()]
    if not tagged:
        return {}
    counted = {row["_table"]: row["count"] for row in
               functools.reduce(DataFrame.unionByName, tagged).groupBy("_table").count().collect()}
    return {name: counted.get(name, 0) for name in tables}


def rename(spark: SparkSession, source: str, target: str) -> None:
    """Move a file or folder; on ADLS Gen2 and local disks a folder moves atomically."""
    fs, src = _fs_and_path(spark, source)
    if not fs.rename(src, _fs_and_path(spark, target)[1]):
        raise OSError(f"could not move {source} to {target}")


def copy_to_local(spark: SparkSession, path: str, folder: str | None = None) -> str:
    """A local path for `path`: the file itself when local, else a copy in a temporary folder."""
    if is_local(path):
        return local_path(path)
    folder = folder or tempfile.mkdtemp(prefix="soundtracks-")
    fs, hpath = _fs_and_path(spark, path)
    target = os.path.join(folder, hpath.getName())
    fs.copyToLocalFile(False, hpath, spark.sparkContext._jvm.org.apache.hadoop.fs.Path(target), True)
    return target


def copy_from_local(spark: SparkSession, local_file: str, path: str) -> None:
    """Upload a local file to `path` (a no-op copy when `path` is itself local)."""
    fs, hpath = _fs_and_path(spark, path)
    src = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(local_file)
    if is_local(path) and os.path.abspath(local_path(path)) == os.path.abspath(local_file):
        return
    fs.copyFromLocalFile(False, True, src, hpath)


def root_cause(exc: BaseException) -> str:
    """One line: the innermost cause of a failure, with the input file Spark names when it names one.

    A Py4JJavaError's text is a whole JVM stack trace ("An error occurred while calling
    o123.parquet ..."); the cause chain of its Java exception says what happened (EOFException on a
    truncated gzip, "No space left on device", a malformed record) and Spark's "while reading
    file ..." message says where.
    """
    messages: list[str] = []
    java = getattr(exc, "java_exception", None)
    try:
        seen = 0
        while java is not None and seen < 20:
            messages.append(f"{java.getClass().getSimpleName()}: {java.getMessage()}")
            java = java.getCause()
            seen += 1
    except Exception:  # the JVM is gone (killed, out of memory): fall back to the Python text
        pass
    if not messages:
        cause = exc
        while cause.__cause__ is not None and not messages:
            cause = cause.__cause__
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        errors = [line for line in lines if ":" in line and line.split(":", 1)[0].endswith(("Error", "Exception"))]
        messages = [errors[-1] if errors else f"{type(cause).__name__}: {lines[0] if lines else ''}"]
    root = _first_line(messages[-1])
    where = next((_file_named(m) for m in messages if _file_named(m)), None)
    return f"{root} (file {where})" if where and where not in root else root


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:400]


def _file_named(message: str) -> str | None:
    """The file in Spark's "Encountered error while reading file <path>." message, if any."""
    marker = "while reading file "
    if message and marker in message:
        return message.split(marker, 1)[1].split()[0].rstrip(".")
    return None


def current_gold_folder(spark: SparkSession, layers: Layers) -> str | None:
    """The folder (relative to gold/) that gold/_CURRENT names, or None when there is no pointer."""
    text = read_text(spark, layers.gold_base(GOLD_POINTER))
    name = (text or "").strip()
    return name or None


def current_run_id(spark: SparkSession, layers: Layers) -> str | None:
    """The run whose gold is published, or None (no pointer yet, or the layout before run folders)."""
    folder = current_gold_folder(spark, layers)
    if folder and folder.startswith(f"{GOLD_RUNS}/"):
        return folder.split("/", 1)[1]
    return None


def published(spark: SparkSession, layers: Layers) -> Layers:
    """The layers whose gold is the published gold: the run folder gold/_CURRENT names, or gold/
    itself when there is no pointer (a DATA_ROOT written before run folders; a re-run publishes)."""
    return Layers(layers.root, current_gold_folder(spark, layers) or "")


def gold_tables(spark: SparkSession, gold_folder: str) -> list[str]:
    """Names of the table folders (Parquet tables and their `_csv` copies) directly in a gold folder."""
    fs, hpath = _fs_and_path(spark, gold_folder)
    if not fs.exists(hpath):
        return []
    return sorted(status.getPath().getName() for status in fs.listStatus(hpath)
                  if status.isDirectory() and not status.getPath().getName().startswith(("_", "."))
                  and status.getPath().getName() != GOLD_RUNS
                  and not status.getPath().getName().endswith(".__writing"))


def start_run_gold(spark: SparkSession, layers: Layers, run_layers: Layers) -> list[str]:
    """Prepare the run folder of `run_layers`: empty, then holding a copy of every published table.

    The copy makes the run folder complete whatever steps the run includes: a run of step 05
    alone reads the published matches from its own folder and publishes them again beside its
    new tables, so a published folder always holds one consistent set. Returns the tables copied.

    Raises:
        StorageError: the run folder is the published one (a run id used twice).
    """
    current = published(spark, layers)
    if current.gold_folder and current.gold_folder == run_layers.gold_folder:
        raise StorageError(f"run id {run_layers.gold_folder.split('/', 1)[1]} is the published run: "
                           "choose another --run-id")
    delete(spark, run_layers.gold())
    copied = gold_tables(spark, current.gold())
    if not copied:
        return []
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    for name in copied:
        src_fs, src = _fs_and_path(spark, current.gold(name))
        dst_fs, dst = _fs_and_path(spark, run_layers.gold(name))
        if not jvm.org.apache.hadoop.fs.FileUtil.copy(src_fs, src, dst_fs, dst, False, conf):
            raise StorageError(f"could not copy {current.gold(name)} to {run_layers.gold(name)}")
    logger.info("run folder %s starts from %d published tables of %s", run_layers.gold(), len(copied),
                current.gold())
    return copied


def publish_gold(spark: SparkSession, run_layers: Layers) -> None:
    """Make the run folder of `run_layers` the published gold: one switch of gold/_CURRENT.

    The pointer is written to a temporary name and renamed over the old one: on a local disk
    `os.replace` (rename(2), atomic); elsewhere a Hadoop rename after deleting the old pointer
    (a reader in that instant finds no pointer and reads gold/ itself).
    """
    write_text(spark, run_layers.gold(PUBLISHED_MARKER), datetime.now(timezone.utc).isoformat(timespec="microseconds"))
    pointer = run_layers.gold_base(GOLD_POINTER)
    text = run_layers.gold_folder + "\n"
    if is_local(pointer):
        target = local_path(pointer)
        tmp = f"{target}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        return
    write_text(spark, pointer, text)


def prune_runs(spark: SparkSession, layers: Layers, keep: int = 3) -> list[str]:
    """Delete old run folders under DATA_ROOT/gold/runs; return the ones deleted.

    Kept: `keep` runs in all: the published one and the newest other published runs (by their
    `_PUBLISHED` time), to look back at or switch back to.
    Deleted: older published runs, and run folders never published (killed or failed runs) other
    than the current one. Nothing outside gold/runs is touched.
    """
    current = current_gold_folder(spark, layers)
    runs_folder = layers.gold_base(GOLD_RUNS)
    fs, hpath = _fs_and_path(spark, runs_folder)
    if not fs.exists(hpath):
        return []
    published_runs, abandoned = [], []
    for status in fs.listStatus(hpath):
        if not status.isDirectory():
            continue
        name = status.getPath().getName()
        if f"{GOLD_RUNS}/{name}" == current:
            continue
        marker = read_text(spark, join(runs_folder, name, PUBLISHED_MARKER))
        (published_runs if marker else abandoned).append((marker or "", name))
    published_runs.sort(reverse=True)
    doomed = [name for _, name in published_runs[max(keep - 1, 0):]] + [name for _, name in abandoned]
    for name in doomed:
        delete(spark, join(runs_folder, name))
    if doomed:
        logger.info("deleted old run folders under %s: %s", runs_folder, ", ".join(sorted(doomed)))
    return sorted(doomed)
