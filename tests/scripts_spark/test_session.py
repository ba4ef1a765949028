"""The session's settings: the local ones computed from the machine, the correctness ones every session gets."""
from __future__ import annotations

import contextlib

import pytest
from pyspark import StorageLevel
from pyspark.sql import functions as F

from scripts_spark.session import build_spark, correctness_conf, driver_memory, kept, release_cached

GIB = 1024 ** 3


@pytest.mark.parametrize(("physical", "expected"), [
    (24 * GIB, "8g"),     # this machine: half would be 12g, capped at 8g
    (8 * GIB, "4g"),
    (3 * GIB, "1g"),      # half of 3 GiB rounds down to 1g
    (1 * GIB, "1g"),      # never under Spark's own default
])
def test_driver_memory_is_half_the_machine_between_1g_and_8g(physical, expected):
    assert driver_memory(physical) == expected


def test_driver_memory_of_this_machine_is_a_valid_size():
    value = driver_memory()
    assert value.endswith("g") and 1 <= int(value[:-1]) <= 8


CACHED_PLAN_PARTITIONING = "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning"


@contextlib.contextmanager
def _conf(spark, settings: dict[str, str]):
    """`settings` on the shared session for the block, the previous values (or none) after it."""
    before = {key: spark.conf.get(key, None) for key in settings}
    try:
        for key, value in settings.items():
            spark.conf.set(key, value)
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def _join_with_a_coalesced_cache(spark) -> tuple[int, int]:
    """(rows of the join, partitions of its cached side) for 1,000 ids joined with a cached
    aggregate of them on the id, under adaptive execution: the aggregate's last shuffle (20
    partitions) is small enough for adaptive execution to coalesce it, and the join asks for as
    many partitions as the cached side ended with. Every id but the last has its row: 999."""
    adaptive = {"spark.sql.adaptive.enabled": "true", "spark.sql.autoBroadcastJoinThreshold": "-1",
                "spark.sql.shuffle.partitions": "20", "spark.sql.adaptive.advisoryPartitionSizeInBytes": "3000",
                "spark.sql.adaptive.coalescePartitions.parallelismFirst": "false",
                "spark.sql.adaptive.coalescePartitions.minPartitionSize": "1b"}
    with _conf(spark, adaptive):
        ids = spark.range(0, 1000, 1, 5).select(F.col("id").alias("a"), (F.col("id") - 1).alias("b")) \
            .persist(StorageLevel.MEMORY_AND_DISK)
        firsts = ids.groupBy("b").agg(F.min("a").alias("first")).select(F.col("b").alias("a"), "first") \
            .persist(StorageLevel.MEMORY_AND_DISK)
        try:
            ids.count()
            firsts.count()
            partitions = firsts.rdd.getNumPartitions()
            with _conf(spark, {"spark.sql.shuffle.partitions": str(partitions)}):
                return ids.join(firsts, "a").count(), partitions
        finally:
            firsts.unpersist()
            ids.unpersist()


def test_every_session_keeps_the_rows_of_joins_with_cached_tables(spark):
    """SPARK-45592 (Spark 3.5.0, the runtime's version): adaptive execution coalesced a cached
    plan's last shuffle but reported the uncoalesced partitioning, so a join on its keys paired the
    wrong partitions and dropped rows without an error. `build_spark` turns that off for every
    session, ours or an existing one."""
    assert spark.conf.get(CACHED_PLAN_PARTITIONING) == correctness_conf()[CACHED_PLAN_PARTITIONING] == "false"
    assert _join_with_a_coalesced_cache(spark) == (999, 20)
    # The same session as Spark 3.5.0 leaves it: the cached side is coalesced and rows go missing.
    if tuple(int(part) for part in spark.version.split(".")[:3]) <= (3, 5, 0):
        with _conf(spark, {CACHED_PLAN_PARTITIONING: "true"}):
            rows, partitions = _join_with_a_coalesced_cache(spark)
        assert 1 < partitions < 20 and rows < 999, (rows, partitions)


def test_an_existing_session_gets_the_correctness_settings(spark):
    """On Databricks the session exists before the job: `build_spark` returns it with the
    correctness settings set on it."""
    with _conf(spark, {CACHED_PLAN_PARTITIONING: "true"}):
        assert build_spark(app_name="another", master="local[1]") is spark
        assert spark.conf.get(CACHED_PLAN_PARTITIONING) == "false"


def _held_rdds(spark) -> int:
    return len(spark.sparkContext._jsc.getPersistentRDDs())


def test_release_cached_drops_cached_tables_and_local_checkpoints(spark):
    """clearCache forgets cached tables but not a local checkpoint's blocks; release_cached drops
    both, and the data read from disk afterwards is untouched."""
    release_cached(spark)
    cached = spark.range(1000).withColumn("b", F.col("id") % 7).persist()
    cached.count()
    checkpointed = spark.range(500).withColumn("c", F.col("id") * 2).localCheckpoint(eager=True)
    assert _held_rdds(spark) == 2
    spark.catalog.clearCache()
    assert _held_rdds(spark) == 1          # the checkpoint's blocks are still held
    assert release_cached(spark) == 1
    assert _held_rdds(spark) == 0
    assert release_cached(spark) == 0      # nothing left: a second call is harmless
    # A cached DataFrame released is recomputed from its plan when read again.
    assert cached.count() == 1000
    del checkpointed


def test_a_session_we_start_uses_the_throughput_collector(spark):
    """The tests' session is built by build_spark like the pipeline's: its JVM runs the parallel
    collector ("PS Scavenge", "PS MarkSweep"), not Java 17's default G1."""
    jvm = spark.sparkContext._jvm
    names = {bean.getName() for bean in jvm.java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()}
    assert names == {"PS Scavenge", "PS MarkSweep"}, names


def _plan_root(df) -> str:
    return df._jdf.queryExecution().logical().getClass().getSimpleName()


def test_kept_in_local_mode_is_a_leaf_computed_once(spark):
    """Local mode: the DataFrame comes back as a checkpoint, a leaf whose plan no longer holds the
    joins and aggregations that made it; its rows are the same."""
    release_cached(spark)
    made = spark.range(300).withColumn("k", F.col("id") % 10).groupBy("k").agg(F.sum("id").alias("total"))
    assert _plan_root(made) != "LogicalRDD"
    leaf = kept(made)
    assert _plan_root(leaf) == "LogicalRDD"
    assert _held_rdds(spark) == 1      # computed, blocks held
    assert sorted(leaf.collect()) == sorted(made.collect())
    assert release_cached(spark) == 1


def test_kept_on_a_cluster_keeps_the_lineage(spark):
    """Anywhere but local mode an executor can be lost with its blocks: the DataFrame is persisted
    (its plan kept, so Spark can compute lost blocks again) and counted, not checkpointed.
    (tests/scripts_spark/test_cluster.py runs the whole pipeline this way on a standalone cluster.)"""
    release_cached(spark)
    made = spark.range(50).withColumn("twice", F.col("id") * 2)
    leaf = kept(made, local=False)
    assert leaf.is_cached and _plan_root(leaf) != "LogicalRDD"
    assert _held_rdds(spark) == 1 and leaf.count() == 50
    release_cached(spark)                   # its clearCache drops a cached plan
    assert _held_rdds(spark) == 0
