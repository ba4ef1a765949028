"""Building the one SparkSession an entry point passes to every step.

Nothing here runs at import time. On Databricks the session already exists and `getOrCreate`
returns it; the local-only settings below are applied only when we start Spark ourselves, the
correctness settings to every session.
"""
from __future__ import annotations

import logging
import os
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

# Settings for a session this project starts itself (local mode or a standalone cluster).
_LOCAL_CONF = {
    # Everything is UTC so dates derived from timestamps do not depend on the machine.
    "spark.sql.session.timeZone": "UTC",
    # The UI binds a port and costs memory; runs are batch jobs observed through logs and metrics.
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Few cores here: the default 200 shuffle partitions would be 200 tiny tasks per shuffle.
    "spark.sql.shuffle.partitions": "8",
    # toPandas/createDataFrame(pandas) through Arrow, as Databricks does by default (pandas UDFs use
    # Arrow whatever this says; no pipeline step converts to pandas, the benchmarks do).
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # Parquet written here must read the same on Databricks (no legacy int96 timestamps).
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # The throughput collector for the driver JVM, which in local mode is the executor too. Java 17's
    # default (G1) runs concurrent marking and refinement threads beside the tasks; on two cores a
    # batch run is faster without them (docs/performance.md: the 20k-film run 3-4 s shorter).
    "spark.driver.extraJavaOptions": "-XX:+UseParallelGC",
}


# Settings every session gets, one this project starts or one that already exists (Databricks):
# they keep results right, whatever else a cluster tunes.
_CORRECTNESS_CONF = {
    # Spark 3.5.0 (the 14.3 LTS runtime's version) lets adaptive execution coalesce the last
    # shuffle of a cached plan and still report it as hash-partitioned into the coalesced number
    # of partitions; a join of that cached DataFrame on its keys then pairs the wrong partitions
    # and silently loses rows (SPARK-45592, fixed in Spark 3.5.1). Step 04 persists its keyed
    # block-key tables and joins them on those keys. Off, a cached plan keeps the partitioning it
    # was planned with, as before Spark 3.5 (tests/scripts_spark/test_session.py shows both).
    "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "false",
}


def correctness_conf() -> dict[str, str]:
    """The settings every session gets, ours or an existing one (a copy)."""
    return dict(_CORRECTNESS_CONF)


def apply_correctness_conf(spark: SparkSession) -> None:
    """Set `correctness_conf()` on `spark` (runtime SQL settings: an existing session takes them
    too). A runtime that refuses one is named in a warning, not stopped: it may carry the fix."""
    for key, value in _CORRECTNESS_CONF.items():
        try:
            spark.conf.set(key, value)
        except Exception as exc:  # py4j and Spark Connect raise different types
            logger.warning("could not set %s=%s on this Spark session (%s): joins of cached DataFrames "
                           "may lose rows on Spark 3.5.0 (SPARK-45592)", key, value, exc)


def kept(df: DataFrame, local: bool | None = None) -> DataFrame:
    """`df` computed now and kept for the queries after it, which then plan over a leaf.

    In local mode as a local checkpoint: its plan is cut, so later queries do not analyse, optimise
    and re-plan all that computed it. There the executor is the driver's own JVM, so losing the
    checkpoint's blocks means losing the run anyway. On a cluster (standalone, Databricks) persisted
    and counted instead: an executor lost there takes its blocks with it, and only a plan with its
    lineage can compute them again. `release_cached` drops both. `local` None: asked of the session."""
    if local is None:
        try:
            local = df.sparkSession.sparkContext.master.startswith("local")
        except Exception:  # Spark Connect: no SparkContext, and never local mode
            local = False
    if local:
        return df.localCheckpoint(eager=True)
    df = df.persist()
    df.count()
    return df


