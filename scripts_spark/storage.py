"""Layer paths and the few file operations the steps need, for local folders and `abfss://` alike.

Paths are strings joined with "/", so the same code addresses `./data/bronze/x` and
`abfss://container@account.dfs.core.windows.net/soundtracks/bronze/x`. File operations go through
the Hadoop FileSystem of the running Spark session, which is what Spark itself uses for every
scheme it can read (local, ABFS on Databricks, HDFS on a cluster).
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from typing import Iterable, Optional

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


@dataclass(frozen=True)
class Layers:
    """The data layers under DATA_ROOT (see docs/contracts.md)."""

    root: str

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
        return join(self.root, "gold", *parts)

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


def read_text(spark: SparkSession, path: str) -> Optional[str]:
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


def write_parquet(df: DataFrame, path: str, partitions: Optional[int] = None) -> None:
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
    out.write.mode("overwrite").parquet(tmp)
    delete(spark, path)
    rename(spark, tmp, path)


def write_gold(df: DataFrame, layers: Layers, name: str, order: Iterable[Column],
               partitions: Optional[int] = 1, with_csv: bool = False) -> None:
    """Publish gold table `name`: the one function every gold write goes through.

    Parquet in the table's total order (atomically, see `write_parquet`); with `with_csv`, then
    `gold/<name>_csv/<name>.csv`, one CSV file with a header read back from the written Parquet,
    for spreadsheets. How gold becomes visible to readers is decided here, in one place.
    """
    order = list(order)
    path = layers.gold(name)
    write_parquet(df.orderBy(*order), path, partitions=partitions)
    if with_csv:
        written = df.sparkSession.read.parquet(path)
        _write_csv(csv_ready(written).orderBy(*order), layers.gold(f"{name}_csv"), f"{name}.csv")


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
    df.coalesce(1).write.mode("overwrite").option("header", True).option("encoding", "UTF-8").csv(tmp)
    parts = list_files(spark, tmp, (".csv",))
    if len(parts) != 1:
        raise OSError(f"expected one CSV part file in {tmp}, found {len(parts)}")
    rename(spark, parts[0], join(tmp, file_name))
    delete(spark, path)
    rename(spark, tmp, path)


def rename(spark: SparkSession, source: str, target: str) -> None:
    """Move a file or folder; on ADLS Gen2 and local disks a folder moves atomically."""
    fs, src = _fs_and_path(spark, source)
    if not fs.rename(src, _fs_and_path(spark, target)[1]):
        raise OSError(f"could not move {source} to {target}")


def copy_to_local(spark: SparkSession, path: str, folder: Optional[str] = None) -> str:
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
