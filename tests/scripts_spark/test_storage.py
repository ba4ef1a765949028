"""Storage helpers that shape how tables are written."""
from pyspark.sql import functions as F

from scripts_spark import storage


def test_in_key_order_sorts_each_partition_without_a_sampling_pass(spark):
    df = spark.range(0, 1000).select((F.col("id") * 7919 % 1000).alias("k")).repartition(4)
    out = storage.in_key_order(df, "k")
    parts = out.rdd.glom().map(lambda rows: [r.k for r in rows]).collect()
    assert len(parts) == 4
    assert all(p == sorted(p) for p in parts)
    assert sorted(k for p in parts for k in p) == list(range(1000))
    # A global orderBy plans a range partitioning, whose sampling job computes `df` once more.
    plan = out._jdf.queryExecution().executedPlan().toString().lower()
    assert "rangepartitioning" not in plan
    assert "rangepartitioning" in df.orderBy("k")._jdf.queryExecution().executedPlan().toString().lower()