def release_cached(spark: SparkSession) -> int:
    """Drop what a step left in memory: cached DataFrames and the blocks of local checkpoints.

    `clearCache` forgets only the cache manager's tables; a DataFrame made by `localCheckpoint` is a
    leaf over a persisted RDD, whose blocks (millions of comparison vectors at catalogue scale) stay
    until the JVM happens to collect that RDD. Every RDD the context still holds persisted is
    unpersisted here. Returns how many; 0 where the session has no SparkContext to ask (Spark
    Connect), which then gets `clearCache` alone."""
    spark.catalog.clearCache()
    try:
        held = list(spark.sparkContext._jsc.getPersistentRDDs().values())
    except Exception as exc:  # Spark Connect: no SparkContext, no RDD blocks of ours to drop
        logger.debug("persisted RDDs not released (%s)", exc)
        return 0
    for rdd in held:
        # Blocking: a run that ends right after its last step must not stop Spark while blocks are
        # still being removed (the block manager then logs a stack trace at exit).
        rdd.unpersist(True)
    return len(held)


def driver_memory(physical_bytes: int | None = None) -> str:
    """`spark.driver.memory` for a local session: half the machine's memory, between 1g and 8g.

    In local mode the driver JVM is the executor too, and Spark's own default (1g) leaves a task
    so little aggregation memory that step 04 fails at catalogue scale ("No enough memory for
    aggregation" on 18 million candidate pairs of a 1M-film world). The heap is reserved, not
    committed: a small run does not use it. SPARK_CONF (spark.driver.memory=...) overrides it."""
    if physical_bytes is None:
        try:
            physical_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not POSIX: Spark's default
            return "1g"
    gib = physical_bytes // 2 // 1024 ** 3
    return f"{max(1, min(8, gib))}g"


def is_databricks() -> bool:
    """True inside a Databricks runtime, which sets DATABRICKS_RUNTIME_VERSION."""
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


def local_conf() -> dict[str, str]:
    """The settings this project applies to a session it starts itself (a copy)."""
    return dict(_LOCAL_CONF)


def build_spark(
    app_name: str = "tmdb-discogs-soundtracks",
    master: str | None = None,
    extra_conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Return the active SparkSession or start one for this project.

    Args:
        app_name: the Spark application name shown in logs and on a cluster.
        master: `local[N]`, `spark://host:port`, or None to let spark-submit/Databricks decide.
        extra_conf: further Spark settings, applied last.

    Returns:
        The SparkSession every step receives as an argument.
    """
    active = SparkSession.getActiveSession()
    if active is not None:
        apply_correctness_conf(active)
        return active
    if not is_databricks():
        # Python workers must run the interpreter of the driver: PySpark refuses mixed minor
        # versions, and the machine's default python3 is not the venv's 3.10.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    if master and not is_databricks():
        # On Databricks the cluster decides; a configured local[N] must not leak into a job.
        builder = builder.master(master)
    conf = dict(_LOCAL_CONF) if not is_databricks() else {}
    if master and master.startswith("local"):
        # Local mode talks only to itself: keep driver and block manager on loopback.
        conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"})
        if not is_databricks():
            conf["spark.driver.memory"] = driver_memory()
    conf.update(extra_conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    # Here, not among the builder's settings: getOrCreate may return a session started before.
    apply_correctness_conf(spark)
    spark.sparkContext.setLogLevel("WARN")
    if master and not master.startswith("local") and not is_databricks():
        # Executors on a cluster start Python workers elsewhere: ship this project's packages,
        # which pandas UDFs import there. (On Databricks the job installs them as a library.)
        spark.sparkContext.addPyFile(str(package_archive()))
    logger.info("Spark %s started (master=%s)", spark.version, spark.sparkContext.master)
    return spark


_PACKAGES = ("scripts", "scripts_spark")


def package_archive(folder: str | None = None) -> Path:
    """A zip of the project's Python packages, for executors that do not share the driver's files."""
    root = Path(__file__).resolve().parent.parent
    target = Path(folder or tempfile.mkdtemp(prefix="soundtracks-pyfiles-")) / "soundtracks_packages.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for package in _PACKAGES:
            for path in sorted((root / package).rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(root).as_posix())
    return target
